//! `lineinfile`: make sure one line is (or is not) in a text file, with
//! Ansible's exact placement rules (regexp/search_string replace, else
//! insertafter/insertbefore incl. BOF/EOF, firstmatch, backrefs).
//!
//! Python's `re` is emulated with the `regex` crate: each line is matched
//! without its trailing newline (so `$` behaves like Python's), and
//! backreferences (`\1`, `\g<1>`, `\g<name>`) are expanded like `match.expand`.

use super::line_regex::{Groups, LineRegex};
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::remote_file::{self, apply_edit, finish, Attrs, Edit, Kind, Probe, Stop};
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "path",
    "dest",
    "destfile",
    "name",
    "regexp",
    "regex",
    "search_string",
    "state",
    "line",
    "value",
    "backrefs",
    "insertafter",
    "insertbefore",
    "create",
    "backup",
    "firstmatch",
    "validate",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let out = finish(plan(ctx, &Args::new("lineinfile", args)))?;
    Ok(match empty_pattern_warning(args) {
        Some(w) => out.with("warnings", vec![w]),
        None => out,
    })
}

/// Ansible's warning for an empty `regexp` or `search_string`: it matches
/// every line, so the last one is replaced rather than a line appended.
fn empty_pattern_warning(args: &Map<String, Value>) -> Option<String> {
    let empty = |k: &str| args.get(k).and_then(Value::as_str) == Some("");
    let regexp = empty("regexp") || empty("regex");
    if !regexp && !empty("search_string") {
        return None;
    }
    let what = if regexp {
        "regular expression"
    } else {
        "search string"
    };
    let mut msg = format!(
        "The {what} is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending."
    );
    if regexp {
        msg.push_str(
            " If this is desired, use '^' to match every line in the file and avoid this warning.",
        );
    }
    Some(msg)
}

/// Match `re` against one line the way Python's `re.search` does on the
/// line with its newline (`$` may match just before the final `\n`).
fn search(re: &LineRegex, line: &[u8]) -> Option<Groups> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    re.captures(body)
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some(rest) = l.strip_suffix(b"\n").or_else(|| l.strip_suffix(b"\r")) {
        l = rest;
    }
    l
}

/// Python's `match.expand(template)`: `\1`..`\99`, `\g<n>`, `\g<name>`, and
/// the usual escapes (`\n`, `\t`, `\\`).
pub(crate) fn expand(caps: &Groups, template: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    let group = |out: &mut Vec<u8>, name: &str| -> Result<(), String> {
        let m = match name.parse::<usize>() {
            Ok(n) => {
                if n >= caps.len() {
                    return Err(format!("invalid group reference {n}"));
                }
                caps.get(n)
            }
            Err(_) => caps.name(name),
        };
        if let Some(m) = m {
            out.extend_from_slice(m);
        }
        Ok(())
    };
    while i < template.len() {
        let c = template[i];
        if c != b'\\' || i + 1 == template.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = template[i + 1];
        match n {
            b'0'..=b'9' => {
                let mut j = i + 1;
                while j < template.len() && j < i + 3 && template[j].is_ascii_digit() {
                    j += 1;
                }
                group(
                    &mut out,
                    std::str::from_utf8(&template[i + 1..j]).unwrap_or("0"),
                )?;
                i = j;
            }
            b'g' if template.get(i + 2) == Some(&b'<') => {
                let end = template[i + 3..]
                    .iter()
                    .position(|b| *b == b'>')
                    .ok_or("missing >, unterminated name")?;
                let name = std::str::from_utf8(&template[i + 3..i + 3 + end])
                    .map_err(|e| e.to_string())?;
                group(&mut out, name)?;
                i += 4 + end;
            }
            b'n' => {
                out.push(b'\n');
                i += 2;
            }
            b't' => {
                out.push(b'\t');
                i += 2;
            }
            b'r' => {
                out.push(b'\r');
                i += 2;
            }
            b'\\' => {
                out.push(b'\\');
                i += 2;
            }
            _ => {
                out.push(c);
                out.push(n);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// Inputs of the line placement, parsed and validated.
pub(crate) struct Spec {
    pub(crate) regexp: Option<LineRegex>,
    pub(crate) search_string: Option<Vec<u8>>,
    pub(crate) line: Vec<u8>,
    pub(crate) insertafter: Option<String>,
    pub(crate) insertbefore: Option<String>,
    pub(crate) backrefs: bool,
    pub(crate) firstmatch: bool,
}

/// Ansible's `present()`: the new lines, whether they changed, and the message.
pub(crate) fn present(lines: &mut Vec<Vec<u8>>, s: &Spec) -> Result<(bool, &'static str), String> {
    let sep = b"\n";
    let ins_re = match (&s.insertafter, &s.insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(LineRegex::new("insertafter", a)?),
        (None, Some(b)) if b != "BOF" => Some(LineRegex::new("insertbefore", b)?),
        _ => None,
    };
    let mut index = [-1i64, -1i64];
    let mut matched: Option<usize> = None;
    let mut exact = false;
    if let Some(re) = &s.regexp {
        for (n, l) in lines.iter().enumerate() {
            if search(re, l).is_some() {
                index[0] = n as i64;
                matched = Some(n);
                if s.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(needle) = &s.search_string {
        for (n, l) in lines.iter().enumerate() {
            if contains(l, needle) {
                index[0] = n as i64;
                matched = Some(n);
                if s.firstmatch {
                    break;
                }
            }
        }
    }
    if matched.is_none() {
        for (n, l) in lines.iter().enumerate() {
            if strip_eol(l) == s.line.as_slice() {
                index[0] = n as i64;
                exact = true;
            } else if ins_re.as_ref().is_some_and(|re| search(re, l).is_some()) {
                if s.insertafter.is_some() {
                    index[1] = n as i64 + 1;
                    if s.firstmatch {
                        break;
                    }
                }
                if s.insertbefore.is_some() {
                    index[1] = n as i64;
                    if s.firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let with_sep = |l: &[u8]| {
        let mut v = l.to_vec();
        v.extend_from_slice(sep);
        v
    };
    let ends_with_eol = |l: &Vec<u8>| matches!(l.last(), Some(b'\n') | Some(b'\r'));
    let after = s.insertafter.as_deref();
    let before = s.insertbefore.as_deref();
    if index[0] != -1 {
        let i0 = index[0] as usize;
        let mut new_line = match (s.backrefs, matched, &s.regexp) {
            (true, Some(m), Some(re)) => {
                let caps = search(re, &lines[m]).ok_or("regexp stopped matching")?;
                expand(&caps, &s.line)?
            }
            _ => s.line.clone(),
        };
        if !new_line.ends_with(sep) {
            new_line.extend_from_slice(sep);
        }
        if s.regexp.is_none() && s.search_string.is_none() && matched.is_none() && !exact {
            // Unreachable in practice (index[0] is only set by a match), kept for parity.
            return Ok((false, ""));
        }
        if lines[i0] != new_line {
            lines[i0] = new_line;
            return Ok((true, "line replaced"));
        }
        return Ok((false, ""));
    }
    if s.backrefs {
        return Ok((false, ""));
    }
    if before == Some("BOF") || after == Some("BOF") {
        lines.insert(0, with_sep(&s.line));
        return Ok((true, "line added"));
    }
    if after == Some("EOF") || index[1] == -1 {
        if lines.last().is_some_and(|l| !ends_with_eol(l)) {
            lines.push(sep.to_vec());
        }
        lines.push(with_sep(&s.line));
        return Ok((true, "line added"));
    }
    let i1 = index[1] as usize;
    if after.is_some() {
        if lines.len() == i1 {
            if strip_eol(&lines[i1 - 1]) != s.line.as_slice() {
                lines.push(with_sep(&s.line));
                return Ok((true, "line added"));
            }
            return Ok((false, ""));
        }
        if s.line.as_slice() != strip_eol(&lines[i1]) {
            lines.insert(i1, with_sep(&s.line));
            return Ok((true, "line added"));
        }
        return Ok((false, ""));
    }
    lines.insert(i1, with_sep(&s.line));
    Ok((true, "line added"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Split like Python's `readlines()` on bytes: after every `\n`.
pub(crate) fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let path = a
        .first_str(&["path", "dest", "destfile", "name"])?
        .ok_or("missing required arguments: path")?;
    let state = a
        .choice("state", &["absent", "present"], Some("present"))?
        .unwrap_or_default();
    let regexp_src = a.first_str(&["regexp", "regex"])?;
    let search_string = a.str("search_string")?;
    let line = a.first_str(&["line", "value"])?;
    let insertafter = a.str("insertafter")?;
    let insertbefore = a.str("insertbefore")?;
    let backrefs = a.bool("backrefs", false)?;
    let create = a.bool("create", false)?;
    let backup = a.bool("backup", false)?;
    let firstmatch = a.bool("firstmatch", false)?;
    let validate = a.str("validate")?;
    let attrs = Attrs::from_args(a)?;
    if regexp_src.is_some() && search_string.is_some() {
        return Err("parameters are mutually exclusive: regexp|search_string".into());
    }
    if insertafter.is_some() && insertbefore.is_some() {
        return Err("parameters are mutually exclusive: insertbefore|insertafter".into());
    }
    if backrefs && search_string.is_some() {
        return Err("parameters are mutually exclusive: backrefs|search_string".into());
    }
    if let Some(v) = &validate {
        if !v.contains("%s") {
            return Err(format!("validate must contain %s: {v}").into());
        }
    }
    let present_state = state == "present";
    if present_state && backrefs && regexp_src.is_none() {
        return Err("regexp is required with backrefs=true".into());
    }
    if present_state && line.is_none() {
        return Err("line is required with state=present".into());
    }
    if !present_state && regexp_src.is_none() && search_string.is_none() && line.is_none() {
        return Err("one of line, search_string, or regexp is required with state=absent".into());
    }
    let regexp = regexp_src
        .as_deref()
        .map(|r| LineRegex::new("regexp", r))
        .transpose()?;
    let probes = [Probe::new(&path).follow(true).read(i64::MAX as u64)];
    let facts = remote_file::probe(ctx, &probes, attrs.owner.as_deref(), attrs.group.as_deref())?;
    let st = &facts.stats[0];
    if st.kind == Kind::Dir {
        return Err(Stop::Outcome(
            ModuleOutcome::failed(format!("Path {path} is a directory !")).with("rc", 256),
        ));
    }
    if st.exists() && st.content.is_none() {
        return Err(format!("Could not read {path}: permission denied").into());
    }
    let original = st.content.clone();
    let mut lines = original.as_deref().map(split_lines).unwrap_or_default();
    let (changed, msg, found) = if present_state {
        if !st.exists() && !create {
            return Err(Stop::Outcome(
                ModuleOutcome::failed(format!("Destination {path} does not exist !"))
                    .with("rc", 257),
            ));
        }
        let spec = Spec {
            regexp,
            search_string: search_string.map(String::into_bytes),
            line: line.unwrap_or_default().into_bytes(),
            insertafter,
            insertbefore,
            backrefs,
            firstmatch,
        };
        let (changed, msg) = present(&mut lines, &spec)?;
        (changed, msg.to_string(), None)
    } else {
        if !st.exists() {
            return Ok(ModuleOutcome::ok().with("msg", "file not present"));
        }
        let line = line.map(String::into_bytes);
        let needle = search_string.map(String::into_bytes);
        let before = lines.len();
        lines.retain(|l| {
            let hit = match (&regexp, &needle, &line) {
                (Some(re), _, _) => search(re, l).is_some(),
                (None, Some(n), _) => contains(l, n),
                (None, None, Some(want)) => strip_eol(l) == want.as_slice(),
                _ => false,
            };
            !hit
        });
        let found = before - lines.len();
        let msg = if found > 0 {
            format!("{found} line(s) removed")
        } else {
            String::new()
        };
        (found > 0, msg, Some(found))
    };
    let result: Vec<u8> = lines.concat();
    let mut out = apply_edit(
        ctx,
        Edit {
            path: &path,
            st,
            facts: &facts,
            attrs: &attrs,
            original: original.as_deref(),
            result,
            changed,
            msg,
            backup,
            validate: validate.as_deref(),
            backup_key: "backup",
        },
    )?;
    if let Some(n) = found {
        out = out.with("found", n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        assert_check_predicts, rooted, run_module, setup, snapshot, Entry, Gen, Node, Run,
    };
    use serde_json::json;

    /// (name, initial content or None for no file, args, changed, msg, final content or None)
    type Row = (
        &'static str,
        Option<&'static str>,
        Value,
        bool,
        &'static str,
        Option<&'static str>,
    );

    fn rows() -> Vec<Row> {
        vec![
            (
                "append at EOF",
                Some("a\nb\n"),
                json!({"line": "c"}),
                true,
                "line added",
                Some("a\nb\nc\n"),
            ),
            (
                "present already",
                Some("a\nb\n"),
                json!({"line": "b"}),
                false,
                "",
                Some("a\nb\n"),
            ),
            (
                "newline added before appended line",
                Some("a"),
                json!({"line": "c"}),
                true,
                "line added",
                Some("a\nc\n"),
            ),
            (
                "regexp replaces last match",
                Some("x=1\ny\nx=2\n"),
                json!({"regexp": "^x=", "line": "x=9"}),
                true,
                "line replaced",
                Some("x=1\ny\nx=9\n"),
            ),
            (
                "regexp firstmatch",
                Some("x=1\ny\nx=2\n"),
                json!({"regexp": "^x=", "line": "x=9", "firstmatch": true}),
                true,
                "line replaced",
                Some("x=9\ny\nx=2\n"),
            ),
            (
                "regexp dollar like python",
                Some("port 80\n"),
                json!({"regexp": "^port 80$", "line": "port 8080"}),
                true,
                "line replaced",
                Some("port 8080\n"),
            ),
            (
                "regexp already right",
                Some("x=9\n"),
                json!({"regexp": "^x=", "line": "x=9"}),
                false,
                "",
                Some("x=9\n"),
            ),
            (
                "regexp no match appends",
                Some("a\n"),
                json!({"regexp": "^x=", "line": "x=9"}),
                true,
                "line added",
                Some("a\nx=9\n"),
            ),
            (
                "search_string",
                Some("listen 80;\nroot /;\n"),
                json!({"search_string": "listen", "line": "listen 443;"}),
                true,
                "line replaced",
                Some("listen 443;\nroot /;\n"),
            ),
            (
                "insertafter regex",
                Some("[main]\nx=1\n[other]\n"),
                json!({"line": "y=2", "insertafter": "^\\[main\\]"}),
                true,
                "line added",
                Some("[main]\ny=2\nx=1\n[other]\n"),
            ),
            (
                "insertafter last match",
                Some("#a\n#b\nc\n"),
                json!({"line": "n", "insertafter": "^#"}),
                true,
                "line added",
                Some("#a\n#b\nn\nc\n"),
            ),
            (
                "insertafter firstmatch",
                Some("#a\n#b\nc\n"),
                json!({"line": "n", "insertafter": "^#", "firstmatch": true}),
                true,
                "line added",
                Some("#a\nn\n#b\nc\n"),
            ),
            (
                "insertafter no match goes to EOF",
                Some("a\n"),
                json!({"line": "n", "insertafter": "^zzz"}),
                true,
                "line added",
                Some("a\nn\n"),
            ),
            (
                "insertbefore regex",
                Some("a\nb\n"),
                json!({"line": "n", "insertbefore": "^b"}),
                true,
                "line added",
                Some("a\nn\nb\n"),
            ),
            (
                "insertbefore BOF",
                Some("a\n"),
                json!({"line": "n", "insertbefore": "BOF"}),
                true,
                "line added",
                Some("n\na\n"),
            ),
            (
                "insertafter BOF",
                Some("a\n"),
                json!({"line": "n", "insertafter": "BOF"}),
                true,
                "line added",
                Some("n\na\n"),
            ),
            (
                "insertafter EOF",
                Some("a\n"),
                json!({"line": "n", "insertafter": "EOF"}),
                true,
                "line added",
                Some("a\nn\n"),
            ),
            (
                "line present elsewhere wins over insertafter",
                Some("n\na\n"),
                json!({"line": "n", "insertafter": "^a"}),
                false,
                "",
                Some("n\na\n"),
            ),
            (
                "backrefs expand groups",
                Some("user=bob host=x\n"),
                json!({"regexp": "^user=(\\w+) host=(?P<h>\\w+)$", "line": "user=\\1 host=\\g<h>.example", "backrefs": true}),
                true,
                "line replaced",
                Some("user=bob host=x.example\n"),
            ),
            (
                "backrefs without match leaves file",
                Some("a\n"),
                json!({"regexp": "^zzz(.*)", "line": "\\1", "backrefs": true}),
                false,
                "",
                Some("a\n"),
            ),
            (
                "absent by line",
                Some("a\nb\na\n"),
                json!({"line": "a", "state": "absent"}),
                true,
                "2 line(s) removed",
                Some("b\n"),
            ),
            (
                "absent by regexp",
                Some("a1\nb\na2\n"),
                json!({"regexp": "^a", "state": "absent"}),
                true,
                "2 line(s) removed",
                Some("b\n"),
            ),
            (
                "absent nothing found",
                Some("b\n"),
                json!({"regexp": "^a", "state": "absent"}),
                false,
                "",
                Some("b\n"),
            ),
            (
                "absent on missing file",
                None,
                json!({"line": "a", "state": "absent"}),
                false,
                "file not present",
                None,
            ),
            (
                "create",
                None,
                json!({"line": "a", "create": true}),
                true,
                "line added",
                Some("a\n"),
            ),
            // Ansible rewrites a CRLF line that matches exactly with the `\n` separator.
            (
                "crlf line is normalised like Ansible",
                Some("a\r\nb\r\n"),
                json!({"line": "b"}),
                true,
                "line replaced",
                Some("a\r\nb\n"),
            ),
            (
                "mode only",
                Some("a\n"),
                json!({"line": "a", "mode": "0600"}),
                true,
                "ownership, perms or SE linux context changed",
                Some("a\n"),
            ),
            (
                "content and mode",
                Some("a\n"),
                json!({"line": "b", "mode": "0600"}),
                true,
                "line added and ownership, perms or SE linux context changed",
                Some("a\nb\n"),
            ),
        ]
    }

    #[test]
    fn fixture_table() {
        for (name, initial, args, changed, msg, want) in rows() {
            for check in [true, false] {
                let tmp = tempfile::tempdir().unwrap();
                let root = tmp.path();
                if let Some(c) = initial {
                    setup(root, &[Entry::File("f", c, 0o644)]);
                }
                let before = snapshot(root);
                let mut args = args.clone();
                args["path"] = json!("{root}/f");
                let (out, calls) = run_module(
                    run,
                    &rooted(&args, root),
                    &Run {
                        check,
                        ..Run::default()
                    },
                );
                assert!(!out.is_failed(), "{name}: {out:?}");
                assert_eq!(out.is_changed(), changed, "{name} check={check}: {out:?}");
                assert_eq!(out.result["msg"], json!(msg), "{name}");
                assert_eq!(calls, if changed && !check { 2 } else { 1 }, "{name}");
                if check {
                    assert_eq!(snapshot(root), before, "{name}: check mode wrote");
                    continue;
                }
                let got = std::fs::read_to_string(root.join("f")).ok();
                assert_eq!(got.as_deref(), want, "{name}");
            }
        }
    }

    #[test]
    fn failures() {
        let cases: Vec<(Option<&str>, Value, &str)> = vec![
            (
                None,
                json!({"line": "a"}),
                "Destination {root}/f does not exist !",
            ),
            (
                Some("a\n"),
                json!({"regexp": "a", "search_string": "a", "line": "x"}),
                "parameters are mutually exclusive: regexp|search_string",
            ),
            (
                Some("a\n"),
                json!({"insertafter": "a", "insertbefore": "a", "line": "x"}),
                "parameters are mutually exclusive: insertbefore|insertafter",
            ),
            (
                Some("a\n"),
                json!({"backrefs": true, "line": "x"}),
                "regexp is required with backrefs=true",
            ),
            (
                Some("a\n"),
                json!({"regexp": "a"}),
                "line is required with state=present",
            ),
            (
                Some("a\n"),
                json!({"state": "absent"}),
                "one of line, search_string, or regexp is required with state=absent",
            ),
            (
                Some("a\n"),
                json!({"line": "x", "validate": "false %s"}),
                "failed to validate: rc:1 error:",
            ),
            (
                Some("a\n"),
                json!({"line": "x", "frob": 1}),
                "Unsupported parameters for (lineinfile) module: frob.",
            ),
        ];
        for (initial, mut args, msg) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            if let Some(c) = initial {
                setup(root, &[Entry::File("f", c, 0o644)]);
            }
            args["path"] = json!("{root}/f");
            let (out, _) = run_module(run, &rooted(&args, root), &Run::default());
            let msg = msg.replace("{root}", &root.to_string_lossy());
            assert!(
                out.is_failed() && out.result["msg"].as_str().unwrap().starts_with(&msg),
                "{msg}: {out:?}"
            );
            if let Some(c) = initial {
                assert_eq!(std::fs::read_to_string(root.join("f")).unwrap(), c);
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let (out, _) = run_module(
            run,
            &json!({"path": tmp.path().to_string_lossy(), "line": "x"}),
            &Run::default(),
        );
        assert_eq!(out.result["rc"], json!(256));
    }

    #[test]
    fn backup_diff_and_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[Entry::File("real", "a\n", 0o640), Entry::Link("f", "real")],
        );
        let args = rooted(
            &json!({"path": "{root}/f", "line": "b", "backup": true}),
            root,
        );
        let (out, _) = run_module(
            run,
            &args,
            &Run {
                diff: true,
                ..Run::default()
            },
        );
        assert!(out.is_changed());
        let backup = out.result["backup"].as_str().unwrap();
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "a\n");
        assert_eq!(
            out.diffs[0].before_header,
            format!("{}/f (content)", root.display())
        );
        assert_eq!(
            (out.diffs[0].before.as_str(), out.diffs[0].after.as_str()),
            ("a\n", "a\nb\n")
        );
        // The link still points at the real file, which got the line and kept its mode.
        let snap = snapshot(root);
        assert_eq!(
            snap["f"],
            Node::Link {
                target: "real".into(),
                uid: 0
            }
        );
        assert_eq!(
            snap["real"],
            Node::File {
                mode: 0o640,
                uid: 0,
                gid: 0,
                content: b"a\nb\n".to_vec()
            }
        );
    }

    #[test]
    fn empty_patterns_warn_as_ansible_does() {
        let w = |a: Value| empty_pattern_warning(a.as_object().unwrap());
        assert_eq!(w(json!({"regexp": "^x", "line": "y"})), None);
        assert!(w(json!({"regexp": "", "line": "y"}))
            .unwrap()
            .starts_with("The regular expression is an empty string"));
        assert!(w(json!({"regexp": "", "line": "y"}))
            .unwrap()
            .ends_with("avoid this warning."));
        let s = w(json!({"search_string": "", "line": "y"})).unwrap();
        assert!(
            s.starts_with("The search string is an empty string")
                && s.ends_with("rather than appending."),
            "{s}"
        );
    }

    #[test]
    fn python_expand_rules() {
        let re = LineRegex::new("regexp", r"(a)(b)?(?P<n>c)").unwrap();
        let caps = re.captures(b"ac").unwrap();
        assert_eq!(
            expand(&caps, br"\1-\2-\g<n>-\g<3>\n\\").unwrap(),
            b"a--c-c\n\\".to_vec()
        );
        assert!(expand(&caps, br"\9").is_err());
    }

    /// One generated case: the initial file (content, mode) or none, and the arguments (path `{root}/f`).
    fn generate(g: &mut Gen) -> (Option<(String, u32)>, Value) {
        let pool = ["a", "b", "x=1", "x=2", "#c", ""];
        let mut initial = None;
        if g.below(5) > 0 {
            let n = g.below(5);
            let mut content = String::new();
            for _ in 0..n {
                content.push_str(g.pick::<&str>(&pool));
                content.push('\n');
            }
            if g.below(4) == 0 {
                content.push_str("tail");
            }
            initial = Some((content, *g.pick(&[0o644, 0o600])));
        }
        let mut args = json!({"path": "{root}/f", "line": *g.pick(&["a", "x=3", "new", "#c"])});
        match g.below(4) {
            0 => args["regexp"] = json!(*g.pick(&["^x=", "^#", "^zz", "b$"])),
            1 => args["search_string"] = json!(*g.pick(&["x=", "#", "zz"])),
            _ => {}
        }
        match g.below(4) {
            0 => args["insertafter"] = json!(*g.pick(&["^#", "EOF", "BOF", "^b"])),
            1 => args["insertbefore"] = json!(*g.pick(&["^#", "BOF", "^b"])),
            _ => {}
        }
        if g.chance() {
            args["firstmatch"] = json!(true);
        }
        if g.below(4) == 0 {
            args["state"] = json!("absent");
        }
        if g.below(3) == 0 {
            args["mode"] = json!(*g.pick(&["0644", "0640"]));
        }
        if g.chance() {
            args["create"] = json!(true);
        }
        (initial, args)
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(5);
        for i in 0..80 {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let (initial, args) = generate(&mut g);
            if let Some((content, mode)) = initial {
                setup(root, &[Entry::Bytes("f", content.into_bytes(), mode)]);
            }
            let args = rooted(&args, root);
            assert_check_predicts(
                run,
                root,
                &args,
                &Run::default(),
                &format!("case {i}: {args}"),
            );
        }
    }

    /// The same generated cases through Ansible's own lineinfile: identical
    /// `changed`, `failed`, `msg` and resulting file.
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut g = Gen::new(17);
        let cases: Vec<_> = (0..30).map(|_| generate(&mut g)).collect();
        let mut tasks = Vec::new();
        for (i, (initial, args)) in cases.iter().enumerate() {
            for side in ["ansible", "berth"] {
                let dir = root.join(format!("{side}{i}"));
                std::fs::create_dir(&dir).unwrap();
                if let Some((content, mode)) = initial {
                    setup(
                        &dir,
                        &[Entry::Bytes("f", content.clone().into_bytes(), *mode)],
                    );
                }
            }
            tasks.push(rooted(args, &root.join(format!("ansible{i}"))));
        }
        let Some(expected) =
            crate::modules::test_support::ansible_results("lineinfile", &tasks, root)
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, (_, args)) in cases.iter().enumerate() {
            let dir = root.join(format!("berth{i}"));
            let (out, _) = run_module(run, &rooted(args, &dir), &Run::default());
            let want = &expected[i];
            let label = format!("case {i}: {args} on {:?}", cases[i].0);
            assert_eq!(
                out.is_failed(),
                want["failed"].as_bool().unwrap_or(false),
                "{label}: {out:?} vs {want}"
            );
            assert_eq!(
                out.is_changed(),
                want["changed"].as_bool().unwrap_or(false),
                "{label}: {out:?} vs {want}"
            );
            let msg = want["msg"]
                .as_str()
                .unwrap_or("")
                .replace("ansible", "berth");
            assert_eq!(out.result["msg"].as_str().unwrap_or(""), msg, "{label}");
            let a = std::fs::read(root.join(format!("ansible{i}/f"))).ok();
            let b = std::fs::read(dir.join("f")).ok();
            assert_eq!(a, b, "{label}");
        }
    }
}
