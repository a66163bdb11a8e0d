//! Test helpers for modules: a local host, a `ModuleContext` over it, a temp
//! directory with initial files, and a snapshot of the resulting tree.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::connection::local::LocalConnection;
use crate::modules::{ModuleContext, ModuleFn, ModuleOutcome};
use crate::playbook::templar::Templar;

/// One module invocation's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    pub(crate) check: bool,
    pub(crate) diff: bool,
    pub(crate) vars: Map<String, Value>,
    pub(crate) search_paths: Vec<PathBuf>,
    /// Run the module's commands as `nobody` (through util-linux `setpriv`).
    pub(crate) as_nobody: bool,
}

/// Run `f` on the local host, counting round trips.
pub(crate) fn run_module(f: ModuleFn, args: &Value, run: &Run) -> (ModuleOutcome, usize) {
    let mut conn = Counting {
        inner: LocalConnection::new(),
        calls: 0,
        as_nobody: run.as_nobody,
    };
    let templar = Templar::new();
    let vars = Templar::context(&run.vars);
    let outcome = {
        let mut ctx = ModuleContext {
            conn: &mut conn,
            check_mode: run.check,
            diff_mode: run.diff,
            escalate: None,
            environment: Vec::new(),
            templar: &templar,
            vars: &vars,
            search_paths: run.search_paths.clone(),
            inventory_hostname: "testhost".into(),
        };
        f(&mut ctx, args.as_object().expect("args are a map"))
            .expect("local connection never fails")
    };
    (outcome, conn.calls)
}

struct Counting {
    inner: LocalConnection,
    calls: usize,
    as_nobody: bool,
}

impl crate::connection::Connection for Counting {
    fn exec(
        &mut self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<crate::connection::ExecOutput, crate::connection::ConnError> {
        self.calls += 1;
        if self.as_nobody {
            let wrapped = format!(
                "setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c {}",
                crate::modules::quote(command)
            );
            return self.inner.exec(&wrapped, stdin);
        }
        self.inner.exec(command, stdin)
    }
}

/// An initial filesystem entry, relative to the temp dir.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    File(&'static str, &'static str, u32),
    Bytes(&'static str, Vec<u8>, u32),
    Dir(&'static str, u32),
    Link(&'static str, &'static str),
}

pub(crate) fn setup(root: &Path, entries: &[Entry]) {
    for e in entries {
        match e {
            Entry::File(p, content, mode) => write(root, p, content.as_bytes(), *mode),
            Entry::Bytes(p, content, mode) => write(root, p, content, *mode),
            Entry::Dir(p, mode) => {
                let path = root.join(p);
                std::fs::create_dir_all(&path).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Entry::Link(p, target) => {
                let path = root.join(p);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).unwrap();
                }
                std::os::unix::fs::symlink(target, &path).unwrap();
            }
        }
    }
}

fn write(root: &Path, p: &str, content: &[u8], mode: u32) {
    let path = root.join(p);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A path's observable state: kind, mode, owner, content or link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        content: Vec<u8>,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Link {
        target: String,
        uid: u32,
    },
}

/// Every path under `root` (relative) with its state.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let md = std::fs::symlink_metadata(&path).unwrap();
        let mode = md.permissions().mode() & 0o7777;
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(
                rel,
                Node::Link {
                    target,
                    uid: md.uid(),
                },
            );
        } else if md.is_dir() {
            out.insert(
                rel,
                Node::Dir {
                    mode,
                    uid: md.uid(),
                    gid: md.gid(),
                },
            );
            walk(root, &path, out);
        } else {
            out.insert(
                rel,
                Node::File {
                    mode,
                    uid: md.uid(),
                    gid: md.gid(),
                    content: std::fs::read(&path).unwrap(),
                },
            );
        }
    }
}

pub(crate) fn file(content: &str, mode: u32) -> Node {
    Node::File {
        mode,
        uid: 0,
        gid: 0,
        content: content.as_bytes().to_vec(),
    }
}

/// Replace `{root}` in every string of `args` with the temp dir.
pub(crate) fn rooted(args: &Value, root: &Path) -> Value {
    match args {
        Value::String(s) => Value::String(s.replace("{root}", &root.to_string_lossy())),
        Value::Array(a) => Value::Array(a.iter().map(|v| rooted(v, root)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), rooted(v, root)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A small deterministic generator (xorshift) for property-style tests.
pub(crate) struct Gen(u64);

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub(crate) fn chance(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// The property every state-changing module must hold on one generated case:
/// check mode predicts the real run's `changed` and touches nothing, and a
/// second real run changes nothing.
pub(crate) fn assert_check_predicts(
    f: ModuleFn,
    root: &Path,
    args: &Value,
    base: &Run,
    label: &str,
) {
    let real_run = Run {
        check: false,
        ..base.clone()
    };
    let check_run = Run {
        check: true,
        ..base.clone()
    };
    let before = snapshot(root);
    let (check, _) = run_module(f, args, &check_run);
    assert_eq!(
        snapshot(root),
        before,
        "{label}: check mode changed the host: {check:?}"
    );
    let (real, _) = run_module(f, args, &real_run);
    assert_eq!(
        check.is_failed(),
        real.is_failed(),
        "{label}: check {check:?} vs real {real:?}"
    );
    assert_eq!(
        check.is_changed(),
        real.is_changed(),
        "{label}: check {check:?} vs real {real:?}"
    );
    if real.is_failed() {
        return;
    }
    assert_eq!(
        snapshot(root) != before,
        real.is_changed(),
        "{label}: changed flag vs host: {real:?}"
    );
    let after = snapshot(root);
    let (again, calls) = run_module(f, args, &real_run);
    assert!(
        !again.is_changed() && !again.is_failed(),
        "{label}: second run: {again:?}"
    );
    assert_eq!(calls, 1, "{label}: an unchanged run is one round trip");
    assert_eq!(
        snapshot(root),
        after,
        "{label}: second run changed the host"
    );
}

/// Run `f` in check mode, then for real, on the host under `root`: check mode
/// leaves the host as it was and predicts `changed`. Returns both outcomes.
pub(crate) fn check_then_real(
    f: ModuleFn,
    root: &Path,
    args: &Value,
    label: &str,
) -> (ModuleOutcome, ModuleOutcome) {
    let before = snapshot(root);
    let (check, _) = run_module(
        f,
        args,
        &Run {
            check: true,
            ..Run::default()
        },
    );
    assert_eq!(
        snapshot(root),
        before,
        "{label}: check mode changed the host"
    );
    let (real, _) = run_module(f, args, &Run::default());
    assert_eq!(
        check.is_changed(),
        real.is_changed(),
        "{label}: {check:?} vs {real:?}"
    );
    (check, real)
}

/// berth's outcome fails and changes exactly when Ansible's result `want` does.
pub(crate) fn assert_same_outcome(out: &ModuleOutcome, want: &Value, label: &str) {
    assert_eq!(
        out.is_failed(),
        want["failed"].as_bool().unwrap_or(false),
        "{label}: {out:?} vs {want}"
    );
    assert_eq!(
        out.is_changed(),
        want["changed"].as_bool().unwrap_or(false),
        "{label}: {out:?} vs {want}"
    );
}

/// Run one `module` task per entry of `tasks` through the real
/// `ansible-playbook` (implicit localhost, local connection) and return each
/// task's registered result, for differential tests against Ansible itself.
/// `None` when `ansible-playbook` is not installed.
pub(crate) fn ansible_results(module: &str, tasks: &[Value], workdir: &Path) -> Option<Vec<Value>> {
    let have = std::process::Command::new("sh")
        .arg("-c")
        .arg("command -v ansible-playbook")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        return None;
    }
    let out_file = workdir.join("ansible-results.json");
    let mut list = Vec::new();
    let mut names = Vec::new();
    for (i, args) in tasks.iter().enumerate() {
        let mut task = Map::new();
        task.insert(format!("ansible.builtin.{module}"), args.clone());
        task.insert("register".into(), Value::from(format!("r{i}")));
        task.insert("ignore_errors".into(), Value::Bool(true));
        list.push(Value::Object(task));
        names.push(format!("r{i}"));
    }
    let mut dump = Map::new();
    dump.insert(
        "ansible.builtin.copy".into(),
        serde_json::json!({"content": format!("{{{{ [{}] | to_json }}}}", names.join(", ")), "dest": out_file.to_string_lossy()}),
    );
    list.push(Value::Object(dump));
    let play = serde_json::json!([{"hosts": "localhost", "gather_facts": false, "tasks": list}]);
    let play_file = workdir.join("play.yml");
    std::fs::write(&play_file, serde_json::to_string(&play).unwrap()).unwrap();
    let out = std::process::Command::new("ansible-playbook")
        .arg(&play_file)
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("ansible-playbook runs");
    assert!(
        out.status.success(),
        "ansible-playbook failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}
