//! `berth deploy`: the seed-003 workflow on top of the compiler and the runner.

pub(crate) mod layout;
pub(crate) mod plan;
pub(crate) mod secrets;
pub(crate) mod stale;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod registry;
pub(crate) mod release;
pub(crate) mod remote;

#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    pub(crate) env: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct EnvArgs {
    pub(crate) env: String,
}

pub(crate) fn main(_args: DeployArgs, _verbose: u8) -> i32 {
    eprintln!("berth deploy: not built yet");
    1
}

pub(crate) fn env_main(_args: EnvArgs) -> i32 {
    eprintln!("berth env: not built yet");
    1
}
