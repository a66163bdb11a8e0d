//! `debug`: print a message or a variable's value (controller side).

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::{ModuleContext, ModuleOutcome};

pub(crate) fn run(ctx: &mut ModuleContext<'_>, args: &Map<String, Value>) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("debug", args);
    if let Err(e) = a.check_known(&["msg", "var", "verbosity"]) {
        return Ok(ModuleOutcome::failed(e));
    }
    if a.get("msg").is_some() && a.get("var").is_some() {
        return Ok(ModuleOutcome::failed("parameters are mutually exclusive: msg|var"));
    }
    let verbosity = match a.int("verbosity") {
        Ok(v) => v.unwrap_or(0),
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let current = ctx
        .vars
        .get_attr("ansible_verbosity")
        .ok()
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    if verbosity > current {
        return Ok(ModuleOutcome::ok()
            .with("skipped", true)
            .with("skipped_reason", "Verbosity threshold not met."));
    }
    let mut out = ModuleOutcome::ok().with("_ansible_verbose_always", true);
    match a.get("var") {
        Some(var) => {
            let name = match var {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let value = match var {
                // Like ansible-core 2.19: an error marker in place of the value.
                Value::String(s) => ctx.templar.eval(s, ctx.vars).unwrap_or_else(|e| {
                    let why = if e.message.contains("undefined") {
                        format!("'{}' is undefined", s.trim())
                    } else {
                        e.message
                    };
                    Value::String(format!("<< error 1 - {why} >>"))
                }),
                other => other.clone(),
            };
            out.result.insert(name, value);
        }
        None => {
            let msg = a.get("msg").cloned().unwrap_or_else(|| Value::String("Hello world!".into()));
            out.result.insert("msg".into(), msg);
        }
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
        let mut h = NetHarness::new(json!({"app": {"port": 8080}, "names": ["a", "b"], "ansible_verbosity": 1}));
        let cases: Vec<(Value, Value)> = vec![
            (json!({}), json!({"changed": false, "_ansible_verbose_always": true, "msg": "Hello world!"})),
            (json!({"msg": "hi"}), json!({"changed": false, "_ansible_verbose_always": true, "msg": "hi"})),
            (json!({"msg": [1, 2]}), json!({"changed": false, "_ansible_verbose_always": true, "msg": [1, 2]})),
            (
                json!({"var": "app.port"}),
                json!({"changed": false, "_ansible_verbose_always": true, "app.port": 8080}),
            ),
            (
                json!({"var": "names | length"}),
                json!({"changed": false, "_ansible_verbose_always": true, "names | length": 2}),
            ),
            (
                json!({"var": "nope"}),
                json!({"changed": false, "_ansible_verbose_always": true, "nope": "<< error 1 - 'nope' is undefined >>"}),
            ),
            (
                json!({"msg": "x", "verbosity": 2}),
                json!({"changed": false, "skipped": true, "skipped_reason": "Verbosity threshold not met."}),
            ),
            (
                json!({"msg": "x", "verbosity": 1}),
                json!({"changed": false, "_ansible_verbose_always": true, "msg": "x"}),
            ),
            (
                json!({"msg": "x", "var": "y"}),
                json!({"changed": false, "failed": true, "msg": "parameters are mutually exclusive: msg|var"}),
            ),
        ];
        for (args, want) in cases {
            let got = h.run(run, args.clone());
            assert_eq!(Value::Object(got.result), want, "args {args}");
        }
        let bad = h.run(run, json!({"mesage": "typo"}));
        assert!(bad.is_failed());
        assert!(bad.result["msg"].as_str().unwrap().starts_with("Unsupported parameters for (debug) module: mesage."));
    }
}
