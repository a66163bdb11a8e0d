//! `script`: send a script from the controller (found like Ansible's, in
//! `files/`) to the host and run it there with its arguments, in one round
//! trip. The script goes over stdin into a new private file in /tmp (never
//! an existing one) that is removed afterwards; `creates`/`removes` are checked on the host first.
//! Output is kept as the script wrote it (not stripped), as Ansible's.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::command::finish;
use crate::modules::{quote, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "_raw_params",
    "cmd",
    "creates",
    "removes",
    "chdir",
    "executable",
    "decrypt",
];

struct Spec {
    raw: String,
    source: String,
    creates: Option<String>,
    removes: Option<String>,
    chdir: Option<String>,
    executable: Option<String>,
}

fn parse(a: &Args<'_>) -> Result<Spec, String> {
    a.check_known(KNOWN)?;
    let raw = a.str("_raw_params")?.filter(|s| !s.trim().is_empty());
    let cmd = a.str("cmd")?.filter(|s| !s.trim().is_empty());
    let raw = match (raw, cmd) {
        (Some(_), Some(_)) => {
            return Err("parameters are mutually exclusive: _raw_params|cmd".into())
        }
        (None, None) => return Err("one of the following is required: _raw_params, cmd".into()),
        (Some(r), None) | (None, Some(r)) => r.trim().to_string(),
    };
    let parts = shell_words::split(&raw)
        .map_err(|e| format!("cannot split the script's command line {raw:?}: {e}"))?;
    let source = parts
        .first()
        .cloned()
        .ok_or("one of the following is required: _raw_params, cmd")?;
    let chdir = a.str("chdir")?.filter(|s| !s.is_empty());
    if let Some(d) = &chdir {
        if !d.starts_with('/') {
            return Err(format!(
                "chdir {d} must be an absolute path for a Unix-aware remote node"
            ));
        }
    }
    Ok(Spec {
        raw,
        source,
        creates: a.str("creates")?.filter(|s| !s.is_empty()),
        removes: a.str("removes")?.filter(|s| !s.is_empty()),
        chdir,
        executable: a.str("executable")?.filter(|s| !s.is_empty()),
    })
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let spec = match parse(&Args::new("script", args)) {
        Ok(s) => s,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    let nonce = hex(&crate::random::bytes(8));
    let skip = format!("__berth_script_skip_{nonce}__");
    let mut script = String::new();
    if let Some(c) = &spec.creates {
        script.push_str(&format!(
            "if [ -e {p} ]; then printf '%s' {m}; exit 0; fi\n",
            p = quote(c),
            m = quote(&format!("{skip}{c} exists, matching creates option"))
        ));
    }
    if let Some(r) = &spec.removes {
        script.push_str(&format!(
            "if [ ! -e {p} ]; then printf '%s' {m}; exit 0; fi\n",
            p = quote(r),
            m = quote(&format!(
                "{skip}{r} does not exist, matching removes option"
            ))
        ));
    }
    let skipped = |stdout: &str| -> Option<ModuleOutcome> {
        stdout.strip_prefix(&skip).map(|msg| {
            ModuleOutcome::ok()
                .with("skipped", true)
                .with("msg", msg.to_string())
        })
    };
    let has_probe = spec.creates.is_some() || spec.removes.is_some();
    if has_probe {
        // Ansible checks these before it looks for the script.
        let out = ctx.exec(&script, None)?;
        if let Some(o) = skipped(&out.stdout_str()) {
            return Ok(o);
        }
    }
    let Some(local) = ctx.find_file("files", &spec.source) else {
        return Ok(ModuleOutcome::failed(format!(
            "Could not find or access '{}' on the Ansible Controller.",
            spec.source
        )));
    };
    if ctx.check_mode {
        return Ok(if has_probe {
            ModuleOutcome::changed(true)
        } else {
            ModuleOutcome::ok()
                .with("skipped", true)
                .with("msg", "Check mode is not supported for this task.")
        });
    }
    let body = match std::fs::read(&local) {
        Ok(b) => b,
        Err(e) => {
            return Ok(ModuleOutcome::failed(format!(
                "Could not read '{}': {e}",
                local.display()
            )))
        }
    };
    // The command line as written, the script's name replaced by the copy on
    // the host: a literal path, so it works inside the command's own quotes.
    let copy = format!("/tmp/berth-script.{nonce}");
    let command = spec.raw.replacen(&spec.source, &copy, 1);
    let command = match &spec.executable {
        Some(e) => format!("{e} {command}"),
        None => command,
    };
    let mut run = format!(
        "umask 077; trap 'rm -f {copy}' EXIT\n\
         (set -C; cat > {copy}) && chmod 0700 {copy} || exit 1\n"
    );
    if let Some(d) = &spec.chdir {
        run.push_str(&format!("cd {} || exit 1\n", quote(d)));
    }
    run.push_str(&command);
    run.push('\n');
    let out = ctx.exec(&run, Some(&body))?;
    let mut o = ModuleOutcome::changed(true)
        .with("rc", out.rc)
        .with("stdout", out.stdout_str())
        .with("stderr", out.stderr_str());
    if out.rc != 0 {
        o = o.with("failed", true).with("msg", "non-zero return code");
    }
    Ok(finish(o))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{run_module, Run};
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("files/space path")).unwrap();
        std::fs::write(root.join("files/win.sh"), "#!/bin/sh\nprintf win\n").unwrap();
        std::fs::write(
            root.join("files/args.sh"),
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done; pwd >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::write(
            root.join("files/space path/t.sh"),
            "#!/bin/sh\necho spaced\n",
        )
        .unwrap();
        std::fs::write(root.join("files/noshebang"), "echo \"no shebang\"\n").unwrap();
        std::fs::write(root.join("there"), "").unwrap();
        let there = root.join("there").to_string_lossy().into_owned();
        let r = root.to_string_lossy().into_owned();
        // (args, check, changed, failed, skipped, rc, stdout, msg)
        let cases: Vec<(Value, bool, bool, bool, bool, Value, &str, String)> = vec![
            (
                json!({"_raw_params": "win.sh"}),
                false,
                true,
                false,
                false,
                json!(0),
                "win",
                String::new(),
            ),
            (
                json!({"cmd": "args.sh -this 'two words' -Ӧther", "chdir": "/tmp"}),
                false,
                true,
                true,
                false,
                json!(3),
                "-this\ntwo words\n-Ӧther\n",
                "non-zero return code".into(),
            ),
            (
                json!({"_raw_params": "'space path/t.sh'"}),
                false,
                true,
                false,
                false,
                json!(0),
                "spaced\n",
                String::new(),
            ),
            (
                json!({"_raw_params": "noshebang", "executable": "/bin/sh"}),
                false,
                true,
                false,
                false,
                json!(0),
                "no shebang\n",
                String::new(),
            ),
            (
                json!({"_raw_params": "win.sh", "creates": there}),
                false,
                false,
                false,
                true,
                Value::Null,
                "",
                format!("{there} exists, matching creates option"),
            ),
            (
                json!({"_raw_params": "win.sh", "removes": format!("{r}/nope")}),
                false,
                false,
                false,
                true,
                Value::Null,
                "",
                format!("{r}/nope does not exist, matching removes option"),
            ),
            (
                json!({"_raw_params": "win.sh"}),
                true,
                false,
                false,
                true,
                Value::Null,
                "",
                "Check mode is not supported for this task.".into(),
            ),
            (
                json!({"_raw_params": "win.sh", "removes": there}),
                true,
                true,
                false,
                false,
                Value::Null,
                "",
                String::new(),
            ),
            (
                json!({"_raw_params": "missing.sh"}),
                false,
                false,
                true,
                false,
                Value::Null,
                "",
                "Could not find or access 'missing.sh' on the Ansible Controller.".into(),
            ),
            (
                json!({}),
                false,
                false,
                true,
                false,
                Value::Null,
                "",
                "one of the following is required: _raw_params, cmd".into(),
            ),
            (
                json!({"_raw_params": "win.sh", "cmd": "win.sh"}),
                false,
                false,
                true,
                false,
                Value::Null,
                "",
                "parameters are mutually exclusive: _raw_params|cmd".into(),
            ),
            (
                json!({"_raw_params": "win.sh", "chdir": "rel"}),
                false,
                false,
                true,
                false,
                Value::Null,
                "",
                "chdir rel must be an absolute path for a Unix-aware remote node".into(),
            ),
        ];
        for (args, check, changed, failed, skipped, rc, stdout, msg) in cases {
            let run = Run {
                check,
                search_paths: vec![root.to_path_buf()],
                ..Run::default()
            };
            let (out, _) = run_module(super::run, &args, &run);
            let r = &out.result;
            assert_eq!(out.is_changed(), changed, "{args}: {r:?}");
            assert_eq!(out.is_failed(), failed, "{args}: {r:?}");
            assert_eq!(r.get("skipped").is_some(), skipped, "{args}: {r:?}");
            assert_eq!(
                r.get("rc").cloned().unwrap_or(Value::Null),
                rc,
                "{args}: {r:?}"
            );
            assert_eq!(
                r.get("stdout").and_then(Value::as_str).unwrap_or(""),
                stdout,
                "{args}: {r:?}"
            );
            assert_eq!(
                r.get("msg").and_then(Value::as_str).unwrap_or(""),
                msg,
                "{args}: {r:?}"
            );
        }
        let (out, _) = run_module(
            super::run,
            &json!({"cmd": "args.sh", "chdir": "/tmp"}),
            &Run {
                search_paths: vec![root.to_path_buf()],
                ..Run::default()
            },
        );
        assert_eq!(out.result["stderr"], json!("/tmp\n"));
        assert_eq!(out.result["stderr_lines"], json!(["/tmp"]));
        let left: Vec<_> = std::fs::read_dir("/tmp")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("berth-script."))
            .collect();
        assert!(left.is_empty(), "the copy on the host is removed: {left:?}");
    }
}
