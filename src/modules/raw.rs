//! `raw`: send the string to the host as is (no module machinery, no
//! `environment:`), through `executable` when given.

use serde_json::{Map, Value};

use super::args::Args;
use super::{command, quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("raw", args);
    let parsed = (|| -> Result<_, String> {
        a.check_known(&["_raw_params", "executable"])?;
        let raw = a
            .str("_raw_params")?
            .filter(|s| !s.trim().is_empty())
            .ok_or("no command given")?;
        Ok((raw, a.str("executable")?))
    })();
    let (raw, executable) = match parsed {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    if ctx.check_mode {
        // Ansible never runs raw in check mode.
        return Ok(ModuleOutcome::ok().with("skipped", true));
    }
    let script = match executable {
        Some(exe) => format!("{} -c {}", quote(&exe), quote(&raw)),
        None => raw,
    };
    // raw ignores `environment:` like Ansible's raw does.
    let env = std::mem::take(&mut ctx.environment);
    let out = ctx.exec(&script, None);
    ctx.environment = env;
    let out = out?;
    let mut o = ModuleOutcome::changed(true)
        .with("rc", out.rc)
        .with("stdout", out.stdout_str())
        .with("stderr", out.stderr_str());
    if out.rc != 0 {
        o = o.with("failed", true).with("msg", "non-zero return code");
    }
    Ok(command::finish(o))
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
        // (args, check, changed, failed, rc, stdout, skipped)
        let cases: Vec<(Value, bool, bool, bool, &str, &str, bool)> = vec![
            (
                json!({"_raw_params": "echo hi; echo there"}),
                false,
                true,
                false,
                "0",
                "hi\nthere\n",
                false,
            ),
            (
                json!({"_raw_params": "echo $0", "executable": "/bin/bash"}),
                false,
                true,
                false,
                "0",
                "/bin/bash\n",
                false,
            ),
            (
                json!({"_raw_params": "exit 7"}),
                false,
                true,
                true,
                "7",
                "",
                false,
            ),
            // environment: is not exported for raw
            (
                json!({"_raw_params": "echo \"[$BERTH_RAW]\""}),
                false,
                true,
                false,
                "0",
                "[]\n",
                false,
            ),
            (
                json!({"_raw_params": "touch /nonexistent"}),
                true,
                false,
                false,
                "",
                "",
                true,
            ),
        ];
        for (args, check, changed, failed, rc, stdout, skipped) in cases {
            let mut h = SysHarness::new();
            h.check_mode = check;
            h.extra_env.push(("BERTH_RAW".into(), "set".into()));
            let out = h.run(run, args.clone());
            assert_eq!(
                (
                    out.is_changed(),
                    out.is_failed(),
                    s(&out, "rc"),
                    s(&out, "stdout"),
                    out.result.contains_key("skipped")
                ),
                (changed, failed, rc.to_string(), stdout.to_string(), skipped),
                "{args}"
            );
        }
    }
}
