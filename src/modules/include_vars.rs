//! `include_vars`: load variables from YAML/JSON files on the controller.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::set_fact::is_valid_var_name;
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "file",
    "dir",
    "name",
    "depth",
    "files_matching",
    "ignore_files",
    "extensions",
    "ignore_unknown_extensions",
    "hash_behaviour",
];

struct Plan {
    file: Option<String>,
    dir: Option<String>,
    name: Option<String>,
    depth: usize,
    files_matching: Option<Regex>,
    ignore_files: Vec<Regex>,
    extensions: Vec<String>,
    ignore_unknown_extensions: bool,
    merge: bool,
}

fn plan(args: &Map<String, Value>) -> Result<Plan, String> {
    let a = Args::new("include_vars", args);
    a.check_known(KNOWN)?;
    // A free-form name loses its trailing newlines (`include_vars: >` folds one in), as Ansible's action strips them.
    let raw = a
        .str("_raw_params")?
        .map(|s| s.trim_end_matches('\n').to_string())
        .filter(|s| !s.trim().is_empty());
    let file = a.str("file")?.or(raw);
    let dir = a.str("dir")?;
    let dir_only = [
        "depth",
        "files_matching",
        "ignore_files",
        "extensions",
        "ignore_unknown_extensions",
    ];
    if file.is_some() && (dir.is_some() || dir_only.iter().any(|k| a.get(k).is_some())) {
        return Err(
            "You are mixing file only and dir only arguments, these are incompatible".into(),
        );
    }
    // No name at all (a `file:` that templated to None) is looked up as an
    // empty name, which Ansible reports as "Could not find file".
    let file = if file.is_none() && dir.is_none() {
        Some(String::new())
    } else {
        file
    };
    let name = a.str("name")?;
    if let Some(n) = &name {
        if !is_valid_var_name(n) {
            return Err(format!("Invalid variable name in 'name' specified: '{n}'"));
        }
    }
    let depth = a.int("depth")?.unwrap_or(0).max(0) as usize;
    let files_matching = match a.str("files_matching")? {
        Some(p) => Some(
            Regex::new(&p)
                .map_err(|e| format!("files_matching is not a valid regular expression: {e}"))?,
        ),
        None => None,
    };
    let ignore_files = a
        .list("ignore_files")?
        .iter()
        .map(|p| {
            Regex::new(&format!("(?:{p})$")).map_err(|e| {
                format!("ignore_files entry '{p}' is not a valid regular expression: {e}")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut extensions = a.list("extensions")?;
    if a.get("extensions").is_none() {
        extensions = vec!["json".into(), "yaml".into(), "yml".into()];
    }
    let extensions = extensions
        .into_iter()
        .map(|e| e.trim_start_matches('.').to_string())
        .collect();
    let merge = a
        .choice("hash_behaviour", &["replace", "merge"], Some("replace"))?
        .as_deref()
        == Some("merge");
    Ok(Plan {
        file,
        dir,
        name,
        depth,
        files_matching,
        ignore_files,
        extensions,
        ignore_unknown_extensions: a.bool("ignore_unknown_extensions", false)?,
        merge,
    })
}

fn load(path: &Path) -> Result<Map<String, Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Could not read '{}': {e}", path.display()))?;
    // crate::yaml has no loader yet; serde_yaml reads YAML 1.2 scalars.
    let value: Value = serde_yaml::from_str(&text).map_err(|e| {
        format!(
            "Syntax error while loading YAML in '{}': {e}",
            path.display()
        )
    })?;
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(format!(
            "{} must be stored as a dictionary/hash",
            path.display()
        )),
    }
}

fn deep_merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Python's `splitext` extension (without the dot; "" for none) is one of `exts`.
fn has_extension(path: &Path, exts: &[String]) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    exts.iter().any(|x| x == ext)
}

/// Files under `root`, grouped by directory sorted by path like Ansible's
/// sorted walk, each group's names sorted.
fn walk(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut groups: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 1usize)];
    while let Some((dir, level)) = stack.pop() {
        let mut files = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    if depth == 0 || level < depth {
                        stack.push((p, level + 1));
                    }
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        groups.push((dir, files));
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups.into_iter().flat_map(|(_, f)| f).collect()
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let p = match plan(args) {
        Ok(p) => p,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    // A file that cannot be found or loaded is reported under `message` too,
    // as Ansible's action reports it (argument errors only under `msg`).
    let mut out = load_all(ctx, &p)?;
    if out.is_failed() {
        let m = out.result.get("msg").cloned().unwrap_or_default();
        out.result.insert("message".into(), m);
    }
    Ok(out)
}

fn load_all(ctx: &mut ModuleContext<'_>, p: &Plan) -> Result<ModuleOutcome, ConnError> {
    let not_found = |what: &str, ctx: &ModuleContext<'_>| {
        let searched: Vec<String> = ctx
            .search_paths
            .iter()
            .flat_map(|b| [b.join("vars").join(what), b.join(what)])
            .map(|p| p.display().to_string())
            .collect();
        // Ansible's AnsibleFileNotFound: an empty name is "Could not find file".
        let head = if what.is_empty() {
            "Could not find file".to_string()
        } else {
            format!("Could not find or access '{what}'")
        };
        ModuleOutcome::failed(format!(
            "{head}\nSearched in:\n\t{} on the Ansible Controller.\n\
             If you are using a module and expect the file to exist on the remote, see the remote_src option",
            searched.join("\n\t")
        ))
    };
    let mut files = Vec::new();
    if let Some(f) = &p.file {
        let Some(path) = ctx
            .find_file("vars", f)
            .filter(|p| !f.is_empty() && p.is_file())
        else {
            return Ok(not_found(f, ctx));
        };
        if !has_extension(&path, &p.extensions) && path.extension().is_some() {
            return Ok(ModuleOutcome::failed(format!(
                "{} does not have a valid extension: {}",
                path.display(),
                p.extensions.join(", ")
            )));
        }
        files.push(path);
    } else if let Some(d) = &p.dir {
        let root = match ctx.find_file("vars", d) {
            Some(r) if r.is_dir() => r,
            Some(r) => {
                return Ok(ModuleOutcome::failed(format!(
                    "{} is not a directory",
                    r.display()
                )))
            }
            None => {
                // Name the path Ansible would have looked at: relative to the
                // role's vars/ or the playbook's directory.
                let shown = match ctx.search_paths.first() {
                    Some(base) if !Path::new(d).is_absolute() => base.join(d),
                    _ => PathBuf::from(d),
                };
                return Ok(ModuleOutcome::failed(format!(
                    "{} directory does not exist",
                    shown.display()
                )));
            }
        };
        for path in walk(&root, p.depth) {
            let fname = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if p.ignore_files.iter().any(|r| r.is_match(&fname)) {
                continue;
            }
            if let Some(r) = &p.files_matching {
                if !r.is_match(&fname) {
                    continue;
                }
            }
            if !has_extension(&path, &p.extensions) {
                if p.ignore_unknown_extensions {
                    continue;
                }
                return Ok(ModuleOutcome::failed(format!(
                    "{} does not have a valid extension: {}",
                    path.display(),
                    p.extensions.join(", ")
                )));
            }
            files.push(path);
        }
    }
    let mut vars = Map::new();
    for path in &files {
        match load(path) {
            Ok(data) => vars.extend(data),
            Err(e) => return Ok(ModuleOutcome::failed(e)),
        }
    }
    let facts = match &p.name {
        Some(n) => {
            let mut m = Map::new();
            m.insert(n.clone(), Value::Object(vars));
            m
        }
        None => vars,
    };
    // hash_behaviour=merge: each mapping merges into the variable of that
    // name the task already sees (Ansible's combine_vars with merge).
    let facts = if p.merge {
        facts
            .into_iter()
            .map(|(k, v)| {
                let existing = ctx
                    .vars
                    .get_attr(&k)
                    .ok()
                    .filter(|e| !e.is_undefined())
                    .and_then(|e| serde_json::to_value(&e).ok());
                match (existing, v) {
                    (Some(Value::Object(mut old)), Value::Object(new)) => {
                        deep_merge(&mut old, new);
                        (k, Value::Object(old))
                    }
                    (_, v) => (k, v),
                }
            })
            .collect()
    } else {
        facts
    };
    let included: Vec<Value> = files
        .iter()
        .map(|f| Value::String(f.display().to_string()))
        .collect();
    Ok(ModuleOutcome::ok()
        .with("ansible_facts", Value::Object(facts))
        .with("ansible_included_var_files", Value::Array(included)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::NetHarness;
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        std::fs::create_dir_all(base.join("vars/env/deep")).unwrap();
        std::fs::write(
            base.join("vars/main.yml"),
            "port: 8080\nnested: {a: 1, b: 2}\n",
        )
        .unwrap();
        std::fs::write(
            base.join("vars/env/10-base.yml"),
            "region: eu\nnested: {a: 1}\n",
        )
        .unwrap();
        std::fs::write(
            base.join("vars/env/20-prod.json"),
            r#"{"region": "us", "nested": {"b": 3}}"#,
        )
        .unwrap();
        std::fs::write(base.join("vars/env/deep/30-deep.yaml"), "deep: true\n").unwrap();
        std::fs::write(base.join("vars/env/README.txt"), "not vars\n").unwrap();
        std::fs::write(base.join("vars/empty.yml"), "").unwrap();
        std::fs::write(base.join("vars/list.yml"), "- 1\n- 2\n").unwrap();
        std::fs::create_dir_all(base.join("vars/bare")).unwrap();
        std::fs::write(base.join("vars/bare/no_extension"), "bare: 1\n").unwrap();
        std::fs::write(base.join("vars/bare/skip.txt"), "x\n").unwrap();
        // `nested` already exists for the task: hash_behaviour=merge merges into it.
        let mut h = NetHarness::new(json!({"nested": {"z": 26, "b": 0}}));
        h.search_paths = vec![base.to_path_buf()];
        let p = |rel: &str| base.join(rel).display().to_string();
        let cases = vec![
            (
                json!({"file": "main.yml"}),
                json!({"changed": false, "ansible_facts": {"port": 8080, "nested": {"a": 1, "b": 2}},
                       "ansible_included_var_files": [p("vars/main.yml")]}),
            ),
            (
                json!({"_raw_params": "main.yml\n"}),
                json!({"changed": false, "ansible_facts": {"port": 8080, "nested": {"a": 1, "b": 2}},
                       "ansible_included_var_files": [p("vars/main.yml")]}),
            ),
            (
                json!({"_raw_params": "main.yml", "name": "app"}),
                json!({"changed": false, "ansible_facts": {"app": {"port": 8080, "nested": {"a": 1, "b": 2}}},
                       "ansible_included_var_files": [p("vars/main.yml")]}),
            ),
            (
                json!({"file": "empty.yml"}),
                json!({"changed": false, "ansible_facts": {}, "ansible_included_var_files": [p("vars/empty.yml")]}),
            ),
            (
                json!({"dir": "env", "ignore_unknown_extensions": true}),
                json!({"changed": false, "ansible_facts": {"region": "us", "nested": {"b": 3}, "deep": true},
                       "ansible_included_var_files": [p("vars/env/10-base.yml"), p("vars/env/20-prod.json"), p("vars/env/deep/30-deep.yaml")]}),
            ),
            (
                json!({"dir": "env", "depth": 1, "hash_behaviour": "merge", "ignore_files": ["README.txt"]}),
                // Files replace each other's mappings; the result merges into the existing variable.
                json!({"changed": false, "ansible_facts": {"region": "us", "nested": {"z": 26, "b": 3}},
                       "ansible_included_var_files": [p("vars/env/10-base.yml"), p("vars/env/20-prod.json")]}),
            ),
            (
                json!({"dir": "env", "files_matching": "^1", "ignore_unknown_extensions": true}),
                json!({"changed": false, "ansible_facts": {"region": "eu", "nested": {"a": 1}},
                       "ansible_included_var_files": [p("vars/env/10-base.yml")]}),
            ),
            (
                json!({"dir": "env"}),
                json!({"changed": false, "failed": true,
                       "msg": format!("{} does not have a valid extension: json, yaml, yml", p("vars/env/README.txt")),
                       "message": format!("{} does not have a valid extension: json, yaml, yml", p("vars/env/README.txt"))}),
            ),
            (
                json!({"file": "list.yml"}),
                json!({"changed": false, "failed": true, "msg": format!("{} must be stored as a dictionary/hash", p("vars/list.yml")),
                       "message": format!("{} must be stored as a dictionary/hash", p("vars/list.yml"))}),
            ),
            (
                json!({"file": "main.yml", "dir": "env"}),
                json!({"changed": false, "failed": true, "msg": "You are mixing file only and dir only arguments, these are incompatible"}),
            ),
            (
                // "" in extensions takes files without one, as Python's splitext sees them.
                json!({"dir": "bare", "extensions": ["", "yml"], "ignore_unknown_extensions": true}),
                json!({"changed": false, "ansible_facts": {"bare": 1}, "ansible_included_var_files": [p("vars/bare/no_extension")]}),
            ),
            (
                // An empty name (a lookup that found nothing): Ansible's "Could not find file".
                json!({"file": ""}),
                json!({"changed": false, "failed": true,
                       "msg": format!("Could not find file\nSearched in:\n\t{base}/vars/\n\t{base}/ on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option", base = base.display()),
                       "message": format!("Could not find file\nSearched in:\n\t{base}/vars/\n\t{base}/ on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option", base = base.display())}),
            ),
            (
                json!({"dir": "nowhere"}),
                json!({"changed": false, "failed": true, "msg": format!("{} directory does not exist", base.join("nowhere").display()),
                       "message": format!("{} directory does not exist", base.join("nowhere").display())}),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(
                Value::Object(h.run(run, args.clone()).result),
                want,
                "args {args}"
            );
        }
        let missing = h.run(run, json!({"file": "nope.yml"}));
        let msg = missing.result["msg"].as_str().unwrap();
        assert!(
            msg.starts_with("Could not find or access 'nope.yml'\nSearched in:\n\t"),
            "{msg}"
        );
        assert!(msg.contains(&p("vars/nope.yml")));
    }
}
