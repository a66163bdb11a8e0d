//! Facts the manifest infers from the app's own blocks (`server`, `browser`,
//! `security`, `data`): databases, WebSocket and SSE routes, CORS origins,
//! secrets read with `env("X")`, JWT auth and data files. The walk is over
//! tokens, so it tolerates any Tova code around the shapes it looks for.

use std::path::Path;

use super::scanner::{Block, BlockKind};
use super::token::{Token, TokenKind};
use crate::diagnostic::Span;
use super::deploy_parser::span_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// `db { … }` inside a server block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbDecl {
    /// `type:`, `driver:` or `engine:`, or the scheme of `url:`.
    pub(crate) engine: Option<String>,
    pub(crate) path: Option<Located<String>>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) servers: usize,
    pub(crate) browsers: usize,
    pub(crate) dbs: Vec<DbDecl>,
    pub(crate) websocket_paths: Vec<Located<String>>,
    pub(crate) sse_paths: Vec<Located<String>>,
    pub(crate) cors_origins: Vec<Located<String>>,
    /// Names read with `env("X")` in server and security blocks.
    pub(crate) env_reads: Vec<Located<String>>,
    /// `auth jwt { }` without a `secret:` (the secret defaults to JWT_SECRET).
    pub(crate) jwt_default_secret: bool,
    /// `secret: "literal"` in an auth block.
    pub(crate) hardcoded_secrets: Vec<Span>,
    /// `data { source NAME = read("PATH") }`.
    pub(crate) data_files: Vec<(String, Located<String>)>,
}

impl Facts {
    pub(crate) fn merge(&mut self, other: Facts) {
        self.servers += other.servers;
        self.browsers += other.browsers;
        self.dbs.extend(other.dbs);
        self.websocket_paths.extend(other.websocket_paths);
        self.sse_paths.extend(other.sse_paths);
        self.cors_origins.extend(other.cors_origins);
        self.env_reads.extend(other.env_reads);
        self.jwt_default_secret |= other.jwt_default_secret;
        self.hardcoded_secrets.extend(other.hardcoded_secrets);
        self.data_files.extend(other.data_files);
    }
}

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
        (i < self.end && self.t[i].kind == TokenKind::Str).then(|| self.t[i].value.as_deref()).flatten()
    }

    fn located(&self, i: usize) -> Option<Located<String>> {
        self.string(i).map(|v| Located { value: v.to_owned(), span: span_of(self.file, &self.t[i]) })
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
            if tok.is_punct(self.src, '{') || tok.is_punct(self.src, '[') || tok.is_punct(self.src, '(') {
                depth += 1;
            } else if tok.is_punct(self.src, '}') || tok.is_punct(self.src, ']') || tok.is_punct(self.src, ')') {
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

    /// The token at `i` is not a member access (`x.ws`) and not a call (`ws(…)`).
    fn is_statement_word(&self, i: usize) -> bool {
        i == 0 || !(self.t[i - 1].is_punct(self.src, '.'))
    }
}

/// Facts of one top-level block.
pub(crate) fn extract(file: &Path, src: &str, tokens: &[Token], block: &Block) -> Facts {
    let body = block.body(tokens);
    let w = Walk { file, src, t: tokens, end: body.end };
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
        BlockKind::Server => f.servers = 1,
        BlockKind::Security => {}
    }
    let mut i = body.start;
    while i < body.end {
        let Some(word) = w.word(i) else {
            i += 1;
            continue;
        };
        if !w.is_statement_word(i) {
            i += 1;
            continue;
        }
        match word {
            "env" if w.punct(i + 1, '(') => {
                if let Some(name) = w.located(i + 2) {
                    f.env_reads.push(name);
                }
            }
            "db" if block.kind == BlockKind::Server && w.punct(i + 1, '{') => {
                let mut decl = DbDecl { engine: None, path: None, span: span_of(file, &tokens[i]) };
                for (key, v) in w.pairs(i + 1) {
                    match key {
                        "type" | "driver" | "engine" => decl.engine = w.string(v).map(str::to_lowercase),
                        "path" => decl.path = w.located(v),
                        "url" => {
                            if let Some(url) = w.string(v) {
                                let scheme = url.split("://").next().unwrap_or("").to_lowercase();
                                if url.contains("://") && decl.engine.is_none() {
                                    decl.engine = Some(scheme);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                f.dbs.push(decl);
            }
            "ws" | "websocket" if w.punct(i + 1, '{') => {
                f.websocket_paths.push(Located { value: "/ws".to_owned(), span: span_of(file, &tokens[i]) })
            }
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
            "auth" => {
                let (jwt, open) = match w.word(i + 1) {
                    Some(kind) if w.punct(i + 2, '{') => (kind == "jwt", i + 2),
                    _ if w.punct(i + 1, '{') => (true, i + 1),
                    _ => (false, 0),
                };
                if open > 0 {
                    let pairs = w.pairs(open);
                    let kind_jwt = pairs.iter().find(|(k, _)| *k == "type").and_then(|(_, v)| w.string(*v).or(w.word(*v)));
                    let jwt = jwt && kind_jwt.is_none_or(|k| k == "jwt");
                    match pairs.iter().find(|(k, _)| *k == "secret") {
                        Some((_, v)) if w.string(*v).is_some() => {
                            f.hardcoded_secrets.push(span_of(file, &tokens[*v]));
                        }
                        Some(_) => {}
                        None if jwt => f.jwt_default_secret = true,
                        None => {}
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    f
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
        assert_eq!(f.dbs[0].path.as_ref().unwrap().value, "./data.db");
        assert_eq!(f.dbs[1].engine.as_deref(), Some("postgres"));
        let ws: Vec<_> = f.websocket_paths.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(ws, vec!["/ws", "/live"]);
        assert_eq!(f.sse_paths[0].value, "/events");
        assert_eq!(f.cors_origins.iter().map(|o| o.value.as_str()).collect::<Vec<_>>(), vec!["https://a.com", "https://b.com"]);
        let reads: Vec<_> = f.env_reads.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(reads, vec!["SIGNING_KEY", "STRIPE_KEY"]);
        assert!(!f.jwt_default_secret);
    }

    #[test]
    fn security_and_data_shapes() {
        let f = facts(
            r#"security {
  auth jwt { expires: 86400 }
  cors { origins: ["https://app.io"] }
}
data {
  source users = read("users.csv")
  source orders: Table<Order> = read("data/orders.csv")
  pipeline adults = users |> where(.age >= 18)
}
browser { <p>"hi"</p> }"#,
        );
        assert!(f.jwt_default_secret);
        assert_eq!(f.cors_origins[0].value, "https://app.io");
        let files: Vec<_> = f.data_files.iter().map(|(n, p)| (n.as_str(), p.value.as_str())).collect();
        assert_eq!(files, vec![("users", "users.csv"), ("orders", "data/orders.csv")]);
        assert_eq!(f.browsers, 1);
    }
}
