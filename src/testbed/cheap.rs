//! `--cheap`: M plain sshd hosts on loopback (no systemd), for scale
//! benchmarks, driven through the sshd fleet (`sshd_fleet.rs`). Only the
//! commands that make sense without a bridge are offered.

use std::path::Path;

use super::sshd_fleet::SshdFleet;
use super::TestbedCommand;

pub(crate) fn dispatch(state: &Path, command: TestbedCommand) -> Result<i32, String> {
    match command {
        TestbedCommand::Up { count, inventory, .. } => {
            std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
            let started = std::time::Instant::now();
            let fleet = SshdFleet::start(state, count)?;
            fleet.write_inventory(&inventory)?;
            eprintln!("testbed: {count} cheap sshd host(s) up in {:.1}s; inventory {}", started.elapsed().as_secs_f64(), inventory.display());
            fleet.detach();
            Ok(0)
        }
        TestbedCommand::Down { .. } => {
            if let Ok(fleet) = SshdFleet::load(state) {
                fleet.stop()?;
            }
            eprintln!("testbed: cheap fleet down");
            Ok(0)
        }
        TestbedCommand::Status => {
            let fleet = SshdFleet::load(state)?;
            for h in fleet.hosts() {
                println!("{:8} {}:{}", h.name, h.addr, h.port);
            }
            fleet.detach();
            Ok(0)
        }
        TestbedCommand::Kill { host } => {
            let fleet = SshdFleet::load(state)?;
            let r = fleet.kill(&host);
            fleet.detach();
            r.map(|_| 0)
        }
        _ => Err("cheap hosts support up, down, status and kill; partition, heal, latency and exec need the real testbed (drop --cheap)".into()),
    }
}
