//! `debug`: print a message or a variable's value (controller side).

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::{ModuleContext, ModuleOutcome};
use crate::playbook::templar::OMIT;

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("debug", args);
    if let Err(e) = a.check_known(&["msg", "var", "verbosity"]) {
        return Ok(ModuleOutcome::failed(e));
    }
    if a.get("msg").is_some() && a.get("var").is_some() {
        return Ok(ModuleOutcome::failed(
            "parameters are mutually exclusive: msg|var",
        ));
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
    let mut out = ModuleOutcome::ok()
        .with("failed", false)
        .with("_ansible_verbose_always", true);
    match a.get("var") {
        Some(Value::String(expr)) => {
            let value = match ctx.templar.eval(expr, ctx.vars) {
                Ok(Value::String(s)) if s == OMIT => {
                    out = out.with(
                        "warnings",
                        vec!["The result of the `var` expression could not be omitted; a placeholder was used instead."],
                    );
                    Value::String("<<Omit>>".into())
                }
                Ok(v) => v,
                // Like ansible-core 2.19: an undefined value is a marker and a warning.
                Err(e) if e.undefined.is_some() => {
                    let why = format!("'{}' is undefined", e.undefined.as_deref().unwrap_or(expr.trim()));
                    out = out.with("warnings", vec![format!("Encountered 1 template error.\nerror 1 - {why}")]);
                    Value::String(format!("<< error 1 - {why} >>"))
                }
                Err(e) => {
                    return Ok(ModuleOutcome::failed(format!(
                        "Task failed: Error while resolving `var` expression: Error rendering expression: {}",
                        e.message
                    ))
                    .with("exception", e.message))
                }
            };
            out.result.insert(expr.clone(), value);
        }
        Some(other) => {
            return Ok(ModuleOutcome::failed(format!(
                "argument 'var' is of type {} and we were unable to convert to _check_type_str_no_conversion: '{}' is not a string and conversion is not allowed",
                crate::modules::args::type_name(other),
                crate::playbook::filters::py_repr(&minijinja::Value::from_serialize(other))
            )));
        }
        None => {
            let msg = a
                .get("msg")
                .cloned()
                .unwrap_or_else(|| Value::String("Hello world!".into()));
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
        let mut h = NetHarness::new(
            json!({"app": {"port": 8080}, "names": ["a", "b"], "ansible_verbosity": 1}),
        );
        let cases: Vec<(Value, Value)> = vec![
            (
                json!({}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "msg": "Hello world!"}),
            ),
            (
                json!({"msg": "hi"}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "msg": "hi"}),
            ),
            (
                json!({"msg": [1, 2]}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "msg": [1, 2]}),
            ),
            (
                json!({"var": "app.port"}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "app.port": 8080}),
            ),
            (
                json!({"var": "names | length"}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "names | length": 2}),
            ),
            (
                json!({"var": "nope"}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "nope": "<< error 1 - 'nope' is undefined >>",
                       "warnings": ["Encountered 1 template error.\nerror 1 - 'nope' is undefined"]}),
            ),
            (
                json!({"msg": "x", "verbosity": 2}),
                json!({"changed": false, "skipped": true, "skipped_reason": "Verbosity threshold not met."}),
            ),
            (
                json!({"msg": "x", "verbosity": 1}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "msg": "x"}),
            ),
            (
                json!({"var": "omit"}),
                json!({"changed": false, "failed": false, "_ansible_verbose_always": true, "omit": "<<Omit>>",
                       "warnings": ["The result of the `var` expression could not be omitted; a placeholder was used instead."]}),
            ),
            (
                json!({"var": "5 / 0"}),
                json!({"changed": false, "failed": true, "exception": "division by zero",
                       "msg": "Task failed: Error while resolving `var` expression: Error rendering expression: division by zero"}),
            ),
            (
                json!({"var": {"a": null}}),
                json!({"changed": false, "failed": true, "msg": "argument 'var' is of type dict and we were unable to convert to _check_type_str_no_conversion: '{'a': None}' is not a string and conversion is not allowed"}),
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
        assert!(bad.result["msg"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported parameters for (debug) module: mesage."));
    }
}
