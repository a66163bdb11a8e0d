//! Command line: parses arguments and hands each subcommand to its room.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Agentless playbook compiler and parallel runner for Tova deployments"
)]
pub(crate) struct Cli {
    /// More log output (-v, -vv, -vvv).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run an Ansible playbook across an inventory, in parallel over SSH.
    Run(crate::runner::RunArgs),
    /// Compile the app's deploy blocks into roles/, playbooks/ and inventory/.
    Compile(crate::emit::CompileArgs),
    /// Print the infrastructure manifest inferred for one environment.
    Manifest(crate::manifest::ManifestArgs),
    /// Explain a diagnostic code.
    Explain {
        /// The code, e.g. B0102.
        code: String,
    },
    /// List the modules and actions `berth run` carries out (ansible.builtin names).
    Modules,
    /// A local fleet of real booted Debian hosts (or cheap sshd hosts).
    Testbed(crate::testbed::TestbedArgs),
    /// Deploy the app to an environment (plan, provision, release, health check, rollback).
    Deploy(crate::deploy::DeployArgs),
    /// List or set an environment's secrets.
    Env(crate::deploy::EnvArgs),
}

pub(crate) fn main() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::Run(args) => crate::runner::main(args, cli.verbose),
        Command::Compile(args) => crate::emit::main(args),
        Command::Manifest(args) => crate::manifest::main(args),
        Command::Explain { code } => crate::lang::explain(&code),
        Command::Modules => {
            for name in crate::modules::names() {
                println!("ansible.builtin.{name}");
            }
            0
        }
        Command::Testbed(args) => crate::testbed::main(args),
        Command::Deploy(args) => crate::deploy::main(args, cli.verbose),
        Command::Env(args) => crate::deploy::env_main(args, cli.verbose),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("berth={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
