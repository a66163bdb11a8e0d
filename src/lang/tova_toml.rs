//! `tova.toml` as Tova reads it — `[project] name` and `entry`, `[build]
//! output`, `[deploy] base` — plus berth's own settings under
//! `[deploy.<env>]`, which Tova's lenient reader tolerates (its deploy-block
//! analyzer rejects every key beyond seed 003's). Every value keeps its
//! span, so the manifest validates TOML settings exactly like deploy-block
//! properties, with the same file:line diagnostics.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::deploy_parser::{Item, Prop, Value};
use super::facts::Located;
use crate::diagnostic::{Diagnostic, Span};

/// The project file's name.
pub(crate) const FILE: &str = "tova.toml";

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TovaToml {
    /// Project-relative path of the file (for diagnostics).
    pub(crate) path: PathBuf,
    /// `[project] name`.
    pub(crate) name: Option<Located<String>>,
    /// `[project] entry`: the folder Tova compiles (Tova's default `src`).
    pub(crate) entry: Option<Located<String>>,
    /// `[build] output`: where `tova build` writes the bundle.
    pub(crate) output: Option<Located<String>>,
    /// `[deploy] base`: the URL prefix of the bundle's files (`<base>.tova-out/…`).
    pub(crate) base: Option<Located<String>>,
    /// `[deploy.<env>]` tables: the env name and its settings as deploy properties.
    pub(crate) envs: Vec<(Located<String>, Vec<Prop>)>,
}

/// Byte offsets → 1-based line and column (in characters).
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    fn span(&self, file: &Path, range: std::ops::Range<usize>) -> Span {
        let start = range.start.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= start);
        let line_start = self.starts[line - 1];
        let col = self
            .text
            .get(line_start..start)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        let end = range.end.clamp(start, self.text.len());
        // Carets stay on the first line of a multi-line value.
        let text = self.text.get(start..end).unwrap_or("");
        let len = text.split('\n').next().unwrap_or("").chars().count().max(1);
        Span::new(file, line, col, len)
    }
}

/// Reads the file's text. Syntax errors and misplaced keys are diagnostics;
/// what parsed is returned alongside them.
pub(crate) fn parse(path: &Path, text: &str) -> (TovaToml, Vec<Diagnostic>) {
    let lines = Lines::new(text);
    let mut out = TovaToml {
        path: path.to_path_buf(),
        ..TovaToml::default()
    };
    let mut diags = Vec::new();
    let table = match DeTable::parse(text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let span = lines.span(path, e.span().unwrap_or(0..0));
            let message = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .trim()
                .to_owned();
            diags.push(
                Diagnostic::error("B0129", format!("{FILE} is not valid TOML: {message}"))
                    .at(span, Some(text))
                    .hint("fix the TOML syntax; `tova build` reads the same file"),
            );
            return (out, diags);
        }
    };
    let mut cx = Cx {
        path,
        text,
        lines: &lines,
        diags: &mut diags,
    };
    for (key, value) in table.iter() {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("project", DeValue::Table(t)) => {
                out.name = cx.string_of(t, "project", "name");
                out.entry = cx.string_of(t, "project", "entry");
            }
            ("build", DeValue::Table(t)) => out.output = cx.string_of(t, "build", "output"),
            ("deploy", DeValue::Table(t)) => cx.deploy(t, &mut out),
            _ => {}
        }
    }
    (out, diags)
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    lines: &'a Lines<'a>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Cx<'_> {
    fn span(&self, range: std::ops::Range<usize>) -> Span {
        self.lines.span(self.path, range)
    }

    fn error(
        &mut self,
        code: &'static str,
        message: String,
        range: std::ops::Range<usize>,
        hint: String,
    ) {
        let d = Diagnostic::error(code, message)
            .at(self.span(range), Some(self.text))
            .hint(hint);
        self.diags.push(d);
    }

    /// `[section] key`, which must be a string when present.
    fn string_of(
        &mut self,
        table: &DeTable<'_>,
        section: &str,
        key: &str,
    ) -> Option<Located<String>> {
        let (_, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Located {
                value: s.to_string(),
                span: self.span(v.span()),
            }),
            other => {
                let found = other.type_str();
                self.error(
                    "B0103",
                    format!("`[{section}] {key}` expects a string, found {found}"),
                    v.span(),
                    format!("write `{key} = \"…\"`"),
                );
                None
            }
        }
    }

    /// `[deploy]`: `base`, and one table per environment.
    fn deploy(&mut self, table: &DeTable<'_>, out: &mut TovaToml) {
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            match value.get_ref() {
                DeValue::Table(settings) => {
                    let env = Located { value: name.to_owned(), span: self.span(key.span()) };
                    let props = settings.iter().map(|(k, v)| self.prop(k, v)).collect();
                    out.envs.push((env, props));
                }
                _ if name == "base" => out.base = self.string_of(table, "deploy", "base"),
                _ => self.error(
                    "B0102",
                    format!("unknown setting `{name}` in `[deploy]`"),
                    key.span(),
                    format!("`[deploy]` holds `base` (Tova's); put berth settings in a table per environment: `[deploy.prod]` then `{name} = …`"),
                ),
            }
        }
    }

    fn prop(&self, key: &Spanned<std::borrow::Cow<'_, str>>, value: &Spanned<DeValue<'_>>) -> Prop {
        Prop {
            key: key.get_ref().to_string(),
            key_span: self.span(key.span()),
            value: self.item(value),
        }
    }

    fn item(&self, v: &Spanned<DeValue<'_>>) -> Item {
        let span = self.span(v.span());
        let value = match v.get_ref() {
            DeValue::String(s) => Value::Str(s.to_string()),
            DeValue::Integer(i) => {
                match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                    Ok(n) => Value::Int(n),
                    Err(_) => Value::Expr(i.as_str().to_owned()),
                }
            }
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse()
                .map(Value::Float)
                .unwrap_or(Value::Expr(f.as_str().to_owned())),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Array(items) => Value::List(items.iter().map(|i| self.item(i)).collect()),
            DeValue::Datetime(d) => Value::Expr(d.to_string()),
            DeValue::Table(_) => Value::Expr(self.text.get(v.span()).unwrap_or("{ … }").to_owned()),
        };
        Item { value, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (TovaToml, Vec<Diagnostic>) {
        parse(Path::new(FILE), text)
    }

    #[test]
    fn reads_what_tova_reads_and_berth_settings_with_spans() {
        // `tova new APP --template fullstack` writes the first four sections.
        let text = "[project]\nname = \"fs\"\nversion = \"0.1.0\"\nentry = \"src\"\n\n[build]\noutput = \".tova-out\"\n\n[dev]\nport = 3000\n\n[npm]\n\n[deploy]\nbase = \"/app\"\n\n[deploy.prod]\ntls = \"internal\"\nrolling = 1\nmax_fail = \"34%\"\nservers = [\"a\", 'b']\n";
        let (t, d) = read(text);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(t.name.as_ref().unwrap().value, "fs");
        assert_eq!(t.name.as_ref().unwrap().span, Span::new(FILE, 2, 8, 4));
        assert_eq!(t.entry.unwrap().value, "src");
        assert_eq!(t.output.unwrap().value, ".tova-out");
        assert_eq!(t.base.unwrap().value, "/app");
        let (env, props) = &t.envs[0];
        assert_eq!((env.value.as_str(), env.span.line), ("prod", 17));
        let got: Vec<_> = props
            .iter()
            .map(|p| (p.key.as_str(), p.key_span.line, p.value.value.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tls", 18, Value::Str("internal".into())),
                ("rolling", 19, Value::Int(1)),
                ("max_fail", 20, Value::Str("34%".into())),
                (
                    "servers",
                    21,
                    Value::List(vec![
                        Item {
                            value: Value::Str("a".into()),
                            span: Span::new(FILE, 21, 12, 3)
                        },
                        Item {
                            value: Value::Str("b".into()),
                            span: Span::new(FILE, 21, 17, 3)
                        },
                    ])
                ),
            ]
        );
        assert_eq!(props[0].value.span, Span::new(FILE, 18, 7, 10));
    }

    #[test]
    fn syntax_errors_and_misplaced_keys_have_locations() {
        let (_, d) = read("[project]\nname = \"fs\nentry = 1\n");
        assert_eq!(d[0].code, "B0129");
        assert_eq!(d[0].span.as_ref().unwrap().line, 2);

        let (t, d) = read("[project]\nname = 3\n[deploy]\ntls = \"off\"\nbase = \"/\"\n");
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.code, d.span.as_ref().unwrap().line))
            .collect();
        assert_eq!(got, vec![("B0103", 2), ("B0102", 4)]);
        assert!(t.name.is_none());
        assert_eq!(t.base.unwrap().value, "/");
    }

    #[test]
    fn non_ascii_columns_count_characters() {
        let (t, _) = read("# é\n[deploy.prod]\napp = \"é\" \n");
        assert_eq!(t.envs[0].1[0].value.span, Span::new(FILE, 3, 7, 3));
    }
}
