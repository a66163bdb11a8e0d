//! The cheap fleet: plain `sshd` processes on loopback, one per host, for
//! tests, benchmarks and `berth testbed up --cheap`.
//!
//! Each host is an sshd with its own ed25519 host key, listening on its own
//! 127.a.b.x address. A state directory holds everything: the client key,
//! `authorized_keys`, a `known_hosts` with every host's key, one directory per
//! host (host key, sshd_config, pid file, log) and `fleet.json`, from which
//! another process can re-open a running fleet. sshd daemonizes itself, so a
//! fleet can outlive the process that started it: the handle that started it
//! stops it when dropped unless `detach()` was called, and a watchdog stops
//! it when that process ends without dropping it (a fleet kept in a static,
//! a test run killed on a timeout) unless `detach()` was called.
//!
//! Addresses: a state directory's path picks a /24 inside 127.0.0.0/8 and a
//! port; every address is test-bound before sshd starts, and another
//! candidate is tried when anything is taken, so fleets of concurrently
//! running tests do not collide.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

#[cfg(test)]
use crate::connection::known_hosts::HostKeyChecking;
#[cfg(test)]
use crate::connection::ssh::SshOptions;

const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "ssh-keygen";
const STATE_FILE: &str = "fleet.json";
/// How long a host may take to accept TCP after sshd was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a killed host's processes may take to disappear.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Hosts per /24: the last octet runs from 10 to 209.
const HOSTS_PER_SUBNET: usize = 200;
/// Address/port candidates tried before giving up.
const CANDIDATES: u32 = 64;

/// One host of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FleetHost {
    /// `host01`, `host02`, ...
    pub(crate) name: String,
    /// `127.a.b.x`
    pub(crate) addr: String,
    pub(crate) port: u16,
}

/// What `fleet.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    user: String,
    /// The /24 (`127.a.b.0`) the first hosts live in.
    subnet: [u8; 2],
    port: u16,
    hosts: Vec<FleetHost>,
}

/// A running cheap fleet.
#[derive(Debug)]
pub(crate) struct SshdFleet {
    dir: PathBuf,
    state: State,
    /// True for the handle that started the fleet until `detach()`.
    owner: AtomicBool,
    /// The started fleet's watchdog until `detach()` or `stop()`.
    watchdog: Mutex<Option<Watchdog>>,
}

/// A `sh` in its own process group that waits on a pipe from this process:
/// at end of file (this process is gone) it SIGKILLs the fleet's sshds and
/// their sessions; told `detach` it just exits.
#[derive(Debug)]
struct Watchdog {
    child: Child,
}

const WATCHDOG_SCRIPT: &str = r#"read -r word
[ "$word" = detach ] && exit 0
dir=$1; shift
for h in "$@"; do
  pid=$(cat "$dir/$h/sshd.pid" 2>/dev/null) || continue
  if grep -qa "$dir/$h/sshd_config" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -9 "$pid"
    pkill -9 -P "$pid" 2>/dev/null
  fi
done
"#;

impl Watchdog {
    fn arm(dir: &Path, hosts: &[FleetHost]) -> Result<Watchdog, String> {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("sh")
            .arg(dir)
            .args(hosts.iter().map(|h| h.name.as_str()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of our process group: a Ctrl-C meant for us must not take
            // the watchdog with it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the fleet's watchdog (/bin/sh): {e}"))?;
        Ok(Watchdog { child })
    }

    /// Lets the fleet live on without this process.
    fn disarm(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"detach\n");
        }
        let _ = self.child.wait();
    }
}

impl SshdFleet {
    /// Starts `count` sshd hosts with their state in `state_dir` and waits
    /// until each accepts TCP. With a directory of a running fleet, that fleet
    /// is stopped first and comes back with the same keys (and addresses when
    /// they are still free).
    pub(crate) fn start(state_dir: &Path, count: usize) -> Result<SshdFleet, String> {
        if count == 0 {
            return Err("a cheap fleet needs at least one host".to_string());
        }
        if count > HOSTS_PER_SUBNET * 250 {
            return Err(format!(
                "a cheap fleet has at most {} hosts",
                HOSTS_PER_SUBNET * 250
            ));
        }
        if !Path::new(SSHD).is_file() {
            return Err(format!(
                "{SSHD} not found: install openssh-server (apt-get install openssh-server)"
            ));
        }
        fs::create_dir_all(state_dir)
            .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
        let dir = fs::canonicalize(state_dir)
            .map_err(|e| format!("cannot resolve {}: {e}", state_dir.display()))?;
        if let Some(dir_str) = dir.to_str() {
            if dir_str.chars().any(|c| c.is_whitespace() || c == '"') {
                return Err(format!("the fleet's state directory {} must not contain spaces or quotes (sshd_config paths)", dir.display()));
            }
        } else {
            return Err(format!(
                "the fleet's state directory {} must be valid UTF-8",
                dir.display()
            ));
        }

        let previous = read_state(&dir).ok();
        if let Some(prev) = &previous {
            for host in &prev.hosts {
                kill_host(&dir, &host.name)?;
            }
        }
        ensure_privsep_dir()?;

        let client_key = dir.join("client_key");
        if !client_key.is_file() || !dir.join("client_key.pub").is_file() {
            let _ = fs::remove_file(&client_key);
            let _ = fs::remove_file(dir.join("client_key.pub"));
            keygen(&[(client_key.clone(), "berth-fleet-client".to_string())])?;
        }
        let public = fs::read_to_string(dir.join("client_key.pub"))
            .map_err(|e| format!("cannot read client key: {e}"))?;
        write_file(&dir.join("authorized_keys"), public.as_bytes(), 0o600)?;

        let names: Vec<String> = (1..=count).map(|i| host_name(i, count)).collect();
        let mut missing = Vec::new();
        for name in &names {
            let host_dir = dir.join(name);
            fs::create_dir_all(&host_dir)
                .map_err(|e| format!("cannot create {}: {e}", host_dir.display()))?;
            let key = host_dir.join("ssh_host_ed25519_key");
            if !key.is_file() || !host_dir.join("ssh_host_ed25519_key.pub").is_file() {
                let _ = fs::remove_file(&key);
                let _ = fs::remove_file(host_dir.join("ssh_host_ed25519_key.pub"));
                missing.push((key, name.clone()));
            }
        }
        keygen(&missing)?;

        let user = current_user();
        let mut last_err = String::new();
        let mut tried = 0;
        for candidate in candidates(&dir, previous.as_ref()) {
            let (subnet, port) = candidate;
            let hosts: Vec<FleetHost> = names
                .iter()
                .enumerate()
                .map(|(i, name)| FleetHost {
                    name: name.clone(),
                    addr: host_addr(subnet, i),
                    port,
                })
                .collect();
            if !all_bindable(&hosts) {
                continue;
            }
            tried += 1;
            let state = State {
                user: user.clone(),
                subnet,
                port,
                hosts,
            };
            // Armed before sshd starts, so that no moment leaves a fleet
            // without an owner.
            let watchdog = Watchdog::arm(&dir, &state.hosts)?;
            let fleet = SshdFleet {
                dir: dir.clone(),
                state,
                owner: AtomicBool::new(true),
                watchdog: Mutex::new(Some(watchdog)),
            };
            match fleet.boot_all() {
                Ok(()) => {
                    fleet.write_known_hosts()?;
                    let json =
                        serde_json::to_string_pretty(&fleet.state).map_err(|e| e.to_string())?;
                    write_file(&dir.join(STATE_FILE), json.as_bytes(), 0o644)?;
                    return Ok(fleet);
                }
                Err(e) => {
                    // Another fleet may have taken an address between the
                    // test bind and sshd's: clean up, try the next candidate.
                    let _ = fleet.stop();
                    last_err = e;
                    if tried >= 3 {
                        break;
                    }
                }
            }
        }
        if last_err.is_empty() {
            last_err =
                format!("no free loopback address block found after {CANDIDATES} candidates");
        }
        Err(format!(
            "cannot start the cheap fleet in {}: {last_err}",
            dir.display()
        ))
    }

    /// Re-opens a fleet started by another process (or earlier). The handle
    /// does not own the fleet: dropping it stops nothing.
    pub(crate) fn load(state_dir: &Path) -> Result<SshdFleet, String> {
        let dir = fs::canonicalize(state_dir)
            .map_err(|e| format!("no cheap fleet in {}: {e}", state_dir.display()))?;
        let state = read_state(&dir)?;
        Ok(SshdFleet {
            dir,
            state,
            owner: AtomicBool::new(false),
            watchdog: Mutex::new(None),
        })
    }

    pub(crate) fn hosts(&self) -> &[FleetHost] {
        &self.state.hosts
    }

    pub(crate) fn host(&self, name: &str) -> Option<&FleetHost> {
        self.state.hosts.iter().find(|h| h.name == name)
    }

    #[cfg(test)]
    pub(crate) fn state_dir(&self) -> &Path {
        &self.dir
    }

    #[cfg(test)]
    /// The user the client key logs in as (root when berth runs as root).
    pub(crate) fn user(&self) -> &str {
        &self.state.user
    }

    /// The private key every host accepts.
    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.join("client_key")
    }

    /// A known_hosts file with every host's key in `[addr]:port` form.
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    #[cfg(test)]
    /// Connection options for one host: the fleet's key, its known_hosts,
    /// strict host key checking.
    pub(crate) fn ssh_options(&self, host: &FleetHost) -> SshOptions {
        let mut opts = SshOptions::new(host.addr.clone(), host.port, self.state.user.clone());
        opts.private_key = Some(self.client_key());
        opts.known_hosts = self.known_hosts();
        opts.host_key_checking = HostKeyChecking::Strict;
        opts.connect_timeout = Duration::from_secs(10);
        opts
    }

    /// Writes an Ansible YAML inventory: group `fleet` with every host.
    pub(crate) fn write_inventory(&self, path: &Path) -> Result<(), String> {
        let key = self.client_key().display().to_string();
        let mut hosts = serde_json::Map::new();
        for host in &self.state.hosts {
            hosts.insert(
                host.name.clone(),
                serde_json::json!({
                    "ansible_host": host.addr,
                    "ansible_port": host.port,
                    "ansible_user": self.state.user,
                    "ansible_ssh_private_key_file": key,
                }),
            );
        }
        let inventory = serde_json::json!({
            "all": {
                "children": {
                    "fleet": {
                        "hosts": hosts,
                        "vars": {
                            "ansible_ssh_common_args": format!(
                                "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
                                self.known_hosts().display()
                            ),
                        },
                    },
                },
            },
        });
        let yaml = serde_yaml::to_string(&inventory)
            .map_err(|e| format!("cannot write inventory: {e}"))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::write(path, yaml).map_err(|e| format!("cannot write inventory {}: {e}", path.display()))
    }

    /// Hard-stops one host like a power loss: SIGKILL to its sshd and every
    /// session and command under it.
    pub(crate) fn kill(&self, name: &str) -> Result<(), String> {
        self.known(name)?;
        kill_host(&self.dir, name)
    }

    #[cfg(test)]
    /// Kills (when running) and starts one host again on its address.
    pub(crate) fn restart(&self, name: &str) -> Result<(), String> {
        let host = self.known(name)?.clone();
        kill_host(&self.dir, name)?;
        self.boot(&[host])
    }

    #[cfg(test)]
    /// Whether the host's sshd is running.
    pub(crate) fn is_running(&self, name: &str) -> bool {
        listener_pid(&self.dir, name).is_some()
    }

    /// Stops every host.
    pub(crate) fn stop(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        for host in &self.state.hosts {
            if let Err(e) = kill_host(&self.dir, &host.name) {
                errors.push(e);
            }
        }
        self.owner.store(false, Ordering::SeqCst);
        self.disarm();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Leaves the fleet running when this handle is dropped or this process
    /// ends (`berth testbed up --cheap`).
    pub(crate) fn detach(&self) {
        self.owner.store(false, Ordering::SeqCst);
        self.disarm();
    }

    fn disarm(&self) {
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = watchdog {
            w.disarm();
        }
    }

    fn known(&self, name: &str) -> Result<&FleetHost, String> {
        self.host(name).ok_or_else(|| {
            let names: Vec<&str> = self.state.hosts.iter().map(|h| h.name.as_str()).collect();
            format!(
                "no host {name} in the cheap fleet (hosts: {})",
                names.join(", ")
            )
        })
    }

    fn boot_all(&self) -> Result<(), String> {
        self.boot(&self.state.hosts)
    }

    /// Writes each host's sshd_config, starts its sshd (which daemonizes) and
    /// waits until every one accepts TCP.
    fn boot(&self, hosts: &[FleetHost]) -> Result<(), String> {
        let mut launches = Vec::new();
        for host in hosts {
            let host_dir = self.dir.join(&host.name);
            let config = host_dir.join("sshd_config");
            write_file(&config, self.sshd_config(host).as_bytes(), 0o644)?;
            let log = host_dir.join("sshd.log");
            let _ = fs::remove_file(host_dir.join("sshd.pid"));
            let _ = fs::write(&log, b"");
            let child = Command::new(SSHD)
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run {SSHD}: {e}"))?;
            launches.push((host, child));
        }
        // The launched processes fork the daemon and exit at once; a non-zero
        // status is a configuration error.
        for (host, child) in launches {
            let out = child
                .wait_with_output()
                .map_err(|e| format!("waiting for {SSHD}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "sshd for {} failed to start ({}): {}",
                    host.name,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let mut waiting: Vec<&FleetHost> = hosts.iter().collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for host in waiting {
                let addr: SocketAddr = format!("{}:{}", host.addr, host.port)
                    .parse()
                    .map_err(|e| format!("{e}"))?;
                let up = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                    && listener_pid(&self.dir, &host.name).is_some();
                if up {
                    continue;
                }
                let log = fs::read_to_string(self.dir.join(&host.name).join("sshd.log"))
                    .unwrap_or_default();
                if log.contains("Cannot bind")
                    || log.contains("Bind to port")
                    || log.contains("fatal")
                {
                    return Err(format!(
                        "sshd for {} ({addr}) did not start: {}",
                        host.name,
                        last_lines(&log, 5)
                    ));
                }
                still.push(host);
            }
            waiting = still;
            if waiting.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let names: Vec<&str> = waiting.iter().map(|h| h.name.as_str()).collect();
                return Err(format!(
                    "hosts {} did not accept connections within {}s (logs: {}/HOST/sshd.log)",
                    names.join(", "),
                    START_TIMEOUT.as_secs(),
                    self.dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn sshd_config(&self, host: &FleetHost) -> String {
        let host_dir = self.dir.join(&host.name);
        format!(
            "# berth cheap fleet host {name}\n\
             ListenAddress {addr}:{port}\n\
             HostKey {dir}/ssh_host_ed25519_key\n\
             PidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {keys}\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             UseDNS no\n\
             MaxSessions 1000\n\
             MaxStartups 1000:30:2000\n\
             MaxAuthTries 30\n\
             LoginGraceTime 30\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             X11Forwarding no\n\
             AcceptEnv LANG LC_*\n\
             Subsystem sftp internal-sftp\n\
             # Commands run as `$SHELL -c`; with SHLVL=1 bash counts itself a\n\
             # nested shell and skips ~/.bashrc, which on a developer machine\n\
             # (pyenv, cargo, ...) costs more than the command: the hosts then\n\
             # behave like minimal servers.\n\
             SetEnv SHLVL=1\n\
             LogLevel INFO\n",
            name = host.name,
            addr = host.addr,
            port = host.port,
            dir = host_dir.display(),
            keys = self.dir.join("authorized_keys").display(),
        )
    }

    fn write_known_hosts(&self) -> Result<(), String> {
        let mut text = String::new();
        for host in &self.state.hosts {
            let pub_path = self.dir.join(&host.name).join("ssh_host_ed25519_key.pub");
            let public = fs::read_to_string(&pub_path)
                .map_err(|e| format!("cannot read {}: {e}", pub_path.display()))?;
            let mut fields = public.split_whitespace();
            let (Some(kind), Some(key)) = (fields.next(), fields.next()) else {
                return Err(format!(
                    "{} is not an OpenSSH public key",
                    pub_path.display()
                ));
            };
            text.push_str(&format!("[{}]:{} {kind} {key}\n", host.addr, host.port));
        }
        write_file(&self.known_hosts(), text.as_bytes(), 0o644)
    }
}

impl Drop for SshdFleet {
    fn drop(&mut self) {
        if self.owner.load(Ordering::SeqCst) {
            let _ = self.stop();
        }
    }
}

fn host_name(i: usize, count: usize) -> String {
    let width = count.to_string().len().max(2);
    format!("host{i:0width$}")
}

/// Host `i`'s address: 200 hosts per /24, further hosts in the next /24s.
fn host_addr(subnet: [u8; 2], i: usize) -> String {
    let block = (subnet[0] as usize) * 256 + subnet[1] as usize + i / HOSTS_PER_SUBNET;
    let (a, b) = ((block / 256) % 256, block % 256);
    format!("127.{a}.{b}.{}", 10 + i % HOSTS_PER_SUBNET)
}

/// Address blocks and ports to try: the previous layout first, then a
/// sequence derived from the state directory's path.
fn candidates(dir: &Path, previous: Option<&State>) -> Vec<([u8; 2], u16)> {
    let mut out = Vec::new();
    if let Some(prev) = previous {
        out.push((prev.subnet, prev.port));
    }
    for k in 0..CANDIDATES {
        let digest = Sha1::new()
            .chain_update(dir.as_os_str().as_encoded_bytes())
            .chain_update(k.to_le_bytes())
            .finalize();
        // 127.1.0.0 - 127.250.255.255 (the blocks after a fleet's first may
        // spill over, still below 127.255); avoid 127.0.x.x, which hosts
        // and resolvers use.
        let a = 1 + digest[0] % 250;
        let b = digest[1];
        let port = 20000 + (u16::from_le_bytes([digest[2], digest[3]]) % 30000);
        out.push(([a, b], port));
    }
    out
}

/// Test-binds every host's address and port (then releases them).
fn all_bindable(hosts: &[FleetHost]) -> bool {
    let mut held = Vec::with_capacity(hosts.len());
    for host in hosts {
        match TcpListener::bind((host.addr.as_str(), host.port)) {
            Ok(l) => held.push(l),
            Err(_) => return false,
        }
    }
    true
}

fn read_state(dir: &Path) -> Result<State, String> {
    let path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("no cheap fleet in {}: {e}", dir.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is damaged ({e}); start the fleet again", path.display()))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut f =
        fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(data)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Generates ed25519 keys (no passphrase), all at once.
fn keygen(keys: &[(PathBuf, String)]) -> Result<(), String> {
    let mut children = Vec::new();
    for (path, comment) in keys {
        let child = Command::new(SSH_KEYGEN)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {SSH_KEYGEN} (install openssh-client): {e}"))?;
        children.push((path, child));
    }
    for (path, child) in children {
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for {SSH_KEYGEN}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{SSH_KEYGEN} failed for {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// sshd refuses to start without its privilege separation directory.
fn ensure_privsep_dir() -> Result<(), String> {
    let dir = Path::new("/run/sshd");
    // SAFETY: getuid has no preconditions.
    if dir.is_dir() || unsafe { libc::getuid() } != 0 {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod /run/sshd: {e}"))
}

fn current_user() -> String {
    // SAFETY: getpwuid returns static storage or null; the name is copied out
    // before any other libc call.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "root".to_string())
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A process as /proc shows it.
struct Proc {
    ppid: i32,
    zombie: bool,
    cmdline: String,
}

fn processes() -> HashMap<i32, Proc> {
    let mut out = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("?");
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.insert(
            pid,
            Proc {
                ppid,
                zombie: state == "Z" || state == "X",
                cmdline,
            },
        );
    }
    out
}

/// The pid of a host's listening sshd, when it runs.
fn listener_pid(dir: &Path, name: &str) -> Option<i32> {
    let host_dir = dir.join(name);
    let pid: i32 = fs::read_to_string(host_dir.join("sshd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|s| s == "Z");
    let config = host_dir.join("sshd_config");
    (!zombie && cmdline.contains(&*config.to_string_lossy())).then_some(pid)
}

/// SIGKILLs a host's sshd, its per-connection sshds and everything they ran,
/// then waits until they are gone.
fn kill_host(dir: &Path, name: &str) -> Result<(), String> {
    let config = dir
        .join(name)
        .join("sshd_config")
        .to_string_lossy()
        .into_owned();
    let procs = processes();
    let mut roots: Vec<i32> = procs
        .iter()
        .filter(|(_, p)| !p.zombie && p.cmdline.contains(&config))
        .map(|(pid, _)| *pid)
        .collect();
    if let Some(pid) = listener_pid(dir, name) {
        if !roots.contains(&pid) {
            roots.push(pid);
        }
    }
    if roots.is_empty() {
        return Ok(());
    }
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, p) in &procs {
        children.entry(p.ppid).or_default().push(*pid);
    }
    let mut victims: Vec<i32> = Vec::new();
    let mut seen: HashSet<i32> = HashSet::new();
    let mut queue: VecDeque<i32> = roots.iter().copied().collect();
    while let Some(pid) = queue.pop_front() {
        if !seen.insert(pid) {
            continue;
        }
        victims.push(pid);
        for child in children.get(&pid).into_iter().flatten() {
            queue.push_back(*child);
        }
    }
    // Roots (listeners) first so that no new session starts meanwhile.
    for pid in &victims {
        // SAFETY: sending a signal to a pid; ESRCH is harmless.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let now = processes();
        let alive: Vec<i32> = victims
            .iter()
            .copied()
            .filter(|pid| now.get(pid).is_some_and(|p| !p.zombie))
            .collect();
        if alive.is_empty() {
            let _ = fs::remove_file(dir.join(name).join("sshd.pid"));
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "processes {alive:?} of fleet host {name} survived SIGKILL for {}s",
                KILL_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::ssh::SshConnection;
    use crate::connection::Connection;

    #[test]
    fn names_and_addresses() {
        assert_eq!(host_name(1, 3), "host01");
        assert_eq!(host_name(7, 120), "host007");
        assert_eq!(host_addr([9, 4], 0), "127.9.4.10");
        assert_eq!(host_addr([9, 4], 199), "127.9.4.209");
        assert_eq!(host_addr([9, 255], 200), "127.10.0.10");
    }

    #[test]
    fn candidates_depend_on_the_directory_and_prefer_the_previous_layout() {
        let a = candidates(Path::new("/tmp/a"), None);
        let b = candidates(Path::new("/tmp/b"), None);
        assert_eq!(a.len(), CANDIDATES as usize);
        assert_ne!(a[0], b[0]);
        assert!(a
            .iter()
            .all(|(s, p)| s[0] >= 1 && s[0] <= 250 && *p >= 20000 && *p < 50000));
        let prev = State {
            user: "root".into(),
            subnet: [3, 3],
            port: 2222,
            hosts: Vec::new(),
        };
        assert_eq!(
            candidates(Path::new("/tmp/a"), Some(&prev))[0],
            ([3, 3], 2222)
        );
    }

    #[test]
    fn fleet_starts_serves_ssh_and_stops() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = SshdFleet::start(tmp.path(), 3).unwrap();
        let hosts = fleet.hosts().to_vec();
        assert_eq!(hosts.len(), 3);
        let addrs: HashSet<&str> = hosts.iter().map(|h| h.addr.as_str()).collect();
        assert_eq!(addrs.len(), 3, "each host has its own address");
        let kh = fs::read_to_string(fleet.known_hosts()).unwrap();
        assert_eq!(kh.lines().count(), 3);
        assert!(kh.starts_with(&format!(
            "[{}]:{} ssh-ed25519 ",
            hosts[0].addr, hosts[0].port
        )));

        for host in &hosts {
            let mut conn = SshConnection::connect(&fleet.ssh_options(host)).unwrap();
            let out = conn
                .exec("echo $(whoami) ${SSH_CONNECTION##* }", None)
                .unwrap();
            assert_eq!(
                out.stdout_str(),
                format!("{} {}\n", fleet.user(), host.port)
            );
        }

        // Another process's view of the same fleet.
        let other = SshdFleet::load(tmp.path()).unwrap();
        assert_eq!(other.hosts(), fleet.hosts());
        drop(other);
        assert!(
            fleet.is_running("host02"),
            "dropping a loaded handle stops nothing"
        );

        let inv = tmp.path().join("inv.yml");
        fleet.write_inventory(&inv).unwrap();
        let parsed: serde_json::Value =
            serde_yaml::from_str(&fs::read_to_string(&inv).unwrap()).unwrap();
        let h2 = &parsed["all"]["children"]["fleet"]["hosts"]["host02"];
        assert_eq!(h2["ansible_host"], hosts[1].addr.as_str());
        assert_eq!(h2["ansible_port"], hosts[1].port);
        assert_eq!(h2["ansible_user"], fleet.user());
        assert_eq!(
            h2["ansible_ssh_private_key_file"],
            fleet.client_key().display().to_string()
        );

        let pids: Vec<i32> = hosts
            .iter()
            .map(|h| listener_pid(tmp.path(), &h.name).unwrap())
            .collect();
        drop(fleet);
        for (host, pid) in hosts.iter().zip(pids) {
            assert!(listener_pid(tmp.path(), &host.name).is_none());
            assert!(
                processes().get(&pid).is_none_or(|p| p.zombie),
                "sshd {pid} still runs"
            );
            let addr: SocketAddr = format!("{}:{}", host.addr, host.port).parse().unwrap();
            assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
        }
    }

    /// Run by `a_fleet_dies_with_its_process_unless_detached` in a child
    /// process: starts a fleet in `$BERTH_FLEET_HELPER_DIR` and exits without
    /// dropping it (detaching first when `$BERTH_FLEET_HELPER_DETACH` is set).
    #[test]
    #[ignore]
    fn helper_start_fleet_and_exit() {
        let Some(dir) = std::env::var_os("BERTH_FLEET_HELPER_DIR") else {
            return;
        };
        let fleet = SshdFleet::start(Path::new(&dir), 2).unwrap();
        if std::env::var_os("BERTH_FLEET_HELPER_DETACH").is_some() {
            fleet.detach();
        }
        std::process::exit(0);
    }

    #[test]
    fn a_fleet_dies_with_its_process_unless_detached() {
        let run_helper = |dir: &Path, detach: bool| {
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "--exact",
                "testbed::sshd_fleet::tests::helper_start_fleet_and_exit",
                "--ignored",
                "--nocapture",
            ])
            .env("BERTH_FLEET_HELPER_DIR", dir);
            if detach {
                cmd.env("BERTH_FLEET_HELPER_DETACH", "1");
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let tmp = tempfile::tempdir().unwrap();

        // Exited without dropping or detaching: the watchdog stops the fleet.
        let owned = tmp.path().join("owned");
        run_helper(&owned, false);
        let fleet = SshdFleet::load(&owned).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while fleet.hosts().iter().any(|h| fleet.is_running(&h.name)) {
            assert!(Instant::now() < deadline, "the fleet outlived its process");
            std::thread::sleep(Duration::from_millis(20));
        }

        // Detached: it keeps serving, and another process can stop it.
        let detached = tmp.path().join("detached");
        run_helper(&detached, true);
        let fleet = SshdFleet::load(&detached).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for h in fleet.hosts() {
            assert!(fleet.is_running(&h.name));
            let mut conn = SshConnection::connect(&fleet.ssh_options(h)).unwrap();
            assert!(conn.exec("true", None).unwrap().success());
        }
        fleet.stop().unwrap();
        assert!(fleet.hosts().iter().all(|h| !fleet.is_running(&h.name)));
    }

    #[test]
    fn kill_restart_and_restart_of_the_whole_fleet_keep_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = SshdFleet::start(tmp.path(), 2).unwrap();
        let host = fleet.hosts()[0].clone();
        let mut conn = SshConnection::connect(&fleet.ssh_options(&host)).unwrap();
        assert_eq!(conn.exec("echo up", None).unwrap().stdout, b"up\n");

        fleet.kill("host01").unwrap();
        assert!(!fleet.is_running("host01"));
        assert!(fleet.is_running("host02"));
        // The session died with the host.
        assert!(conn.exec("echo up", None).is_err());
        assert!(SshConnection::connect(&fleet.ssh_options(&host)).is_err());

        fleet.restart("host01").unwrap();
        let mut conn = SshConnection::connect(&fleet.ssh_options(&host)).unwrap();
        assert_eq!(conn.exec("echo again", None).unwrap().stdout, b"again\n");
        drop(conn);

        // Starting over in the same directory: same keys, and (free again)
        // the same addresses, so the old known_hosts still verifies.
        fleet.detach();
        drop(fleet);
        let old_known = fs::read_to_string(tmp.path().join("known_hosts")).unwrap();
        let fleet = SshdFleet::start(tmp.path(), 3).unwrap();
        assert_eq!(fleet.hosts()[0], host);
        let new_known = fs::read_to_string(fleet.known_hosts()).unwrap();
        assert!(
            new_known.starts_with(&old_known),
            "{old_known}\n---\n{new_known}"
        );
        assert_eq!(new_known.lines().count(), 3);
        for h in fleet.hosts() {
            let mut conn = SshConnection::connect(&fleet.ssh_options(h)).unwrap();
            assert!(conn.exec("true", None).unwrap().success());
        }
        fleet.stop().unwrap();
        assert!(fleet.hosts().iter().all(|h| !fleet.is_running(&h.name)));
    }
}
