//! `berth testbed` against real booted hosts. Needs root and
//! systemd-nspawn; without them the tests print why and return.
//! The base and mirror are cached in the state directory
//! ($BERTH_TESTBED_DIR or /var/lib/berth/testbed), so only the first run
//! builds them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const BRIDGE: &str = "berthtb0";

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Some("not root".into());
    }
    let found = [
        "/usr/bin/systemd-nspawn",
        "/bin/systemd-nspawn",
        "/usr/local/bin/systemd-nspawn",
    ]
    .iter()
    .any(|p| Path::new(p).exists());
    if !found {
        return Some("systemd-nspawn is not installed (apt-get install systemd-container)".into());
    }
    None
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn state_dir() -> PathBuf {
    std::env::var_os("BERTH_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/berth/testbed"))
}

fn berth(args: &[&str]) -> Output {
    let out = Command::new(BERTH)
        .arg("testbed")
        .arg("--state")
        .arg(state_dir())
        .args(args)
        .output()
        .expect("run berth");
    eprintln!(
        "$ berth testbed {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn berth_ok(args: &[&str]) -> String {
    let out = berth(args);
    assert!(
        out.status.success(),
        "berth testbed {} failed",
        args.join(" ")
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Always leave the machine clean, even when an assertion fails.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = berth(&["down"]);
    }
}

/// Host name → (address, key file, known_hosts file), read back from the inventory.
fn inventory(path: &Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let vars = &doc["all"]["vars"];
    let key = vars["ansible_ssh_private_key_file"]
        .as_str()
        .unwrap()
        .to_string();
    let args = vars["ansible_ssh_common_args"].as_str().unwrap();
    let known = args
        .split_whitespace()
        .find_map(|a| a.strip_prefix("UserKnownHostsFile="))
        .unwrap()
        .to_string();
    assert!(args.contains("StrictHostKeyChecking=yes"));
    let hosts = doc["all"]["children"]["fleet"]["hosts"]
        .as_mapping()
        .unwrap();
    hosts
        .iter()
        .map(|(name, h)| {
            (
                name.as_str().unwrap().to_string(),
                h["ansible_host"].as_str().unwrap().to_string(),
                key.clone(),
                known.clone(),
            )
        })
        .collect()
}

/// The OpenSSH client with the testbed's key and known_hosts, strict checking.
fn ssh(host: &(String, String, String, String), cmd: &str, timeout: u32) -> Output {
    Command::new("ssh")
        .args([
            "-i",
            &host.2,
            "-o",
            &format!("UserKnownHostsFile={}", host.3),
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            &format!("ConnectTimeout={timeout}"),
            &format!("root@{}", host.1),
            cmd,
        ])
        .output()
        .unwrap()
}

fn ssh_out(host: &(String, String, String, String), cmd: &str) -> String {
    let out = ssh(host, cmd, 10);
    assert!(
        out.status.success(),
        "ssh {} {cmd}: {}",
        host.0,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Average RTT in ms from `ping -c N`.
fn ping_avg(addr: &str) -> f64 {
    let out = Command::new("ping")
        .args(["-n", "-q", "-c", "6", "-i", "0.2", "-W", "2", addr])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .unwrap_or_else(|| panic!("no RTT in: {text}"));
    let nums = line.split('=').nth(1).unwrap().trim();
    nums.split('/').nth(1).unwrap().parse().unwrap()
}

fn nspawn_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("systemd-nspawn") && cmd.contains("--machine=tb-host")
                || cmd.contains("berth testbed serve")
                || cmd.contains("testbed delay")
            {
                found.push(cmd);
            }
        }
    }
    found
}

fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_owned)
        .collect()
}

fn assert_clean() {
    assert!(
        nspawn_processes().is_empty(),
        "left running: {:?}",
        nspawn_processes()
    );
    assert!(
        !Path::new("/sys/class/net").join(BRIDGE).exists(),
        "bridge {BRIDGE} left behind"
    );
    assert!(
        mounts_under(&state_dir()).is_empty(),
        "mounts left: {:?}",
        mounts_under(&state_dir())
    );
    let links = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!links.contains("vb-tb-host"), "host links left: {links}");
    if let Ok(out) = Command::new("iptables")
        .args(["-w", "-t", "mangle", "-S"])
        .output()
    {
        let rules = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !rules.contains("BERTH-TESTBED"),
            "delay rules left: {rules}"
        );
    }
}

#[test]
fn fleet_boots_answers_ssh_and_fault_helpers_work() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let inv = tmp.path().join("testbed.yml");
    let inv_s = inv.to_str().unwrap();
    let _down = Down;
    let started = Instant::now();
    berth_ok(&["up", "3", "--inventory", inv_s]);
    eprintln!("up 3 took {:.1}s", started.elapsed().as_secs_f64());
    let hosts = inventory(&inv);
    assert_eq!(
        hosts.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
        ["host01", "host02", "host03"]
    );

    // Every host: own hostname, machine-id and host key; no default route; apt only from the mirror.
    let mut ids = Vec::new();
    for h in &hosts {
        assert_eq!(ssh_out(h, "hostname"), h.0);
        ids.push(ssh_out(
            h,
            "cat /etc/machine-id; cat /etc/ssh/ssh_host_ed25519_key.pub",
        ));
        assert_eq!(ssh_out(h, "ip -4 route show default | wc -l"), "0");
        assert_eq!(
            ssh_out(
                h,
                "cat /etc/apt/sources.list; ls /etc/apt/sources.list.d | wc -l"
            ),
            "deb [trusted=yes] http://10.213.7.1:8080/ ./\n0"
        );
        assert_eq!(ssh_out(h, "systemctl is-active ssh"), "active");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "machine-ids and host keys must differ");
    let h1 = &hosts[0];
    // The mirror serves what the roles install, and Bun.
    ssh_out(h1, "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q acl >/dev/null && command -v setfacl");
    assert_eq!(ssh_out(h1, "apt-cache policy caddy redis-server postgresql ufw nodejs | grep -c 'Candidate: [0-9]'"), "5");
    assert_eq!(ssh_out(h1, "curl -sf -o /usr/local/bin/bun http://10.213.7.1:8080/bun/bun-linux-x64 && chmod +x /usr/local/bin/bun && bun --version"), "1.1.45");
    // Nothing else is reachable from a host.
    let out = ssh(
        h1,
        "curl -s -m 3 -o /dev/null http://192.0.2.1/ || echo unreachable",
        10,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unreachable");

    // berth testbed exec passes output and exit codes through.
    let out = berth(&["exec", "host02", "echo", "hi;", "exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    // kill: the host is gone and unreachable.
    berth_ok(&["kill", "host03"]);
    assert!(berth_ok(&["status"])
        .lines()
        .any(|l| l.starts_with("host03") && l.contains("stopped")));
    assert!(
        !ssh(&hosts[2], "true", 3).status.success(),
        "killed host still answers"
    );

    // partition: connections time out (no fast refusal); heal: it answers again.
    berth_ok(&["partition", "host02"]);
    assert!(berth_ok(&["status"])
        .lines()
        .any(|l| l.starts_with("host02") && l.contains("partitioned")));
    let t = Instant::now();
    let out = ssh(&hosts[1], "true", 3);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "partition failed fast: {:?}",
        t.elapsed()
    );
    berth_ok(&["heal", "host02"]);
    assert_eq!(ssh_out(&hosts[1], "hostname"), "host02");

    // latency: ping measures about what was asked for, and it goes away again.
    let before = ping_avg(&h1.1);
    berth_ok(&["latency", "120", "host01"]);
    let slow = ping_avg(&h1.1);
    let other = ping_avg(&hosts[1].1);
    berth_ok(&["latency", "0", "host01"]);
    let after = ping_avg(&h1.1);
    eprintln!("ping avg ms: before {before:.2}, with 120ms {slow:.2}, other host {other:.2}, after {after:.2}");
    assert!(
        (110.0..170.0).contains(&slow),
        "latency 120 measured {slow} ms"
    );
    assert!(
        other < 50.0 && after < 50.0,
        "latency leaked: other {other}, after {after}"
    );

    // up again boots the killed host; its key is unchanged, so strict checking still passes.
    berth_ok(&["up", "3", "--inventory", inv_s]);
    assert_eq!(ssh_out(&hosts[2], "hostname"), "host03");

    berth_ok(&["down"]);
    assert_clean();

    // After down + up the same inventory and known_hosts still work.
    berth_ok(&["up", "3", "--inventory", inv_s]);
    assert_eq!(inventory(&inv), hosts);
    for h in &hosts {
        assert_eq!(ssh_out(h, "hostname"), h.0);
    }
    berth_ok(&["down"]);
    assert_clean();
}

#[test]
fn persistent_disks_survive_a_kill() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let inv = tmp.path().join("p.yml");
    let inv_s = inv.to_str().unwrap();
    let _down = Down;
    berth_ok(&["up", "1", "--persistent", "--inventory", inv_s]);
    let h = inventory(&inv).remove(0);
    let marker = format!("{}", std::process::id());
    ssh_out(&h, &format!("echo {marker} > /root/marker && sync"));
    berth_ok(&["kill", "host01"]);
    assert!(!ssh(&h, "true", 3).status.success());
    berth_ok(&["up", "1", "--persistent", "--inventory", inv_s]);
    assert_eq!(ssh_out(&h, "cat /root/marker"), marker);
    berth_ok(&["down", "--wipe"]);
    assert_clean();
    assert!(
        !state_dir().join("hosts/host01/upper").exists(),
        "--wipe keeps the disk"
    );
}

#[test]
fn interrupted_up_cleans_up() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _down = Down;
    let tmp = tempfile::tempdir().unwrap();
    // Warm the caches first so the interrupt lands while hosts boot.
    berth_ok(&[
        "up",
        "1",
        "--inventory",
        tmp.path().join("w.yml").to_str().unwrap(),
    ]);
    berth_ok(&["down"]);
    let mut child = Command::new(BERTH)
        .arg("testbed")
        .arg("--state")
        .arg(state_dir())
        .args(["up", "3", "--inventory"])
        .arg(tmp.path().join("i.yml"))
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while nspawn_processes()
        .iter()
        .filter(|c| c.contains("--machine=tb-host"))
        .count()
        < 3
    {
        assert!(Instant::now() < until, "hosts never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc_kill(child.id() as i32, 2) };
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted up must fail");
    assert!(
        !tmp.path().join("i.yml").exists(),
        "no inventory for a fleet that is not up"
    );
    assert_clean();
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn refuses_without_root_or_nspawn_and_says_what_to_install() {
    if skip_reason().is_some() {
        eprintln!("skipped: needs root to drop privileges");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BERTH,
            "testbed",
            "--state",
            "/nonexistent/x",
            "up",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must run as root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BERTH)
        .args(["testbed", "--state", "/nonexistent/x", "up", "1"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("systemd-nspawn")
            && err.contains("apt-get install")
            && err.contains("systemd-container"),
        "{err}"
    );
    assert!(!Path::new("/nonexistent/x").exists());
}
