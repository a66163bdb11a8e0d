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
