//! Ansible's filters over collections that berth adds to the ones in
//! `filters.rs`: `combinations` and `permutations` (Python's `itertools`),
//! `shuffle` and `random` (Python's `random`, seeded ones drawing Python's
//! numbers) and `rekey_on_member`.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, Value};

use crate::playbook::filters::{defined, fail, py_repr, py_str};
use crate::playbook::py_random::{PyRandom, Seed};
use crate::playbook::pyargs::bind;
use crate::playbook::templar::{is_float, py_type};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("combinations", combinations);
    env.add_filter("permutations", permutations);
    env.add_filter("shuffle", shuffle);
    env.add_filter("random", random);
    env.add_filter("rekey_on_member", rekey_on_member);
}

/// Python's iteration of a value: list items, string characters, mapping keys.
pub(crate) fn py_items(v: &Value) -> Result<Vec<Value>, Error> {
    match v.kind() {
        ValueKind::String => Ok(v
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect()),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => Ok(v.try_iter()?.collect()),
        _ => Err(fail(format!("'{}' object is not iterable", py_type(v)))),
    }
}

/// `r` of `itertools`: a non-negative integer.
fn r_arg(v: &Value) -> Result<usize, Error> {
    if v.kind() != ValueKind::Number || is_float(v) {
        return Err(fail("Expected int as r"));
    }
    let r = v.as_i64().unwrap_or(-1);
    if r < 0 {
        return Err(fail("r must be non-negative"));
    }
    Ok(r as usize)
}

/// Index tuples of `itertools.combinations(range(n), r)`, in its order.
fn combination_indices(n: usize, r: usize) -> Vec<Vec<usize>> {
    if r > n {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..r).collect();
    let mut out = vec![idx.clone()];
    loop {
        let Some(i) = (0..r).rev().find(|&i| idx[i] != i + n - r) else {
            return out;
        };
        idx[i] += 1;
        for j in i + 1..r {
            idx[j] = idx[j - 1] + 1;
        }
        out.push(idx.clone());
        if out.len() > 100_000 {
            return out;
        }
    }
}

/// Index tuples of `itertools.permutations(range(n), r)`, in its order.
fn permutation_indices(n: usize, r: usize) -> Vec<Vec<usize>> {
    if r > n {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(r);
    let mut used = vec![false; n];
    fn walk(
        n: usize,
        r: usize,
        current: &mut Vec<usize>,
        used: &mut [bool],
        out: &mut Vec<Vec<usize>>,
    ) {
        if out.len() > 100_000 {
            return;
        }
        if current.len() == r {
            out.push(current.clone());
            return;
        }
        for i in 0..n {
            if !used[i] {
                used[i] = true;
                current.push(i);
                walk(n, r, current, used, out);
                current.pop();
                used[i] = false;
            }
        }
    }
    walk(n, r, &mut current, &mut used, &mut out);
    out
}

fn pick(items: &[Value], tuples: Vec<Vec<usize>>) -> Result<Value, Error> {
    if tuples.len() > 100_000 {
        return Err(fail(
            "more than 100000 results: berth refuses to build them",
        ));
    }
    Ok(Value::from(
        tuples
            .into_iter()
            .map(|t| Value::from(t.into_iter().map(|i| items[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// Ansible's `combinations(r)`: every `r`-long combination of the items,
/// in order (`itertools.combinations`).
fn combinations(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [r] = <[Option<Value>; 1]>::try_from(bind("combinations", &["r"], &args, &kwargs)?)
        .expect("one parameter");
    let items = py_items(&v)?;
    let r = r_arg(&r.ok_or_else(|| fail("combinations() missing required argument 'r' (pos 2)"))?)?;
    pick(&items, combination_indices(items.len(), r))
}

/// Ansible's `permutations(r=None)`: every ordering of `r` of the items
/// (all of them by default), as `itertools.permutations`.
fn permutations(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [r] = <[Option<Value>; 1]>::try_from(bind("permutations", &["r"], &args, &kwargs)?)
        .expect("one parameter");
    let items = py_items(&v)?;
    let r = match r.filter(|r| !r.is_none()) {
        Some(r) => r_arg(&r)?,
        None => items.len(),
    };
    pick(&items, permutation_indices(items.len(), r))
}

/// A `seed` argument as Python's `Random(seed)` takes it: berth draws
/// Python's numbers for integer and text seeds.
fn seeded(seed: &Value) -> Result<PyRandom, Error> {
    match seed.kind() {
        ValueKind::Bool => Ok(PyRandom::new(Seed::Int(i64::from(seed.is_true())))),
        ValueKind::Number if !is_float(seed) => {
            Ok(PyRandom::new(Seed::Int(seed.as_i64().unwrap_or_default())))
        }
        ValueKind::String => Ok(PyRandom::new(Seed::Str(seed.as_str().unwrap_or_default()))),
        _ => Err(fail(format!(
            "a seed of type {} is not supported by berth: Python seeds it from its hash, which berth does not reproduce; seed with a string or an integer (e.g. seed=inventory_hostname)",
            py_type(seed)
        ))),
    }
}

/// A random number below `n` from the system's generator.
fn system_below(n: u64) -> u64 {
    let b = crate::random::bytes(8);
    u64::from_le_bytes(b.try_into().expect("8 bytes")) % n.max(1)
}

/// Ansible's `shuffle(seed=None)`: the items in a random order; with a
/// seed, the order Python's `Random(seed).shuffle` gives. What is not
/// iterable comes back as it is, as Ansible swallows the error.
fn shuffle(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [seed] = <[Option<Value>; 1]>::try_from(bind("shuffle", &["seed"], &args, &kwargs)?)
        .expect("one parameter");
    let Ok(mut items) = py_items(&v) else {
        return Ok(v);
    };
    match seed.filter(|s| s.is_true()) {
        Some(seed) => seeded(&seed)?.shuffle(&mut items),
        None => {
            for i in (1..items.len()).rev() {
                let j = system_below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
        }
    }
    Ok(Value::from(items))
}

/// Ansible's `random(start=None, step=None, seed=None)`: for an integer
/// `end` a number of `range(start, end, step)`, else a random item; with
/// a seed, the one Python's `Random(seed)` draws.
fn random(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [start, step, seed] =
        <[Option<Value>; 3]>::try_from(bind("random", &["start", "step", "seed"], &args, &kwargs)?)
            .expect("three parameters");
    let mut rng = match seed.filter(|s| !s.is_none()) {
        Some(s) => Some(seeded(&s)?),
        None => None,
    };
    let mut below = |n: u64| match rng.as_mut() {
        Some(r) => r.randbelow(n),
        None => system_below(n),
    };
    let int = |x: &Option<Value>| -> Result<Option<i64>, Error> {
        match x {
            None => Ok(None),
            Some(x) if !x.is_true() => Ok(None),
            Some(x) if x.kind() == ValueKind::Number && !is_float(x) => Ok(x.as_i64()),
            Some(x) => Err(fail(format!(
                "'{}' object cannot be interpreted as an integer",
                py_type(x)
            ))),
        }
    };
    if v.kind() == ValueKind::Number && !is_float(&v) {
        let end = v.as_i64().unwrap_or_default();
        let start = int(&start)?.unwrap_or(0);
        let step = int(&step)?.unwrap_or(1);
        let width = end - start;
        let n = if step == 1 {
            width
        } else if step > 0 {
            (width + step - 1).div_euclid(step)
        } else {
            (width + step + 1).div_euclid(step)
        };
        if n <= 0 {
            return Err(fail(if step == 1 {
                format!("empty range in randrange({start}, {end})")
            } else {
                format!("empty range in randrange({start}, {end}, {step})")
            }));
        }
        return Ok(Value::from(start + step * below(n as u64) as i64));
    }
    if !matches!(
        v.kind(),
        ValueKind::String | ValueKind::Seq | ValueKind::Iterable | ValueKind::Map
    ) {
        return Err(fail("random can only be used on sequences and integers"));
    }
    if start.is_some_and(|s| s.is_true()) || step.is_some_and(|s| s.is_true()) {
        return Err(fail("start and step can only be used with integer values"));
    }
    let items = py_items(&v)?;
    if items.is_empty() {
        return Err(fail("Cannot choose from an empty sequence"));
    }
    Ok(items[below(items.len() as u64) as usize].clone())
}

/// Ansible's `rekey_on_member(key, duplicates='error')`: a mapping of the
/// items (of a list, or a mapping's values) by their `key` member; a
/// repeated key is an error, or with `duplicates='overwrite'` the later
/// item wins.
fn rekey_on_member(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [key, duplicates] = <[Option<Value>; 2]>::try_from(bind(
        "rekey_on_member",
        &["key", "duplicates"],
        &args,
        &kwargs,
    )?)
    .expect("two parameters");
    let key =
        key.ok_or_else(|| fail("rekey_on_member() missing 1 required positional argument: 'key'"))?;
    let duplicates = duplicates.map_or_else(|| "error".to_string(), |d| py_str(&d));
    if !matches!(duplicates.as_str(), "error" | "overwrite") {
        return Err(fail(format!(
            "duplicates parameter to rekey_on_member has unknown value {}",
            crate::playbook::filters::py_str_repr(&duplicates)
        )));
    }
    let items: Vec<Value> = match v.kind() {
        ValueKind::Map => v
            .try_iter()?
            .map(|k| v.get_item(&k))
            .collect::<Result<_, _>>()?,
        ValueKind::Seq | ValueKind::Iterable => v.try_iter()?.collect(),
        _ => return Err(fail("Type is not a valid list, set, or dict")),
    };
    let mut out: indexmap::IndexMap<Value, Value> = indexmap::IndexMap::new();
    for item in items {
        if item.kind() != ValueKind::Map {
            return Err(fail("List item is not a valid dict"));
        }
        let elem = item.get_item(&key)?;
        if elem.is_undefined() {
            return Err(fail(format!("Key {} was not found.", py_repr(&key))));
        }
        if duplicates == "error" && out.get(&elem).is_some_and(|existing| existing.is_true()) {
            return Err(fail(format!(
                "Key {} is not unique, cannot convert to dict.",
                py_repr(&elem)
            )));
        }
        out.insert(elem, item);
    }
    Ok(Value::from_iter(out))
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    fn render(expr: &str) -> Result<Value, String> {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        t.render_str(expr, &c).map_err(|e| e.message)
    }

    /// Each rendered by ansible-core 2.19.
    #[test]
    fn itertools_orders() {
        for (expr, want) in [
            (
                "{{ [1, 2, 3] | combinations(2) }}",
                json!([[1, 2], [1, 3], [2, 3]]),
            ),
            ("{{ 'abc' | combinations(r=3) }}", json!([["a", "b", "c"]])),
            ("{{ [1, 2] | combinations(3) }}", json!([])),
            ("{{ [1, 2] | combinations(0) }}", json!([[]])),
            (
                "{{ [1, 2, 3] | permutations }}",
                json!([
                    [1, 2, 3],
                    [1, 3, 2],
                    [2, 1, 3],
                    [2, 3, 1],
                    [3, 1, 2],
                    [3, 2, 1]
                ]),
            ),
            ("{{ [1, 2, 3] | permutations(2) | length }}", json!(6)),
            (
                "{{ {'a': 1, 'b': 2} | permutations(1) }}",
                json!([["a"], ["b"]]),
            ),
        ] {
            assert_eq!(render(expr).unwrap(), want, "{expr}");
        }
        for (expr, want) in [
            (
                "{{ [1] | combinations }}",
                "combinations() missing required argument 'r' (pos 2)",
            ),
            ("{{ [1] | combinations(-1) }}", "r must be non-negative"),
            ("{{ [1] | permutations('x') }}", "Expected int as r"),
            ("{{ 5 | permutations }}", "'int' object is not iterable"),
        ] {
            assert_eq!(render(expr).unwrap_err(), want, "{expr}");
        }
    }

    #[test]
    fn seeded_draws_are_pythons() {
        for (expr, want) in [
            (
                "{{ range(10) | shuffle(seed='web1') }}",
                json!([2, 6, 7, 8, 1, 3, 0, 9, 4, 5]),
            ),
            (
                "{{ range(10) | shuffle(42) }}",
                json!([7, 3, 2, 8, 5, 6, 9, 4, 0, 1]),
            ),
            ("{{ 100 | random(seed=0) }}", json!(49)),
            ("{{ 100 | random(1, 7, seed=3) }}", json!(22)),
            ("{{ 'abc' | random(seed=0) }}", json!("b")),
            ("{{ 5 | shuffle }}", json!(5)),
        ] {
            assert_eq!(render(expr).unwrap(), want, "{expr}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let v = render("{{ [1, 2, 3] | shuffle }}").unwrap();
            let mut sorted: Vec<i64> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            seen.insert(format!("{sorted:?}"));
            sorted.sort();
            assert_eq!(sorted, [1, 2, 3]);
            let n = render("{{ 10 | random(start=4, step=3) }}")
                .unwrap()
                .as_i64()
                .unwrap();
            assert!([4, 7].contains(&n), "{n}");
        }
        assert!(seen.len() > 1, "unseeded shuffles differ: {seen:?}");
        for (expr, want) in [
            ("{{ [] | random }}", "Cannot choose from an empty sequence"),
            ("{{ 0 | random }}", "empty range in randrange(0, 0)"),
            (
                "{{ 5 | random(start=9, step=2) }}",
                "empty range in randrange(9, 5, 2)",
            ),
            (
                "{{ [1] | random(start=1) }}",
                "start and step can only be used with integer values",
            ),
            (
                "{{ none | random }}",
                "random can only be used on sequences and integers",
            ),
        ] {
            assert_eq!(render(expr).unwrap_err(), want, "{expr}");
        }
        assert!(render("{{ [1] | shuffle(seed=1.5) }}")
            .unwrap_err()
            .contains("not supported by berth"));
    }

    #[test]
    fn rekey_on_member_as_ansible() {
        for (expr, want) in [
            (
                "{{ [{'n': 'x', 'v': 1}, {'n': 'y'}] | rekey_on_member('n') }}",
                json!({"x": {"n": "x", "v": 1}, "y": {"n": "y"}}),
            ),
            (
                "{{ {'a': {'n': 'x'}} | rekey_on_member('n') }}",
                json!({"x": {"n": "x"}}),
            ),
            (
                "{{ [{'n': 'x', 'v': 1}, {'n': 'x', 'v': 2}] | rekey_on_member('n', duplicates='overwrite') }}",
                json!({"x": {"n": "x", "v": 2}}),
            ),
        ] {
            assert_eq!(render(expr).unwrap(), want, "{expr}");
        }
        for (expr, want) in [
            (
                "{{ [{'n': 'x'}, {'n': 'x'}] | rekey_on_member('n') }}",
                "Key 'x' is not unique, cannot convert to dict.",
            ),
            (
                "{{ [{'m': 'x'}] | rekey_on_member('n') }}",
                "Key 'n' was not found.",
            ),
            (
                "{{ [1] | rekey_on_member('n') }}",
                "List item is not a valid dict",
            ),
            (
                "{{ 'ab' | rekey_on_member('n') }}",
                "Type is not a valid list, set, or dict",
            ),
            (
                "{{ [] | rekey_on_member('n', duplicates='x') }}",
                "duplicates parameter to rekey_on_member has unknown value 'x'",
            ),
        ] {
            assert_eq!(render(expr).unwrap_err(), want, "{expr}");
        }
    }
}
