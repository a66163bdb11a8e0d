//! `tempfile`: a new private file (0600) or directory (0700, both less the
//! host's umask) in one round trip, named like Python's `tempfile.mkstemp`
//! / `mkdtemp` (`prefix` + 8 random characters + `suffix`), in `path` or
//! the host's default temporary directory (`$TMPDIR`, `$TEMP`, `$TMP`,
//! `/tmp`, `/var/tmp`, `/usr/tmp`, the current directory). Like Ansible the
//! module always reports a change, and is skipped in check mode.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::find::expand_script;
use crate::modules::remote_file::{finish, Stop};
use crate::modules::{quote, ModuleContext, ModuleOutcome};
use crate::playbook::filters::{py_join_bytes, py_normpath, py_str_repr};

const KNOWN: &[&str] = &["state", "path", "prefix", "suffix"];

/// Python's `_RandomNameSequence` alphabet.
const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// Names tried before giving up on a directory full of collisions.
const TRIES: usize = 16;

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("tempfile", args)))
}

fn random_names(n: usize) -> Vec<String> {
    let bytes = crate::random::bytes(n * 8);
    bytes
        .chunks(8)
        .map(|c| {
            c.iter()
                .map(|b| NAME_CHARS[*b as usize % NAME_CHARS.len()] as char)
                .collect()
        })
        .collect()
}

/// Python's `errno` number of a C-locale `strerror` text.
fn errno_of(strerror: &str) -> Option<i32> {
    Some(match strerror {
        "Operation not permitted" => 1,
        "No such file or directory" => 2,
        "Permission denied" => 13,
        "File exists" => 17,
        "Not a directory" => 20,
        "Is a directory" => 21,
        "Invalid argument" => 22,
        "No space left on device" => 28,
        "Read-only file system" => 30,
        "File name too long" => 36,
        "Too many levels of symbolic links" => 40,
        "Disk quota exceeded" => 122,
        _ => return None,
    })
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let state = a
        .choice("state", &["file", "directory"], Some("file"))?
        .unwrap_or_default();
    let path = a.str("path")?;
    let prefix = a.str("prefix")?.unwrap_or_else(|| "ansible.".into());
    let suffix = a.str("suffix")?.unwrap_or_default();
    if ctx.check_mode {
        return Ok(ModuleOutcome::ok().with("skipped", true).with(
            "msg",
            "remote module (tempfile) does not support check mode",
        ));
    }
    for (what, v) in [("prefix", &prefix), ("suffix", &suffix)] {
        if v.contains('/') {
            return Err(format!(
                "{what} must be a valid file name component, got {}",
                py_str_repr(v)
            )
            .into());
        }
    }
    let dir_kind = state == "directory";
    // Python creates with 0600 / 0700 under the process umask: the same as
    // creating with 0666 / 0777 under `umask | 077`.
    let mut s = String::from("u=$(umask); umask \"$(printf %o $(( 0$u | 077 )))\"; ");
    match &path {
        Some(p) => {
            s.push_str(&expand_script(p));
            s.push_str("d=$p; printf 'D\\0%s\\0' \"$d\"; ");
        }
        None => s.push_str(
            "d=''; for c in \"${TMPDIR-}\" \"${TEMP-}\" \"${TMP-}\" /tmp /var/tmp /usr/tmp \"$(pwd -P)\"; do \
             [ -n \"$c\" ] || continue; if [ -d \"$c\" ] && [ -w \"$c\" ] && [ -x \"$c\" ]; then d=$c; break; fi; done; \
             if [ -z \"$d\" ]; then printf 'NODIR\\0'; for c in \"${TMPDIR-}\" \"${TEMP-}\" \"${TMP-}\" /tmp /var/tmp /usr/tmp \"$(pwd -P)\"; do \
             [ -n \"$c\" ] && printf '%s\\0' \"$c\"; done; exit 0; fi; printf 'T\\0%s\\0%s\\0' \"$d\" \"$(pwd -P)\"; ",
        ),
    }
    let names = random_names(TRIES);
    s.push_str(&format!(
        "for n in {}; do ",
        names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ")
    ));
    s.push_str(&format!(
        "b={}\"$n\"{}; case $d in ''|*/) f=$d$b;; *) f=$d/$b;; esac; ",
        quote(&prefix),
        quote(&suffix)
    ));
    if dir_kind {
        s.push_str("if e=$(LC_ALL=C mkdir -- \"$f\" 2>&1); then ok=1; else ok=0; fi; ");
    } else {
        s.push_str(
            "if ( set -C; : > \"$f\" ) 2>/dev/null; then ok=1; else ok=0; \
             e=$(LC_ALL=C mktemp -- \"${f}XXXXXXXXXX\" 2>&1) && { rm -f -- \"$e\"; e=''; }; fi; ",
        );
    }
    s.push_str(
        "if [ $ok = 1 ]; then printf 'OK\\0%s\\0' \"$b\"; stat --printf='%u\\0%g\\0%U\\0%G\\0%a\\0%s\\0%h\\0' -- \"$f\"; exit 0; fi; \
         if [ -e \"$f\" ] || [ -L \"$f\" ]; then continue; fi; printf 'ERR\\0%s\\0%s\\0' \"$b\" \"$e\"; exit 0; done; printf 'EXIST\\0'",
    );
    let out = ctx.exec(&s, None)?;
    let toks: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let mut it = toks.iter().map(String::as_str);
    let bad = || {
        Stop::Fail(format!(
            "could not create a temporary {state}: {}",
            out.stderr_str().trim()
        ))
    };
    // The directory as Python names it: `path` as given, or the absolute default.
    let dir = match it.next() {
        Some("D") => it.next().ok_or_else(bad)?.to_string(),
        Some("T") => {
            let raw = it.next().ok_or_else(bad)?;
            let cwd = it.next().ok_or_else(bad)?;
            py_normpath(&String::from_utf8_lossy(&py_join_bytes(
                cwd.as_bytes(),
                raw.as_bytes(),
            )))
        }
        Some("NODIR") => {
            let list: Vec<String> = it.filter(|c| !c.is_empty()).map(py_str_repr).collect();
            return Err(format!(
                "[Errno 2] No usable temporary directory found in [{}]",
                list.join(", ")
            )
            .into());
        }
        _ => return Err(bad()),
    };
    let join = |name: &str| {
        String::from_utf8_lossy(&py_join_bytes(dir.as_bytes(), name.as_bytes())).into_owned()
    };
    match it.next() {
        Some("OK") => {
            let created = join(it.next().ok_or_else(bad)?);
            let f: Vec<&str> = it.take(7).collect();
            if f.len() < 7 {
                return Err(bad());
            }
            let name_or_id = |name: &str, id: &str| {
                if name == "UNKNOWN" {
                    id.to_string()
                } else {
                    name.to_string()
                }
            };
            let mode = u32::from_str_radix(f[4], 8).unwrap_or(0);
            let nlink: u64 = f[6].parse().unwrap_or(1);
            let state_now = if dir_kind {
                "directory"
            } else if nlink > 1 {
                "hard"
            } else {
                "file"
            };
            Ok(ModuleOutcome::changed(true)
                .with("path", created)
                .with("uid", f[0].parse::<u64>().unwrap_or(0))
                .with("gid", f[1].parse::<u64>().unwrap_or(0))
                .with("owner", name_or_id(f[2], f[0]))
                .with("group", name_or_id(f[3], f[1]))
                .with("mode", format!("0{mode:03o}"))
                .with("state", state_now)
                .with("size", f[5].parse::<u64>().unwrap_or(0)))
        }
        Some("ERR") => {
            let attempted = join(it.next().ok_or_else(bad)?);
            let err = it.next().unwrap_or("");
            let strerror = err.trim().rsplit(": ").next().unwrap_or("").trim();
            Err(match errno_of(strerror) {
                Some(n) => format!("[Errno {n}] {strerror}: {}", py_str_repr(&attempted)),
                None if !strerror.is_empty() => format!("{strerror}: {}", py_str_repr(&attempted)),
                None => format!("could not create {}", py_str_repr(&attempted)),
            }
            .into())
        }
        Some("EXIST") => Err(format!(
            "[Errno 17] No usable temporary {} name found",
            if dir_kind { "directory" } else { "file" }
        )
        .into()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, snapshot, Entry, Run};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// The created name's random part: 8 characters of Python's alphabet.
    fn random_part<'a>(name: &'a str, prefix: &str, suffix: &str) -> &'a str {
        let mid = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(suffix))
            .unwrap_or_else(|| panic!("{name} is not {prefix}*{suffix}"));
        assert_eq!(mid.len(), 8, "{name}");
        assert!(mid.bytes().all(|b| NAME_CHARS.contains(&b)), "{name}");
        mid
    }

    struct Case {
        name: &'static str,
        args: Value,
        /// `Ok((dir the path is in, as written), prefix, suffix, is_dir)` or the failure message's start.
        want: Result<(&'static str, &'static str, &'static str, bool), &'static str>,
    }

    #[test]
    fn fixture_table() {
        let ok = |name, args, dir, prefix, suffix, is_dir| Case {
            name,
            args,
            want: Ok((dir, prefix, suffix, is_dir)),
        };
        let fail = |name, args, msg| Case {
            name,
            args,
            want: Err(msg),
        };
        let cases = vec![
            ok(
                "a file by default",
                json!({"path": "{root}"}),
                "{root}/",
                "ansible.",
                "",
                false,
            ),
            ok(
                "a directory",
                json!({"path": "{root}", "state": "directory"}),
                "{root}/",
                "ansible.",
                "",
                true,
            ),
            ok(
                "prefix and suffix",
                json!({"path": "{root}", "prefix": "pre_", "suffix": ".txt"}),
                "{root}/",
                "pre_",
                ".txt",
                false,
            ),
            ok(
                "a prefix ending in X is kept",
                json!({"path": "{root}", "prefix": "fooXXX", "state": "directory"}),
                "{root}/",
                "fooXXX",
                "",
                true,
            ),
            ok(
                "empty prefix",
                json!({"path": "{root}", "prefix": ""}),
                "{root}/",
                "",
                "",
                false,
            ),
            ok(
                "a trailing slash is not doubled",
                json!({"path": "{root}/"}),
                "{root}/",
                "ansible.",
                "",
                false,
            ),
            ok(
                "the path is kept as written",
                json!({"path": "{root}/sub/../sub"}),
                "{root}/sub/../sub/",
                "ansible.",
                "",
                false,
            ),
            fail(
                "missing directory",
                json!({"path": "{root}/nope"}),
                "[Errno 2] No such file or directory: '{root}/nope/ansible.",
            ),
            fail(
                "missing directory for a directory",
                json!({"path": "{root}/nope", "state": "directory"}),
                "[Errno 2] No such file or directory: '{root}/nope/ansible.",
            ),
            fail(
                "not a directory",
                json!({"path": "{root}/f"}),
                "[Errno 20] Not a directory: '{root}/f/ansible.",
            ),
            fail(
                "not a directory for a directory",
                json!({"path": "{root}/f", "state": "directory"}),
                "[Errno 20] Not a directory: '{root}/f/ansible.",
            ),
            fail(
                "prefix with a slash",
                json!({"path": "{root}", "prefix": "a/b"}),
                "prefix must be a valid file name component, got 'a/b'",
            ),
            fail(
                "suffix with a slash",
                json!({"path": "{root}", "suffix": "/x"}),
                "suffix must be a valid file name component, got '/x'",
            ),
            fail(
                "bad state",
                json!({"state": "link"}),
                "value of state must be one of: file, directory, got: link",
            ),
            fail(
                "unknown argument",
                json!({"mode": "0644"}),
                "Unsupported parameters for (tempfile) module: mode.",
            ),
        ];
        for c in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(
                root,
                &[Entry::Dir("sub", 0o755), Entry::File("f", "x", 0o644)],
            );
            let before = snapshot(root);
            let (out, calls) = run_module(run, &rooted(&c.args, root), &Run::default());
            match c.want {
                Err(msg) => {
                    let msg = msg.replace("{root}", &root.to_string_lossy());
                    assert!(out.is_failed(), "{}: {out:?}", c.name);
                    let got = out.result["msg"].as_str().unwrap();
                    assert!(got.starts_with(&msg), "{}: {got}", c.name);
                    assert_eq!(snapshot(root), before, "{}: nothing created", c.name);
                }
                Ok((dir, prefix, suffix, is_dir)) => {
                    assert_eq!(calls, 1, "{}", c.name);
                    assert!(out.is_changed() && !out.is_failed(), "{}: {out:?}", c.name);
                    let path = out.result["path"].as_str().unwrap();
                    let dir = dir.replace("{root}", &root.to_string_lossy());
                    let name = path
                        .strip_prefix(&dir)
                        .unwrap_or_else(|| panic!("{}: {path} not in {dir}", c.name));
                    random_part(name, prefix, suffix);
                    let md = std::fs::symlink_metadata(path).unwrap();
                    assert_eq!(md.is_dir(), is_dir, "{}", c.name);
                    assert_eq!(
                        md.permissions().mode() & 0o7777,
                        if is_dir { 0o700 } else { 0o600 },
                        "{}",
                        c.name
                    );
                    let want = json!({
                        "changed": true, "path": path, "uid": 0, "gid": 0, "owner": "root", "group": "root",
                        "mode": if is_dir { "0700" } else { "0600" }, "state": if is_dir { "directory" } else { "file" },
                        "size": md.len(),
                    });
                    assert_eq!(Value::Object(out.result.clone()), want, "{}", c.name);
                    assert_eq!(
                        snapshot(root).len(),
                        before.len() + 1,
                        "{}: one new entry",
                        c.name
                    );
                }
            }
        }
    }

    #[test]
    fn check_mode_is_skipped_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for args in [
            json!({"path": "{root}"}),
            json!({"path": "{root}", "prefix": "a/b"}),
            json!({"path": "{root}/nope", "state": "directory"}),
        ] {
            let (out, calls) = run_module(
                run,
                &rooted(&args, root),
                &Run {
                    check: true,
                    ..Run::default()
                },
            );
            assert_eq!(
                Value::Object(out.result),
                json!({"changed": false, "skipped": true, "msg": "remote module (tempfile) does not support check mode"})
            );
            assert_eq!(calls, 0);
        }
        let (out, _) = run_module(
            run,
            &json!({"bogus": 1}),
            &Run {
                check: true,
                ..Run::default()
            },
        );
        assert!(
            out.is_failed(),
            "arguments are checked even in check mode: {out:?}"
        );
        assert!(snapshot(root).is_empty());
    }

    #[test]
    fn default_directory_is_the_hosts_temporary_directory() {
        let (out, _) = run_module(run, &json!({"prefix": "berth-test."}), &Run::default());
        let path = out.result["path"].as_str().unwrap().to_string();
        let tmpdir = std::env::var("TMPDIR")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "/tmp".into());
        let dir = crate::playbook::filters::py_normpath(&tmpdir);
        let name = Path::new(&path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            Path::new(&path).parent().unwrap(),
            Path::new(&dir),
            "{out:?}"
        );
        random_part(&name, "berth-test.", "");
        assert!(Path::new(&path).is_file());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn home_is_expanded_and_permissions_are_reported() {
        let home = std::env::var("HOME").unwrap();
        let tmp = tempfile::tempdir_in(&home).unwrap();
        let base = tmp
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (out, _) = run_module(
            run,
            &json!({"path": format!("~/{base}"), "state": "directory"}),
            &Run::default(),
        );
        let path = out.result["path"].as_str().unwrap();
        assert!(
            path.starts_with(&format!("{}/{base}/ansible.", home.trim_end_matches('/'))),
            "{out:?}"
        );
        // An unprivileged user cannot write into root's 0755 directory.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let nobody = Run {
            as_nobody: true,
            ..Run::default()
        };
        for state in ["file", "directory"] {
            let (out, _) = run_module(run, &json!({"path": tmp.path(), "state": state}), &nobody);
            let want = format!(
                "[Errno 13] Permission denied: '{}/ansible.",
                tmp.path().display()
            );
            assert!(
                out.result["msg"].as_str().unwrap().starts_with(&want),
                "{state}: {out:?}"
            );
        }
    }
}

#[cfg(test)]
mod differential {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, Entry, Run};
    use serde_json::json;
    use std::process::Command;

    /// Python's random name part, for comparing two runs.
    fn unrandom(v: &Value, prefix: &str) -> Value {
        match v {
            Value::String(s) => {
                let re = regex::Regex::new(&format!(r"{}[a-z0-9_]{{8}}", regex::escape(prefix)))
                    .unwrap();
                Value::String(
                    re.replace_all(s, format!("{prefix}RANDOM").as_str())
                        .into_owned(),
                )
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), unrandom(v, prefix)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// ansible-core's tempfile and berth's give the same result (the random
    /// part of the name aside) and create the same kind of entry.
    #[test]
    fn same_results_as_ansible() {
        let importable = Command::new("python3")
            .args(["-c", "import ansible"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !importable {
            eprintln!("ansible is not importable: differential test not run");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let scratch = tempfile::tempdir().unwrap();
        setup(root, &[Entry::File("f", "x", 0o644)]);
        let cases = [
            (json!({"path": "{root}"}), false),
            (
                json!({"path": "{root}/", "state": "directory", "prefix": "p-", "suffix": ".d"}),
                false,
            ),
            (json!({"path": "{root}/nope"}), false),
            (json!({"path": "{root}/f", "state": "directory"}), false),
            (json!({"path": "{root}", "prefix": "a/b"}), false),
            (json!({"path": "{root}", "suffix": "x/"}), false),
            (json!({"path": "{root}"}), true),
        ];
        for (args, check) in cases {
            let args = rooted(&args, root);
            let prefix = args
                .get("prefix")
                .and_then(Value::as_str)
                .unwrap_or("ansible.")
                .to_string();
            let mut payload = args.as_object().unwrap().clone();
            // What the controller sends with every module (`python -m` alone names it basic.py).
            payload.insert("_ansible_module_name".into(), json!("tempfile"));
            if check {
                payload.insert("_ansible_check_mode".into(), json!(true));
            }
            let file = scratch.path().join("args.json");
            std::fs::write(&file, json!({"ANSIBLE_MODULE_ARGS": payload}).to_string()).unwrap();
            let out = Command::new("python3")
                .args(["-m", "ansible.modules.tempfile"])
                .arg(&file)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let mut theirs: Map<String, Value> =
                serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{text}: {e}"));
            theirs.remove("invocation");
            if theirs.get("failed") == Some(&Value::Bool(false)) {
                theirs.remove("failed");
            }
            // The task executor adds `changed: false` to a result without one.
            theirs.entry("changed").or_insert(Value::Bool(false));
            let (ours, _) = run_module(
                run,
                &args,
                &Run {
                    check,
                    ..Run::default()
                },
            );
            assert_eq!(
                unrandom(&Value::Object(ours.result), &prefix),
                unrandom(&Value::Object(theirs), &prefix),
                "{args}"
            );
        }
    }
}
