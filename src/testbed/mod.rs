//! The fleet testbed: real booted Debian hosts (systemd-nspawn) on a bridge
//! of their own with a local package mirror, or cheap sshd hosts.
//!
//! `berth testbed up N` builds (once) the base and the mirror, boots N hosts
//! and writes an inventory; `down` stops everything it started. The fault
//! helpers (`kill`, `partition`, `heal`, `latency`) act on one host's link
//! or power, never on anything outside the testbed's own bridge.

pub(crate) mod base;
pub(crate) mod bridge;
pub(crate) mod cheap;
pub(crate) mod delayer;
pub(crate) mod fleet;
pub(crate) mod host;
pub(crate) mod latency;
pub(crate) mod mirror;
pub(crate) mod mounts;
pub(crate) mod preflight;
pub(crate) mod process;
pub(crate) mod server;
pub(crate) mod sshd_fleet;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Subcommand;

use fleet::{Fleet, UpOptions};
use preflight::{Need, Preflight};

/// The testbed's bridge and its /24; the controller (and mirror) is .1.
pub(crate) const BRIDGE: &str = "berthtb0";
pub(crate) const SUBNET: &str = "10.213.7";
pub(crate) const CONTROLLER: &str = "10.213.7.1";
pub(crate) const MIRROR_PORT: u16 = 8080;
pub(crate) const MIRROR_URL: &str = "http://10.213.7.1:8080/";
pub(crate) const DEFAULT_STATE: &str = "/var/lib/berth/testbed";
pub(crate) const DEFAULT_DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// Set by SIGINT/SIGTERM while `up` waits, so it can clean up and exit.
pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, clap::Args)]
pub(crate) struct TestbedArgs {
    /// State directory (base and mirror caches, keys, running fleet)
    /// [default: $BERTH_TESTBED_DIR, else /var/lib/berth/testbed].
    #[arg(long, global = true)]
    pub(crate) state: Option<PathBuf>,
    /// Cheap mode: plain sshd hosts on loopback, no systemd (for scale benchmarks).
    #[arg(long, global = true)]
    pub(crate) cheap: bool,
    #[command(subcommand)]
    pub(crate) command: TestbedCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TestbedCommand {
    /// Boot N hosts (keeps running ones) and write an inventory for them.
    Up {
        count: usize,
        /// Where to write the Ansible inventory.
        #[arg(long, short = 'i', default_value = "inventory/testbed.yml")]
        inventory: PathBuf,
        /// Hosts' disks survive a kill or `down` (overlay in the state dir).
        #[arg(long)]
        persistent: bool,
        /// Debian mirror used to build the base and the package mirror
        /// [default: $BERTH_TESTBED_DEBIAN_MIRROR, else http://deb.debian.org/debian].
        #[arg(long)]
        debian_mirror: Option<String>,
        /// Seconds to wait for every host to answer SSH.
        #[arg(long, default_value_t = 120)]
        boot_timeout: u64,
    },
    /// Stop every host, the mirror server and the bridge (caches are kept).
    Down {
        /// Also delete the hosts' persistent disks.
        #[arg(long)]
        wipe: bool,
    },
    /// Show the hosts, their state, memory and added latency.
    Status,
    /// Hard-stop a host, like a power loss (`up` boots it again).
    Kill { host: String },
    /// Cut a host's link: connections to it time out.
    Partition { host: String },
    /// Restore a partitioned host's link.
    Heal { host: String },
    /// Add MS milliseconds of latency on a host's link (all hosts if none; 0 removes it).
    Latency { ms: u32, host: Option<String> },
    /// Run a shell command on a host as root over SSH.
    Exec {
        host: String,
        #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Serve the package mirror over HTTP (started by `up`).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        listen: String,
    },
    /// Delay packets of NFQUEUE queues (started by `latency` without netem).
    #[command(hide = true)]
    Delay {
        /// QUEUE:MS, repeatable.
        #[arg(long = "queue", required = true)]
        queues: Vec<String>,
    },
}

pub(crate) fn main(args: TestbedArgs) -> i32 {
    match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn dispatch(args: TestbedArgs) -> Result<i32, String> {
    let state = args
        .state
        .clone()
        .or_else(|| {
            std::env::var_os("BERTH_TESTBED_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE));
    if args.cheap {
        return cheap::dispatch(&state.join("cheap"), args.command);
    }
    if matches!(args.command, TestbedCommand::Up { .. }) {
        // Refuse before anything is created on disk.
        Preflight::check(Need::Fleet)?;
    }
    // One testbed command at a time per state dir (the daemons don't lock).
    let _lock = match args.command {
        TestbedCommand::Serve { .. }
        | TestbedCommand::Delay { .. }
        | TestbedCommand::Exec { .. }
        | TestbedCommand::Status => None,
        _ if state.is_dir() || matches!(args.command, TestbedCommand::Up { .. }) => {
            Some(lock(&state)?)
        }
        _ => None,
    };
    match args.command {
        TestbedCommand::Up {
            count,
            inventory,
            persistent,
            debian_mirror,
            boot_timeout,
        } => {
            install_interrupt_handler();
            let debian_mirror = debian_mirror
                .or_else(|| {
                    std::env::var("BERTH_TESTBED_DEBIAN_MIRROR")
                        .ok()
                        .filter(|v| !v.is_empty())
                })
                .unwrap_or_else(|| DEFAULT_DEBIAN_MIRROR.to_string());
            let opts = UpOptions {
                count,
                inventory,
                persistent,
                debian_mirror,
                boot_timeout: Duration::from_secs(boot_timeout),
            };
            let fleet = Fleet::up(&state, &opts)?;
            print!("{}", fleet.status());
            Ok(0)
        }
        TestbedCommand::Down { wipe } => {
            Preflight::check(Need::Control)?;
            match Fleet::load(&state)? {
                Some(mut f) => f.down(),
                None => {
                    // No state file: still remove what an interrupted run may have left.
                    let _ = bridge::Bridge::delete();
                    mounts::unmount_under(&state);
                }
            }
            if wipe {
                wipe_disks(&state)?;
            }
            eprintln!("testbed: down");
            Ok(0)
        }
        TestbedCommand::Status => {
            let fleet = Fleet::require(&state)?;
            print!("{}", fleet.status());
            Ok(0)
        }
        TestbedCommand::Kill { host } => {
            Preflight::check(Need::Control)?;
            Fleet::require(&state)?.kill(&host)?;
            Ok(0)
        }
        TestbedCommand::Partition { host } => {
            Preflight::check(Need::Control)?;
            Fleet::require(&state)?.partition(&host)?;
            Ok(0)
        }
        TestbedCommand::Heal { host } => {
            Preflight::check(Need::Control)?;
            Fleet::require(&state)?.heal(&host)?;
            Ok(0)
        }
        TestbedCommand::Latency { ms, host } => {
            Preflight::check(Need::Control)?;
            Fleet::require(&state)?.set_latency(ms, host.as_deref())?;
            Ok(0)
        }
        TestbedCommand::Exec { host, command } => {
            let fleet = Fleet::require(&state)?;
            let addr = fleet.host(&host)?.addr.clone();
            let status = fleet::ssh_command(&state, &addr, None)
                .arg(command.join(" "))
                .status()
                .map_err(|e| format!("cannot run ssh: {e}"))?;
            Ok(status.code().unwrap_or(255))
        }
        TestbedCommand::Serve { root, listen } => {
            server::MirrorServer::bind(&root, &listen)?.serve()
        }
        TestbedCommand::Delay { queues } => {
            let mut delays = BTreeMap::new();
            for q in &queues {
                let (queue, delay) = delayer::parse_queue(q)?;
                delays.insert(queue, delay);
            }
            delayer::Delayer::bind(delays)?.run()?;
            Ok(0)
        }
    }
}

/// An exclusive lock on the state dir, held until the returned file is
/// dropped. The descriptor is close-on-exec, so detached children never
/// inherit (and keep) it.
fn lock(state: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
    let path = state.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!(
            "testbed: waiting for another berth testbed command on {}",
            state.display()
        );
        // SAFETY: as above, blocking this time.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "{}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(file)
}

/// A command running this very binary (through /proc/self/exe, so it works
/// even when the file was rebuilt meanwhile), shown as `berth`.
pub(crate) fn self_command() -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg0("berth");
    cmd
}

/// Delete every host's persistent overlay (`down --wipe`).
fn wipe_disks(state: &std::path::Path) -> Result<(), String> {
    let Ok(hosts) = std::fs::read_dir(state.join("hosts")) else {
        return Ok(());
    };
    for host in hosts.flatten() {
        let upper = host.path().join("upper");
        if upper.exists() {
            mounts::unmount_under(&upper);
            std::fs::remove_dir_all(&upper).map_err(|e| format!("{}: {e}", upper.display()))?;
        }
    }
    Ok(())
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_interrupt_handler() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}
