//! The precise parser for `deploy "name" { … }` blocks: every key and value keeps
//! its span. It checks syntax only; which keys exist and what they mean is the
//! manifest's business (`manifest::settings`).

use std::path::Path;

use super::scanner::Block;
use super::token::{Token, TokenKind};
use crate::diagnostic::{Diagnostic, Span};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Item>),
    /// A bare word (`auto`), accepted nowhere but useful for hints.
    Word(String),
    /// Any other expression, kept as source text.
    Expr(String),
    /// A value already reported as a syntax error; checks skip it silently.
    Invalid,
}

impl Value {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::List(_) => "a list",
            Value::Word(_) => "a bare word",
            Value::Expr(_) => "an expression",
            Value::Invalid => "an invalid value",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub(crate) value: Value,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prop {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Item,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Engine {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) props: Vec<Prop>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeployBlock {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    /// The `deploy` keyword.
    pub(crate) span: Span,
    pub(crate) props: Vec<Prop>,
    pub(crate) env: Vec<Prop>,
    pub(crate) db: Vec<Engine>,
}

pub(crate) fn span_of(file: &Path, t: &Token) -> Span {
    Span::new(file, t.line, t.col, t.len.max(1))
}

struct Parser<'a> {
    file: &'a Path,
    src: &'a str,
    tokens: &'a [Token],
    pos: usize,
    end: usize,
    diags: Vec<Diagnostic>,
}

/// Parses one scanned deploy block. Diagnostics are returned alongside whatever parsed.
pub(crate) fn parse(
    file: &Path,
    src: &str,
    tokens: &[Token],
    block: &Block,
) -> (Option<DeployBlock>, Vec<Diagnostic>) {
    let keyword = &tokens[block.keyword];
    let mut p = Parser {
        file,
        src,
        tokens,
        pos: block.open + 1,
        end: block.body(tokens).end,
        diags: Vec::new(),
    };
    let span = span_of(file, keyword);
    if block.close.is_none() {
        p.error(
            "B0101",
            "this deploy block is never closed",
            span.clone(),
            "add the missing `}` at the end of the block",
        );
        return (None, p.diags);
    }
    let (name, name_span) = match block.name.map(|n| &tokens[n]) {
        Some(t) => match (&t.value, t.interpolated) {
            (Some(v), false) => (v.clone(), span_of(file, t)),
            _ => {
                p.error(
                    "B0125",
                    "the deploy name cannot use `{interpolation}`",
                    span_of(file, t),
                    "write a plain name such as `deploy \"prod\" { … }`",
                );
                return (None, p.diags);
            }
        },
        None => {
            p.error(
                "B0121",
                "a deploy block needs a name",
                span.clone(),
                "name the environment: `deploy \"prod\" { … }`",
            );
            return (None, p.diags);
        }
    };
    let mut out = DeployBlock {
        name,
        name_span,
        span,
        props: Vec::new(),
        env: Vec::new(),
        db: Vec::new(),
    };
    let mut separator_reported = false;
    while p.pos < p.end {
        let t = &tokens[p.pos];
        if t.is_punct(src, ',') || t.is_punct(src, ';') {
            // berth reads `a: 1, b: 2`, but Tova's own parser refuses a
            // separator between deploy fields: `tova build` would fail.
            if !separator_reported {
                separator_reported = true;
                let c = t.text(src).to_owned();
                p.diags.push(
                    Diagnostic::warning(
                        "B0128",
                        format!("`tova build` rejects `{c}` between deploy fields"),
                    )
                    .at(p.span(t), Some(src))
                    .hint("put each field on its own line, without a separator"),
                );
            }
            p.pos += 1;
            continue;
        }
        if t.kind == TokenKind::Ident && p.next_is('{', 1) && matches!(t.text(src), "env" | "db") {
            if t.text(src) == "env" {
                p.pos += 2;
                out.env.extend(p.props_until_close("environment variable"));
            } else {
                p.pos += 2;
                out.db.extend(p.engines());
            }
            continue;
        }
        if let Some(prop) = p.prop("property") {
            out.props.push(prop);
        }
    }
    (Some(out), p.diags)
}

impl<'a> Parser<'a> {
    fn error(
        &mut self,
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        hint: impl Into<String>,
    ) {
        self.diags.push(
            Diagnostic::error(code, message)
                .at(span, Some(self.src))
                .hint(hint),
        );
    }

    fn tok(&self) -> &'a Token {
        &self.tokens[self.pos]
    }

    fn next_is(&self, c: char, ahead: usize) -> bool {
        self.pos + ahead < self.end && self.tokens[self.pos + ahead].is_punct(self.src, c)
    }

    fn span(&self, t: &Token) -> Span {
        span_of(self.file, t)
    }

    /// Skips to the first token on a later line (error recovery).
    fn skip_line(&mut self) {
        let line = self.tok().line;
        let mut depth = 0usize;
        while self.pos < self.end {
            let t = self.tok();
            if depth == 0 && t.line > line {
                return;
            }
            if t.is_punct(self.src, '{') || t.is_punct(self.src, '[') || t.is_punct(self.src, '(') {
                depth += 1;
            } else if t.is_punct(self.src, '}')
                || t.is_punct(self.src, ']')
                || t.is_punct(self.src, ')')
            {
                if depth == 0 {
                    return;
                }
                depth -= 1;
            }
            self.pos += 1;
        }
    }

    /// `key: value`, with the cursor on `key`.
    fn prop(&mut self, what: &str) -> Option<Prop> {
        let t = self.tok();
        if t.kind != TokenKind::Ident {
            let text = t.text(self.src).to_owned();
            self.error(
                "B0101",
                format!("expected a {what} name, found `{text}`"),
                self.span(t),
                format!("each line holds one `name: value` {what}"),
            );
            self.pos += 1;
            self.skip_line();
            return None;
        }
        let key = t.text(self.src).to_owned();
        let key_span = self.span(t);
        if !self.next_is(':', 1) {
            let hint = if self.next_is('{', 1) {
                format!(
                    "`{key} {{ … }}` is not a sub-block here; only `env {{ }}` and `db {{ }}` are"
                )
            } else {
                format!("write `{key}: value`")
            };
            self.error(
                "B0101",
                format!("expected `:` after `{key}`"),
                key_span.clone(),
                hint,
            );
            self.pos += 1;
            self.skip_line();
            let value = Item {
                value: Value::Invalid,
                span: key_span.clone(),
            };
            return Some(Prop {
                key,
                key_span,
                value,
            });
        }
        self.pos += 2;
        if self.pos >= self.end || self.tok().is_punct(self.src, '}') {
            self.error(
                "B0101",
                format!("`{key}` has no value"),
                key_span.clone(),
                format!("write `{key}: value`"),
            );
            let value = Item {
                value: Value::Invalid,
                span: key_span.clone(),
            };
            return Some(Prop {
                key,
                key_span,
                value,
            });
        }
        let start = self.tok();
        let value = self.value().unwrap_or_else(|| Item {
            value: Value::Invalid,
            span: span_of(self.file, start),
        });
        // One property per line unless separated by a comma.
        if self.pos < self.end {
            let next = self.tok();
            if next.line == value.span.line
                && !next.is_punct(self.src, ',')
                && !next.is_punct(self.src, ';')
                && !next.is_punct(self.src, '}')
            {
                let text = next.text(self.src).to_owned();
                self.error(
                    "B0101",
                    format!("unexpected `{text}` after the value of `{key}`"),
                    self.span(next),
                    "put each property on its own line",
                );
                self.skip_line();
            }
        }
        Some(Prop {
            key,
            key_span,
            value,
        })
    }

    /// Properties up to the matching `}` (consumed).
    fn props_until_close(&mut self, what: &str) -> Vec<Prop> {
        let mut out = Vec::new();
        while self.pos < self.end {
            let t = self.tok();
            if t.is_punct(self.src, '}') {
                self.pos += 1;
                return out;
            }
            if t.is_punct(self.src, ',') || t.is_punct(self.src, ';') {
                self.pos += 1;
                continue;
            }
            if let Some(p) = self.prop(what) {
                out.push(p);
            }
        }
        out
    }

    /// `db { engine { k: v } … }` after `db {`.
    fn engines(&mut self) -> Vec<Engine> {
        let mut out = Vec::new();
        while self.pos < self.end {
            let t = self.tok();
            if t.is_punct(self.src, '}') {
                self.pos += 1;
                return out;
            }
            if t.is_punct(self.src, ',') {
                self.pos += 1;
                continue;
            }
            if t.kind == TokenKind::Ident && self.next_is('{', 1) {
                let name = t.text(self.src).to_owned();
                let span = self.span(t);
                self.pos += 2;
                let props = self.props_until_close("database setting");
                out.push(Engine { name, span, props });
                continue;
            }
            let text = t.text(self.src).to_owned();
            let hint = if t.kind == TokenKind::Ident && self.next_is(':', 1) {
                format!(
                    "database settings go inside an engine: `db {{ postgres {{ {text}: … }} }}`"
                )
            } else {
                "write `db { postgres { } }`, `db { redis { } }` or `db { sqlite { path: \"app.db\" } }`".to_owned()
            };
            self.error(
                "B0101",
                format!("expected a database engine, found `{text}`"),
                self.span(t),
                hint,
            );
            self.pos += 1;
            self.skip_line();
        }
        out
    }

    fn value(&mut self) -> Option<Item> {
        let t = self.tok();
        let span = self.span(t);
        let src = self.src;
        match t.kind {
            TokenKind::Str => {
                self.pos += 1;
                if !t.terminated {
                    self.error(
                        "B0101",
                        "this string is never closed",
                        span,
                        "add the closing quote",
                    );
                    return None;
                }
                if t.interpolated {
                    self.error(
                        "B0125",
                        "deploy settings cannot use `{interpolation}`",
                        span,
                        "deploy values are plain data; write the text literally, or use single quotes for a literal `{`",
                    );
                    return None;
                }
                Some(Item {
                    value: Value::Str(t.value.clone().unwrap_or_default()),
                    span,
                })
            }
            TokenKind::Number => {
                self.pos += 1;
                Some(Item {
                    value: number(t.text(src), false),
                    span,
                })
            }
            TokenKind::Punct
                if t.is_punct(src, '-')
                    && self.pos + 1 < self.end
                    && self.tokens[self.pos + 1].kind == TokenKind::Number =>
            {
                let n = &self.tokens[self.pos + 1];
                self.pos += 2;
                let span = Span::new(self.file, t.line, t.col, n.end - t.start);
                Some(Item {
                    value: number(n.text(src), true),
                    span,
                })
            }
            TokenKind::Punct if t.is_punct(src, '[') => {
                let open = t.start;
                self.pos += 1;
                let mut items = Vec::new();
                while self.pos < self.end {
                    let t = self.tok();
                    if t.is_punct(src, ']') {
                        let len = src[open..t.end].chars().count();
                        self.pos += 1;
                        return Some(Item {
                            value: Value::List(items),
                            span: Span {
                                len: len.max(1),
                                ..span
                            },
                        });
                    }
                    if t.is_punct(src, ',') {
                        self.pos += 1;
                        continue;
                    }
                    if t.is_punct(src, '}') {
                        break;
                    }
                    items.push(self.value()?);
                }
                self.error(
                    "B0101",
                    "this list is never closed",
                    span,
                    "add the closing `]`",
                );
                None
            }
            TokenKind::Ident if matches!(t.text(src), "true" | "false") => {
                self.pos += 1;
                Some(Item {
                    value: Value::Bool(t.text(src) == "true"),
                    span,
                })
            }
            TokenKind::Ident if !self.next_is('(', 1) && !self.next_is('.', 1) => {
                self.pos += 1;
                Some(Item {
                    value: Value::Word(t.text(src).to_owned()),
                    span,
                })
            }
            _ => {
                // Any other expression: up to the end of the line (or `,` / `}` at depth 0).
                let start = self.pos;
                let line = t.line;
                let mut depth = 0usize;
                while self.pos < self.end {
                    let t = self.tok();
                    if depth == 0
                        && (t.line > line
                            || t.is_punct(src, ',')
                            || t.is_punct(src, '}')
                            || t.is_punct(src, ']'))
                    {
                        break;
                    }
                    if t.is_punct(src, '(') || t.is_punct(src, '[') || t.is_punct(src, '{') {
                        depth += 1;
                    } else if t.is_punct(src, ')') || t.is_punct(src, ']') || t.is_punct(src, '}') {
                        depth = depth.saturating_sub(1);
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    self.pos += 1;
                }
                let last = &self.tokens[self.pos - 1];
                let text = src[t.start..last.end].to_owned();
                let len = text.chars().count();
                Some(Item {
                    value: Value::Expr(text),
                    span: Span { len, ..span },
                })
            }
        }
    }
}

fn number(text: &str, negative: bool) -> Value {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let parsed = if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()
    } else {
        clean.parse::<i64>().ok()
    };
    match parsed {
        Some(n) => Value::Int(if negative { -n } else { n }),
        None => {
            let f = clean.parse::<f64>().unwrap_or(f64::NAN);
            Value::Float(if negative { -f } else { f })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::scanner::scan;

    fn parse_src(src: &str) -> (Option<DeployBlock>, Vec<Diagnostic>) {
        let s = scan(src);
        parse(Path::new("app.tova"), src, &s.tokens, &s.blocks[0])
    }

    #[test]
    fn parses_every_shape_with_spans() {
        let src = "deploy \"prod\" {\n  server: [\"a@h1\", \"h2:2222\"]\n  instances: 2, memory: \"1gb\"\n  restart_on_failure: false\n  env {\n    NODE_ENV: \"production\"\n    RETRIES: -3\n  }\n  db {\n    postgres { name: \"x\", port: 5433 }\n    redis { }\n  }\n}\n";
        let (block, diags) = parse_src(src);
        // berth reads the `,` between fields; Tova's parser would not.
        let got: Vec<_> = diags
            .iter()
            .map(|d| {
                (
                    d.code,
                    d.is_error(),
                    d.span.as_ref().unwrap().line,
                    d.span.as_ref().unwrap().col,
                )
            })
            .collect();
        assert_eq!(got, vec![("B0128", false, 3, 15)]);
        let b = block.unwrap();
        assert_eq!(b.name, "prod");
        assert_eq!(b.props.len(), 4);
        assert_eq!(b.props[0].key_span, Span::new("app.tova", 2, 3, 6));
        assert_eq!(b.props[0].value.span, Span::new("app.tova", 2, 11, 19));
        assert_eq!(b.props[2].value.value, Value::Str("1gb".into()));
        assert_eq!(b.props[2].value.span.col, 25);
        assert_eq!(b.props[3].value.value, Value::Bool(false));
        assert_eq!(b.env[1].value.value, Value::Int(-3));
        assert_eq!(b.db.len(), 2);
        assert_eq!(b.db[0].props[1].value.value, Value::Int(5433));
    }

    #[test]
    fn reports_syntax_errors_and_recovers() {
        let src = "deploy \"prod\" {\n  domain \"x.com\"\n  instances: 2 3\n  health: \"/h\"\n}\n";
        let (block, diags) = parse_src(src);
        let codes: Vec<_> = diags
            .iter()
            .map(|d| (d.code, d.span.as_ref().unwrap().line))
            .collect();
        assert_eq!(codes, vec![("B0101", 2), ("B0101", 3)]);
        // The key without `:` is kept as an already-reported value, so no
        // follow-up "missing property" error is raised for it.
        let b = block.unwrap();
        assert_eq!(b.props.len(), 3);
        assert_eq!(
            (b.props[0].key.as_str(), &b.props[0].value.value),
            ("domain", &Value::Invalid)
        );
    }
}
