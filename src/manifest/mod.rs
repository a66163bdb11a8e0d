//! Manifest: what an app needs (runtime, databases, proxy, secrets, data), inferred from its blocks.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct ManifestArgs {
    /// Project directory holding the .tova files.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// The deploy block's name.
    #[arg(long)]
    pub(crate) env: String,
    /// Print JSON instead of the human table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn main(_args: ManifestArgs) -> i32 {
    eprintln!("berth manifest: not built yet");
    1
}

pub(crate) mod model;
