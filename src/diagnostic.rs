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
        Span {
            file: file.into(),
            line,
            col,
            len,
        }
    }

    /// A span that only names a file and a line.
    pub(crate) fn line(file: impl Into<PathBuf>, line: usize) -> Span {
        Span {
            file: file.into(),
            line,
            col: 0,
            len: 0,
        }
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
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Attach a span; the source line is read from `source` when given.
    pub(crate) fn at(mut self, span: Span, source: Option<&str>) -> Diagnostic {
        if let Some(text) = source {
            self.source_line = text
                .lines()
                .nth(span.line.saturating_sub(1))
                .map(str::to_owned);
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
            writeln!(
                f,
                "{:gutter$}--> {}",
                "",
                self.location().unwrap_or_default()
            )?;
            if let Some(line) = &self.source_line {
                let (shown, col) = excerpt(line, span.col);
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", span.line, shown)?;
                if col > 0 {
                    let pad: String = shown
                        .chars()
                        .take(col - 1)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    let carets = "^".repeat(span.len.clamp(1, EXCERPT_WIDTH));
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

/// The widest source excerpt shown, in characters.
const EXCERPT_WIDTH: usize = 100;

/// The part of a source line worth showing: at most `EXCERPT_WIDTH`
/// characters around column `col` (elided ends marked `…`), with control
/// characters shown as `�` so hostile input cannot drive the terminal.
/// Returns the text and the column within it.
fn excerpt(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    let clean = |c: &char| {
        if c.is_control() && *c != '\t' {
            '\u{fffd}'
        } else {
            *c
        }
    };
    if chars.len() <= EXCERPT_WIDTH {
        return (chars.iter().map(clean).collect(), col);
    }
    let at = col.saturating_sub(1).min(chars.len());
    let start = at
        .saturating_sub(EXCERPT_WIDTH / 2)
        .min(chars.len().saturating_sub(EXCERPT_WIDTH));
    let end = (start + EXCERPT_WIDTH).min(chars.len());
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(chars[start..end].iter().map(clean));
    if end < chars.len() {
        shown.push('…');
    }
    let col = if col == 0 {
        0
    } else {
        at - start + 1 + usize::from(start > 0)
    };
    (shown, col)
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

    #[test]
    fn long_lines_are_cut_around_the_column_and_controls_are_not_printed() {
        let line = format!("{}BAD{}", "a".repeat(5000), "b".repeat(5000));
        let d = Diagnostic::error("B0701", "x").at(Span::new("f.yml", 1, 5001, 3), Some(&line));
        let out = d.to_string();
        assert!(out.lines().all(|l| l.chars().count() < 120), "{out}");
        let shown = out.lines().nth(3).unwrap();
        let carets = out.lines().nth(4).unwrap();
        let at = carets.chars().position(|c| c == '^').unwrap();
        let under: String = shown.chars().skip(at).take(3).collect();
        assert_eq!(under, "BAD", "{out}");
        let d =
            Diagnostic::error("B0701", "x").at(Span::new("f.yml", 1, 1, 1), Some("\u{1b}[31mred"));
        assert!(!d.to_string().contains('\u{1b}'));
    }
}
