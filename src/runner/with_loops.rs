//! `with_<lookup>` loops that shape their items from the task's terms, as
//! Ansible's lookups of those names do: `with_nested` (`with_cartesian`),
//! `with_together`, `with_subelements`, `with_flattened`, `with_lines`,
//! `with_random_choice`.

use serde_json::{json, Value};

/// The items of `with_<name>` over the templated `terms`, or `None` when
/// `name` is not one of these.
pub(crate) fn items(name: &str, terms: &Value) -> Option<Result<Vec<Value>, String>> {
    Some(match name {
        "nested" | "cartesian" => nested(terms, name),
        "together" => together(terms),
        "subelements" => subelements(terms),
        "flattened" => Ok(flatten(terms)),
        "lines" => lines(terms),
        "random_choice" => random_choice(terms),
        _ => return None,
    })
}

fn lists(terms: &Value, name: &str) -> Result<Vec<Vec<Value>>, String> {
    let Value::Array(terms) = terms else {
        return Err(format!(
            "with_{name} requires a list of lists, got {}",
            kind(terms)
        ));
    };
    terms
        .iter()
        .map(|t| match t {
            Value::Array(a) => Ok(a.clone()),
            Value::Null => Err(format!(
                "with_{name}: one of the nested lists is undefined or empty"
            )),
            other => Ok(vec![other.clone()]),
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "None",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Every combination, the first list varying slowest; each item a list.
fn nested(terms: &Value, name: &str) -> Result<Vec<Value>, String> {
    let lists = lists(terms, name)?;
    if lists.is_empty() {
        return Err(format!(
            "with_{name} requires at least one element in the nested list"
        ));
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for l in lists {
        let mut next = Vec::with_capacity(out.len() * l.len());
        for prefix in &out {
            for x in &l {
                let mut p = prefix.clone();
                p.push(x.clone());
                next.push(p);
            }
        }
        if next.len() > 100_000 {
            return Err(format!("with_{name}: more than 100000 combinations"));
        }
        out = next;
    }
    Ok(out.into_iter().map(Value::Array).collect())
}

/// The lists side by side (Python's zip_longest, missing ones null).
fn together(terms: &Value) -> Result<Vec<Value>, String> {
    let lists = lists(terms, "together")?;
    if lists.is_empty() {
        return Err("with_together requires at least one element in each list".into());
    }
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            Value::Array(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect())
}

/// `[list_of_dicts, "key.path", {skip_missing: bool}]`: each dict with each
/// element of its list at the key, as `[dict, element]`.
fn subelements(terms: &Value) -> Result<Vec<Value>, String> {
    let Value::Array(t) = terms else {
        return Err(
            "subelements lookup expects a list of two or three items, ".to_string() + kind(terms),
        );
    };
    if !(2..=3).contains(&t.len()) {
        return Err("subelements lookup expects a list of two or three items, ".into());
    }
    let skip_missing = match t.get(2) {
        None => false,
        Some(Value::Object(f)) => {
            for k in f.keys() {
                if k != "skip_missing" {
                    return Err(format!("the optional third item of the subelements lookup must be a dictionary with flags skip_missing, got {k}"));
                }
            }
            f.get("skip_missing").and_then(crate::modules::args::to_bool).unwrap_or(false)
        }
        Some(_) => return Err("the optional third item of the subelements lookup must be a dictionary with flags skip_missing".into()),
    };
    let elements: Vec<Value> = match &t[0] {
        Value::Array(a) => a.clone(),
        Value::Object(m) => m.values().cloned().collect(),
        other => {
            return Err(format!(
                "subelements lookup expects a dictionary or a list, got {}",
                kind(other)
            ))
        }
    };
    let Value::String(path) = &t[1] else {
        return Err("the second item of the subelements lookup must be a string".into());
    };
    let mut out = Vec::new();
    for e in elements {
        if e.get("skipped").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let mut at = &e;
        let mut missing = false;
        for key in path.split('.') {
            match at.get(key) {
                Some(v) => at = v,
                None if skip_missing => {
                    missing = true;
                    break;
                }
                None => return Err(format!("could not find '{key}' key in iterated item '{e}'")),
            }
        }
        if missing {
            continue;
        }
        let Value::Array(subs) = at else {
            return Err(format!("the key {path} should point to a list, got '{at}'"));
        };
        out.extend(subs.iter().map(|s| json!([e.clone(), s.clone()])));
    }
    Ok(out)
}

fn flatten(terms: &Value) -> Vec<Value> {
    match terms {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Each line that the command(s) print, run on the controller by /bin/sh.
fn lines(terms: &Value) -> Result<Vec<Value>, String> {
    let cmds: Vec<String> = match terms {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        other => return Err(format!("with_lines takes commands, got {}", kind(other))),
    };
    let mut out = Vec::new();
    for c in cmds {
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&c)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("lookup_plugin.lines({c}) could not start /bin/sh: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "lookup_plugin.lines({c}) returned {}",
                o.status.code().unwrap_or(-1)
            ));
        }
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| Value::String(l.to_string())),
        );
    }
    Ok(out)
}

fn random_choice(terms: &Value) -> Result<Vec<Value>, String> {
    let items = flatten(terms);
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let b = crate::random::bytes(8);
    let i = (u64::from_le_bytes(b.try_into().expect("8 bytes")) % items.len() as u64) as usize;
    Ok(vec![items[i].clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn run(name: &str, terms: Value) -> Result<Vec<Value>, String> {
        items(name, &terms).expect("a with_ loop of this file")
    }

    #[test]
    fn shapes_as_ansible_lookups() {
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
            run("cartesian", json!([["x"], "y"])).unwrap(),
            vec![json!(["x", "y"])]
        );
        assert_eq!(
            run("together", json!([[1, 2, 3], ["a", "b"]])).unwrap(),
            vec![json!([1, "a"]), json!([2, "b"]), json!([3, null])]
        );
        assert_eq!(
            run("flattened", json!([1, [2, [3, [4]]], null])).unwrap(),
            vec![json!(1), json!(2), json!(3), json!(4)]
        );
        let users =
            json!([{"name": "a", "keys": ["k1", "k2"]}, {"name": "b", "keys": []}, {"name": "c"}]);
        assert_eq!(
            run(
                "subelements",
                json!([users, "keys", {"skip_missing": true}])
            )
            .unwrap(),
            vec![
                json!([{"name": "a", "keys": ["k1", "k2"]}, "k1"]),
                json!([{"name": "a", "keys": ["k1", "k2"]}, "k2"])
            ]
        );
        assert!(run("subelements", json!([users, "keys"]))
            .unwrap_err()
            .starts_with("could not find 'keys' key in iterated item"));
        assert_eq!(
            run("lines", json!("printf 'a\\nb\\n'")).unwrap(),
            vec![json!("a"), json!("b")]
        );
        assert!(run("lines", json!("exit 3"))
            .unwrap_err()
            .ends_with("returned 3"));
        let pick = run("random_choice", json!(["p", "q"])).unwrap();
        assert!(
            pick == vec![json!("p")] || pick == vec![json!("q")],
            "{pick:?}"
        );
        assert!(items("not_a_loop", &json!([])).is_none());
    }
}
