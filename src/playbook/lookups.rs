//! Ansible's lookups, run on the controller: `lookup('file', path)`,
//! `lookup('env', 'HOME')`, `lookup('template', path)`, `lookup('pipe', cmd)`,
//! `lookup('vars', name)`, `lookup('first_found', [...])`, `varnames`,
//! `inventory_hostnames`, `unvault` (of files that are not encrypted),
//! `csvfile` and `ini` (lookup_files.rs), `url` (lookup_url.rs), the
//! lookups shared with `with_<name>` loops (with_loops.rs: `nested`,
//! `together`, `subelements`, `lines`, `random_choice`, `sequence`), and
//! `query`/`q` which always return lists. `config` is refused: berth does
//! not carry ansible-core's configuration.
//!
//! Relative paths resolve like Ansible: `<role_path>/<files|templates>`,
//! `<role_path>`, `<playbook_dir>/<files|templates>`, `<playbook_dir>`, with
//! `role_path` and `playbook_dir` read from the template context.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};

use crate::playbook::filters::{fail, py_str};
use crate::playbook::templar::{convert_error, inline_name};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function(
        "lookup",
        |state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs| {
            lookup(state, &name, terms.0, kwargs, false)
        },
    );
    env.add_function(
        "query",
        |state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs| {
            lookup(state, &name, terms.0, kwargs, true)
        },
    );
    env.add_function(
        "q",
        |state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs| {
            lookup(state, &name, terms.0, kwargs, true)
        },
    );
}

/// Lookup terms: lists are spread, like Ansible's `listify_lookup_plugin_terms`.
fn flatten_terms(terms: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        if matches!(t.kind(), ValueKind::Seq | ValueKind::Iterable) {
            out.extend(t.try_iter().into_iter().flatten());
        } else {
            out.push(t);
        }
    }
    out
}

fn context_path(state: &State, name: &str) -> Option<PathBuf> {
    state
        .lookup(name)
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| PathBuf::from(py_str(&v)))
        .filter(|p| !p.as_os_str().is_empty())
}

/// Ansible's search order for a controller file (`subdir` is `files` or
/// `templates`).
pub(crate) fn search_paths(
    role_path: Option<&Path>,
    playbook_dir: Option<&Path>,
    subdir: &str,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (base, role) in [(role_path, true), (playbook_dir, false)] {
        let Some(base) = base else { continue };
        out.push(base.join(subdir));
        // As Ansible's path_dwim_relative_stack: a role's tasks/ too (a
        // role's `first_found` of task files it includes).
        if role {
            out.push(base.join("tasks"));
        }
        out.push(base.to_path_buf());
    }
    out
}

pub(crate) fn find(state: &State, subdir: &str, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let role = context_path(state, "role_path");
    let playbook = context_path(state, "playbook_dir");
    let mut bases = search_paths(role.as_deref(), playbook.as_deref(), subdir);
    if bases.is_empty() {
        bases.push(PathBuf::from("."));
    }
    bases.into_iter().map(|b| b.join(name)).find(|c| c.exists())
}

fn lookup(
    state: &State,
    name: &str,
    terms: Vec<Value>,
    kwargs: Kwargs,
    query: bool,
) -> Result<Value, Error> {
    let wantlist: bool = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    let errors: String = kwargs
        .get::<Option<String>>("errors")?
        .unwrap_or_else(|| "strict".into());
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    let result = match name {
        "file" => file(state, terms, &kwargs),
        "env" => env_var(terms, &kwargs),
        "template" => template(state, terms, &kwargs),
        "pipe" => pipe(terms),
        "password" => password(state, terms, &kwargs),
        "vars" => vars(state, terms, &kwargs),
        "first_found" => first_found(state, terms, &kwargs),
        "items" | "flattened" => Ok(flatten_terms(terms)),
        "list" => Ok(terms),
        "dict" => dict(terms),
        "indexed_items" => Ok(flatten_terms(terms)
            .into_iter()
            .enumerate()
            .map(|(i, v)| Value::from(vec![Value::from(i), v]))
            .collect()),
        "fileglob" => fileglob(state, terms),
        "nested" | "together" | "subelements" | "lines" | "random_choice" => {
            shaped(state, name, terms)
        }
        "sequence" => sequence(terms, &kwargs),
        "csvfile" => crate::playbook::lookup_files::csvfile(state, terms, &kwargs),
        "ini" => crate::playbook::lookup_files::ini(state, terms, &kwargs),
        "url" => crate::playbook::lookup_url::url(terms, &kwargs),
        "varnames" => varnames(state, terms),
        "inventory_hostnames" => Ok(inventory_hostnames(state, terms)),
        "unvault" => unvault(state, terms),
        "config" => Err(fail(CONFIG_REFUSAL)),
        other => Err(fail(format!(
            "lookup plugin ({other}) not found (berth supports {})",
            SUPPORTED.join(", ")
        ))),
    };
    kwargs.assert_all_used()?;
    let values = match result {
        Ok(v) => v,
        Err(e) => match errors.as_str() {
            "ignore" | "warn" => {
                if errors == "warn" {
                    tracing::warn!("lookup('{name}') failed: {e}");
                }
                return Ok(if query || wantlist {
                    Value::from(Vec::<Value>::new())
                } else {
                    Value::from(())
                });
            }
            _ => {
                let detail = e.detail().unwrap_or_default().to_string();
                return Err(fail(format!("The lookup plugin '{name}' failed: {detail}")));
            }
        },
    };
    if query || wantlist {
        return Ok(Value::from(values));
    }
    // Ansible joins multiple string results with commas; no result is an
    // empty list.
    Ok(match values.len() {
        0 => Value::from(Vec::<Value>::new()),
        1 => values.into_iter().next().unwrap_or_default(),
        _ if values.iter().all(|v| v.kind() == ValueKind::String) => {
            Value::from(values.iter().map(py_str).collect::<Vec<_>>().join(","))
        }
        _ => Value::from(values),
    })
}

/// The lookups berth has, named in the refusal of one it has not.
pub(crate) const SUPPORTED: [&str; 24] = [
    "csvfile",
    "dict",
    "env",
    "file",
    "fileglob",
    "first_found",
    "indexed_items",
    "ini",
    "inventory_hostnames",
    "items",
    "lines",
    "list",
    "nested",
    "password",
    "pipe",
    "random_choice",
    "sequence",
    "subelements",
    "template",
    "together",
    "unvault",
    "url",
    "varnames",
    "vars",
];

/// Why `lookup('config', ...)` is refused.
const CONFIG_REFUSAL: &str = "lookup('config') is not supported by berth: berth does not carry ansible-core's configuration manager (its settings, their defaults and plugin options), so it cannot answer with Ansible's values; read a setting's environment variable with lookup('env', 'ANSIBLE_...') or set a variable";

/// Python's `str(OSError)`: `[Errno 2] No such file or directory: 'path'`.
pub(crate) fn os_error(e: &std::io::Error, path: &str) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let text = text
                .split_once(" (os error")
                .map_or(text.as_str(), |(t, _)| t)
                .to_string();
            format!(
                "[Errno {code}] {text}: {}",
                crate::playbook::filters::py_str_repr(path)
            )
        }
        None => format!("{e}: {}", crate::playbook::filters::py_str_repr(path)),
    }
}

/// The lookups shared with `with_<name>` loops, over the lookup's terms;
/// `lines` runs in the playbook's folder.
fn shaped(state: &State, name: &str, terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let json: Vec<serde_json::Value> = terms
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null))
        .collect();
    let cwd = context_path(state, "playbook_dir");
    let items = crate::playbook::with_loops::items(name, &json, cwd.as_deref())
        .unwrap_or_else(|| Err(format!("lookup plugin ({name}) not found")))
        .map_err(fail)?;
    Ok(items.iter().map(Value::from_serialize).collect())
}

/// `sequence`, with the lookup's keyword settings under each term's.
fn sequence(terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut defaults = serde_json::Map::new();
    for field in ["start", "end", "stride", "count", "format"] {
        if let Some(v) = kwargs.get::<Option<Value>>(field)? {
            defaults.insert(
                field.into(),
                serde_json::to_value(&v).unwrap_or(serde_json::Value::Null),
            );
        }
    }
    let json: Vec<serde_json::Value> = terms
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null))
        .collect();
    let items = crate::playbook::with_loops::sequence(&json, &defaults).map_err(fail)?;
    Ok(items.iter().map(Value::from_serialize).collect())
}

/// Ansible's `varnames`: the names of the variables matching each pattern
/// (Python's `re.search`), in name order.
fn varnames(state: &State, terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let globals: Vec<String> = state.env().globals().map(|(n, _)| n.to_string()).collect();
    let mut names: Vec<String> = state
        .known_variables()
        .into_iter()
        .map(|n| n.into_owned())
        .filter(|n| !globals.contains(n))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for term in terms {
        let Some(pattern) = term.as_str() else {
            return Err(fail(format!(
                "Invalid setting identifier, \"{}\" is not a string, it is a <class '{}'>",
                py_str(&term),
                crate::playbook::templar::py_type(&term)
            )));
        };
        let re = crate::modules::py_re::PyRegex::for_search(pattern).map_err(|e| {
            fail(format!(
                "Unable to use \"{pattern}\" as a search parameter: {e}"
            ))
        })?;
        out.extend(
            names
                .iter()
                .filter(|n| re.is_match(n))
                .map(|n| Value::from(n.as_str())),
        );
    }
    Ok(out)
}

/// Ansible's `split_host_pattern`: patterns split on commas, or else on
/// colons and whitespace outside brackets.
fn split_host_pattern(pattern: &str) -> Vec<String> {
    if pattern.contains(',') {
        return pattern
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                // A complete bracketed expression stays in the pattern.
                let rest: String = chars.clone().collect();
                match rest.find(']') {
                    Some(end) => {
                        cur.push('[');
                        cur.push_str(&rest[..=end]);
                        for _ in 0..rest[..=end].chars().count() {
                            chars.next();
                        }
                    }
                    None => out.extend((!cur.is_empty()).then(|| std::mem::take(&mut cur))),
                }
            }
            c if c == ':' || c == ']' || c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// An inventory as Ansible's `inventory_hostnames` lookup rebuilds it from
/// the `groups` variable: groups with their hosts, hosts in first-seen order.
struct GroupsInventory {
    groups: indexmap::IndexMap<String, Vec<String>>,
    hosts: Vec<String>,
}

impl GroupsInventory {
    /// Names matching a pattern: `~regex` (Python's `re.match`) or a glob.
    fn match_list<'a>(
        names: impl Iterator<Item = &'a String>,
        pattern: &str,
    ) -> Result<Vec<String>, ()> {
        match pattern.strip_prefix('~') {
            Some(re) => {
                let re = crate::modules::py_re::PyRegex::for_match(re).map_err(|_| ())?;
                Ok(names.filter(|n| re.is_match(n)).cloned().collect())
            }
            None => Ok(names
                .filter(|n| crate::modules::py_re::fnmatch(n, pattern))
                .cloned()
                .collect()),
        }
    }

    /// Ansible's `_match_one_pattern`: groups' hosts, then hosts, for one
    /// pattern with its optional `[i]` or `[a:b]` subscript.
    fn match_one(&self, pattern: &str) -> Result<Vec<String>, ()> {
        let pattern = pattern.trim_start_matches(['&', '!']);
        let (expr, subscript) = match pattern.strip_prefix('~') {
            Some(_) => (pattern, None),
            None => split_subscript(pattern),
        };
        let mut hosts = Vec::new();
        let groups = Self::match_list(self.groups.keys(), expr)?;
        for g in &groups {
            hosts.extend(self.groups[g].iter().cloned());
        }
        if groups.is_empty() || expr.starts_with('~') || expr.contains(['.', '?', '*', '[']) {
            hosts.extend(Self::match_list(self.hosts.iter(), expr)?);
        }
        if hosts.is_empty() && matches!(expr, "localhost" | "127.0.0.1" | "::1") {
            hosts.push(expr.to_string());
        }
        let Some((start, end)) = subscript else {
            return Ok(hosts);
        };
        // Python's `if end:`: an end of 0 picks the start alone.
        let end = end.filter(|e| *e != 0);
        if hosts.is_empty() {
            return Ok(hosts);
        }
        let n = hosts.len() as i64;
        let at = |i: i64| if i < 0 { n + i } else { i };
        match end {
            None => {
                let i = at(start);
                if i < 0 || i >= n {
                    return Err(());
                }
                Ok(vec![hosts[i as usize].clone()])
            }
            Some(end) => {
                let end = if end == -1 { n - 1 } else { end };
                let (a, b) = (at(start).clamp(0, n), (at(end) + 1).clamp(0, n));
                Ok(if a < b {
                    hosts[a as usize..b as usize].to_vec()
                } else {
                    Vec::new()
                })
            }
        }
    }

    /// Ansible's `_evaluate_patterns` over `order_patterns`: the plain
    /// patterns in order, then the `&` ones, then the `!` ones.
    fn evaluate(&self, patterns: &[String]) -> Result<Vec<String>, ()> {
        let mut regular: Vec<&String> = patterns
            .iter()
            .filter(|p| !p.starts_with(['&', '!']))
            .collect();
        let all = "all".to_string();
        if regular.is_empty() {
            regular.push(&all);
        }
        let ordered = regular
            .into_iter()
            .chain(patterns.iter().filter(|p| p.starts_with('&')))
            .chain(patterns.iter().filter(|p| p.starts_with('!')));
        let mut hosts: Vec<String> = Vec::new();
        for p in ordered {
            if self.hosts.contains(p) {
                if !hosts.contains(p) {
                    hosts.push(p.clone());
                }
                continue;
            }
            let that = self.match_one(p)?;
            if p.starts_with('!') {
                hosts.retain(|h| !that.contains(h));
            } else if p.starts_with('&') {
                hosts.retain(|h| that.contains(h));
            } else {
                for h in that {
                    if !hosts.contains(&h) {
                        hosts.push(h);
                    }
                }
            }
        }
        Ok(hosts)
    }
}

/// Ansible's `_split_subscript`: `web[0]`, `web[-1]`, `web[1:3]`, `web[1:]`.
fn split_subscript(pattern: &str) -> (&str, Option<(i64, Option<i64>)>) {
    let Some(body) = pattern.strip_suffix(']') else {
        return (pattern, None);
    };
    let Some(open) = body.rfind('[').filter(|&i| i > 0) else {
        return (pattern, None);
    };
    let (expr, inner) = (&body[..open], &body[open + 1..]);
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if digits(inner.trim_start_matches('-'))
        && inner.matches('-').count() <= 1
        && !inner[1..].contains('-')
    {
        return (expr, inner.parse().ok().map(|i| (i, None)));
    }
    if let Some(i) = inner.find([':', '-']) {
        let (a, b) = (&inner[..i], &inner[i + 1..]);
        if digits(a) && (b.is_empty() || digits(b)) {
            let end = if b.is_empty() {
                -1
            } else {
                b.parse().unwrap_or(-1)
            };
            return (expr, Some((a.parse().unwrap_or(0), Some(end))));
        }
    }
    (pattern, None)
}

/// Ansible's `inventory_hostnames`: the hosts that the patterns select
/// (`all:!www`, `web*`, `~regex`, `group[0]`) from the `groups` variable,
/// in Ansible's order; a pattern Ansible cannot evaluate selects none.
fn inventory_hostnames(state: &State, terms: Vec<Value>) -> Vec<Value> {
    let mut inv = GroupsInventory {
        groups: indexmap::IndexMap::new(),
        hosts: Vec::new(),
    };
    if let Some(groups) = state
        .lookup("groups")
        .filter(|g| g.kind() == ValueKind::Map)
    {
        for g in groups.try_iter().into_iter().flatten() {
            let hosts: Vec<String> = groups
                .get_item(&g)
                .unwrap_or_default()
                .try_iter()
                .into_iter()
                .flatten()
                .map(|h| py_str(&h))
                .collect();
            for h in &hosts {
                if !inv.hosts.contains(h) {
                    inv.hosts.push(h.clone());
                }
            }
            inv.groups.insert(py_str(&g), hosts);
        }
    }
    let patterns: Vec<String> = flatten_terms(terms)
        .iter()
        .flat_map(|t| split_host_pattern(&py_str(t)))
        .collect();
    inv.evaluate(&patterns)
        .unwrap_or_default()
        .into_iter()
        .map(Value::from)
        .collect()
}

/// Ansible's `unvault` lookup: a controller file's text, found as `file`
/// finds it; a vault-encrypted file is refused (berth has no vault secrets).
fn unvault(state: &State, terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let name = py_str(&term);
        let path = find(state, "files", &name)
            .filter(|p| p.is_file())
            .ok_or_else(|| fail(format!("Unable to find file matching \"{name}\" ")))?;
        let bytes =
            std::fs::read(&path).map_err(|e| fail(os_error(&e, &path.to_string_lossy())))?;
        if bytes.starts_with(crate::playbook::vault::VAULT_HEADER.as_bytes()) {
            return Err(fail(crate::playbook::vault::refusal(&format!(
                "unvault of the vault-encrypted file {}",
                path.display()
            ))));
        }
        out.push(Value::from(String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(out)
}

fn file(state: &State, terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let lstrip: bool = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
    let rstrip: bool = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let name = py_str(&term);
        let path = find(state, "files", &name).ok_or_else(|| fail(format!("Unable to access the file '{name}': File not found (searched <role_path>/files, <role_path>, <playbook_dir>/files, <playbook_dir>).")))?;
        let mut text = std::fs::read_to_string(&path).map_err(|e| {
            fail(format!(
                "The 'file' lookup could not read {}: {e}",
                path.display()
            ))
        })?;
        if rstrip {
            text.truncate(text.trim_end().len());
        }
        if lstrip {
            text = text.trim_start().to_string();
        }
        out.push(Value::from(text));
    }
    Ok(out)
}

/// `fileglob`: controller files matching the patterns (relative ones under
/// `<role_path>/files`, then `<playbook_dir>/files`), sorted; no match is an empty list.
fn fileglob(state: &State, terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let role = context_path(state, "role_path");
    let playbook = context_path(state, "playbook_dir");
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let pattern = py_str(&term);
        let bases: Vec<PathBuf> = if Path::new(&pattern).is_absolute() {
            vec![PathBuf::new()]
        } else {
            let mut b: Vec<PathBuf> = [role.as_deref(), playbook.as_deref()]
                .into_iter()
                .flatten()
                .map(|p| p.join("files"))
                .collect();
            b.push(playbook.clone().unwrap_or_else(|| PathBuf::from(".")));
            b
        };
        for base in bases {
            let full = base.join(&pattern);
            let mut found: Vec<String> = glob::glob(&full.to_string_lossy())
                .map_err(|e| fail(format!("invalid fileglob pattern '{pattern}': {e}")))?
                .flatten()
                .filter(|p| p.is_file())
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if !found.is_empty() {
                found.sort();
                out.extend(found.into_iter().map(Value::from));
                break;
            }
        }
    }
    Ok(out)
}

fn env_var(terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let name = py_str(&term);
        out.push(match std::env::var(&name) {
            Ok(v) => Value::from(v),
            Err(_) => match &default {
                Some(d) if d.is_undefined() => {
                    return Err(fail(format!("The 'env' lookup found no variable '{name}'")))
                }
                Some(d) => d.clone(),
                None => Value::from(""),
            },
        });
    }
    Ok(out)
}

/// Every variable the template can see, to render a nested template with.
fn full_context(state: &State) -> Value {
    let mut map = indexmap::IndexMap::new();
    for name in state.known_variables() {
        if let Some(v) = state.lookup(&name) {
            map.insert(name.into_owned(), v);
        }
    }
    Value::from_iter(map)
}

fn template(state: &State, terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let extra: Option<Value> = kwargs.get("template_vars")?;
    // Accepted for compatibility: the rendered text is always returned as a
    // string here; a `"{{ lookup(...) | from_yaml }}"` converts explicitly.
    let _: Option<Value> = kwargs.get("convert_data")?;
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let name = py_str(&term);
        let path = find(state, "templates", &name).ok_or_else(|| fail(format!("Unable to access the template '{name}': File not found (searched <role_path>/templates, <role_path>, <playbook_dir>/templates, <playbook_dir>).")))?;
        let source = std::fs::read_to_string(&path).map_err(|e| {
            fail(format!(
                "The 'template' lookup could not read {}: {e}",
                path.display()
            ))
        })?;
        let mut ctx = full_context(state);
        if let Some(extra) = &extra {
            let mut map: indexmap::IndexMap<String, Value> = indexmap::IndexMap::new();
            for k in ctx.try_iter()? {
                map.insert(py_str(&k), ctx.get_item(&k)?);
            }
            for k in extra.try_iter()? {
                map.insert(py_str(&k), extra.get_item(&k)?);
            }
            ctx = Value::from_iter(map);
        }
        let rendered = state
            .env()
            .get_template(&inline_name(&source, path.parent()))
            .and_then(|t| t.render(&ctx))
            .map_err(|e| {
                fail(format!(
                    "{}: {}",
                    path.display(),
                    convert_error(e, &source, &ctx).message
                ))
            })?;
        out.push(Value::from(rendered));
    }
    Ok(out)
}

/// Set by the fuzzing harness: the pipe lookup runs a command on the
/// controller, never one a fuzzer wrote.
#[doc(hidden)]
pub static PIPE_DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ansible's `password` lookup: the password stored at the path (first line,
/// without a `salt=` part), else a new random one of `length` characters from
/// `chars` (names of Python's string constants or literal characters),
/// written there with mode 0600. `/dev/null` stores nothing.
fn password(state: &State, terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let text = py_str(&term);
        let mut words = text.split_whitespace();
        let path = words
            .next()
            .ok_or_else(|| fail("the password lookup needs a path"))?
            .to_string();
        let mut params: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for w in words {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                fail(format!(
                    "the password lookup takes key=value options, got {w}"
                ))
            })?;
            params.insert(k.to_string(), v.to_string());
        }
        for k in ["length", "chars", "encrypt", "ident", "seed"] {
            if let Some(v) = kwargs.get::<Option<Value>>(k)? {
                params.insert(k.to_string(), py_str(&v));
            }
        }
        for k in params.keys() {
            match k.as_str() {
                "length" | "chars" => {}
                "encrypt" | "ident" | "seed" => {
                    return Err(fail(format!(
                        "the password lookup's `{k}` option is not supported by berth"
                    )))
                }
                other => {
                    return Err(fail(format!(
                        "Unrecognized parameter(s) given to password lookup: {other}"
                    )))
                }
            }
        }
        let length: usize = params
            .get("length")
            .map(|l| {
                l.parse()
                    .map_err(|_| fail(format!("length must be an integer, got {l}")))
            })
            .transpose()?
            .unwrap_or(20);
        let mut alphabet = String::new();
        // `,,` adds a literal comma, as Ansible splits it; its default keeps ".,:-_" whole.
        let mut parts: Vec<String> = Vec::new();
        match params.get("chars") {
            None => parts.extend(["ascii_letters", "digits", ".,:-_"].map(String::from)),
            Some(chars) => {
                if chars.contains(",,") {
                    parts.push(",".into());
                }
                parts.extend(
                    chars
                        .replace(",,", ",")
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                );
            }
        }
        for part in parts {
            alphabet.push_str(match part.as_str() {
                "ascii_letters" => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "ascii_lowercase" => "abcdefghijklmnopqrstuvwxyz",
                "ascii_uppercase" => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "digits" => "0123456789",
                "hexdigits" => "0123456789abcdefABCDEF",
                "octdigits" => "01234567",
                "punctuation" => "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
                other => other,
            });
        }
        let alphabet: Vec<char> = {
            let mut seen = Vec::new();
            for c in alphabet.chars() {
                if !seen.contains(&c) {
                    seen.push(c);
                }
            }
            seen
        };
        if alphabet.is_empty() {
            return Err(fail("the password lookup's chars are empty"));
        }
        let file = if path == "/dev/null" {
            None
        } else {
            let p = PathBuf::from(&path);
            Some(if p.is_absolute() {
                p
            } else {
                context_path(state, "playbook_dir")
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join(p)
            })
        };
        if let Some(f) = file.as_ref().filter(|f| f.exists()) {
            let content = std::fs::read_to_string(f).map_err(|e| {
                fail(format!(
                    "the password lookup cannot read {}: {e}",
                    f.display()
                ))
            })?;
            let first = content.lines().next().unwrap_or_default();
            out.push(Value::from(
                first.split(" salt=").next().unwrap_or_default().to_string(),
            ));
            continue;
        }
        let bytes = crate::random::bytes(length * 4);
        let pw: String = bytes
            .chunks(4)
            .map(|c| {
                alphabet[(u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize) % alphabet.len()]
            })
            .collect();
        if let Some(f) = &file {
            if let Some(parent) = f.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    fail(format!(
                        "the password lookup cannot create {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut h = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(f)
                .map_err(|e| {
                    fail(format!(
                        "the password lookup cannot write {}: {e}",
                        f.display()
                    ))
                })?;
            h.write_all(format!("{pw}\n").as_bytes()).map_err(|e| {
                fail(format!(
                    "the password lookup cannot write {}: {e}",
                    f.display()
                ))
            })?;
        }
        out.push(Value::from(pw));
    }
    Ok(out)
}

fn pipe(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    if PIPE_DISABLED.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(fail("lookup('pipe') is disabled here"));
    }
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let cmd = py_str(&term);
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                fail(format!(
                    "lookup_plugin.pipe({cmd}) could not start /bin/sh: {e}"
                ))
            })?;
        if !output.status.success() {
            return Err(fail(format!(
                "lookup_plugin.pipe({cmd}) returned {}",
                output.status.code().unwrap_or(-1)
            )));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        out.push(Value::from(text.trim_end()));
    }
    Ok(out)
}

fn vars(state: &State, terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    let mut out = Vec::new();
    for term in flatten_terms(terms) {
        let name = py_str(&term);
        match state.lookup(&name).filter(|v| !v.is_undefined()) {
            Some(v) => out.push(v),
            None => match &default {
                Some(d) => out.push(d.clone()),
                None => return Err(fail(format!("No variable named '{name}' was found."))),
            },
        }
    }
    Ok(out)
}

fn first_found(state: &State, terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut files: Vec<String> = kwargs
        .get::<Option<Vec<String>>>("files")?
        .unwrap_or_default();
    let mut paths: Vec<String> = kwargs
        .get::<Option<Vec<String>>>("paths")?
        .unwrap_or_default();
    let mut skip: bool = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
    for term in flatten_terms(terms) {
        if term.kind() == ValueKind::Map {
            let get_list = |key: &str| -> Vec<String> {
                let v = term.get_attr(key).unwrap_or_default();
                if v.is_undefined() || v.is_none() {
                    Vec::new()
                } else if let Some(s) = v.as_str() {
                    s.split([',', ';'])
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                } else {
                    v.try_iter()
                        .into_iter()
                        .flatten()
                        .map(|x| py_str(&x))
                        .collect()
                }
            };
            files.extend(get_list("files"));
            paths.extend(get_list("paths"));
            if let Ok(s) = term.get_attr("skip") {
                if !s.is_undefined() {
                    skip = s.is_true();
                }
            }
        } else {
            files.push(py_str(&term));
        }
    }
    let mut candidates = Vec::new();
    for f in &files {
        if paths.is_empty() {
            candidates.push(f.clone());
        } else {
            for p in &paths {
                candidates.push(Path::new(p).join(f).to_string_lossy().into_owned());
            }
        }
    }
    for c in &candidates {
        if let Some(found) = find(state, "files", c) {
            return Ok(vec![Value::from(found.to_string_lossy().into_owned())]);
        }
    }
    if skip {
        return Ok(Vec::new());
    }
    // Ansible's message; berth adds what it tried when there was something.
    if candidates.is_empty() {
        return Err(fail("No file was found when using first_found."));
    }
    Err(fail(format!(
        "No file was found when using first_found (tried: {}).",
        candidates.join(", ")
    )))
}

/// Ansible's dict lookup error for a term that is not a mapping.
pub(crate) fn dict_expected(term: &serde_json::Value) -> String {
    let shown = crate::playbook::filters::py_repr(&Value::from_serialize(term));
    let shown = if term.is_string() {
        term.as_str().unwrap_or_default().to_string()
    } else {
        shown
    };
    format!(
        "the 'dict' lookup plugin expects a dictionary, got '{shown}' of type <class '{}'>)",
        crate::modules::args::type_name(term)
    )
}

fn dict(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in terms {
        if term.kind() != ValueKind::Map {
            return Err(fail(dict_expected(
                &serde_json::to_value(&term).unwrap_or_default(),
            )));
        }
        for k in term.try_iter()? {
            let v = term.get_item(&k)?;
            out.push(Value::from_iter([
                ("key".to_string(), k),
                ("value".to_string(), v),
            ]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    struct Tree {
        dir: tempfile::TempDir,
    }

    #[test]
    fn password_lookup_generates_stores_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let t = Templar::new();
        let mut vars = serde_json::Map::new();
        vars.insert("playbook_dir".into(), json!(dir.path().to_string_lossy()));
        let ctx = Templar::context(&vars);
        let r = |s: &str| t.render_str(s, &ctx);
        let a = r("{{ lookup('password', '/dev/null') }}").unwrap();
        let b = r("{{ lookup('password', '/dev/null') }}").unwrap();
        assert_eq!(a.as_str().unwrap().len(), 20);
        assert_ne!(a, b, "/dev/null keeps nothing");
        let d = r("{{ lookup('password', '/dev/null length=12 chars=digits') }}").unwrap();
        assert!(
            d.as_str().unwrap().len() == 12
                && d.as_str().unwrap().chars().all(|c| c.is_ascii_digit()),
            "{d}"
        );
        let first = r("{{ lookup('password', 'creds/db chars=ascii_lowercase,,') }}").unwrap();
        let again = r("{{ lookup('password', 'creds/db') }}").unwrap();
        assert_eq!(first, again, "stored beside the playbook and read back");
        assert!(
            first
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == ','),
            "{first}"
        );
        let meta = std::fs::metadata(dir.path().join("creds/db")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        std::fs::write(dir.path().join("creds/old"), "secret salt=abc\n").unwrap();
        assert_eq!(
            r("{{ lookup('password', 'creds/old') }}").unwrap(),
            json!("secret")
        );
        assert!(
            r("{{ lookup('password', '/dev/null encrypt=sha512_crypt') }}")
                .unwrap_err()
                .message
                .contains("not supported by berth")
        );
    }

    /// A playbook dir with a role, files and templates in Ansible's layout.
    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("files")).unwrap();
        std::fs::create_dir_all(root.join("roles/web/files")).unwrap();
        std::fs::create_dir_all(root.join("roles/web/templates")).unwrap();
        std::fs::write(root.join("files/motd"), "playbook motd\n\n").unwrap();
        std::fs::write(root.join("files/only-playbook.txt"), "pb").unwrap();
        std::fs::write(root.join("roles/web/files/motd"), "role motd\n").unwrap();
        std::fs::write(root.join("top.txt"), "top").unwrap();
        std::fs::write(
            root.join("roles/web/templates/site.j2"),
            "server {{ name }}:{{ port | default(80) }}\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("roles/web/tasks")).unwrap();
        std::fs::write(root.join("roles/web/tasks/default.yml"), "- ping:\n").unwrap();
        Tree { dir }
    }

    fn vars(t: &Tree, role: bool) -> Value {
        let root = t.dir.path().to_string_lossy().into_owned();
        let mut v = json!({"playbook_dir": root, "name": "web1", "fruit": "apple"});
        if role {
            v["role_path"] = json!(format!("{root}/roles/web"));
        }
        v
    }

    fn check(role: bool, table: &[(&str, Value)]) {
        let t = tree();
        let templar = Templar::new();
        let c = Templar::context(vars(&t, role).as_object().unwrap());
        for (expr, want) in table {
            let got = templar
                .render_str(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(&got, want, "{expr}");
        }
    }

    #[test]
    fn file_lookup_searches_role_then_playbook() {
        check(
            true,
            &[
                ("{{ lookup('file', 'motd') }}", json!("role motd")),
                ("{{ lookup('file', 'only-playbook.txt') }}", json!("pb")),
                ("{{ lookup('file', 'top.txt') }}", json!("top")),
                (
                    "{{ lookup('ansible.builtin.file', 'motd', rstrip=False) }}",
                    json!("role motd\n"),
                ),
                (
                    "{{ lookup('file', 'motd', 'top.txt') }}",
                    json!("role motd,top"),
                ),
                (
                    "{{ query('file', 'motd', 'top.txt') }}",
                    json!(["role motd", "top"]),
                ),
                (
                    "{{ lookup('file', 'top.txt', wantlist=True) }}",
                    json!(["top"]),
                ),
            ],
        );
        check(
            false,
            &[("{{ lookup('file', 'motd') }}", json!("playbook motd"))],
        );
    }

    #[test]
    fn fileglob_lists_matching_files_sorted() {
        check(
            true,
            &[
                (
                    "{{ query('fileglob', 'mot*') | map('basename') | list }}",
                    json!(["motd"]),
                ),
                (
                    "{{ query('fileglob', 'mot*')[0] is match('/.*/roles/web/files/motd$') }}",
                    json!(true),
                ),
                ("{{ query('fileglob', '*.nothing') }}", json!([])),
                ("{{ query('fileglob', '/nonexistent-berth/*') }}", json!([])),
            ],
        );
    }

    #[test]
    fn env_pipe_vars() {
        check(false, &[
            ("{{ lookup('env', 'PATH') == '' }}", json!(false)),
            ("{{ lookup('env', 'BERTH_SURELY_UNSET_VAR') }}", json!("")),
            ("{{ lookup('env', 'BERTH_SURELY_UNSET_VAR', default='d') }}", json!("d")),
            ("{{ lookup('pipe', 'echo hello; echo') }}", json!("hello")),
            ("{{ lookup('pipe', 'printf \"a b\"') }}", json!("a b")),
            ("{{ lookup('vars', 'fruit') }}", json!("apple")),
            ("{{ lookup('vars', 'nope', default='x') }}", json!("x")),
            ("{{ q('vars', 'fruit', 'name') }}", json!(["apple", "web1"])),
            ("{{ query('items', [1, [2]]) }}", json!([1, [2]])),
            ("{{ lookup('dict', {'a': 1}) }}", json!({"key": "a", "value": 1})),
            ("{{ lookup('pipe', 'echo a; echo b') }}", json!("a\nb")),
            ("{{ lookup('items', [1, 2]) }}", json!([1, 2])),
            ("{{ lookup('env', 'HOME', 'HOME') == lookup('env', 'HOME') ~ ',' ~ lookup('env', 'HOME') }}", json!(true)),
        ]);
    }

    #[test]
    fn template_lookup_renders_with_the_context() {
        check(
            true,
            &[
                (
                    "{{ lookup('template', 'site.j2') }}",
                    json!("server web1:80\n"),
                ),
                (
                    "{{ lookup('template', 'site.j2', template_vars={'port': 8080}) }}",
                    json!("server web1:8080\n"),
                ),
            ],
        );
    }

    #[test]
    fn first_found_returns_a_path() {
        let t = tree();
        let root = t.dir.path().to_string_lossy().into_owned();
        let templar = Templar::new();
        let c = Templar::context(vars(&t, true).as_object().unwrap());
        let got = templar
            .render_str(
                "{{ lookup('first_found', ['missing.txt', 'motd', 'top.txt']) }}",
                &c,
            )
            .unwrap();
        assert_eq!(got, json!(format!("{root}/roles/web/files/motd")));
        let got = templar
            .render_str(
                "{{ lookup('first_found', {'files': ['a', 'top.txt'], 'paths': ['.']}) }}",
                &c,
            )
            .unwrap();
        assert_eq!(got, json!(format!("{root}/./top.txt")));
        // A role's task files, as ansible-core's setup_remote_tmp_dir includes them.
        let got = templar
            .render_str(
                "{{ lookup('first_found', ['debian.yml', 'default.yml']) }}",
                &c,
            )
            .unwrap();
        assert_eq!(got, json!(format!("{root}/roles/web/tasks/default.yml")));
        let got = templar
            .render_str(
                "{{ query('first_found', ['nope1', 'nope2'], skip=True) }}",
                &c,
            )
            .unwrap();
        assert_eq!(got, json!([]));
    }

    #[test]
    fn lookup_errors_name_the_problem() {
        let t = tree();
        let templar = Templar::new();
        let c = Templar::context(vars(&t, false).as_object().unwrap());
        let table = [
            (
                "{{ lookup('file', 'nope.txt') }}",
                "The lookup plugin 'file' failed: Unable to access the file 'nope.txt': File not found (searched <role_path>/files, <role_path>, <playbook_dir>/files, <playbook_dir>).",
            ),
            ("{{ lookup('vars', 'nope') }}", "The lookup plugin 'vars' failed: No variable named 'nope' was found."),
            ("{{ lookup('pipe', 'exit 3') }}", "The lookup plugin 'pipe' failed: lookup_plugin.pipe(exit 3) returned 3"),
            (
                "{{ lookup('first_found', ['x1', 'x2']) }}",
                "The lookup plugin 'first_found' failed: No file was found when using first_found (tried: x1, x2).",
            ),
        ];
        for (expr, want) in table {
            let err = templar.render_str(expr, &c).expect_err(expr);
            assert_eq!(err.message, want, "{expr}");
        }
        assert_eq!(
            templar
                .render_str("{{ lookup('file', 'nope.txt', errors='ignore') }}", &c)
                .unwrap(),
            json!(null)
        );
    }

    /// The lookups shared with `with_<name>` loops, as ansible-core 2.19
    /// renders them.
    #[test]
    fn loop_lookups_as_ansible() {
        check(
            false,
            &[
                (
                    "{{ query('nested', [1, 2], ['a', 'b']) }}",
                    json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]]),
                ),
                (
                    "{{ lookup('nested', [1, 2], ['a', 'b']) }}",
                    json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]]),
                ),
                (
                    "{{ query('together', [1, 2, 3], ['a', 'b']) }}",
                    json!([[1, "a"], [2, "b"], [3, null]]),
                ),
                (
                    "{{ query('subelements', [{'n': 'a', 'k': ['k1', 'k2']}], 'k') }}",
                    json!([[{"n": "a"}, "k1"], [{"n": "a"}, "k2"]]),
                ),
                (
                    "{{ query('lines', 'echo a', 'echo b') }}",
                    json!(["a", "b"]),
                ),
                ("{{ lookup('lines', 'echo a', 'echo b') }}", json!("a,b")),
                ("{{ query('random_choice', ['a']) }}", json!([["a"]])),
                ("{{ query('random_choice') }}", json!([])),
                ("{{ lookup('random_choice', 'a', 'a') }}", json!("a")),
                (
                    "{{ query('sequence', 'start=1 end=3') }}",
                    json!(["1", "2", "3"]),
                ),
                ("{{ lookup('sequence', 'count=3') }}", json!("1,2,3")),
                (
                    "{{ query('sequence', start=1, end=3) }}",
                    json!(["1", "2", "3"]),
                ),
                (
                    "{{ query('sequence', 'end=2', start=0) }}",
                    json!(["0", "1", "2"]),
                ),
                (
                    "{{ query('sequence', '1-3', '5-6') }}",
                    json!(["1", "2", "3", "5", "6"]),
                ),
                (
                    "{{ lookup('csvfile', 'x', file='nothing.csv', errors='ignore') }}",
                    json!(null),
                ),
            ],
        );
        let t = tree();
        let templar = Templar::new();
        let c = Templar::context(vars(&t, false).as_object().unwrap());
        let here = templar
            .render_str("{{ lookup('lines', 'pwd') }}", &c)
            .unwrap();
        assert_eq!(
            std::fs::canonicalize(here.as_str().unwrap()).unwrap(),
            std::fs::canonicalize(t.dir.path()).unwrap(),
            "lines runs in the playbook's folder"
        );
        for (expr, want) in [
            ("{{ query('nested') }}", "The lookup plugin 'nested' failed: with_nested requires at least one element in the nested list"),
            ("{{ query('nested', [1, 2]) }}", "The lookup plugin 'nested' failed: 'int' object is not iterable"),
            ("{{ query('lines', 'exit 3') }}", "The lookup plugin 'lines' failed: lookup_plugin.lines(exit 3) returned 3"),
            ("{{ query('sequence', 'start=5 end=1') }}", "The lookup plugin 'sequence' failed: to count backwards make stride negative"),
        ] {
            assert_eq!(templar.render_str(expr, &c).unwrap_err().message, want, "{expr}");
        }
    }

    /// `inventory_hostnames` and `varnames` as ansible-core 2.19 answers
    /// them for the same groups and variables (berth lists variable names
    /// sorted, where Ansible follows its variables' merge order).
    #[test]
    fn hostnames_and_varnames_as_ansible() {
        let vars = json!({
            "groups": {
                "all": ["web1", "web2", "db1", "x.example"],
                "ungrouped": [],
                "web": ["web1", "web2"],
                "db": ["db1", "web1"],
                "other": ["x.example"],
            },
            "qz_1": "a",
            "qz_2": "b",
            "qa_1": "c",
        });
        let templar = Templar::new();
        let c = Templar::context(vars.as_object().unwrap());
        for (expr, want) in [
            (
                "{{ query('inventory_hostnames', 'all') }}",
                json!(["web1", "web2", "db1", "x.example"]),
            ),
            (
                "{{ query('inventory_hostnames', 'all:!web') }}",
                json!(["db1", "x.example"]),
            ),
            (
                "{{ query('inventory_hostnames', '!web') }}",
                json!(["db1", "x.example"]),
            ),
            (
                "{{ query('inventory_hostnames', 'web:&db') }}",
                json!(["web1"]),
            ),
            (
                "{{ query('inventory_hostnames', 'db', 'web') }}",
                json!(["db1", "web1", "web2"]),
            ),
            (
                "{{ query('inventory_hostnames', 'web[0]') }}",
                json!(["web1"]),
            ),
            (
                "{{ query('inventory_hostnames', 'web[-1]') }}",
                json!(["web2"]),
            ),
            (
                "{{ query('inventory_hostnames', 'all[1:2]') }}",
                json!(["web2", "db1"]),
            ),
            (
                "{{ query('inventory_hostnames', 'all[2:]') }}",
                json!(["db1", "x.example"]),
            ),
            ("{{ query('inventory_hostnames', 'web[5]') }}", json!([])),
            (
                "{{ query('inventory_hostnames', 'w*') }}",
                json!(["web1", "web2"]),
            ),
            (
                "{{ query('inventory_hostnames', '~web[12]') }}",
                json!(["web1", "web2"]),
            ),
            ("{{ query('inventory_hostnames', '~(') }}", json!([])),
            ("{{ query('inventory_hostnames', 'nomatch') }}", json!([])),
            (
                "{{ lookup('inventory_hostnames', 'db') }}",
                json!("db1,web1"),
            ),
            (
                "{{ query('inventory_hostnames', 'web,db') }}",
                json!(["web1", "web2", "db1"]),
            ),
            ("{{ query('varnames', '^qz_.+') }}", json!(["qz_1", "qz_2"])),
            (
                "{{ lookup('varnames', '^q[za]_') }}",
                json!("qa_1,qz_1,qz_2"),
            ),
        ] {
            let got = templar
                .render_str(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(got, want, "{expr}");
        }
        assert_eq!(
            templar.render_str("{{ query('varnames', 1) }}", &c).unwrap_err().message,
            "The lookup plugin 'varnames' failed: Invalid setting identifier, \"1\" is not a string, it is a <class 'int'>"
        );
        assert!(templar
            .render_str("{{ query('varnames', '(') }}", &c)
            .unwrap_err()
            .message
            .starts_with(
                "The lookup plugin 'varnames' failed: Unable to use \"(\" as a search parameter: "
            ));
    }

    #[test]
    fn unvault_config_and_first_found_without_terms() {
        let t = tree();
        std::fs::write(
            t.dir.path().join("files/vaulted"),
            "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        )
        .unwrap();
        let templar = Templar::new();
        let c = Templar::context(vars(&t, false).as_object().unwrap());
        assert_eq!(
            templar
                .render_str("{{ lookup('unvault', 'motd') }}", &c)
                .unwrap(),
            json!("playbook motd\n\n"),
            "unvault returns the file as it is, unstripped"
        );
        let vaulted = templar
            .render_str("{{ lookup('unvault', 'vaulted') }}", &c)
            .unwrap_err()
            .message;
        assert!(
            vaulted.contains(
                "is not supported by berth: berth does not encrypt or decrypt Ansible Vault"
            ),
            "{vaulted}"
        );
        assert_eq!(
            templar
                .render_str("{{ lookup('unvault', 'nope') }}", &c)
                .unwrap_err()
                .message,
            "The lookup plugin 'unvault' failed: Unable to find file matching \"nope\" "
        );
        let config = templar
            .render_str("{{ lookup('config', 'DEFAULT_FORKS') }}", &c)
            .unwrap_err()
            .message;
        assert!(
            config.starts_with(
                "The lookup plugin 'config' failed: lookup('config') is not supported by berth"
            ),
            "{config}"
        );
        assert_eq!(
            templar
                .render_str("{{ lookup('first_found') }}", &c)
                .unwrap_err()
                .message,
            "The lookup plugin 'first_found' failed: No file was found when using first_found."
        );
        assert_eq!(
            templar
                .render_str("{{ query('first_found', skip=True) }}", &c)
                .unwrap(),
            json!([])
        );
        let unknown = templar
            .render_str("{{ lookup('nope_lookup', 1) }}", &c)
            .unwrap_err()
            .message;
        assert!(
            unknown.contains("lookup plugin (nope_lookup) not found (berth supports csvfile, dict"),
            "{unknown}"
        );
    }
}
