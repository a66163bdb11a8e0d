//! Ansible's lookups, run on the controller: `lookup('file', path)`,
//! `lookup('env', 'HOME')`, `lookup('template', path)`, `lookup('pipe', cmd)`,
//! `lookup('vars', name)`, `lookup('first_found', [...])`, and `query`/`q`
//! which always return lists.
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

fn find(state: &State, subdir: &str, name: &str) -> Option<PathBuf> {
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
        "indexed_items" => Ok(flatten_terms(terms).into_iter().enumerate().map(|(i, v)| Value::from(vec![Value::from(i), v])).collect()),
        "fileglob" => fileglob(state, terms),
        "sequence" => Err(fail("lookup('sequence') is not supported; use range(), e.g. range(1, 5) | list")),
        other => Err(fail(format!("lookup plugin ({other}) not found (berth supports file, fileglob, env, template, pipe, password, vars, first_found, items, list, dict, indexed_items)"))),
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
    // Ansible joins multiple string results with commas.
    Ok(match values.len() {
        0 => Value::from(()),
        1 => values.into_iter().next().unwrap_or_default(),
        _ if values.iter().all(|v| v.kind() == ValueKind::String) => {
            Value::from(values.iter().map(py_str).collect::<Vec<_>>().join(","))
        }
        _ => Value::from(values),
    })
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
}
