//! Tokens of the tolerant Tova lexer. A token owns only offsets into its source,
//! so a file's token list is cheap and the source stays the single owner of text.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    /// A string literal (`"…"`, `'…'`, `"""…"""`).
    Str,
    Number,
    Regex,
    /// One ASCII punctuation character.
    Punct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    /// Byte range in the source.
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// 1-based line and column (in characters) of the first character.
    pub(crate) line: usize,
    pub(crate) col: usize,
    /// Length in characters, for carets.
    pub(crate) len: usize,
    /// The unescaped value of a string without interpolation.
    pub(crate) value: Option<String>,
    /// A string holding `{expr}` interpolation.
    pub(crate) interpolated: bool,
    /// False when a string, comment or regex ran into the end of the file.
    pub(crate) terminated: bool,
}

impl Token {
    pub(crate) fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }

    pub(crate) fn is_punct(&self, src: &str, c: char) -> bool {
        self.kind == TokenKind::Punct && src.as_bytes()[self.start] == c as u8
    }
}
