//! Emit: writes roles/, playbooks/<env>.yml and inventory/<env>.yml from manifests.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct CompileArgs {
    /// Project directory holding the .tova files.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Write nothing; print a diff of what would change and exit 1 if stale.
    #[arg(long)]
    pub(crate) check: bool,
}

pub(crate) fn main(_args: CompileArgs) -> i32 {
    eprintln!("berth compile: not built yet");
    1
}
