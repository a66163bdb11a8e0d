//! `fetch`: copy a host file to the controller (`dest/<host>/<src>`, or
//! `dest` itself with `flat`), only when the SHA-1s differ.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::remote_file::{
    self, basename, finish, sha1_hex, Kind, Probe, RemoteStat, Stop,
};
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "src",
    "dest",
    "flat",
    "fail_on_missing",
    "validate_checksum",
];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("fetch", args)))
}

/// Where the fetched file lands on the controller.
fn local_dest(ctx: &ModuleContext<'_>, src: &str, dest: &str, flat: bool) -> PathBuf {
    let base = |p: &str| -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            match ctx.search_paths.last() {
                Some(dir) => dir.join(path),
                None => path.to_path_buf(),
            }
        }
    };
    if flat {
        if dest.ends_with('/') {
            return base(dest).join(basename(src));
        }
        return base(dest);
    }
    let rel: Vec<&str> = src
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut p = base(dest).join(&ctx.inventory_hostname);
    for c in rel {
        p.push(c);
    }
    p
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    // Ansible's fetch skips itself in check mode, before looking at anything.
    if ctx.check_mode {
        return Ok(ModuleOutcome::ok()
            .with("skipped", true)
            .with("msg", "check mode not (yet) supported for this module"));
    }
    a.check_known(KNOWN)?;
    // As Ansible's fetch action: src and dest must be strings (numbers and
    // lists are not converted), then both are required.
    let not_text = |k: &str| a.get(k).is_some_and(|v| !v.is_string());
    let msg = if a.get("src").is_none() || a.get("dest").is_none() {
        Some("src and dest are required")
    } else if not_text("dest") {
        Some("Invalid type supplied for dest option, it must be a string")
    } else if not_text("src") {
        Some("Invalid type supplied for source option, it must be a string")
    } else {
        None
    };
    if let Some(m) = msg {
        return Err(m.into());
    }
    let (src, dest) = match (a.str("src")?, a.str("dest")?) {
        (Some(s), Some(d)) => (s, d),
        _ => return Err("src and dest are required".into()),
    };
    let flat = a.bool("flat", false)?;
    let fail_on_missing = a.bool("fail_on_missing", true)?;
    let validate = a.bool("validate_checksum", true)?;
    let target = local_dest(ctx, &src, &dest, flat);
    let target_str = target.to_string_lossy().into_owned();
    let facts = remote_file::probe(ctx, &[Probe::new(&src).follow(true).sha1()], None, None)?;
    let st = &facts.stats[0];
    if let Some(done) = refusal(st, ctx.escalate.is_some(), &src, fail_on_missing) {
        return done;
    }
    // Ansible's flat destinations may not name a folder (checked after the remote side).
    if flat && target.is_dir() {
        return Err(if dest.ends_with('/') {
            format!("calculated dest '{target_str}' is an existing directory, use another path that does not point to an existing directory")
        } else {
            "dest is an existing directory, use a trailing slash if you want to fetch src into that directory".to_string()
        }
        .into());
    }
    let remote_sum = st.checksum.clone().unwrap_or_default();
    let local = std::fs::read(&target).ok();
    let local_sum = local.as_deref().map(sha1_hex);
    if local_sum.as_deref() == Some(remote_sum.as_str()) {
        return Ok(ModuleOutcome::ok()
            .with("file", src)
            .with("dest", target_str)
            .with("checksum", remote_sum));
    }
    let facts = remote_file::probe(
        ctx,
        &[Probe::new(&src).follow(true).read(u64::MAX)],
        None,
        None,
    )?;
    let data = facts.stats[0]
        .content
        .clone()
        .ok_or_else(|| format!("no read permission on remote file: {src}"))?;
    let new_sum = sha1_hex(&data);
    if validate && new_sum != remote_sum {
        return Err(Stop::Outcome(
            ModuleOutcome::failed("checksum mismatch")
                .with("file", src)
                .with("dest", target_str)
                .with("checksum", new_sum)
                .with("remote_checksum", remote_sum),
        ));
    }
    write_local(&target, &data).map_err(|e| format!("Failed to write {target_str}: {e}"))?;
    Ok(ModuleOutcome::changed(true)
        .with("dest", target_str)
        .with("remote_checksum", remote_sum)
        .with("checksum", new_sum)
        .with("remote_md5sum", Value::Null))
}

/// What fetch reports for a source it will not copy (absent, a directory,
/// hidden or unreadable), decided from the probe alone.
fn refusal(
    st: &RemoteStat,
    escalated: bool,
    src: &str,
    fail_on_missing: bool,
) -> Option<Result<ModuleOutcome, Stop>> {
    // Without become Ansible stats the file first; a path it may not see
    // fails that stat. Otherwise an unreadable file goes to slurp, whose
    // failure is reported as is (no "ignored" wording).
    let denied = st.kind == Kind::Missing && st.missing_errno == Some("EACCES");
    if denied && !escalated {
        let msg = format!("Failed to get information on remote file ({src}): Permission denied");
        let out = ModuleOutcome::ok().with("file", src.to_string());
        if fail_on_missing {
            return Some(Err(Stop::Outcome(
                out.with("failed", true).with("msg", msg),
            )));
        }
        return Some(Ok(out.with("msg", format!("{msg}, ignored"))));
    }
    if denied || (st.kind != Kind::Missing && st.kind != Kind::Dir && st.checksum.is_none()) {
        let out = ModuleOutcome::ok().with("file", src.to_string());
        if fail_on_missing {
            let msg = format!("File is not readable: {src}");
            return Some(Err(Stop::Outcome(
                out.with("failed", true).with("msg", msg),
            )));
        }
        return Some(Ok(out));
    }
    let problem = match st.kind {
        Kind::Missing => Some("the remote file does not exist"),
        Kind::Dir => Some("remote file is a directory, fetch cannot work on directories"),
        _ => None,
    };
    if let Some(msg) = problem {
        let out = ModuleOutcome::ok().with("file", src.to_string());
        // A directory too is only a failure with fail_on_missing (ansible-core 2.19).
        if fail_on_missing {
            let mut out = out.with("failed", true).with("msg", msg);
            out.result.remove("changed");
            return Some(Err(Stop::Outcome(out)));
        }
        return Some(Ok(
            out.with("msg", format!("{msg}, not transferring, ignored"))
        ));
    }
    None
}

/// Atomically write a controller file, creating its directory.
fn write_local(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, snapshot, Entry, Run};
    use serde_json::json;

    struct Case {
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        check: bool,
        changed: bool,
        failed: Option<&'static str>,
        /// Controller file expected afterwards (relative to the temp dir) and its content.
        local: Option<(&'static str, &'static str)>,
        calls: usize,
    }

    /// Root sees everything, so the hidden and unreadable cases are
    /// decided from probe fixtures: the words are ansible-core 2.19's stat
    /// (no become) and slurp (become) failures.
    #[test]
    fn refusals_of_hidden_and_unreadable_sources() {
        let hidden = RemoteStat {
            missing_errno: Some("EACCES"),
            ..Default::default()
        };
        let unreadable = RemoteStat {
            kind: Kind::File,
            ..Default::default()
        };
        let msg = |r: Option<Result<ModuleOutcome, Stop>>| match r {
            Some(Err(Stop::Outcome(o))) => format!("failed: {}", o.result["msg"]),
            Some(Ok(o)) => format!("ok: {}", o.result.get("msg").cloned().unwrap_or_default()),
            Some(Err(_)) => "other".into(),
            None => "fetch".into(),
        };
        let cases = [
            (
                &hidden,
                false,
                true,
                r#"failed: "Failed to get information on remote file (/d/f): Permission denied""#,
            ),
            (
                &hidden,
                false,
                false,
                r#"ok: "Failed to get information on remote file (/d/f): Permission denied, ignored""#,
            ),
            (
                &hidden,
                true,
                true,
                r#"failed: "File is not readable: /d/f""#,
            ),
            (&hidden, true, false, "ok: null"),
            (
                &unreadable,
                false,
                true,
                r#"failed: "File is not readable: /d/f""#,
            ),
            (&unreadable, true, false, "ok: null"),
        ];
        for (st, escalated, fail_on_missing, want) in cases {
            assert_eq!(
                msg(refusal(st, escalated, "/d/f", fail_on_missing)),
                want,
                "{escalated} {fail_on_missing}"
            );
        }
        let readable = RemoteStat {
            kind: Kind::File,
            checksum: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(msg(refusal(&readable, true, "/d/f", true)), "fetch");
    }

    #[test]
    fn fixture_table() {
        let cases = vec![
            Case {
                name: "fetch into host tree",
                initial: vec![Entry::File("remote/etc/app.conf", "conf\n", 0o600)],
                args: json!({"src": "{root}/remote/etc/app.conf", "dest": "{root}/out"}),
                check: false,
                changed: true,
                failed: None,
                local: Some(("out/testhost{root}/remote/etc/app.conf", "conf\n")),
                calls: 2,
            },
            Case {
                name: "flat",
                initial: vec![Entry::File("r.txt", "x", 0o600)],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/got.txt", "flat": true}),
                check: false,
                changed: true,
                failed: None,
                local: Some(("got.txt", "x")),
                calls: 2,
            },
            Case {
                name: "flat into dir",
                initial: vec![Entry::File("r.txt", "x", 0o600)],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/d/", "flat": true}),
                check: false,
                changed: true,
                failed: None,
                local: Some(("d/r.txt", "x")),
                calls: 2,
            },
            Case {
                name: "same checksum is ok",
                initial: vec![
                    Entry::File("r.txt", "x", 0o600),
                    Entry::File("got.txt", "x", 0o644),
                ],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/got.txt", "flat": true}),
                check: false,
                changed: false,
                failed: None,
                local: Some(("got.txt", "x")),
                calls: 1,
            },
            Case {
                name: "different local is replaced",
                initial: vec![
                    Entry::File("r.txt", "new", 0o600),
                    Entry::File("got.txt", "old", 0o644),
                ],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/got.txt", "flat": true}),
                check: false,
                changed: true,
                failed: None,
                local: Some(("got.txt", "new")),
                calls: 2,
            },
            Case {
                // Ansible's fetch skips itself in check mode: nothing read, nothing written.
                name: "check mode skips",
                initial: vec![
                    Entry::File("r.txt", "new", 0o600),
                    Entry::File("got.txt", "old", 0o644),
                ],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/got.txt", "flat": true}),
                check: true,
                changed: false,
                failed: None,
                local: Some(("got.txt", "old")),
                calls: 0,
            },
            Case {
                name: "missing fails",
                initial: vec![],
                args: json!({"src": "{root}/nope", "dest": "{root}/got", "flat": true}),
                check: false,
                changed: false,
                failed: Some("the remote file does not exist"),
                local: None,
                calls: 1,
            },
            Case {
                name: "missing ignored",
                initial: vec![],
                args: json!({"src": "{root}/nope", "dest": "{root}/got", "flat": true, "fail_on_missing": false}),
                check: false,
                changed: false,
                failed: None,
                local: None,
                calls: 1,
            },
            Case {
                name: "directory fails",
                initial: vec![Entry::Dir("d", 0o755)],
                args: json!({"src": "{root}/d", "dest": "{root}/got", "flat": true}),
                check: false,
                changed: false,
                failed: Some("remote file is a directory, fetch cannot work on directories"),
                local: None,
                calls: 1,
            },
            Case {
                name: "flat dest naming a folder",
                initial: vec![Entry::File("r.txt", "x", 0o600), Entry::Dir("d", 0o755)],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/d", "flat": true}),
                check: false,
                changed: false,
                failed: Some("dest is an existing directory, use a trailing slash if you want to fetch src into that directory"),
                local: None,
                calls: 1,
            },
            Case {
                name: "flat dest folder holding a folder of the source's name",
                initial: vec![Entry::File("r.txt", "x", 0o600), Entry::Dir("gotd/r.txt", 0o755)],
                args: json!({"src": "{root}/r.txt", "dest": "{root}/gotd/", "flat": true}),
                check: false,
                changed: false,
                failed: Some("calculated dest '{root}/gotd/r.txt' is an existing directory, use another path that does not point to an existing directory"),
                local: None,
                calls: 1,
            },
            Case {
                name: "src must be a string",
                initial: vec![],
                args: json!({"src": [1, 2], "dest": "{root}/got"}),
                check: false,
                changed: false,
                failed: Some("Invalid type supplied for source option, it must be a string"),
                local: None,
                calls: 0,
            },
            Case {
                name: "directory ignored without fail_on_missing",
                initial: vec![Entry::Dir("d", 0o755)],
                args: json!({"src": "{root}/d", "dest": "{root}/got", "flat": true, "fail_on_missing": false}),
                check: false,
                changed: false,
                failed: None,
                local: None,
                calls: 1,
            },
            Case {
                name: "missing dest",
                initial: vec![],
                args: json!({"src": "x"}),
                check: false,
                changed: false,
                failed: Some("src and dest are required"),
                local: None,
                calls: 0,
            },
        ];
        for case in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &case.initial);
            let remote_before: Vec<_> = snapshot(root)
                .into_iter()
                .filter(|(k, _)| !k.starts_with("got") && !k.starts_with("out"))
                .collect();
            let (out, calls) = run_module(
                run,
                &rooted(&case.args, root),
                &Run {
                    check: case.check,
                    ..Run::default()
                },
            );
            assert_eq!(out.is_changed(), case.changed, "{}: {out:?}", case.name);
            assert_eq!(calls, case.calls, "{}", case.name);
            match case.failed {
                Some(msg) => assert!(
                    out.is_failed()
                        && out.result["msg"]
                            .as_str()
                            .unwrap()
                            .starts_with(&msg.replace("{root}", &root.to_string_lossy())),
                    "{}: {out:?}",
                    case.name
                ),
                None => assert!(!out.is_failed(), "{}: {out:?}", case.name),
            }
            if let Some((p, content)) = case.local {
                let p = p.replace("{root}", &root.to_string_lossy());
                assert_eq!(
                    std::fs::read_to_string(root.join(p.trim_start_matches('/'))).unwrap(),
                    content,
                    "{}",
                    case.name
                );
                if !case.check && case.changed {
                    assert_eq!(out.result["checksum"], json!(sha1_hex(content.as_bytes())));
                }
            }
            let remote_after: Vec<_> = snapshot(root)
                .into_iter()
                .filter(|(k, _)| {
                    !k.starts_with("got")
                        && !k.starts_with("out")
                        && k != "d"
                        && !k.starts_with("d/")
                })
                .collect();
            let remote_before: Vec<_> = remote_before
                .into_iter()
                .filter(|(k, _)| k != "d")
                .collect();
            assert_eq!(
                remote_after, remote_before,
                "{}: the host file is never changed",
                case.name
            );
        }
    }

    #[test]
    fn relative_dest_is_under_the_playbook_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[Entry::File("r", "x", 0o600), Entry::Dir("play", 0o755)],
        );
        let run_cfg = Run {
            search_paths: vec![root.join("play/roles/x"), root.join("play")],
            ..Run::default()
        };
        let (out, _) = run_module(
            run,
            &rooted(
                &json!({"src": "{root}/r", "dest": "got", "flat": true}),
                root,
            ),
            &run_cfg,
        );
        assert_eq!(
            out.result["dest"],
            json!(root.join("play/got").to_string_lossy())
        );
        assert_eq!(std::fs::read_to_string(root.join("play/got")).unwrap(), "x");
    }
}
