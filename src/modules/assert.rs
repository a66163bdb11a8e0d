//! `assert`: evaluate bare conditionals; fail on the first false one.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::{ModuleContext, ModuleOutcome};

fn message(a: &Args<'_>, keys: &[&str]) -> Result<Option<Value>, String> {
    for key in keys {
        match a.get(key) {
            None => continue,
            Some(v @ Value::String(_)) => return Ok(Some(v.clone())),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                return Ok(Some(Value::Array(items.clone())))
            }
            Some(other) => {
                return Err(format!(
                    "Incorrect type for {key}, expected a string or list and got {}",
                    crate::modules::args::type_name(other)
                ))
            }
        }
    }
    Ok(None)
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("assert", args);
    if let Err(e) = a.check_known(&["that", "fail_msg", "msg", "success_msg", "quiet"]) {
        return Ok(ModuleOutcome::failed(e));
    }
    let that: Vec<String> = match a.get("that") {
        None => return Ok(ModuleOutcome::failed("missing required arguments: that")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => vec![other.to_string()],
    };
    let fail_msg = match message(&a, &["fail_msg", "msg"]) {
        Ok(m) => m,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let success_msg = match message(&a, &["success_msg"]) {
        Ok(m) => m,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let quiet = match a.bool("quiet", false) {
        Ok(q) => q,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    for cond in &that {
        let ok = match ctx.templar.eval_bool(cond, ctx.vars) {
            Ok(b) => b,
            Err(e) => {
                return Ok(ModuleOutcome::failed(format!(
                    "The conditional check '{cond}' failed. The error was: {e}"
                ))
                .with("assertion", cond.as_str()))
            }
        };
        if !ok {
            let mut out = ModuleOutcome::failed("")
                .with("evaluated_to", false)
                .with("assertion", cond.as_str());
            out.result.insert(
                "msg".into(),
                fail_msg.unwrap_or_else(|| Value::String("Assertion failed".into())),
            );
            if !quiet {
                out.result
                    .insert("_ansible_verbose_always".into(), Value::Bool(true));
            }
            return Ok(out);
        }
    }
    let mut out = ModuleOutcome::ok();
    out.result.insert(
        "msg".into(),
        success_msg.unwrap_or_else(|| Value::String("All assertions passed".into())),
    );
    if !quiet {
        out.result
            .insert("_ansible_verbose_always".into(), Value::Bool(true));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::NetHarness;
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let mut h = NetHarness::new(json!({"port": 8080, "names": ["a", "b"]}));
        let cases = vec![
            (
                json!({"that": ["port > 1024", "names | length == 2"]}),
                json!({"changed": false, "msg": "All assertions passed", "_ansible_verbose_always": true}),
            ),
            (
                json!({"that": "port == 8080", "success_msg": "fine", "quiet": true}),
                json!({"changed": false, "msg": "fine"}),
            ),
            (
                json!({"that": ["port > 1024", "port < 1000"]}),
                json!({"changed": false, "failed": true, "msg": "Assertion failed", "evaluated_to": false,
                       "assertion": "port < 1000", "_ansible_verbose_always": true}),
            ),
            (
                json!({"that": "{{ port < 1000 }}", "fail_msg": "port too high", "quiet": "yes"}),
                json!({"changed": false, "failed": true, "msg": "port too high", "evaluated_to": false,
                       "assertion": "{{ port < 1000 }}"}),
            ),
            (
                json!({"that": "'c' in names", "msg": ["one", "two"], "quiet": true}),
                json!({"changed": false, "failed": true, "msg": ["one", "two"], "evaluated_to": false,
                       "assertion": "'c' in names"}),
            ),
            (
                json!({}),
                json!({"changed": false, "failed": true, "msg": "missing required arguments: that"}),
            ),
            (
                json!({"that": "x", "fail_msg": {"a": 1}}),
                json!({"changed": false, "failed": true, "msg": "Incorrect type for fail_msg, expected a string or list and got dict"}),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(
                Value::Object(h.run(run, args.clone()).result),
                want,
                "args {args}"
            );
        }
        let broken = h.run(run, json!({"that": "port >"}));
        assert!(broken.is_failed());
        assert!(broken.result["msg"]
            .as_str()
            .unwrap()
            .starts_with("The conditional check 'port >' failed. The error was:"));
    }
}
