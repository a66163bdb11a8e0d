//! Diagnostics: a stable code, a message, a source span and a fix hint,
//! rendered with a caret under the offending text.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Error,
    Warning,
}

/// A position in a source file. Lines and columns are 1-based; `len` is in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) len: usize,
}

impl Span {
    pub(crate) fn new(file: impl Into<PathBuf>, line: usize, col: usize, len: usize) -> Span {
        Span { file: file.into(), line, col, len }
    }

    /// A span that only names a file and a line.
    pub(crate) fn line(file: impl Into<PathBuf>, line: usize) -> Span {
        Span { file: file.into(), line, col: 0, len: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    pub(crate) severity: Severity,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) span: Option<Span>,
    /// The text of the source line, for the caret display.
    pub(crate) source_line: Option<String>,
    pub(crate) hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            source_line: None,
            hint: None,
        }
    }

    pub(crate) fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Attach a span; the source line is read from `source` when given.
    pub(crate) fn at(mut self, span: Span, source: Option<&str>) -> Diagnostic {
        if let Some(text) = source {
            self.source_line = text.lines().nth(span.line.saturating_sub(1)).map(str::to_owned);
        }
        self.span = Some(span);
        self
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` (or `file:line`) of the diagnostic, if it has a span.
    pub(crate) fn location(&self) -> Option<String> {
        self.span.as_ref().map(|s| {
            if s.col > 0 {
                format!("{}:{}:{}", display_path(&s.file), s.line, s.col)
            } else {
                format!("{}:{}", display_path(&s.file), s.line)
            }
        })
    }
}

pub(crate) fn display_path(path: &Path) -> String {
    path.display().to_string()
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{label}[{}]: {}", self.code, self.message)?;
        if let Some(span) = &self.span {
            let gutter = span.line.to_string().len();
            writeln!(f, "{:gutter$}--> {}", "", self.location().unwrap_or_default())?;
            if let Some(line) = &self.source_line {
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", span.line, line)?;
                if span.col > 0 {
                    let pad: String = line
                        .chars()
                        .take(span.col - 1)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    let carets = "^".repeat(span.len.max(1));
                    writeln!(f, "{:gutter$} | {pad}{carets}", "")?;
                }
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "  = help: {hint}")?;
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn renders_caret_under_span() {
        let src = "deploy \"prod\" {\n  keep_release: 5\n}\n";
        let d = Diagnostic::error("B0102", "unknown property `keep_release`")
            .at(Span::new("app.tova", 2, 3, 12), Some(src))
            .hint("did you mean `keep_releases`?");
        assert_eq!(
            d.to_string(),
            "error[B0102]: unknown property `keep_release`\n --> app.tova:2:3\n  |\n2 |   keep_release: 5\n  |   ^^^^^^^^^^^^\n  = help: did you mean `keep_releases`?\n"
        );
    }
}
