//! The runner: plays, strategies, serial batches, handlers, recap.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The playbook to run.
    pub(crate) playbook: PathBuf,
    /// Inventory file(s) or directories (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub(crate) inventory: Vec<PathBuf>,
    /// Further limit the hosts with a pattern.
    #[arg(short = 'l', long)]
    pub(crate) limit: Option<String>,
    /// Only run tasks tagged with these tags.
    #[arg(short = 't', long, value_delimiter = ',')]
    pub(crate) tags: Vec<String>,
    /// Skip tasks tagged with these tags.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub(crate) skip_tags: Vec<String>,
    /// Run only this role's tasks and handlers.
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Predict changes without making them.
    #[arg(short = 'C', long)]
    pub(crate) check: bool,
    /// Show file differences.
    #[arg(short = 'D', long)]
    pub(crate) diff: bool,
    /// Parallel hosts (default: min(hosts, 50)).
    #[arg(short = 'f', long)]
    pub(crate) forks: Option<usize>,
    /// linear (lockstep per task) or host_pinned (each host runs on its own).
    #[arg(long)]
    pub(crate) strategy: Option<String>,
    /// Extra variables: KEY=VALUE or @file.yml (repeatable; highest precedence).
    #[arg(short = 'e', long = "extra-vars")]
    pub(crate) extra_vars: Vec<String>,
    /// Remote user.
    #[arg(short = 'u', long)]
    pub(crate) user: Option<String>,
    /// Private key file.
    #[arg(long = "private-key", alias = "key-file")]
    pub(crate) private_key: Option<PathBuf>,
    /// known_hosts file (default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts")]
    pub(crate) known_hosts: Option<PathBuf>,
    /// strict, accept-new (default) or off.
    #[arg(long = "host-key-checking")]
    pub(crate) host_key_checking: Option<String>,
    /// Connection timeout in seconds.
    #[arg(short = 'T', long)]
    pub(crate) timeout: Option<u64>,
    /// One JSON object per line instead of human output.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn main(_args: RunArgs, _verbose: u8) -> i32 {
    eprintln!("berth run: not built yet");
    1
}
