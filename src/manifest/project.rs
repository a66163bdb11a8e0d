//! Loading a project: every `.tova` file under a directory (sorted, so results
//! never depend on directory order) → scanned blocks → one manifest per deploy
//! environment. This is the entry point for the emitter and `berth deploy`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::infer::{self, Defaults};
use super::model::Manifest;
use super::settings;
use crate::diagnostic::{Diagnostic, Span};
use crate::lang::deploy_parser::{self, DeployBlock};
use crate::lang::facts::{self, Facts};
use crate::lang::scanner::{self, BlockKind};
use crate::lang::tova_toml::{self, TovaToml};

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

    pub(crate) fn error(
        &self,
        code: &'static str,
        message: impl Into<String>,
        span: &Span,
        hint: impl Into<String>,
    ) -> Diagnostic {
        let text = self.files.get(&span.file).map(String::as_str);
        Diagnostic::error(code, message)
            .at(span.clone(), text)
            .hint(hint)
    }
}

/// Directories never searched for sources.
fn skipped(name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "node_modules" | "target" | "roles" | "playbooks" | "inventory"
        )
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

/// An app name from a folder or project name (`My_Shop` → `my-shop`).
fn app_name_from(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    mapped.trim_matches('-').to_owned()
}

/// The app name derived from the project folder.
fn folder_app(dir: &Path) -> String {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    app_name_from(
        &abs.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

/// The project as Tova reads it: `tova.toml` when present (the sources are
/// then its `[project] entry`, Tova's default `src`), else every `.tova`
/// file under the directory.
pub(crate) fn load_project(dir: &Path) -> Result<Project, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let toml_path = dir.join(tova_toml::FILE);
    let toml = match std::fs::read_to_string(&toml_path) {
        Ok(text) => Some((PathBuf::from(tova_toml::FILE), text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                "B0205",
                format!("cannot read {}: {e}", toml_path.display()),
            )
            .at(Span::line(tova_toml::FILE, 1), None)
            .hint("fix the file's permissions or encoding (UTF-8)")]);
        }
    };
    let (source_dir, entry_diag) = match &toml {
        Some((path, text)) => {
            let (parsed, _) = tova_toml::parse(path, text);
            let entry = parsed.entry.clone();
            let rel = entry
                .as_ref()
                .map(|e| e.value.clone())
                .unwrap_or_else(|| "src".to_owned());
            let within = super::validate::relative_path(&rel);
            match (within, entry) {
                (Ok(rel), _) if dir.join(&rel).is_dir() => (dir.join(rel), None),
                (Ok(rel), Some(e)) => (dir.to_path_buf(), Some((format!("`[project] entry` is \"{}\", but {rel}/ does not exist", e.value), e.span))),
                (Ok(rel), None) => (
                    dir.to_path_buf(),
                    Some((format!("tova.toml has no `[project] entry`, and Tova's default {rel}/ does not exist"), Span::line(path.clone(), 1))),
                ),
                (Err(why), Some(e)) => (dir.to_path_buf(), Some((format!("`[project] entry` {why}"), e.span))),
                (Err(why), None) => (dir.to_path_buf(), Some((why, Span::line(path.clone(), 1)))),
            }
        }
        None => (dir.to_path_buf(), None),
    };
    if let (Some((message, span)), Some((_, text))) = (entry_diag, &toml) {
        return Err(vec![Diagnostic::error("B0205", message)
            .at(span, Some(text))
            .hint("set `entry = \"src\"` under `[project]` to the folder that holds the app's .tova files")]);
    }
    let mut files = Vec::new();
    if let Err(e) = collect(dir, &source_dir, &mut files) {
        return Err(vec![Diagnostic::error(
            "B0205",
            format!("cannot read {}: {e}", source_dir.display()),
        )
        .hint("pass the project directory that holds your .tova files")]);
    }
    files.sort();
    let mut texts = Vec::with_capacity(files.len());
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
    let project = compile_project(&folder_app(dir), toml, texts, &exists, &mut diags);
    sort_by_location(&mut diags);
    match project {
        Some(p) if !diags.iter().any(Diagnostic::is_error) => Ok(Project {
            warnings: diags,
            ..p
        }),
        _ => Err(diags),
    }
}

/// Compiles in-memory sources (sorted by path). Diagnostics are appended to `diags`.
#[cfg(test)]
pub(crate) fn compile(
    folder_app: &str,
    texts: Vec<(PathBuf, String)>,
    data_exists: &dyn Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Project> {
    compile_project(folder_app, None, texts, data_exists, diags)
}

/// [`compile`] with the project's `tova.toml` (path and text), if any.
pub(crate) fn compile_project(
    folder_app: &str,
    toml: Option<(PathBuf, String)>,
    texts: Vec<(PathBuf, String)>,
    data_exists: &dyn Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Project> {
    let mut sources = Sources::default();
    let settings = match &toml {
        Some((path, text)) => {
            let (parsed, d) = tova_toml::parse(path, text);
            diags.extend(d);
            parsed
        }
        None => TovaToml::default(),
    };
    if let Some((path, text)) = toml {
        sources.add(path, text);
    }
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
            let at = format!(
                "{}:{}",
                first.name_span.file.display(),
                first.name_span.line
            );
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

    // berth's settings from tova.toml `[deploy.<env>]`, checked for placement.
    for (env, _) in &settings.envs {
        if !by_env.contains_key(&env.value) {
            let known: Vec<&str> = by_env.keys().map(String::as_str).collect();
            diags.push(sources.error(
                "B0130",
                format!("tova.toml has settings for \"{}\", but no deploy block has that name", env.value),
                &env.span,
                format!("rename the table to one of: {} (as `[deploy.NAME]`), or add `deploy \"{}\" {{ }}`", known.join(", "), env.value),
            ));
        }
    }
    for (env, block) in by_env.iter_mut() {
        let props = settings
            .envs
            .iter()
            .find(|(e, _)| e.value == *env)
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[]);
        *block = settings::merge(&sources, block, props, diags);
    }

    // One app name for the project.
    let mut app: Option<(String, Span)> = None;
    for block in by_env.values() {
        let (declared, d) = infer::declared_app(&sources, block);
        diags.extend(d);
        if let Some((name, span)) = declared {
            match &app {
                Some((first, first_span)) if *first != name => diags.push(sources.error(
                    "B0120",
                    format!(
                        "app is \"{name}\" here but \"{first}\" at {}:{}",
                        first_span.file.display(),
                        first_span.line
                    ),
                    &span,
                    "use the same `app:` in every deploy block",
                )),
                Some(_) => {}
                None => app = Some((name, span)),
            }
        }
    }
    let project_name = settings.name.as_ref().map(|n| (app_name_from(&n.value), n));
    let app = match (app, project_name) {
        (Some((name, _)), _) => name,
        (None, Some((name, located))) => {
            if let Err(why) = super::validate::name(&name) {
                diags.push(sources.error(
                    "B0113",
                    format!("`[project] name` does not give a valid app name: {why}"),
                    &located.span,
                    "name the project with letters, digits and `-`, or set `app = \"my-app\"` under `[deploy.<env>]`",
                ));
                return None;
            }
            name
        }
        (None, None) => {
            if let Err(why) = super::validate::name(folder_app) {
                let first = by_env.values().next().map(|b| b.span.clone());
                let mut d = Diagnostic::error(
                    "B0113",
                    format!("the project folder does not give a valid app name: {why}"),
                )
                .hint("set `app: \"my-app\"` in the deploy block");
                if let Some(span) = first {
                    d = sources.error(
                        "B0113",
                        d.message.clone(),
                        &span,
                        "set `app: \"my-app\"` in the deploy block",
                    );
                }
                diags.push(d);
                return None;
            }
            folder_app.to_owned()
        }
    };

    let defaults = project_defaults(&sources, &settings, diags);
    let mut manifests = IndexMap::new();
    for (env, block) in &by_env {
        match infer::infer(&sources, &app, block, &facts, &defaults, data_exists) {
            Ok((m, warnings)) => {
                diags.extend(warnings);
                manifests.insert(env.clone(), m);
            }
            Err(d) => diags.extend(d),
        }
    }
    dedup_warnings(diags);
    Some(Project {
        app,
        manifests,
        files,
        warnings: Vec::new(),
    })
}

/// The bundle folder (`[build] output`) and asset base (`[deploy] base`,
/// with the `/` Tova appends) that every environment defaults to.
fn project_defaults(
    sources: &Sources,
    settings: &TovaToml,
    diags: &mut Vec<Diagnostic>,
) -> Defaults {
    let mut d = Defaults::default();
    if let Some(out) = &settings.output {
        match super::validate::relative_path(&out.value) {
            Ok(path) => d.bundle = path,
            Err(why) => diags.push(sources.error(
                "B0123",
                format!("`[build] output` {why}"),
                &out.span,
                "write a folder inside the project, e.g. \".tova-out\"",
            )),
        }
    }
    if let Some(base) = &settings.base {
        let value = if base.value.ends_with('/') {
            base.value.clone()
        } else {
            format!("{}/", base.value)
        };
        match super::validate::url_path(&value) {
            Ok(()) if !value.contains(['*', '?', '&', '=', '%']) => d.asset_base = value,
            Ok(()) => diags.push(sources.error(
                "B0123",
                format!("`[deploy] base` `{value}` has a wildcard or query character"),
                &base.span,
                "write a URL path such as \"/\" or \"/app/\"",
            )),
            Err(why) => diags.push(sources.error(
                "B0123",
                format!("`[deploy] base` {why}"),
                &base.span,
                "write a URL path such as \"/\" or \"/app/\"",
            )),
        }
    }
    d
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
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    fn run(text: &str) {
        let mut d = Vec::new();
        let _ = compile(
            "shop",
            vec![(PathBuf::from("app.tova"), text.to_owned())],
            &|_| true,
            &mut d,
        );
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
        let noise = [
            '{', '}', '[', ']', '(', ')', '"', '\'', '/', '*', ':', ',', '\n', '\\', '-', '`', 'é',
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for text in &texts {
            for (i, _) in text.char_indices() {
                run(&text[..i]);
            }
            let chars: Vec<char> = text.chars().collect();
            for _ in 0..200 {
                let mut mangled = chars.clone();
                for _ in 0..3 {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
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
        assert_eq!(
            p.files,
            vec![PathBuf::from("a.tova"), PathBuf::from("src/z.tova")]
        );
        assert_eq!(p.manifests["prod"].proxy.websocket_paths, vec!["/ws"]);
    }

    /// In-process cost of compiling 100 deploy blocks (scan, parse, infer).
    #[test]
    fn hundred_blocks_in_process() {
        let mut src = String::from("server {\n  db { driver: \"postgres\" }\n  route GET \"/healthz\" => fn() { \"ok\" }\n}\n");
        for i in 0..100 {
            src.push_str(&format!(
                "deploy \"e{i}\" {{\n  server: [\"web{i}.example.com\", \"deploy@w{i}.example.com:22\"]\n  domain: \"e{i}.example.com\"\n  instances: 2\n  memory: \"1gb\"\n  env {{ LOG_LEVEL: \"warn\" }}\n  db {{ redis {{ maxmemory: \"64mb\" }} }}\n}}\n"
            ));
        }
        let start = Instant::now();
        let mut d = Vec::new();
        let p = compile(
            "shop",
            vec![(PathBuf::from("app.tova"), src)],
            &|_| true,
            &mut d,
        )
        .unwrap();
        let took = start.elapsed();
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(p.manifests.len(), 100);
        eprintln!(
            "100 deploy blocks in process: {:.2} ms",
            took.as_secs_f64() * 1000.0
        );
        assert!(took.as_millis() <= 100, "took {took:?}");
    }
}
