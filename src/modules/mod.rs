//! Modules: one file each. A module reads the host's state, decides whether
//! anything differs, and only then changes it (never in check mode).
//! Arguments and return values follow Ansible's so `register` + `when` work
//! the same way.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::connection::{ConnError, Connection, ExecOutput};
use crate::playbook::templar::Templar;

pub(crate) mod apt;
pub(crate) mod args;
pub(crate) mod assemble;
pub(crate) mod assert;
pub(crate) mod async_job;
pub(crate) mod async_status;
pub(crate) mod blockinfile;
pub(crate) mod codec;
pub(crate) mod command;
pub(crate) mod copy;
pub(crate) mod debug;
pub(crate) mod fail;
pub(crate) mod fetch;
pub(crate) mod file;
pub(crate) mod file_mode;
pub(crate) mod find;
pub(crate) mod free_form;
pub(crate) mod get_url;
pub(crate) mod getent;
pub(crate) mod group;
pub(crate) mod include_vars;
pub(crate) mod known_hosts;
pub(crate) mod line_regex;
pub(crate) mod lineinfile;
pub(crate) mod net_http;
pub(crate) mod net_perms;
#[cfg(test)]
pub(crate) mod net_test_support;
pub(crate) mod package;
pub(crate) mod pause;
pub(crate) mod py_re;
pub(crate) mod raw;
pub(crate) mod remote_file;
pub(crate) mod replace;
pub(crate) mod script;
pub(crate) mod service;
pub(crate) mod set_fact;
pub(crate) mod shell;
pub(crate) mod slurp;
pub(crate) mod stat;
#[cfg(test)]
pub(crate) mod sys_test_support;
pub(crate) mod systemd;
pub(crate) mod tempfile;
pub(crate) mod template;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod unarchive;
pub(crate) mod uri;
pub(crate) mod uri_multipart;
pub(crate) mod user;
pub(crate) mod wait_for;

/// Escalation settings for a task (`become`, `become_user`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Become {
    pub(crate) user: String,
    /// Sent on stdin to `sudo -S`, never on a command line.
    pub(crate) password: Option<String>,
}

/// One file's before/after for `--diff`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FileDiff {
    pub(crate) before_header: String,
    pub(crate) after_header: String,
    pub(crate) before: String,
    pub(crate) after: String,
}

/// A module's answer: Ansible's result dictionary (with `changed`, and
/// `failed`/`msg` on failure) plus the diffs to show under `--diff`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ModuleOutcome {
    pub(crate) result: Map<String, Value>,
    pub(crate) diffs: Vec<FileDiff>,
}

impl ModuleOutcome {
    pub(crate) fn ok() -> ModuleOutcome {
        ModuleOutcome::changed(false)
    }

    pub(crate) fn changed(changed: bool) -> ModuleOutcome {
        let mut result = Map::new();
        result.insert("changed".into(), Value::Bool(changed));
        ModuleOutcome {
            result,
            diffs: Vec::new(),
        }
    }

    pub(crate) fn failed(msg: impl Into<String>) -> ModuleOutcome {
        let mut out = ModuleOutcome::changed(false);
        out.result.insert("failed".into(), Value::Bool(true));
        out.result.insert("msg".into(), Value::String(msg.into()));
        out
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> ModuleOutcome {
        self.result.insert(key.to_string(), value.into());
        self
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.result
            .get("failed")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub(crate) fn is_changed(&self) -> bool {
        self.result
            .get("changed")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Everything a module may use while it runs on one host.
pub(crate) struct ModuleContext<'a> {
    pub(crate) conn: &'a mut dyn Connection,
    pub(crate) check_mode: bool,
    pub(crate) diff_mode: bool,
    pub(crate) escalate: Option<Become>,
    /// `environment:` of the task, exported before every command.
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) templar: &'a Templar,
    /// Template context (all variables visible to the task).
    pub(crate) vars: &'a minijinja::Value,
    /// Controller directories searched for relative `src` paths, most
    /// specific first (role dir, then playbook dir). `find_file` appends
    /// `files/` or `templates/` like Ansible does.
    pub(crate) search_paths: Vec<PathBuf>,
    pub(crate) inventory_hostname: String,
}

impl<'a> ModuleContext<'a> {
    /// Run a POSIX shell script on the host, with `environment:` exported and
    /// escalated through sudo when the task asks for `become`.
    pub(crate) fn exec(
        &mut self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, ConnError> {
        let mut body = String::new();
        for (k, v) in &self.environment {
            body.push_str(&format!("export {}={}; ", k, quote(v)));
        }
        body.push_str(script);
        match &self.escalate {
            None => self.conn.exec(&body, stdin),
            Some(b) => {
                let user = quote(&b.user);
                match &b.password {
                    None => {
                        let cmd = format!("sudo -n -H -u {user} -- /bin/sh -c {}", quote(&body));
                        self.conn.exec(&cmd, stdin)
                    }
                    Some(pw) => {
                        let cmd =
                            format!("sudo -S -p '' -H -u {user} -- /bin/sh -c {}", quote(&body));
                        let mut input = Vec::with_capacity(pw.len() + 1);
                        input.extend_from_slice(pw.as_bytes());
                        input.push(b'\n');
                        if let Some(data) = stdin {
                            input.extend_from_slice(data);
                        }
                        self.conn.exec(&cmd, Some(&input))
                    }
                }
            }
        }
    }

    /// Resolve a controller-side `src` like Ansible: `~`, `~user` and
    /// `$VARS` expanded on the controller, absolute paths as they are;
    /// relative ones under `<search>/<kind>/` then `<search>/`.
    pub(crate) fn find_file(&self, kind: &str, name: &str) -> Option<PathBuf> {
        let expanded = controller_path(name);
        let p = Path::new(&expanded);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        for base in &self.search_paths {
            for candidate in [base.join(kind).join(name), base.join(name)] {
                if candidate.exists() {
                    return Some(candidate);
                }
            }
        }
        None
    }
}

/// A controller path as Ansible's loader takes it (`unfrackpath`): `~` and
/// `~user` become home folders, `$VAR` and `${VAR}` the controller's
/// environment (unknown ones stay as written, as os.path.expandvars leaves them).
pub(crate) fn controller_path(name: &str) -> String {
    let s = crate::playbook::path_filters::expanduser(name);
    crate::playbook::path_filters::expandvars(&s, |k| std::env::var(k).ok())
}

/// Quote a string for a POSIX shell.
/// Ansible's `remove_values` over a module's result: a string equal to a
/// `no_log` parameter's value becomes `VALUE_SPECIFIED_IN_NO_LOG_PARAMETER`,
/// one containing it has it replaced by `********`. With `keys`, mapping
/// keys are masked too (uri's `sanitize_keys`), except those in `keep_keys`.
pub(crate) fn mask_no_log(v: &mut Value, secrets: &[String], keys: bool, keep_keys: &[&str]) {
    let secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return;
    }
    fn mask_str(s: &str, secrets: &[&String]) -> Option<String> {
        if secrets.iter().any(|x| x.as_str() == s) {
            return Some("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER".into());
        }
        let mut out = s.to_string();
        for x in secrets {
            out = out.replace(x.as_str(), "********");
        }
        (out != s).then_some(out)
    }
    fn walk(v: &mut Value, secrets: &[&String], keys: bool, keep: &[&str]) {
        match v {
            Value::String(s) => {
                if let Some(m) = mask_str(s, secrets) {
                    *s = m;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, secrets, keys, keep)),
            Value::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut val) in old {
                    walk(&mut val, secrets, keys, keep);
                    let k = if keys && !keep.contains(&k.as_str()) {
                        let mut nk = k.clone();
                        for x in secrets {
                            nk = nk.replace(x.as_str(), "********");
                        }
                        nk
                    } else {
                        k
                    };
                    m.insert(k, val);
                }
            }
            _ => {}
        }
    }
    walk(v, &secrets, keys, keep_keys);
}

pub(crate) fn quote(s: &str) -> String {
    shell_words::quote(s).into_owned()
}

/// A module entry point.
pub(crate) type ModuleFn =
    fn(&mut ModuleContext<'_>, &Map<String, Value>) -> Result<ModuleOutcome, ConnError>;

/// Strip the `ansible.builtin.` / `ansible.legacy.` prefix from a module name.
pub(crate) fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// Every module berth has, by its short name.
const MODULES: &[(&str, ModuleFn)] = &[
    ("assemble", assemble::run),
    ("blockinfile", blockinfile::run),
    ("copy", copy::run),
    ("fetch", fetch::run),
    ("find", find::run),
    ("file", file::run),
    ("lineinfile", lineinfile::run),
    ("replace", replace::run),
    ("slurp", slurp::run),
    ("stat", stat::run),
    ("template", template::run),
    ("tempfile", tempfile::run),
    ("command", command::run),
    ("shell", shell::run),
    ("raw", raw::run),
    ("script", script::run),
    ("apt", apt::run),
    ("package", package::run),
    ("user", user::run),
    ("group", group::run),
    ("systemd", systemd::run),
    ("systemd_service", systemd::run),
    ("service", service::run),
    ("assert", assert::run),
    ("async_status", async_status::run),
    ("debug", debug::run),
    ("fail", fail::run),
    ("get_url", get_url::run),
    ("getent", getent::run),
    ("include_vars", include_vars::run),
    ("known_hosts", known_hosts::run),
    ("pause", pause::run),
    ("set_fact", set_fact::run),
    ("unarchive", unarchive::run),
    ("uri", uri::run),
    ("wait_for", wait_for::run),
];

/// Actions the runner carries out itself (no module function).
pub(crate) const RUNNER_ACTIONS: &[&str] = &[
    "gather_facts",
    "import_playbook",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "meta",
    "ping",
    "setup",
];

/// The module implementing `name`, if berth has it.
pub(crate) fn lookup(name: &str) -> Option<ModuleFn> {
    let short = short_name(name);
    MODULES.iter().find(|(n, _)| *n == short).map(|(_, f)| *f)
}

/// Every action berth runs (modules and the runner's own), sorted.
pub(crate) fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = MODULES
        .iter()
        .map(|(n, _)| *n)
        .chain(RUNNER_ACTIONS.iter().copied())
        .collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod controller_path_tests {
    use super::controller_path;

    #[test]
    fn tildes_and_variables_expand_as_ansibles_loader_does() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(controller_path("~/x"), format!("{home}/x"));
        assert_eq!(controller_path("~root/.ssh/k"), "/root/.ssh/k");
        assert_eq!(
            controller_path("~nosuchuser_berth/k"),
            "~nosuchuser_berth/k"
        );
        assert_eq!(controller_path("$HOME/a"), format!("{home}/a"));
        assert_eq!(
            controller_path("${HOME}b/$NO_SUCH_BERTH_VAR/c"),
            format!("{home}b/$NO_SUCH_BERTH_VAR/c")
        );
        assert_eq!(controller_path("files/a$"), "files/a$");
        assert_eq!(controller_path("plain/path"), "plain/path");
    }
}
