//! Ansible's Jinja tests (`x is version('1.2', '>=')`, `result is changed`,
//! `path is file`, ...) on top of minijinja's builtins (`defined`, `none`,
//! `number`, `mapping`, `equalto`, `sameas`, `in`, ...).

use std::cmp::Ordering;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};
use regex::Regex;

use crate::playbook::filters::{ansible_bool, fail, py_str};

pub(crate) fn register(env: &mut Environment<'static>) {
    // ansible-core's own test of trust: text read from playbooks and vars
    // files is TrustedAsTemplate; module results and `!unsafe` are not.
    env.add_test(
        "ansible._protomatter.tagged_with",
        |v: Value, tag: String| -> Result<bool, Error> {
            Ok(match tag.as_str() {
                "TrustedAsTemplate" => {
                    v.kind() == minijinja::value::ValueKind::String && !v.is_safe()
                }
                _ => false,
            })
        },
    );
    env.add_test(
        "truthy",
        |v: Value, kwargs: Kwargs| -> Result<bool, Error> {
            let convert: bool = kwargs.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
            kwargs.assert_all_used()?;
            Ok(if convert && is_boolish(&v) {
                ansible_bool(&v)
            } else {
                v.is_true()
            })
        },
    );
    env.add_test("falsy", |v: Value, kwargs: Kwargs| -> Result<bool, Error> {
        let convert: bool = kwargs.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
        kwargs.assert_all_used()?;
        Ok(!if convert && is_boolish(&v) {
            ansible_bool(&v)
        } else {
            v.is_true()
        })
    });
    env.add_test("match", |v: Value, p: String, kwargs: Kwargs| {
        regex_test(&v, &p, kwargs, Mode::Match)
    });
    env.add_test("search", |v: Value, p: String, kwargs: Kwargs| {
        regex_test(&v, &p, kwargs, Mode::Search)
    });
    env.add_test("regex", regex_generic);
    env.add_test("version", version_test);
    env.add_test("version_compare", version_test);
    env.add_test("string", |v: Value| v.kind() == ValueKind::String);
    env.add_test("sequence", |v: Value| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::String | ValueKind::Map
        )
    });
    env.add_test("iterable", |v: Value| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::String | ValueKind::Map
        )
    });
    env.add_test(
        "contains",
        |seq: Value, item: Value| -> Result<bool, Error> { value_contains(&seq, &item) },
    );
    env.add_test("subset", |a: Value, b: Value| -> Result<bool, Error> {
        all_in(&a, &b)
    });
    env.add_test("issubset", |a: Value, b: Value| -> Result<bool, Error> {
        all_in(&a, &b)
    });
    env.add_test("superset", |a: Value, b: Value| -> Result<bool, Error> {
        all_in(&b, &a)
    });
    env.add_test("issuperset", |a: Value, b: Value| -> Result<bool, Error> {
        all_in(&b, &a)
    });
    // A task result's flags are read with Python's truthiness, as Ansible
    // reads them (`failed: "no"` is failed).
    for name in ["succeeded", "success", "successful"] {
        env.add_test(name, |r: Value| -> Result<bool, Error> {
            Ok(!flag(&result(&r, "failed")?, "failed"))
        });
    }
    for name in ["failed", "failure"] {
        env.add_test(name, |r: Value| -> Result<bool, Error> {
            Ok(flag(&result(&r, "failed")?, "failed"))
        });
    }
    for name in ["changed", "change"] {
        env.add_test(name, changed);
    }
    for name in ["skipped", "skip"] {
        env.add_test(name, |r: Value| -> Result<bool, Error> {
            Ok(flag(&result(&r, "skipped")?, "skipped"))
        });
    }
    env.add_test("unreachable", |r: Value| -> Result<bool, Error> {
        Ok(flag(&result(&r, "unreachable")?, "unreachable"))
    });
    env.add_test("reachable", |r: Value| -> Result<bool, Error> {
        Ok(!flag(&result(&r, "unreachable")?, "unreachable"))
    });
    env.add_test("timedout", timedout);
    // An async job's state; a result without the key counts as done, as in Ansible.
    for (name, key) in [
        ("finished", "finished"),
        ("finish", "finished"),
        ("started", "started"),
        ("start", "started"),
    ] {
        env.add_test(name, move |r: Value| -> Result<bool, Error> {
            let r = result(&r, key)?;
            Ok(r.get_attr(key)
                .map(|f| f.is_undefined() || f.is_true())
                .unwrap_or(true))
        });
    }
    // The controller's files, as Python's `os.path` tests them.
    for name in ["abs", "is_abs"] {
        env.add_test(name, |p: String| p.starts_with('/'));
    }
    for name in ["file", "is_file"] {
        env.add_test(name, |p: String| std::path::Path::new(&p).is_file());
    }
    for name in ["directory", "is_dir"] {
        env.add_test(name, |p: String| std::path::Path::new(&p).is_dir());
    }
    env.add_test("exists", |p: String| std::path::Path::new(&p).exists());
    for name in ["link", "is_link"] {
        env.add_test(name, |p: String| {
            std::fs::symlink_metadata(&p)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
        });
    }
    env.add_test("link_exists", |p: String| {
        std::fs::symlink_metadata(&p).is_ok()
    });
    for name in ["same_file", "is_same_file"] {
        env.add_test(name, same_file);
    }
    for name in ["mount", "is_mount"] {
        env.add_test(name, |p: String| is_mount(&p));
    }
    env.add_test("vault_encrypted", |v: Value| {
        py_str(&v).starts_with("$ANSIBLE_VAULT;")
    });
    env.add_test("any", |v: Value| -> Result<bool, Error> {
        Ok(v.try_iter()?.any(|i| i.is_true()))
    });
    env.add_test("all", |v: Value| -> Result<bool, Error> {
        Ok(v.try_iter()?.all(|i| i.is_true()))
    });
    // `math.isnan`: only numbers can be NaN; anything else is not.
    for name in ["nan", "isnan"] {
        env.add_test(name, |v: Value| {
            v.kind() == ValueKind::Number && f64::try_from(v).map(f64::is_nan).unwrap_or(false)
        });
    }
    env.add_test("callable", |v: Value| is_callable(&v));
    crate::playbook::urls::register(env);
    crate::playbook::vault::register(env);
}

/// Jinja's `callable` test: functions (`lookup`, `range`, ...) and macros.
/// Python's bound methods (`'a'.upper`) are not values in minijinja: such
/// an attribute is undefined here, so not callable.
fn is_callable(v: &Value) -> bool {
    // A function: minijinja's function objects show as `function` (or,
    // built with its debug support, as the Rust path of the function).
    if let Some(obj) = v.as_object() {
        if obj.repr() == minijinja::value::ObjectRepr::Plain {
            let shown = format!("{v:?}");
            if shown == "function" || (shown.contains("::") && !shown.contains(char::is_whitespace))
            {
                return true;
            }
        }
    }
    // A macro: minijinja's macro object shows exactly these members.
    let member = |k: &str| v.get_attr(k).map(|m| m.kind()).ok();
    v.kind() == ValueKind::Map
        && v.downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
            .is_none()
        && v.try_iter()
            .map(|keys| {
                keys.map(|k| py_str(&k)).collect::<Vec<_>>() == ["name", "arguments", "caller"]
            })
            .unwrap_or(false)
        && member("name") == Some(ValueKind::String)
        && member("arguments") == Some(ValueKind::Seq)
        && member("caller") == Some(ValueKind::Bool)
}

/// Ansible's `changed` test: the result's `changed`, or without one, any
/// changed item of its `results` list.
fn changed(r: Value) -> Result<bool, Error> {
    let r = result(&r, "changed")?;
    let own = r.get_attr("changed")?;
    if !own.is_undefined() {
        return Ok(own.is_true());
    }
    let results = r.get_attr("results")?;
    if !matches!(results.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Ok(false);
    }
    let items: Vec<Value> = results.try_iter()?.collect();
    match items.first() {
        None => Err(fail("list index out of range")),
        Some(first) if first.kind() != ValueKind::Map => Ok(false),
        Some(_) => Ok(items.iter().any(|i| {
            i.kind() == ValueKind::Map && i.get_attr("changed").is_ok_and(|c| c.is_true())
        })),
    }
}

/// Ansible's `timedout` test: the result's `timedout` mapping has a period.
fn timedout(r: Value) -> Result<bool, Error> {
    let r = result(&r, "timedout")?;
    let t = r.get_attr("timedout")?;
    if !t.is_true() {
        return Ok(false);
    }
    if t.kind() != ValueKind::Map {
        return Err(fail(format!(
            "'{}' object has no attribute 'get'",
            crate::playbook::templar::py_type(&t)
        )));
    }
    Ok(t.get_attr("period")?.is_true())
}

/// `os.path.samefile`: both paths name the same file (device and inode);
/// a path that does not exist is Python's error.
fn same_file(a: String, b: String) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let stat =
        |p: &str| std::fs::metadata(p).map_err(|e| fail(crate::playbook::lookups::os_error(&e, p)));
    let (x, y) = (stat(&a)?, stat(&b)?);
    Ok(x.dev() == y.dev() && x.ino() == y.ino())
}

/// `os.path.ismount`: not a symlink, and on another device than its parent
/// (or the root, its own parent).
fn is_mount(p: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return false;
    };
    if meta.file_type().is_symlink() {
        return false;
    }
    let Ok(parent) = std::fs::symlink_metadata(std::path::Path::new(p).join("..")) else {
        return false;
    };
    meta.dev() != parent.dev() || meta.ino() == parent.ino()
}

fn is_boolish(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::String | ValueKind::Number | ValueKind::Bool
    )
}

/// Python's `item in container`.
pub(crate) fn value_contains(container: &Value, item: &Value) -> Result<bool, Error> {
    Ok(match container.kind() {
        ValueKind::String => item
            .as_str()
            .is_some_and(|i| container.as_str().unwrap_or_default().contains(i)),
        ValueKind::Map => !container.get_item(item)?.is_undefined(),
        _ => container.try_iter()?.any(|x| &x == item),
    })
}

fn all_in(a: &Value, b: &Value) -> Result<bool, Error> {
    for item in a.try_iter()? {
        if !value_contains(b, &item)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A registered result; Ansible refuses anything else for these tests.
fn result(r: &Value, test: &str) -> Result<Value, Error> {
    if r.kind() != ValueKind::Map {
        return Err(fail(format!("The '{test}' test expects a dictionary")));
    }
    Ok(r.clone())
}

/// A result's flag, with Python's truthiness.
fn flag(r: &Value, key: &str) -> bool {
    r.get_attr(key)
        .map(|v| !v.is_undefined() && v.is_true())
        .unwrap_or(false)
}

#[derive(Clone, Copy)]
enum Mode {
    Match,
    Search,
    FullMatch,
}

fn regex_test(v: &Value, pattern: &str, kwargs: Kwargs, mode: Mode) -> Result<bool, Error> {
    let ignorecase: bool = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline: bool = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    regex_check(&py_str(v), pattern, ignorecase, multiline, mode)
}

fn regex_check(
    text: &str,
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
    mode: Mode,
) -> Result<bool, Error> {
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if multiline {
        flags.push('m');
    }
    let prefix = if flags.is_empty() {
        String::new()
    } else {
        format!("(?{flags})")
    };
    // Python's re.match anchors at the start only; fullmatch at both ends.
    let full = match mode {
        Mode::Match => format!(r"{prefix}\A(?:{pattern})"),
        Mode::FullMatch => format!(r"{prefix}\A(?:{pattern})\z"),
        Mode::Search => format!("{prefix}{pattern}"),
    };
    let re = Regex::new(&full)
        .map_err(|e| fail(format!("invalid regular expression '{pattern}': {e}")))?;
    Ok(re.is_match(text))
}

fn regex_generic(v: Value, pattern: String, kwargs: Kwargs) -> Result<bool, Error> {
    let ignorecase: bool = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline: bool = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    let match_type: String = kwargs
        .get::<Option<String>>("match_type")?
        .unwrap_or_else(|| "search".into());
    kwargs.assert_all_used()?;
    let mode = match match_type.as_str() {
        "search" => Mode::Search,
        "match" => Mode::Match,
        "fullmatch" => Mode::FullMatch,
        other => {
            return Err(fail(format!(
                "unknown match_type '{other}' (use search, match or fullmatch)"
            )))
        }
    };
    regex_check(&py_str(&v), &pattern, ignorecase, multiline, mode)
}

/// One component of a LooseVersion: numbers compare numerically and sort
/// before letters, as in Python 2's mixed comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Num(u64),
    Str(String),
}

impl PartialOrd for Part {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Part {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Part::Num(a), Part::Num(b)) => a.cmp(b),
            (Part::Str(a), Part::Str(b)) => a.cmp(b),
            (Part::Num(_), Part::Str(_)) => Ordering::Less,
            (Part::Str(_), Part::Num(_)) => Ordering::Greater,
        }
    }
}

/// Ansible's LooseVersion: split into runs of digits and of letters/other
/// characters, dropping the dots.
pub(crate) fn loose_version(v: &str) -> Vec<Part> {
    let re = Regex::new(r"(\d+|[a-zA-Z]+|\.)").expect("valid version regex");
    let mut parts = Vec::new();
    let mut last = 0;
    for m in re.find_iter(v) {
        if m.start() > last {
            parts.push(Part::Str(v[last..m.start()].to_string()));
        }
        last = m.end();
        let s = m.as_str();
        if s == "." {
            continue;
        }
        parts.push(match s.parse::<u64>() {
            Ok(n) => Part::Num(n),
            Err(_) => Part::Str(s.to_string()),
        });
    }
    if last < v.len() {
        parts.push(Part::Str(v[last..].to_string()));
    }
    parts
}

/// A StrictVersion's numbers and its pre-release (`a1`, `b2`).
type Strict = (Vec<u64>, Option<(char, u64)>);

/// StrictVersion: `N.N[.N]` with an optional `aN`/`bN` pre-release.
fn strict_version(v: &str) -> Result<Strict, Error> {
    let re =
        Regex::new(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$").expect("valid version regex");
    let c = re.captures(v).ok_or_else(|| {
        fail(format!(
            "Version comparison failed: invalid version number '{v}'"
        ))
    })?;
    let n = |i: usize| c.get(i).map_or(0, |m| m.as_str().parse().unwrap_or(0));
    let pre = c
        .get(4)
        .map(|m| (m.as_str().chars().next().unwrap_or('a'), n(5)));
    Ok((vec![n(1), n(2), n(3)], pre))
}

fn semver_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let re = Regex::new(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
        .expect("valid semver regex");
    let parse = |s: &str| -> Result<(Vec<u64>, Option<String>), Error> {
        let c = re.captures(s).ok_or_else(|| {
            fail(format!(
                "Version comparison failed: invalid semantic version '{s}'"
            ))
        })?;
        let n = |i: usize| c[i].parse::<u64>().unwrap_or(0);
        Ok((
            vec![n(1), n(2), n(3)],
            c.get(4).map(|m| m.as_str().to_string()),
        ))
    };
    let (va, pa) = parse(a)?;
    let (vb, pb) = parse(b)?;
    Ok(va.cmp(&vb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let xs: Vec<&str> = x.split('.').collect();
            let ys: Vec<&str> = y.split('.').collect();
            for (p, q) in xs.iter().zip(&ys) {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(i), Ok(j)) => i.cmp(&j),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
    }))
}

fn version_test(v: Value, other: Value, op: Option<String>, kwargs: Kwargs) -> Result<bool, Error> {
    let op = kwargs
        .get::<Option<String>>("operator")?
        .or(op)
        .unwrap_or_else(|| "eq".into());
    let strict: bool = kwargs.get::<Option<bool>>("strict")?.unwrap_or(false);
    let version_type: Option<String> = kwargs.get("version_type")?;
    kwargs.assert_all_used()?;
    let a = py_str(&v);
    let b = py_str(&other);
    if a.is_empty() {
        return Err(fail("Input version value cannot be empty"));
    }
    if b.is_empty() {
        return Err(fail("Version parameter to compare against cannot be empty"));
    }
    let kind = version_type.unwrap_or_else(|| {
        if strict {
            "strict".into()
        } else {
            "loose".into()
        }
    });
    let ord = match kind.as_str() {
        "loose" => loose_version(&a).cmp(&loose_version(&b)),
        "strict" => {
            let (va, pa) = strict_version(&a)?;
            let (vb, pb) = strict_version(&b)?;
            va.cmp(&vb).then_with(|| match (pa, pb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => x.cmp(&y),
            })
        }
        "semver" | "semantic" => semver_cmp(&a, &b)?,
        other => {
            return Err(fail(format!(
                "Invalid version type ({other}). Must be one of loose, strict, semver, semantic"
            )))
        }
    };
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        other => return Err(fail(format!("Invalid operator type ({other})"))),
    })
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use serde_json::json;

    /// (conditional, expected) — each checked against ansible-core 2.19.
    fn check(table: &[(&str, bool)]) {
        let t = Templar::new();
        let vars = json!({
            "res_ok": {"changed": false, "failed": false},
            "res_ch": {"changed": true, "rc": 0},
            "res_fail": {"failed": true, "rc": 1},
            "res_skip": {"skipped": true, "changed": false},
            "s": "Hello World",
            "l": [3, 1, 2],
            "d": {"a": 1},
            "n": null,
            "dir": env!("CARGO_MANIFEST_DIR"),
        });
        let c = Templar::context(vars.as_object().unwrap());
        for (expr, want) in table {
            let got = t
                .eval_bool(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(got, *want, "{expr}");
        }
    }

    #[test]
    fn definedness_and_types() {
        check(&[
            ("nope is defined", false),
            ("nope is undefined", true),
            ("nope.x is defined", false),
            ("d.a is defined", true),
            ("d.zz is undefined", true),
            ("n is none", true),
            ("s is none", false),
            ("s is string", true),
            ("l is string", false),
            ("s is sequence", true),
            ("l is sequence", true),
            ("d is mapping", true),
            ("l is mapping", false),
            ("l is iterable", true),
            ("1 is number", true),
            ("1 is integer", true),
            ("1.5 is float", true),
            ("1 is float", false),
            ("True is boolean", true),
            ("'yes' is boolean", false),
            ("'' is falsy", true),
            ("'x' is truthy", true),
            ("'no' is truthy", true),
            ("'no' is truthy(convert_bool=True)", false),
            ("3 is divisibleby(3)", true),
            ("1 is equalto(1)", true),
            ("None is sameas(none)", true),
        ]);
    }

    #[test]
    fn regexes_follow_python() {
        check(&[
            ("s is match('Hello')", true),
            ("s is match('World')", false),
            ("s is search('World')", true),
            ("s is search('world')", false),
            ("s is search('world', ignorecase=True)", true),
            ("s is regex('o W')", true),
            ("s is regex('World', match_type='match')", false),
            ("s is regex('Hello World', match_type='fullmatch')", true),
            ("s is match('H|W')", true),
            ("s is match('W|H')", true),
            ("'xa' is match('a|x')", true),
            ("'ya' is match('a|x')", false),
        ]);
    }

    #[test]
    fn versions_compare_like_looseversion() {
        check(&[
            ("'1.2.10' is version('1.2.9', '>')", true),
            ("'1.2.10' is version('1.2.9', 'lt')", false),
            ("'1.2' is version('1.2.0', '==')", false),
            ("'1.2a' is version('1.2', '>')", true),
            ("'2.0.0-rc1' is version('2.0.0', '<')", false),
            ("'2.0' is version_compare('1.9', 'ge')", true),
            ("'1.10' is version('1.9', '>')", true),
            ("'1.0' is version('1.0', operator='eq')", true),
            (
                "'1.2.3' is version('1.2.3-beta', '>', version_type='semver')",
                true,
            ),
            ("'1.2b1' is version('1.2', '<', strict=True)", true),
        ]);
    }

    #[test]
    fn membership() {
        check(&[
            ("1 in l", true),
            ("l is contains(2)", true),
            ("l is contains(9)", false),
            ("[1, 2] is subset(l)", true),
            ("[1, 9] is subset(l)", false),
            ("l is superset([3])", true),
            ("'ell' in s", true),
            ("'a' in d", true),
        ]);
    }

    #[test]
    fn registered_results() {
        check(&[
            ("res_ok is succeeded", true),
            ("res_ok is success", true),
            ("res_ok is failed", false),
            ("res_fail is failed", true),
            ("res_fail is failure", true),
            ("res_fail is succeeded", false),
            ("res_ch is changed", true),
            ("res_ch is change", true),
            ("res_ok is changed", false),
            ("res_skip is skipped", true),
            ("res_skip is skip", true),
            ("res_ok is skipped", false),
        ]);
    }

    #[test]
    fn controller_paths() {
        check(&[
            ("'/etc' is abs", true),
            ("'etc' is abs", false),
            ("(dir ~ '/Cargo.toml') is file", true),
            ("(dir ~ '/Cargo.toml') is directory", false),
            ("dir is directory", true),
            ("(dir ~ '/src') is exists", true),
            ("(dir ~ '/nope-nothing') is exists", false),
            ("dir is link", false),
        ]);
    }

    /// Each as ansible-core 2.19 answers it: result flags with Python's
    /// truthiness, `timedout`, `reachable`, the `is_*` aliases, `callable`.
    #[test]
    fn results_aliases_and_callables() {
        check(&[
            ("{'failed': 'no'} is failed", true),
            ("{'failed': 0} is failed", false),
            ("{'failed': 'no'} is succeeded", false),
            ("{'changed': 'false'} is changed", true),
            ("{'results': [{'changed': true}]} is changed", true),
            (
                "{'results': [{'changed': false}, {'changed': 1}]} is changed",
                true,
            ),
            ("{'results': ['x']} is changed", false),
            ("{'skipped': 'no'} is skipped", true),
            ("{'unreachable': true} is unreachable", true),
            ("{'unreachable': 'no'} is reachable", false),
            ("{} is reachable", true),
            ("{} is unreachable", false),
            ("{'timedout': {'period': 5}} is timedout", true),
            ("{'timedout': {'period': 0}} is timedout", false),
            ("{} is timedout", false),
            ("{'finished': 0} is finished", false),
            ("{'finished': 'no'} is finished", true),
            ("{'started': 0} is started", false),
            ("lookup is callable", true),
            ("range is callable", true),
            ("'a' is callable", false),
            ("d is callable", false),
            ("'/' is is_abs", true),
            ("'etc' is is_abs", false),
            ("dir is is_dir", true),
            ("(dir ~ '/Cargo.toml') is is_file", true),
            ("dir is is_link", false),
            ("'/' is same_file('/')", true),
            ("'/' is is_same_file(dir)", false),
            ("'/' is mount", true),
            ("'/' is is_mount", true),
            ("dir is mount", false),
            ("'/nope-berth' is mount", false),
            ("'nan' is nan", false),
            ("('nan' | float) is isnan", true),
            ("1.5 is isnan", false),
        ]);
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        let err = |s: &str| t.eval_bool(s, &c).unwrap_err().message;
        assert_eq!(err("{'results': []} is changed"), "list index out of range");
        assert_eq!(
            err("{'timedout': true} is timedout"),
            "'bool' object has no attribute 'get'"
        );
        assert_eq!(
            err("1 is timedout"),
            "The 'timedout' test expects a dictionary"
        );
        assert_eq!(
            err("1 is reachable"),
            "The 'unreachable' test expects a dictionary"
        );
        assert_eq!(
            err("1 is succeeded"),
            "The 'failed' test expects a dictionary"
        );
        assert_eq!(
            err("'/nope-berth' is same_file('/nope2')"),
            "[Errno 2] No such file or directory: '/nope-berth'"
        );
        let mac = t
            .render_text("{% macro m() %}x{% endmacro %}{{ m is callable }}", &c)
            .unwrap();
        assert_eq!(mac, "True");
    }

    /// Python's `urlparse` behind `uri`, `url` and `urn`, as Ansible answers.
    #[test]
    fn uri_url_urn() {
        check(&[
            ("'http://x' is uri", true),
            ("'anything' is uri", true),
            ("'http://[::1' is uri", false),
            ("'http://[::1]/' is url", true),
            ("'http://[1.2.3.4]/' is uri", false),
            ("'x:y' is url", false),
            ("'file:/x' is url", true),
            ("'urn:isbn:1' is urn", true),
            ("'URN:isbn:1' is urn", true),
            ("'http://x' is uri(['https'])", false),
            ("'http://x' is url(['http'])", true),
            ("5 is uri", false),
        ]);
    }
}
