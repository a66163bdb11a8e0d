//! Entry points of the fuzz targets (`fuzz/`, run with `cargo fuzz`) and of
//! the corpus replay in the test suite: each takes arbitrary bytes and must
//! return, whatever they hold, without a panic or a hang. What they return
//! (a diagnostic or a value) does not matter here.

use std::path::Path;

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A `.tova` file through the scanner, the deploy block parser and the fact
/// extraction, as `berth compile` reads one.
pub fn tova_source(data: &[u8]) {
    let src = text(data);
    let path = Path::new("fuzz.tova");
    let scanned = crate::lang::scanner::scan(&src);
    for block in &scanned.blocks {
        if block.kind == crate::lang::scanner::BlockKind::Deploy {
            let _ = crate::lang::deploy_parser::parse(path, &src, &scanned.tokens, block);
        } else {
            let _ = crate::lang::facts::extract(path, &src, &scanned.tokens, block);
        }
    }
}

/// A `tova.toml`.
pub fn tova_toml(data: &[u8]) {
    let _ = crate::lang::tova_toml::parse(Path::new("tova.toml"), &text(data));
}

/// A YAML text (playbook, vars, inventory) through berth's YAML 1.1 loader.
pub fn yaml(data: &[u8]) {
    if let Ok(docs) = crate::yaml::load_documents(&text(data), Path::new("fuzz.yml")) {
        for d in docs {
            let _ = d.to_value();
        }
    }
}

/// An inventory file, as YAML (`fuzz.yml`) and as INI (`fuzz.ini`).
pub fn inventory(data: &[u8]) {
    let src = text(data);
    let _ = crate::playbook::inventory::Inventory::from_text(&src, Path::new("fuzz.yml"));
    let _ = crate::playbook::inventory::Inventory::from_text(&src, Path::new("fuzz.ini"));
}

/// A template, rendered as a task argument and as a template file, and
/// evaluated as a conditional, over a few variables.
pub fn template(data: &[u8]) {
    // The pipe lookup runs a shell command on the controller: never from fuzzed input.
    crate::playbook::lookups::PIPE_DISABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    let src = text(data);
    let vars = serde_json::json!({
        "name": "web", "port": 8080, "items": [1, 2, 3], "map": {"a": "x", "b": [true, null]}, "text": "a\tb\nc",
    });
    let serde_json::Value::Object(vars) = vars else {
        return;
    };
    let t = crate::playbook::templar::Templar::new();
    let ctx = crate::playbook::templar::Templar::context_shared(std::sync::Arc::new(vars));
    let _ = t.render_str(&src, &ctx);
    let _ = t.render_text(&src, &ctx);
    let _ = t.eval_bool(&src, &ctx);
}

/// Every target by name, for the corpus replay.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("tova_source", tova_source),
    ("tova_toml", tova_toml),
    ("yaml", yaml),
    ("inventory", inventory),
    ("template", template),
];
