//! Facts the manifest infers from the app's own blocks (`server`, `browser`,
//! `security`, `auth`, `data`): databases, routes and health endpoints,
//! WebSocket and SSE routes, CORS origins, environment reads and
//! declarations, auth secrets and data files. The walk is over tokens, so it
//! tolerates any Tova code around the shapes it looks for.

use std::path::Path;

use super::deploy_parser::span_of;
use super::scanner::{Block, BlockKind};
use super::token::{Token, TokenKind};
use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Where a `db { url: … }` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlSource {
    /// `url: "postgres://…"`.
    Literal(String),
    /// `env("X")`, `process.env["X"]`, `process.env.X`.
    Env(String),
    /// A bare name: an `env X: T = …` declaration, resolved by inference.
    Name(String),
    /// Any other expression.
    Other,
}

/// `db { … }` inside a server block (or a `routes` group in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbDecl {
    /// The engine as written (lowercased) and the key that gave it:
    /// `driver`, `adapter`, `type` or `engine`.
    pub(crate) engine: Option<(String, &'static str)>,
    pub(crate) url: Option<Located<UrlSource>>,
    /// SQLite's file and the key that gave it (`path` or `database`).
    pub(crate) path: Option<(Located<String>, &'static str)>,
    pub(crate) span: Span,
}

/// `env("X")` (and the `process.env` forms) in server, security and auth code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvRead {
    pub(crate) name: Located<String>,
    /// `env("X", fallback)`: the app runs without it.
    pub(crate) fallback: bool,
}

/// `env NAME: Type [= default]` in a server block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvDecl {
    pub(crate) name: Located<String>,
    pub(crate) has_default: bool,
    /// The default when it is a string literal.
    pub(crate) default: Option<String>,
}

/// `route METHOD "/path"` (group prefixes applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) method: String,
    pub(crate) path: Located<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) servers: usize,
    /// Where each `server { }` block starts (for diagnostics about the server).
    pub(crate) server_spans: Vec<Span>,
    pub(crate) browsers: usize,
    /// Top-level `auth { }` blocks (Tova serves `/auth/*` for them).
    pub(crate) auth_blocks: usize,
    pub(crate) dbs: Vec<DbDecl>,
    pub(crate) routes: Vec<Route>,
    /// `health "/path"` declarations; Tova serves the last one.
    pub(crate) health_paths: Vec<Located<String>>,
    /// `static "/prefix" => "dir"`: the app serves files under the prefix.
    pub(crate) static_prefixes: Vec<Located<String>>,
    pub(crate) websocket_paths: Vec<Located<String>>,
    pub(crate) sse_paths: Vec<Located<String>>,
    pub(crate) cors_origins: Vec<Located<String>>,
    /// Environment reads in server, security and auth blocks.
    pub(crate) env_reads: Vec<EnvRead>,
    pub(crate) env_decls: Vec<EnvDecl>,
    /// `auth jwt { }` without a `secret:` (the secret defaults to JWT_SECRET).
    pub(crate) jwt_default_secret: bool,
    /// A top-level `auth { }` without a `secret:` (Tova reads AUTH_SECRET).
    pub(crate) auth_default_secret: bool,
    /// `secret: "literal"` in an auth block.
    pub(crate) hardcoded_secrets: Vec<Span>,
    /// `data { source NAME = read("PATH") }`.
    pub(crate) data_files: Vec<(String, Located<String>)>,
}

impl Facts {
    pub(crate) fn merge(&mut self, other: Facts) {
        self.servers += other.servers;
        self.server_spans.extend(other.server_spans);
        self.browsers += other.browsers;
        self.auth_blocks += other.auth_blocks;
        self.dbs.extend(other.dbs);
        self.routes.extend(other.routes);
        self.health_paths.extend(other.health_paths);
        self.static_prefixes.extend(other.static_prefixes);
        self.websocket_paths.extend(other.websocket_paths);
        self.sse_paths.extend(other.sse_paths);
        self.cors_origins.extend(other.cors_origins);
        self.env_reads.extend(other.env_reads);
        self.env_decls.extend(other.env_decls);
        self.jwt_default_secret |= other.jwt_default_secret;
        self.auth_default_secret |= other.auth_default_secret;
        self.hardcoded_secrets.extend(other.hardcoded_secrets);
        self.data_files.extend(other.data_files);
    }
}

/// HTTP methods of `route`.
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

struct Walk<'a> {
    file: &'a Path,
    src: &'a str,
    t: &'a [Token],
    end: usize,
}

impl<'a> Walk<'a> {
    fn punct(&self, i: usize, c: char) -> bool {
        i < self.end && self.t[i].is_punct(self.src, c)
    }

    fn word(&self, i: usize) -> Option<&'a str> {
        (i < self.end && self.t[i].kind == TokenKind::Ident).then(|| self.t[i].text(self.src))
    }

    fn string(&self, i: usize) -> Option<&'a str> {
        (i < self.end && self.t[i].kind == TokenKind::Str)
            .then(|| self.t[i].value.as_deref())
            .flatten()
    }

    fn located(&self, i: usize) -> Option<Located<String>> {
        self.string(i).map(|v| Located {
            value: v.to_owned(),
            span: span_of(self.file, &self.t[i]),
        })
    }

    /// Index of the `}` matching the `{` at `open` (or the walk's end).
    fn close_of(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for i in open..self.end {
            if self.t[i].is_punct(self.src, '{') {
                depth += 1;
            } else if self.t[i].is_punct(self.src, '}') {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
        }
        self.end
    }

    /// `key: value` pairs directly inside `{ }` starting at `open`: (key index, value index).
    fn pairs(&self, open: usize) -> Vec<(&'a str, usize)> {
        let close = self.close_of(open);
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut i = open + 1;
        while i < close {
            let tok = &self.t[i];
            if tok.is_punct(self.src, '{')
                || tok.is_punct(self.src, '[')
                || tok.is_punct(self.src, '(')
            {
                depth += 1;
            } else if tok.is_punct(self.src, '}')
                || tok.is_punct(self.src, ']')
                || tok.is_punct(self.src, ')')
            {
                depth = depth.saturating_sub(1);
            } else if depth == 0 && tok.kind == TokenKind::Ident && self.punct(i + 1, ':') {
                out.push((tok.text(self.src), i + 2));
                i += 2;
                continue;
            }
            i += 1;
        }
        out
    }

    /// Strings of a `[ … ]` list starting at `open`.
    fn strings(&self, open: usize) -> Vec<Located<String>> {
        let mut out = Vec::new();
        let mut i = open + 1;
        while i < self.end && !self.punct(i, ']') {
            if let Some(l) = self.located(i) {
                out.push(l);
            }
            i += 1;
        }
        out
    }

    /// The token at `i` is not a member access (`x.ws`).
    fn is_statement_word(&self, i: usize) -> bool {
        i == 0 || !(self.t[i - 1].is_punct(self.src, '.'))
    }

    /// An environment read starting at `i`: `env("X"[, fallback])`,
    /// `process.env["X"]` or `process.env.X`. Returns the read and the index after it.
    fn env_read(&self, i: usize) -> Option<(EnvRead, usize)> {
        match self.word(i)? {
            "env" if self.is_statement_word(i) && self.punct(i + 1, '(') => {
                let name = self.located(i + 2)?;
                Some((
                    EnvRead {
                        name,
                        fallback: self.punct(i + 3, ','),
                    },
                    i + 3,
                ))
            }
            "process" if self.punct(i + 1, '.') && self.word(i + 2) == Some("env") => {
                if self.punct(i + 3, '[') {
                    let name = self.located(i + 4)?;
                    Some((
                        EnvRead {
                            name,
                            fallback: false,
                        },
                        i + 5,
                    ))
                } else if self.punct(i + 3, '.') {
                    let name = self.word(i + 4)?;
                    let name = Located {
                        value: name.to_owned(),
                        span: span_of(self.file, &self.t[i + 4]),
                    };
                    Some((
                        EnvRead {
                            name,
                            fallback: false,
                        },
                        i + 5,
                    ))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The value of a `url:` key at `v`.
    fn url_source(&self, v: usize) -> Option<Located<UrlSource>> {
        if v >= self.end {
            return None;
        }
        let span = span_of(self.file, &self.t[v]);
        let value = if let Some(s) = self.string(v) {
            UrlSource::Literal(s.to_owned())
        } else if let Some((read, _)) = self.env_read(v) {
            UrlSource::Env(read.name.value)
        } else if let Some(name) = self.word(v) {
            let ends = v + 1 >= self.end
                || self.t[v + 1].line > self.t[v].line
                || self.punct(v + 1, ',')
                || self.punct(v + 1, '}');
            if ends {
                UrlSource::Name(name.to_owned())
            } else {
                UrlSource::Other
            }
        } else {
            UrlSource::Other
        };
        Some(Located { value, span })
    }
}

/// Facts of one top-level block.
pub(crate) fn extract(file: &Path, src: &str, tokens: &[Token], block: &Block) -> Facts {
    let body = block.body(tokens);
    let w = Walk {
        file,
        src,
        t: tokens,
        end: body.end,
    };
    let mut f = Facts::default();
    match block.kind {
        BlockKind::Deploy => return f,
        BlockKind::Browser => {
            f.browsers = 1;
            return f;
        }
        BlockKind::Data => {
            data_sources(&w, body.start, &mut f);
            return f;
        }
        BlockKind::Server => {
            f.servers = 1;
            f.server_spans.push(span_of(file, &tokens[block.keyword]));
        }
        BlockKind::Auth => {
            f.auth_blocks = 1;
            f.auth_default_secret = auth_secret(&w, block.open, &mut f);
        }
        BlockKind::Security => {}
    }
    walk(&w, block.kind, body.start, body.end, "", &mut f);
    f
}

/// The statements of a server, security or auth body between `from` and
/// `to`; `routes "/prefix" { }` groups recurse with their prefix.
fn walk(w: &Walk<'_>, kind: BlockKind, from: usize, to: usize, prefix: &str, f: &mut Facts) {
    let file = w.file;
    let mut i = from;
    while i < to {
        if let Some((read, next)) = w.env_read(i) {
            f.env_reads.push(read);
            i = next;
            continue;
        }
        let Some(word) = w.word(i) else {
            i += 1;
            continue;
        };
        if !w.is_statement_word(i) {
            i += 1;
            continue;
        }
        let server = kind == BlockKind::Server;
        match word {
            // `routes "/prefix" [version: "2"] [deprecated: true] { … }`
            "routes" if server && w.string(i + 1).is_some() => {
                let line = w.t[i].line;
                let mut open = i + 2;
                while open < to && w.t[open].line == line && !w.punct(open, '{') {
                    open += 1;
                }
                if open < to && w.punct(open, '{') {
                    let group = format!("{prefix}{}", w.string(i + 1).unwrap_or_default());
                    let close = w.close_of(open).min(to);
                    walk(w, kind, open + 1, close, &group, f);
                    i = close + 1;
                    continue;
                }
            }
            "route" if server => {
                if let (Some(method), Some(path)) = (w.word(i + 1), w.located(i + 2)) {
                    let method = method.to_ascii_uppercase();
                    if METHODS.contains(&method.as_str()) {
                        let path = Located {
                            value: format!("{prefix}{}", path.value),
                            span: path.span,
                        };
                        f.routes.push(Route { method, path });
                    }
                }
            }
            "health" if server => {
                if let Some(path) = w.located(i + 1) {
                    f.health_paths.push(Located {
                        value: format!("{prefix}{}", path.value),
                        ..path
                    });
                }
            }
            "static" if server => {
                if let Some(path) = w.located(i + 1) {
                    f.static_prefixes.push(Located {
                        value: format!("{prefix}{}", path.value),
                        ..path
                    });
                }
            }
            "env" if server && w.word(i + 1).is_some() && w.punct(i + 2, ':') => {
                // `env NAME: Type [= default]`, on one line.
                let name = Located {
                    value: w.word(i + 1).unwrap_or_default().to_owned(),
                    span: span_of(file, &w.t[i + 1]),
                };
                let line = w.t[i].line;
                let mut j = i + 3;
                while j < to && w.t[j].line == line && !w.punct(j, '=') {
                    j += 1;
                }
                let has_default = j < to && w.t[j].line == line && w.punct(j, '=');
                let default = if has_default {
                    w.string(j + 1).map(str::to_owned)
                } else {
                    None
                };
                f.env_decls.push(EnvDecl {
                    name,
                    has_default,
                    default,
                });
            }
            "db" if server && w.punct(i + 1, '{') => {
                f.dbs.push(db_decl(w, i));
            }
            "ws" | "websocket" if w.punct(i + 1, '{') => f.websocket_paths.push(Located {
                value: "/ws".to_owned(),
                span: span_of(file, &w.t[i]),
            }),
            "ws" | "websocket" => f.websocket_paths.extend(w.located(i + 1)),
            "sse" => f.sse_paths.extend(w.located(i + 1)),
            "cors" if w.punct(i + 1, '{') => {
                for (key, v) in w.pairs(i + 1) {
                    if key == "origins" && w.punct(v, '[') {
                        f.cors_origins.extend(w.strings(v));
                    } else if key == "origins" {
                        f.cors_origins.extend(w.located(v));
                    }
                }
            }
            "auth" if kind != BlockKind::Auth => {
                let (jwt, open) = match w.word(i + 1) {
                    Some(k) if w.punct(i + 2, '{') => (k == "jwt", i + 2),
                    _ if w.punct(i + 1, '{') => (true, i + 1),
                    _ => (false, 0),
                };
                if open > 0 {
                    let pairs = w.pairs(open);
                    let kind_jwt = pairs
                        .iter()
                        .find(|(k, _)| *k == "type")
                        .and_then(|(_, v)| w.string(*v).or(w.word(*v)));
                    let no_secret = auth_secret(w, open, f);
                    if no_secret && jwt && kind_jwt.is_none_or(|k| k == "jwt") {
                        f.jwt_default_secret = true;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// The `secret:` of an auth block opening at `open`: a literal is recorded
/// as hard-coded; true when there is none (the app uses a default name).
fn auth_secret(w: &Walk<'_>, open: usize, f: &mut Facts) -> bool {
    match w.pairs(open).iter().find(|(k, _)| *k == "secret") {
        Some((_, v)) => {
            if w.string(*v).is_some() {
                f.hardcoded_secrets.push(span_of(w.file, &w.t[*v]));
            }
            false
        }
        None => true,
    }
}

/// `db { key: value, … }` at `i` (the `db` word).
fn db_decl(w: &Walk<'_>, i: usize) -> DbDecl {
    let mut decl = DbDecl {
        engine: None,
        url: None,
        path: None,
        span: span_of(w.file, &w.t[i]),
    };
    for (key, v) in w.pairs(i + 1) {
        match key {
            // `driver` first: it is the key Tova's compiler reads.
            "driver" | "adapter" | "type" | "engine" => {
                let key: &'static str = match key {
                    "driver" => "driver",
                    "adapter" => "adapter",
                    "type" => "type",
                    _ => "engine",
                };
                if let Some(value) = w.string(v) {
                    if decl.engine.as_ref().is_none_or(|(_, k)| *k != "driver") {
                        decl.engine = Some((value.to_lowercase(), key));
                    }
                }
            }
            "url" => decl.url = w.url_source(v),
            "path" | "database" => {
                let key: &'static str = if key == "path" { "path" } else { "database" };
                if let Some(path) = w.located(v) {
                    if decl.path.as_ref().is_none_or(|(_, k)| *k != "path") {
                        decl.path = Some((path, key));
                    }
                }
            }
            _ => {}
        }
    }
    decl
}

/// `source NAME = read("PATH")` and `source NAME: Type = read("PATH")` at the top of a data block.
fn data_sources(w: &Walk<'_>, start: usize, f: &mut Facts) {
    let mut depth = 0usize;
    let mut i = start;
    while i < w.end {
        let tok = &w.t[i];
        if tok.is_punct(w.src, '{') || tok.is_punct(w.src, '(') || tok.is_punct(w.src, '[') {
            depth += 1;
        } else if tok.is_punct(w.src, '}') || tok.is_punct(w.src, ')') || tok.is_punct(w.src, ']') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && w.word(i) == Some("source") {
            if let Some(name) = w.word(i + 1) {
                let line = tok.line;
                let mut j = i + 2;
                while j < w.end && w.t[j].line == line && !w.punct(j, '=') {
                    j += 1;
                }
                if w.punct(j, '=') && w.word(j + 1) == Some("read") && w.punct(j + 2, '(') {
                    if let Some(path) = w.located(j + 3) {
                        f.data_files.push((name.to_owned(), path));
                    }
                }
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::scanner::scan;

    fn facts(src: &str) -> Facts {
        let s = scan(src);
        let mut f = Facts::default();
        for b in &s.blocks {
            f.merge(extract(Path::new("a.tova"), src, &s.tokens, b));
        }
        f
    }

    fn names(reads: &[EnvRead]) -> Vec<(&str, bool)> {
        reads
            .iter()
            .map(|r| (r.name.value.as_str(), r.fallback))
            .collect()
    }

    #[test]
    fn server_shapes() {
        let f = facts(
            r#"server {
  db { path: "./data.db" }
  db { url: "postgres://localhost/x" }
  ws { on_message fn(m) { broadcast(m) } }
  websocket "/live" { }
  sse "/events" fn(send, close) { }
  cors { origins: ["https://a.com", "https://b.com"], credentials: true }
  auth { type: "jwt", secret: env("SIGNING_KEY") }
  key = env("STRIPE_KEY")
  conn.ws { }
}"#,
        );
        assert_eq!(f.dbs.len(), 2);
        assert_eq!(
            f.dbs[0].path.as_ref().map(|(p, k)| (p.value.as_str(), *k)),
            Some(("./data.db", "path"))
        );
        assert_eq!(
            f.dbs[1].url.as_ref().unwrap().value,
            UrlSource::Literal("postgres://localhost/x".into())
        );
        let ws: Vec<_> = f.websocket_paths.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(ws, vec!["/ws", "/live"]);
        assert_eq!(f.sse_paths[0].value, "/events");
        assert_eq!(
            f.cors_origins
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>(),
            vec!["https://a.com", "https://b.com"]
        );
        assert_eq!(
            names(&f.env_reads),
            vec![("SIGNING_KEY", false), ("STRIPE_KEY", false)]
        );
        assert!(!f.jwt_default_secret);
        assert_eq!(f.server_spans.len(), 1);
    }

    /// Every way Tova's docs declare a database, as the facts record it.
    #[test]
    fn database_forms() {
        let f = facts(
            r#"server {
  env DATABASE_URL: String = "sqlite:./data.db"
  env API_KEY: String
  db { driver: "postgres", url: env("DATABASE_URL"), pool: 20 }
  db { adapter: "sqlite", database: "app.db" }
  db { type: "redis", url: process.env["REDIS_URL"] }
  db { engine: "mysql", url: process.env.MYSQL_URL }
  db { url: DATABASE_URL }
  db { adapter: "postgres", driver: "pg", url: config.url }
}"#,
        );
        let shapes: Vec<_> = f
            .dbs
            .iter()
            .map(|d| {
                (
                    d.engine.clone(),
                    d.url.as_ref().map(|u| u.value.clone()),
                    d.path.as_ref().map(|(p, k)| (p.value.clone(), *k)),
                )
            })
            .collect();
        assert_eq!(
            shapes,
            vec![
                (
                    Some(("postgres".into(), "driver")),
                    Some(UrlSource::Env("DATABASE_URL".into())),
                    None
                ),
                (
                    Some(("sqlite".into(), "adapter")),
                    None,
                    Some(("app.db".into(), "database"))
                ),
                (
                    Some(("redis".into(), "type")),
                    Some(UrlSource::Env("REDIS_URL".into())),
                    None
                ),
                (
                    Some(("mysql".into(), "engine")),
                    Some(UrlSource::Env("MYSQL_URL".into())),
                    None
                ),
                (None, Some(UrlSource::Name("DATABASE_URL".into())), None),
                // `driver` wins over `adapter`, whatever the order.
                (Some(("pg".into(), "driver")), Some(UrlSource::Other), None),
            ]
        );
        let decls: Vec<_> = f
            .env_decls
            .iter()
            .map(|d| (d.name.value.as_str(), d.has_default, d.default.as_deref()))
            .collect();
        assert_eq!(
            decls,
            vec![
                ("DATABASE_URL", true, Some("sqlite:./data.db")),
                ("API_KEY", false, None)
            ]
        );
        // The env reads inside db blocks are reads too.
        assert_eq!(
            names(&f.env_reads),
            vec![
                ("DATABASE_URL", false),
                ("REDIS_URL", false),
                ("MYSQL_URL", false)
            ]
        );
    }

    #[test]
    fn routes_health_and_groups() {
        let f = facts(
            r#"server {
  fn health() { { status: "ok" } }
  route GET "/api/health" => health
  route post "/api/items" body: Item => create
  health "/healthz" { check_db }
  static "/assets" => "./public"
  routes "/api/v2" version: "2" {
    route GET "/users/:id" => get_user
    routes "/admin" { route DELETE "/*path" => wipe }
  }
  route GET "/after" => fn() { "x" }
  fallback = env("MODE", "dev")
}"#,
        );
        let routes: Vec<_> = f
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.value.as_str(), r.path.span.line))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("GET", "/api/health", 3),
                ("POST", "/api/items", 4),
                ("GET", "/api/v2/users/:id", 8),
                ("DELETE", "/api/v2/admin/*path", 9),
                ("GET", "/after", 11),
            ]
        );
        assert_eq!(
            f.health_paths
                .iter()
                .map(|h| h.value.as_str())
                .collect::<Vec<_>>(),
            vec!["/healthz"]
        );
        assert_eq!(f.static_prefixes[0].value, "/assets");
        assert_eq!(names(&f.env_reads), vec![("MODE", true)]);
    }

    #[test]
    fn security_auth_and_data_shapes() {
        let f = facts(
            r#"security {
  auth jwt { expires: 86400 }
  cors { origins: ["https://app.io"] }
}
auth {
  token_expires: 900
  provider google { client_id: env("GOOGLE_CLIENT_ID") }
}
data {
  source users = read("users.csv")
  source orders: Table<Order> = read("data/orders.csv")
  pipeline adults = users |> where(.age >= 18)
}
browser { <p>"hi"</p> }"#,
        );
        assert!(f.jwt_default_secret);
        assert!(f.auth_default_secret);
        assert_eq!(f.auth_blocks, 1);
        assert_eq!(names(&f.env_reads), vec![("GOOGLE_CLIENT_ID", false)]);
        assert_eq!(f.cors_origins[0].value, "https://app.io");
        let files: Vec<_> = f
            .data_files
            .iter()
            .map(|(n, p)| (n.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            files,
            vec![("users", "users.csv"), ("orders", "data/orders.csv")]
        );
        assert_eq!(f.browsers, 1);

        let f =
            facts("auth {\n  secret: env(\"AUTH_SECRET\")\n}\nauth {\n  secret: \"hunter2\"\n}\n");
        assert!(!f.auth_default_secret);
        assert_eq!(f.hardcoded_secrets.len(), 1);
    }
}
