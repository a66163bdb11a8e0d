//! A tolerant lexer for any Tova file. It never fails: unterminated strings and
//! comments run to the end of the file and are flagged on the token. It knows
//! exactly enough Tova to never mistake text inside strings (with nested
//! `{interpolation}`), comments (`//`, nested `/* */`) or regex literals for code.

use super::token::{Token, TokenKind};

/// Tova keywords: after them a `/` starts a regex, as in Tova's own lexer
/// (`true`, `false` and `nil` are values and are not listed).
const NON_VALUE_WORDS: &[&str] = &[
    "var",
    "let",
    "fn",
    "return",
    "if",
    "elif",
    "else",
    "for",
    "while",
    "match",
    "type",
    "import",
    "from",
    "export",
    "as",
    "and",
    "or",
    "not",
    "in",
    "break",
    "continue",
    "try",
    "catch",
    "finally",
    "async",
    "await",
    "guard",
    "interface",
    "derive",
    "pub",
    "impl",
    "trait",
    "defer",
    "mut",
    "yield",
    "loop",
    "when",
    "extern",
    "default",
    "is",
    "with",
    "server",
    "browser",
    "client",
    "shared",
    "route",
    "state",
    "computed",
    "effect",
    "component",
    "store",
    "form",
    "field",
    "group",
    "steps",
];

pub(crate) struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    line: usize,
    col: usize,
    tokens: Vec<Token>,
    /// Unterminated block comments: (line, col).
    pub(crate) open_comments: Vec<(usize, usize)>,
}

pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    pub(crate) open_comments: Vec<(usize, usize)>,
}

pub(crate) fn lex(src: &str) -> Lexed {
    let mut lexer = Lexer {
        src,
        b: src.as_bytes(),
        pos: 0,
        line: 1,
        col: 1,
        tokens: Vec::with_capacity(src.len() / 4),
        open_comments: Vec::new(),
    };
    lexer.run();
    Lexed {
        tokens: lexer.tokens,
        open_comments: lexer.open_comments,
    }
}

impl<'a> Lexer<'a> {
    fn peek(&self, n: usize) -> u8 {
        self.b.get(self.pos + n).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn bump(&mut self) {
        let c = self.b[self.pos];
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if c & 0xC0 != 0x80 {
            self.col += 1;
        }
    }

    fn run(&mut self) {
        if self.b.starts_with(b"#!") {
            self.skip_line();
        }
        while !self.at_end() {
            let c = self.peek(0);
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => self.bump(),
                // `//` right after `:` is a URL in JSX text (`<a>https://x.io</a>`), not a comment.
                b'/' if self.peek(1) == b'/' && !self.after_colon() => self.skip_line(),
                b'/' if self.peek(1) == b'*' => self.skip_block_comment(),
                b'"' | b'\'' => self.string(),
                b'/' if self.regex_allowed() => self.regex_or_punct(),
                b'0'..=b'9' => self.number(),
                c if c == b'_' || c == b'$' || c.is_ascii_alphabetic() || c >= 0x80 => self.ident(),
                _ => {
                    let (start, line, col) = (self.pos, self.line, self.col);
                    self.bump();
                    self.push(TokenKind::Punct, start, line, col);
                }
            }
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize, line: usize, col: usize) -> &mut Token {
        let len = self.src[start..self.pos].chars().count();
        self.tokens.push(Token {
            kind,
            start,
            end: self.pos,
            line,
            col,
            len,
            value: None,
            interpolated: false,
            terminated: true,
        });
        self.tokens.last_mut().expect("just pushed")
    }

    fn after_colon(&self) -> bool {
        self.pos > 0 && self.b[self.pos - 1] == b':'
    }

    fn skip_line(&mut self) {
        while !self.at_end() && self.peek(0) != b'\n' {
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        let (line, col) = (self.line, self.col);
        self.bump();
        self.bump();
        let mut depth = 1;
        while !self.at_end() {
            if self.peek(0) == b'/' && self.peek(1) == b'*' {
                depth += 1;
                self.bump();
                self.bump();
            } else if self.peek(0) == b'*' && self.peek(1) == b'/' {
                depth -= 1;
                self.bump();
                self.bump();
                if depth == 0 {
                    return;
                }
            } else {
                self.bump();
            }
        }
        self.open_comments.push((line, col));
    }

    fn ident(&mut self) {
        let (start, line, col) = (self.pos, self.line, self.col);
        while !self.at_end() {
            let c = self.peek(0);
            if c == b'_' || c == b'$' || c.is_ascii_alphanumeric() || c >= 0x80 {
                self.bump();
            } else {
                break;
            }
        }
        self.push(TokenKind::Ident, start, line, col);
    }

    fn number(&mut self) {
        let (start, line, col) = (self.pos, self.line, self.col);
        if self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X' | b'b' | b'B' | b'o' | b'O') {
            self.bump();
            self.bump();
            while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' {
                self.bump();
            }
        } else {
            while self.peek(0).is_ascii_digit() || self.peek(0) == b'_' {
                self.bump();
            }
            if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
                self.bump();
                while self.peek(0).is_ascii_digit() || self.peek(0) == b'_' {
                    self.bump();
                }
            }
            if matches!(self.peek(0), b'e' | b'E')
                && (self.peek(1).is_ascii_digit()
                    || (matches!(self.peek(1), b'+' | b'-') && self.peek(2).is_ascii_digit()))
            {
                self.bump();
                self.bump();
                while self.peek(0).is_ascii_digit() {
                    self.bump();
                }
            }
        }
        self.push(TokenKind::Number, start, line, col);
    }

    /// A `/` starts a regex unless the previous token ends a value, or it closes a JSX tag (`</`).
    fn regex_allowed(&self) -> bool {
        if matches!(self.peek(1), b'=' | b' ' | b'\t' | b'\n' | b'\r') {
            return false;
        }
        match self.tokens.last() {
            None => true,
            Some(t) => match t.kind {
                TokenKind::Ident => NON_VALUE_WORDS.contains(&t.text(self.src)),
                TokenKind::Str | TokenKind::Number | TokenKind::Regex => false,
                TokenKind::Punct => !matches!(self.b[t.start], b')' | b']' | b'}' | b'<'),
            },
        }
    }

    /// A regex literal must close on its own line; otherwise the `/` is an operator.
    fn regex_or_punct(&mut self) {
        let mut i = self.pos + 1;
        let mut in_class = false;
        let end = loop {
            match self.b.get(i) {
                None | Some(b'\n') => break None,
                Some(b'\\') => i += 2,
                Some(b'[') => {
                    in_class = true;
                    i += 1
                }
                Some(b']') => {
                    in_class = false;
                    i += 1
                }
                Some(b'/') if !in_class => break Some(i + 1),
                Some(_) => i += 1,
            }
        };
        let (start, line, col) = (self.pos, self.line, self.col);
        match end {
            Some(mut end) => {
                while self.b.get(end).is_some_and(|c| c.is_ascii_alphabetic()) {
                    end += 1;
                }
                while self.pos < end.min(self.b.len()) {
                    self.bump();
                }
                self.push(TokenKind::Regex, start, line, col);
            }
            None => {
                self.bump();
                self.push(TokenKind::Punct, start, line, col);
            }
        }
    }

    fn string(&mut self) {
        let (start, line, col) = (self.pos, self.line, self.col);
        let mut value = String::new();
        let mut interpolated = false;
        let terminated = if self.peek(0) == b'"' && self.peek(1) == b'"' && self.peek(2) == b'"' {
            for _ in 0..3 {
                self.bump();
            }
            self.string_body(b"\"\"\"", true, &mut value, &mut interpolated)
        } else if self.peek(0) == b'"' {
            self.bump();
            self.string_body(b"\"", true, &mut value, &mut interpolated)
        } else {
            self.bump();
            self.string_body(b"'", false, &mut value, &mut interpolated)
        };
        let token = self.push(TokenKind::Str, start, line, col);
        token.terminated = terminated;
        token.interpolated = interpolated;
        if !interpolated {
            token.value = Some(value);
        }
    }

    /// Scans up to and past `close`; returns false at the end of the file.
    fn string_body(
        &mut self,
        close: &[u8],
        interp: bool,
        value: &mut String,
        interpolated: &mut bool,
    ) -> bool {
        loop {
            if self.at_end() {
                return false;
            }
            if self.b[self.pos..].starts_with(close) {
                for _ in 0..close.len() {
                    self.bump();
                }
                return true;
            }
            let c = self.peek(0);
            if c == b'\\' {
                self.bump();
                if self.at_end() {
                    return false;
                }
                let e = self.peek(0);
                match e {
                    b'n' => value.push('\n'),
                    b't' => value.push('\t'),
                    b'r' => value.push('\r'),
                    b'0' => value.push('\0'),
                    _ => {
                        let ch = self.src[self.pos..].chars().next().unwrap_or('\\');
                        value.push(ch);
                        for _ in 1..ch.len_utf8() {
                            self.bump();
                        }
                    }
                }
                self.bump();
            } else if c == b'{' && interp {
                *interpolated = true;
                self.bump();
                if !self.skip_interpolation() {
                    return false;
                }
            } else {
                let ch = self.src[self.pos..].chars().next().unwrap_or('\u{fffd}');
                value.push(ch);
                for _ in 0..ch.len_utf8() {
                    self.bump();
                }
            }
        }
    }

    /// Skips an interpolated expression up to its closing `}`; strings inside may nest.
    fn skip_interpolation(&mut self) -> bool {
        let mut depth = 1usize;
        let mut scratch = String::new();
        let mut flag = false;
        while !self.at_end() {
            match self.peek(0) {
                b'{' => {
                    depth += 1;
                    self.bump();
                }
                b'}' => {
                    depth -= 1;
                    self.bump();
                    if depth == 0 {
                        return true;
                    }
                }
                b'"' => {
                    self.bump();
                    scratch.clear();
                    if !self.string_body(b"\"", true, &mut scratch, &mut flag) {
                        return false;
                    }
                }
                b'\'' => {
                    self.bump();
                    scratch.clear();
                    if !self.string_body(b"'", false, &mut scratch, &mut flag) {
                        return false;
                    }
                }
                b'`' => {
                    self.bump();
                    if !self.skip_template() {
                        return false;
                    }
                }
                _ => self.bump(),
            }
        }
        false
    }

    /// A JavaScript template literal inside an interpolation (`` `a ${b}` ``).
    fn skip_template(&mut self) -> bool {
        while !self.at_end() {
            match self.peek(0) {
                b'\\' => {
                    self.bump();
                    if !self.at_end() {
                        self.bump();
                    }
                }
                b'`' => {
                    self.bump();
                    return true;
                }
                b'$' if self.peek(1) == b'{' => {
                    self.bump();
                    self.bump();
                    if !self.skip_interpolation() {
                        return false;
                    }
                }
                _ => self.bump(),
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, String)> {
        lex(src)
            .tokens
            .iter()
            .map(|t| (t.kind, t.text(src).to_owned()))
            .collect()
    }

    #[test]
    fn braces_inside_interpolated_strings_are_not_code() {
        let src = r#"x = "a {f("}")} b" }"#;
        let toks = kinds(src);
        assert_eq!(toks[2].0, TokenKind::Str);
        assert_eq!(toks[2].1, r#""a {f("}")} b""#);
        assert_eq!(toks[3].1, "}");
        assert!(lex(src).tokens[2].interpolated);
    }

    #[test]
    fn comments_nest_and_vanish() {
        let src = "a /* x /* { */ } */ b // }\nc";
        let toks: Vec<String> = kinds(src).into_iter().map(|t| t.1).collect();
        assert_eq!(toks, vec!["a", "b", "c"]);
    }

    #[test]
    fn regex_versus_division() {
        let src = "x = a / b / c\ny = /[}\\/]+/g.test(s)";
        let toks = kinds(src);
        assert!(toks
            .iter()
            .any(|t| t.0 == TokenKind::Regex && t.1 == "/[}\\/]+/g"));
        assert_eq!(toks.iter().filter(|t| t.1 == "/").count(), 2);
    }

    #[test]
    fn jsx_closing_tag_is_not_a_regex() {
        let src = "<p>{a}</p> <b>{c}</b>";
        assert!(kinds(src).iter().all(|t| t.0 != TokenKind::Regex));
    }

    #[test]
    fn url_in_jsx_text_is_not_a_comment() {
        let src = "if c { <a href={u}>https://x.io</a> }";
        let toks = kinds(src);
        assert_eq!(toks.last().unwrap().1, "}");
        assert_eq!(toks.iter().filter(|t| t.1 == "{").count(), 2);
    }

    #[test]
    fn string_values_unescape_and_track_columns() {
        let src = "é 'it\\'s' \"\"\"multi\nline\"\"\" \"open";
        let l = lex(src);
        assert_eq!(l.tokens[1].value.as_deref(), Some("it's"));
        assert_eq!(l.tokens[1].col, 3);
        assert_eq!(l.tokens[2].value.as_deref(), Some("multi\nline"));
        assert!(!l.tokens[3].terminated);
        assert_eq!(l.tokens[3].line, 2);
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let src = "server { x = \"a {b \"c {d";
        for i in 0..=src.len() {
            if src.is_char_boundary(i) {
                let _ = lex(&src[..i]);
            }
        }
        let _ = lex("/* open");
        let _ = lex("\"\\");
        let _ = lex("'\\é");
    }
}
