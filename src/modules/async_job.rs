//! Background jobs on a host (`async` with `command`/`shell`), kept the way
//! Ansible keeps them: one job per id under `~/.ansible_async/<jid>`, left
//! running when the connection goes, killed (with its whole process group)
//! when it outlives its time limit, read back by `async_status`.
//!
//! Ansible's job runs a Python wrapper that writes the module's JSON result;
//! berth has no Python on the host, so the job directory holds the raw
//! command output (`out`, `err`, `rc`, `start`, `end`) and `meta.json` (the
//! module and its arguments). `async_status` rebuilds the module's result
//! from them by running the module again over a connection that answers
//! with the recorded output, so a job's result is exactly what the module
//! would have returned in the foreground.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::connection::{ConnError, Connection, ExecOutput};
use crate::modules::command::{self, NONCE_ARG};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

/// Modules whose work is one command on the host: these run as background jobs.
pub(crate) fn detachable(module: &str) -> bool {
    matches!(module, "command" | "shell")
}

/// Actions that refuse `async`, as in Ansible (action plugins without async support).
pub(crate) fn refuses_async(module: &str) -> bool {
    matches!(
        module,
        "add_host"
            | "assemble"
            | "assert"
            | "copy"
            | "debug"
            | "fail"
            | "fetch"
            | "gather_facts"
            | "group_by"
            | "include_vars"
            | "pause"
            | "raw"
            | "reboot"
            | "script"
            | "set_fact"
            | "set_stats"
            | "template"
            | "unarchive"
            | "validate_argument_spec"
            | "wait_for_connection"
            | "async_status"
    )
}

/// A new job id, Ansible's shape (`j` and digits).
pub(crate) fn new_jid() -> String {
    let b = crate::random::bytes(8);
    let n = u64::from_le_bytes(b.try_into().expect("8 bytes")) % 999_999_999_999;
    format!("j{n}")
}

/// The job's directory as the host's shell spells it.
fn job_dir(jid: &str) -> String {
    format!("\"$HOME\"/.ansible_async/{}", quote(jid))
}

/// Start `module` with `args` as job `jid` with a limit of `limit` seconds.
/// The module builds its command as usual; the command is started in the
/// background instead of run, as the task's user (`become`) with the task's
/// `environment`. Returns the job's directory (`results_file`), or the
/// module's own answer when it fails before running anything (bad
/// arguments) or the job cannot start.
pub(crate) fn launch(
    ctx: &mut ModuleContext<'_>,
    module: &str,
    args: &Map<String, Value>,
    jid: &str,
    limit: u64,
) -> Result<Result<String, ModuleOutcome>, ConnError> {
    let mut args = args.clone();
    args.insert(NONCE_ARG.into(), Value::String(jid.to_string()));
    let mut capture = Capture::default();
    let outcome = {
        let mut sub = ModuleContext {
            conn: &mut capture,
            check_mode: ctx.check_mode,
            diff_mode: ctx.diff_mode,
            escalate: None,
            environment: Vec::new(),
            templar: ctx.templar,
            vars: ctx.vars,
            search_paths: ctx.search_paths.clone(),
            inventory_hostname: ctx.inventory_hostname.clone(),
        };
        run_module(&mut sub, module, &args)?
    };
    let Some((command, stdin)) = capture.command else {
        return Ok(Err(outcome));
    };
    let meta = json!({"module": module, "args": args, "limit": limit}).to_string();
    let d = job_dir(jid);
    // The job reads its stdin from a file it unlinks once open; `timeout`
    // kills the whole process group at the limit; `rc` appears last, atomically.
    let job = "exec 0<\"$1/stdin\"; rm -f \"$1/stdin\"; date +%s.%N > \"$1/start\"; \
               timeout -s KILL \"$3\" /bin/sh -c \"$2\" > \"$1/out\" 2> \"$1/err\"; rc=$?; \
               date +%s.%N > \"$1/end\"; echo $rc > \"$1/rc.tmp\" && mv \"$1/rc.tmp\" \"$1/rc\"";
    let script = format!(
        "command -v setsid >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1 || {{ echo 'background jobs need setsid and timeout (util-linux, coreutils) on the host' >&2; exit 3; }}\n\
         umask 077; d={d}; mkdir -p \"$d\" || exit 1; cat > \"$d/stdin\" || exit 1; printf '%s' {meta} > \"$d/meta.json\" || exit 1\n\
         nohup setsid /bin/sh -c {job} job \"$d\" {cmd} {limit} </dev/null >/dev/null 2>&1 &\n\
         printf '%s' \"$d\"",
        meta = quote(&meta),
        job = quote(job),
        cmd = quote(&command),
    );
    let out = ctx.exec(&script, Some(&stdin))?;
    if out.success() {
        Ok(Ok(out.stdout_str()))
    } else {
        Ok(Err(ModuleOutcome::failed(format!(
            "could not start the background job: {}",
            out.stderr_str().trim()
        ))))
    }
}

fn run_module(
    ctx: &mut ModuleContext<'_>,
    module: &str,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    command::run_command(ctx, args, module == "shell")
}

/// Takes the module's one command instead of running it.
#[derive(Default)]
struct Capture {
    command: Option<(String, Vec<u8>)>,
}

impl Connection for Capture {
    fn exec(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        if self.command.is_some() {
            return Err(ConnError::Unreachable(
                "a background job runs one command".into(),
            ));
        }
        self.command = Some((command.to_string(), stdin.unwrap_or_default().to_vec()));
        Ok(ExecOutput::default())
    }
}

/// What `async_status` finds of a job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    Missing,
    Running,
    /// The recorded output, the module and its arguments, the limit, and the start/end times (epoch seconds).
    Done {
        out: ExecOutput,
        module: String,
        args: Map<String, Value>,
        limit: u64,
        start: f64,
        end: f64,
    },
}

/// The script that reads a job's state in one round trip: the job
/// directory's path on the first line, then the state.
pub(crate) fn status_script(jid: &str) -> String {
    format!(
        "d={d}; printf '%s\\n' \"$d\"; [ -d \"$d\" ] || {{ echo missing; exit 0; }}; [ -f \"$d/rc\" ] || {{ echo running; exit 0; }}; echo done; \
         for f in rc start end; do head -c 64 \"$d/$f\" | tr -d '\\n'; echo; done; \
         for f in meta.json out err; do base64 -w0 < \"$d/$f\"; echo; done",
        d = job_dir(jid)
    )
}

/// Parse what [`status_script`] printed: the job directory and the state.
pub(crate) fn parse_status(stdout: &str) -> Result<(String, Status), String> {
    let mut lines = stdout.lines();
    let path = lines.next().unwrap_or_default().to_string();
    parse_state(lines).map(|s| (path, s))
}

fn parse_state<'a>(mut lines: impl Iterator<Item = &'a str>) -> Result<Status, String> {
    match lines.next() {
        Some("missing") => return Ok(Status::Missing),
        Some("running") => return Ok(Status::Running),
        Some("done") => {}
        other => {
            return Err(format!(
                "unexpected answer from the job directory: {other:?}"
            ))
        }
    }
    let mut next = || lines.next().unwrap_or("").trim().to_string();
    let rc: i32 = next()
        .parse()
        .map_err(|_| "the job's exit code is unreadable".to_string())?;
    let start: f64 = next().parse().unwrap_or(0.0);
    let end: f64 = next().parse().unwrap_or(start);
    let b64 = |s: String| {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|e| format!("the job's files are unreadable: {e}"))
    };
    let meta: Value = serde_json::from_slice(&b64(next())?)
        .map_err(|e| format!("the job's meta.json is unreadable: {e}"))?;
    let stdout = b64(next())?;
    let stderr = b64(next())?;
    let module = meta["module"].as_str().unwrap_or("command").to_string();
    let args = meta["args"].as_object().cloned().unwrap_or_default();
    let limit = meta["limit"].as_u64().unwrap_or(0);
    Ok(Status::Done {
        out: ExecOutput {
            rc,
            stdout,
            stderr,
            signal: None,
        },
        module,
        args,
        limit,
        start,
        end,
    })
}

/// The result `async_status` returns for a job (without `ansible_job_id`
/// and `results_file`, which the caller adds).
pub(crate) fn result_of(
    ctx: &mut ModuleContext<'_>,
    status: Status,
) -> Result<ModuleOutcome, ConnError> {
    match status {
        Status::Missing => Ok(ModuleOutcome::failed("could not find job")
            .with("started", true)
            .with("finished", true)),
        Status::Running => Ok(ModuleOutcome::ok()
            .with("started", true)
            .with("finished", false)),
        Status::Done {
            out,
            module,
            args,
            limit,
            start,
            end,
        } => {
            if out.rc == 137 && limit > 0 && end - start >= limit as f64 - 0.5 {
                return Ok(ModuleOutcome::failed(format!(
                    "Job reached maximum time limit of {limit} seconds."
                ))
                .with("started", true)
                .with("finished", true)
                .with("child_pid", Value::Null));
            }
            let mut replay = Replay { out: Some(out) };
            let mut sub = ModuleContext {
                conn: &mut replay,
                check_mode: false,
                diff_mode: false,
                escalate: None,
                environment: Vec::new(),
                templar: ctx.templar,
                vars: ctx.vars,
                search_paths: ctx.search_paths.clone(),
                inventory_hostname: ctx.inventory_hostname.clone(),
            };
            let mut outcome = run_module(&mut sub, &module, &args)?;
            let r = &mut outcome.result;
            if r.get("start").is_some_and(|v| !v.is_null()) {
                let at =
                    |t: f64| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
                r.insert("start".into(), command::format_time(at(start)).into());
                r.insert("end".into(), command::format_time(at(end)).into());
                r.insert(
                    "delta".into(),
                    command::format_delta(std::time::Duration::from_secs_f64(
                        (end - start).max(0.0),
                    ))
                    .into(),
                );
            }
            r.insert("started".into(), Value::Bool(true));
            r.insert("finished".into(), Value::Bool(true));
            Ok(outcome)
        }
    }
}

/// Remove a job's directory; prints its path.
pub(crate) fn cleanup_script(jid: &str) -> String {
    format!("d={}; rm -rf \"$d\"; printf '%s' \"$d\"", job_dir(jid))
}

/// Answers the module's one command with the recorded output.
struct Replay {
    out: Option<ExecOutput>,
}

impl Connection for Replay {
    fn exec(&mut self, _command: &str, _stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        self.out
            .take()
            .ok_or_else(|| ConnError::Unreachable("a background job's result is read once".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::local::LocalConnection;
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;

    fn with_ctx<T>(home: &std::path::Path, f: impl FnOnce(&mut ModuleContext<'_>) -> T) -> T {
        let mut conn = LocalConnection::new();
        let templar = Templar::new();
        let vars = Templar::context(&Map::new());
        let mut ctx = ModuleContext {
            conn: &mut conn,
            check_mode: false,
            diff_mode: false,
            escalate: None,
            environment: vec![("HOME".into(), home.to_string_lossy().into_owned())],
            templar: &templar,
            vars: &vars,
            search_paths: Vec::new(),
            inventory_hostname: "testhost".into(),
        };
        f(&mut ctx)
    }

    fn status(ctx: &mut ModuleContext<'_>, jid: &str) -> Status {
        let out = ctx.exec(&status_script(jid), None).unwrap();
        let (path, st) = parse_status(&out.stdout_str()).unwrap();
        assert!(path.ends_with(&format!("/.ansible_async/{jid}")), "{path}");
        st
    }

    fn wait_done(ctx: &mut ModuleContext<'_>, jid: &str) -> Status {
        for _ in 0..100 {
            let s = status(ctx, jid);
            if matches!(s, Status::Done { .. }) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("job {jid} never finished");
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_job_runs_in_the_background_and_reads_back_as_the_module_would_answer() {
        let home = tempfile::tempdir().unwrap();
        with_ctx(home.path(), |ctx| {
            let jid = new_jid();
            assert!(
                jid.starts_with('j') && jid[1..].chars().all(|c| c.is_ascii_digit()),
                "{jid}"
            );
            let a = args(
                json!({"_raw_params": "sleep 0.3; echo out; echo err >&2; read x; echo got:$x; exit 3", "stdin": "v"}),
            );
            let t = std::time::Instant::now();
            let dir = launch(ctx, "shell", &a, &jid, 30).unwrap().unwrap();
            assert_eq!(
                dir,
                home.path()
                    .join(".ansible_async")
                    .join(&jid)
                    .to_string_lossy()
            );
            assert!(t.elapsed().as_millis() < 250, "launch waits for nothing");
            assert_eq!(status(ctx, &jid), Status::Running);
            let done = wait_done(ctx, &jid);
            let r = result_of(ctx, done).unwrap().result;
            assert_eq!(r["rc"], json!(3));
            assert_eq!(r["stdout"], json!("out\ngot:v"));
            assert_eq!(r["stderr"], json!("err"));
            assert_eq!(r["stdout_lines"], json!(["out", "got:v"]));
            assert_eq!(r["failed"], json!(true));
            assert_eq!(r["msg"], json!("non-zero return code"));
            assert_eq!(
                (r["started"].clone(), r["finished"].clone()),
                (json!(true), json!(true))
            );
            let delta = r["delta"].as_str().unwrap();
            assert!(
                delta.starts_with("0:00:00.") && delta > "0:00:00.25",
                "{delta}"
            );
            assert!(
                !home
                    .path()
                    .join(".ansible_async")
                    .join(&jid)
                    .join("stdin")
                    .exists(),
                "stdin is unlinked"
            );
            ctx.exec(&cleanup_script(&jid), None).unwrap();
            assert_eq!(status(ctx, &jid), Status::Missing);
            assert_eq!(
                result_of(ctx, Status::Missing).unwrap().result["msg"],
                json!("could not find job")
            );
        });
    }

    #[test]
    fn creates_and_argument_errors_read_back_like_the_foreground() {
        let home = tempfile::tempdir().unwrap();
        let marker = home.path().join("there");
        std::fs::write(&marker, "").unwrap();
        with_ctx(home.path(), |ctx| {
            let jid = new_jid();
            let a = args(json!({"_raw_params": "echo ran", "creates": marker.to_string_lossy()}));
            launch(ctx, "command", &a, &jid, 30).unwrap().unwrap();
            let done = wait_done(ctx, &jid);
            let r = result_of(ctx, done).unwrap().result;
            assert_eq!(r["changed"], json!(false), "{r:?}");
            assert_eq!(
                r["msg"],
                json!(format!(
                    "Did not run command since '{}' exists",
                    marker.display()
                ))
            );
            let bad = launch(
                ctx,
                "command",
                &args(json!({"argv": ["a"], "cmd": "b"})),
                &new_jid(),
                30,
            )
            .unwrap()
            .unwrap_err();
            assert_eq!(
                bad.result["msg"],
                json!("parameters are mutually exclusive: _raw_params|cmd|argv")
            );
        });
    }

    #[test]
    fn a_job_past_its_limit_is_killed_with_its_children() {
        let home = tempfile::tempdir().unwrap();
        let flag = home.path().join("late");
        with_ctx(home.path(), |ctx| {
            let jid = new_jid();
            let a = args(
                json!({"_raw_params": format!("(sleep 3; touch {}) & sleep 5", flag.display())}),
            );
            launch(ctx, "shell", &a, &jid, 1).unwrap().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1300));
            let done = wait_done(ctx, &jid);
            let r = result_of(ctx, done).unwrap().result;
            assert_eq!(
                r["msg"],
                json!("Job reached maximum time limit of 1 seconds."),
                "{r:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(2200));
            assert!(!flag.exists(), "the job's children were killed too");
        });
    }
}
