//! The booted fleet: its state file, `up` (base, mirror, bridge, hosts,
//! SSH wait, inventory), `down`, and the fault helpers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::base::Base;
use super::bridge::Bridge;
use super::host::{Host, MAX_HOSTS};
use super::latency::Latency;
use super::mirror::{Mirror, BUN_PATH};
use super::mounts;
use super::process::{run, Process};
use super::{CONTROLLER, INTERRUPTED, MIRROR_PORT, MIRROR_URL};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fleet {
    #[serde(skip)]
    pub(crate) state: PathBuf,
    pub(crate) base: String,
    pub(crate) mirror: String,
    pub(crate) persistent: bool,
    pub(crate) server: Option<Process>,
    pub(crate) hosts: Vec<Host>,
    #[serde(default)]
    pub(crate) latency: Latency,
}

/// Options of `berth testbed up`.
#[derive(Debug, Clone)]
pub(crate) struct UpOptions {
    pub(crate) count: usize,
    pub(crate) inventory: PathBuf,
    pub(crate) persistent: bool,
    pub(crate) debian_mirror: String,
    pub(crate) boot_timeout: Duration,
}

impl Fleet {
    fn file(state: &Path) -> PathBuf {
        state.join("fleet.json")
    }

    pub(crate) fn load(state: &Path) -> Result<Option<Fleet>, String> {
        let path = Fleet::file(state);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut fleet: Fleet = serde_json::from_str(&text)
            .map_err(|e| format!("{}: {e}\n  = help: the state file is damaged; `berth testbed down` cleans up what it can", path.display()))?;
        fleet.state = state.to_path_buf();
        Ok(Some(fleet))
    }

    /// Like `load`, but a missing fleet is an error naming the fix.
    pub(crate) fn require(state: &Path) -> Result<Fleet, String> {
        Fleet::load(state)?.ok_or_else(|| {
            format!(
                "no testbed is up in {}\n  = help: start one with `berth testbed up 3`",
                state.display()
            )
        })
    }

    pub(crate) fn save(&self) -> Result<(), String> {
        let path = Fleet::file(&self.state);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub(crate) fn host(&self, name: &str) -> Result<&Host, String> {
        self.hosts
            .iter()
            .find(|h| h.name == name || h.addr == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
                format!(
                    "no testbed host `{name}`\n  = help: the hosts are {}",
                    names.join(", ")
                )
            })
    }

    fn host_mut(&mut self, name: &str) -> Result<&mut Host, String> {
        let idx = self
            .hosts
            .iter()
            .position(|h| h.name == name || h.addr == name);
        let idx = idx.ok_or_else(|| format!("no testbed host `{name}`"))?;
        Ok(&mut self.hosts[idx])
    }

    pub(crate) fn client_key(state: &Path) -> PathBuf {
        state.join("keys/id_ed25519")
    }

    pub(crate) fn known_hosts(state: &Path) -> PathBuf {
        state.join("keys/known_hosts")
    }

    /// Boot `count` hosts (keeping those already running) and write the inventory.
    pub(crate) fn up(state: &Path, opts: &UpOptions) -> Result<Fleet, String> {
        if opts.count == 0 || opts.count > MAX_HOSTS {
            return Err(format!(
                "the testbed boots 1 to {MAX_HOSTS} hosts, not {}",
                opts.count
            ));
        }
        std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
        let existing = Fleet::load(state)?;
        if let Some(f) = &existing {
            if f.base != Base::hash() || f.persistent != opts.persistent {
                return Err(format!(
                    "a testbed with another base or disk mode is up in {}\n  = help: run `berth testbed down` first",
                    state.display()
                ));
            }
        }
        let base = Base::ensure(state, &opts.debian_mirror)?;
        let mirror = Mirror::ensure(state, &base, &opts.debian_mirror)?;
        let client = ensure_client_key(state)?;
        let mut fleet = existing.unwrap_or(Fleet {
            state: state.to_path_buf(),
            base: base.hash.clone(),
            mirror: mirror.hash.clone(),
            persistent: opts.persistent,
            server: None,
            hosts: Vec::new(),
            latency: Latency::default(),
        });
        if fleet.mirror != mirror.hash {
            // The package list changed while the testbed was up: the running
            // server serves a mirror that no longer exists.
            if let Some(server) = fleet.server.take() {
                server.stop(Duration::from_secs(2));
            }
            fleet.mirror = mirror.hash.clone();
        }
        while fleet.hosts.len() < opts.count {
            fleet.hosts.push(Host::new(fleet.hosts.len() + 1));
        }
        fleet.save()?;
        let result = fleet.boot(&base, &mirror, &client, opts);
        if let Err(e) = result {
            eprintln!("testbed: up failed, cleaning up");
            fleet.down();
            return Err(e);
        }
        fleet.write_inventory(&opts.inventory)?;
        Ok(fleet)
    }

    fn boot(
        &mut self,
        base: &Base,
        mirror: &Mirror,
        client: &Path,
        opts: &UpOptions,
    ) -> Result<(), String> {
        Bridge::create()?;
        if !self.server.is_some_and(|p| p.alive()) {
            let mut cmd = super::self_command();
            cmd.args([
                "testbed",
                "serve",
                "--listen",
                &format!("{CONTROLLER}:{MIRROR_PORT}"),
                "--root",
            ])
            .arg(&mirror.root);
            self.server = Some(Process::spawn_detached(
                &mut cmd,
                &self.state.join("server.log"),
            )?);
            self.save()?;
        }
        let mut known = String::new();
        for host in &self.hosts {
            host.prepare(&self.state, self.persistent)?;
            known.push_str(&host.known_hosts_line(&self.state)?);
            known.push('\n');
        }
        std::fs::write(Fleet::known_hosts(&self.state), known).map_err(|e| e.to_string())?;
        let to_boot = self.hosts.iter().filter(|h| !h.running()).count();
        raise_inotify_limit(self.hosts.len(), to_boot)?;
        let started = Instant::now();
        let client_pub = client.with_extension("pub");
        let mut booted = Vec::new();
        for i in 0..self.hosts.len() {
            if self.hosts[i].running() {
                continue;
            }
            let host = &self.hosts[i];
            let log = host.console_log(&self.state);
            let _ = std::fs::remove_file(&log);
            let mut cmd =
                host.nspawn_command(&self.state, &base.rootfs, &client_pub, self.persistent);
            let proc = Process::spawn_detached(&mut cmd, &log)?;
            let host = &mut self.hosts[i];
            host.nspawn = Some(proc);
            host.partitioned = false;
            booted.push(i);
        }
        self.save()?;
        wait_http(
            &format!("{CONTROLLER}:{MIRROR_PORT}"),
            Duration::from_secs(10),
        )
        .map_err(|e| {
            format!(
                "the mirror server did not start: {e} (see {})",
                self.state.join("server.log").display()
            )
        })?;
        let deadline = started + opts.boot_timeout;
        let mut waiting: Vec<usize> = booted.clone();
        while !waiting.is_empty() {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Err("interrupted".into());
            }
            let mut still = Vec::new();
            for &i in &waiting {
                let host = &self.hosts[i];
                if !host.running() {
                    return Err(format!(
                        "{} stopped while booting:\n{}",
                        host.name,
                        tail(&host.console_log(&self.state), 15)
                    ));
                }
                if !ssh_banner(&host.addr) {
                    still.push(i);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                if Instant::now() >= deadline {
                    let names: Vec<&str> = waiting
                        .iter()
                        .map(|&i| self.hosts[i].name.as_str())
                        .collect();
                    return Err(format!(
                        "{} did not answer SSH within {:?}",
                        names.join(", "),
                        opts.boot_timeout
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // A real login on every new host, strict host key checking.
        let failures: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = booted
                .iter()
                .map(|&i| {
                    let host = &self.hosts[i];
                    let state = &self.state;
                    s.spawn(move || {
                        let until = Instant::now() + Duration::from_secs(30);
                        loop {
                            match ssh(state, &host.addr, "true", Some(5)) {
                                Ok(out) if out.status.success() => return None,
                                Ok(out) if Instant::now() >= until => {
                                    return Some(format!(
                                        "{}: {}",
                                        host.name,
                                        String::from_utf8_lossy(&out.stderr).trim()
                                    ))
                                }
                                Err(e) if Instant::now() >= until => {
                                    return Some(format!("{}: {e}", host.name))
                                }
                                _ => std::thread::sleep(Duration::from_millis(200)),
                            }
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().flatten())
                .collect()
        });
        if !failures.is_empty() {
            return Err(format!("SSH login failed:\n{}", failures.join("\n")));
        }
        if !booted.is_empty() {
            eprintln!(
                "testbed: {} host(s) booted and answering SSH in {:.1}s",
                booted.len(),
                started.elapsed().as_secs_f64()
            );
        }
        self.latency.reapply(&self.hosts)?;
        Ok(())
    }

    /// Ansible YAML inventory: group `fleet`, the testbed's key and known_hosts.
    pub(crate) fn write_inventory(&self, path: &Path) -> Result<(), String> {
        let key = Fleet::client_key(&self.state);
        let known = Fleet::known_hosts(&self.state);
        let mut y = String::from("# Written by `berth testbed up`; hosts are booted Debian bookworm containers.\nall:\n  children:\n    fleet:\n      hosts:\n");
        for h in &self.hosts {
            y.push_str(&format!(
                "        {}:\n          ansible_host: {}\n",
                h.name, h.addr
            ));
        }
        y.push_str("  vars:\n    ansible_user: root\n    ansible_port: 22\n");
        y.push_str(&format!(
            "    ansible_ssh_private_key_file: {}\n",
            yaml_str(&key.display().to_string())
        ));
        y.push_str(&format!(
            "    ansible_ssh_common_args: {}\n",
            yaml_str(&format!(
                "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
                known.display()
            ))
        ));
        y.push_str(&format!(
            "    berth_known_hosts_file: {}\n",
            yaml_str(&known.display().to_string())
        ));
        y.push_str("    ansible_python_interpreter: /usr/bin/python3\n");
        y.push_str(&format!(
            "    tova_bun_url: {}\n",
            yaml_str(&format!("{MIRROR_URL}{BUN_PATH}"))
        ));
        y.push_str(&format!(
            "    testbed_mirror_url: {}\n",
            yaml_str(MIRROR_URL)
        ));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, y).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("testbed: inventory written to {}", path.display());
        Ok(())
    }

    /// Stop everything the testbed started; keeps the caches and keys.
    pub(crate) fn down(&mut self) {
        self.latency.clear(&self.hosts);
        for host in &self.hosts {
            if let Some(p) = host.nspawn.filter(|p| p.alive()) {
                // nspawn turns SIGTERM into an orderly poweroff of the container.
                p.signal(libc::SIGTERM);
            }
        }
        let until = Instant::now() + Duration::from_secs(15);
        for host in &mut self.hosts {
            if let Some(p) = host.nspawn {
                if !p.wait_gone(until.saturating_duration_since(Instant::now())) {
                    power_off(host);
                }
            }
            host.nspawn = None;
            Bridge::unpin_neighbour(&host.addr);
            let _ =
                std::fs::remove_dir(format!("/run/systemd/nspawn/propagate/{}", host.machine()));
        }
        if let Some(p) = self.server.take() {
            p.stop(Duration::from_secs(2));
        }
        if let Err(e) = Bridge::delete() {
            eprintln!("testbed: {e}");
        }
        mounts::unmount_under(&self.state);
        let _ = std::fs::remove_file(Fleet::file(&self.state));
    }

    /// Hard stop, like a power loss: SIGKILL the container's init.
    pub(crate) fn kill(&mut self, name: &str) -> Result<(), String> {
        let host = self.host_mut(name)?;
        if !host.running() {
            return Err(format!(
                "{} is not running\n  = help: `berth testbed up N` boots it again",
                host.name
            ));
        }
        power_off(host);
        host.nspawn = None;
        host.partitioned = false;
        Bridge::unpin_neighbour(&host.addr.clone());
        self.save()
    }

    /// Cut a host's link: its bridge port goes down and its neighbour entry
    /// is pinned, so traffic to it is lost and connections time out.
    pub(crate) fn partition(&mut self, name: &str) -> Result<(), String> {
        let host = self.host_mut(name)?;
        if !host.running() {
            return Err(format!("{} is not running", host.name));
        }
        let mac = host.mac()?;
        Bridge::pin_neighbour(&host.addr, &mac)?;
        Bridge::set_port(&host.veth(), false)?;
        host.partitioned = true;
        self.save()
    }

    pub(crate) fn heal(&mut self, name: &str) -> Result<(), String> {
        let host = self.host_mut(name)?;
        if !host.running() {
            return Err(format!("{} is not running", host.name));
        }
        Bridge::set_port(&host.veth(), true)?;
        Bridge::unpin_neighbour(&host.addr.clone());
        host.partitioned = false;
        self.save()
    }

    pub(crate) fn set_latency(&mut self, ms: u32, name: Option<&str>) -> Result<(), String> {
        let targets: Vec<Host> = match name {
            Some(n) => vec![self.host(n)?.clone()],
            None => self.hosts.clone(),
        };
        for h in &targets {
            if !h.running() {
                return Err(format!("{} is not running", h.name));
            }
        }
        self.latency.set(&self.state, &targets, ms)?;
        self.save()
    }

    pub(crate) fn status(&self) -> String {
        let mut out = format!(
            "testbed in {}: base {}, mirror {} ({}), disks {}\n",
            self.state.display(),
            self.base,
            self.mirror,
            if self.server.is_some_and(|p| p.alive()) {
                format!("serving {MIRROR_URL}")
            } else {
                "not serving".into()
            },
            if self.persistent {
                "persistent"
            } else {
                "volatile"
            }
        );
        for h in &self.hosts {
            let state = if !h.running() {
                "stopped".to_string()
            } else if h.partitioned {
                "partitioned".to_string()
            } else {
                "running".to_string()
            };
            let mem = h
                .memory_kib()
                .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_default();
            let lat = self
                .latency
                .of(&h.name)
                .map(|ms| format!("+{ms}ms"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{:8} {:14} {:12} {:>10} {}\n",
                h.name, h.addr, state, mem, lat
            ));
        }
        out
    }
}

fn power_off(host: &Host) {
    if let Some(init) = host.init() {
        init.signal(libc::SIGKILL);
    }
    if let Some(p) = host.nspawn {
        if !p.wait_gone(Duration::from_secs(5)) {
            p.signal(libc::SIGKILL);
            p.wait_gone(Duration::from_secs(5));
        }
    }
}

/// Each booted host's systemd holds about 7 inotify instances, all owned
/// by root: the default limit of 128 runs out near 17 hosts and the rest
/// never start sshd. Raise the limit (never lower it) to fit the fleet.
fn raise_inotify_limit(hosts: usize, booting: usize) -> Result<(), String> {
    const PATH: &str = "/proc/sys/fs/inotify/max_user_instances";
    if booting == 0 {
        return Ok(());
    }
    let current: usize = std::fs::read_to_string(PATH)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let needed = 128 + 12 * hosts;
    if current == 0 || current >= needed {
        return Ok(());
    }
    std::fs::write(PATH, needed.to_string()).map_err(|e| {
        format!("{hosts} hosts need fs.inotify.max_user_instances >= {needed} (it is {current}): {e}\n  = help: sysctl -w fs.inotify.max_user_instances={needed}")
    })?;
    eprintln!("testbed: raised fs.inotify.max_user_instances from {current} to {needed} for {hosts} hosts");
    Ok(())
}

fn ensure_client_key(state: &Path) -> Result<PathBuf, String> {
    let key = Fleet::client_key(state);
    std::fs::create_dir_all(key.parent().unwrap()).map_err(|e| e.to_string())?;
    if !key.is_file() || !key.with_extension("pub").is_file() {
        let _ = std::fs::remove_file(&key);
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "berth-testbed", "-f"])
            .arg(&key))?;
    }
    Ok(key)
}

/// Run `cmd` on `addr` as root with the testbed's key and known_hosts.
pub(crate) fn ssh(
    state: &Path,
    addr: &str,
    cmd: &str,
    timeout: Option<u32>,
) -> Result<std::process::Output, String> {
    let mut c = ssh_command(state, addr, timeout);
    c.arg(cmd);
    c.stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ssh: {e}"))
}

pub(crate) fn ssh_command(state: &Path, addr: &str, timeout: Option<u32>) -> Command {
    let mut c = Command::new("ssh");
    c.arg("-i")
        .arg(Fleet::client_key(state))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            Fleet::known_hosts(state).display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
        ])
        .arg("-o")
        .arg(format!("ConnectTimeout={}", timeout.unwrap_or(10)))
        .arg(format!("root@{addr}"))
        .arg("--");
    c
}

/// True once sshd on `addr` sends its version banner.
fn ssh_banner(addr: &str) -> bool {
    let Ok(sock) = format!("{addr}:22").parse::<SocketAddr>() else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&sock, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

fn wait_http(addr: &str, timeout: Duration) -> Result<(), String> {
    let until = Instant::now() + timeout;
    let sock: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    loop {
        if let Ok(mut s) = TcpStream::connect_timeout(&sock, Duration::from_millis(300)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(b"HEAD /Packages.gz HTTP/1.0\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200") {
                return Ok(());
            }
        }
        if Instant::now() >= until {
            return Err(format!("no answer from http://{addr}/Packages.gz"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}
