//! `set_fact`: set host variables; the runner merges `ansible_facts` into
//! the host's variables.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::to_bool;
use crate::modules::{ModuleContext, ModuleOutcome};

/// A valid Ansible variable name: a letter or `_`, then letters, digits,
/// `_`, and not a name Jinja reserves (`true`, `None`, `not`, ...).
pub(crate) fn is_valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    let shape = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    shape
        && !matches!(
            name,
            "true" | "false" | "none" | "True" | "False" | "None" | "not"
        )
}

/// Ansible's (2.19) refusal of a variable name.
pub(crate) fn invalid_var_name(name: &str) -> String {
    // Keys are strings here; an all-digit one was a number in the YAML or the template.
    let of_type = if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
        " of type 'int'"
    } else {
        ""
    };
    format!("Invalid variable name '{name}'{of_type}. Variable names must be strings starting with a letter or underscore character, and contain only letters, numbers and underscores.")
}

pub(crate) fn run(
    _ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let mut facts = Map::new();
    let mut cacheable = false;
    for (k, v) in args {
        if k == "_raw_params" || k.starts_with("_ansible") {
            continue;
        }
        if k == "cacheable" {
            match to_bool(v) {
                Some(b) => cacheable = b,
                None => {
                    return Ok(ModuleOutcome::failed(format!(
                        "The value '{v}' is not a valid boolean for 'cacheable'."
                    )))
                }
            }
            continue;
        }
        if !is_valid_var_name(k) {
            return Ok(ModuleOutcome::failed(invalid_var_name(k)));
        }
        // Values are kept as they are (ansible-core 2.19 no longer turns
        // "yes"/"no" strings into booleans).
        facts.insert(k.clone(), v.clone());
    }
    if facts.is_empty() {
        return Ok(ModuleOutcome::failed(
            "No key/value pairs provided, at least one is required for this action to succeed",
        ));
    }
    Ok(ModuleOutcome::ok()
        .with("ansible_facts", Value::Object(facts))
        .with("_ansible_facts_cacheable", cacheable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::NetHarness;
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let mut h = NetHarness::new(json!({}));
        h.check_mode = true; // set_fact runs in check mode too
        let cases = vec![
            (
                json!({"a": 1, "b": "text", "c": [1, 2], "d": "yes", "e": "False"}),
                json!({"changed": false, "ansible_facts": {"a": 1, "b": "text", "c": [1, 2], "d": "yes", "e": "False"},
                       "_ansible_facts_cacheable": false}),
            ),
            (
                json!({"x": {"y": 1}, "cacheable": "yes"}),
                json!({"changed": false, "ansible_facts": {"x": {"y": 1}}, "_ansible_facts_cacheable": true}),
            ),
            (
                json!({}),
                json!({"changed": false, "failed": true, "msg": "No key/value pairs provided, at least one is required for this action to succeed"}),
            ),
            (
                json!({"1bad": 1}),
                json!({"changed": false, "failed": true, "msg": "Invalid variable name '1bad'. Variable names must be strings starting with a letter or underscore character, and contain only letters, numbers and underscores."}),
            ),
            (
                json!({"true": 1}),
                json!({"changed": false, "failed": true, "msg": "Invalid variable name 'true'. Variable names must be strings starting with a letter or underscore character, and contain only letters, numbers and underscores."}),
            ),
            (
                json!({"12": 1}),
                json!({"changed": false, "failed": true, "msg": "Invalid variable name '12' of type 'int'. Variable names must be strings starting with a letter or underscore character, and contain only letters, numbers and underscores."}),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(
                Value::Object(h.run(run, args.clone()).result),
                want,
                "args {args}"
            );
        }
    }
}
