//! The lookups that shape items from their terms, shared by `with_<name>`
//! loops and `lookup(name, ...)`/`query(name, ...)`, as Ansible runs a
//! `with_<name>` loop through the lookup of that name: `nested`
//! (`with_cartesian` too), `together`, `subelements`, `flattened`, `lines`,
//! `random_choice` and `sequence`.
//!
//! Terms are what the lookup receives: the lookup's arguments, or for a
//! loop its templated value as a list (a string or mapping is one term, as
//! Ansible's `listify_lookup_plugin_terms` makes it). Where Ansible iterates
//! a term, Python's iteration is followed: a string gives its characters, a
//! mapping its keys, anything else is "not iterable".

use std::path::Path;

use serde_json::{Map, Value};

/// The items of `with_<name>` (or the lookup `name`) over `terms`, or
/// `None` when `name` is not one of these. `cwd` is where `lines` runs its
/// commands (Ansible's loader basedir, the playbook's folder).
pub(crate) fn items(
    name: &str,
    terms: &[Value],
    cwd: Option<&Path>,
) -> Option<Result<Vec<Value>, String>> {
    Some(match name {
        "nested" | "cartesian" => nested(terms),
        "together" => together(terms),
        "subelements" => subelements(terms),
        "flattened" => Ok(terms.iter().flat_map(flatten).collect()),
        "lines" => lines(terms, cwd),
        "random_choice" => Ok(random_choice(terms)),
        "sequence" => sequence(terms, &Map::new()),
        _ => return None,
    })
}

/// A loop's templated value as lookup terms: a list is the terms, anything
/// else one term.
pub(crate) fn loop_terms(rendered: &Value) -> Vec<Value> {
    match rendered {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Python's type name of a JSON value, as its error messages print it.
fn py_type(v: &Value) -> &'static str {
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

/// Python's `str()` of a JSON value.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => crate::playbook::filters::py_repr(&minijinja::Value::from_serialize(other)),
    }
}

/// Python's iteration of a value: list items, string characters, mapping keys.
fn py_iter(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        Value::String(s) => Ok(s.chars().map(|c| Value::String(c.to_string())).collect()),
        Value::Object(m) => Ok(m.keys().map(|k| Value::String(k.clone())).collect()),
        other => Err(format!("'{}' object is not iterable", py_type(other))),
    }
}

/// Ansible's `LookupBase._flatten`: the items of an iterable, lists among
/// them spread one level.
fn flatten_one(v: &Value) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for item in py_iter(v)? {
        match item {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `nested`: every combination of the terms' items, the first term varying
/// slowest, each combination flattened one level.
fn nested(terms: &[Value]) -> Result<Vec<Value>, String> {
    let Some((first, rest)) = terms.split_first() else {
        return Err("with_nested requires at least one element in the nested list".into());
    };
    let mut result: Vec<Value> = py_iter(first)?;
    for term in rest {
        let right = py_iter(term)?;
        let mut next = Vec::with_capacity(result.len() * right.len());
        for x in &result {
            for y in &right {
                next.push(Value::Array(flatten_one(&Value::Array(vec![
                    x.clone(),
                    y.clone(),
                ]))?));
            }
        }
        if next.len() > 100_000 {
            return Err("with_nested: more than 100000 combinations".into());
        }
        result = next;
    }
    result
        .iter()
        .map(|x| flatten_one(x).map(Value::Array))
        .collect()
}

/// `together`: the terms side by side (Python's `zip_longest`, missing
/// places null), each tuple flattened one level.
fn together(terms: &[Value]) -> Result<Vec<Value>, String> {
    if terms.is_empty() {
        return Err("with_together requires at least one element in each list".into());
    }
    let lists: Vec<Vec<Value>> = terms.iter().map(py_iter).collect::<Result<_, _>>()?;
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            let tuple: Vec<Value> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                .collect();
            flatten_one(&Value::Array(tuple)).map(Value::Array)
        })
        .collect()
}

/// `subelements`: `[list_or_dict, "key.path", {skip_missing: bool}]`, each
/// dict paired with each element of the list at the key path, as
/// `[dict, element]`. As Ansible's lookup pops that list out of the dict,
/// the dict is paired without it. Items (or a whole registered result)
/// marked `skipped` are left out.
fn subelements(terms: &[Value]) -> Result<Vec<Value>, String> {
    const TERMS: &str = "subelements lookup expects a list of two or three items, ";
    if !(2..=3).contains(&terms.len()) {
        return Err(TERMS.into());
    }
    let Value::String(path) = &terms[1] else {
        return Err(format!(
            "{TERMS}first a dict or a list, second a string pointing to the subkey"
        ));
    };
    let elements: Vec<Value> = match &terms[0] {
        Value::Array(a) => a.clone(),
        Value::Object(m) => {
            if m.get("skipped").is_some_and(|s| s != &Value::Bool(false)) {
                return Ok(Vec::new());
            }
            m.values().cloned().collect()
        }
        _ => {
            return Err(format!(
                "{TERMS}first a dict or a list, second a string pointing to the subkey"
            ))
        }
    };
    let flags = match terms.get(2) {
        None => Map::new(),
        Some(Value::Object(f)) => f.clone(),
        Some(other @ (Value::Array(_) | Value::String(_))) => {
            let all_flags = py_iter(other)?
                .iter()
                .all(|k| k.as_str() == Some("skip_missing"));
            return Err(if all_flags {
                format!("'{}' object has no attribute 'get'", py_type(other))
            } else {
                format!(
                    "{TERMS}the optional third item must be a dict with flags ('skip_missing',)"
                )
            });
        }
        Some(other) => return Err(format!("'{}' object is not iterable", py_type(other))),
    };
    let skip_missing = flags
        .get("skip_missing")
        .and_then(crate::modules::args::to_bool)
        .unwrap_or(false);
    let keys: Vec<&str> = path.split('.').collect();
    let last = keys.last().copied().unwrap_or_default();
    let mut out = Vec::new();
    for element in elements {
        let Value::Object(_) = element else {
            return Err(format!(
                "subelements lookup expects a dictionary, got '{}'",
                py_str(&element)
            ));
        };
        if element
            .get("skipped")
            .is_some_and(|s| s != &Value::Bool(false))
        {
            continue;
        }
        let mut element = element;
        let sublist = pop_subelement(&mut element, &keys, last, skip_missing)?;
        out.extend(
            sublist
                .into_iter()
                .map(|s| Value::Array(vec![element.clone(), s])),
        );
    }
    Ok(out)
}

/// Walk `keys` into `element` as Ansible's subelements lookup does (a key
/// equal to the last one ends the walk, a missing key with `skip_missing`
/// is passed over) and pop the list found there.
fn pop_subelement(
    element: &mut Value,
    keys: &[&str],
    last: &str,
    skip_missing: bool,
) -> Result<Vec<Value>, String> {
    // Find the list first, then take it out of the (cloned) element.
    let mut at: &Value = element;
    let mut walked: Vec<&str> = Vec::new();
    let mut found: Option<&str> = None;
    let mut reached_last = false;
    for key in keys {
        if *key == last {
            reached_last = true;
        }
        let Some(value) = at.get(*key) else {
            if skip_missing {
                continue;
            }
            return Err(format!(
                "could not find '{key}' key in iterated item '{}'",
                py_str(at)
            ));
        };
        if reached_last {
            if !value.is_array() {
                return Err(format!(
                    "the key {key} should point to a list, got '{}'",
                    py_str(value)
                ));
            }
            found = Some(key);
            break;
        }
        if !value.is_object() {
            if skip_missing {
                continue;
            }
            return Err(format!(
                "the key {key} should point to a dictionary, got '{}'",
                py_str(value)
            ));
        }
        walked.push(key);
        at = value;
    }
    let Some(key) = found else {
        return Ok(Vec::new());
    };
    let mut parent = element;
    for k in walked {
        parent = parent.get_mut(k).expect("walked above");
    }
    match parent.as_object_mut().and_then(|m| m.shift_remove(key)) {
        Some(Value::Array(list)) => Ok(list),
        _ => Ok(Vec::new()),
    }
}

fn flatten(terms: &Value) -> Vec<Value> {
    match terms {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// `lines`: each line that the commands print, run on the controller by
/// /bin/sh in `cwd`; a command that fails fails the lookup.
fn lines(terms: &[Value], cwd: Option<&Path>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for term in terms {
        let cmd = py_str(term);
        let mut command = std::process::Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null());
        if let Some(dir) = cwd.filter(|d| d.is_dir()) {
            command.current_dir(dir);
        }
        let o = command
            .output()
            .map_err(|e| format!("lookup_plugin.lines({cmd}) could not start /bin/sh: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "lookup_plugin.lines({cmd}) returned {}",
                o.status.code().unwrap_or(-1)
            ));
        }
        out.extend(
            py_splitlines(&String::from_utf8_lossy(&o.stdout))
                .into_iter()
                .map(Value::String),
        );
    }
    Ok(out)
}

/// Python's `bytes.splitlines()`: lines ended by `\n`, `\r\n` or `\r`.
pub(crate) fn py_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push(std::mem::take(&mut line)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut line));
            }
            c => line.push(c),
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

/// `random_choice`: one of the terms, chosen at random (none for no terms).
fn random_choice(terms: &[Value]) -> Vec<Value> {
    if terms.is_empty() {
        return Vec::new();
    }
    let b = crate::random::bytes(8);
    let i = (u64::from_le_bytes(b.try_into().expect("8 bytes")) % terms.len() as u64) as usize;
    vec![terms[i].clone()]
}

/// The sequence lookup's settings.
const SEQUENCE_FIELDS: [&str; 5] = ["start", "end", "stride", "count", "format"];

/// An integer setting as ansible-core's config types it: an integer, or
/// text that Python's `Decimal` reads as a whole number (`010`, `1e2`,
/// `1_000`, ` 3 `); hex and octal prefixes are refused, as Ansible 2.19 does.
pub(crate) fn config_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
            _ => None,
        },
        Value::String(s) => decimal_int(s),
        _ => None,
    }
}

/// A sequence setting as an integer, or Ansible's refusal naming it.
fn sequence_int(name: &str, v: &Value) -> Result<i64, String> {
    config_int(v).ok_or_else(|| {
        format!(
            "Config '{name}' for 'sequence' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'integer': {}",
            crate::playbook::filters::py_repr(&minijinja::Value::from_serialize(v))
        )
    })
}

/// Python's `int(Decimal(s))` when that loses nothing.
fn decimal_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int_part, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |p: &str| {
        !p.starts_with('_')
            && !p.ends_with('_')
            && !p.contains("__")
            && p.chars().all(|c| c.is_ascii_digit() || c == '_')
    };
    if (int_part.is_empty() && frac.is_empty()) || !digits_ok(int_part) || !digits_ok(frac) {
        return None;
    }
    let mut digits: String = format!("{int_part}{frac}").replace('_', "");
    let mut scale = exp - frac.replace('_', "").len() as i32;
    while scale < 0 {
        if !digits.ends_with('0') {
            return if digits.chars().all(|c| c == '0') {
                Some(0)
            } else {
                None
            };
        }
        digits.pop();
        scale += 1;
    }
    let mut n: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    for _ in 0..scale {
        n = n.checked_mul(10)?;
    }
    let n = if neg { -n } else { n };
    i64::try_from(n).ok()
}

/// The shortcut `[start-]end[/stride][:format]`, numbers as Ansible's
/// pattern `0?x?[0-9a-f]+` takes them (then typed as integers).
fn sequence_shortcut(term: &str) -> Option<Map<String, Value>> {
    static SHORTCUT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SHORTCUT.get_or_init(|| {
        regex::Regex::new(
            r"(?is)^(?:(0?x?[0-9a-f]+)-)?(0?x?[0-9a-f]+)(?:/(0?x?[0-9a-f]+))?(?::(.+))?$",
        )
        .expect("valid sequence shortcut regex")
    });
    let c = re.captures(term)?;
    let mut out = Map::new();
    for (name, group) in [("start", 1), ("end", 2), ("stride", 3), ("format", 4)] {
        if let Some(m) = c.get(group) {
            out.insert(name.into(), Value::String(m.as_str().to_string()));
        }
    }
    Some(out)
}

/// Ansible's sequence lookup: for each term, `start= end= count= stride=
/// format=` or the shortcut `[start-]end[/stride][:format]`, over the
/// lookup's keyword settings in `defaults`; each item `format % i`.
pub(crate) fn sequence(
    terms: &[Value],
    defaults: &Map<String, Value>,
) -> Result<Vec<Value>, String> {
    let blank = [Value::String(String::new())];
    let terms = if terms.is_empty() && !defaults.is_empty() {
        &blank[..]
    } else {
        terms
    };
    let mut out = Vec::new();
    for term in terms {
        let Value::String(text) = term else {
            return Err(format!(
                "unknown error parsing with_sequence arguments: {}. Error was: expected string or bytes-like object, got '{}'",
                py_str(term),
                py_type(term)
            ));
        };
        let mut settings = defaults.clone();
        match sequence_shortcut(text) {
            Some(given) => settings.extend(given),
            None => {
                let mut args = crate::modules::free_form::split_free_form("sequence", text);
                for field in SEQUENCE_FIELDS {
                    if let Some(v) = args.shift_remove(field) {
                        // Ansible types each setting as it is set, before
                        // it looks at what is left.
                        if field != "format" {
                            sequence_int(field, &v)?;
                        }
                        settings.insert(field.into(), v);
                    }
                }
                if !args.is_empty() {
                    let names: Vec<String> = args
                        .keys()
                        .map(|k| crate::playbook::filters::py_str_repr(k))
                        .collect();
                    return Err(format!(
                        "unrecognized arguments to with_sequence: [{}]",
                        names.join(", ")
                    ));
                }
            }
        }
        out.extend(generate_sequence(&settings)?);
    }
    Ok(out)
}

/// One sequence from its settings, checked as Ansible's `sanity_check`.
fn generate_sequence(settings: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let int = |name: &str| {
        settings
            .get(name)
            .map(|v| sequence_int(name, v))
            .transpose()
    };
    let start = int("start")?.unwrap_or(1);
    let stride = int("stride")?.unwrap_or(1);
    let end = int("end")?;
    let count = int("count")?;
    let format = settings
        .get("format")
        .map(py_str)
        .unwrap_or_else(|| "%d".into());
    let end = match (count, end) {
        (None, None) => return Err("must specify count or end in with_sequence".into()),
        (Some(_), Some(_)) => {
            return Err("can't specify both count and end in with_sequence".into())
        }
        (Some(0), None) => return Ok(Vec::new()),
        (Some(c), None) => start + c * stride - 1,
        (None, Some(e)) => e,
    };
    if stride > 0 && end < start {
        return Err("to count backwards make stride negative".into());
    }
    if stride < 0 && end > start {
        return Err("to count forward don't make stride negative".into());
    }
    if stride == 0 {
        return Ok(Vec::new());
    }
    if format.matches('%').count() != 1 {
        return Err(format!("bad formatting string: {format}"));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        if out.len() >= 100_000 {
            return Err("with_sequence: more than 100000 items".into());
        }
        let item = py_format_int(&format, i).ok_or_else(|| {
            format!(
                "problem formatting {i} with {}",
                crate::playbook::filters::py_str_repr(&format)
            )
        })?;
        out.push(Value::String(item));
        i += stride;
    }
    Ok(out)
}

/// Python's `%e` of a float: the exponent signed, at least two digits.
fn py_exp(x: f64, prec: usize, upper: bool) -> String {
    let s = format!("{x:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    let out = format!("{mant}e{sign}{:02}", exp.abs());
    if upper {
        out.to_uppercase()
    } else {
        out
    }
}

/// Python's `%g`: `%e` for exponents below -4 or from the precision on,
/// else `%f`; trailing zeros dropped unless `alternate` (`#`).
fn py_general(x: f64, prec: usize, upper: bool, alternate: bool) -> String {
    let p = prec.max(1);
    let exp: i32 = if x == 0.0 {
        0
    } else {
        let s = format!("{:.*e}", p - 1, x);
        s.split_once('e')
            .and_then(|(_, e)| e.parse().ok())
            .unwrap_or(0)
    };
    let strip = |s: String| -> String {
        if alternate || !s.contains('.') {
            return s;
        }
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if exp < -4 || exp >= p as i32 {
        let e = py_exp(x, p - 1, upper);
        let (mant, tail) = e.split_once(['e', 'E']).unwrap_or((&e, ""));
        let marker = if upper { 'E' } else { 'e' };
        format!("{}{marker}{tail}", strip(mant.to_string()))
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip(format!("{x:.decimals$}"))
    }
}

/// Python's `fmt % i` for one integer:
/// `%[-+ 0#][width][.prec](d|i|u|x|X|o|s|r|a|c|f|F|e|E|g|G)` and `%%`.
fn py_format_int(fmt: &str, i: i64) -> Option<String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse::<usize>().unwrap_or(0));
        }
        let conv = chars.next()?;
        if conv == '%' {
            out.push('%');
            continue;
        }
        if used {
            return None; // Python: not enough arguments for format string
        }
        used = true;
        let neg = i < 0;
        let abs = i.unsigned_abs();
        let x = abs as f64;
        let mut digits = match conv {
            'd' | 'i' | 'u' => abs.to_string(),
            'x' => format!("{abs:x}"),
            'X' => format!("{abs:X}"),
            'o' => format!("{abs:o}"),
            's' | 'r' | 'a' => i.to_string(),
            'c' => char::from_u32(u32::try_from(i).ok()?)?.to_string(),
            'f' | 'F' => format!("{x:.*}", prec.unwrap_or(6)),
            'e' | 'E' => py_exp(x, prec.unwrap_or(6), conv == 'E'),
            'g' | 'G' => py_general(x, prec.unwrap_or(6), conv == 'G', flags.contains('#')),
            _ => return None,
        };
        let w: usize = width.parse().unwrap_or(0);
        if matches!(conv, 's' | 'r' | 'a' | 'c') {
            let digits = match prec {
                Some(p) if matches!(conv, 's' | 'r' | 'a') => digits.chars().take(p).collect(),
                _ => digits,
            };
            let pad = w.saturating_sub(digits.chars().count());
            if flags.contains('-') {
                out.push_str(&digits);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&digits);
            }
            continue;
        }
        if matches!(conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o') {
            if let Some(p) = prec {
                if digits.len() < p {
                    digits = "0".repeat(p - digits.len()) + &digits;
                }
            }
        }
        let prefix = match conv {
            'x' if flags.contains('#') => "0x",
            'X' if flags.contains('#') => "0X",
            'o' if flags.contains('#') => "0o",
            _ => "",
        };
        let sign = if neg {
            "-"
        } else if flags.contains('+') {
            "+"
        } else if flags.contains(' ') {
            " "
        } else {
            ""
        };
        let sign = format!("{sign}{prefix}");
        let len = sign.len() + digits.len();
        if len >= w {
            out.push_str(&sign);
            out.push_str(&digits);
        } else if flags.contains('-') {
            out.push_str(&sign);
            out.push_str(&digits);
            out.push_str(&" ".repeat(w - len));
        } else if flags.contains('0') {
            out.push_str(&sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(&digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&sign);
            out.push_str(&digits);
        }
    }
    if !used {
        return None; // Python: not all arguments converted during string formatting
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn run(name: &str, terms: Value) -> Result<Vec<Value>, String> {
        items(name, &loop_terms(&terms), None).expect("a lookup of this file")
    }

    /// Each checked against ansible-core 2.19's lookups of the same name.
    #[test]
    fn nested_and_together_as_ansible() {
        assert_eq!(
            run("nested", json!([[1, 2], ["a", "b"]])).unwrap(),
            vec![
                json!([1, "a"]),
                json!([1, "b"]),
                json!([2, "a"]),
                json!([2, "b"])
            ]
        );
        assert_eq!(
            run("nested", json!([["x"], "y"])).unwrap(),
            vec![json!(["x", "y"])]
        );
        assert_eq!(
            run("nested", json!([[[1, 2], [3]], ["a"]])).unwrap(),
            vec![json!([1, 2, "a"]), json!([3, "a"])]
        );
        assert_eq!(
            run("nested", json!([[], ["a"]])).unwrap(),
            Vec::<Value>::new()
        );
        assert_eq!(
            run("nested", json!([[1, 2]])).unwrap_err(),
            "'int' object is not iterable"
        );
        assert_eq!(
            run("nested", json!([[1], null])).unwrap_err(),
            "'NoneType' object is not iterable"
        );
        assert_eq!(
            run("nested", json!([])).unwrap_err(),
            "with_nested requires at least one element in the nested list"
        );
        assert_eq!(
            run("cartesian", json!([["x"], "y"])).unwrap(),
            vec![json!(["x", "y"])]
        );
        assert_eq!(
            run("together", json!([[1, 2, 3], ["a", "b"]])).unwrap(),
            vec![json!([1, "a"]), json!([2, "b"]), json!([3, null])]
        );
        assert_eq!(
            run("together", json!([[1, 2]])).unwrap(),
            vec![json!([1]), json!([2])]
        );
        assert_eq!(
            run("together", json!([[[1, 2]], ["a"]])).unwrap(),
            vec![json!([1, 2, "a"])]
        );
        assert_eq!(
            run("together", json!(["ab", "cd"])).unwrap(),
            vec![json!(["a", "c"]), json!(["b", "d"])]
        );
        assert_eq!(
            run("together", json!([[1, 2], 3])).unwrap_err(),
            "'int' object is not iterable"
        );
        assert_eq!(
            run("together", json!([])).unwrap_err(),
            "with_together requires at least one element in each list"
        );
        assert_eq!(
            run("flattened", json!([1, [2, [3, [4]]], null])).unwrap(),
            vec![json!(1), json!(2), json!(3), json!(4)]
        );
    }

    #[test]
    fn subelements_pop_the_list_as_ansible() {
        let users = json!([{"n": "a", "k": ["k1", "k2"]}, {"n": "b", "k": []}]);
        assert_eq!(
            run("subelements", json!([users, "k"])).unwrap(),
            vec![json!([{"n": "a"}, "k1"]), json!([{"n": "a"}, "k2"])]
        );
        let some = json!([{"n": "a", "k": ["k1"]}, {"n": "c"}]);
        assert_eq!(
            run("subelements", json!([some, "k", {"skip_missing": true}])).unwrap(),
            vec![json!([{"n": "a"}, "k1"])]
        );
        assert_eq!(
            run("subelements", json!([some, "k"])).unwrap_err(),
            "could not find 'k' key in iterated item '{'n': 'c'}'"
        );
        assert_eq!(
            run("subelements", json!([[{"n": "a", "k": "x"}], "k"])).unwrap_err(),
            "the key k should point to a list, got 'x'"
        );
        assert_eq!(
            run("subelements", json!([[{"n": "a", "m": {"h": [1]}}], "m.h"])).unwrap(),
            vec![json!([{"n": "a", "m": {}}, 1])]
        );
        assert_eq!(
            run("subelements", json!([[{"n": "a", "m": 1}], "m.h"])).unwrap_err(),
            "the key m should point to a dictionary, got '1'"
        );
        assert_eq!(
            run(
                "subelements",
                json!([[{"n": "a", "m": 1}], "m.h", {"skip_missing": true}])
            )
            .unwrap(),
            Vec::<Value>::new()
        );
        assert_eq!(
            run("subelements", json!([{"x": {"n": "a", "k": [1]}}, "k"])).unwrap(),
            vec![json!([{"n": "a"}, 1])]
        );
        assert_eq!(
            run("subelements", json!([[1], "k"])).unwrap_err(),
            "subelements lookup expects a dictionary, got '1'"
        );
        assert_eq!(
            run("subelements", json!([[{"k": [1]}]])).unwrap_err(),
            "subelements lookup expects a list of two or three items, "
        );
        assert_eq!(
            run("subelements", json!(["x", "k"])).unwrap_err(),
            "subelements lookup expects a list of two or three items, first a dict or a list, second a string pointing to the subkey"
        );
        assert_eq!(
            run("subelements", json!([[{"k": [1]}], "k", 5])).unwrap_err(),
            "'int' object is not iterable"
        );
        assert_eq!(
            run(
                "subelements",
                json!([[{"k": [1], "skipped": true}, {"k": [2]}], "k"])
            )
            .unwrap(),
            vec![json!([{}, 2])]
        );
        assert_eq!(
            run(
                "subelements",
                json!([{"skipped": true, "results": []}, "k"])
            )
            .unwrap(),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn lines_and_random_choice_as_ansible() {
        assert_eq!(
            run("lines", json!("printf 'a\\nb\\r\\nc\\rd\\n'")).unwrap(),
            vec![json!("a"), json!("b"), json!("c"), json!("d")]
        );
        assert_eq!(
            run("lines", json!(["echo a", "echo b"])).unwrap(),
            vec![json!("a"), json!("b")]
        );
        assert_eq!(
            run("lines", json!("exit 3")).unwrap_err(),
            "lookup_plugin.lines(exit 3) returned 3"
        );
        let dir = tempfile::tempdir().unwrap();
        let here = items("lines", &[json!("pwd")], Some(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::canonicalize(here[0].as_str().unwrap()).unwrap(),
            std::fs::canonicalize(dir.path()).unwrap()
        );
        let pick = run("random_choice", json!(["p", "q"])).unwrap();
        assert!(
            pick == vec![json!("p")] || pick == vec![json!("q")],
            "{pick:?}"
        );
        // One term that is a list is chosen whole, as Ansible's lookup does.
        assert_eq!(
            run("random_choice", json!([["a"]])).unwrap(),
            vec![json!(["a"])]
        );
        assert_eq!(
            run("random_choice", json!([])).unwrap(),
            Vec::<Value>::new()
        );
        assert!(items("not_a_loop", &[], None).is_none());
    }

    /// `fmt % i` against Python itself, for every format of the table.
    #[test]
    fn integer_formats_match_python() {
        let formats = [
            "%d",
            "%02x",
            "%02d",
            "host%03d.example",
            "%x",
            "%X",
            "%o",
            "%#x",
            "%#o",
            "%#08x",
            "%+d",
            "% d",
            "%-5d|",
            "%5d",
            "%05d",
            "%.3d",
            "%8.3d",
            "%08.3d",
            "%s",
            "%5s",
            "%-4s|",
            "%.1s",
            "%i",
            "%u",
            "%r",
            "%a",
            "%%d %d",
            "%c",
            "%d%d",
            "plain",
            "%f",
            "%.2f",
            "%08.2f",
            "%-8.2f|",
            "%F",
            "%e",
            "%.0e",
            "%+.1e",
            "%E",
            "%g",
            "%G",
            "%#g",
            "%.2g",
            "%10.3e",
            "%y",
            "%",
        ];
        let numbers = [0i64, 7, 10, 255, -3, 65, 1234567, -100000000];
        let mut script = String::from("import json\nout=[]\n");
        for f in formats {
            for n in numbers {
                script.push_str(&format!(
                    "try:\n out.append({f:?} % {n})\nexcept Exception:\n out.append(None)\n"
                ));
            }
        }
        script.push_str("print(json.dumps(out))\n");
        let Ok(o) = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
        else {
            eprintln!("python3 not installed: comparison not run");
            return;
        };
        let want: Vec<Option<String>> =
            serde_json::from_slice(&o.stdout).expect("python printed JSON");
        let mut k = 0;
        for f in formats {
            for n in numbers {
                assert_eq!(py_format_int(f, n), want[k], "{f:?} % {n}");
                k += 1;
            }
        }
    }

    /// Each checked against ansible-core 2.19's sequence lookup.
    #[test]
    fn sequences_as_ansible_generates_them() {
        let seq = |terms: Value, kwargs: Value| {
            sequence(&loop_terms(&terms), kwargs.as_object().unwrap()).map(|v| {
                v.iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
        };
        let s = |t: &str| seq(json!(t), json!({}));
        assert_eq!(s("start=0 end=11 format=%02x").unwrap()[10..], ["0a", "0b"]);
        assert_eq!(s("count=3").unwrap(), ["1", "2", "3"]);
        assert_eq!(s("start=010 end=012").unwrap(), ["10", "11", "12"]);
        assert_eq!(s("start=10 end=0 stride=-5").unwrap(), ["10", "5", "0"]);
        assert_eq!(s("4-8/2:host%02d").unwrap(), ["host04", "host06", "host08"]);
        assert_eq!(s("3").unwrap(), ["1", "2", "3"]);
        assert_eq!(s("2:%03d").unwrap(), ["001", "002"]);
        assert_eq!(s("end=3 format=%5s").unwrap(), ["    1", "    2", "    3"]);
        assert_eq!(
            s("start=1 end=2 format=%f").unwrap(),
            ["1.000000", "2.000000"]
        );
        assert_eq!(s("start=-3 end=-1").unwrap(), ["-3", "-2", "-1"]);
        assert_eq!(s("start=1 count=3 stride=2").unwrap(), ["1", "3", "5"]);
        assert_eq!(s("start=1 end=10 stride=3").unwrap(), ["1", "4", "7", "10"]);
        assert_eq!(s("start=1 end=2 stride=0").unwrap(), Vec::<String>::new());
        assert_eq!(s("count=0").unwrap(), Vec::<String>::new());
        assert_eq!(s("count=0 format=x").unwrap(), Vec::<String>::new());
        assert_eq!(
            seq(json!(["1-3", "5-6"]), json!({})).unwrap(),
            ["1", "2", "3", "5", "6"]
        );
        assert_eq!(
            seq(json!([]), json!({"start": 1, "end": 3})).unwrap(),
            ["1", "2", "3"]
        );
        assert_eq!(
            seq(json!("end=2"), json!({"start": 0})).unwrap(),
            ["0", "1", "2"]
        );
        let invalid = |k: &str, v: &str| {
            format!("Config '{k}' for 'sequence' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'integer': '{v}'")
        };
        for (term, want) in [
            (
                "start=5 end=1",
                "to count backwards make stride negative".to_string(),
            ),
            ("count=-2", "to count backwards make stride negative".into()),
            (
                "start=1 end=5 stride=-1",
                "to count forward don't make stride negative".into(),
            ),
            (
                "start=1 end=2 format=%d-%d",
                "bad formatting string: %d-%d".into(),
            ),
            (
                "start=1 end=2 format=%%d%d",
                "bad formatting string: %%d%d".into(),
            ),
            ("start=1 end=2 format=x", "bad formatting string: x".into()),
            (
                "start=1 end=2 format=%y",
                "problem formatting 1 with '%y'".into(),
            ),
            (
                "count=2 end=3",
                "can't specify both count and end in with_sequence".into(),
            ),
            (
                "start=2",
                "must specify count or end in with_sequence".into(),
            ),
            (
                "start=1 end=3 foo=1",
                "unrecognized arguments to with_sequence: ['foo']".into(),
            ),
            (
                "-3",
                "unrecognized arguments to with_sequence: ['_raw_params']".into(),
            ),
            (
                " 3 ",
                "unrecognized arguments to with_sequence: ['_raw_params']".into(),
            ),
            ("start=0x0a end=0x0c", invalid("start", "0x0a")),
            ("start=0o10 end=0o12", invalid("start", "0o10")),
            ("start=x end=2", invalid("start", "x")),
            ("start=1.5 end=3", invalid("start", "1.5")),
            ("start= 1 end=3", invalid("start", "")),
            ("a", invalid("end", "a")),
            ("0xa", invalid("end", "0xa")),
            ("a-f", invalid("start", "a")),
        ] {
            assert_eq!(s(term).unwrap_err(), want, "{term}");
        }
        assert_eq!(
            seq(json!([7]), json!({})).unwrap_err(),
            "unknown error parsing with_sequence arguments: 7. Error was: expected string or bytes-like object, got 'int'"
        );
        assert_eq!(decimal_int("1e2"), Some(100));
        assert_eq!(decimal_int(" 1_000 "), Some(1000));
        assert_eq!(decimal_int("2.0"), Some(2));
        assert_eq!(decimal_int("2.5"), None);
        assert_eq!(decimal_int("1__0"), None);
    }
}
