//! What the end-to-end suites share: the booted testbed (from the
//! inventory `berth testbed up` writes), projects laid out as Tova lays
//! them out, the built binary, SSH to the hosts and requests through each
//! host's Caddy. Each suite uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");
/// Bun, as the testbed's package mirror serves it.
pub const MIRROR_BUN: &str = "http://10.213.7.1:8080/bun/bun-linux-x64";

static HOSTS: Mutex<()> = Mutex::new(());

/// The scenarios of a suite share the hosts: one at a time.
pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    HOSTS.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Bed {
    /// (testbed name, address), sorted by name.
    pub hosts: Vec<(String, String)>,
    pub key: String,
    pub known: String,
}

impl Bed {
    pub fn addrs(&self) -> Vec<&str> {
        self.hosts.iter().map(|(_, a)| a.as_str()).collect()
    }
}

/// The fleet named by `BERTH_TESTBED_INVENTORY`, if set.
pub fn bed() -> Option<Bed> {
    let inv = std::env::var("BERTH_TESTBED_INVENTORY").ok()?;
    let text = std::fs::read_to_string(&inv).unwrap_or_else(|e| panic!("{inv}: {e}"));
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let hosts_map = v["all"]["children"]["fleet"]["hosts"]
        .as_mapping()
        .expect("fleet hosts")
        .clone();
    let mut hosts: Vec<(String, String)> = hosts_map
        .iter()
        .map(|(k, h)| {
            (
                k.as_str().unwrap().to_owned(),
                h["ansible_host"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    hosts.sort();
    assert!(
        hosts.len() >= 3,
        "the end-to-end scenarios need 3 testbed hosts (berth testbed up 3)"
    );
    let vars = &v["all"]["vars"];
    Some(Bed {
        hosts,
        key: vars["ansible_ssh_private_key_file"]
            .as_str()
            .unwrap()
            .to_owned(),
        known: vars["berth_known_hosts_file"].as_str().unwrap().to_owned(),
    })
}

/// The testbed, or (outside CI) a SKIPPED line and an early return.
#[macro_export]
macro_rules! need_bed {
    () => {
        match support::bed() {
            Some(b) => b,
            None => {
                // In CI (test.sh boots the fleet) a missing fleet is a failure, never a silent pass.
                assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but BERTH_TESTBED_INVENTORY is not set: run the suites through ./test.sh");
                eprintln!("SKIPPED: set BERTH_TESTBED_INVENTORY (from `berth testbed up 3`) to run the end-to-end scenarios");
                return;
            }
        }
    };
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A deploy target list for `server:`.
pub fn server_value(servers: &[&str]) -> String {
    if servers.len() == 1 {
        format!("\"root@{}\"", servers[0])
    } else {
        format!(
            "[{}]",
            servers
                .iter()
                .map(|s| format!("\"root@{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Writes a project as Tova lays it out — `tova.toml` (the app's name,
/// berth's settings for "prod": the testbed's CA and Bun mirror, plus
/// `toml_extra`) and `src/app.tova` (`blocks` and a deploy "prod" block for
/// `servers` with `deploy_extra` lines) — and compiles it.
pub fn write_project(
    dir: &Path,
    app: &str,
    servers: &[&str],
    blocks: &str,
    deploy_extra: &str,
    toml_extra: &str,
) -> Output {
    let tova = format!(
        "{blocks}\ndeploy \"prod\" {{\n  server: {}\n  domain: \"{app}.test\"\n  health_interval: 10\n  health_timeout: 2\n{deploy_extra}}}\n",
        server_value(servers)
    );
    let toml = format!(
        "[project]\nname = \"{app}\"\nentry = \"src\"\n\n[build]\noutput = \".tova-out\"\n\n[deploy.prod]\ntls = \"internal\"\nbun_url = \"{MIRROR_BUN}\"\n{toml_extra}"
    );
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.tova"), tova).unwrap();
    std::fs::write(dir.join("tova.toml"), toml).unwrap();
    Command::new(BIN).arg("compile").arg(dir).output().unwrap()
}

/// [`write_project`] in a new temporary folder, with the todo example's
/// bundle; the compile must succeed.
pub fn project(
    app: &str,
    servers: &[&str],
    blocks: &str,
    deploy_extra: &str,
    toml_extra: &str,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &root().join("examples/todo/.tova-out"),
        &dir.path().join(".tova-out"),
    );
    let out = write_project(dir.path(), app, servers, blocks, deploy_extra, toml_extra);
    assert!(
        out.status.success(),
        "berth compile: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Takes `app` off the hosts without berth, so a scenario that an earlier
/// run cut short starts from hosts that never had it.
pub fn forget_app(b: &Bed, addrs: &[&str], app: &str) {
    for addr in addrs {
        ssh(b, addr, &format!(
            "systemctl disable --now 'tova-{app}@*' tova-{app}-health.timer >/dev/null 2>&1; \
             rm -rf /opt/tova/apps/{app} /opt/tova/archive/{app} /opt/tova/registry/{app}.* /opt/tova/caddy/apps/{app}.caddy \
             /etc/systemd/system/tova-{app}@.service /etc/systemd/system/tova-{app}-health.*; \
             systemctl daemon-reload; systemctl reload caddy >/dev/null 2>&1; true"
        ));
    }
}

/// A copy of `examples/<name>` in a new temporary folder.
pub fn example(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples").join(name), dir.path());
    dir
}

pub fn berth_cmd(b: &Bed, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).arg("-C").arg(dir).args([
        "--private-key",
        &b.key,
        "--known-hosts",
        &b.known,
        "--host-key-checking",
        "strict",
    ]);
    c.stdin(Stdio::null());
    c.env_remove("JWT_SECRET");
    c
}

pub fn berth(b: &Bed, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = berth_cmd(b, dir, args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON document `--json` prints (the last line of stdout that is one).
pub fn json(o: &Output) -> Value {
    let s = String::from_utf8_lossy(&o.stdout);
    let line = s
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in:\n{}", text(o)));
    serde_json::from_str(line).unwrap()
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "berth failed ({:?}):\n{}",
        o.status,
        text(o)
    );
    text(o)
}

pub fn ssh(b: &Bed, addr: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .args([
            "-i",
            &b.key,
            "-o",
            &format!("UserKnownHostsFile={}", b.known),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
        ])
        .arg(format!("root@{addr}"))
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn ssh_ok(b: &Bed, addr: &str, cmd: &str) -> String {
    let o = ssh(b, addr, cmd);
    assert!(o.status.success(), "ssh {addr} {cmd}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One answer through a host's Caddy.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Response headers, lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request through the host's Caddy for `domain` (Caddy's internal CA, so
/// no certificate check), with extra curl arguments (`-H`, `-X`, `-d`).
pub fn request(addr: &str, domain: &str, path: &str, args: &[&str]) -> Option<Answer> {
    let out = Command::new("curl")
        .args([
            "-sk",
            "-i",
            "--max-time",
            "5",
            "--resolve",
            &format!("{domain}:443:{addr}"),
        ])
        .args(args)
        .arg(format!("https://{domain}{path}"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// GET through the host's Caddy; the JSON body of a 2xx answer.
pub fn via_caddy(addr: &str, domain: &str, path: &str) -> Option<Value> {
    let a = request(addr, domain, path, &[])?;
    if !(200..300).contains(&a.status) {
        return None;
    }
    serde_json::from_str(&a.body).ok()
}

/// Waits (up to 30 s) for the app to answer `/` through Caddy; returns the answer.
pub fn answer(addr: &str, domain: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = via_caddy(addr, domain, "/") {
            return v;
        }
        assert!(
            Instant::now() < end,
            "{domain} does not answer through Caddy on {addr}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the app answers with `release` through Caddy.
pub fn serves(addr: &str, domain: &str, release: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let v = answer(addr, domain);
        if v["release"] == release {
            return;
        }
        assert!(
            Instant::now() < end,
            "{domain} on {addr} serves {v} instead of {release}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits (up to 30 s) until `path` answers `status` through Caddy.
pub fn until_status(addr: &str, domain: &str, path: &str, args: &[&str], status: u16) -> Answer {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let a = request(addr, domain, path, args);
        match a {
            Some(a) if a.status == status => return a,
            other => assert!(
                Instant::now() < end,
                "{domain}{path} on {addr}: {other:?}, not {status}"
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A new build of the todo example's bundle (one file changes).
pub fn touch_bundle(dir: &Path, n: usize) {
    std::fs::write(
        dir.join(".tova-out/public/build.txt"),
        format!("build {n}\n"),
    )
    .unwrap();
}

/// `v3` → `v4`.
pub fn next(v: &str) -> String {
    format!("v{}", v.trim_start_matches('v').parse::<u32>().unwrap() + 1)
}

/// Boots the fleet's stopped hosts again when dropped.
pub struct Reboot(pub usize);

impl Drop for Reboot {
    fn drop(&mut self) {
        let inv = std::env::var("BERTH_TESTBED_INVENTORY").unwrap_or_default();
        let _ = Command::new(BIN)
            .args(["testbed", "up", &self.0.to_string(), "--inventory", &inv])
            .output();
    }
}

/// Restores a partitioned host's link when dropped.
pub struct Heal(pub String);

impl Drop for Heal {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["testbed", "heal", &self.0])
            .output();
    }
}

/// git in `dir`, pushing over SSH with the testbed's key, as user "e2e".
pub fn git_cmd(dir: &Path, b: &Bed) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
                b.key, b.known
            ),
        )
        .env("GIT_AUTHOR_NAME", "e2e")
        .env("GIT_AUTHOR_EMAIL", "e2e@example.invalid")
        .env("GIT_COMMITTER_NAME", "e2e")
        .env("GIT_COMMITTER_EMAIL", "e2e@example.invalid")
        .stdin(Stdio::null());
    c
}
