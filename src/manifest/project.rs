//! Loading a project: every `.tova` file under a directory (sorted, so results
//! never depend on directory order) → scanned blocks → one manifest per deploy
//! environment. This is the entry point for the emitter and `berth deploy`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::infer;
use super::model::Manifest;
use crate::diagnostic::{Diagnostic, Span};
use crate::lang::deploy_parser::{self, DeployBlock};
use crate::lang::facts::{self, Facts};
use crate::lang::scanner::{self, BlockKind};

#[derive(Debug, Clone)]
#[allow(dead_code)] // `app` and `files` are read by emit and deploy
pub(crate) struct Project {
    pub(crate) app: String,
    /// By environment name, sorted.
    pub(crate) manifests: IndexMap<String, Manifest>,
    /// The `.tova` files read, relative to the project directory, sorted.
    pub(crate) files: Vec<PathBuf>,
    /// Non-fatal diagnostics (hard-coded secrets, unprovisioned engines).
    pub(crate) warnings: Vec<Diagnostic>,
}

/// Source texts by (project-relative) path, to render carets.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    files: IndexMap<PathBuf, String>,
}

impl Sources {
    pub(crate) fn add(&mut self, path: PathBuf, text: String) {
        self.files.insert(path, text);
    }

    pub(crate) fn error(&self, code: &'static str, message: impl Into<String>, span: &Span, hint: impl Into<String>) -> Diagnostic {
        let text = self.files.get(&span.file).map(String::as_str);
        Diagnostic::error(code, message).at(span.clone(), text).hint(hint)
    }
}

/// Directories never searched for sources.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "node_modules" | "target" | "roles" | "playbooks" | "inventory")
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !skipped(&name) {
                collect(root, &path, out)?;
            }
        } else if name.ends_with(".tova") {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The app name derived from the project folder (`My_Shop` → `my-shop`).
fn folder_app(dir: &Path) -> String {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    mapped.trim_matches('-').to_owned()
}

pub(crate) fn load_project(dir: &Path) -> Result<Project, Vec<Diagnostic>> {
    let mut files = Vec::new();
    if let Err(e) = collect(dir, dir, &mut files) {
        return Err(vec![Diagnostic::error("B0205", format!("cannot read {}: {e}", dir.display()))
            .hint("pass the project directory that holds your .tova files")]);
    }
    files.sort();
    let mut texts = Vec::with_capacity(files.len());
    let mut diags = Vec::new();
    for rel in &files {
        match std::fs::read_to_string(dir.join(rel)) {
            Ok(text) => texts.push((rel.clone(), text)),
            Err(e) => diags.push(
                Diagnostic::error("B0205", format!("cannot read {}: {e}", rel.display()))
                    .at(Span::line(rel.clone(), 1), None)
                    .hint("fix the file's permissions or encoding (UTF-8)"),
            ),
        }
    }
    let root = dir.to_path_buf();
    let exists = move |rel: &str| root.join(rel).is_file();
    let project = compile(&folder_app(dir), texts, &exists, &mut diags);
    sort_by_location(&mut diags);
    match project {
        Some(p) if !diags.iter().any(Diagnostic::is_error) => Ok(Project { warnings: diags, ..p }),
        _ => Err(diags),
    }
}

/// Compiles in-memory sources (sorted by path). Diagnostics are appended to `diags`.
pub(crate) fn compile(
    folder_app: &str,
    texts: Vec<(PathBuf, String)>,
    data_exists: &dyn Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Project> {
    let mut sources = Sources::default();
    let mut facts = Facts::default();
    let mut blocks: Vec<DeployBlock> = Vec::new();
    let files: Vec<PathBuf> = texts.iter().map(|(p, _)| p.clone()).collect();
    for (path, text) in &texts {
        let scanned = scanner::scan(text);
        for (line, col) in &scanned.open_comments {
            diags.push(
                Diagnostic::error("B0206", "this block comment is never closed")
                    .at(Span::new(path.clone(), *line, *col, 2), Some(text))
                    .hint("close it with `*/`"),
            );
        }
        for block in &scanned.blocks {
            if block.kind == BlockKind::Deploy {
                let (parsed, d) = deploy_parser::parse(path, text, &scanned.tokens, block);
                diags.extend(d);
                blocks.extend(parsed);
            } else {
                facts.merge(facts::extract(path, text, &scanned.tokens, block));
            }
        }
    }
    for (path, text) in texts {
        sources.add(path, text);
    }

    if blocks.is_empty() {
        if !diags.iter().any(Diagnostic::is_error) {
            diags.push(
                Diagnostic::error("B0202", "no deploy blocks found in the project's .tova files")
                    .hint("add `deploy \"prod\" { server: \"root@203.0.113.10\", domain: \"myapp.com\" }` to a .tova file"),
            );
        }
        return None;
    }

    // Environments are unique across files.
    let mut by_env: IndexMap<String, DeployBlock> = IndexMap::new();
    for block in blocks {
        if let Some(first) = by_env.get(&block.name) {
            let at = format!("{}:{}", first.name_span.file.display(), first.name_span.line);
            diags.push(sources.error(
                "B0119",
                format!("deploy \"{}\" is defined twice", block.name),
                &block.name_span,
                format!("rename one; the first is at {at}"),
            ));
            continue;
        }
        by_env.insert(block.name.clone(), block);
    }
    by_env.sort_keys();

    // One app name for the project.
    let mut app: Option<(String, Span)> = None;
    for block in by_env.values() {
        let (declared, d) = infer::declared_app(&sources, block);
        diags.extend(d);
        if let Some((name, span)) = declared {
            match &app {
                Some((first, first_span)) if *first != name => diags.push(sources.error(
                    "B0120",
                    format!("app is \"{name}\" here but \"{first}\" at {}:{}", first_span.file.display(), first_span.line),
                    &span,
                    "use the same `app:` in every deploy block",
                )),
                Some(_) => {}
                None => app = Some((name, span)),
            }
        }
    }
    let app = match app {
        Some((name, _)) => name,
        None => {
            if let Err(why) = super::validate::name(folder_app) {
                let first = by_env.values().next().map(|b| b.span.clone());
                let mut d = Diagnostic::error("B0113", format!("the project folder does not give a valid app name: {why}"))
                    .hint("set `app: \"my-app\"` in the deploy block");
                if let Some(span) = first {
                    d = sources.error("B0113", d.message.clone(), &span, "set `app: \"my-app\"` in the deploy block");
                }
                diags.push(d);
                return None;
            }
            folder_app.to_owned()
        }
    };

    let mut manifests = IndexMap::new();
    for (env, block) in &by_env {
        match infer::infer(&sources, &app, block, &facts, data_exists) {
            Ok((m, warnings)) => {
                diags.extend(warnings);
                manifests.insert(env.clone(), m);
            }
            Err(d) => diags.extend(d),
        }
    }
    dedup_warnings(diags);
    Some(Project { app, manifests, files, warnings: Vec::new() })
}

/// Source order (file, line, column); diagnostics without a location last.
pub(crate) fn sort_by_location(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| match (&a.span, &b.span) {
        (Some(x), Some(y)) => (&x.file, x.line, x.col).cmp(&(&y.file, y.line, y.col)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

/// Facts-level warnings repeat once per environment; keep the first of each.
fn dedup_warnings(diags: &mut Vec<Diagnostic>) {
    let mut seen: Vec<Diagnostic> = Vec::new();
    diags.retain(|d| {
        if seen.contains(d) {
            false
        } else {
            seen.push(d.clone());
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn all_fixture_texts() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tova");
        let mut files = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "tova") {
                    files.push(p);
                }
            }
        }
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }

    fn run(text: &str) {
        let mut d = Vec::new();
        let _ = compile("shop", vec![(PathBuf::from("app.tova"), text.to_owned())], &|_| true, &mut d);
        for diag in &d {
            let _ = diag.to_string();
        }
    }

    /// Every prefix of every fixture, and seeded mutations that inject brackets,
    /// quotes and separators: the front end and inference never panic.
    #[test]
    fn never_panics_on_truncated_or_mangled_sources() {
        let texts = all_fixture_texts();
        assert!(texts.len() > 40);
        let noise = ['{', '}', '[', ']', '(', ')', '"', '\'', '/', '*', ':', ',', '\n', '\\', '-', '`', 'é'];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for text in &texts {
            for (i, _) in text.char_indices() {
                run(&text[..i]);
            }
            let chars: Vec<char> = text.chars().collect();
            for _ in 0..200 {
                let mut mangled = chars.clone();
                for _ in 0..3 {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let at = (seed >> 33) as usize % mangled.len().max(1);
                    let c = noise[(seed >> 17) as usize % noise.len()];
                    if at < mangled.len() {
                        mangled[at] = c;
                    }
                }
                run(&mangled.into_iter().collect::<String>());
            }
        }
    }

    #[test]
    fn loads_sorted_files_and_skips_build_and_vendor_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("My_Shop");
        let block = "deploy \"prod\" {\n  server: \"h\"\n  domain: \"a.com\"\n}\n";
        for skipped in ["node_modules", ".tova-out", "roles"] {
            std::fs::create_dir_all(dir.join(skipped)).unwrap();
            std::fs::write(dir.join(skipped).join("copy.tova"), block).unwrap();
        }
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/z.tova"), "server { ws { } }\n").unwrap();
        std::fs::write(dir.join("a.tova"), block).unwrap();
        let p = load_project(&dir).unwrap();
        assert_eq!(p.app, "my-shop");
        assert_eq!(p.files, vec![PathBuf::from("a.tova"), PathBuf::from("src/z.tova")]);
        assert_eq!(p.manifests["prod"].proxy.websocket_paths, vec!["/ws"]);
    }

    /// In-process cost of compiling 100 deploy blocks (scan, parse, infer).
    #[test]
    fn hundred_blocks_in_process() {
        let mut src = String::from("server { db { type: \"postgres\" } }\n");
        for i in 0..100 {
            src.push_str(&format!(
                "deploy \"e{i}\" {{\n  server: [\"web{i}.example.com\", \"deploy@w{i}.example.com:22\"]\n  domain: \"e{i}.example.com\"\n  instances: 2\n  memory: \"1gb\"\n  env {{ LOG_LEVEL: \"warn\" }}\n  db {{ redis {{ maxmemory: \"64mb\" }} }}\n}}\n"
            ));
        }
        let start = Instant::now();
        let mut d = Vec::new();
        let p = compile("shop", vec![(PathBuf::from("app.tova"), src)], &|_| true, &mut d).unwrap();
        let took = start.elapsed();
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(p.manifests.len(), 100);
        eprintln!("100 deploy blocks in process: {:.2} ms", took.as_secs_f64() * 1000.0);
        assert!(took.as_millis() <= 100, "took {took:?}");
    }
}
