//! Test harness for the command and system modules: runs a module through
//! `LocalConnection` with fake programs (`apt-get`, `systemctl`, ...) put
//! first on `PATH`. Each fake records its argv in `calls.log` and keeps the
//! state it simulates in files under the harness's temporary directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::connection::local::LocalConnection;
use crate::connection::{ConnError, Connection, ExecOutput};
use crate::modules::{ModuleContext, ModuleFn, ModuleOutcome};
use crate::playbook::templar::Templar;

pub(crate) struct SysHarness {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) vars: Map<String, Value>,
    pub(crate) check_mode: bool,
    pub(crate) extra_env: Vec<(String, String)>,
    pub(crate) hostname: String,
    conn: CountingConnection,
    templar: Templar,
}

impl SysHarness {
    pub(crate) fn new() -> SysHarness {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        fs::create_dir_all(dir.path().join("state")).unwrap();
        fs::write(dir.path().join("calls.log"), "").unwrap();
        SysHarness {
            dir,
            vars: Map::new(),
            check_mode: false,
            extra_env: Vec::new(),
            hostname: "testhost".into(),
            conn: CountingConnection {
                inner: LocalConnection::new(),
                execs: 0,
            },
            templar: Templar::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn state(&self, name: &str) -> PathBuf {
        self.dir.path().join("state").join(name)
    }

    /// Install a fake program. Its body runs under `/bin/sh` with `$LOG`
    /// (the calls log) and `$STATE` (the state directory) set; the harness
    /// logs `name argv...` before the body runs.
    pub(crate) fn fake(&self, name: &str, body: &str) {
        let path = self.dir.path().join("bin").join(name);
        let script = format!(
            "#!/bin/sh\nLOG={log}\nSTATE={state}\nprintf '%s' {name} >> \"$LOG\"\nfor a in \"$@\"; do printf ' %s' \"$a\" >> \"$LOG\"; done\necho >> \"$LOG\"\n{body}\n",
            log = crate::modules::quote(&self.dir.path().join("calls.log").to_string_lossy()),
            state = crate::modules::quote(&self.dir.path().join("state").to_string_lossy()),
        );
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Every call recorded since the last `take_calls`, one `name argv...` per line.
    pub(crate) fn take_calls(&self) -> Vec<String> {
        let log = self.dir.path().join("calls.log");
        let text = fs::read_to_string(&log).unwrap_or_default();
        fs::write(&log, "").unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// Round trips (`Connection::exec` calls) since the last `take_execs`.
    pub(crate) fn take_execs(&mut self) -> usize {
        std::mem::take(&mut self.conn.execs)
    }

    pub(crate) fn run(&mut self, f: ModuleFn, args: Value) -> ModuleOutcome {
        let args: Map<String, Value> = match args {
            Value::Object(m) => m,
            other => panic!("module args must be a mapping, got {other}"),
        };
        let bin = self.dir.path().join("bin");
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            bin.display()
        );
        let mut environment = vec![("PATH".to_string(), path)];
        environment.extend(self.extra_env.iter().cloned());
        let vars = Templar::context(&self.vars);
        let mut ctx = ModuleContext {
            conn: &mut self.conn,
            check_mode: self.check_mode,
            diff_mode: false,
            escalate: None,
            environment,
            templar: &self.templar,
            vars: &vars,
            search_paths: Vec::new(),
            inventory_hostname: self.hostname.clone(),
        };
        f(&mut ctx, &args).expect("local connection does not fail")
    }
}

/// `result[key]` as a string, for compact assertions.
pub(crate) fn s(out: &ModuleOutcome, key: &str) -> String {
    match out.result.get(key) {
        Some(Value::String(v)) => v.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Serializes tests that create real accounts (`useradd` and friends lock
/// `/etc/passwd` and fail when another one holds the lock).
pub(crate) static ACCOUNTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Fakes that log each call and then run the real program, so a test sees
/// both the exact commands and their real effect.
pub(crate) fn logging_wrappers(h: &SysHarness, programs: &[&str]) {
    for p in programs {
        h.fake(p, &format!("exec /usr/sbin/{p} \"$@\""));
    }
}

/// Removes throwaway accounts when dropped, even when a test panics.
pub(crate) struct AccountGuard {
    pub(crate) users: Vec<String>,
    pub(crate) groups: Vec<String>,
}

impl AccountGuard {
    pub(crate) fn clean(&self) {
        for u in &self.users {
            let _ = std::process::Command::new("userdel")
                .args(["-r", u])
                .output();
        }
        for g in &self.groups {
            let _ = std::process::Command::new("groupdel").arg(g).output();
        }
    }
}

impl Drop for AccountGuard {
    fn drop(&mut self) {
        self.clean();
    }
}

/// Real account tests need root (useradd writes /etc/passwd).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `LocalConnection` that counts round trips, to hold modules to their
/// one-read, one-change budget.
struct CountingConnection {
    inner: LocalConnection,
    execs: usize,
}

impl Connection for CountingConnection {
    fn exec(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        self.execs += 1;
        self.inner.exec(command, stdin)
    }
}

/// Round trips of one module run: returns (outcome, execs).
pub(crate) fn run_counted(h: &mut SysHarness, f: ModuleFn, args: Value) -> (ModuleOutcome, usize) {
    h.take_execs();
    let out = h.run(f, args);
    (out, h.take_execs())
}
