//! Inference: one parsed deploy block plus the facts of the app's other blocks
//! → one `Manifest`. Every property is type-checked and validated here, with a
//! diagnostic pointing at the offending key or value.

use indexmap::IndexMap;

use super::model::{
    AppKind, Batch, DataFile, Databases, Health, Manifest, Postgres, Proxy, Redis, Runtime,
    Secrets, Sqlite, SshTarget, Tls,
};
use super::project::Sources;
use super::validate;
use crate::diagnostic::{Diagnostic, Span};
use crate::lang::deploy_parser::{DeployBlock, Engine, Item, Prop, Value};
use crate::lang::facts::{DbDecl, EnvDecl, Facts, UrlSource};

/// Every deploy property, with an example used in type hints.
pub(crate) const PROPERTIES: &[(&str, &str)] = &[
    ("app", "app: \"my-shop\""),
    ("server", "server: \"root@203.0.113.10\""),
    ("domain", "domain: \"myapp.com\""),
    ("instances", "instances: 2"),
    ("memory", "memory: \"512mb\""),
    ("branch", "branch: \"main\""),
    ("health", "health: \"/healthz\""),
    ("health_interval", "health_interval: 30"),
    ("health_timeout", "health_timeout: 5"),
    ("restart_on_failure", "restart_on_failure: true"),
    ("keep_releases", "keep_releases: 5"),
    ("rolling", "rolling: \"25%\""),
    ("max_fail", "max_fail: \"10%\""),
    ("runtime", "runtime: \"bun\""),
    ("module_retention", "module_retention: \"7d\""),
    ("bundle", "bundle: \".tova-out\""),
    ("build", "build: \"tova build --production\""),
    ("start", "start: \"server.js\""),
    ("tls", "tls: \"auto\""),
    (
        "bun_url",
        "bun_url: 'https://github.com/oven-sh/bun/releases/latest/download/bun-linux-{arch}.zip'",
    ),
];

const ENGINES: &[(&str, &[&str])] = &[
    ("postgres", &["name", "user", "port"]),
    ("redis", &["maxmemory"]),
    ("sqlite", &["path"]),
];

pub(crate) const DEFAULT_BUN_URL: &str =
    "https://github.com/oven-sh/bun/releases/latest/download/bun-linux-{arch}.zip";
pub(crate) const DEFAULT_BUNDLE: &str = ".tova-out";
pub(crate) const DEFAULT_RETENTION_SECS: u64 = 7 * 86_400;
pub(crate) const MIN_RETENTION_SECS: u64 = 86_400;

/// Names berth itself sets for the process; never required secrets.
const MANAGED_ENV: &[&str] = &["PORT", "NODE_ENV"];

/// Project-wide defaults, from tova.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// `[build] output`.
    pub(crate) bundle: String,
    /// `[deploy] base`, ending in `/`.
    pub(crate) asset_base: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            bundle: DEFAULT_BUNDLE.to_owned(),
            asset_base: "/".to_owned(),
        }
    }
}

/// The segment Tova's page puts before the bundle's files, whatever
/// `[build] output` is: `<script src="<base>.tova-out/client.<hash>.js">`.
pub(crate) const ASSET_DIR: &str = ".tova-out/";

/// Settings that do nothing for a static app (no `server { }` block).
const SERVER_ONLY: &[&str] = &[
    "instances",
    "memory",
    "restart_on_failure",
    "health",
    "health_interval",
    "health_timeout",
    "runtime",
    "bun_url",
    "start",
];

/// The closest known name, for "did you mean" hints.
pub(crate) fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(word, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

struct Cx<'a> {
    sources: &'a Sources,
    diags: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn error(
        &mut self,
        code: &'static str,
        message: impl Into<String>,
        span: &Span,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(self.sources.error(code, message, span, hint));
    }

    fn wrong_type(&mut self, key: &str, expected: &str, item: &Item) {
        if item.value == Value::Invalid {
            return; // already reported by the parser
        }
        let example = PROPERTIES.iter().find(|(k, _)| *k == key).map(|(_, e)| *e);
        let hint = match (&item.value, example) {
            (Value::Word(w), Some(_)) => format!("quote the text: `{key}: \"{w}\"`"),
            (_, Some(e)) => format!("for example `{e}`"),
            (_, None) => format!("`{key}` expects {expected}"),
        };
        self.error(
            "B0103",
            format!(
                "`{key}` expects {expected}, found {}",
                item.value.type_name()
            ),
            &item.span,
            hint,
        );
    }

    fn string<'v>(&mut self, key: &str, item: &'v Item) -> Option<&'v str> {
        match &item.value {
            Value::Str(s) => Some(s),
            _ => {
                self.wrong_type(key, "a string", item);
                None
            }
        }
    }

    fn int(&mut self, key: &str, item: &Item, lo: i64, hi: i64) -> Option<i64> {
        match item.value {
            Value::Int(n) if (lo..=hi).contains(&n) => Some(n),
            Value::Int(n) => {
                self.error(
                    "B0107",
                    format!("`{key}` is {n}, outside {lo}..{hi}"),
                    &item.span,
                    format!("choose a value from {lo} to {hi}"),
                );
                None
            }
            _ => {
                self.wrong_type(key, "an integer", item);
                None
            }
        }
    }

    /// Runs a validator on a string value, reporting `code` at the value.
    fn check<T>(
        &mut self,
        code: &'static str,
        item: &Item,
        r: Result<T, String>,
        hint: &str,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(why) => {
                self.error(code, why, &item.span, hint);
                None
            }
        }
    }
}

/// Properties by key; duplicates and unknown keys are reported.
fn by_key<'b>(
    cx: &mut Cx<'_>,
    props: &'b [Prop],
    known: &[&'static str],
    what: &str,
    plural: &str,
) -> IndexMap<&'static str, &'b Prop> {
    let mut out: IndexMap<&'static str, &'b Prop> = IndexMap::new();
    for p in props {
        let Some(key) = known.iter().find(|k| **k == p.key) else {
            let hint = match suggest(&p.key, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known {plural}: {}", known.join(", ")),
            };
            cx.error(
                "B0102",
                format!("unknown {what} `{}`", p.key),
                &p.key_span,
                hint,
            );
            continue;
        };
        if let Some(first) = out.get(key) {
            let line = first.key_span.line;
            cx.error(
                "B0105",
                format!("`{key}` is set twice"),
                &p.key_span,
                format!("remove one; it is first set on line {line}"),
            );
            continue;
        }
        out.insert(key, p);
    }
    out
}

/// The `app:` value of a block, validated (used project-wide before inference).
pub(crate) fn declared_app(
    sources: &Sources,
    block: &DeployBlock,
) -> (Option<(String, Span)>, Vec<Diagnostic>) {
    let mut cx = Cx {
        sources,
        diags: Vec::new(),
    };
    let Some(p) = block.props.iter().find(|p| p.key == "app") else {
        return (None, cx.diags);
    };
    let out = cx
        .string("app", &p.value)
        .and_then(|s| {
            cx.check(
                "B0113",
                &p.value,
                validate::name(s),
                "app names use lowercase letters, digits and `-`",
            )
            .map(|_| s)
        })
        .map(|s| (s.to_owned(), p.value.span.clone()));
    (out, cx.diags)
}

/// Builds the manifest of one environment. `app` is the project's validated app name.
pub(crate) fn infer(
    sources: &Sources,
    app: &str,
    block: &DeployBlock,
    facts: &Facts,
    defaults: &Defaults,
    data_exists: &dyn Fn(&str) -> bool,
) -> Result<(Manifest, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut cx = Cx {
        sources,
        diags: Vec::new(),
    };
    let keys: Vec<&'static str> = PROPERTIES.iter().map(|(k, _)| *k).collect();
    let props = by_key(&mut cx, &block.props, &keys, "property", "properties");
    let get = |k: &str| props.get(k).map(|p| &p.value);

    if let Err(why) = validate::name(&block.name) {
        cx.error(
            "B0113",
            format!("environment name {why}"),
            &block.name_span,
            "name environments like `prod` or `staging-eu`",
        );
    }

    // server: a target or a list of targets.
    let mut servers = Vec::new();
    match get("server") {
        None => cx.error(
            "B0104",
            format!("deploy block \"{}\" has no `server`", block.name),
            &block.span,
            "add `server: \"root@203.0.113.10\"` (or a list of targets for a fleet)",
        ),
        Some(item) => {
            let targets: Vec<&Item> = match &item.value {
                Value::List(items) if !items.is_empty() => items.iter().collect(),
                Value::List(_) => {
                    cx.error(
                        "B0103",
                        "`server` is an empty list",
                        &item.span,
                        "list at least one SSH target",
                    );
                    Vec::new()
                }
                _ => vec![item],
            };
            let mut seen: Vec<SshTarget> = Vec::new();
            for t in targets {
                let Some(s) = cx.string("server", t) else {
                    continue;
                };
                let hint = "write `host`, `user@host` or `user@host:port`";
                if let Some(target) = cx.check("B0112", t, validate::ssh_target(s), hint) {
                    if seen.contains(&target) {
                        cx.error(
                            "B0105",
                            format!("`{s}` is listed twice"),
                            &t.span,
                            "remove the duplicate target",
                        );
                    } else {
                        seen.push(target.clone());
                        servers.push(target);
                    }
                }
            }
        }
    }

    let mut domain = String::new();
    match get("domain") {
        None => cx.error(
            "B0104",
            format!("deploy block \"{}\" has no `domain`", block.name),
            &block.span,
            "add `domain: \"myapp.com\"`",
        ),
        Some(item) => {
            if let Some(s) = cx.string("domain", item) {
                if cx
                    .check(
                        "B0108",
                        item,
                        validate::domain(s),
                        "write a bare domain such as `myapp.com`",
                    )
                    .is_some()
                {
                    domain = s.to_ascii_lowercase();
                }
            }
        }
    }

    let instances = get("instances")
        .and_then(|i| cx.int("instances", i, 1, 64))
        .unwrap_or(1) as u32;
    let memory_bytes = match get("memory") {
        Some(item) => cx
            .string("memory", item)
            .and_then(|s| {
                cx.check(
                    "B0109",
                    item,
                    validate::memory(s),
                    "write a size such as \"512mb\" or \"1gb\"",
                )
            })
            .unwrap_or(512 << 20),
        None => 512 << 20,
    };
    let branch = match get("branch") {
        Some(item) => cx
            .string("branch", item)
            .and_then(|s| {
                cx.check(
                    "B0123",
                    item,
                    validate::branch(s),
                    "use a git branch name such as \"main\"",
                )
                .map(|_| s.to_owned())
            })
            .unwrap_or_default(),
        None => "main".to_owned(),
    };
    // An app server with a browser is a static export when nothing serves it.
    let kind = if facts.servers == 0 && facts.browsers > 0 {
        AppKind::Static
    } else {
        AppKind::Server
    };
    if kind == AppKind::Static {
        for key in SERVER_ONLY {
            if let Some(p) = props.get(key) {
                let d = cx.sources.error(
                    "B0306",
                    format!("`{key}` has no effect: this app has no `server {{ }}` block"),
                    &p.key_span,
                    "Caddy serves the static export alone; remove the setting, or add a server block",
                );
                cx.diags.push(Diagnostic {
                    severity: crate::diagnostic::Severity::Warning,
                    ..d
                });
            }
        }
    }
    let health_path = match get("health") {
        Some(item) => cx
            .string("health", item)
            .and_then(|s| {
                cx.check(
                    "B0123",
                    item,
                    validate::url_path(s),
                    "write an absolute path such as \"/healthz\"",
                )
                .map(|_| s.to_owned())
            })
            .unwrap_or_default(),
        // Tova serves the last `health "/path"` of the server.
        None => facts
            .health_paths
            .last()
            .map(|h| h.value.clone())
            .unwrap_or_else(|| "/healthz".to_owned()),
    };
    // Only a server block berth can read tells which paths the app serves.
    if kind == AppKind::Server
        && facts.servers > 0
        && !health_path.is_empty()
        && !health_served(&health_path, facts)
    {
        let set = props.get("health").map(|p| p.value.span.clone());
        let at = set
            .clone()
            .or_else(|| facts.server_spans.first().cloned())
            .unwrap_or_else(|| block.span.clone());
        let message = if set.is_some() {
            format!("no route or health declaration serves the health path `{health_path}`")
        } else {
            format!("no route or health declaration serves the default health path `{health_path}`")
        };
        let d = cx.sources.error(
            "B0305",
            message,
            &at,
            format!(
                "the deploy's health check would fail and roll back; add `route GET \"{health_path}\" => fn() {{ \"ok\" }}` (or `health \"{health_path}\"`) to `server {{ }}`, or set `health:` to a GET route the app serves"
            ),
        );
        cx.diags.push(Diagnostic {
            severity: crate::diagnostic::Severity::Warning,
            ..d
        });
    }
    let interval = get("health_interval")
        .and_then(|i| cx.int("health_interval", i, 2, 86_400))
        .unwrap_or(30) as u32;
    let timeout = match get("health_timeout") {
        Some(item) => match cx.int("health_timeout", item, 1, 86_400) {
            Some(t) if t as u32 >= interval => {
                cx.error(
                    "B0107",
                    format!("`health_timeout` ({t}s) must be shorter than `health_interval` ({interval}s)"),
                    &item.span,
                    format!("use at most {}", interval.saturating_sub(1).max(1)),
                );
                5
            }
            Some(t) => t as u32,
            None => 5,
        },
        None => 5.min(interval - 1),
    };
    let restart_on_failure = match get("restart_on_failure") {
        Some(item) => match item.value {
            Value::Bool(b) => b,
            _ => {
                cx.wrong_type("restart_on_failure", "a boolean (true or false)", item);
                true
            }
        },
        None => true,
    };
    let keep_releases = get("keep_releases")
        .and_then(|i| cx.int("keep_releases", i, 1, 100))
        .unwrap_or(5) as u32;
    let rolling = get("rolling").and_then(|item| match &item.value {
        Value::Int(_) => cx
            .int("rolling", item, 1, 10_000)
            .map(|n| Batch::Count(n as u32)),
        Value::Str(s) => cx
            .check(
                "B0115",
                item,
                validate::percent(s, 1),
                "write a host count (2) or a percentage (\"25%\")",
            )
            .map(Batch::Percent),
        _ => {
            cx.wrong_type("rolling", "an integer or a percentage string", item);
            None
        }
    });
    let max_fail_percent = get("max_fail").and_then(|item| {
        cx.string("max_fail", item).and_then(|s| {
            cx.check(
                "B0115",
                item,
                validate::percent(s, 0),
                "write a percentage such as \"10%\"",
            )
        })
    });
    let runtime_name = match get("runtime") {
        Some(item) => cx.string("runtime", item).and_then(|s| match s {
            "bun" | "node" => Some(s),
            _ => {
                let hint = match suggest(s, ["bun", "node"]) {
                    Some(m) => format!("did you mean \"{m}\"?"),
                    None => "use \"bun\" or \"node\"".to_owned(),
                };
                cx.error(
                    "B0117",
                    format!("unknown runtime \"{s}\""),
                    &item.span,
                    hint,
                );
                None
            }
        }),
        None => Some("bun"),
    };
    let bun_url = match get("bun_url") {
        Some(item) => cx
            .string("bun_url", item)
            .and_then(|s| {
                cx.check("B0122", item, validate::url(s), "use an https:// URL")
                    .map(|_| s.to_owned())
            })
            .unwrap_or_default(),
        None => DEFAULT_BUN_URL.to_owned(),
    };
    let runtime = match (kind, runtime_name) {
        (AppKind::Static, _) => Runtime::None,
        (_, Some("node")) => Runtime::Node,
        _ => Runtime::Bun { url: bun_url },
    };
    let module_retention_secs = match get("module_retention") {
        Some(item) => match cx.string("module_retention", item).and_then(|s| {
            cx.check(
                "B0110",
                item,
                validate::duration(s),
                "write a duration such as \"7d\" or \"36h\"",
            )
        }) {
            Some(secs) if secs < MIN_RETENTION_SECS => {
                cx.error(
                    "B0111",
                    "`module_retention` is below the 24h floor",
                    &item.span,
                    "keep old /c/* modules at least \"24h\" so pages opened before a deploy keep working",
                );
                MIN_RETENTION_SECS
            }
            Some(secs) => secs,
            None => DEFAULT_RETENTION_SECS,
        },
        None => DEFAULT_RETENTION_SECS,
    };
    let bundle = match get("bundle") {
        Some(item) => cx
            .string("bundle", item)
            .and_then(|s| {
                cx.check(
                    "B0123",
                    item,
                    validate::relative_path(s),
                    "write a folder inside the project, e.g. \".tova-out\"",
                )
            })
            .unwrap_or_default(),
        None => defaults.bundle.clone(),
    };
    let build = get("build").and_then(|item| {
        cx.string("build", item).and_then(|s| {
            cx.check(
                "B0123",
                item,
                validate::one_line(s),
                "write the build command on one line",
            )
            .map(|_| s.to_owned())
        })
    });
    let start = get("start").and_then(|item| {
        cx.string("start", item).and_then(|s| {
            cx.check(
                "B0123",
                item,
                validate::relative_path(s),
                "write a file inside the bundle, e.g. \"server.js\"",
            )
        })
    });
    let tls = match get("tls") {
        Some(item) => match cx.string("tls", item) {
            Some("auto") | None => Tls::Auto,
            Some("internal") => Tls::Internal,
            Some("off") => Tls::Off,
            Some(other) => {
                let hint = match suggest(other, ["auto", "internal", "off"]) {
                    Some(m) => format!("did you mean \"{m}\"?"),
                    None => "use \"auto\", \"internal\" or \"off\"".to_owned(),
                };
                cx.error(
                    "B0117",
                    format!("unknown tls mode \"{other}\""),
                    &item.span,
                    hint,
                );
                Tls::Auto
            }
        },
        None => Tls::Auto,
    };

    let env_vars = env_block(&mut cx, &block.env);
    let databases = databases(&mut cx, app, &block.db, facts);
    let proxy = proxy(&mut cx, kind, facts, &defaults.asset_base, &health_path);
    let secrets = secrets(&mut cx, &databases, &env_vars, facts);
    let data_files = data_files(&mut cx, facts, data_exists);

    let errors: Vec<Diagnostic> = cx.diags.iter().filter(|d| d.is_error()).cloned().collect();
    if !errors.is_empty() {
        return Err(cx.diags);
    }
    let manifest = Manifest {
        app: app.to_owned(),
        env: block.name.clone(),
        servers,
        domain,
        tls,
        kind,
        instances,
        memory_bytes,
        branch,
        health: Health {
            path: health_path,
            interval_secs: interval,
            timeout_secs: timeout,
        },
        restart_on_failure,
        keep_releases,
        rolling,
        max_fail_percent,
        runtime,
        bundle,
        build,
        start,
        env_vars,
        databases,
        proxy,
        secrets,
        data_files,
        module_retention_secs,
    };
    Ok((manifest, cx.diags))
}

fn env_block(cx: &mut Cx<'_>, env: &[Prop]) -> IndexMap<String, String> {
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut lines: IndexMap<&str, usize> = IndexMap::new();
    for p in env {
        if !validate::env_key(&p.key) {
            cx.error(
                "B0118",
                format!("`{}` is not an environment variable name", p.key),
                &p.key_span,
                format!(
                    "use `[A-Z_][A-Z0-9_]*`, e.g. `{}`",
                    p.key
                        .to_ascii_uppercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                ),
            );
            continue;
        }
        if p.key == "PORT" {
            cx.error(
                "B0118",
                "`PORT` is set by berth to each instance's port",
                &p.key_span,
                "remove it; read `PORT` in the app instead",
            );
            continue;
        }
        if let Some(line) = lines.get(p.key.as_str()) {
            cx.error(
                "B0106",
                format!("`{}` is set twice in `env`", p.key),
                &p.key_span,
                format!("remove one; it is first set on line {line}"),
            );
            continue;
        }
        lines.insert(&p.key, p.key_span.line);
        let value = match &p.value.value {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Invalid => continue,
            other => {
                cx.error(
                    "B0103",
                    format!("`{}` must be a string, number or boolean, found {}", p.key, other.type_name()),
                    &p.value.span,
                    "environment values are plain data, e.g. `LOG_LEVEL: \"warn\"`; keep secrets out of source and in .env.production",
                );
                continue;
            }
        };
        if value.chars().any(|c| c == '\0' || c == '\n' || c == '\r') {
            cx.error(
                "B0118",
                format!("`{}` contains a newline or NUL", p.key),
                &p.value.span,
                "environment values are one line of text",
            );
            continue;
        }
        out.insert(p.key.clone(), value);
    }
    out
}

/// A database engine's canonical name: `postgres`, `redis`, `sqlite`,
/// `mysql`, or the word itself.
fn canonical_engine(word: &str) -> String {
    match word.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" | "pg" | "psql" => "postgres".into(),
        "redis" | "rediss" => "redis".into(),
        "sqlite" | "sqlite3" | "file" => "sqlite".into(),
        "mysql" | "mariadb" => "mysql".into(),
        other => other.into(),
    }
}

/// The scheme of a connection URL (`postgres://…`, `sqlite:./data.db`).
fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    (!scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+'))
    .then_some(scheme)
}

/// SQLite's file in a `sqlite:PATH`, `sqlite://PATH` or `file:PATH` URL.
fn sqlite_url_path(url: &str) -> Option<String> {
    let rest = url.split_once(':')?.1;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    (!path.is_empty()).then(|| path.to_owned())
}

/// One `server { db { } }` as berth reads it: the engine, where it came
/// from, the variable its URL is read from and SQLite's file.
struct ResolvedDb<'a> {
    engine: Option<String>,
    /// `driver`, `adapter`, `type`, `engine`, `url` or `path`.
    engine_from: &'static str,
    /// As written (`postgresql`), for the compatibility hint.
    engine_word: Option<&'a str>,
    url_env: Option<String>,
    sqlite_path: Option<(String, &'static str, crate::diagnostic::Span)>,
}

fn resolve_db<'a>(decl: &'a DbDecl, env_decls: &[EnvDecl]) -> ResolvedDb<'a> {
    let (url_env, url_text) = match decl.url.as_ref().map(|u| &u.value) {
        Some(UrlSource::Env(name)) => (Some(name.clone()), None),
        Some(UrlSource::Name(name)) => match env_decls.iter().find(|d| d.name.value == *name) {
            Some(d) => (Some(name.clone()), d.default.clone()),
            None => (None, None),
        },
        Some(UrlSource::Literal(url)) => (None, Some(url.clone())),
        _ => (None, None),
    };
    let mut r = ResolvedDb {
        engine: None,
        engine_from: "",
        engine_word: None,
        url_env,
        sqlite_path: None,
    };
    if let Some((word, key)) = &decl.engine {
        r.engine = Some(canonical_engine(word));
        r.engine_from = key;
        r.engine_word = Some(word);
    } else if let Some(scheme) = url_text.as_deref().and_then(url_scheme) {
        r.engine = Some(canonical_engine(scheme));
        r.engine_from = "url";
    } else if decl.path.is_some() {
        r.engine = Some("sqlite".into());
        r.engine_from = "path";
    }
    if r.engine.as_deref() == Some("sqlite") {
        r.sqlite_path = match &decl.path {
            Some((p, key)) => Some((p.value.clone(), *key, p.span.clone())),
            None => url_text.as_deref().and_then(sqlite_url_path).map(|p| {
                (
                    p,
                    "url",
                    decl.url
                        .as_ref()
                        .map(|u| u.span.clone())
                        .unwrap_or(decl.span.clone()),
                )
            }),
        };
    }
    r
}

/// How Tova's own compiler reads the same `db { }`: it takes the engine from
/// a `driver:` string only (exactly "postgres" or "mysql"; anything else is
/// SQLite) and SQLite's file from `path:` only (none is an in-memory
/// database); `type` is a reserved word its parser refuses there.
fn tova_compat(r: &ResolvedDb<'_>, decl: &DbDecl) -> Option<(String, String)> {
    let engine = r.engine.as_deref()?;
    let fix = |e: &str| {
        format!("write `driver: \"{e}\"` in the db block (Tova's compiler reads the engine from `driver:` only)")
    };
    let reserved = if r.engine_from == "type" {
        "`type` is a reserved word in Tova (`tova build` fails on `db { type: … }`); "
    } else {
        ""
    };
    match engine {
        "redis" => Some((
            format!("{reserved}Tova's server `db {{ }}` has no Redis driver; the built app would open an in-memory SQLite database"),
            "declare Redis in the deploy block instead: `db { redis { } }` (the app reads REDIS_URL)".into(),
        )),
        _ if r.engine_from == "type" => Some(("`type` is a reserved word in Tova: `tova build` fails on `db { type: … }`".into(), fix(engine))),
        "postgres" | "mysql" if r.engine_from != "driver" => Some((
            format!("Tova's compiler takes the engine from `driver:` only; with `{}:` the built app would open an in-memory SQLite database", r.engine_from),
            fix(engine),
        )),
        "postgres" | "mysql" if r.engine_word != Some(engine) => Some((
            format!("Tova's compiler recognises `driver: \"{engine}\"` exactly; \"{}\" gives an in-memory SQLite database", r.engine_word.unwrap_or_default()),
            fix(engine),
        )),
        "sqlite" => match &decl.path {
            Some((_, "database")) => Some((
                "Tova's compiler reads SQLite's file from `path:`, not `database:`; the built app would keep its data in memory".into(),
                "write `path: \"app.db\"`".into(),
            )),
            None if r.sqlite_path.is_some() => Some((
                "Tova's compiler reads SQLite's file from `path:`, not from `url:`; the built app would keep its data in memory".into(),
                "write `path: \"./data.db\"`".into(),
            )),
            _ => None,
        },
        _ => None,
    }
}

fn databases(cx: &mut Cx<'_>, app: &str, engines: &[Engine], facts: &Facts) -> Databases {
    let under = app.replace('-', "_");
    let default_pg = || Postgres {
        name: format!("{under}_db"),
        user: format!("tova_{under}"),
        port: 5432,
        url_env: "DATABASE_URL".into(),
    };
    let default_redis = || Redis {
        prefix: format!("{app}:"),
        maxmemory: None,
        url_env: "REDIS_URL".into(),
    };
    let mut dbs = Databases::default();
    let warn = |cx: &mut Cx<'_>,
                code: &'static str,
                message: String,
                span: &crate::diagnostic::Span,
                hint: String| {
        let d = cx.sources.error(code, message, span, hint);
        cx.diags.push(Diagnostic {
            severity: crate::diagnostic::Severity::Warning,
            ..d
        });
    };

    // From `server { db { … } }`, as Tova's docs write it.
    for decl in &facts.dbs {
        let r = resolve_db(decl, &facts.env_decls);
        if let Some((message, hint)) = tova_compat(&r, decl) {
            warn(cx, "B0304", message, &decl.span, hint);
        }
        match r.engine.as_deref() {
            None if decl.url.is_some() => warn(
                cx,
                "B0303",
                "berth cannot tell this database's engine; nothing is provisioned for it".into(),
                &decl.span,
                "name it: `driver: \"postgres\"` (or \"mysql\"), or give SQLite a file with `path: \"./data.db\"`".into(),
            ),
            None => {
                // No engine, no file: Tova opens an in-memory SQLite database.
                {
                    warn(
                        cx,
                        "B0307",
                        "this database has no file: Tova keeps it in memory and every restart or deploy loses its data".into(),
                        &decl.span,
                        "give it a file: `db { path: \"./data.db\" }` (kept in the app's data directory across deploys)".into(),
                    );
                }
            }
            Some("sqlite") => {
                let path = match &r.sqlite_path {
                    Some((p, _, span)) => match validate::relative_path(p) {
                        Ok(path) => path,
                        Err(why) => {
                            cx.error("B0204", format!("SQLite path {why}"), span, "use a path relative to the app's data directory, e.g. \"./app.db\"");
                            continue;
                        }
                    },
                    None => {
                        warn(
                            cx,
                            "B0307",
                            "this SQLite database has no file: Tova keeps it in memory and every restart or deploy loses its data".into(),
                            &decl.span,
                            "give it a file: `db { path: \"./data.db\" }` (kept in the app's data directory across deploys)".into(),
                        );
                        continue;
                    }
                };
                dbs.sqlite.get_or_insert(Sqlite { path });
            }
            Some(engine @ ("postgres" | "redis")) if matches!(decl.url.as_ref().map(|u| &u.value), Some(UrlSource::Literal(_))) => {
                let var = if engine == "postgres" { "DATABASE_URL" } else { "REDIS_URL" };
                let span = decl.url.as_ref().map(|u| u.span.clone()).unwrap_or_else(|| decl.span.clone());
                warn(
                    cx,
                    "B0308",
                    format!("the app connects to the URL written in source, not to the database berth provisions (its URL is in {var})"),
                    &span,
                    format!("read it from the environment: `url: env(\"{var}\")`"),
                );
                if engine == "postgres" {
                    dbs.postgres.get_or_insert_with(default_pg);
                } else {
                    dbs.redis.get_or_insert_with(default_redis);
                }
            }
            Some("postgres") => {
                let pg = dbs.postgres.get_or_insert_with(default_pg);
                if let Some(var) = r.url_env.filter(|v| validate::env_key(v)) {
                    pg.url_env = var;
                }
            }
            Some("redis") => {
                let redis = dbs.redis.get_or_insert_with(default_redis);
                if let Some(var) = r.url_env.filter(|v| validate::env_key(v)) {
                    redis.url_env = var;
                }
            }
            Some(other) => warn(
                cx,
                "B0302",
                format!("database engine \"{other}\" is not provisioned by berth"),
                &decl.span,
                "provide its connection string as a secret, or use postgres, redis or sqlite".into(),
            ),
        }
    }
    if let (Some(pg), Some(redis)) = (&dbs.postgres, &dbs.redis) {
        if let (true, Some(first)) = (pg.url_env == redis.url_env, facts.dbs.first()) {
            let (var, at) = (pg.url_env.clone(), first.span.clone());
            cx.error(
                "B0105",
                format!("PostgreSQL and Redis both read their URL from {var}"),
                &at,
                "read PostgreSQL from DATABASE_URL and Redis from REDIS_URL",
            );
        }
    }

    // Overrides from `deploy { db { … } }`.
    let mut seen: IndexMap<&str, usize> = IndexMap::new();
    for e in engines {
        let Some((engine, keys)) = ENGINES.iter().find(|(n, _)| *n == e.name) else {
            let hint = match suggest(&e.name, ENGINES.iter().map(|(n, _)| *n)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "berth provisions `postgres`, `redis` and `sqlite`".to_owned(),
            };
            cx.error(
                "B0116",
                format!("unknown database engine `{}`", e.name),
                &e.span,
                hint,
            );
            continue;
        };
        if let Some(line) = seen.get(engine) {
            cx.error(
                "B0105",
                format!("`{engine}` is declared twice"),
                &e.span,
                format!("merge it with the one on line {line}"),
            );
            continue;
        }
        seen.insert(engine, e.span.line);
        let props = by_key(
            cx,
            &e.props,
            keys,
            &format!("{engine} setting"),
            &format!("{engine} settings"),
        );
        match *engine {
            "postgres" => {
                let mut pg = dbs.postgres.take().unwrap_or_else(default_pg);
                for (key, p) in &props {
                    let item = &p.value;
                    match *key {
                        "name" | "user" => {
                            if let Some(s) = cx.string(key, item) {
                                if cx
                                    .check(
                                        "B0113",
                                        item,
                                        validate::sql_ident(s),
                                        "use lowercase letters, digits and `_`",
                                    )
                                    .is_some()
                                {
                                    if *key == "name" {
                                        pg.name = s.to_owned()
                                    } else {
                                        pg.user = s.to_owned()
                                    }
                                }
                            }
                        }
                        _ => {
                            if let Some(n) = match item.value {
                                Value::Int(n) => cx.check(
                                    "B0114",
                                    item,
                                    validate::port(n),
                                    "use a port from 1 to 65535",
                                ),
                                _ => {
                                    cx.wrong_type("port", "an integer", item);
                                    None
                                }
                            } {
                                pg.port = n;
                            }
                        }
                    }
                }
                dbs.postgres = Some(pg);
            }
            "redis" => {
                let mut redis = dbs.redis.take().unwrap_or_else(default_redis);
                if let Some(p) = props.get("maxmemory") {
                    if let Some(s) = cx.string("maxmemory", &p.value) {
                        if cx
                            .check(
                                "B0109",
                                &p.value,
                                validate::memory(s),
                                "write a size such as \"256mb\"",
                            )
                            .is_some()
                        {
                            redis.maxmemory = Some(s.to_ascii_lowercase());
                        }
                    }
                }
                dbs.redis = Some(redis);
            }
            _ => {
                let path = match props.get("path") {
                    Some(p) => cx.string("path", &p.value).and_then(|s| match validate::relative_path(s) {
                        Ok(v) => Some(v),
                        Err(why) => {
                            cx.error("B0204", format!("SQLite path {why}"), &p.value.span, "use a path relative to the app's data directory, e.g. \"app.db\"");
                            None
                        }
                    }),
                    None => None,
                };
                match (path, dbs.sqlite.take()) {
                    (Some(path), _) => dbs.sqlite = Some(Sqlite { path }),
                    (None, Some(existing)) => dbs.sqlite = Some(existing),
                    (None, None) => {
                        dbs.sqlite = Some(Sqlite {
                            path: "data.db".to_owned(),
                        })
                    }
                }
            }
        }
    }
    dbs
}

fn sorted_paths(
    cx: &mut Cx<'_>,
    paths: &[crate::lang::facts::Located<String>],
    what: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for p in paths {
        match validate::url_path(&p.value) {
            Ok(()) => out.push(p.value.clone()),
            Err(why) => cx.error(
                "B0123",
                format!("{what} path {why}"),
                &p.span,
                "write an absolute URL path such as \"/ws\"",
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn proxy(cx: &mut Cx<'_>, kind: AppKind, facts: &Facts, asset_base: &str, health: &str) -> Proxy {
    let websocket_paths = sorted_paths(cx, &facts.websocket_paths, "WebSocket");
    let sse_paths = sorted_paths(cx, &facts.sse_paths, "SSE");
    let mut cors_origins = Vec::new();
    for o in &facts.cors_origins {
        match validate::origin(&o.value) {
            Ok(()) => cors_origins.push(o.value.clone()),
            Err(why) => cx.error(
                "B0124",
                format!("CORS origin {why}"),
                &o.span,
                "write an origin such as \"https://myapp.com\"",
            ),
        }
    }
    cors_origins.sort();
    cors_origins.dedup();
    Proxy {
        static_files: facts.browsers > 0,
        document: facts.browsers > 0,
        asset_prefix: format!("{asset_base}{ASSET_DIR}"),
        app_paths: if kind == AppKind::Server {
            app_paths(facts, health)
        } else {
            Vec::new()
        },
        websocket_paths,
        sse_paths,
        cors_origins,
    }
}

/// Paths the app server answers that a browser may navigate to, so they
/// never get the client's document: its routes, health and static
/// prefixes, and what Tova's compiler adds (`/rpc/<fn>`, `/auth/*` for an
/// auth block, `/docs` and `/openapi.json` beside routes). Paths with
/// characters Caddy's matcher cannot take are left to the app as well (they
/// reach it on every non-navigation request anyway).
fn app_paths(facts: &Facts, health: &str) -> Vec<String> {
    let mut out = vec!["/rpc/*".to_owned()];
    for r in &facts.routes {
        out.push(r.path.value.clone());
    }
    if !facts.routes.is_empty() {
        out.push("/docs".into());
        out.push("/openapi.json".into());
    }
    if facts.auth_blocks > 0 {
        out.push("/auth/*".into());
    }
    for p in &facts.static_prefixes {
        out.push(format!("{}/*", p.value.trim_end_matches('/')));
    }
    out.extend(facts.health_paths.iter().map(|h| h.value.clone()));
    out.push(health.to_owned());
    out.retain(|p| route_pattern_ok(p));
    out.sort();
    out.dedup();
    out
}

/// A route pattern the proxy can match: `/`, then segments of URL-safe
/// characters, `:param` or `*name` segments.
pub(crate) fn route_pattern_ok(p: &str) -> bool {
    p.starts_with('/')
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~!$&'()+,;=:@%*".contains(c))
}

/// Whether the app answers GET on `path`: a GET (or HEAD) route matching
/// it, a `health` declaration, or a `static` prefix.
fn health_served(path: &str, facts: &Facts) -> bool {
    facts.health_paths.iter().any(|h| h.value == path)
        || facts.routes.iter().any(|r| {
            matches!(r.method.as_str(), "GET" | "HEAD") && route_matches(&r.path.value, path)
        })
        || facts
            .static_prefixes
            .iter()
            .any(|p| path.starts_with(&format!("{}/", p.value.trim_end_matches('/'))))
}

/// Tova's route matching: `:name` matches one segment, `*`/`*name` the rest.
pub(crate) fn route_matches(pattern: &str, path: &str) -> bool {
    let mut pat = pattern.trim_end_matches('/').split('/');
    let mut got = path.trim_end_matches('/').split('/');
    loop {
        match (pat.next(), got.next()) {
            (Some(p), _) if p.starts_with('*') => return true,
            (Some(p), Some(g)) if p.starts_with(':') && !g.is_empty() => {}
            (Some(p), Some(g)) if p == g => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn secrets(
    cx: &mut Cx<'_>,
    dbs: &Databases,
    env_vars: &IndexMap<String, String>,
    facts: &Facts,
) -> Secrets {
    let mut auto = Vec::new();
    if let Some(pg) = &dbs.postgres {
        auto.push(pg.url_env.clone());
    }
    if let Some(redis) = &dbs.redis {
        auto.push(redis.url_env.clone());
    }
    auto.sort();
    // A read with a fallback (`env("X", "dev")`, `env X: T = default`) runs
    // without the value; every other read needs it.
    let declared_with_default = |name: &str| {
        facts
            .env_decls
            .iter()
            .any(|d| d.name.value == name && d.has_default)
    };
    let mut required: Vec<String> = facts
        .env_reads
        .iter()
        .filter(|r| !r.fallback)
        .map(|r| &r.name.value)
        .chain(
            facts
                .env_decls
                .iter()
                .filter(|d| !d.has_default)
                .map(|d| &d.name.value),
        )
        .filter(|n| validate::env_key(n) && !declared_with_default(n))
        .cloned()
        .collect();
    if facts.jwt_default_secret {
        required.push("JWT_SECRET".to_owned());
    }
    if facts.auth_default_secret {
        required.push("AUTH_SECRET".to_owned());
    }
    required.retain(|n| {
        !auto.contains(n) && !MANAGED_ENV.contains(&n.as_str()) && !env_vars.contains_key(n)
    });
    required.sort();
    required.dedup();
    for span in &facts.hardcoded_secrets {
        let d = cx.sources.error(
            "B0301",
            "the auth secret is hard-coded in source",
            span,
            "read it from the environment: `secret: env(\"AUTH_SECRET\")`",
        );
        cx.diags.push(Diagnostic {
            severity: crate::diagnostic::Severity::Warning,
            ..d
        });
    }
    Secrets { required, auto }
}

fn data_files(cx: &mut Cx<'_>, facts: &Facts, exists: &dyn Fn(&str) -> bool) -> Vec<DataFile> {
    let mut out: Vec<DataFile> = Vec::new();
    for (name, path) in &facts.data_files {
        if path.value.contains("://") {
            continue; // fetched at runtime, nothing to upload
        }
        let rel = match validate::relative_path(&path.value) {
            Ok(rel) => rel,
            Err(why) => {
                cx.error(
                    "B0204",
                    format!("data file {why}"),
                    &path.span,
                    "keep data files inside the project, e.g. \"data/users.csv\"",
                );
                continue;
            }
        };
        if !exists(&rel) {
            cx.error(
                "B0203",
                format!("data file `{rel}` does not exist"),
                &path.span,
                "create it or fix the path (relative to the project root)",
            );
            continue;
        }
        if !out.iter().any(|d| d.path == rel && d.name == *name) {
            out.push(DataFile {
                name: name.clone(),
                path: rel,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path).then(a.name.cmp(&b.name)));
    out
}
