//! Templating with Ansible's semantics on top of minijinja: strict undefined
//! variables, native types for whole-expression strings (`"{{ list }}"` stays
//! a list), bare-expression conditionals (`when`, `failed_when`, `that`).

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// The value of `omit`: arguments rendering to exactly this are dropped.
pub(crate) const OMIT: &str = "__omit_place_holder__berth";

/// A templating failure, naming the undefined variable when that was the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub(crate) message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TemplateError {}

pub(crate) struct Templar {
    env: Environment<'static>,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

impl Templar {
    pub(crate) fn new() -> Templar {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_trim_blocks(true);
        Templar { env }
    }

    /// Build a template context from a variable map.
    pub(crate) fn context(vars: &serde_json::Map<String, Value>) -> minijinja::Value {
        minijinja::Value::from_serialize(vars)
    }

    /// Does the string contain template syntax at all?
    pub(crate) fn is_template(s: &str) -> bool {
        s.contains("{{") || s.contains("{%") || s.contains("{#")
    }

    /// Render a string the way Ansible renders a task argument: a string that
    /// is exactly one `{{ expression }}` yields the expression's native value.
    pub(crate) fn render_str(&self, s: &str, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        if !Templar::is_template(s) {
            return Ok(Value::String(s.to_string()));
        }
        if let Some(expr) = single_expression(s) {
            return self.eval(expr, ctx);
        }
        self.render_text(s, ctx).map(Value::String)
    }

    /// Render text (template module, string contexts): always a string.
    pub(crate) fn render_text(&self, s: &str, ctx: &minijinja::Value) -> Result<String, TemplateError> {
        self.env.render_str(s, ctx).map_err(convert_error)
    }

    /// Render every string inside a value, recursively (keys included).
    pub(crate) fn render_value(&self, v: &Value, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => self.render_str(s, ctx)?,
            Value::Array(items) => Value::Array(items.iter().map(|i| self.render_value(i, ctx)).collect::<Result<_, _>>()?),
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, val) in map {
                    let key = if Templar::is_template(k) { self.render_text(k, ctx)? } else { k.clone() };
                    out.insert(key, self.render_value(val, ctx)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Evaluate a bare expression to a native value.
    pub(crate) fn eval(&self, expr: &str, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        let compiled = self.env.compile_expression(expr).map_err(convert_error)?;
        let value = compiled.eval(ctx).map_err(convert_error)?;
        if value.is_undefined() {
            return Err(TemplateError { message: format!("'{}' is undefined", expr.trim()) });
        }
        serde_json::to_value(&value).map_err(|e| TemplateError { message: e.to_string() })
    }

    /// Evaluate a conditional (`when`, `changed_when`, `failed_when`, `that`).
    /// Bare expressions; a `{{ }}` wrapper is tolerated like Ansible does.
    pub(crate) fn eval_bool(&self, expr: &str, ctx: &minijinja::Value) -> Result<bool, TemplateError> {
        let trimmed = expr.trim();
        let inner = single_expression(trimmed).unwrap_or(trimmed);
        let compiled = self.env.compile_expression(inner).map_err(convert_error)?;
        let value = compiled.eval(ctx).map_err(convert_error)?;
        Ok(value.is_true())
    }
}

/// If `s` is exactly `{{ expr }}` (ignoring surrounding whitespace), the expression.
pub(crate) fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

fn convert_error(e: minijinja::Error) -> TemplateError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    TemplateError { message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> minijinja::Value {
        Templar::context(v.as_object().unwrap())
    }

    #[test]
    fn native_types_for_single_expressions() {
        let t = Templar::new();
        let c = ctx(json!({"items": [1, 2], "name": "web"}));
        assert_eq!(t.render_str("{{ items }}", &c).unwrap(), json!([1, 2]));
        assert_eq!(t.render_str("host-{{ name }}", &c).unwrap(), json!("host-web"));
        assert_eq!(t.render_str("plain", &c).unwrap(), json!("plain"));
    }

    #[test]
    fn undefined_is_an_error() {
        let t = Templar::new();
        let c = ctx(json!({}));
        assert!(t.render_str("{{ nope }}", &c).is_err());
        assert!(t.render_str("x {{ nope }}", &c).is_err());
    }

    #[test]
    fn conditionals_are_bare_expressions() {
        let t = Templar::new();
        let c = ctx(json!({"n": 3}));
        assert!(t.eval_bool("n > 2", &c).unwrap());
        assert!(!t.eval_bool("{{ n > 5 }}", &c).unwrap());
    }
}
