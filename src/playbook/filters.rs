//! Ansible's filters on top of minijinja's builtins. Builtins whose
//! behaviour differs from Jinja2/Ansible (`bool`, `int`, `float`, `string`,
//! `join`) are replaced; the rest (`default`, `lower`, `map`, `selectattr`,
//! `sort`, `unique`, `min`, `max`, `sum`, `split`, ...) already agree.
//! Non-string values render the way Python prints them (`True`, `[1, 'a']`).

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use regex::Regex;
use serde_json::Value as Json;

use crate::playbook::templar::{is_float, py_type};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", |v: Value| -> Result<Value, Error> {
        defined(&v)?;
        Ok(Value::from(ansible_bool(&v)))
    });
    env.add_filter("int", int);
    env.add_filter("float", float);
    env.add_filter("string", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(py_str(&v))
    });
    env.add_filter("join", join);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("from_yaml_all", from_yaml_all);
    env.add_filter("combine", combine);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("b64encode", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    });
    env.add_filter("b64decode", b64decode);
    env.add_filter("basename", |s: String| py_basename(&s).to_string());
    env.add_filter("dirname", |s: String| py_dirname(&s).to_string());
    env.add_filter("splitext", splitext);
    env.add_filter("expanduser", |s: String| {
        crate::playbook::path_filters::expanduser(&s)
    });
    env.add_filter("realpath", |s: String| realpath(&s));
    env.add_filter("path_join", path_join);
    env.add_filter("relpath", relpath);
    env.add_filter("quote", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(shell_quote(&py_str(&v)))
    });
    env.add_filter("mandatory", mandatory);
    env.add_filter("hash", |v: Value, algo: Option<String>, kwargs: Kwargs| {
        defined(&v)?;
        let algo = kwargs.get::<Option<String>>("hashtype")?.or(algo);
        kwargs.assert_all_used()?;
        hash(&py_str(&v), algo.as_deref().unwrap_or("sha1"))
    });
    env.add_filter("sha1", |v: Value| {
        defined(&v)?;
        hash(&py_str(&v), "sha1")
    });
    env.add_filter("checksum", |v: Value| {
        defined(&v)?;
        hash(&py_str(&v), "sha1")
    });
    env.add_filter("md5", |v: Value| {
        defined(&v)?;
        hash(&py_str(&v), "md5")
    });
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", flatten);
    env.add_filter("zip", |a: Value, rest: Rest<Value>| zip(a, rest, false));
    env.add_filter("zip_longest", |a: Value, rest: Rest<Value>| {
        zip(a, rest, true)
    });
    env.add_filter("product", product);
    env.add_filter("ternary", ternary);
    env.add_filter("difference", |a: Value, b: Value| {
        set_op(&a, &b, SetOp::Difference)
    });
    env.add_filter("intersect", |a: Value, b: Value| {
        set_op(&a, &b, SetOp::Intersect)
    });
    env.add_filter("union", |a: Value, b: Value| set_op(&a, &b, SetOp::Union));
    env.add_filter("symmetric_difference", |a: Value, b: Value| {
        set_op(&a, &b, SetOp::Symmetric)
    });
    env.add_filter("subelements", subelements);
    env.add_filter("extract", extract);
    env.add_filter("to_uuid", to_uuid);
    env.add_filter("human_readable", human_readable);
    env.add_filter("human_to_bytes", human_to_bytes);
    env.add_filter("type_debug", |v: Value| py_type(&v));
    env.add_filter("comment", comment);
    env.add_filter("password_hash", password_hash);
    env.add_filter("pow", |a: f64, b: f64| a.powf(b));
    env.add_filter("log", |a: f64, base: Option<f64>| match base {
        Some(b) => a.ln() / b.ln(),
        None => a.ln(),
    });
    env.add_filter("root", |a: f64, base: Option<f64>| match base {
        Some(b) => a.powf(1.0 / b),
        None => a.sqrt(),
    });
    crate::playbook::text_filters::register(env);
    crate::playbook::path_filters::register(env);
    crate::playbook::collection_filters::register(env);
    crate::playbook::datetime::register(env);
    crate::playbook::pprint::register(env);
}

/// Ansible refuses undefined values everywhere but in `default`,
/// `mandatory` and the `defined` tests.
pub(crate) fn defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

/// A filter failure whose detail is the final, user-facing message.
pub(crate) fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

// ---------------------------------------------------------------- Python-isms

/// Ansible's `bool` filter: `yes`, `on`, `1`, `true` (any case) and 1 are
/// true; everything else is false.
pub(crate) fn ansible_bool(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().to_lowercase();
            matches!(s.as_str(), "yes" | "on" | "1" | "true")
        }
        ValueKind::Number => v.as_i64() == Some(1) || f64::try_from(v.clone()).ok() == Some(1.0),
        _ => false,
    }
}

/// Python's `str()` of a value.
pub(crate) fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined => String::new(),
        _ => py_repr(v),
    }
}

/// Python's `repr()` of a value.
pub(crate) fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&py_number(v)),
        ValueKind::String => out.push_str(&py_str_repr(v.as_str().unwrap_or_default())),
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &key);
                out.push_str(": ");
                write_repr(out, &v.get_item(&key).unwrap_or_default());
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item);
            }
            out.push(']');
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// Python's repr of a number: `1.0`, `1e+16`, `42`.
pub(crate) fn py_number(v: &Value) -> String {
    if !is_float(v) {
        return v.to_string();
    }
    let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
    py_float(f)
}

pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's repr of a string: single quotes unless the text holds a single
/// quote and no double quote.
pub(crate) fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

fn int(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let default: Value = kwargs
        .get::<Option<Value>>("default")?
        .or_else(|| args.first().cloned())
        .unwrap_or(Value::from(0));
    let base: i64 = kwargs
        .get::<Option<i64>>("base")?
        .or_else(|| args.get(1).and_then(Value::as_i64))
        .unwrap_or(10);
    kwargs.assert_all_used()?;
    Ok(match v.kind() {
        ValueKind::Bool => Value::from(v.is_true() as i64),
        ValueKind::Number => match v.as_i64() {
            Some(i) if !is_float(&v) => Value::from(i),
            _ => Value::from(f64::try_from(v).unwrap_or(0.0).trunc() as i64),
        },
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().trim().replace('_', "");
            let (neg, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest.to_string()),
                None => (false, s.strip_prefix('+').unwrap_or(&s).to_string()),
            };
            let stripped = match base {
                16 => digits
                    .strip_prefix("0x")
                    .or_else(|| digits.strip_prefix("0X"))
                    .unwrap_or(&digits),
                8 => digits
                    .strip_prefix("0o")
                    .or_else(|| digits.strip_prefix("0O"))
                    .unwrap_or(&digits),
                2 => digits
                    .strip_prefix("0b")
                    .or_else(|| digits.strip_prefix("0B"))
                    .unwrap_or(&digits),
                _ => &digits,
            };
            match i64::from_str_radix(stripped, base as u32) {
                Ok(i) => Value::from(if neg { -i } else { i }),
                Err(_) => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => Value::from(f.trunc() as i64),
                    _ => default,
                },
            }
        }
        _ => default,
    })
}

fn float(v: Value, default: Option<Value>) -> Result<Value, Error> {
    defined(&v)?;
    let default = default.unwrap_or(Value::from(0.0));
    Ok(match v.kind() {
        ValueKind::Bool => Value::from(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => Value::from(f64::try_from(v).unwrap_or(0.0)),
        ValueKind::String => match v
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_lowercase()
            .parse::<f64>()
        {
            Ok(f) => Value::from(f),
            Err(_) => default,
        },
        _ => default,
    })
}

fn join(v: Value, sep: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let attribute: Option<String> = kwargs.get("attribute")?;
    kwargs.assert_all_used()?;
    let sep = sep.unwrap_or_default();
    if let Some(s) = v.as_str() {
        return Ok(s.chars().map(String::from).collect::<Vec<_>>().join(&sep));
    }
    let mut parts = Vec::new();
    for item in v.try_iter()? {
        let item = match &attribute {
            Some(a) => a.split('.').try_fold(item, |v, part| v.get_attr(part))?,
            None => item,
        };
        parts.push(py_str(&item));
    }
    Ok(parts.join(&sep))
}

// ------------------------------------------------------------ serialization

/// Python's `json.dumps` with its default separators (or Ansible's nice ones).
fn write_json(
    out: &mut String,
    v: &Value,
    indent: Option<usize>,
    level: usize,
    sort: bool,
) -> Result<(), Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    match v.kind() {
        ValueKind::Undefined => return Err(Error::from(ErrorKind::UndefinedError)),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let s = py_number(v);
            out.push_str(match s.as_str() {
                "nan" => "NaN",
                "inf" => "Infinity",
                "-inf" => "-Infinity",
                other => other,
            });
        }
        ValueKind::String => json_string(out, v.as_str().unwrap_or_default()),
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if sort {
                keys.sort_by_key(py_str);
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {
                        out.push(' ');
                    }
                }
                newline(out, level + 1);
                json_string(out, &py_str(key));
                out.push_str(": ");
                write_json(out, &v.get_item(key)?, indent, level + 1, sort)?;
            }
            newline(out, level);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {
                        out.push(' ');
                    }
                }
                newline(out, level + 1);
                write_json(out, item, indent, level + 1, sort)?;
            }
            newline(out, level);
            out.push(']');
        }
        _ => json_string(out, &v.to_string()),
    }
    Ok(())
}

/// Python's `json.dumps(v, indent=indent, sort_keys=sort)`.
pub(crate) fn json_dumps(v: &Value, indent: Option<usize>, sort: bool) -> Result<String, Error> {
    let mut out = String::new();
    write_json(&mut out, v, indent, 0, sort)?;
    Ok(out)
}

/// A JSON string with Python's `ensure_ascii=True` escaping.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn to_json(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let sort: bool = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, &v, indent, 0, sort)?;
    Ok(out)
}

fn to_nice_json(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let indent: usize = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    let sort: bool = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, &v, Some(indent), 0, sort)?;
    Ok(out)
}

fn from_json(s: String) -> Result<Value, Error> {
    let parsed: Json =
        serde_json::from_str(&s).map_err(|e| fail(format!("from_json: invalid JSON: {e}")))?;
    Ok(Value::from_serialize(&parsed))
}

fn from_yaml(v: Value) -> Result<Value, Error> {
    defined(&v)?;
    let Some(s) = v.as_str() else { return Ok(v) };
    let parsed: Json =
        serde_yaml::from_str(s).map_err(|e| fail(format!("from_yaml: invalid YAML: {e}")))?;
    Ok(Value::from_serialize(&parsed))
}

fn from_yaml_all(s: String) -> Result<Value, Error> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&s) {
        let parsed: Json = serde::Deserialize::deserialize(doc)
            .map_err(|e| fail(format!("from_yaml_all: invalid YAML: {e}")))?;
        docs.push(parsed);
    }
    Ok(Value::from_serialize(&docs))
}

/// YAML the way PyYAML's `yaml.dump` writes it for Ansible: sorted keys,
/// `flow_leaves` for `default_flow_style=None` (collections of scalars
/// inline), PyYAML's indentation rules and its folding of long lines at
/// 80 columns.
struct YamlWriter {
    best: usize,
    flow_leaves: bool,
    out: String,
    column: usize,
}

/// PyYAML's `best_width`.
const YAML_WIDTH: usize = 80;

fn is_collection(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable
    )
}

fn entries(v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut keys: Vec<Value> = v.try_iter()?.collect();
    keys.sort_by_key(py_str);
    keys.into_iter()
        .map(|k| v.get_item(&k).map(|val| (k, val)))
        .collect()
}

/// How a string scalar is written.
enum Style {
    Plain,
    Single,
    Double,
}

fn yaml_style(s: &str, flow: bool) -> Style {
    if yaml_plain_ok(s, flow) {
        return Style::Plain;
    }
    let special = s
        .chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}');
    if special || s.contains(" \n") || s.contains("\n ") {
        Style::Double
    } else {
        Style::Single
    }
}

impl YamlWriter {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
    }

    fn newline_indent(&mut self, indent: usize) {
        self.out.push('\n');
        self.out.push_str(&" ".repeat(indent));
        self.column = indent;
    }

    fn inline(&self, v: &Value) -> bool {
        if !is_collection(v) {
            return true;
        }
        if v.len() == Some(0) {
            return true;
        }
        if !self.flow_leaves {
            return false;
        }
        match v.kind() {
            ValueKind::Map => entries(v)
                .map(|e| e.iter().all(|(_, val)| !is_collection(val)))
                .unwrap_or(false),
            _ => v
                .try_iter()
                .map(|mut it| it.all(|i| !is_collection(&i)))
                .unwrap_or(false),
        }
    }

    /// A scalar; `indent` is where folded lines continue; keys never fold.
    fn scalar(&mut self, v: &Value, indent: usize, flow: bool, split: bool) {
        if v.kind() != ValueKind::String {
            let text = yaml_scalar(v, flow);
            self.write(&text);
            return;
        }
        let s = v.as_str().unwrap_or_default();
        match yaml_style(s, flow) {
            Style::Plain => self.folded(s, indent, split, false),
            Style::Single => {
                self.write("'");
                self.folded(&s.replace('\'', "''"), indent, split, true);
                self.write("'");
            }
            Style::Double => {
                let mut text = String::new();
                json_string(&mut text, s);
                self.write(&text);
            }
        }
    }

    /// Text with PyYAML's folding: a single space becomes a line break once
    /// the line is past 80 columns; in quoted text a line break is written
    /// as an empty line.
    fn folded(&mut self, s: &str, indent: usize, split: bool, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                let single =
                    i + 1 < chars.len() && chars[i + 1] != ' ' && (i == 0 || chars[i - 1] != ' ');
                let inner = !quoted || (i != 0 && i + 1 != chars.len());
                if single && inner && split && self.column > YAML_WIDTH {
                    self.newline_indent(indent);
                } else {
                    self.write(" ");
                }
                i += 1;
            } else if c == '\n' && quoted {
                let mut n = 0;
                while i < chars.len() && chars[i] == '\n' {
                    n += 1;
                    i += 1;
                }
                self.out.push_str(&"\n".repeat(n + 1));
                self.out.push_str(&" ".repeat(indent));
                self.column = indent;
            } else {
                let start = i;
                while i < chars.len() && chars[i] != ' ' && !(quoted && chars[i] == '\n') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                self.write(&word);
            }
        }
    }

    /// A flow collection whose container sits at `container`.
    fn flow(&mut self, v: &Value, container: usize) -> Result<(), Error> {
        let indent = container + self.best;
        match v.kind() {
            ValueKind::Map => {
                self.write("{");
                for (i, (k, val)) in entries(v)?.into_iter().enumerate() {
                    if i > 0 {
                        self.write(",");
                    }
                    if self.column > YAML_WIDTH {
                        self.newline_indent(indent);
                    } else if i > 0 {
                        self.write(" ");
                    }
                    self.scalar(&k, indent + self.best, true, false);
                    self.write(": ");
                    self.flow_item(&val, indent)?;
                }
                self.write("}");
            }
            _ => {
                self.write("[");
                for (i, item) in v.try_iter()?.enumerate() {
                    if i > 0 {
                        self.write(",");
                    }
                    if self.column > YAML_WIDTH {
                        self.newline_indent(indent);
                    } else if i > 0 {
                        self.write(" ");
                    }
                    self.flow_item(&item, indent)?;
                }
                self.write("]");
            }
        }
        Ok(())
    }

    fn flow_item(&mut self, v: &Value, indent: usize) -> Result<(), Error> {
        if is_collection(v) {
            self.flow(v, indent)
        } else {
            self.scalar(v, indent + self.best, true, true);
            Ok(())
        }
    }

    /// An inline node after `key:` or `-`, for a container at `container`.
    fn inline_node(&mut self, v: &Value, container: usize) -> Result<(), Error> {
        self.write(" ");
        if is_collection(v) {
            self.flow(v, container)
        } else {
            self.scalar(v, container + self.best, false, true);
            Ok(())
        }
    }

    /// A block collection whose entries start at column `col`; the first
    /// entry continues the current line when `first_inline` (after `- `).
    fn block(&mut self, v: &Value, col: usize, first_inline: bool) -> Result<(), Error> {
        let pad = " ".repeat(col);
        match v.kind() {
            ValueKind::Map => {
                for (i, (k, val)) in entries(v)?.into_iter().enumerate() {
                    if i > 0 || !first_inline {
                        self.write(&pad);
                    }
                    self.scalar(&k, col + self.best, false, false);
                    self.write(":");
                    if self.inline(&val) {
                        self.inline_node(&val, col)?;
                        self.write("\n");
                    } else {
                        self.write("\n");
                        // PyYAML does not indent sequences inside mappings.
                        let child = if val.kind() == ValueKind::Map {
                            col + self.best
                        } else {
                            col
                        };
                        self.block(&val, child, false)?;
                    }
                }
            }
            _ => {
                for (i, item) in v.try_iter()?.enumerate() {
                    if i > 0 || !first_inline {
                        self.write(&pad);
                    }
                    self.write("-");
                    if self.inline(&item) {
                        self.inline_node(&item, col)?;
                        self.write("\n");
                    } else {
                        let gap = " ".repeat(self.best - 1);
                        self.write(&gap);
                        self.block(&item, col + self.best, true)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn yaml_plain_ok(s: &str, flow: bool) -> bool {
    static RESERVED: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let reserved = RESERVED.get_or_init(|| {
        Regex::new(concat!(
            r"^(?:~|null|Null|NULL|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|=|<<",
            r"|[-+]?(?:0b[01_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)",
            r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)$"
        ))
        .expect("valid YAML resolver regex")
    });
    if s.is_empty() || reserved.is_match(s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = s.chars().nth(1);
        let indicator_ok = matches!(first, '-' | '?' | ':')
            && second.is_some_and(|c| !c.is_whitespace())
            && !(flow && first != '-');
        if !indicator_ok {
            return false;
        }
    }
    if s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
    {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    !s.chars().any(|c| c.is_control() || c == '\u{feff}')
}

fn yaml_scalar(v: &Value, flow: bool) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "null".into(),
        ValueKind::Bool => (if v.is_true() { "true" } else { "false" }).into(),
        ValueKind::Number => match py_number(v).as_str() {
            "nan" => ".nan".into(),
            "inf" => ".inf".into(),
            "-inf" => "-.inf".into(),
            other => other.to_string(),
        },
        _ => {
            let s = py_str(v);
            match yaml_style(&s, flow) {
                Style::Plain => s,
                Style::Single => format!("'{}'", s.replace('\'', "''")),
                Style::Double => {
                    let mut out = String::new();
                    json_string(&mut out, &s);
                    out
                }
            }
        }
    }
}

fn dump_yaml(v: &Value, indent: usize, flow_leaves: bool) -> Result<String, Error> {
    let mut w = YamlWriter {
        best: indent,
        flow_leaves,
        out: String::new(),
        column: 0,
    };
    if w.inline(v) {
        if is_collection(v) {
            w.flow(v, 0)?;
        } else {
            w.scalar(v, indent, false, true);
        }
        w.write("\n");
        return Ok(w.out);
    }
    w.block(v, 0, false)?;
    Ok(w.out)
}

fn to_yaml(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let indent: usize = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2).max(2);
    kwargs.assert_all_used()?;
    dump_yaml(&v, indent, true)
}

fn to_nice_yaml(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let indent: usize = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4).max(2);
    kwargs.assert_all_used()?;
    dump_yaml(&v, indent, false)
}

// ------------------------------------------------------------------ combine

fn json_of(v: &Value) -> Result<Json, Error> {
    serde_json::to_value(v).map_err(|e| fail(e.to_string()))
}

#[derive(Clone, Copy, PartialEq)]
enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

fn merge(a: &mut Json, b: Json, recursive: bool, lists: ListMerge) {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            for (k, v) in y {
                match x.get_mut(&k) {
                    Some(existing) if recursive && existing.is_object() && v.is_object() => {
                        merge(existing, v, recursive, lists)
                    }
                    Some(existing) if existing.is_array() && v.is_array() => {
                        merge(existing, v, recursive, lists)
                    }
                    _ => {
                        x.insert(k, v);
                    }
                }
            }
        }
        (Json::Array(x), Json::Array(y)) => match lists {
            ListMerge::Replace => *x = y,
            ListMerge::Keep => {}
            ListMerge::Append => x.extend(y),
            ListMerge::Prepend => {
                let mut y = y;
                y.append(x);
                *x = y;
            }
            ListMerge::AppendRp => {
                x.retain(|i| !y.contains(i));
                x.extend(y);
            }
            ListMerge::PrependRp => {
                let mut y = y;
                x.retain(|i| !y.contains(i));
                y.append(x);
                *x = y;
            }
        },
        (a, b) => *a = b,
    }
}

fn combine(v: Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let recursive: bool = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let lists = match kwargs
        .get::<Option<String>>("list_merge")?
        .as_deref()
        .unwrap_or("replace")
    {
        "replace" => ListMerge::Replace,
        "keep" => ListMerge::Keep,
        "append" => ListMerge::Append,
        "prepend" => ListMerge::Prepend,
        "append_rp" => ListMerge::AppendRp,
        "prepend_rp" => ListMerge::PrependRp,
        other => return Err(fail(format!("'{other}' is not a valid list_merge value"))),
    };
    kwargs.assert_all_used()?;
    let mut dicts = Vec::new();
    for d in std::iter::once(v).chain(rest.0) {
        match json_of(&d)? {
            Json::Array(items) => dicts.extend(items),
            other => dicts.push(other),
        }
    }
    let mut acc = Json::Object(serde_json::Map::new());
    for d in dicts {
        if !d.is_object() {
            return Err(fail(format!("combine expects dictionaries, got '{d}'")));
        }
        if recursive || lists == ListMerge::Replace {
            merge(&mut acc, d, recursive, lists);
        } else if let (Json::Object(x), Json::Object(y)) = (&mut acc, d) {
            // Non-recursive: top-level keys replace, except lists that merge.
            for (k, val) in y {
                match x.get_mut(&k) {
                    Some(existing) if existing.is_array() && val.is_array() => {
                        merge(existing, val, false, lists)
                    }
                    _ => {
                        x.insert(k, val);
                    }
                }
            }
        }
    }
    Ok(Value::from_serialize(&acc))
}

// -------------------------------------------------------------------- regex

fn build_regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if multiline {
        flags.push('m');
    }
    let full = if flags.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{flags}){pattern}")
    };
    Regex::new(&full).map_err(|e| fail(format!("invalid regular expression '{pattern}': {e}")))
}

/// Python `re.sub` replacement syntax (`\1`, `\g<1>`, `\g<name>`) to the
/// regex crate's (`${1}`, `${name}`), with literal `$` escaped.
fn py_replacement(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(&d) = chars.peek() {
                        if d.is_ascii_digit() && n.len() < 2 {
                            n.push(d);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn regex_replace(
    v: Value,
    pattern: Option<String>,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(&v)?;
    let ignorecase: bool = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline: bool = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    let count: usize = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let re = build_regex(&pattern.unwrap_or_default(), ignorecase, multiline)?;
    let repl = py_replacement(&replacement.unwrap_or_default());
    Ok(re.replacen(&py_str(&v), count, repl.as_str()).into_owned())
}

fn regex_search(
    v: Value,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    defined(&v)?;
    let ignorecase: bool = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline: bool = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let re = build_regex(&pattern, ignorecase, multiline)?;
    let text = py_str(&v);
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let m = if let Some(n) = g.strip_prefix('\\').and_then(|n| n.parse::<usize>().ok()) {
            caps.get(n)
        } else if let Some(name) = g.strip_prefix("\\g<").and_then(|n| n.strip_suffix('>')) {
            caps.name(name)
                .or_else(|| name.parse::<usize>().ok().and_then(|n| caps.get(n)))
        } else {
            return Err(fail(format!(
                "regex_search: unknown argument '{g}' (use '\\\\1' or '\\\\g<name>')"
            )));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

fn regex_findall(v: Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let ignorecase: bool = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline: bool = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let re = build_regex(&pattern, ignorecase, multiline)?;
    let text = py_str(&v);
    let groups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&text) {
        let g = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
        out.push(match groups {
            0 => g(0),
            1 => g(1),
            n => Value::from((1..=n).map(g).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

fn regex_escape(s: String, re_type: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let re_type = kwargs.get::<Option<String>>("re_type")?.or(re_type);
    kwargs.assert_all_used()?;
    let posix = match re_type.as_deref().unwrap_or("python") {
        "python" => false,
        "posix_basic" => true,
        other => return Err(fail(format!("Regex type ({other}) not yet implemented"))),
    };
    let special: &str = if posix {
        "[]\\.^$*"
    } else {
        "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}"
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

// -------------------------------------------------------------------- paths

pub(crate) fn py_basename(p: &str) -> &str {
    p.rsplit_once('/').map_or(p, |(_, b)| b)
}

pub(crate) fn py_dirname(p: &str) -> String {
    match p.rfind('/') {
        None => String::new(),
        Some(i) => {
            let head = &p[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
    }
}

fn splitext(p: String) -> Value {
    let base = py_basename(&p);
    let stem_start = p.len() - base.len();
    let leading = base.len() - base.trim_start_matches('.').len();
    match base[leading..].rfind('.') {
        Some(i) => {
            let cut = stem_start + leading + i;
            Value::from(vec![p[..cut].to_string(), p[cut..].to_string()])
        }
        None => Value::from(vec![p.clone(), String::new()]),
    }
}

/// `os.path.realpath`: symlinks resolved for the part that exists, the
/// rest normalized lexically.
fn realpath(s: &str) -> String {
    let p = Path::new(s);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::from("/");
    for comp in abs.components() {
        match comp {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(c) => {
                out.push(c);
                if let Ok(resolved) = std::fs::canonicalize(&out) {
                    out = resolved;
                }
            }
            _ => {}
        }
    }
    out.to_string_lossy().into_owned()
}

fn path_join(v: Value) -> Result<String, Error> {
    defined(&v)?;
    let parts: Vec<String> = if let Some(s) = v.as_str() {
        vec![s.to_string()]
    } else {
        v.try_iter()?.map(|i| py_str(&i)).collect()
    };
    let mut out = String::new();
    for part in parts {
        if part.starts_with('/') || out.is_empty() {
            out = part;
        } else if out.ends_with('/') {
            out.push_str(&part);
        } else {
            out.push('/');
            out.push_str(&part);
        }
    }
    Ok(out)
}

/// `posixpath.normpath` on bytes: `.` and empty components dropped, `..`
/// folded lexically, exactly two leading slashes kept (POSIX leaves `//`
/// implementation-defined), `.` for an empty result.
pub(crate) fn py_normpath_bytes(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let mut initial = usize::from(path.starts_with(b"/"));
    if path.starts_with(b"//") && !path.starts_with(b"///") {
        initial = 2;
    }
    let mut comps: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if comp != b".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&&b".."[..])
        {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = vec![b'/'; initial];
    out.extend_from_slice(&comps.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// `posixpath.normpath`.
pub(crate) fn py_normpath(path: &str) -> String {
    String::from_utf8_lossy(&py_normpath_bytes(path.as_bytes())).into_owned()
}

/// `posixpath.join(a, b)` on bytes.
pub(crate) fn py_join_bytes(a: &[u8], b: &[u8]) -> Vec<u8> {
    if b.starts_with(b"/") {
        return b.to_vec();
    }
    let mut out = a.to_vec();
    if !out.is_empty() && !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(b);
    out
}

/// `posixpath.abspath`: joined onto the current directory, then normalized.
fn py_abspath(p: &str) -> String {
    if p.starts_with('/') {
        return py_normpath(p);
    }
    let cwd = std::env::current_dir()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    py_normpath(&String::from_utf8_lossy(&py_join_bytes(
        cwd.as_bytes(),
        p.as_bytes(),
    )))
}

/// `posixpath.relpath(path, start)`, lexically; relative inputs are taken
/// from the current directory.
pub(crate) fn py_relpath(path: &str, start: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("no path specified".into());
    }
    let start_abs = py_abspath(start);
    let path_abs = py_abspath(path);
    let s: Vec<&str> = start_abs.split('/').filter(|c| !c.is_empty()).collect();
    let p: Vec<&str> = path_abs.split('/').filter(|c| !c.is_empty()).collect();
    let common = s.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let mut rel: Vec<&str> = vec![".."; s.len() - common];
    rel.extend_from_slice(&p[common..]);
    if rel.is_empty() {
        return Ok(".".into());
    }
    Ok(rel.join("/"))
}

/// Ansible's `relpath` filter: `os.path.relpath(path, start=os.curdir)`.
fn relpath(v: Value, start: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let start = match kwargs.get::<Option<Value>>("start")? {
        Some(s) => Some(s),
        None => start,
    };
    kwargs.assert_all_used()?;
    let arg = |v: &Value| -> Result<String, Error> {
        match v.as_str() {
            Some(s) => Ok(s.to_string()),
            None => Err(fail(format!(
                "expected str, bytes or os.PathLike object, not {}",
                py_type(v)
            ))),
        }
    };
    let path = arg(&v)?;
    let start = match &start {
        None => ".".to_string(),
        Some(s) if s.is_none() => ".".to_string(),
        Some(s) => {
            defined(s)?;
            arg(s)?
        }
    };
    py_relpath(&path, &start).map_err(fail)
}

/// Python's `shlex.quote`.
pub(crate) fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Marks the message of `mandatory` so the templar can put the variable's
/// name in (the filter only sees the undefined value).
pub(crate) const MANDATORY_MARKER: &str = "\u{1}mandatory\u{1}";

fn mandatory(v: Value, msg: Option<String>) -> Result<Value, Error> {
    if v.is_undefined() {
        return Err(fail(match msg {
            Some(m) => m,
            None => MANDATORY_MARKER.to_string(),
        }));
    }
    Ok(v)
}

fn hash(s: &str, algo: &str) -> Result<String, Error> {
    use sha1::Digest;
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    Ok(match algo {
        "sha1" => hex(&sha1::Sha1::digest(s.as_bytes())),
        "md5" => hex(&md5::Md5::digest(s.as_bytes())),
        "sha224" => hex(&sha2::Sha224::digest(s.as_bytes())),
        "sha256" => hex(&sha2::Sha256::digest(s.as_bytes())),
        "sha384" => hex(&sha2::Sha384::digest(s.as_bytes())),
        "sha512" => hex(&sha2::Sha512::digest(s.as_bytes())),
        other => return Err(fail(format!("hash: unsupported hash type '{other}' (use sha1, md5, sha224, sha256, sha384 or sha512)"))),
    })
}

fn b64decode(s: String) -> Result<String, Error> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| {
            fail(format!(
                "b64decode: invalid base64 ({e}); the input needs its '=' padding"
            ))
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

// ------------------------------------------------------------- collections

fn dict2items(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let key_name: String = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name: String = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    if v.kind() != ValueKind::Map {
        return Err(fail(format!(
            "dict2items requires a dictionary, got <class '{}'> instead.",
            py_type(&v)
        )));
    }
    let mut out = Vec::new();
    for key in v.try_iter()? {
        let val = v.get_item(&key)?;
        out.push(Value::from_iter([
            (key_name.clone(), key),
            (value_name.clone(), val),
        ]));
    }
    Ok(Value::from(out))
}

fn items2dict(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let key_name: String = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name: String = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    if !matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(fail(format!(
            "items2dict requires a list, got <class '{}'> instead.",
            py_type(&v)
        )));
    }
    let mut out = indexmap::IndexMap::new();
    for item in v.try_iter()? {
        let k = item.get_attr(&key_name)?;
        let val = item.get_attr(&value_name)?;
        if k.is_undefined() || val.is_undefined() {
            return Err(fail(format!(
                "items2dict requires each item to have '{key_name}' and '{value_name}' keys, got {}",
                py_repr(&item)
            )));
        }
        out.insert(py_str(&k), val);
    }
    Ok(Value::from_iter(out))
}

fn flatten_into(
    out: &mut Vec<Value>,
    v: &Value,
    levels: Option<i64>,
    skip_nulls: bool,
) -> Result<(), Error> {
    for item in v.try_iter()? {
        if skip_nulls && item.is_none() {
            continue;
        }
        if matches!(item.kind(), ValueKind::Seq | ValueKind::Iterable)
            && levels.is_none_or(|l| l > 0)
        {
            flatten_into(out, &item, levels.map(|l| l - 1), skip_nulls)?;
        } else {
            out.push(item);
        }
    }
    Ok(())
}

fn flatten(v: Value, levels: Option<i64>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let levels = kwargs.get::<Option<i64>>("levels")?.or(levels);
    let skip_nulls: bool = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    flatten_into(&mut out, &v, levels, skip_nulls)?;
    Ok(Value::from(out))
}

fn zip(a: Value, rest: Rest<Value>, longest: bool) -> Result<Value, Error> {
    defined(&a)?;
    let mut lists: Vec<Vec<Value>> = vec![a.try_iter()?.collect()];
    for r in rest.iter() {
        lists.push(r.try_iter()?.collect());
    }
    let n = if longest {
        lists.iter().map(Vec::len).max()
    } else {
        lists.iter().map(Vec::len).min()
    }
    .unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| {
                Value::from(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

fn product(a: Value, rest: Rest<Value>) -> Result<Value, Error> {
    defined(&a)?;
    let mut acc: Vec<Vec<Value>> = a.try_iter()?.map(|i| vec![i]).collect();
    for r in rest.iter() {
        let items: Vec<Value> = r.try_iter()?.collect();
        acc = acc
            .into_iter()
            .flat_map(|prefix| {
                items
                    .iter()
                    .map(move |i| [prefix.clone(), vec![i.clone()]].concat())
            })
            .collect();
    }
    Ok(Value::from(
        acc.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

fn ternary(v: Value, yes: Value, no: Value, none: Option<Value>) -> Result<Value, Error> {
    defined(&v)?;
    Ok(match none {
        Some(n) if v.is_none() => n,
        _ if v.is_true() => yes,
        _ => no,
    })
}

enum SetOp {
    Difference,
    Intersect,
    Union,
    Symmetric,
}

fn unique_push(out: &mut Vec<Value>, v: Value) {
    if !out.contains(&v) {
        out.push(v);
    }
}

/// Ansible's set filters, keeping first-seen order.
fn set_op(a: &Value, b: &Value, op: SetOp) -> Result<Value, Error> {
    defined(a)?;
    defined(b)?;
    let a: Vec<Value> = a.try_iter()?.collect();
    let b: Vec<Value> = b.try_iter()?.collect();
    let mut out = Vec::new();
    match op {
        SetOp::Difference => a
            .into_iter()
            .filter(|x| !b.contains(x))
            .for_each(|x| unique_push(&mut out, x)),
        SetOp::Intersect => a
            .into_iter()
            .filter(|x| b.contains(x))
            .for_each(|x| unique_push(&mut out, x)),
        SetOp::Union => a
            .into_iter()
            .chain(b)
            .for_each(|x| unique_push(&mut out, x)),
        SetOp::Symmetric => {
            let left: Vec<Value> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
            let right: Vec<Value> = b.iter().filter(|x| !a.contains(x)).cloned().collect();
            left.into_iter()
                .chain(right)
                .for_each(|x| unique_push(&mut out, x));
        }
    }
    // Ansible goes through Python sets; CPython iterates small integers in
    // ascending order, other values in an order that varies per run (here:
    // first seen).
    if out
        .iter()
        .all(|v| v.as_i64().is_some_and(|i| i >= 0) && !is_float(v))
    {
        out.sort_by_key(|v| v.as_i64());
    }
    Ok(Value::from(out))
}

fn subelements(v: Value, key: String, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let skip_missing: bool = kwargs.get::<Option<bool>>("skip_missing")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    for item in v.try_iter()? {
        let mut sub = item.clone();
        for part in key.split('.') {
            sub = sub.get_attr(part)?;
        }
        if sub.is_undefined() {
            if skip_missing {
                continue;
            }
            return Err(fail(format!(
                "could not find '{key}' key in iterated item '{}'",
                py_repr(&item)
            )));
        }
        if !matches!(sub.kind(), ValueKind::Seq | ValueKind::Iterable) {
            return Err(fail(format!(
                "the key {key} should point to a list, got '{}'",
                py_repr(&sub)
            )));
        }
        for s in sub.try_iter()? {
            out.push(Value::from(vec![item.clone(), s]));
        }
    }
    Ok(Value::from(out))
}

fn extract(item: Value, container: Value, morekeys: Option<Value>) -> Result<Value, Error> {
    let mut v = container.get_item(&item)?;
    if let Some(keys) = morekeys {
        let keys: Vec<Value> = if matches!(keys.kind(), ValueKind::Seq | ValueKind::Iterable) {
            keys.try_iter()?.collect()
        } else {
            vec![keys]
        };
        for k in keys {
            v = v.get_item(&k)?;
        }
    }
    Ok(v)
}

fn to_uuid(s: Value, namespace: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&s)?;
    let namespace = kwargs.get::<Option<String>>("namespace")?.or(namespace);
    kwargs.assert_all_used()?;
    use sha1::Digest;
    let ns = namespace.unwrap_or_else(|| "361E6D51-FAEC-444A-9079-341386DA8E2E".into());
    let hexns: String = ns.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hexns.len() != 32 {
        return Err(fail(format!("to_uuid: invalid namespace UUID '{ns}'")));
    }
    let nsbytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hexns[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut h = sha1::Sha1::new();
    h.update(&nsbytes);
    h.update(py_str(&s).as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Ansible's `comment` filter: the text decorated as a comment block.
fn comment(v: Value, style: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let style = kwargs
        .get::<Option<String>>("style")?
        .or(style)
        .unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(fail(format!(
                "comment: unknown style '{other}' (plain, erlang, c, cblock, xml)"
            )))
        }
    };
    let decoration: String = kwargs
        .get::<Option<String>>("decoration")?
        .unwrap_or_else(|| decoration.to_string());
    let beginning: String = kwargs
        .get::<Option<String>>("beginning")?
        .unwrap_or_else(|| beginning.to_string());
    let end: String = kwargs
        .get::<Option<String>>("end")?
        .unwrap_or_else(|| end.to_string());
    let prefix: String = kwargs
        .get::<Option<String>>("prefix")?
        .unwrap_or_else(|| decoration.trim_end().to_string());
    let postfix: String = kwargs
        .get::<Option<String>>("postfix")?
        .unwrap_or_else(|| decoration.trim_end().to_string());
    kwargs.assert_all_used()?;
    let text = py_str(&v);
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push('\n');
    }
    if !prefix.is_empty() {
        out.push_str(&prefix);
        out.push('\n');
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            if l.is_empty() {
                decoration.trim_end().to_string()
            } else {
                format!("{decoration}{l}")
            }
        })
        .collect();
    out.push_str(&lines.join("\n"));
    if !postfix.is_empty() {
        out.push('\n');
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push('\n');
        out.push_str(&end);
    }
    Ok(out)
}

/// The crypt(3) base-64 alphabet.
const CRYPT_B64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn crypt_b64(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(CRYPT_B64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

/// SHA-crypt (Drepper's `$5$`/`$6$`), as glibc's crypt(3) and passlib.
fn sha_crypt<D: sha2::Digest + Clone>(
    pw: &[u8],
    salt: &[u8],
    rounds: u32,
    oneshot: fn(&mut Vec<u8>) -> Vec<u8>,
) -> Vec<u8> {
    let hl = <D as sha2::Digest>::output_size();
    let digest = |parts: &[&[u8]]| -> Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    };
    let b = digest(&[pw, salt, pw]);
    let mut a = D::new();
    a.update(pw);
    a.update(salt);
    let mut cnt = pw.len();
    while cnt > hl {
        a.update(&b);
        cnt -= hl;
    }
    a.update(&b[..cnt]);
    let mut cnt = pw.len();
    while cnt > 0 {
        if cnt & 1 == 1 {
            a.update(&b);
        } else {
            a.update(pw);
        }
        cnt >>= 1;
    }
    let a = a.finalize().to_vec();
    let dp = {
        let mut d = D::new();
        for _ in 0..pw.len() {
            d.update(pw);
        }
        d.finalize().to_vec()
    };
    let p: Vec<u8> = dp.iter().cycle().take(pw.len()).copied().collect();
    let ds = {
        let mut d = D::new();
        for _ in 0..16 + a[0] as usize {
            d.update(salt);
        }
        d.finalize().to_vec()
    };
    let s: Vec<u8> = ds.iter().cycle().take(salt.len()).copied().collect();
    let mut c = a;
    let mut msg = Vec::with_capacity(2 * hl + s.len() + 2 * p.len() + 256);
    for i in 0..rounds {
        msg.clear();
        msg.extend_from_slice(if i & 1 == 1 { &p } else { &c });
        if i % 3 != 0 {
            msg.extend_from_slice(&s);
        }
        if i % 7 != 0 {
            msg.extend_from_slice(&p);
        }
        let tail: &[u8] = if i & 1 == 1 { &c } else { &p };
        msg.extend_from_slice(tail);
        c = oneshot(&mut msg);
    }
    c
}

/// One SHA-512 of `msg` (the rounds loop of SHA-crypt runs hundreds of thousands).
fn sha512_oneshot(msg: &mut Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha512::digest(msg.as_slice()).to_vec()
}

/// One SHA-256 of `msg`.
fn sha256_oneshot(msg: &mut Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(msg.as_slice()).to_vec()
}

fn md5_crypt(pw: &[u8], salt: &[u8]) -> String {
    use md5::Digest;
    let alt = md5::Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut ctx = md5::Md5::new();
    ctx.update(pw);
    ctx.update(b"$1$");
    ctx.update(salt);
    let mut pl = pw.len() as isize;
    while pl > 0 {
        ctx.update(&alt[..pl.min(16) as usize]);
        pl -= 16;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize().to_vec();
    for i in 0..1000 {
        let mut c = md5::Md5::new();
        if i & 1 == 1 {
            c.update(pw);
        } else {
            c.update(&fin);
        }
        if i % 3 != 0 {
            c.update(salt);
        }
        if i % 7 != 0 {
            c.update(pw);
        }
        if i & 1 == 1 {
            c.update(&fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize().to_vec();
    }
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        crypt_b64(&mut out, fin[a], fin[b], fin[c], 4);
    }
    crypt_b64(&mut out, 0, 0, fin[11], 2);
    out
}

fn random_salt(len: usize) -> Result<String, Error> {
    use std::io::Read;
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            fail(format!(
                "password_hash: cannot read /dev/urandom for a salt: {e}"
            ))
        })?;
    Ok(bytes
        .iter()
        .map(|b| CRYPT_B64[(*b & 0x3f) as usize] as char)
        .collect())
}

/// Ansible's `password_hash` (passlib's defaults: sha512_crypt with
/// 656000 rounds, sha256_crypt with 535000, md5_crypt). Without a salt the
/// result differs on every run, as in Ansible.
fn password_hash(
    v: Value,
    hashtype: Option<String>,
    salt: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(&v)?;
    let hashtype = kwargs
        .get::<Option<String>>("hashtype")?
        .or(hashtype)
        .unwrap_or_else(|| "sha512".into());
    let salt = kwargs.get::<Option<String>>("salt")?.or(salt);
    let rounds: Option<u32> = kwargs.get("rounds")?;
    let salt_size: Option<usize> = kwargs.get("salt_size")?;
    kwargs.assert_all_used()?;
    let pw = py_str(&v);
    let (id, implicit, max_salt) = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => ("6", 656_000u32, 16),
        "sha256" | "sha256_crypt" => ("5", 535_000u32, 16),
        "md5" | "md5_crypt" => ("1", 0, 8),
        other => {
            return Err(fail(format!(
            "password_hash: unsupported hash type '{other}' (berth supports sha512, sha256, md5)"
        )))
        }
    };
    let salt = match salt {
        Some(s) => {
            if let Some(bad) = s
                .chars()
                .find(|c| !CRYPT_B64.contains(&(*c as u8)) || !c.is_ascii())
            {
                return Err(fail(format!(
                    "password_hash: invalid character '{bad}' in salt (use ./0-9A-Za-z)"
                )));
            }
            s.chars().take(max_salt).collect::<String>()
        }
        None => random_salt(salt_size.unwrap_or(max_salt).min(max_salt))?,
    };
    if id == "1" {
        return Ok(md5_crypt(pw.as_bytes(), salt.as_bytes()));
    }
    let rounds = rounds.unwrap_or(implicit).clamp(1000, 999_999_999);
    let hash = if id == "6" {
        sha_crypt::<sha2::Sha512>(pw.as_bytes(), salt.as_bytes(), rounds, sha512_oneshot)
    } else {
        sha_crypt::<sha2::Sha256>(pw.as_bytes(), salt.as_bytes(), rounds, sha256_oneshot)
    };
    let mut out = format!("${id}$");
    if rounds != 5000 {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(&salt);
    out.push('$');
    let order: &[(usize, usize, usize)] = if id == "6" {
        &[
            (0, 21, 42),
            (22, 43, 1),
            (44, 2, 23),
            (3, 24, 45),
            (25, 46, 4),
            (47, 5, 26),
            (6, 27, 48),
            (28, 49, 7),
            (50, 8, 29),
            (9, 30, 51),
            (31, 52, 10),
            (53, 11, 32),
            (12, 33, 54),
            (34, 55, 13),
            (56, 14, 35),
            (15, 36, 57),
            (37, 58, 16),
            (59, 17, 38),
            (18, 39, 60),
            (40, 61, 19),
            (62, 20, 41),
        ]
    } else {
        &[
            (0, 10, 20),
            (21, 1, 11),
            (12, 22, 2),
            (3, 13, 23),
            (24, 4, 14),
            (15, 25, 5),
            (6, 16, 26),
            (27, 7, 17),
            (18, 28, 8),
            (9, 19, 29),
        ]
    };
    for &(a, b, c) in order {
        crypt_b64(&mut out, hash[a], hash[b], hash[c], 4);
    }
    if id == "6" {
        crypt_b64(&mut out, 0, 0, hash[63], 2);
    } else {
        crypt_b64(&mut out, 0, hash[31], hash[30], 3);
    }
    Ok(out)
}

const SIZE_UNITS: [&str; 9] = ["", "K", "M", "G", "T", "P", "E", "Z", "Y"];

fn human_readable(
    v: Value,
    isbits: Option<bool>,
    unit: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(&v)?;
    let isbits = kwargs.get::<Option<bool>>("isbits")?.or(isbits);
    let unit = kwargs.get::<Option<String>>("unit")?.or(unit);
    kwargs.assert_all_used()?;
    let n = f64::try_from(v.clone())
        .map_err(|_| fail(format!("human_readable() can't interpret {}", py_repr(&v))))?;
    let isbits = isbits.unwrap_or(false);
    let (suffix, base) = if isbits {
        ("b", "bits")
    } else {
        ("B", "Bytes")
    };
    let exp = match unit.as_deref().and_then(|u| {
        SIZE_UNITS
            .iter()
            .position(|s| !s.is_empty() && u.starts_with(s))
    }) {
        Some(i) => i,
        None => SIZE_UNITS
            .iter()
            .enumerate()
            .rev()
            .find(|(i, _)| n >= 1024f64.powi(*i as i32))
            .map_or(0, |(i, _)| i),
    };
    let scaled = n / 1024f64.powi(exp as i32);
    Ok(if exp == 0 {
        format!("{scaled:.2} {base}")
    } else {
        format!("{scaled:.2} {}{suffix}", SIZE_UNITS[exp])
    })
}

fn human_to_bytes(
    v: Value,
    default_unit: Option<String>,
    isbits: Option<bool>,
    kwargs: Kwargs,
) -> Result<i64, Error> {
    defined(&v)?;
    let default_unit = kwargs
        .get::<Option<String>>("default_unit")?
        .or(default_unit);
    let isbits = kwargs.get::<Option<bool>>("isbits")?.or(isbits);
    kwargs.assert_all_used()?;
    let s = py_str(&v);
    let re = Regex::new(r"^\s*(\d*\.?\d*)\s*([A-Za-z]+)?\s*$").expect("valid size regex");
    let caps = re.captures(&s).ok_or_else(|| {
        fail(format!(
            "human_to_bytes() can't interpret following string: {s}"
        ))
    })?;
    let num: f64 = caps[1].parse().map_err(|_| {
        fail(format!(
            "human_to_bytes() can't interpret following number: {s}"
        ))
    })?;
    let unit = caps
        .get(2)
        .map(|m| m.as_str().to_string())
        .or(default_unit)
        .unwrap_or_default();
    let isbits = isbits.unwrap_or(false);
    let first = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_default();
    let exp = if unit.is_empty()
        || unit.eq_ignore_ascii_case("b")
        || unit.eq_ignore_ascii_case("bytes")
        || unit.eq_ignore_ascii_case("bits")
    {
        0
    } else {
        SIZE_UNITS
            .iter()
            .position(|u| !u.is_empty() && *u == first)
            .ok_or_else(|| {
                fail(format!(
                    "human_to_bytes() failed to convert {s}: unknown unit"
                ))
            })?
    };
    // `MB` is bytes, `Mb` bits: the suffix must match what is asked for.
    let suffix = if exp == 0 {
        unit.chars().next()
    } else {
        unit.chars().nth(1)
    };
    let wrong = match suffix {
        Some('b') => !isbits && unit != "bytes",
        Some('B') => isbits,
        _ => false,
    };
    if wrong {
        let letter = if isbits { 'b' } else { 'B' };
        return Err(fail(format!(
            "human_to_bytes() can't interpret the input: human_to_bytes() failed to convert {s}. Value is not a valid string (expect {first}{letter} or {first})"
        )));
    }
    Ok((num * 1024f64.powi(exp as i32)).round() as i64)
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    fn vars() -> Value {
        json!({
            "d": {"b": 1, "a": [1, 2]},
            "s": "Hello World",
            "l": [3, 1, 2],
            "users": [{"name": "a", "on": true}, {"name": "b", "on": false}],
            "empty": "",
            "n": null,
            "y": "a: 1\nb: [x]",
            "ys": "a: 1\n---\nb: 2",
            "ab": "a\nb",
            "long": (["word"; 20].join(" ")),
        })
    }

    /// (expression, expected native value) — each verified with
    /// `ansible localhost -m debug -a 'msg={{ ... }}'` (ansible-core 2.19).
    fn check(table: &[(&str, Value)]) {
        let t = Templar::new();
        let c = Templar::context(vars().as_object().unwrap());
        for (expr, want) in table {
            let got = t
                .render_str(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(&got, want, "{expr}");
        }
    }

    fn check_err(table: &[(&str, &str)]) {
        let t = Templar::new();
        let c = Templar::context(vars().as_object().unwrap());
        for (expr, want) in table {
            let err = t.render_str(expr, &c).expect_err(expr);
            assert_eq!(err.message, *want, "{expr}");
        }
    }

    #[test]
    fn defaults_and_booleans() {
        check(&[
            ("{{ nope | default('x') }}", json!("x")),
            ("{{ nope | d('x') }}", json!("x")),
            ("{{ foo.bar | default('x') }}", json!("x")),
            ("{{ empty | default('x') }}", json!("")),
            ("{{ empty | default('x', true) }}", json!("x")),
            ("{{ 'yes' | bool }}", json!(true)),
            ("{{ 'no' | bool }}", json!(false)),
            ("{{ 'foo' | bool }}", json!(false)),
            ("{{ 'on' | bool }}", json!(true)),
            ("{{ 'True' | bool }}", json!(true)),
            ("{{ '1' | bool }}", json!(true)),
            ("{{ 0.0 | bool }}", json!(false)),
            ("{{ 'y' | bool }}", json!(false)),
            ("{{ 't' | bool }}", json!(false)),
            ("{{ n | bool }}", json!(false)),
            ("{{ True | ternary('a', 'b') }}", json!("a")),
            ("{{ none | ternary('a', 'b', 'c') }}", json!("c")),
            ("{{ 0 | ternary('a', 'b') }}", json!("b")),
        ]);
    }

    #[test]
    fn numbers_and_strings() {
        check(&[
            ("{{ '3.7' | int }}", json!(3)),
            ("{{ 'abc' | int }}", json!(0)),
            ("{{ '0x1A' | int(base=16) }}", json!(26)),
            ("{{ 3.9 | int }}", json!(3)),
            ("{{ '12' | float }}", json!(12.0)),
            ("{{ 42 | string }}", json!("42")),
            ("{{ [1, 'a'] | string }}", json!("[1, 'a']")),
            ("{{ s | lower }}", json!("hello world")),
            ("{{ s | upper }}", json!("HELLO WORLD")),
            ("{{ 'hello world' | capitalize }}", json!("Hello world")),
            ("{{ 'hello world' | title }}", json!("Hello World")),
            ("{{ s | replace('World', 'There') }}", json!("Hello There")),
            ("{{ '  x  ' | trim }}", json!("x")),
            ("{{ s | length }}", json!(11)),
            ("{{ l | count }}", json!(3)),
            ("{{ 'a,b,c' | split(',') }}", json!(["a", "b", "c"])),
            ("{{ 6 / 2 }}", json!(3.0)),
            ("{{ 7 // 2 }}", json!(3)),
            ("{{ 2 | pow(10) }}", json!(1024.0)),
        ]);
    }

    #[test]
    fn lists() {
        check(&[
            ("{{ [3,1] | sort }}", json!([1, 3])),
            ("{{ l | first }}", json!(3)),
            ("{{ l | last }}", json!(2)),
            ("{{ l | min }}", json!(1)),
            ("{{ l | max }}", json!(3)),
            ("{{ l | sum }}", json!(6)),
            ("{{ [1, 2, 1, 3] | unique }}", json!([1, 2, 3])),
            ("{{ l | join(',') }}", json!("3,1,2")),
            ("{{ [1, True, None] | join('-') }}", json!("1-True-None")),
            (
                "{{ users | map(attribute='name') | list }}",
                json!(["a", "b"]),
            ),
            (
                "{{ users | selectattr('on') | map(attribute='name') | list }}",
                json!(["a"]),
            ),
            (
                "{{ users | rejectattr('on') | map(attribute='name') | list }}",
                json!(["b"]),
            ),
            (
                "{{ users | selectattr('name', 'equalto', 'b') | map(attribute='on') | list }}",
                json!([false]),
            ),
            (
                "{{ ['ab', 'cd', 'ae'] | select('match', 'a') | list }}",
                json!(["ab", "ae"]),
            ),
            (
                "{{ ['ab', 'cd', 'ae'] | reject('search', 'e') | list }}",
                json!(["ab", "cd"]),
            ),
            ("{{ ['1', '2'] | map('int') | list }}", json!([1, 2])),
            ("{{ [1,[2,[3,[4]]]] | flatten }}", json!([1, 2, 3, 4])),
            (
                "{{ [1,[2,[3,[4]]]] | flatten(levels=1) }}",
                json!([1, 2, [3, [4]]]),
            ),
            ("{{ [1,[2,None,[3]]] | flatten }}", json!([1, 2, 3])),
            (
                "{{ [1, 2] | zip(['a', 'b']) | list }}",
                json!([[1, "a"], [2, "b"]]),
            ),
            (
                "{{ [1, 2] | product(['a']) | list }}",
                json!([[1, "a"], [2, "a"]]),
            ),
            ("{{ [3,1,2,1] | difference([2]) }}", json!([1, 3])),
            ("{{ [3,1,2] | union([5,4]) }}", json!([1, 2, 3, 4, 5])),
            ("{{ [3,1,2] | intersect([2,3]) }}", json!([2, 3])),
            (
                "{{ [3,1] | symmetric_difference([1,5,4]) }}",
                json!([3, 4, 5]),
            ),
            ("{{ ['a','A','b'] | unique }}", json!(["a", "b"])),
            ("{{ ['b','A','a'] | sort }}", json!(["A", "a", "b"])),
            ("{{ ['b','A','a'] | max }}", json!("b")),
            ("{{ [1, 2, 3] | zip(['a']) | list }}", json!([[1, "a"]])),
            ("{{ [1,[2,[3]]] | flatten(1) }}", json!([1, 2, [3]])),
            ("{{ d | dictsort }}", json!([["a", [1, 2]], ["b", 1]])),
            (
                "{{ ['a', 'b'] | map('extract', {'a': 1, 'b': 2}) | list }}",
                json!([1, 2]),
            ),
            (
                "{{ [{'n': 'x', 'g': [1, 2]}] | subelements('g') }}",
                json!([[{"n": "x", "g": [1, 2]}, 1], [{"n": "x", "g": [1, 2]}, 2]]),
            ),
        ]);
    }

    #[test]
    fn dictionaries() {
        check(&[
            (
                "{{ {'a': 1} | dict2items }}",
                json!([{"key": "a", "value": 1}]),
            ),
            (
                "{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}",
                json!([{"k": "a", "v": 1}]),
            ),
            (
                "{{ [{'key': 'a', 'value': 1}] | items2dict }}",
                json!({"a": 1}),
            ),
            (
                "{{ [{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v') }}",
                json!({"a": 1}),
            ),
            (
                "{{ {'a':{'x':1,'l':[1]}} | combine({'a':{'y':2,'l':[2]}}, recursive=True) }}",
                json!({"a": {"x": 1, "l": [2], "y": 2}}),
            ),
            (
                "{{ {'a':{'x':1}} | combine({'a':{'y':2}}) }}",
                json!({"a": {"y": 2}}),
            ),
            (
                "{{ {'a':[1,2]} | combine({'a':[2,3]}, list_merge='append') }}",
                json!({"a": [1, 2, 2, 3]}),
            ),
            (
                "{{ {'a':[1,2]} | combine({'a':[2,3]}, list_merge='append_rp') }}",
                json!({"a": [1, 2, 3]}),
            ),
            (
                "{{ {'a':[1,2]} | combine({'a':[2,3]}, list_merge='prepend') }}",
                json!({"a": [2, 3, 1, 2]}),
            ),
            (
                "{{ {'a':[1,2]} | combine({'a':[2,3]}, list_merge='keep') }}",
                json!({"a": [1, 2]}),
            ),
            (
                "{{ {'a':[1,2]} | combine({'a':[2,3]}, list_merge='prepend_rp') }}",
                json!({"a": [2, 3, 1]}),
            ),
            ("{{ [{'a':1},{'b':2}] | combine }}", json!({"a": 1, "b": 2})),
            (
                "{{ [{'a':1}] | combine({'b':2}) }}",
                json!({"a": 1, "b": 2}),
            ),
            ("{{ {'a': 1} | combine({'a': None}) }}", json!({"a": null})),
            ("{{ {'a': 1}.items() | list }}", json!([["a", 1]])),
            ("{{ d.keys() | list }}", json!(["b", "a"])),
            ("{{ 'a,b'.split(',') }}", json!(["a", "b"])),
            ("{{ 'abc'.startswith('a') }}", json!(true)),
            (
                "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}",
                json!("a=1;b=2;"),
            ),
            (
                "{{ {'a': 1} | combine({'b': 2}, {'a': 3}) }}",
                json!({"a": 3, "b": 2}),
            ),
        ]);
    }

    #[test]
    fn serialization() {
        check(&[
            ("{{ d | to_json }}", json!("{\"b\": 1, \"a\": [1, 2]}")),
            ("{{ d | to_nice_json }}", json!("{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": 1\n}")),
            ("{{ {'é': 'ü'} | to_json }}", json!("{\"\\u00e9\": \"\\u00fc\"}")),
            ("{{ {'b':1,'a':{'c':[1,2]}} | to_yaml }}", json!("a:\n  c: [1, 2]\nb: 1\n")),
            ("{{ {'b':1,'a':{'c':[1,2]}, 's': 'x y'} | to_nice_yaml }}", json!("a:\n    c:\n    - 1\n    - 2\nb: 1\ns: x y\n")),
            ("{{ ['a', 'b'] | to_nice_yaml }}", json!("- a\n- b\n")),
            ("{{ ['a', 'b'] | to_yaml }}", json!("[a, b]\n")),
            ("{{ 'x' | to_yaml }}", json!("x\n")),
            ("{{ [[1,2],[3]] | to_nice_yaml }}", json!("-   - 1\n    - 2\n-   - 3\n")),
            ("{{ [[1,2],{'a':[1]}] | to_yaml }}", json!("- [1, 2]\n- a: [1]\n")),
            (
                "{{ {'k': '', 'n': None, 'y': 'yes', 'num': '1', 'c': 'a: b', 'h': '#x', 'd': '-x', 'dash': '- x', 't': '2020-01-01', 'f': 1.5, 'e': [], 'm': {}} | to_nice_yaml }}",
                json!("c: 'a: b'\nd: -x\ndash: '- x'\ne: []\nf: 1.5\nh: '#x'\nk: ''\nm: {}\nn: null\nnum: '1'\nt: '2020-01-01'\ny: 'yes'\n"),
            ),
            ("{{ {'b':1,'a':2} | to_json }}", json!("{\"b\": 1, \"a\": 2}")),
            ("{{ [{'b': 'yes', 'a': '1'}] | to_nice_yaml }}", json!("-   a: '1'\n    b: 'yes'\n")),
            ("{{ {'k': ''} | to_yaml }}", json!("{k: ''}\n")),
            ("{{ {'a': ab} | to_nice_yaml }}", json!("a: 'a\n\n    b'\n")),
            ("{{ {'a': long} | to_nice_yaml }}", json!(format!("a: {}\n    word word word word\n", ["word"; 16].join(" ")))),
            ("{{ {'a': [long]} | to_yaml }}", json!(format!("a: [{}\n    word word word word]\n", ["word"; 16].join(" ")))),
            (
                "{{ {'a': 'x: y', 'b': '@x', 'c': 'a #b', 'd': 'null', 'e': '~', 'f': '0755', 'g': '1e3', 'h': '.5', 'i': 'a,b', 'j': '[x]'} | to_yaml }}",
                json!("{a: 'x: y', b: '@x', c: 'a #b', d: 'null', e: '~', f: '0755', g: 1e3, h: '.5', i: 'a,b',\n  j: '[x]'}\n"),
            ),
            ("{{ {'a': 'héllo'} | to_nice_yaml }}", json!("a: héllo\n")),
            ("{{ '{\"a\": [1, true]}' | from_json }}", json!({"a": [1, true]})),
            ("{{ y | from_yaml }}", json!({"a": 1, "b": ["x"]})),
            ("{{ ys | from_yaml_all }}", json!([{"a": 1}, {"b": 2}])),
            ("{{ 'hi' | b64encode }}", json!("aGk=")),
            ("{{ 'aGk=' | b64decode }}", json!("hi")),
        ]);
    }

    #[test]
    fn regular_expressions() {
        check(&[
            ("{{ 'abc' | regex_search('b(c)') }}", json!("bc")),
            ("{{ 'abc' | regex_search('b(c)', '\\1') }}", json!(["c"])),
            (
                "{{ 'abc' | regex_search('(?P<x>b)c', '\\g<x>') }}",
                json!(["b"]),
            ),
            ("{{ 'abc' | regex_search('z') }}", json!(null)),
            (
                "{{ 'ABC' | regex_search('b', ignorecase=True) }}",
                json!("B"),
            ),
            ("{{ 'abcabc' | regex_findall('b(c)') }}", json!(["c", "c"])),
            ("{{ 'abcabc' | regex_findall('bc') }}", json!(["bc", "bc"])),
            (
                "{{ 'k1=v1 k2=v2' | regex_findall('(\\w+)=(\\w+)') }}",
                json!([["k1", "v1"], ["k2", "v2"]]),
            ),
            ("{{ 'hello' | regex_replace('l+', 'L') }}", json!("heLo")),
            (
                "{{ 'hello' | regex_replace('^(h)(.*)$', '\\2\\1') }}",
                json!("elloh"),
            ),
            ("{{ 'a$b' | regex_replace('b', '$') }}", json!("a$$")),
            ("{{ 'a.b*c' | regex_escape }}", json!("a\\.b\\*c")),
        ]);
    }

    #[test]
    fn paths_and_quoting() {
        check(&[
            ("{{ '/etc/app/conf.yml' | basename }}", json!("conf.yml")),
            ("{{ '/etc/app/conf.yml' | dirname }}", json!("/etc/app")),
            ("{{ 'conf.yml' | dirname }}", json!("")),
            ("{{ '/a/b.txt' | splitext }}", json!(["/a/b", ".txt"])),
            ("{{ '/a/.bashrc' | splitext }}", json!(["/a/.bashrc", ""])),
            (
                "{{ ['/etc', 'app', 'x.conf'] | path_join }}",
                json!("/etc/app/x.conf"),
            ),
            ("{{ '/a/./b/../c' | realpath }}", json!("/a/c")),
            ("{{ 'a b' | quote }}", json!("'a b'")),
            ("{{ \"it's\" | quote }}", json!("'it'\"'\"'s'")),
            ("{{ 'abc' | quote }}", json!("abc")),
            ("{{ '' | quote }}", json!("''")),
            ("{{ '/a/b/' | basename }}", json!("")),
            ("{{ '/a/b/' | dirname }}", json!("/a/b")),
            ("{{ '/' | dirname }}", json!("/")),
            ("{{ 'a//b' | dirname }}", json!("a")),
            ("{{ '.bashrc' | splitext }}", json!([".bashrc", ""])),
            ("{{ 'a.tar.gz' | splitext }}", json!(["a.tar", ".gz"])),
        ]);
    }

    /// `relpath`: each expected value from Python 3.11's `os.path.relpath`.
    #[test]
    fn relpath_like_python() {
        check(&[
            (
                "{{ '/etc/app/conf.yml' | relpath('/etc') }}",
                json!("app/conf.yml"),
            ),
            ("{{ '/etc' | relpath('/etc/app/x') }}", json!("../..")),
            ("{{ '/a/b' | relpath('/a/b') }}", json!(".")),
            ("{{ '/a/b/' | relpath('/a/b') }}", json!(".")),
            ("{{ 'a/b' | relpath('a') }}", json!("b")),
            ("{{ 'a' | relpath('a/b/c') }}", json!("../..")),
            ("{{ '/a/./b/../c' | relpath('/a') }}", json!("c")),
            ("{{ '/' | relpath('/a/b') }}", json!("../..")),
            ("{{ '/a' | relpath('/') }}", json!("a")),
            ("{{ '//a//b' | relpath('/a') }}", json!("b")),
            (
                "{{ '/usr/lib' | relpath('/usr/local/lib') }}",
                json!("../../lib"),
            ),
            ("{{ 'a/../../x' | relpath('b') }}", json!("../../x")),
            ("{{ 'a b/c' | relpath(start='a b') }}", json!("c")),
            ("{{ 'x/y' | relpath }}", json!("x/y")),
            ("{{ 'x/y' | relpath(none) }}", json!("x/y")),
        ]);
        check_err(&[
            ("{{ '' | relpath('/a') }}", "no path specified"),
            (
                "{{ 3 | relpath('/a') }}",
                "expected str, bytes or os.PathLike object, not int",
            ),
        ]);
        // Absolute against relative: the relative side is taken from the current directory.
        let cwd = std::env::current_dir()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let depth = cwd.split('/').filter(|c| !c.is_empty()).count();
        let want = format!("{}etc", "../".repeat(depth));
        let from_root = format!("{{{{ '{cwd}' | relpath('/') }}}}");
        check(&[
            ("{{ '/etc' | relpath }}", json!(want)),
            (from_root.as_str(), json!(cwd.trim_start_matches('/'))),
        ]);
    }

    #[test]
    fn normpath_like_python() {
        use super::{py_join_bytes, py_normpath};
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("//", "//"),
            ("///", "/"),
            ("//a/../b", "//b"),
            ("a/../b/x", "b/x"),
            ("../a/..", ".."),
            ("/..", "/"),
            ("./a/./b/", "a/b"),
            ("a/b/../../..", ".."),
        ] {
            assert_eq!(py_normpath(input), want, "normpath({input:?})");
        }
        assert_eq!(py_join_bytes(b"/tmp/", b"x"), b"/tmp/x".to_vec());
        assert_eq!(py_join_bytes(b"/tmp", b"x"), b"/tmp/x".to_vec());
        assert_eq!(py_join_bytes(b"", b"x"), b"x".to_vec());
        assert_eq!(py_join_bytes(b"/tmp", b"/x"), b"/x".to_vec());
    }

    #[test]
    fn hashes_and_misc() {
        check(&[
            ("{{ 'foo' | hash('sha1') }}", json!("0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33")),
            ("{{ 'foo' | hash('md5') }}", json!("acbd18db4cc2f85cedef654fccc4a4d8")),
            ("{{ 'foo' | hash('sha256') }}", json!("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")),
            ("{{ 'foo' | checksum }}", json!("0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33")),
            ("{{ 'foo' | sha1 }}", json!("0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33")),
            ("{{ 'foo' | md5 }}", json!("acbd18db4cc2f85cedef654fccc4a4d8")),
            ("{{ 'x' | type_debug }} {{ 1 | type_debug }} {{ [1] | type_debug }} {{ {} | type_debug }} {{ None | type_debug }} {{ 1.5 | type_debug }} {{ True | type_debug }}", json!("str int list dict NoneType float bool")),
            ("{{ 'd' | mandatory }}", json!("d")),
            ("{{ 1024 | human_readable }}", json!("1.00 KB")),
            ("{{ 1536000 | human_readable }}", json!("1.46 MB")),
            ("{{ 10 | human_readable }}", json!("10.00 Bytes")),
            ("{{ 1073741824 | human_readable(unit='M') }}", json!("1024.00 MB")),
            ("{{ 'foo' | hash(hashtype='md5') }}", json!("acbd18db4cc2f85cedef654fccc4a4d8")),
            ("{{ 'a.b' | regex_escape(re_type='posix_basic') }}", json!("a\\.b")),
            ("{{ '1K' | human_to_bytes }}", json!(1024)),
            ("{{ '2 MB' | human_to_bytes }}", json!(2097152)),
            ("{{ '1Mb' | human_to_bytes(isbits=True) }}", json!(1048576)),
            ("{{ 'web1' | to_uuid }}", json!("4ebc6093-8026-5090-bb95-a592e5a6aec3")),
            ("{{ 'x' | comment }}", json!("#\n# x\n#")),
            ("{{ ab | comment('c') }}", json!("//\n// a\n// b\n//")),
            ("{{ 'x' | comment('cblock') }}", json!("/*\n *\n * x\n *\n */")),
            ("{{ 'x' | comment('xml') }}", json!("<!--\n -\n - x\n -\n-->")),
            ("{{ nope | default(omit) }}", json!(crate::playbook::templar::OMIT)),
        ]);
    }

    /// Expected values from Python's crypt(3) (`crypt.crypt('secret', '$6$rounds=656000$mysalt$')`),
    /// which passlib matches; ansible-core needs passlib for this filter.
    /// sha256's default (535000 rounds) shares the code path of sha512's.
    #[test]
    fn password_hashes_match_crypt() {
        check(&[
            (
                "{{ 'secret' | password_hash('sha512', 'mysalt') }}",
                json!("$6$rounds=656000$mysalt$cDA0t8lm/qt.LT6DzpoHxJ.NwTpx.WTkOPwhseSva8pRixDSH2./ffedCjAMbTX1Uo1QNT7jJPJ6FIzU2i59K/"),
            ),
            ("{{ 'secret' | password_hash('sha256', 'mysalt', rounds=5000) }}", json!("$5$mysalt$I2SNajjJ3Gc5gIR/tkrLOGngF8wqv59buJCqxh.o9s8")),
            (
                "{{ 'secret' | password_hash('sha512', 'mysalt', rounds=5000) }}",
                json!("$6$mysalt$UX6P1VKOf6dr0s2pg4pLNvIUB6hLXvP6M5f/Yj9hJgMPdAJ4oArvk5YUD9/XWtk1JOpVwt/JTsczMJr8sFVML1"),
            ),
            ("{{ 'secret' | password_hash('md5', 'mysalt') }}", json!("$1$mysalt$n/EfEiV74OYgBdqhKQzSW/")),
            (
                "{{ 'a much longer password than sixty-four bytes to exercise the loop 0123456789' | password_hash('sha512', 'saltsaltsaltsalt', rounds=1000) }}",
                json!("$6$rounds=1000$saltsaltsaltsalt$JHBkOqQ4SUdP080pbPyUprCgz51i3OcUAwyw2ikJxifBMtBpFn11/B.MhFDLq3qeqVcq2vmlHpaXUFV/wRq4M/"),
            ),
            ("{{ ('x' | password_hash('sha512', rounds=1000)).split('$')[3] | length }}", json!(16)),
        ]);
    }

    #[test]
    fn python_rendering_in_text() {
        check(&[
            ("x{{ True }}", json!("xTrue")),
            ("x{{ None }}", json!("x")),
            ("x{{ [1, 'a', True, None] }}", json!("x[1, 'a', True, None]")),
            ("x{{ {'a': 1, 'b': 'c'} }}", json!("x{'a': 1, 'b': 'c'}")),
            ("x{{ 1.0 }}", json!("x1.0")),
            ("x{{ 7 // 2 }} {{ 7 / 2 }} {{ 6 / 2 }}", json!("x3 3.5 3.0")),
            ("x{{ 1e20 }}", json!("x1e+20")),
            ("{{ 1e20 | string }}", json!("1e+20")),
            ("{{ 0.1 + 0.2 }}", json!(0.30000000000000004)),
            ("{{ 'a' ~ 1 ~ True }}", json!("a1True")),
            ("{{ None | string }}", json!("None")),
            ("{{ [None, 1] | join(',') }}", json!("None,1")),
            ("{{ [1,2] | first }} {{ 'abc' | last }}", json!("1 c")),
            ("{{ True | int }} {{ ' 42 ' | int }} {{ '1_000' | int }} {{ '-3' | int }} {{ 3 | float }}", json!("1 42 1000 -3 3.0")),
        ]);
    }

    #[test]
    fn mandatory_and_undefined_messages() {
        check_err(&[
            ("{{ nope | mandatory }}", "Mandatory variable 'nope' not defined."),
            ("{{ nope | mandatory('custom msg') }}", "custom msg"),
            ("{{ nope }}", "'nope' is undefined"),
            ("{{ d.nope }}", "object of type 'dict' has no attribute 'nope'"),
            ("{{ d.a.nope }}", "object of type 'list' has no attribute 'nope'"),
            ("{{ nope.x }}", "'nope' is undefined"),
            ("x {{ nope }} y", "'nope' is undefined"),
            ("{{ s.nope }}", "object of type 'str' has no attribute 'nope'"),
            ("{{ nope | lower }}", "'nope' is undefined"),
            ("{{ 1 | dict2items }}", "dict2items requires a dictionary, got <class 'int'> instead."),
            (
                "{{ '1Mb' | human_to_bytes }}",
                "human_to_bytes() can't interpret the input: human_to_bytes() failed to convert 1Mb. Value is not a valid string (expect MB or M)",
            ),
            ("{{ 'SGVsbG8' | b64decode }}", "b64decode: invalid base64 (Invalid padding); the input needs its '=' padding"),
        ]);
    }
}
