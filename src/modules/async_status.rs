//! `async_status`: the state of a background job started with `async`
//! (`jid`), or `mode: cleanup` to remove its record. A finished job's
//! result is the module's own result, plus `started`, `finished`,
//! `ansible_job_id` and `results_file`, as Ansible's.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::async_job;
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &["jid", "mode", "_async_dir"];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("async_status", args);
    let parsed = (|| -> Result<(String, String), String> {
        a.check_known(KNOWN)?;
        if a.get("_async_dir").is_some() {
            return Err("_async_dir is not supported: berth keeps jobs in ~/.ansible_async".into());
        }
        Ok((
            a.required_str("jid")?,
            a.choice("mode", &["status", "cleanup"], Some("status"))?
                .unwrap_or_default(),
        ))
    })();
    let (jid, mode) = match parsed {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    status(ctx, &jid, &mode)
}

/// One `async_status` call (also the runner's poll of a task with `poll` > 0).
pub(crate) fn status(
    ctx: &mut ModuleContext<'_>,
    jid: &str,
    mode: &str,
) -> Result<ModuleOutcome, ConnError> {
    let base = |o: ModuleOutcome| {
        let mut o = o;
        for (k, v) in [
            ("stdout", Value::from("")),
            ("stderr", Value::from("")),
            ("stdout_lines", Value::Array(Vec::new())),
            ("stderr_lines", Value::Array(Vec::new())),
        ] {
            o.result.entry(k).or_insert(v);
        }
        o.with("ansible_job_id", jid)
    };
    if mode == "cleanup" {
        let out = ctx.exec(&async_job::cleanup_script(jid), None)?;
        return Ok(base(
            ModuleOutcome::ok()
                .with("erased", out.stdout_str())
                .with("started", false)
                .with("finished", false),
        ));
    }
    let out = ctx.exec(&async_job::status_script(jid), None)?;
    let (path, state) = match async_job::parse_status(&out.stdout_str()) {
        Ok(p) => p,
        Err(msg) => return Ok(base(ModuleOutcome::failed(msg))),
    };
    let outcome = async_job::result_of(ctx, state)?;
    Ok(base(outcome.with("results_file", path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys_test_support::SysHarness;
    use serde_json::json;

    #[test]
    fn unknown_jobs_bad_arguments_and_cleanup() {
        let mut h = SysHarness::new();
        let home = h.path().to_string_lossy().into_owned();
        h.extra_env.push(("HOME".into(), home));
        let out = h.run(run, json!({"jid": "j1"}));
        assert_eq!(out.result["msg"], json!("could not find job"));
        assert_eq!(out.result["ansible_job_id"], json!("j1"));
        assert!(
            out.result["results_file"]
                .as_str()
                .unwrap()
                .ends_with("/.ansible_async/j1"),
            "{out:?}"
        );
        let out = h.run(run, json!({}));
        assert_eq!(out.result["msg"], json!("missing required arguments: jid"));
        let out = h.run(run, json!({"jid": "j1", "mode": "wipe"}));
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .starts_with("value of mode must be one of: status, cleanup"),
            "{out:?}"
        );
        let out = h.run(run, json!({"jid": "j1", "mode": "cleanup"}));
        assert!(
            !out.is_failed()
                && out.result["erased"]
                    .as_str()
                    .unwrap()
                    .ends_with("/.ansible_async/j1"),
            "{out:?}"
        );
    }
}
