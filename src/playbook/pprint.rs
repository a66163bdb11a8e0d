//! Jinja's `pprint` and `tojson` filters as Jinja2 3.1 gives them, where
//! minijinja's builtins of those names differ: `pprint` is Python's
//! `pprint.pformat` (sorted keys, lines wrapped at 80 columns, long strings
//! split into adjacent literals), `tojson` is `json.dumps(sort_keys=True)`
//! with `<`, `>`, `&` and `'` escaped for HTML.

use std::cmp::Ordering;

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, Value};

use crate::playbook::filters::{defined, py_repr, py_str, py_str_repr};
use crate::playbook::pyargs::{bind, int_arg};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("pprint", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(pformat(&v))
    });
    env.add_filter("tojson", tojson);
}

/// Jinja's `tojson(indent=None)`.
fn tojson(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [indent] = <[Option<Value>; 1]>::try_from(bind("tojson", &["indent"], &args, &kwargs)?)
        .expect("one parameter");
    let indent = match indent.filter(|i| !i.is_none()) {
        Some(i) => Some(int_arg("tojson", "indent", &i)?.max(0) as usize),
        None => None,
    };
    let json = crate::playbook::filters::json_dumps(&v, indent, true)?;
    Ok(Value::from_safe_string(
        json.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\'', "\\u0027"),
    ))
}

fn is_seq(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// pprint's `_safe_key` order: values of one type by their own order,
/// mixed types by their type's name.
fn safe_cmp(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| crate::playbook::templar::py_type(v);
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) | (ValueKind::Bool, ValueKind::Bool) => {
            let (x, y) = (
                f64::try_from(a.clone()).unwrap_or(0.0),
                f64::try_from(b.clone()).unwrap_or(0.0),
            );
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (ValueKind::String, ValueKind::String) => a.as_str().cmp(&b.as_str()),
        _ => rank(a).cmp(rank(b)).then_with(|| py_str(a).cmp(&py_str(b))),
    }
}

/// The mapping's entries, keys sorted as pprint sorts them.
fn sorted_items(v: &Value) -> Vec<(Value, Value)> {
    let mut keys: Vec<Value> = v.try_iter().into_iter().flatten().collect();
    keys.sort_by(safe_cmp);
    keys.into_iter()
        .map(|k| {
            let val = v.get_item(&k).unwrap_or_default();
            (k, val)
        })
        .collect()
}

/// pprint's `_safe_repr`: Python's repr, mapping keys sorted.
fn sorted_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::Map => {
            let parts: Vec<String> = sorted_items(v)
                .iter()
                .map(|(k, val)| format!("{}: {}", sorted_repr(k), sorted_repr(val)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        _ if is_seq(v) => {
            let parts: Vec<String> = v
                .try_iter()
                .into_iter()
                .flatten()
                .map(|i| sorted_repr(&i))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        _ => py_repr(v),
    }
}

const WIDTH: usize = 80;

/// Python's `pprint.pformat(value)`.
pub(crate) fn pformat(v: &Value) -> String {
    let mut out = String::new();
    format_into(&mut out, v, 0, 0, 0);
    out
}

fn format_into(out: &mut String, v: &Value, indent: usize, allowance: usize, level: usize) {
    let rep = sorted_repr(v);
    let max_width = WIDTH.saturating_sub(indent + allowance);
    if rep.chars().count() <= max_width {
        out.push_str(&rep);
        return;
    }
    let level = level + 1;
    match v.kind() {
        ValueKind::Map => {
            let items = sorted_items(v);
            out.push('{');
            let inner = indent + 1;
            let last = items.len().saturating_sub(1);
            for (i, (k, val)) in items.iter().enumerate() {
                let krep = sorted_repr(k);
                out.push_str(&krep);
                out.push_str(": ");
                let allow = if i == last { allowance + 1 } else { 1 };
                format_into(out, val, inner + krep.chars().count() + 2, allow, level);
                if i != last {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(inner));
                }
            }
            out.push('}');
        }
        _ if is_seq(v) => {
            let items: Vec<Value> = v.try_iter().into_iter().flatten().collect();
            out.push('[');
            let inner = indent + 1;
            let last = items.len().saturating_sub(1);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(inner));
                }
                let allow = if i == last { allowance + 1 } else { 1 };
                format_into(out, item, inner, allow, level);
            }
            out.push(']');
        }
        ValueKind::String => pformat_str(
            out,
            v.as_str().unwrap_or_default(),
            indent,
            allowance,
            level,
        ),
        _ => out.push_str(&rep),
    }
}

/// Python's `str.splitlines(keepends=True)` for pprint's string chunks.
fn lines_keepends(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '\n' {
            out.push(&s[start..=i]);
            start = i + 1;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// pprint's long string: adjacent literals, split after spaces, each
/// within the width.
fn pformat_str(out: &mut String, s: &str, indent: usize, allowance: usize, level: usize) {
    let (indent, allowance) = if level == 1 {
        (indent + 1, allowance + 1)
    } else {
        (indent, allowance)
    };
    let max_width = WIDTH.saturating_sub(indent);
    let mut max_width1 = max_width;
    let lines = lines_keepends(s);
    let mut chunks: Vec<String> = Vec::new();
    let len = |t: &str| py_str_repr(t).chars().count();
    for (i, line) in lines.iter().enumerate() {
        if i == lines.len() - 1 {
            max_width1 = max_width1.saturating_sub(allowance);
        }
        if len(line) <= max_width1 {
            chunks.push(py_str_repr(line));
            continue;
        }
        // Runs of non-space followed by their spaces.
        let mut parts: Vec<&str> = Vec::new();
        let mut start = 0;
        let mut in_space = false;
        for (j, c) in line.char_indices() {
            if c.is_whitespace() {
                in_space = true;
            } else if in_space {
                parts.push(&line[start..j]);
                start = j;
                in_space = false;
            }
        }
        parts.push(&line[start..]);
        let mut max_width2 = max_width;
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let candidate = format!("{current}{part}");
            if j == parts.len() - 1 && i == lines.len() - 1 {
                max_width2 = max_width2.saturating_sub(allowance);
            }
            if len(&candidate) > max_width2 {
                if !current.is_empty() {
                    chunks.push(py_str_repr(&current));
                }
                current = part.to_string();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(py_str_repr(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&py_str_repr(s));
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(c);
    }
    if level == 1 {
        out.push(')');
    }
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    fn render(expr: &str) -> Value {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        t.render_str(expr, &c)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    /// Each as Python's `pprint.pformat` and Jinja's `tojson` give it.
    #[test]
    fn pformat_and_tojson_as_python() {
        assert_eq!(
            render("{{ {'b': [1, 2], 'a': 'x' * 30, 'c': {'z': 1, 'y': range(20) | list}} | pprint }}"),
            json!("{'a': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',\n 'b': [1, 2],\n 'c': {'y': [0,\n             1,\n             2,\n             3,\n             4,\n             5,\n             6,\n             7,\n             8,\n             9,\n             10,\n             11,\n             12,\n             13,\n             14,\n             15,\n             16,\n             17,\n             18,\n             19],\n       'z': 1}}")
        );
        assert_eq!(
            render("{{ ['x' * 50, 'y' * 50] | pprint }}"),
            json!("['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',\n 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy']")
        );
        assert_eq!(
            render("{{ ('word ' * 30) | pprint }}"),
            json!("('word word word word word word word word word word word word word word word '\n 'word word word word word word word word word word word word word word word ')")
        );
        assert_eq!(
            render("{{ {'k': 'word ' * 30} | pprint }}"),
            json!("{'k': 'word word word word word word word word word word word word word word '\n      'word word word word word word word word word word word word word word '\n      'word word '}")
        );
        assert_eq!(
            render("{{ [1, 2.5, None, True, 'a'] | pprint }}"),
            json!("[1, 2.5, None, True, 'a']")
        );
        assert_eq!(
            render("{{ {1: 'a', 'b': 2} | pprint }}"),
            json!("{1: 'a', 'b': 2}")
        );
        assert_eq!(render("{{ {} | pprint }}"), json!("{}"));
        assert_eq!(render("{{ '' | pprint }}"), json!("''"));
        assert_eq!(
            render("{{ {'b': 1, 'a': \"<&>'\"} | tojson }}"),
            json!("{\"a\": \"\\u003c\\u0026\\u003e\\u0027\", \"b\": 1}")
        );
        assert_eq!(
            render("{{ [1, {'a': 'é'}] | tojson(2) }}"),
            json!("[\n  1,\n  {\n    \"a\": \"\\u00e9\"\n  }\n]")
        );
    }
}
