//! A small deterministic YAML writer for generated files: block style, keys
//! in the order given, every string that YAML 1.1 (Ansible) could read as
//! anything but that string is quoted, and nothing depends on the platform.

use serde_json::Value;

/// Lists of plain scalars up to this width are written in flow style (`[a, b]`).
const FLOW_WIDTH: usize = 72;

/// The YAML text of a value, ending in a newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&inline(other, false).unwrap_or_else(|| "null".to_string()));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        push_indent(out, indent);
        out.push_str(&scalar_str(key, false));
        out.push(':');
        write_after_key(out, value, indent);
    }
}

/// Writes what follows `key:` (or a `- ` item's key): an inline value or a nested block.
fn write_after_key(out: &mut String, value: &Value, indent: usize) {
    if let Some(text) = inline(value, false) {
        out.push(' ');
        out.push_str(&text);
        out.push('\n');
        return;
    }
    out.push('\n');
    match value {
        Value::Object(map) => write_map(out, map, indent + 2),
        Value::Array(items) => write_seq(out, items, indent + 2),
        _ => unreachable!("scalars are always inline"),
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key shares the dash's line; the rest align under it.
                let mut first = true;
                for (key, value) in map {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        push_indent(out, indent + 2);
                    }
                    out.push_str(&scalar_str(key, false));
                    out.push(':');
                    write_after_key(out, value, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() && inline(item, false).is_none() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other, false).expect("scalar or flow list"));
                out.push('\n');
            }
        }
    }
}

/// The one-line form of a value, if it has one: scalars, empty collections,
/// and short lists of scalars.
fn inline(value: &Value, in_flow: bool) -> Option<String> {
    match value {
        Value::Null => Some("null".to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(scalar_str(s, in_flow)),
        Value::Array(items) if items.is_empty() => Some("[]".to_string()),
        Value::Object(map) if map.is_empty() => Some("{}".to_string()),
        Value::Array(items) => {
            if items
                .iter()
                .any(|i| matches!(i, Value::Array(_) | Value::Object(_)))
            {
                return None;
            }
            let parts: Vec<String> = items.iter().filter_map(|i| inline(i, true)).collect();
            let text = format!("[{}]", parts.join(", "));
            (text.len() <= FLOW_WIDTH).then_some(text)
        }
        Value::Object(_) => None,
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A string as a YAML scalar: plain when that reads back as the same string
/// (in YAML 1.1 and 1.2), single-quoted otherwise, double-quoted when it holds
/// characters only escapes can carry.
pub(crate) fn scalar_str(s: &str, in_flow: bool) -> String {
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return double_quoted(s);
    }
    if is_plain_safe(s, in_flow) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_plain_safe(s: &str, in_flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s {
        return false;
    }
    // Indicators, and anything that could start a number, date or time.
    if "-?:,[]{}#&*!|>'\"%@`+<=~".contains(first) || first.is_ascii_digit() {
        return false;
    }
    // `.5` and `.inf` are numbers; `../x` is a path.
    if first == '.'
        && (s[1..].starts_with(|c: char| c.is_ascii_digit()) || is_special_word(&s[1..]))
    {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if in_flow && s.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    !is_special_word(s)
}

/// Words YAML 1.1 reads as booleans or null.
fn is_special_word(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "true" | "false" | "on" | "off" | "null" | "nan" | "inf"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn quotes_only_what_would_change_meaning() {
        assert_eq!(scalar_str("shop", false), "shop");
        assert_eq!(scalar_str("/healthz", false), "/healthz");
        assert_eq!(
            scalar_str("https://shop.example", false),
            "https://shop.example"
        );
        assert_eq!(scalar_str("yes", false), "'yes'");
        assert_eq!(scalar_str("Off", false), "'Off'");
        assert_eq!(scalar_str("3000", false), "'3000'");
        assert_eq!(scalar_str("1.0", false), "'1.0'");
        assert_eq!(scalar_str(".5", false), "'.5'");
        assert_eq!(scalar_str(".Inf", false), "'.Inf'");
        assert_eq!(scalar_str("../roles/app", false), "../roles/app");
        assert_eq!(scalar_str("159.65.100.42", false), "'159.65.100.42'");
        assert_eq!(scalar_str("{{ x }}", false), "'{{ x }}'");
        assert_eq!(scalar_str("a: b", false), "'a: b'");
        assert_eq!(scalar_str("it's", false), "it's");
        assert_eq!(scalar_str("'q'", false), "'''q'''");
        assert_eq!(scalar_str("", false), "''");
        assert_eq!(scalar_str(" pad", false), "' pad'");
        assert_eq!(scalar_str("two\nlines", false), "\"two\\nlines\"");
        assert_eq!(scalar_str("a,b", true), "'a,b'");
        assert_eq!(scalar_str("a,b", false), "a,b");
        assert_eq!(scalar_str("https://a.example", true), "'https://a.example'");
    }

    #[test]
    fn writes_block_style_with_flow_for_short_scalar_lists() {
        let value = json!([{
            "name": "Deploy",
            "hosts": "shop_prod",
            "become": true,
            "vars": {"tova_ports": [3000, 3001], "tova_env_vars": {}, "tova_data_files": [{"name": "a", "path": "data/a.csv"}]},
            "roles": [{"role": "../roles/system", "tags": ["system"]}]
        }]);
        let expected = "\
- name: Deploy
  hosts: shop_prod
  become: true
  vars:
    tova_ports: [3000, 3001]
    tova_env_vars: {}
    tova_data_files:
      - name: a
        path: data/a.csv
  roles:
    - role: ../roles/system
      tags: [system]
";
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn output_reads_back_as_the_same_value() {
        let value = json!({
            "strings": ["yes", "no", "0x1F", "1e3", "~", "null", "-x", "a #b", "key: v", "{{ a }}", "tab\there", "ü", ".nan", ".1", "..", "../x"],
            "long": ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccc"],
            "nested": [[1, [2]], {"k": null}],
            "num": 5,
        });
        let text = to_yaml(&value);
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, value, "{text}");
    }
}
