//! Free-form module arguments (`command: ls chdir=/tmp`, `copy: src=a dest=b`).

use serde_json::{Map, Value};

const COMMAND_KEYS: &[&str] = &["creates", "removes", "chdir", "executable", "stdin", "warn"];

/// Turn a free-form argument string into module arguments the way Ansible does.
pub(crate) fn split_free_form(module: &str, raw: &str) -> Map<String, Value> {
    let mut args = Map::new();
    let short = crate::modules::short_name(module);
    let words = shell_words::split(raw).unwrap_or_else(|_| raw.split_whitespace().map(str::to_string).collect());
    if matches!(short, "command" | "shell" | "raw" | "script") {
        let mut rest: Vec<String> = Vec::new();
        for w in words {
            match w.split_once('=') {
                Some((k, v)) if short != "raw" && COMMAND_KEYS.contains(&k) => {
                    args.insert(k.to_string(), Value::String(v.to_string()));
                }
                _ => rest.push(w),
            }
        }
        // Keep the command text as written when nothing was extracted.
        let params = if args.is_empty() { raw.trim().to_string() } else { shell_words::join(&rest) };
        args.insert("_raw_params".into(), Value::String(params));
        return args;
    }
    let mut free: Vec<String> = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                args.insert(k.to_string(), Value::String(v.to_string()));
            }
            _ => free.push(w),
        }
    }
    if !free.is_empty() {
        args.insert("_raw_params".into(), Value::String(free.join(" ")));
    }
    args
}
