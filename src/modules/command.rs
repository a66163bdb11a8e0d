//! `command`: run a program without a shell (arguments quoted one by one).
//! Also the engine behind `shell` (same options, through `/bin/sh -c`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::args::Args;
use super::{quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

const KNOWN: &[&str] = &[
    "_raw_params",
    "cmd",
    "argv",
    "chdir",
    "creates",
    "removes",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "expand_argument_vars",
    "executable",
];
const SHELL_KNOWN: &[&str] = &[
    "_raw_params",
    "cmd",
    "chdir",
    "creates",
    "removes",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "executable",
];

/// berth's own argument (names starting with `_` are never user parameters):
/// the marker nonce, fixed by a background job (async) so that its output
/// can be read back by the same markers later.
pub(crate) const NONCE_ARG: &str = "_berth_nonce";

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    run_command(ctx, args, false)
}

/// What to run: an argv (command) or a script for a shell.
enum Program {
    Argv(Vec<String>),
    Shell { script: String, executable: String },
}

pub(crate) fn run_command(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
    shell: bool,
) -> Result<ModuleOutcome, ConnError> {
    let mut out = run_program(ctx, args, shell)?;
    if let (false, Some(e)) = (
        shell,
        args.get("executable")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty()),
    ) {
        let w = format!("As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '{e}'.");
        out.result
            .insert("warnings".into(), Value::Array(vec![Value::String(w)]));
    }
    Ok(out)
}

fn run_program(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
    shell: bool,
) -> Result<ModuleOutcome, ConnError> {
    let name = if shell { "shell" } else { "command" };
    if shell && args.contains_key("expand_argument_vars") {
        // Ansible's shell action refuses it in these words (no list).
        return Ok(ModuleOutcome::failed(
            "Unsupported parameters for (shell) module: expand_argument_vars",
        ));
    }
    let a = Args::new(name, args);
    let parsed = (|| -> Result<_, String> {
        a.check_known(if shell { SHELL_KNOWN } else { KNOWN })?;
        let raw = a
            .str("_raw_params")?
            .or(a.str("cmd")?)
            .filter(|s| !s.trim().is_empty());
        let argv = if shell { Vec::new() } else { a.list("argv")? };
        let program = if shell {
            let script = raw.ok_or("one of the following is required: _raw_params, cmd, argv")?;
            Program::Shell {
                script,
                executable: a.str("executable")?.unwrap_or_else(|| "/bin/sh".into()),
            }
        } else {
            match (raw, argv.is_empty()) {
                (Some(_), false) => {
                    return Err("parameters are mutually exclusive: _raw_params|cmd|argv".into())
                }
                (Some(r), true) => Program::Argv(
                    shell_words::split(&r)
                        .map_err(|e| format!("cannot split command line {r:?}: {e}"))?,
                ),
                (None, false) => Program::Argv(argv),
                (None, true) => {
                    return Err("one of the following is required: _raw_params, cmd, argv".into())
                }
            }
        };
        if let Program::Argv(v) = &program {
            if v.is_empty() {
                return Err("no command given".into());
            }
        }
        Ok((
            program,
            a.str("chdir")?,
            a.str("creates")?,
            a.str("removes")?,
            a.str("stdin")?,
            a.bool("stdin_add_newline", true)?,
            a.bool("strip_empty_ends", true)?,
            !shell && a.bool("expand_argument_vars", true)?,
        ))
    })();
    let (program, chdir, creates, removes, stdin, add_newline, strip, expand) = match parsed {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    let cmd_value = match &program {
        Program::Argv(v) => Value::Array(v.iter().cloned().map(Value::String).collect()),
        Program::Shell { script, .. } => Value::String(script.clone()),
    };

    let shoulda = if ctx.check_mode { "Would" } else { "Did" };
    let nonce = match args.get(NONCE_ARG).and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => format!(
            "{:x}{:x}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
        ),
    };
    let skip_mark = format!("__berth_skip_{nonce}__");
    let err_mark = format!("__berth_error_{nonce}__");

    // One script: change directory, test creates/removes, then run.
    let mut script = String::new();
    if let Some(dir) = &chdir {
        script.push_str(&format!(
            "cd -P -- {d} 2>/dev/null || {{ printf '%s' {m}chdir >&2; exit 1; }}\n",
            d = quote(dir),
            m = quote(&err_mark)
        ));
    }
    if let Some(pattern) = &creates {
        script.push_str(&format!(
            "for __f in {g}; do if [ -e \"$__f\" ] || [ -L \"$__f\" ]; then printf '%s' {m}creates; exit 0; fi; break; done\n",
            g = glob_word(pattern),
            m = quote(&skip_mark)
        ));
    }
    if let Some(pattern) = &removes {
        script.push_str(&format!(
            "__found=; for __f in {g}; do if [ -e \"$__f\" ] || [ -L \"$__f\" ]; then __found=1; fi; break; done\n[ -n \"$__found\" ] || {{ printf '%s' {m}removes; exit 0; }}\n",
            g = glob_word(pattern),
            m = quote(&skip_mark)
        ));
    }
    let needs_probe = chdir.is_some() || creates.is_some() || removes.is_some();
    if ctx.check_mode {
        // Only the probe runs in check mode, never the command.
        script.push_str(&format!(
            "printf '%s' {}",
            quote(&format!("{skip_mark}run"))
        ));
    } else {
        match &program {
            Program::Argv(argv) => {
                script.push_str(&format!(
                    "command -v -- {p} >/dev/null 2>&1 || {{ printf '%s' {m}enoent >&2; exit 2; }}\nexec",
                    p = quote(&argv[0]),
                    m = quote(&err_mark)
                ));
                for word in argv {
                    script.push(' ');
                    script.push_str(&if expand {
                        expanding_word(word)
                    } else {
                        quote(word)
                    });
                }
            }
            Program::Shell {
                script: body,
                executable,
            } => {
                script.push_str(&format!(
                    "command -v -- {e} >/dev/null 2>&1 || {{ printf '%s' {m}enoent >&2; exit 2; }}\nexec {e} -c {b}",
                    e = quote(executable),
                    m = quote(&err_mark),
                    b = quote(body)
                ));
            }
        }
    }

    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("cmd".into(), cmd_value);

    if ctx.check_mode && !needs_probe {
        return Ok(finish(skipped_in_check(result, false)));
    }

    let input = stdin.map(|s| {
        let mut b = s.into_bytes();
        if add_newline {
            b.push(b'\n');
        }
        b
    });
    let start = SystemTime::now();
    let out = ctx.exec(&script, input.as_deref())?;
    let end = SystemTime::now();
    let stdout = out.stdout_str();
    let stderr = out.stderr_str();

    if let Some(what) = stderr.strip_prefix(&err_mark) {
        // Ansible (core 2.19) words: a short msg, the cause in `exception`.
        let (msg, rc, detail) = match what {
            "chdir" => (
                "Unable to change directory before execution.",
                Value::Null,
                format!(
                    "[Errno 2] No such file or directory: '{}'",
                    chdir.unwrap_or_default()
                ),
            ),
            _ => {
                let prog = match &program {
                    Program::Argv(v) => v[0].clone(),
                    Program::Shell { executable, .. } => executable.clone(),
                };
                (
                    "Error executing command.",
                    Value::from(2),
                    format!("[Errno 2] No such file or directory: b'{prog}'"),
                )
            }
        };
        let mut o = ModuleOutcome::failed(msg);
        for (k, v) in [
            ("cmd", result["cmd"].clone()),
            ("rc", rc),
            ("stdout", "".into()),
            ("stderr", "".into()),
            ("exception", detail.into()),
        ] {
            o.result.insert(k.into(), v);
        }
        if what == "chdir" {
            for k in ["start", "end", "delta"] {
                o.result.insert(k.into(), Value::Null);
            }
        }
        return Ok(finish(o));
    }
    if let Some(what) = stdout.strip_prefix(&skip_mark) {
        match what {
            "creates" | "removes" => {
                let (pattern, tail) = if what == "creates" {
                    (creates.unwrap_or_default(), "exists")
                } else {
                    (removes.unwrap_or_default(), "does not exist")
                };
                result.insert(
                    "msg".into(),
                    format!("{shoulda} not run command since '{pattern}' {tail}").into(),
                );
                result.insert(
                    "stdout".into(),
                    format!("skipped, since {pattern} {tail}").into(),
                );
                result.insert("stderr".into(), "".into());
                result.insert("rc".into(), 0.into());
                for k in ["start", "end", "delta"] {
                    result.insert(k.into(), Value::Null);
                }
                return Ok(finish(ModuleOutcome {
                    result,
                    diffs: Vec::new(),
                }));
            }
            _ => {
                // Check mode and the probe says the command would run.
                return Ok(finish(skipped_in_check(result, true)));
            }
        }
    }

    let (stdout, stderr) = if strip {
        (
            stdout.trim_end_matches(['\r', '\n']).to_string(),
            stderr.trim_end_matches(['\r', '\n']).to_string(),
        )
    } else {
        (stdout, stderr)
    };
    result.insert("changed".into(), Value::Bool(true));
    result.insert("rc".into(), out.rc.into());
    result.insert("stdout".into(), stdout.into());
    result.insert("stderr".into(), stderr.into());
    result.insert("start".into(), format_time(start).into());
    result.insert("end".into(), format_time(end).into());
    result.insert(
        "delta".into(),
        format_delta(end.duration_since(start).unwrap_or_default()).into(),
    );
    if out.rc != 0 {
        result.insert("failed".into(), Value::Bool(true));
        result.insert("msg".into(), "non-zero return code".into());
    } else {
        result.insert("msg".into(), "".into());
    }
    Ok(finish(ModuleOutcome {
        result,
        diffs: Vec::new(),
    }))
}

/// Ansible's check-mode answer: the command is not run. With creates/removes
/// it reports `changed` (the command would run); without them `skipped`.
fn skipped_in_check(mut result: Map<String, Value>, had_probe: bool) -> ModuleOutcome {
    result.insert("rc".into(), 0.into());
    result.insert("stdout".into(), "".into());
    result.insert("stderr".into(), "".into());
    result.insert(
        "msg".into(),
        "Command would have run if not in check mode".into(),
    );
    if had_probe {
        result.insert("changed".into(), Value::Bool(true));
    } else {
        result.insert("changed".into(), Value::Bool(false));
        result.insert("skipped".into(), Value::Bool(true));
    }
    for k in ["start", "end", "delta"] {
        result.insert(k.into(), Value::Null);
    }
    ModuleOutcome {
        result,
        diffs: Vec::new(),
    }
}

/// Add `stdout_lines`/`stderr_lines` like Ansible's action layer does.
pub(crate) fn finish(mut out: ModuleOutcome) -> ModuleOutcome {
    for (k, lines) in [("stdout", "stdout_lines"), ("stderr", "stderr_lines")] {
        if let Some(Value::String(s)) = out.result.get(k) {
            let v: Vec<Value> = s.lines().map(|l| Value::String(l.to_string())).collect();
            out.result.insert(lines.into(), Value::Array(v));
        }
    }
    out
}

/// One argument as a shell word that expands `$NAME`, `${NAME}` and a
/// leading `~`/`~user` on the host like Python's `expandvars`/`expanduser`
/// (an unset variable stays as written); everything else is literal.
pub(crate) fn expanding_word(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    if let Some(after) = word.strip_prefix('~') {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        if user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            out.push('~');
            out.push_str(user);
            rest = &after[end..];
        }
    }
    let var = regex::Regex::new(r"\$(?:([A-Za-z0-9_]+)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
        .expect("valid regex");
    let mut last = 0;
    for cap in var.captures_iter(rest) {
        let m = cap.get(0).expect("whole match");
        if m.start() > last {
            out.push_str(&quote(&rest[last..m.start()]));
        }
        let name = cap.get(1).or_else(|| cap.get(2)).expect("a name").as_str();
        if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            // Positional parameters are not environment variables.
            out.push_str(&quote(m.as_str()));
        } else {
            let literal = m.as_str().replace('$', "\\$").replace('}', "\\}");
            out.push_str(&format!("\"${{{name}-{literal}}}\""));
        }
        last = m.end();
    }
    if last < rest.len() || out.is_empty() {
        out.push_str(&quote(&rest[last..]));
    }
    out
}

/// A glob pattern as one shell word: literal runs quoted, `* ? [ ]` left to the shell.
pub(crate) fn glob_word(pattern: &str) -> String {
    let mut out = String::new();
    let mut lit = String::new();
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            if !lit.is_empty() {
                out.push_str(&quote(&lit));
                lit.clear();
            }
            out.push(c);
        } else {
            lit.push(c);
        }
    }
    if !lit.is_empty() {
        out.push_str(&quote(&lit));
    }
    out
}

/// `2024-05-01 12:00:00.123456` in local time, like Python's `str(datetime.now())`.
pub(crate) fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes into the tm we own and reads only `secs`.
    unsafe {
        libc::localtime_r(&secs, &mut tm);
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros()
    )
}

/// `0:00:01.234567`, like Python's `str(timedelta)`.
pub(crate) fn format_delta(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys_test_support::{s, SysHarness};
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    #[allow(clippy::type_complexity)]
    fn fixture_table() {
        let h0 = SysHarness::new();
        let dir = h0.path().to_string_lossy().to_string();
        std::fs::write(h0.path().join("here.txt"), "x").unwrap();
        // (args, check_mode, changed, failed, rc, stdout, msg)
        let cases: Vec<(Value, bool, bool, bool, &str, String, String)> = vec![
            (json!({"_raw_params": "echo hello world"}), false, true, false, "0", "hello world".into(), "".into()),
            (json!({"argv": ["printf", "%s|", "a b", "$HOME"], "expand_argument_vars": false}), false, true, false, "0", "a b|$HOME|".into(), "".into()),
            (json!({"argv": ["printf", "%s|", "$BERTH_X/${BERTH_X}", "$BERTH_UNSET", "${BERTH_UNSET}", "~/f", "'$1'"]}), false, true, false, "0",
                format!("x y/x y|$BERTH_UNSET|${{BERTH_UNSET}}|{}/f|'$1'|", std::env::var("HOME").unwrap_or_default()), "".into()),
            // no shell: the pipe is an argument to echo
            (json!({"cmd": "echo a | wc"}), false, true, false, "0", "a | wc".into(), "".into()),
            (json!({"_raw_params": "ls here.txt", "chdir": dir}), false, true, false, "0", "here.txt".into(), "".into()),
            (json!({"_raw_params": "false"}), false, true, true, "1", "".into(), "non-zero return code".into()),
            (json!({"_raw_params": "cat", "stdin": "in put"}), false, true, false, "0", "in put".into(), "".into()),
            (json!({"_raw_params": "echo x", "creates": format!("{dir}/here.*")}), false, false, false, "0",
                format!("skipped, since {dir}/here.* exists"), format!("Did not run command since '{dir}/here.*' exists")),
            (json!({"_raw_params": "echo x", "removes": format!("{dir}/gone")}), false, false, false, "0",
                format!("skipped, since {dir}/gone does not exist"), format!("Did not run command since '{dir}/gone' does not exist")),
            (json!({"_raw_params": "echo ran", "removes": format!("{dir}/here.txt")}), false, true, false, "0", "ran".into(), "".into()),
            (json!({"_raw_params": "echo x", "creates": format!("{dir}/here.txt")}), true, false, false, "0",
                format!("skipped, since {dir}/here.txt exists"), format!("Would not run command since '{dir}/here.txt' exists")),
            (json!({"_raw_params": "touch nope", "creates": "/nonexistent/berth"}), true, true, false, "0", "".into(),
                "Command would have run if not in check mode".into()),
            (json!({"_raw_params": "berth-no-such-program x"}), false, false, true, "2", "".into(), "Error executing command.".into()),
            (json!({"_raw_params": "true", "chdir": "/nonexistent/berth"}), false, false, true, "null", "".into(),
                "Unable to change directory before execution.".into()),
            (json!({"_raw_params": "true", "bogus": 1}), false, false, true, "", "".into(),
                "Unsupported parameters for (command) module: bogus. Supported parameters include: _raw_params, argv, chdir, cmd, creates, executable, expand_argument_vars, removes, stdin, stdin_add_newline, strip_empty_ends.".into()),
            // `executable` is accepted and ignored with a warning (checked below), as Ansible does.
            (json!({"_raw_params": "ls /dev/null", "executable": "/bogus"}), false, true, false, "0", "/dev/null".into(), "".into()),
            (json!({"chdir": "/"}), false, false, true, "", "".into(), "one of the following is required: _raw_params, cmd, argv".into()),
            // `warn` is gone from Ansible (2.14+) and fails there too.
            (json!({"_raw_params": "true", "warn": false}), false, false, true, "", "".into(),
                "Unsupported parameters for (command) module: warn. Supported parameters include: _raw_params, argv, chdir, cmd, creates, executable, expand_argument_vars, removes, stdin, stdin_add_newline, strip_empty_ends.".into()),
        ];
        for (args, check, changed, failed, rc, stdout, msg) in cases {
            let mut h = SysHarness::new();
            h.check_mode = check;
            h.extra_env.push(("BERTH_X".into(), "x y".into()));
            let out = h.run(run, args.clone());
            assert_eq!(
                (
                    out.is_changed(),
                    out.is_failed(),
                    s(&out, "rc"),
                    s(&out, "stdout"),
                    s(&out, "msg")
                ),
                (changed, failed, rc.to_string(), stdout, msg),
                "{args}"
            );
            let warned = out.result.get("warnings").cloned();
            if args.get("executable").is_some() {
                assert_eq!(warned, Some(json!(["As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '/bogus'."])));
            } else {
                assert_eq!(warned, None, "{args}");
            }
        }
    }

    /// Whole results compared with what ansible-core 2.19 returns for the
    /// same tasks (timestamps aside).
    #[test]
    fn results_match_ansible() {
        let mut h = SysHarness::new();
        let out = h.run(
            run,
            json!({"_raw_params": "echo hi", "creates": "/etc/passwd"}),
        );
        assert_eq!(
            Value::Object(out.result),
            json!({"changed": false, "cmd": ["echo", "hi"], "delta": null, "end": null,
                "msg": "Did not run command since '/etc/passwd' exists", "rc": 0, "start": null, "stderr": "",
                "stderr_lines": [], "stdout": "skipped, since /etc/passwd exists",
                "stdout_lines": ["skipped, since /etc/passwd exists"]})
        );
        let out = h.run(run, json!({"_raw_params": "true", "chdir": "/nonexistent"}));
        let mut r = out.result;
        assert_eq!(
            r.remove("exception"),
            Some(json!("[Errno 2] No such file or directory: '/nonexistent'"))
        );
        assert_eq!(
            Value::Object(r),
            json!({"changed": false, "cmd": ["true"], "delta": null, "end": null, "failed": true,
                "msg": "Unable to change directory before execution.", "rc": null, "start": null, "stderr": "",
                "stderr_lines": [], "stdout": "", "stdout_lines": []})
        );
        h.check_mode = true;
        let out = h.run(run, json!({"_raw_params": "echo hi"}));
        assert_eq!(
            Value::Object(out.result),
            json!({"changed": false, "cmd": ["echo", "hi"], "delta": null, "end": null,
                "msg": "Command would have run if not in check mode", "rc": 0, "skipped": true, "start": null,
                "stderr": "", "stderr_lines": [], "stdout": "", "stdout_lines": []})
        );
        let out = h.run(
            run,
            json!({"_raw_params": "echo hi", "removes": "/etc/passwd"}),
        );
        assert_eq!(
            Value::Object(out.result),
            json!({"changed": true, "cmd": ["echo", "hi"], "delta": null, "end": null,
                "msg": "Command would have run if not in check mode", "rc": 0, "start": null,
                "stderr": "", "stderr_lines": [], "stdout": "", "stdout_lines": []})
        );
    }

    #[test]
    fn check_mode_without_creates_is_skipped_and_runs_nothing() {
        let mut h = SysHarness::new();
        h.check_mode = true;
        let marker = h.path().join("ran");
        let out = h.run(run, json!({"argv": ["touch", marker.to_string_lossy()]}));
        assert_eq!(out.result.get("skipped"), Some(&json!(true)));
        assert!(!out.is_changed());
        assert!(!marker.exists());
    }

    #[test]
    fn return_values_have_ansible_shapes() {
        let mut h = SysHarness::new();
        let out = h.run(
            run,
            json!({"_raw_params": "printf 'a\\n\\nb\\n\\n'", "strip_empty_ends": false}),
        );
        assert_eq!(s(&out, "stdout"), "a\n\nb\n\n");
        assert_eq!(out.result["stdout_lines"], json!(["a", "", "b", ""]));
        assert_eq!(out.result["cmd"], json!(["printf", "a\\n\\nb\\n\\n"]));
        let time = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$").unwrap();
        assert!(time.is_match(&s(&out, "start")), "{}", s(&out, "start"));
        assert!(time.is_match(&s(&out, "end")));
        assert!(
            regex::Regex::new(r"^0:00:0\d\.\d{6}$")
                .unwrap()
                .is_match(&s(&out, "delta")),
            "{}",
            s(&out, "delta")
        );
        let out = h.run(run, json!({"_raw_params": "sh -c 'echo e >&2; exit 3'"}));
        assert_eq!((s(&out, "rc"), s(&out, "stderr")), ("3".into(), "e".into()));
        assert_eq!(out.result["stderr_lines"], json!(["e"]));
        assert_eq!(
            format_delta(Duration::from_micros(3_723_000_042)),
            "1:02:03.000042"
        );
    }

    #[test]
    fn environment_is_exported_and_stdin_newline_optional() {
        let mut h = SysHarness::new();
        h.extra_env.push(("BERTH_T".into(), "v a'l".into()));
        let out = h.run(run, json!({"argv": ["sh", "-c", "printf %s \"$BERTH_T\""]}));
        assert_eq!(s(&out, "stdout"), "v a'l");
        let out = h.run(run, json!({"argv": ["od", "-c"], "stdin": "z", "stdin_add_newline": false, "strip_empty_ends": true}));
        assert!(!s(&out, "stdout").contains("\\n"), "{}", s(&out, "stdout"));
    }
}
