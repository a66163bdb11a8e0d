//! `getent`: run the host's `getent` on one database (optionally one key,
//! optionally one NSS service) and return the records as
//! `ansible_facts.getent_<database>`, keyed by each record's first field,
//! exactly as Ansible's module splits them.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::remote_file::{finish, Stop};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &["database", "key", "split", "fail_key", "service"];

/// Databases whose records are split on `:` when `split` is not given.
const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// Directories Ansible's `get_bin_path` searches after `$PATH`.
const SBIN: &[&str] = &["/sbin", "/usr/sbin", "/usr/local/sbin"];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("getent", args)))
}

/// Python's `str.splitlines()`.
pub(crate) fn py_splitlines(text: &str, keepends: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let end = match c {
            '\r' => match it.peek() {
                Some((_, '\n')) => {
                    it.next();
                    i + 2
                }
                _ => i + 1,
            },
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => i + c.len_utf8(),
            _ => continue,
        };
        out.push(if keepends {
            &text[start..end]
        } else {
            &text[start..i]
        });
        start = end;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Python's `str.isspace()` for one character.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `line.split(sep)`: on runs of whitespace without a separator.
fn py_split<'a>(line: &'a str, sep: Option<&str>) -> Vec<&'a str> {
    match sep {
        Some(s) => line.split(s).collect(),
        None => line.split(py_space).filter(|f| !f.is_empty()).collect(),
    }
}

/// Ansible's `get_bin_path` search list for the message when a tool is missing.
pub(crate) fn bin_paths(path_env: &str) -> String {
    let mut dirs: Vec<&str> = path_env.split(':').filter(|d| !d.is_empty()).collect();
    for d in SBIN {
        if !dirs.contains(d) {
            dirs.push(d);
        }
    }
    dirs.join(":")
}

/// Shell that exits 127 with `$PATH` on stderr when `tool` is not on the
/// host (also looked for in the sbin directories, as Ansible does).
pub(crate) fn need_tool(tool: &str) -> String {
    format!(
        "PATH=\"$PATH:{}\"; if ! command -v {tool} >/dev/null 2>&1; then printf %s \"${{PATH%:{}}}\" >&2; exit 127; fi; ",
        SBIN.join(":"),
        SBIN.join(":")
    )
}

/// The facts Ansible's getent builds from its output: records keyed by their
/// first field; a repeated key holds the list of all its records.
pub(crate) fn records(out: &str, split: Option<&str>) -> Result<Map<String, Value>, String> {
    let mut tree = Map::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in py_splitlines(out, false) {
        let record = py_split(line, split);
        let Some((first, rest)) = record.split_first() else {
            return Err(format!(
                "list index out of range (a blank line in the getent output: {line:?})"
            ));
        };
        let fields = Value::Array(rest.iter().map(|f| Value::String(f.to_string())).collect());
        let key = first.to_string();
        match seen.get_mut(&key) {
            Some(n) => {
                if *n == 1 {
                    let first_record = tree.remove(&key).unwrap_or(Value::Null);
                    tree.insert(key.clone(), Value::Array(vec![first_record]));
                }
                if let Some(Value::Array(all)) = tree.get_mut(&key) {
                    all.push(fields);
                }
                *n += 1;
            }
            None => {
                tree.insert(key.clone(), fields);
                seen.insert(key, 1);
            }
        }
    }
    Ok(tree)
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let database = a.required_str("database")?;
    let key = a.str("key")?;
    let service = a.str("service")?;
    let fail_key = a.bool("fail_key", true)?;
    let split = match a.str("split")? {
        Some(s) if s.is_empty() => return Err("empty separator".into()),
        Some(s) => Some(s),
        None if COLON.contains(&database.as_str()) => Some(":".to_string()),
        None => None,
    };
    let mut cmd = format!("getent {}", quote(&database));
    if let Some(k) = &key {
        cmd.push_str(&format!(" {}", quote(k)));
    }
    if let Some(s) = &service {
        cmd.push_str(&format!(" -s {}", quote(s)));
    }
    let out = ctx.exec(&format!("{}{cmd}", need_tool("getent")), None)?;
    let dbtree = format!("getent_{database}");
    let facts = |tree: Map<String, Value>| {
        let mut f = Map::new();
        f.insert(dbtree.clone(), Value::Object(tree));
        Value::Object(f)
    };
    let msg = match out.rc {
        0 => {
            let tree = records(&out.stdout_str(), split.as_deref())?;
            return Ok(ModuleOutcome::ok().with("ansible_facts", facts(tree)));
        }
        127 => {
            return Err(format!(
                "Failed to find required executable \"getent\" in paths: {}",
                bin_paths(out.stderr_str().trim_end_matches('\n'))
            )
            .into())
        }
        1 => "Missing arguments, or database unknown.",
        2 => {
            let msg = "One or more supplied key could not be found in the database.";
            if !fail_key {
                let mut tree = Map::new();
                tree.insert(key.clone().unwrap_or_else(|| "null".into()), Value::Null);
                return Ok(ModuleOutcome::ok()
                    .with("ansible_facts", facts(tree))
                    .with("msg", msg));
            }
            msg
        }
        3 => "Enumeration not supported on this database.",
        _ => "Unexpected failure!",
    };
    Err(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{run_module, Run};
    use serde_json::json;

    /// The local host's passwd record for `name`, split on `:`.
    fn passwd(name: &str) -> Value {
        let text = std::fs::read_to_string("/etc/passwd").unwrap();
        let line = text
            .lines()
            .find(|l| l.split(':').next() == Some(name))
            .unwrap();
        json!(line.split(':').skip(1).collect::<Vec<_>>())
    }

    #[test]
    fn fixture_table() {
        let root_fields = passwd("root");
        let root_line = std::fs::read_to_string("/etc/passwd")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("root:"))
            .unwrap()
            .to_string();
        let parts: Vec<&str> = root_line.split('/').collect();
        let mut slash_split = Map::new();
        slash_split.insert(parts[0].to_string(), json!(parts[1..]));
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
        let localhost: Vec<&str> = hosts
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"127.0.0.1"))
            .map(|f| f[1..].to_vec())
            .unwrap_or_default();
        let cases: Vec<(&str, Value, Option<Value>, Option<&str>)> = vec![
            ("passwd key", json!({"database": "passwd", "key": "root"}), Some(json!({"getent_passwd": {"root": root_fields}})), None),
            ("service files", json!({"database": "passwd", "key": "root", "service": "files"}), Some(json!({"getent_passwd": {"root": root_fields}})), None),
            ("own split", json!({"database": "passwd", "key": "root", "split": "/"}), Some(json!({"getent_passwd": slash_split})), None),
            ("hosts split on whitespace", json!({"database": "hosts", "key": "127.0.0.1"}), Some(json!({"getent_hosts": {"127.0.0.1": localhost}})), None),
            ("missing key fails", json!({"database": "passwd", "key": "berth-no-such-user"}), None, Some("One or more supplied key could not be found in the database.")),
            ("missing key in service", json!({"database": "passwd", "key": "root", "service": "berth-none"}), None, Some("One or more supplied key could not be found in the database.")),
            ("missing key allowed", json!({"database": "passwd", "key": "berth-no-such-user", "fail_key": false}), Some(json!({"getent_passwd": {"berth-no-such-user": null}})), None),
            ("unknown database", json!({"database": "berth-nodb"}), None, Some("Missing arguments, or database unknown.")),
            ("no enumeration", json!({"database": "initgroups"}), None, Some("Enumeration not supported on this database.")),
            ("unknown parameter", json!({"database": "passwd", "keys": "x"}), None, Some("Unsupported parameters for (getent) module: keys. Supported parameters include: database, fail_key, key, service, split.")),
            ("database required", json!({}), None, Some("missing required arguments: database")),
        ];
        for (name, args, facts, failure) in cases {
            for check in [false, true] {
                let (out, calls) = run_module(
                    run,
                    &args,
                    &Run {
                        check,
                        ..Run::default()
                    },
                );
                assert!(!out.is_changed(), "{name}: {out:?}");
                match failure {
                    Some(msg) => {
                        assert!(out.is_failed(), "{name}: {out:?}");
                        assert_eq!(out.result["msg"], json!(msg), "{name}");
                    }
                    None => {
                        assert!(!out.is_failed(), "{name}: {out:?}");
                        assert_eq!(out.result.get("ansible_facts"), facts.as_ref(), "{name}");
                        assert_eq!(calls, 1, "{name}");
                    }
                }
            }
        }
        // The whole database: every passwd line, in order.
        let (out, _) = run_module(run, &json!({"database": "passwd"}), &Run::default());
        let all = out.result["ansible_facts"]["getent_passwd"]
            .as_object()
            .unwrap();
        assert_eq!(all["root"], passwd("root"));
        assert!(all.len() >= 2, "{all:?}");
    }

    #[test]
    fn records_like_python() {
        let t = records("a:1:2\nb:3\na:4\na:5\n", Some(":")).unwrap();
        assert_eq!(
            Value::Object(t),
            json!({"a": [["1", "2"], ["4"], ["5"]], "b": ["3"]})
        );
        let t = records("h1  x\ty \x1f z\r\nh2\n", None).unwrap();
        assert_eq!(Value::Object(t), json!({"h1": ["x", "y", "z"], "h2": []}));
        let t = records("k::\n", Some(":")).unwrap();
        assert_eq!(Value::Object(t), json!({"k": ["", ""]}));
        assert!(records("a\n  \n", None).is_err());
        // \x1c is a line boundary for splitlines, not only a space.
        let t = records("h1 x\x1cz y\n", None).unwrap();
        assert_eq!(Value::Object(t), json!({"h1": ["x"], "z": ["y"]}));
        assert_eq!(
            py_splitlines("a\r\nb\rc\x0bd\u{2028}e\n\nf", false),
            vec!["a", "b", "c", "d", "e", "", "f"]
        );
        assert_eq!(py_splitlines("a\r\nb\n", true), vec!["a\r\n", "b\n"]);
        assert_eq!(py_splitlines("", false), Vec::<&str>::new());
        assert_eq!(
            bin_paths("/bin:/usr/sbin"),
            "/bin:/usr/sbin:/sbin:/usr/local/sbin"
        );
    }

    #[test]
    fn missing_getent_is_reported_like_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        // A PATH without getent (and the sbin dirs of this host hold none).
        let script = format!(
            "PATH={}; {}getent passwd root",
            tmp.path().display(),
            need_tool("getent")
        );
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        if std::path::Path::new("/sbin/getent").exists()
            || std::path::Path::new("/usr/sbin/getent").exists()
        {
            return;
        }
        assert_eq!(out.status.code(), Some(127));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            tmp.path().display().to_string()
        );
    }

    /// The same calls through Ansible's own getent.
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let tasks = vec![
            json!({"database": "passwd", "key": "root"}),
            json!({"database": "passwd"}),
            json!({"database": "group"}),
            json!({"database": "hosts"}),
            json!({"database": "services", "key": "ssh"}),
            json!({"database": "passwd", "key": "root", "split": "/"}),
            json!({"database": "passwd", "key": "berth-no-such-user"}),
            json!({"database": "passwd", "key": "berth-no-such-user", "fail_key": false}),
            json!({"database": "berth-nodb"}),
            json!({"database": "initgroups"}),
            json!({"database": "passwd", "key": "root", "service": "berth-none"}),
        ];
        let Some(expected) =
            crate::modules::test_support::ansible_results("getent", &tasks, tmp.path())
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (args, want) in tasks.iter().zip(&expected) {
            let (out, _) = run_module(run, args, &Run::default());
            assert_eq!(
                out.is_failed(),
                want["failed"].as_bool().unwrap_or(false),
                "{args}: {out:?} vs {want}"
            );
            assert_eq!(
                out.is_changed(),
                want["changed"].as_bool().unwrap_or(false),
                "{args}"
            );
            assert_eq!(out.result.get("msg"), want.get("msg"), "{args}");
            assert_eq!(
                out.result.get("ansible_facts"),
                want.get("ansible_facts"),
                "{args}"
            );
        }
    }
}
