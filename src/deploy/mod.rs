//! `berth deploy`: the seed-003 workflow as the driver of the compiled,
//! committed playbooks.
//!
//! `workflow` is the deploy itself and `ops` the other subcommands; every
//! change to a host is a task of `playbooks/<env>*.yml` run by the runner
//! (`play`), whose host side is the role app's deploy script (POSIX sh),
//! so targets need neither Python nor berth (except for git push deploys,
//! whose hook runs the uploaded berth binary). What the driver sends itself
//! are reads: the plan's (`state`), `--status`, `--logs`, `--list`.

pub(crate) mod layout;
pub(crate) mod ops;
pub(crate) mod plan;
pub(crate) mod play;
pub(crate) mod registry;
pub(crate) mod release;
pub(crate) mod remote;
#[cfg(test)]
mod script_tests;
pub(crate) mod secrets;
pub(crate) mod services;
pub(crate) mod stale;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod target;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod ui;
pub(crate) mod workflow;

use std::path::PathBuf;

use crate::connection::known_hosts::HostKeyChecking;

use layout::Layout;
use target::ConnectOpts;
use ui::Ui;

/// How to reach the servers (shared by `deploy` and `env`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Project directory holding the .tova files and the compiled playbooks.
    #[arg(long, short = 'C', default_value = ".", global = true)]
    pub(crate) dir: PathBuf,
    /// SSH private key (else the SSH agent).
    #[arg(long, global = true)]
    pub(crate) private_key: Option<PathBuf>,
    /// known_hosts file [default: ~/.ssh/known_hosts].
    #[arg(long, global = true)]
    pub(crate) known_hosts: Option<PathBuf>,
    /// Host key checking: strict, accept-new (default) or off.
    #[arg(long, default_value = "accept-new", global = true)]
    pub(crate) host_key_checking: String,
    /// SSH connect timeout in seconds.
    #[arg(long, default_value_t = 10, global = true)]
    pub(crate) timeout: u64,
    /// Print one JSON document on stdout (human lines go to stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Run on this machine instead of over SSH (the git hook on the server).
    #[arg(long, hide = true, global = true)]
    pub(crate) local: bool,
}

impl ConnectArgs {
    fn opts(&self) -> Result<ConnectOpts, String> {
        let host_key_checking = match self.host_key_checking.as_str() {
            "strict" | "yes" => HostKeyChecking::Strict,
            "accept-new" => HostKeyChecking::AcceptNew,
            "off" | "no" => HostKeyChecking::Off,
            other => {
                return Err(format!(
                    "--host-key-checking must be strict, accept-new or off, not `{other}`"
                ))
            }
        };
        Ok(ConnectOpts {
            private_key: self.private_key.clone(),
            known_hosts: self.known_hosts.clone(),
            host_key_checking,
            local: self.local,
            timeout_secs: self.timeout,
            layout: Layout::default(),
        })
    }
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").args(["plan", "rollback", "status", "logs", "ssh", "remove", "setup_git", "list", "prune_modules"])))]
pub(crate) struct DeployArgs {
    /// The deploy block's name (prod, staging).
    #[arg(required_unless_present = "list")]
    pub(crate) env: Option<String>,
    /// Show what would happen; change nothing.
    #[arg(long)]
    pub(crate) plan: bool,
    /// Roll back to the previous good release (or --to vN).
    #[arg(long)]
    pub(crate) rollback: bool,
    /// The release to roll back to.
    #[arg(long, requires = "rollback", value_name = "vN")]
    pub(crate) to: Option<String>,
    /// Running instances, health, databases, releases.
    #[arg(long)]
    pub(crate) status: bool,
    /// The app's logs (journalctl), streamed until Ctrl-C.
    #[arg(long)]
    pub(crate) logs: bool,
    /// With --logs: only since this time ("1 hour ago", "2026-02-25 09:00").
    #[arg(long, requires = "logs")]
    pub(crate) since: Option<String>,
    /// With --logs: one instance (1..N, or its port).
    #[arg(long, requires = "logs")]
    pub(crate) instance: Option<u32>,
    /// With --logs: print the recent lines and exit instead of streaming.
    #[arg(long, requires = "logs")]
    pub(crate) no_follow: bool,
    /// An interactive shell on the server, in the app's directory.
    #[arg(long)]
    pub(crate) ssh: bool,
    /// Remove the app from its servers (data is archived, never deleted).
    #[arg(long)]
    pub(crate) remove: bool,
    /// Set up git push deployment (bare repo + hooks on the server).
    #[arg(long)]
    pub(crate) setup_git: bool,
    /// Remove /c/* module versions unreferenced for longer than module_retention (also run after each deploy).
    #[arg(long)]
    pub(crate) prune_modules: bool,
    /// List every app on a server (with --server).
    #[arg(long, requires = "server")]
    pub(crate) list: bool,
    /// The server for --list (user@host[:port]).
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Secrets as NAME=value lines (else BERTH_SECRET_NAME / NAME env vars, else a prompt).
    #[arg(long)]
    pub(crate) secrets_file: Option<PathBuf>,
    /// Run every provisioning layer, even those whose inputs did not change.
    #[arg(long)]
    pub(crate) full: bool,
    /// Take the app's deploy lock from the deploy that holds it (one that died).
    #[arg(long)]
    pub(crate) break_lock: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum EnvAction {
    /// The names set in .env.production (never the values).
    List,
    /// Set or update one value: KEY=value.
    Set { assignment: String },
}

#[derive(Debug, clap::Args)]
pub(crate) struct EnvArgs {
    /// The deploy block's name.
    pub(crate) env: String,
    #[command(subcommand)]
    pub(crate) action: EnvAction,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

pub(crate) fn main(args: DeployArgs, verbose: u8) -> i32 {
    let c = match args.connect.opts() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let ui = Ui::new(args.connect.json);
    if args.list {
        return ops::list(args.server.as_deref().unwrap_or_default(), &c, ui);
    }
    let env = args.env.clone().unwrap_or_default();
    let loaded = match workflow::load(&args.connect.dir, &env) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if args.rollback {
        return ops::rollback(&loaded, &c, args.to.as_deref(), verbose, ui);
    }
    if args.status {
        return ops::status(&loaded, &c, ui);
    }
    if args.logs {
        return ops::logs(
            &loaded,
            &c,
            args.instance,
            args.since.as_deref(),
            !args.no_follow,
            ui,
        );
    }
    if args.ssh {
        return ops::ssh(&loaded, &c);
    }
    if args.remove {
        return ops::remove(&loaded, &c, args.yes, verbose, ui);
    }
    if args.prune_modules {
        return ops::prune_modules(&loaded, &c, verbose, ui);
    }
    if args.setup_git {
        return ops::setup_git(&loaded, &c, verbose, ui);
    }
    let opts = workflow::DeployOpts {
        connect: c,
        yes: args.yes,
        plan_only: args.plan,
        full: args.full,
        break_lock: args.break_lock,
        secrets_file: args.secrets_file,
        verbose,
        compiled_here: false,
    };
    workflow::deploy(&loaded, &opts, ui)
}

pub(crate) fn env_main(args: EnvArgs, verbose: u8) -> i32 {
    let c = match args.connect.opts() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let ui = Ui::new(args.connect.json);
    let loaded = match workflow::load(&args.connect.dir, &args.env) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    match args.action {
        EnvAction::List => ops::env_list(&loaded, &c, ui),
        EnvAction::Set { assignment } => ops::env_set(&loaded, &c, &assignment, verbose, ui),
    }
}
