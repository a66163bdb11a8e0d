//! Templating with Ansible's semantics on top of minijinja: strict undefined
//! variables, native types for whole-expression strings (`"{{ list }}"` stays
//! a list), bare-expression conditionals (`when`, `failed_when`, `that`),
//! Python-style rendering (`True`, `[1, 'a']`), Ansible's filters, tests and
//! lookups, `omit`, and errors that name the undefined variable.
//!
//! Two process-wide environments share one configuration: a strict one used
//! first, and a chainable one used only to retry expressions that guard an
//! undefined chain (`a.b.c | default(x)`, `a.b is defined`), which Ansible
//! accepts and strict minijinja rejects. Compiled templates are cached in the
//! environments (keyed by source), compiled expressions in the `Templar`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, Expression, UndefinedBehavior};
use serde_json::Value;

/// The value of `omit`: arguments rendering to exactly this are dropped.
pub(crate) const OMIT: &str = "__omit_place_holder__berth";
use crate::playbook::{filters, jinja_tests, lookups};

/// The value of the `omit` variable. `render_value` drops map entries whose
/// rendered value is exactly this string, so `x: "{{ y | default(omit) }}"`
/// leaves `x` out of the module arguments.
pub(crate) const OMIT: &str = "__omit_place_holder__berth_7c1e0f5a93d24b68";

/// Template names starting with this marker carry their own source (the
/// loader hands the rest of the name back), so compiled templates are cached
/// by source; other names are controller file paths (`{% include %}`).
pub(crate) const INLINE: &str = "\u{1}inline\u{1}";

/// A templating failure, naming the undefined variable when that was the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub(crate) message: String,
    /// The undefined variable (or attribute path, `foo.bar`) that caused the
    /// failure, when that was the cause.
    pub(crate) undefined: Option<String>,
}

impl TemplateError {
    pub(crate) fn new(message: impl Into<String>) -> TemplateError {
        TemplateError { message: message.into(), undefined: None }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TemplateError {}

type Compiled = Arc<Expression<'static, 'static>>;

/// Compiled-expression cache for one environment.
#[derive(Default)]
struct ExprCache {
    map: RwLock<HashMap<String, Compiled>>,
}

/// More distinct expressions than this and the cache starts over, so a
/// templar fed generated expressions cannot grow without bound.
const EXPR_CACHE_LIMIT: usize = 8192;

impl ExprCache {
    fn get(&self, env: &'static Environment<'static>, expr: &str) -> Result<Compiled, minijinja::Error> {
        if let Some(c) = self.map.read().unwrap_or_else(|e| e.into_inner()).get(expr) {
            return Ok(c.clone());
        }
        let compiled = Arc::new(env.compile_expression_owned(expr.to_string())?);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= EXPR_CACHE_LIMIT {
            map.clear();
        }
        map.insert(expr.to_string(), compiled.clone());
        Ok(compiled)
    }
}

pub(crate) struct Templar {
    strict: ExprCache,
    chain: ExprCache,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

fn strict_env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| build_env(UndefinedBehavior::Strict))
}

fn chain_env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| build_env(UndefinedBehavior::Chainable))
}

fn build_env(behavior: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(behavior);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(false);
    env.set_loader(|name| {
        if let Some(source) = name.strip_prefix(INLINE) {
            return Ok(Some(source.to_string()));
        }
        match std::fs::read_to_string(name) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(minijinja::Error::new(ErrorKind::InvalidOperation, format!("cannot read {name}: {e}"))),
        }
    });
    env.set_formatter(|out, _state, value| {
        if value.is_undefined() {
            return Err(minijinja::Error::from(ErrorKind::UndefinedError));
        }
        if value.is_none() {
            return Ok(());
        }
        out.write_str(&filters::py_str(value)).map_err(minijinja::Error::from)
    });
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_global("True", true);
    env.add_global("False", false);
    env.add_global("None", minijinja::Value::from(()));
    env.add_global("omit", OMIT);
    filters::register(&mut env);
    jinja_tests::register(&mut env);
    lookups::register(&mut env);
    env
}

/// Words whose presence makes an undefined chain legitimate in Ansible.
fn guards_undefined(source: &str) -> bool {
    source.contains("default") || source.contains("d(") || source.contains("defined") || source.contains("| d ")
}

impl Templar {
    pub(crate) fn new() -> Templar {
        Templar { strict: ExprCache::default(), chain: ExprCache::default() }
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
        let name = format!("{INLINE}{s}");
        let first = strict_env().get_template(&name).and_then(|t| t.render(ctx));
        match first {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == ErrorKind::UndefinedError && guards_undefined(s) => {
                match chain_env().get_template(&name).and_then(|t| t.render(ctx)) {
                    Ok(text) => Ok(text),
                    Err(_) => Err(convert_error(e, s, ctx)),
                }
            }
            Err(e) => Err(convert_error(e, s, ctx)),
        }
    }

    /// Render every string inside a value, recursively (keys included).
    /// Map entries whose value renders to the `omit` placeholder are dropped.
    pub(crate) fn render_value(&self, v: &Value, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => self.render_str(s, ctx)?,
            Value::Array(items) => Value::Array(items.iter().map(|i| self.render_value(i, ctx)).collect::<Result<_, _>>()?),
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, val) in map {
                    let rendered = self.render_value(val, ctx)?;
                    if rendered.as_str() == Some(OMIT) {
                        continue;
                    }
                    let key = if Templar::is_template(k) { self.render_text(k, ctx)? } else { k.clone() };
                    out.insert(key, rendered);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Evaluate an expression to minijinja's value, retrying guarded
    /// undefined chains in the chainable environment.
    fn eval_raw(&self, expr: &str, ctx: &minijinja::Value) -> Result<minijinja::Value, TemplateError> {
        let compiled = self.strict.get(strict_env(), expr).map_err(|e| convert_error(e, expr, ctx))?;
        match compiled.eval(ctx) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == ErrorKind::UndefinedError && guards_undefined(expr) => {
                let retry = self.chain.get(chain_env(), expr).and_then(|c| c.eval(ctx));
                match retry {
                    Ok(v) if !v.is_undefined() => Ok(v),
                    _ => Err(convert_error(e, expr, ctx)),
                }
            }
            Err(e) => Err(convert_error(e, expr, ctx)),
        }
    }

    /// Evaluate a bare expression to a native value.
    pub(crate) fn eval(&self, expr: &str, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        let value = self.eval_raw(expr, ctx)?;
        if value.is_undefined() {
            return Err(undefined_error(expr.trim(), ctx));
        }
        to_json(&value)
    }

    /// Evaluate a conditional (`when`, `changed_when`, `failed_when`, `that`).
    /// Bare expressions; a `{{ }}` wrapper is tolerated like Ansible does.
    pub(crate) fn eval_bool(&self, expr: &str, ctx: &minijinja::Value) -> Result<bool, TemplateError> {
        let trimmed = expr.trim();
        let inner = single_expression(trimmed).unwrap_or(trimmed);
        let value = self.eval_raw(inner, ctx)?;
        if value.is_undefined() {
            return Err(undefined_error(inner, ctx));
        }
        // A conditional that yields a string is templated once more, like
        // Ansible does for `when: "{{ flag }}"` where flag is "false".
        if let Some(s) = value.as_str() {
            return Ok(filters::ansible_bool(&minijinja::Value::from(s)));
        }
        Ok(value.is_true())
    }
}

/// Convert a minijinja value to JSON (Ansible's native result).
pub(crate) fn to_json(value: &minijinja::Value) -> Result<Value, TemplateError> {
    serde_json::to_value(value).map_err(|e| TemplateError::new(e.to_string()))
}

/// If `s` is exactly `{{ expr }}` (ignoring surrounding whitespace), the expression.
pub(crate) fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("{%") || inner.contains("{#") {
        return None;
    }
    // `{{ {'a': {'b': 1}} }}` is one expression, `{{ a }} b }}` is not:
    // braces outside string literals must balance.
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in inner.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth < 0 {
                        return None;
                    }
                }
                _ => {}
            },
        }
    }
    (depth == 0).then(|| inner.trim())
}

/// Python's type names, as Ansible's messages use them.
pub(crate) fn py_type(v: &minijinja::Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number => {
            if v.as_i64().is_some() && !is_float(v) {
                "int"
            } else {
                "float"
            }
        }
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

pub(crate) fn is_float(v: &minijinja::Value) -> bool {
    v.kind() == ValueKind::Number && v.to_string().contains(['.', 'e', 'E', 'n', 'N', 'i'])
}

/// One step of a variable path: `.name` or `[literal]`.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Attr(String),
    Index(minijinja::Value),
}

/// Parse `root.a['b'][0]` into the root name and its steps.
fn parse_path(text: &str) -> Option<(String, Vec<Step>)> {
    let t = text.trim();
    let mut chars = t.char_indices().peekable();
    let ident = |chars: &mut std::iter::Peekable<std::str::CharIndices>| -> Option<String> {
        let mut s = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_alphanumeric() || c == '_' {
                s.push(c);
                chars.next();
            } else {
                break;
            }
        }
        (!s.is_empty() && !s.starts_with(|c: char| c.is_ascii_digit())).then_some(s)
    };
    let root = ident(&mut chars)?;
    let mut steps = Vec::new();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '.' => {
                chars.next();
                let name = ident(&mut chars).or_else(|| {
                    // `list.0` is item access in Jinja.
                    let mut digits = String::new();
                    while let Some(&(_, d)) = chars.peek() {
                        if d.is_ascii_digit() {
                            digits.push(d);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    (!digits.is_empty()).then_some(digits)
                })?;
                steps.push(Step::Attr(name));
            }
            '[' => {
                let close = t[i..].find(']')? + i;
                let inner = t[i + 1..close].trim();
                let key = if let Some(s) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    minijinja::Value::from(s)
                } else if let Some(s) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    minijinja::Value::from(s)
                } else if let Ok(n) = inner.parse::<i64>() {
                    minijinja::Value::from(n)
                } else {
                    return None;
                };
                steps.push(Step::Index(key));
                while chars.peek().is_some_and(|&(j, _)| j <= close) {
                    chars.next();
                }
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            _ => return None,
        }
    }
    Some((root, steps))
}

fn is_global(name: &str) -> bool {
    strict_env().globals().any(|(g, _)| g == name)
}

/// Ansible's message for an undefined variable path, found by walking it
/// through the context: `'foo' is undefined` or
/// `object of type 'dict' has no attribute 'bar'`.
fn undefined_error(text: &str, ctx: &minijinja::Value) -> TemplateError {
    let Some((root, steps)) = parse_path(text) else {
        return TemplateError { message: format!("'{}' is undefined", text.trim()), undefined: Some(text.trim().to_string()) };
    };
    let mut current = ctx.get_attr(&root).unwrap_or(minijinja::Value::UNDEFINED);
    if current.is_undefined() && !is_global(&root) {
        return TemplateError { message: format!("'{root}' is undefined"), undefined: Some(root) };
    }
    let mut path = root;
    for step in steps {
        let (next, shown, quoted) = match &step {
            Step::Attr(name) => {
                let v = current.get_attr(name).ok().filter(|v| !v.is_undefined());
                let v = v.or_else(|| name.parse::<i64>().ok().and_then(|n| current.get_item(&minijinja::Value::from(n)).ok()));
                (v.unwrap_or(minijinja::Value::UNDEFINED), name.clone(), format!("'{name}'"))
            }
            Step::Index(key) => {
                let v = current.get_item(key).unwrap_or(minijinja::Value::UNDEFINED);
                let quoted = if key.as_str().is_some() { format!("'{key}'") } else { key.to_string() };
                (v, key.to_string(), quoted)
            }
        };
        if next.is_undefined() {
            let full = format!("{path}.{shown}");
            return TemplateError {
                message: format!("object of type '{}' has no attribute {quoted}", py_type(&current)),
                undefined: Some(full),
            };
        }
        path = format!("{path}.{shown}");
        current = next;
    }
    TemplateError { message: format!("'{path}' is undefined"), undefined: Some(path) }
}

/// Walk a path through the context: `None` when it resolves, else the
/// Ansible error for its first missing step.
fn walk(text: &str, ctx: &minijinja::Value) -> Option<TemplateError> {
    let (root, steps) = parse_path(text)?;
    let mut current = ctx.get_attr(&root).unwrap_or(minijinja::Value::UNDEFINED);
    if current.is_undefined() && is_global(&root) {
        current = strict_env().globals().find(|(g, _)| *g == root).map(|(_, v)| v).unwrap_or_default();
    }
    if current.is_undefined() {
        return Some(undefined_error(text, ctx));
    }
    for step in steps {
        let next = match &step {
            Step::Attr(name) => current.get_attr(name).ok().filter(|v| !v.is_undefined()).or_else(|| {
                name.parse::<i64>().ok().and_then(|n| current.get_item(&minijinja::Value::from(n)).ok())
            }),
            Step::Index(key) => current.get_item(key).ok(),
        };
        match next {
            Some(v) if !v.is_undefined() => current = v,
            _ => return Some(undefined_error(text, ctx)),
        }
    }
    None
}

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "elif", "for", "endfor", "endif", "set", "endset", "true", "false",
    "none", "True", "False", "None", "loop", "recursive", "with", "endwith", "macro", "endmacro", "block", "endblock",
    "include", "import", "from", "as", "filter", "endfilter", "raw", "endraw", "call", "endcall", "omit", "range",
    "lookup", "query", "q", "dict", "namespace", "self", "super", "varargs", "kwargs", "caller",
];

/// Variable paths of an expression, in order, leaving out string literals,
/// filter and test names, calls and keywords.
fn variable_paths(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut prev_token = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let q = c;
            i += 1;
            while i < chars.len() && chars[i] != q {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            prev_token = "str".into();
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let root: String = chars[start..i].iter().collect();
            let mut path = root.clone();
            loop {
                if i + 1 < chars.len() && chars[i] == '.' && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_') {
                    let s = i;
                    i += 1;
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                    path.extend(&chars[s..i]);
                } else if i < chars.len() && chars[i] == '[' {
                    let Some(close) = chars[i..].iter().position(|&c| c == ']') else { break };
                    let inner: String = chars[i + 1..i + close].iter().collect();
                    let t = inner.trim();
                    let literal = t.parse::<i64>().is_ok()
                        || (t.len() >= 2 && (t.starts_with('\'') && t.ends_with('\'') || t.starts_with('"') && t.ends_with('"')));
                    if !literal {
                        break;
                    }
                    path.extend(&chars[i..=i + close]);
                    i += close + 1;
                } else {
                    break;
                }
            }
            let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
            let after_pipe_or_is = prev_token == "|" || prev_token == "is" || (prev_token == "not" && out.last().is_some_and(|_: &String| false));
            let preceded_by_dot = start > 0 && chars[start - 1] == '.';
            if !after_pipe_or_is && !preceded_by_dot && next != Some('(') && next != Some('=') && !KEYWORDS.contains(&root.as_str()) {
                out.push(path);
            }
            prev_token = root;
            continue;
        }
        if !c.is_whitespace() {
            prev_token = c.to_string();
        }
        i += 1;
    }
    out
}

/// Names the template binds itself (`for x in`, `set x =`, macro args):
/// not context variables.
fn bound_in_template(source: &str, root: &str) -> bool {
    let re = regex::Regex::new(&format!(r"(?:for|set|,)\s*(?:\w+\s*,\s*)*{}\b", regex::escape(root))).expect("valid binding regex");
    re.is_match(source)
}

/// Find the undefined variable behind an undefined error: the error's own
/// range first, then the variables of the surrounding `{{ }}`/`{% %}`.
fn locate_undefined(source: &str, range: Option<std::ops::Range<usize>>, ctx: &minijinja::Value) -> TemplateError {
    if let Some(r) = range.clone() {
        let before = source.get(..r.start).unwrap_or_default().trim_end();
        let names_filter_or_test = before.ends_with('|') || before.ends_with(" is") || before.ends_with(" not");
        if let (Some(text), false) = (source.get(r), names_filter_or_test) {
            if let Some(err) = walk(text, ctx) {
                return err;
            }
        }
    }
    let window = match range.and_then(|r| source.get(..r.end).map(|head| (head, r.end))) {
        Some((head, end)) => {
            let start = head.rfind("{{").max(head.rfind("{%")).map_or(0, |i| i + 2);
            let stop = source[end..].find("}}").or_else(|| source[end..].find("%}")).map_or(source.len(), |i| end + i);
            &source[start..stop]
        }
        None => source,
    };
    for path in variable_paths(window).into_iter().chain(variable_paths(source)) {
        let root = path.split(['.', '[']).next().unwrap_or_default();
        if bound_in_template(source, root) {
            continue;
        }
        if let Some(err) = walk(&path, ctx) {
            return err;
        }
    }
    TemplateError::new(format!("undefined variable in template: {}", source.trim()))
}

/// The variable piped into `mandatory`: the one inside the error's range
/// when minijinja gives one, else the first in the source.
fn mandatory_subject(source: &str, range: Option<std::ops::Range<usize>>) -> String {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r#"([A-Za-z_][\w.]*(?:\[[^\]]*\])*)\s*\|\s*mandatory\b"#).expect("valid mandatory regex")
    });
    let text = range.and_then(|r| source.get(r)).filter(|t| re.is_match(t)).unwrap_or(source);
    re.captures(text).map(|c| c[1].to_string()).unwrap_or_else(|| "unknown".into())
}

/// Turn a minijinja error into an Ansible-style one. Undefined errors are
/// located through the error's byte range in `source`.
pub(crate) fn convert_error(e: minijinja::Error, source: &str, ctx: &minijinja::Value) -> TemplateError {
    if e.detail() == Some(filters::MANDATORY_MARKER) {
        let name = mandatory_subject(source, e.range());
        return TemplateError { message: format!("Mandatory variable '{name}' not defined."), undefined: Some(name) };
    }
    if e.kind() == ErrorKind::UndefinedError {
        return locate_undefined(source, e.range(), ctx);
    }
    if e.kind() == ErrorKind::InvalidOperation {
        if let Some(detail) = e.detail() {
            // Filters and lookups raise their final messages as details.
            return TemplateError::new(detail.to_string());
        }
    }
    let mut message = match e.detail() {
        Some(detail) => format!("{}: {}", e.kind(), detail),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        message.push_str(&format!(" (line {line} of the template)"));
    }
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    TemplateError::new(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> minijinja::Value {
        Templar::context(v.as_object().unwrap())
    }

    #[test]
    fn templar_is_shareable_across_threads() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<Templar>();
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
