//! `slurp`: a host file's content, base64-encoded, in one round trip.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::remote_file::{self, finish, Kind, Probe, Stop};
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &["src", "path"];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("slurp", args)))
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let src = match (a.str("src")?, a.str("path")?) {
        (Some(s), _) | (None, Some(s)) => s,
        _ => return Err("missing required arguments: src".into()),
    };
    let facts = remote_file::probe(
        ctx,
        &[Probe::new(&src).follow(true).read(u64::MAX)],
        None,
        None,
    )?;
    let st = &facts.stats[0];
    // ansible-core 2.19's words, in the order open() fails (EACCES before EISDIR).
    match st.kind {
        Kind::Missing => {
            return Err(match st.missing_errno {
                Some("EACCES") => format!("File is not readable: {src}"),
                // Ansible's message, its placeholder unfilled as ansible-core prints it.
                Some(_) => "Unable to slurp file: {source}".to_string(),
                None => format!("File not found: {src}"),
            }
            .into());
        }
        _ if !st.readable => return Err(format!("File is not readable: {src}").into()),
        Kind::Dir => return Err(format!("Source is a directory and must be a file: {src}").into()),
        _ => {}
    }
    let data = st
        .content
        .as_deref()
        .ok_or_else(|| format!("File is not readable: {src}"))?;
    Ok(ModuleOutcome::ok()
        .with(
            "content",
            base64::engine::general_purpose::STANDARD.encode(data),
        )
        .with("source", src)
        .with("encoding", "base64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, Entry, Run};
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let cases: Vec<(&str, Vec<Entry>, Value, Result<Vec<u8>, &str>)> = vec![
            (
                "text",
                vec![Entry::File("f", "hello\n", 0o600)],
                json!({"src": "{root}/f"}),
                Ok(b"hello\n".to_vec()),
            ),
            (
                "path alias",
                vec![Entry::File("f", "x", 0o600)],
                json!({"path": "{root}/f"}),
                Ok(b"x".to_vec()),
            ),
            (
                "empty",
                vec![Entry::File("f", "", 0o600)],
                json!({"src": "{root}/f"}),
                Ok(Vec::new()),
            ),
            (
                "binary and large",
                vec![Entry::Bytes("f", big.clone(), 0o600)],
                json!({"src": "{root}/f"}),
                Ok(big.clone()),
            ),
            (
                "through a link",
                vec![Entry::File("f", "x", 0o600), Entry::Link("l", "f")],
                json!({"src": "{root}/l"}),
                Ok(b"x".to_vec()),
            ),
            (
                "missing",
                vec![],
                json!({"src": "{root}/f"}),
                Err("File not found: {root}/f"),
            ),
            (
                "directory",
                vec![Entry::Dir("d", 0o755)],
                json!({"src": "{root}/d"}),
                Err("Source is a directory and must be a file: {root}/d"),
            ),
            (
                "no src",
                vec![],
                json!({}),
                Err("missing required arguments: src"),
            ),
            (
                "unknown arg",
                vec![],
                json!({"src": "x", "dest": "y"}),
                Err("Unsupported parameters for (slurp) module: dest."),
            ),
        ];
        for (name, initial, args, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &initial);
            let (out, calls) = run_module(
                run,
                &rooted(&args, root),
                &Run {
                    check: true,
                    ..Run::default()
                },
            );
            assert!(!out.is_changed(), "{name}");
            match want {
                Ok(bytes) => {
                    assert_eq!(calls, 1);
                    let got = base64::engine::general_purpose::STANDARD
                        .decode(out.result["content"].as_str().unwrap())
                        .unwrap();
                    assert_eq!(got, bytes, "{name}");
                    assert_eq!(out.result["encoding"], json!("base64"));
                    assert_eq!(
                        out.result["source"],
                        rooted(&args, root)
                            .get("src")
                            .or(rooted(&args, root).get("path"))
                            .cloned()
                            .unwrap()
                    );
                }
                Err(msg) => {
                    let msg = msg.replace("{root}", &root.to_string_lossy());
                    assert!(
                        out.is_failed() && out.result["msg"].as_str().unwrap().starts_with(&msg),
                        "{name}: {out:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unreadable_file_fails_for_an_unprivileged_user() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(root, &[Entry::File("f", "secret", 0o600)]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args = rooted(&json!({"src": "{root}/f"}), root);
        let (out, _) = run_module(
            run,
            &args,
            &Run {
                as_nobody: true,
                ..Run::default()
            },
        );
        let msg = format!("File is not readable: {}/f", root.display());
        assert_eq!(out.result["msg"], json!(msg), "{out:?}");
        let (out, _) = run_module(run, &args, &Run::default());
        assert!(!out.is_failed(), "root reads it: {out:?}");
    }
}
