//! `replace`: substitute every match of a Python regular expression
//! (MULTILINE) in a file, optionally only in the section between `after` and
//! `before`, with `re.subn`'s rules: the replacement template's escapes and
//! group references (`\1`, `\g<1>`, `\g<name>`), and Python 3.7+ handling
//! of empty matches (one right after a non-empty match counts).

use regex::Regex;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::codec::Codec;
use crate::modules::py_re::translate;
use crate::modules::remote_file::{self, apply_edit, finish, Attrs, Edit, Kind, Probe, Stop};
use crate::modules::{FileDiff, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "path",
    "dest",
    "destfile",
    "name",
    "regexp",
    "replace",
    "after",
    "before",
    "backup",
    "validate",
    "encoding",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("replace", args)))
}

/// A Python regular expression compiled with extra flags (`m`, `s`),
/// keeping its group numbers and names.
pub(crate) fn py_compile(pattern: &str, flags: &str) -> Result<Regex, String> {
    let body = translate(pattern)?;
    Regex::new(&format!("(?{flags}){body}")).map_err(|e| {
        format!(
            "invalid regular expression {pattern:?}: {}",
            e.to_string().lines().last().unwrap_or("").trim()
        )
    })
}

/// One piece of a parsed replacement template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Group(usize),
}

/// A replacement template parsed like Python's `re._parser.parse_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

/// Why a template is refused: Python raises `re.error` (which the module
/// reports as "Unable to process replace ...") or `IndexError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    Re(String),
    Index(String),
}

/// Python's `repr()` of a string (enough for group names).
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Python's `int(name)` for a group number (whitespace, sign, `_` between digits).
fn py_int(name: &str) -> Option<i64> {
    let t = name.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

impl Template {
    /// Parse `source` for a pattern with `groups` groups named by `names`.
    pub(crate) fn parse(source: &str, re: &Regex) -> Result<Template, TemplateError> {
        let groups = re.captures_len() - 1;
        let s: Vec<char> = source.chars().collect();
        let err = |msg: String, pos: usize| TemplateError::Re(format!("{msg} at position {pos}"));
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        let add_group = |pieces: &mut Vec<Piece>,
                         lit: &mut String,
                         index: usize,
                         pos: usize|
         -> Result<(), TemplateError> {
            if index > groups {
                return Err(err(format!("invalid group reference {index}"), pos));
            }
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(lit)));
            }
            pieces.push(Piece::Group(index));
            Ok(())
        };
        while i < s.len() {
            let c = s[i];
            if c != '\\' {
                lit.push(c);
                i += 1;
                continue;
            }
            let Some(&e) = s.get(i + 1) else {
                return Err(err("bad escape (end of pattern)".into(), i));
            };
            match e {
                'g' => {
                    if s.get(i + 2) != Some(&'<') {
                        return Err(err("missing <".into(), i + 2));
                    }
                    let start = i + 3;
                    let Some(len) = s[start..].iter().position(|c| *c == '>') else {
                        if start == s.len() {
                            return Err(err("missing group name".into(), s.len()));
                        }
                        return Err(err("missing >, unterminated name".into(), start));
                    };
                    if len == 0 {
                        return Err(err("missing group name".into(), start));
                    }
                    let name: String = s[start..start + len].iter().collect();
                    let index = if is_identifier(&name) {
                        match re.capture_names().position(|n| n == Some(name.as_str())) {
                            Some(n) => n,
                            None => {
                                return Err(TemplateError::Index(format!(
                                    "unknown group name {}",
                                    py_repr(&name)
                                )))
                            }
                        }
                    } else {
                        match py_int(&name) {
                            Some(n) if n >= 0 => n as usize,
                            _ => {
                                return Err(err(
                                    format!("bad character in group name {}", py_repr(&name)),
                                    start,
                                ))
                            }
                        }
                    };
                    add_group(&mut pieces, &mut lit, index, start)?;
                    i = start + len + 1;
                }
                '0' => {
                    let mut j = i + 2;
                    while j < s.len() && j < i + 4 && ('0'..='7').contains(&s[j]) {
                        j += 1;
                    }
                    let digits: String = s[i + 1..j].iter().collect();
                    let v = u32::from_str_radix(&digits, 8).unwrap_or(0) & 0xff;
                    lit.push(char::from_u32(v).unwrap_or('\0'));
                    i = j;
                }
                '1'..='9' => {
                    let oct = |c: char| ('0'..='7').contains(&c);
                    match (s.get(i + 2).copied(), s.get(i + 3).copied()) {
                        (Some(d2), Some(d3))
                            if d2.is_ascii_digit() && oct(e) && oct(d2) && oct(d3) =>
                        {
                            let digits: String = [e, d2, d3].iter().collect();
                            let v = u32::from_str_radix(&digits, 8).unwrap_or(0);
                            if v > 0o377 {
                                return Err(err(
                                    format!(
                                        "octal escape value \\{digits} outside of range 0-0o377"
                                    ),
                                    i,
                                ));
                            }
                            lit.push(char::from_u32(v).unwrap_or('\0'));
                            i += 4;
                        }
                        (Some(d2), _) if d2.is_ascii_digit() => {
                            let n = (e as usize - '0' as usize) * 10 + (d2 as usize - '0' as usize);
                            add_group(&mut pieces, &mut lit, n, i + 1)?;
                            i += 3;
                        }
                        _ => {
                            add_group(&mut pieces, &mut lit, e as usize - '0' as usize, i + 1)?;
                            i += 2;
                        }
                    }
                }
                _ => {
                    let mapped = match e {
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        'f' => Some('\x0c'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        'v' => Some('\x0b'),
                        '\\' => Some('\\'),
                        _ => None,
                    };
                    match mapped {
                        Some(m) => lit.push(m),
                        None if e.is_ascii_alphabetic() => {
                            return Err(err(format!("bad escape \\{e}"), i))
                        }
                        None => {
                            lit.push('\\');
                            lit.push(e);
                        }
                    }
                    i += 2;
                }
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template(pieces))
    }

    fn expand(&self, caps: &regex::Captures<'_>, out: &mut String) {
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Group(n) => out.push_str(caps.get(*n).map(|m| m.as_str()).unwrap_or("")),
            }
        }
    }
}

/// Python's `re.subn(re, template, text)`: the new text and the number of
/// replacements. After an empty match the next match may not be empty at
/// the same place: Python then tries the pattern's other alternatives there,
/// berth (whose regex engine reports one match per place) moves one
/// character on — the two differ only for patterns that prefer an empty
/// match where a longer one exists (`x*?`, `|a`, `^|foo`).
pub(crate) fn subn(re: &Regex, template: &Template, text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut pos = 0;
    let mut count = 0;
    let mut must_advance = false;
    while pos <= text.len() {
        let Some(caps) = re.captures_at(text, pos) else {
            break;
        };
        let m = caps.get(0).expect("group 0");
        if must_advance && m.start() == pos && m.end() == pos {
            match text[pos..].chars().next() {
                Some(c) => pos += c.len_utf8(),
                None => break,
            }
            must_advance = false;
            continue;
        }
        out.push_str(&text[last..m.start()]);
        template.expand(&caps, &mut out);
        last = m.end();
        count += 1;
        must_advance = m.start() == m.end();
        pos = m.end();
    }
    out.push_str(&text[last..]);
    (out, count)
}

/// The module's decision for one file's text: the new text (when changed)
/// and the message, or the early exit when `after`/`before` do not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Changed { text: String, count: usize },
    Unchanged,
    NoSection(String),
}

/// What `replace` does to `contents`; `Err` is a failure message.
pub(crate) fn decide(
    contents: &str,
    regexp: &str,
    replace: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Decision, String> {
    let pattern = match (after, before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let (start, end) = match &pattern {
        Some(p) => {
            let section_re = py_compile(p, "s")?;
            let Some(caps) = section_re.captures(contents) else {
                return Ok(Decision::NoSection(format!(
                    "Pattern for before/after params did not match the given file: {p}"
                )));
            };
            let sub = caps
                .name("subsection")
                .ok_or("the subsection group did not take part in the match")?;
            (sub.start(), sub.end())
        }
        None => (0, contents.len()),
    };
    let section = &contents[start..end];
    let mre = py_compile(regexp, "m")?;
    let template = match Template::parse(replace, &mre) {
        Ok(t) => t,
        Err(TemplateError::Re(e)) => {
            return Err(format!("Unable to process replace due to error: {e}"))
        }
        Err(TemplateError::Index(e)) => return Err(e),
    };
    let (new_section, count) = subn(&mre, &template, section);
    if count == 0 || new_section == section {
        return Ok(Decision::Unchanged);
    }
    let text = format!("{}{new_section}{}", &contents[..start], &contents[end..]);
    Ok(Decision::Changed { text, count })
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let path = a.first_str(&["path", "dest", "destfile", "name"])?;
    let regexp = a.str("regexp")?;
    let (path, regexp) = match (path, regexp) {
        (Some(p), Some(r)) => (p, r),
        (p, r) => {
            let missing: Vec<&str> = [("path", p.is_none()), ("regexp", r.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(k, _)| *k)
                .collect();
            return Err(format!("missing required arguments: {}", missing.join(", ")).into());
        }
    };
    let replace = a.str("replace")?.unwrap_or_default();
    let after = a.str("after")?.filter(|s| !s.is_empty());
    let before = a.str("before")?.filter(|s| !s.is_empty());
    let backup = a.bool("backup", false)?;
    // Writes are always atomic renames; the flag only allows a fallback Ansible rarely needs.
    a.bool("unsafe_writes", false)?;
    let validate = a.str("validate")?;
    let codec = Codec::lookup(&a.str("encoding")?.unwrap_or_else(|| "utf-8".into()))?;
    let attrs = Attrs::from_args(a)?;
    let path = remote_file::expand_on_host(ctx, &path)?;
    let probes = [Probe::new(&path).follow(true).read(i64::MAX as u64)];
    let facts = remote_file::probe(ctx, &probes, attrs.owner.as_deref(), attrs.group.as_deref())?;
    let st = &facts.stats[0];
    if st.kind == Kind::Dir {
        return Err(Stop::Outcome(
            ModuleOutcome::failed(format!("Path {path} is a directory !")).with("rc", 256),
        ));
    }
    // A dangling symlink does not exist for os.path.exists.
    if !st.exists() || st.kind == Kind::Link {
        return Err(Stop::Outcome(
            ModuleOutcome::failed(format!("Path {path} does not exist !")).with("rc", 257),
        ));
    }
    // Device files are not read (one could be endless); /dev/null reads as
    // empty, as Python reads it.
    let original = match (st.content.as_deref(), st.kind) {
        (Some(c), _) => c,
        (None, Kind::Char) if path == "/dev/null" => &b""[..],
        (None, _) => return Err(format!("Unable to read the contents of '{path}'.").into()),
    };
    let contents = codec.decode(original, &path)?;
    let decision = decide(
        &contents,
        &regexp,
        &replace,
        after.as_deref(),
        before.as_deref(),
    )?;
    let (result, changed, msg) = match &decision {
        Decision::NoSection(msg) => {
            return Ok(ModuleOutcome::ok().with("rc", 0).with("msg", msg.clone()))
        }
        Decision::Unchanged => (original.to_vec(), false, String::new()),
        Decision::Changed { text, count } => (
            codec.encode(text)?,
            true,
            format!("{count} replacements made"),
        ),
    };
    if changed && !ctx.check_mode {
        if let Some(v) = validate.as_deref().filter(|v| !v.contains("%s")) {
            return Err(format!("validate must contain %s: {v}").into());
        }
    }
    let mut out = apply_edit(
        ctx,
        Edit {
            path: &path,
            st,
            facts: &facts,
            attrs: &attrs,
            original: Some(original),
            result,
            changed,
            msg,
            backup,
            validate: validate.as_deref(),
            backup_key: "backup_file",
        },
    )?;
    // Ansible's replace reports its own diff: the whole text, headed by the path.
    out.diffs.clear();
    out.result.remove("diff");
    if let (Decision::Changed { text, .. }, true) = (&decision, ctx.diff_mode) {
        out.diffs.push(FileDiff {
            before_header: path.clone(),
            after_header: path.clone(),
            before: contents.clone(),
            after: text.clone(),
        });
    }
    Ok(out.with("rc", 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        assert_check_predicts, rooted, run_module, setup, snapshot, Entry, Gen, Run,
    };
    use serde_json::json;

    /// (name, initial file, args, changed, msg, file afterwards). Each
    /// expectation was checked with Python 3.11 (`re.subn`) and Ansible's replace.
    fn rows() -> Vec<(
        &'static str,
        &'static str,
        Value,
        bool,
        &'static str,
        &'static str,
    )> {
        vec![
            ("two replacements", "a=1\nb=1\n", json!({"regexp": "=1", "replace": "=2"}), true, "2 replacements made", "a=2\nb=2\n"),
            ("no match", "a\n", json!({"regexp": "zz", "replace": "y"}), false, "", "a\n"),
            ("match replaced by itself", "a\n", json!({"regexp": "a", "replace": "a"}), false, "", "a\n"),
            ("default replace deletes", "a#x\nb\n", json!({"regexp": "#.*$"}), true, "1 replacements made", "a\nb\n"),
            ("multiline anchors", "k 1\nk 2\n", json!({"regexp": "^k (\\d)$", "replace": "v=\\1"}), true, "2 replacements made", "v=1\nv=2\n"),
            ("named and numbered groups", "ab\n", json!({"regexp": "(?P<x>a)(b)", "replace": "\\g<2>\\g<x>\\g<0>"}), true, "1 replacements made", "baab\n"),
            ("unmatched group is empty", "b\n", json!({"regexp": "(a)?b", "replace": "[\\1]"}), true, "1 replacements made", "[]\n"),
            ("template escapes", "x\n", json!({"regexp": "x", "replace": "\\t\\101\\0\\.\\\\"}), true, "1 replacements made", "\tA\0\\.\\\n"),
            ("empty matches as python 3.7", "abxd", json!({"regexp": "x*", "replace": "-"}), true, "5 replacements made", "-a-b--d-"),
            ("caret after final newline", "a\nb\n", json!({"regexp": "^", "replace": ">"}), true, "3 replacements made", ">a\n>b\n>"),
            ("dollar before every newline", "a\nb\n", json!({"regexp": "$", "replace": "<"}), true, "3 replacements made", "a<\nb<\n<"),
            ("dot stops at newline", "a1\nb\n", json!({"regexp": "a.*", "replace": "z"}), true, "1 replacements made", "z\nb\n"),
            ("after section only", "x\n[s]\nx\n", json!({"regexp": "x", "replace": "y", "after": "\\[s\\]"}), true, "1 replacements made", "x\n[s]\ny\n"),
            ("before section only", "x\n[s]\nx\n", json!({"regexp": "x", "replace": "y", "before": "\\[s\\]"}), true, "1 replacements made", "y\n[s]\nx\n"),
            ("between after and before", "x<x>x<x>", json!({"regexp": "x", "replace": "y", "after": "<", "before": ">"}), true, "1 replacements made", "x<y>x<x>"),
            ("section is a string of its own", "ab\nab\n", json!({"regexp": "^b", "replace": "B", "after": "a"}), true, "1 replacements made", "aB\nab\n"),
            ("before after no match", "abc\n", json!({"regexp": "x", "after": "q", "before": "r"}), false, "Pattern for before/after params did not match the given file: q(?P<subsection>.*?)r", "abc\n"),
            ("empty after is unset", "x\n", json!({"regexp": "x", "replace": "y", "after": ""}), true, "1 replacements made", "y\n"),
            ("unicode text", "héllo wörld\n", json!({"regexp": "\\w+", "replace": "<\\g<0>>"}), true, "2 replacements made", "<héllo> <wörld>\n"),
            ("latin-1 file", "caf\u{e9}\n", json!({"regexp": "caf.", "replace": "bar", "encoding": "ISO-8859-1"}), true, "1 replacements made", "bar\n"),
            ("mode only", "a\n", json!({"regexp": "zz", "mode": "0600"}), true, "ownership, perms or SE linux context changed", "a\n"),
            ("content and mode", "a\n", json!({"regexp": "a", "replace": "b", "mode": "0600"}), true, "1 replacements made and ownership, perms or SE linux context changed", "b\n"),
        ]
    }

    #[test]
    fn fixture_table() {
        for (name, initial, args, changed, msg, want) in rows() {
            for check in [true, false] {
                let tmp = tempfile::tempdir().unwrap();
                let root = tmp.path();
                let bytes: Vec<u8> = if args.get("encoding").is_some() {
                    initial.chars().map(|c| c as u8).collect()
                } else {
                    initial.as_bytes().to_vec()
                };
                setup(root, &[Entry::Bytes("f", bytes, 0o644)]);
                let before = snapshot(root);
                let mut args = args.clone();
                args["path"] = json!("{root}/f");
                let (out, calls) = run_module(
                    run,
                    &rooted(&args, root),
                    &Run {
                        check,
                        diff: true,
                        ..Run::default()
                    },
                );
                assert!(!out.is_failed(), "{name}: {out:?}");
                assert_eq!(out.is_changed(), changed, "{name} check={check}: {out:?}");
                assert_eq!(out.result["msg"], json!(msg), "{name}");
                assert_eq!(out.result["rc"], json!(0), "{name}");
                assert_eq!(calls, if changed && !check { 2 } else { 1 }, "{name}");
                let content_changed = msg.contains("replacements made");
                assert_eq!(
                    out.diffs.len(),
                    usize::from(content_changed),
                    "{name}: {:?}",
                    out.diffs
                );
                if check {
                    assert_eq!(snapshot(root), before, "{name}");
                    continue;
                }
                let got = std::fs::read(root.join("f")).unwrap();
                let got: String = if args.get("encoding").is_some() {
                    got.iter().map(|b| *b as char).collect()
                } else {
                    String::from_utf8(got).unwrap()
                };
                assert_eq!(got, want, "{name}");
                if content_changed {
                    assert_eq!(out.diffs[0].after, want, "{name}");
                    assert_eq!(out.diffs[0].before, initial, "{name}");
                    assert_eq!(out.diffs[0].before_header, format!("{}/f", root.display()));
                }
            }
        }
    }

    #[test]
    fn failures_backup_and_validate() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let r = |args: Value| run_module(run, &rooted(&args, root), &Run::default()).0;
        // /dev/null reads as empty (ansible-core's own target), so the bad template is what fails.
        let out = r(
            json!({"path": "/dev/null", "after": "^", "before": "$", "regexp": "\\.", "replace": "\\D"}),
        );
        assert_eq!(
            out.result["msg"],
            json!("Unable to process replace due to error: bad escape \\D at position 0")
        );
        let out = r(json!({"path": "{root}/f", "regexp": "x"}));
        assert_eq!(
            out.result["msg"],
            json!(format!("Path {}/f does not exist !", root.display()))
        );
        assert_eq!(out.result["rc"], json!(257));
        let out = r(json!({"path": "{root}", "regexp": "x"}));
        assert_eq!(
            out.result["msg"],
            json!(format!("Path {} is a directory !", root.display()))
        );
        assert_eq!(out.result["rc"], json!(256));
        assert_eq!(
            r(json!({})).result["msg"],
            json!("missing required arguments: path, regexp")
        );
        assert_eq!(
            r(json!({"path": "x"})).result["msg"],
            json!("missing required arguments: regexp")
        );
        let out = r(json!({"path": "{root}/f", "regexp": "x", "setype": "etc_t"}));
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .starts_with("Unsupported parameters for (replace) module: setype."),
            "{out:?}"
        );
        let out = r(json!({"path": "{root}/f", "regexp": "x", "encoding": "utf-16"}));
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .contains("encoding utf-16 is not supported"),
            "{out:?}"
        );
        setup(
            root,
            &[
                Entry::File("f", "a\n", 0o644),
                Entry::Bytes("bin", vec![0xff, b'a'], 0o644),
            ],
        );
        for (tmpl, msg) in [
            ("\\2", "Unable to process replace due to error: invalid group reference 2 at position 1"),
            ("\\q", "Unable to process replace due to error: bad escape \\q at position 0"),
            ("x\\", "Unable to process replace due to error: bad escape (end of pattern) at position 1"),
            ("\\g<1a>", "Unable to process replace due to error: bad character in group name '1a' at position 3"),
            ("\\g1", "Unable to process replace due to error: missing < at position 2"),
            ("\\g<", "Unable to process replace due to error: missing group name at position 3"),
            ("\\g<x>", "unknown group name 'x'"),
            ("\\777", "Unable to process replace due to error: octal escape value \\777 outside of range 0-0o377 at position 0"),
        ] {
            // Python parses the template before searching: no match is needed to fail.
            let out = r(json!({"path": "{root}/f", "regexp": "(zz)", "replace": tmpl}));
            assert!(out.is_failed(), "{tmpl}");
            assert_eq!(out.result["msg"], json!(msg), "{tmpl}");
        }
        let out = r(json!({"path": "{root}/bin", "regexp": "a"}));
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .contains("is not valid utf-8"),
            "{out:?}"
        );
        let out = r(
            json!({"path": "{root}/f", "regexp": "a", "replace": "\u{20ac}", "encoding": "latin-1"}),
        );
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .contains("can't encode character '\\u20ac'"),
            "{out:?}"
        );
        let out = r(
            json!({"path": "{root}/f", "regexp": "a", "replace": "b", "validate": "grep -q nope %s"}),
        );
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .starts_with("failed to validate: rc:1"),
            "{out:?}"
        );
        assert_eq!(std::fs::read_to_string(root.join("f")).unwrap(), "a\n");
        let out = r(json!({"path": "{root}/f", "regexp": "a", "replace": "b", "validate": "true"}));
        assert_eq!(out.result["msg"], json!("validate must contain %s: true"));
        // In check mode (and when nothing changes) the validate command is never looked at.
        let (out, _) = run_module(
            run,
            &rooted(
                &json!({"path": "{root}/f", "regexp": "a", "replace": "b", "validate": "true"}),
                root,
            ),
            &Run {
                check: true,
                ..Run::default()
            },
        );
        assert!(!out.is_failed() && out.is_changed(), "{out:?}");
        let out = r(
            json!({"path": "{root}/f", "regexp": "a", "replace": "b", "validate": "grep -q b %s", "backup": true}),
        );
        assert_eq!(out.result["msg"], json!("1 replacements made"));
        let b = out.result["backup_file"].as_str().unwrap();
        assert_eq!(std::fs::read_to_string(b).unwrap(), "a\n");
        assert_eq!(std::fs::read_to_string(root.join("f")).unwrap(), "b\n");
        // Through a symlink the real file changes; the link stays.
        setup(root, &[Entry::Link("l", "f")]);
        let out = r(json!({"path": "{root}/l", "regexp": "b", "replace": "c"}));
        assert!(out.is_changed(), "{out:?}");
        assert!(std::fs::symlink_metadata(root.join("l"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(root.join("f")).unwrap(), "c\n");
    }

    #[test]
    fn home_relative_path() {
        let home = std::env::var("HOME").unwrap();
        let tmp = tempfile::tempdir_in(&home).unwrap();
        let name = tmp
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::write(tmp.path().join("f"), "a\n").unwrap();
        let (out, calls) = run_module(
            run,
            &json!({"path": format!("~/{name}/f"), "regexp": "a", "replace": "b"}),
            &Run::default(),
        );
        assert_eq!(out.result["msg"], json!("1 replacements made"), "{out:?}");
        assert_eq!(calls, 3);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("f")).unwrap(),
            "b\n"
        );
    }

    #[test]
    fn template_parse_matches_python() {
        let re = py_compile("(a)(?P<n>b)", "m").unwrap();
        let t = Template::parse(
            "x\\1\\g<0>\\12\\8",
            &Regex::new("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)").unwrap(),
        )
        .unwrap();
        assert_eq!(t.0[0], Piece::Lit("x".into()));
        assert_eq!(
            &t.0[1..],
            &[
                Piece::Group(1),
                Piece::Group(0),
                Piece::Group(12),
                Piece::Group(8)
            ][..]
        );
        let t = Template::parse("\\g<n>\\g< 2 >", &re).unwrap();
        assert_eq!(t.0, vec![Piece::Group(2), Piece::Group(2)]);
        assert_eq!(
            Template::parse("\\3", &re),
            Err(TemplateError::Re(
                "invalid group reference 3 at position 1".into()
            ))
        );
        assert_eq!(
            Template::parse("\\g<-1>", &re),
            Err(TemplateError::Re(
                "bad character in group name '-1' at position 3".into()
            ))
        );
        assert_eq!(
            Template::parse("ab\\g<x", &re),
            Err(TemplateError::Re(
                "missing >, unterminated name at position 5".into()
            ))
        );
        assert_eq!(
            Template::parse("\\g<>", &re),
            Err(TemplateError::Re("missing group name at position 3".into()))
        );
    }

    /// One generated case: the initial file and the arguments (path `{root}/f`).
    fn generate(g: &mut Gen) -> (String, Value) {
        let pool = ["a=1", "b = 2", "# c", "", "[s]", "a=1 a=2", "x"];
        let mut content = String::new();
        for _ in 0..g.below(6) {
            content.push_str(g.pick::<&str>(&pool));
            content.push('\n');
        }
        if g.below(5) == 0 {
            content.push_str("tail");
        }
        let (regexp, replace) = *g.pick(&[
            ("^a=(\\d)", "a=\\1\\1"),
            ("(?P<k>\\w+) = (\\d)", "\\g<k>=\\2"),
            ("^#.*\\n", ""),
            ("1", "1"),
            ("=", " = "),
            ("$", ";"),
            ("^", "> "),
            ("x*", "-"),
            ("\\s+$", ""),
            ("a=\\d", "\\g<0>\\n"),
            ("zz", "y"),
            ("(a)|(b)", "[\\1|\\2]"),
        ]);
        let mut args = json!({"path": "{root}/f", "regexp": regexp, "replace": replace});
        match g.below(5) {
            0 => args["after"] = json!(*g.pick(&["\\[s\\]", "^b", "q"])),
            1 => args["before"] = json!(*g.pick(&["\\[s\\]", "x", "q"])),
            2 => {
                args["after"] = json!("a");
                args["before"] = json!("x");
            }
            _ => {}
        }
        if g.below(4) == 0 {
            args["mode"] = json!(*g.pick(&["0600", "0644"]));
        }
        (content, args)
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(41);
        let mut changes = 0;
        let mut idempotent = 0;
        for i in 0..80 {
            let (initial, args) = generate(&mut g);
            let label = format!("case {i}: {args} on {initial:?}");
            // A scratch copy first: patterns such as `$` or `x*` match again on
            // every run, so the full property (second run unchanged) holds only
            // for the cases whose first real run leaves nothing to replace.
            let scratch = tempfile::tempdir().unwrap();
            std::fs::write(scratch.path().join("f"), &initial).unwrap();
            let sargs = rooted(&args, scratch.path());
            let (check, real) =
                crate::modules::test_support::check_then_real(run, scratch.path(), &sargs, &label);
            assert_eq!(check.result["msg"], real.result["msg"], "{label}");
            changes += usize::from(real.is_changed());
            let (again, _) = run_module(
                run,
                &sargs,
                &Run {
                    check: true,
                    ..Run::default()
                },
            );
            if again.is_changed() {
                continue;
            }
            idempotent += 1;
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join("f"), &initial).unwrap();
            assert_check_predicts(
                run,
                tmp.path(),
                &rooted(&args, tmp.path()),
                &Run::default(),
                &label,
            );
        }
        assert!(
            changes > 10 && idempotent > 20,
            "generator coverage: {changes} changes, {idempotent} idempotent"
        );
    }

    /// The same generated cases through Ansible's own replace.
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut g = Gen::new(77);
        let mut cases: Vec<_> = (0..40).map(|_| generate(&mut g)).collect();
        cases.push((
            "a\n".into(),
            json!({"path": "{root}/f", "regexp": "a", "replace": "\\g<zz>"}),
        ));
        cases.push((
            "a\n".into(),
            json!({"path": "{root}/f", "regexp": "a", "replace": "\\3"}),
        ));
        cases.push((
            "a\n".into(),
            json!({"path": "{root}/missing", "regexp": "a"}),
        ));
        let mut tasks = Vec::new();
        for (i, (initial, args)) in cases.iter().enumerate() {
            for side in ["ansible", "berth"] {
                let dir = root.join(format!("{side}{i}"));
                std::fs::create_dir(&dir).unwrap();
                setup(
                    &dir,
                    &[Entry::Bytes("f", initial.clone().into_bytes(), 0o644)],
                );
            }
            tasks.push(rooted(args, &root.join(format!("ansible{i}"))));
        }
        let Some(expected) = crate::modules::test_support::ansible_results("replace", &tasks, root)
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, (initial, args)) in cases.iter().enumerate() {
            let dir = root.join(format!("berth{i}"));
            let (out, _) = run_module(run, &rooted(args, &dir), &Run::default());
            let want = &expected[i];
            let label = format!("case {i}: {args} on {initial:?}");
            crate::modules::test_support::assert_same_outcome(&out, want, &label);
            let msg = want["msg"]
                .as_str()
                .unwrap_or("")
                .replace(&format!("ansible{i}"), &format!("berth{i}"));
            let got = out.result["msg"].as_str().unwrap_or("");
            if want["failed"].as_bool() == Some(true)
                && !want["msg"].as_str().unwrap_or("").starts_with("Path ")
            {
                // Python's uncaught errors arrive wrapped ("Task failed: Module failed: ...").
                assert!(
                    !got.is_empty() && msg.contains(got),
                    "{label}: {got:?} vs {msg:?}"
                );
            } else {
                assert_eq!(got, msg, "{label}");
                assert_eq!(out.result.get("rc"), want.get("rc"), "{label}");
            }
            let a = std::fs::read(root.join(format!("ansible{i}/f"))).ok();
            let b = std::fs::read(dir.join("f")).ok();
            assert_eq!(a, b, "{label}");
        }
    }
}
