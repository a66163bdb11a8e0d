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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (berth.1 and one per subcommand) into a folder,
    /// or print berth(1) without one.
    Man {
        /// The folder the pages go into (made if missing).
        dir: Option<std::path::PathBuf>,
    },
}

pub(crate) fn main() -> i32 {
    // A usage error exits 1, as every other error before work starts
    // (2 and 4 mean a host failed or was unreachable); --help and --version 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    init_logging(cli.verbose);
    crate::connection::trace::set_verbosity(cli.verbose);
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
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "berth", &mut script);
            print_bytes(&script)
        }
        Command::Man { dir } => man_pages(dir.as_deref()),
    }
}

/// Write to stdout; a reader that went away (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            1
        }
    }
}

/// berth(1), and with a folder berth-SUB(1) for every subcommand, from
/// the same definitions the parser uses.
fn man_pages(dir: Option<&std::path::Path>) -> i32 {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        return match clap_mangen::Man::new(cmd).render(&mut page) {
            Ok(()) => print_bytes(&page),
            Err(e) => {
                eprintln!("error: cannot render the man page: {e}");
                1
            }
        };
    };
    let write = |name: &str, page: clap::Command| -> std::io::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.1")), out)
    };
    let result = std::fs::create_dir_all(dir)
        .and_then(|_| write("berth", cmd.clone()))
        .and_then(|_| {
            for sub in cmd.get_subcommands() {
                let name = format!("berth-{}", sub.get_name());
                write(&name, sub.clone().name(name.clone()))?;
            }
            Ok(())
        });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: cannot write man pages into {}: {e}", dir.display());
            1
        }
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
