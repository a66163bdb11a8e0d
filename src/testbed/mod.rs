//! The fleet testbed: real booted Debian hosts (systemd-nspawn) or cheap sshd hosts.

pub(crate) mod sshd_fleet;

#[derive(Debug, clap::Args)]
pub(crate) struct TestbedArgs {
    #[arg(trailing_var_arg = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) fn main(_args: TestbedArgs) -> i32 {
    eprintln!("berth testbed: not built yet");
    1
}
