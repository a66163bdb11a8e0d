//! Added latency on host links. With sch_netem in the kernel, `tc netem`
//! delays the egress of the host's bridge port (everything sent towards
//! the host). Kernels without netem get the same effect from an NFQUEUE
//! rule on the bridge and `berth testbed delay`, which holds each packet's
//! verdict for the requested time.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::host::Host;
use super::process::{run, Process};
use super::BRIDGE;

const CHAIN: &str = "BERTH-TESTBED";
/// NFQUEUE number of host i is QUEUE_BASE + i.
const QUEUE_BASE: u16 = 21300;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Latency {
    /// host name → added delay in ms.
    pub(crate) per_host: BTreeMap<String, u32>,
    /// The delay daemon (NFQUEUE mode only).
    pub(crate) delayer: Option<Process>,
    #[serde(default)]
    pub(crate) nfqueue: bool,
}

impl Latency {
    pub(crate) fn of(&self, name: &str) -> Option<u32> {
        self.per_host.get(name).copied().filter(|ms| *ms > 0)
    }

    pub(crate) fn set(
        &mut self,
        state: &std::path::Path,
        hosts: &[Host],
        ms: u32,
    ) -> Result<(), String> {
        for h in hosts {
            if ms == 0 {
                self.per_host.remove(&h.name);
            } else {
                self.per_host.insert(h.name.clone(), ms);
            }
        }
        if !self.nfqueue {
            let first = hosts.first().map(|h| h.veth());
            match first.map(|v| netem(&v, ms)) {
                Some(Err(e)) if e.contains("unknown") || e.contains("No such file") => {
                    eprintln!("testbed: this kernel has no sch_netem; delaying packets through NFQUEUE instead");
                    self.nfqueue = true;
                }
                Some(Err(e)) => return Err(e),
                _ => {
                    for h in hosts.iter().skip(1) {
                        netem(&h.veth(), ms)?;
                    }
                    return Ok(());
                }
            }
        }
        self.apply_nfqueue(state, hosts_all(hosts, &self.per_host))
    }

    /// After hosts were re-booted their bridge ports are new: apply again.
    pub(crate) fn reapply(&mut self, hosts: &[Host]) -> Result<(), String> {
        if self.per_host.is_empty() || self.nfqueue {
            return Ok(());
        }
        for h in hosts {
            if let Some(ms) = self.of(&h.name) {
                netem(&h.veth(), ms)?;
            }
        }
        Ok(())
    }

    /// Remove every delay (qdiscs, rules, the daemon).
    pub(crate) fn clear(&mut self, hosts: &[Host]) {
        for h in hosts {
            if self.per_host.contains_key(&h.name) && !self.nfqueue {
                let _ = netem(&h.veth(), 0);
            }
        }
        if self.nfqueue {
            drop_rules();
        }
        if let Some(p) = self.delayer.take() {
            p.stop(Duration::from_secs(2));
        }
        self.per_host.clear();
    }

    fn apply_nfqueue(
        &mut self,
        state: &std::path::Path,
        hosts: Vec<(u16, String, u32)>,
    ) -> Result<(), String> {
        if super::preflight::which("iptables").is_none() {
            return Err("this kernel has no sch_netem, and the fallback needs iptables (NFQUEUE).\n  = help: install it with `apt-get install iptables`".into());
        }
        if let Some(p) = self.delayer.take() {
            p.stop(Duration::from_secs(2));
        }
        drop_rules();
        if hosts.is_empty() {
            return Ok(());
        }
        let mut cmd = super::self_command();
        cmd.args(["testbed", "delay"]);
        for (queue, _, ms) in &hosts {
            cmd.arg("--queue").arg(format!("{queue}:{ms}"));
        }
        let proc = Process::spawn_detached(&mut cmd, &state.join("delay.log"))?;
        self.delayer = Some(proc);
        // The daemon binds its queues before the rules send packets to it.
        std::thread::sleep(Duration::from_millis(200));
        if !proc.alive() {
            return Err(format!(
                "the delay daemon exited: {}",
                std::fs::read_to_string(state.join("delay.log")).unwrap_or_default()
            ));
        }
        iptables(&["-N", CHAIN])?;
        iptables(&["-A", "POSTROUTING", "-o", BRIDGE, "-j", CHAIN])?;
        for (queue, addr, _) in &hosts {
            iptables(&[
                "-A",
                CHAIN,
                "-d",
                addr,
                "-j",
                "NFQUEUE",
                "--queue-num",
                &queue.to_string(),
                "--queue-bypass",
            ])?;
        }
        Ok(())
    }
}

/// (queue, address, ms) for every host with a delay.
fn hosts_all(hosts: &[Host], per_host: &BTreeMap<String, u32>) -> Vec<(u16, String, u32)> {
    per_host
        .iter()
        .filter(|(_, ms)| **ms > 0)
        .filter_map(|(name, ms)| {
            let index: u16 = name.trim_start_matches("host").parse().ok()?;
            let addr = hosts
                .iter()
                .find(|h| &h.name == name)
                .map(|h| h.addr.clone())
                .unwrap_or_else(|| Host::new(index as usize).addr);
            Some((QUEUE_BASE + index, addr, *ms))
        })
        .collect()
}

fn netem(veth: &str, ms: u32) -> Result<(), String> {
    if ms == 0 {
        let _ = run(Command::new("tc").args(["qdisc", "del", "dev", veth, "root"]));
        return Ok(());
    }
    run(Command::new("tc").args([
        "qdisc",
        "replace",
        "dev",
        veth,
        "root",
        "netem",
        "delay",
        &format!("{ms}ms"),
    ]))
    .map(|_| ())
}

fn iptables(args: &[&str]) -> Result<(), String> {
    run(Command::new("iptables")
        .args(["-w", "-t", "mangle"])
        .args(args))
    .map(|_| ())
}

fn drop_rules() {
    if super::preflight::which("iptables").is_none() {
        return;
    }
    while iptables(&["-D", "POSTROUTING", "-o", BRIDGE, "-j", CHAIN]).is_ok() {}
    let _ = iptables(&["-F", CHAIN]);
    let _ = iptables(&["-X", CHAIN]);
}
