//! Typed access to module arguments with Ansible's coercions
//! (booleans from `yes`/`no`/`true`/`1`, numbers from strings, lists from
//! comma-separated strings), and errors phrased like Ansible's.

use serde_json::{Map, Value};

/// Ansible's boolean truth table for module arguments.
pub(crate) fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" => Some(true),
            "no" | "off" | "0" | "false" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        Value::Null => Some(false),
        _ => None,
    }
}

pub(crate) struct Args<'a> {
    pub(crate) module: &'a str,
    pub(crate) map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(module: &'a str, map: &'a Map<String, Value>) -> Args<'a> {
        Args { module, map }
    }

    /// Fail on any argument outside `known` (like Ansible's "Unsupported parameters").
    pub(crate) fn check_known(&self, known: &[&str]) -> Result<(), String> {
        let mut bad: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k) && !k.starts_with('_'))
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        bad.sort();
        let mut supported: Vec<&str> = known.to_vec();
        supported.sort();
        Err(format!(
            "Unsupported parameters for ({}) module: {}. Supported parameters include: {}.",
            self.module,
            bad.join(", "),
            supported.join(", ")
        ))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(if *b { "True".into() } else { "False".into() })),
            // Ansible's default string_conversion_action (warn): a mapping
            // or list in a string field becomes its Python text.
            Some(other) => Ok(Some(crate::playbook::filters::py_repr(
                &minijinja::Value::from_serialize(other),
            ))),
        }
    }

    /// The first of several alias keys that is set (`path`, `dest`, `name`).
    pub(crate) fn first_str(&self, keys: &[&str]) -> Result<Option<String>, String> {
        for k in keys {
            if let Some(v) = self.str(k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    pub(crate) fn required_str(&self, key: &str) -> Result<String, String> {
        self.str(key)?
            .ok_or_else(|| format!("missing required arguments: {key}"))
    }

    pub(crate) fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => to_bool(v).ok_or_else(|| {
                format!(
                    "argument '{key}' is of type {} and we were unable to convert to bool",
                    type_name(v)
                )
            }),
        }
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("argument '{key}' must be an integer")),
            Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| {
                format!("argument '{key}' is of type str and we were unable to convert to int")
            }),
            Some(other) => Err(format!(
                "argument '{key}' is of type {} and we were unable to convert to int",
                type_name(other)
            )),
        }
    }

    /// A list argument: a YAML list, or a comma-separated string.
    pub(crate) fn list(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(format!(
                        "argument '{key}' has an element of type {}",
                        type_name(other)
                    )),
                })
                .collect(),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()),
            // As Ansible's check_type_list: a number is a list of one.
            Some(Value::Number(n)) => Ok(vec![n.to_string()]),
            Some(Value::Bool(b)) => Ok(vec![if *b { "True" } else { "False" }.to_string()]),
            Some(other) => Err(format!(
                "argument '{key}' is of type {} and we were unable to convert to list",
                type_name(other)
            )),
        }
    }

    /// One of `choices`, or the default.
    pub(crate) fn choice(
        &self,
        key: &str,
        choices: &[&str],
        default: Option<&str>,
    ) -> Result<Option<String>, String> {
        match self.str(key)? {
            None => Ok(default.map(str::to_string)),
            Some(v) if choices.contains(&v.as_str()) => Ok(Some(v)),
            Some(v) => Err(format!(
                "value of {key} must be one of: {}, got: {v}",
                choices.join(", ")
            )),
        }
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
