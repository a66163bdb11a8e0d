//! `assemble`: concatenate the files of a directory (on the host, or on the
//! controller with `remote_src: false`) in name order into `dest`, with an
//! optional delimiter between fragments, and write it only when its SHA-1
//! differs. Newlines and delimiters follow Ansible's module and action
//! plugin byte for byte, quirks included (see `assemble`).

use std::os::unix::ffi::OsStrExt;

use serde_json::{json, Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::copy::{put, Put, Source};
use crate::modules::py_re::PyRegex;
use crate::modules::remote_file::expand_on_host;
use crate::modules::remote_file::{
    self, add_path_info, finish, md5_hex, sha1_hex, Attrs, Kind, Probe, RemoteStat, Stop, Write,
};
use crate::modules::{ModuleContext, ModuleOutcome};

/// The module's parameters (`remote_src: true`, the default).
const KNOWN: &[&str] = &[
    "src",
    "dest",
    "delimiter",
    "remote_src",
    "regexp",
    "ignore_hidden",
    "backup",
    "validate",
    "decrypt",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("assemble", args)))
}

/// Python's `codecs.escape_decode`: the escapes of a bytes literal.
pub(crate) fn escape_decode(s: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let Some(&c) = s.get(i + 1) else {
            return Err("Trailing \\ in string".into());
        };
        i += 2;
        match c {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(c),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = (v << 3) + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(s.get(i)), hex(s.get(i + 1))) {
                    (Some(h), Some(l)) if i + 1 < s.len() => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => return Err(format!("invalid \\x escape at position {}", i - 2)),
                }
            }
            _ => {
                out.push(b'\\');
                i -= 1;
            }
        }
    }
    Ok(out)
}

/// Ansible's `assemble_from_fragments`. The delimiter is unescaped again
/// before each use (so the k-th delimiter is decoded k times, as in
/// Ansible), and is followed by a newline unless it ends with one — except
/// in the action plugin (`remote_src: false`), whose test compares an int
/// with bytes and so always adds the newline (`always_newline`).
pub(crate) fn assemble(
    fragments: &[&[u8]],
    delimiter: Option<&str>,
    always_newline: bool,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut delim: Option<Vec<u8>> = delimiter.map(|d| d.as_bytes().to_vec());
    let mut delimit_me = false;
    let mut add_newline = false;
    for frag in fragments {
        if add_newline {
            out.push(b'\n');
        }
        if delimit_me {
            if let Some(d) = delim.as_mut().filter(|d| !d.is_empty()) {
                *d = escape_decode(d)?;
                out.extend_from_slice(d);
                match d.last() {
                    None => {
                        return Err(
                            "index out of range: the delimiter is empty once unescaped".into()
                        )
                    }
                    Some(b'\n') if !always_newline => {}
                    Some(_) => out.push(b'\n'),
                }
            }
        }
        out.extend_from_slice(frag);
        delimit_me = true;
        add_newline = !frag.ends_with(b"\n");
    }
    Ok(out)
}

/// Which fragments take part: names sorted as Python sorts them, filtered
/// by `regexp` (searched) and `ignore_hidden`, regular files only.
fn select<'a, T>(
    mut entries: Vec<(&'a [u8], bool, T)>,
    regexp: Option<&PyRegex>,
    ignore_hidden: bool,
) -> Vec<(&'a [u8], T)> {
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .filter(|(name, _, _)| regexp.is_none_or(|re| re.is_match(&String::from_utf8_lossy(name))))
        .filter(|(name, is_file, _)| *is_file && !(ignore_hidden && name.starts_with(b".")))
        .map(|(name, _, t)| (name, t))
        .collect()
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    let (Some(src), Some(dest)) = (a.str("src")?, a.str("dest")?) else {
        return Err("src and dest are required".into());
    };
    let remote_src = a.bool("remote_src", true)?;
    // With `remote_src: false` the action plugin hands the rest to the copy
    // module, which also takes `follow`.
    let local_known: Vec<&str> = KNOWN.iter().copied().chain(["follow"]).collect();
    a.check_known(if remote_src { KNOWN } else { &local_known })?;
    let delimiter = a.str("delimiter")?;
    let regexp = a.str("regexp")?;
    let ignore_hidden = a.bool("ignore_hidden", false)?;
    let backup = a.bool("backup", false)?;
    let decrypt = a.bool("decrypt", true)?;
    // Writes are always atomic renames; the flag only allows a fallback Ansible rarely needs.
    a.bool("unsafe_writes", false)?;
    let validate = a.str("validate")?;
    let attrs = Attrs::from_args(a)?;
    if remote_src {
        remote(
            ctx,
            Remote {
                src,
                dest,
                delimiter,
                regexp,
                ignore_hidden,
                backup,
                validate,
                attrs,
            },
        )
    } else {
        let follow = a.bool("follow", false)?;
        local(
            ctx,
            Local {
                src,
                dest,
                delimiter,
                regexp,
                ignore_hidden,
                backup,
                validate,
                attrs,
                decrypt,
                follow,
            },
        )
    }
}

struct Remote {
    src: String,
    dest: String,
    delimiter: Option<String>,
    regexp: Option<String>,
    ignore_hidden: bool,
    backup: bool,
    validate: Option<String>,
    attrs: Attrs,
}

/// The assemble module on the host's fragments.
fn remote(ctx: &mut ModuleContext<'_>, r: Remote) -> Result<ModuleOutcome, Stop> {
    let src = expand_on_host(ctx, &r.src)?;
    let dest = expand_on_host(ctx, &r.dest)?;
    let probes = [
        Probe::new(&src).follow(true).entries(),
        Probe::new(&dest).follow(true).sha1(),
        Probe::new(&dest),
    ];
    let facts = remote_file::probe(
        ctx,
        &probes,
        r.attrs.owner.as_deref(),
        r.attrs.group.as_deref(),
    )?;
    let (src_st, dest_st, dest_lstat) = (&facts.stats[0], &facts.stats[1], &facts.stats[2]);
    // A dangling symlink does not exist for os.path.exists.
    if !src_st.exists() || src_st.kind == Kind::Link {
        return Err(format!("Source ({src}) does not exist").into());
    }
    if src_st.kind != Kind::Dir {
        return Err(format!("Source ({src}) is not a directory").into());
    }
    let re = match &r.regexp {
        None => None,
        Some(p) => {
            Some(PyRegex::for_search(p).map_err(|e| format!("Invalid Regexp ({e}) in \"{p}\""))?)
        }
    };
    if let Some(v) = r.validate.as_deref().filter(|v| !v.contains("%s")) {
        return Err(format!("validate must contain %s: {v}").into());
    }
    let entries = src_st
        .entries
        .iter()
        .map(|e| (e.name.as_slice(), e.is_file, e.content.as_deref()))
        .collect();
    let mut fragments = Vec::new();
    for (name, content) in select(entries, re.as_ref(), r.ignore_hidden) {
        let c = content.ok_or_else(|| {
            format!(
                "Could not read {src}/{}: permission denied",
                String::from_utf8_lossy(name)
            )
        })?;
        fragments.push(c);
    }
    let data = assemble(&fragments, r.delimiter.as_deref(), false)?;
    let checksum = sha1_hex(&data);
    if dest_st.kind == Kind::Dir {
        return Err(format!("attempted to take checksum of directory: {dest}").into());
    }
    let dest_exists = dest_st.exists() && dest_st.kind != Kind::Link;
    if dest_exists && dest_st.checksum.is_none() {
        return Err(format!("Could not read {dest}: permission denied").into());
    }
    let differs = dest_st.checksum.as_deref() != Some(checksum.as_str());
    let mut out = ModuleOutcome::changed(differs)
        .with("src", src.clone())
        .with("dest", dest.clone())
        .with("checksum", checksum.clone())
        .with("md5sum", md5_hex(&data));
    // Judged like a file this run creates when there is none yet.
    let created = RemoteStat {
        kind: Kind::File,
        mode: facts.default_file_mode(),
        uid: facts.euid,
        gid: facts.egid,
        nlink: 1,
        ..RemoteStat::default()
    };
    let change = r
        .attrs
        .change(if dest_exists { dest_st } else { &created }, &facts, 0)?;
    let mut after = dest_lstat.clone();
    if differs {
        if let Some(v) = &r.validate {
            // Like Ansible, on a temporary file and in check mode too.
            let cmd = v.replace("%s", "\"$v\"");
            let script = format!(
                "v=$(mktemp) || exit 1; cat > \"$v\" || exit 1; ( {cmd} ) > \"$v.o\" 2> \"$v.e\" < /dev/null; rc=$?; \
                 printf '%s ' $rc; base64 -w0 < \"$v.o\"; printf ' '; base64 -w0 < \"$v.e\"; echo; rm -f -- \"$v\" \"$v.o\" \"$v.e\""
            );
            let res = ctx.exec(&script, Some(&data))?;
            if !res.success() {
                return Err(format!(
                    "Could not run the validate command: {}",
                    res.stderr_str().trim()
                )
                .into());
            }
            let text = res.stdout_str();
            let mut f = text.trim_end().splitn(3, ' ');
            let rc: i64 = f.next().and_then(|x| x.parse().ok()).unwrap_or(-1);
            let b = |x: Option<&str>| {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(x.unwrap_or(""))
                    .unwrap_or_default();
                String::from_utf8_lossy(&raw).into_owned()
            };
            let (stdout, stderr) = (b(f.next()), b(f.next()));
            if rc != 0 {
                return Err(format!("failed to validate: rc:{rc} error:{stderr}").into());
            }
            out = out.with(
                "validation",
                json!({"rc": rc, "stdout": stdout, "stderr": stderr}),
            );
        }
        if !ctx.check_mode {
            let w = Write {
                dest: &dest,
                content: &data,
                attrs: change.clone(),
                validate: None,
                backup: r.backup && dest_exists,
                mkdir_parent: None,
                default_mode: facts.default_file_mode(),
            };
            let applied = remote_file::write_file(ctx, &w)?;
            if let Some(b) = applied.backup_file {
                out = out.with("backup_file", b);
            }
            after = applied.stat;
        }
    } else if !change.is_empty() && !ctx.check_mode {
        after = remote_file::apply_attrs(ctx, &dest, &change, true)?;
    }
    if !change.is_empty() {
        out.result.insert("changed".into(), Value::Bool(true));
    }
    if after.exists() {
        out = add_path_info(out, &after);
    }
    Ok(out.with("msg", "OK"))
}

struct Local {
    src: String,
    dest: String,
    delimiter: Option<String>,
    regexp: Option<String>,
    ignore_hidden: bool,
    backup: bool,
    validate: Option<String>,
    attrs: Attrs,
    decrypt: bool,
    follow: bool,
}

/// The action plugin: fragments from the controller, the result through the copy module.
fn local(ctx: &mut ModuleContext<'_>, l: Local) -> Result<ModuleOutcome, Stop> {
    let dir = ctx.find_file("files", &l.src).ok_or_else(|| {
        format!(
            "Could not find or access '{}' on the Ansible Controller.",
            l.src
        )
    })?;
    if !dir.is_dir() {
        return Err(format!("Source ({}) is not a directory", dir.display()).into());
    }
    let re = match &l.regexp {
        None => None,
        Some(p) => Some(PyRegex::for_search(p)?),
    };
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir)
        .map_err(|e| format!("Could not read directory '{}': {e}", dir.display()))?
    {
        let e = e.map_err(|e| format!("Could not read directory '{}': {e}", dir.display()))?;
        names.push(e.file_name());
    }
    let entries = names
        .iter()
        .map(|n| (n.as_bytes(), dir.join(n).is_file(), ()))
        .collect();
    let mut contents = Vec::new();
    for (name, ()) in select(entries, re.as_ref(), l.ignore_hidden) {
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        let data = std::fs::read(&path)
            .map_err(|e| format!("Could not read '{}': {e}", path.display()))?;
        if l.decrypt && data.starts_with(b"$ANSIBLE_VAULT;") {
            return Err(format!(
                "{} is vault-encrypted: berth cannot decrypt fragments (set decrypt: false to assemble them as they are)",
                path.display()
            )
            .into());
        }
        contents.push(data);
    }
    let fragments: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let data = assemble(&fragments, l.delimiter.as_deref(), true)?;
    let md5sum = md5_hex(&data);
    let dest = expand_on_host(ctx, &l.dest)?;
    // The copy module names the transferred file `src` (its name inside a directory dest).
    let source = Source::Bytes {
        data,
        label: "src".into(),
        local_mode: None,
    };
    let put_args = Put {
        dest,
        backup: l.backup,
        force: true,
        follow: l.follow,
        validate: l.validate,
        attrs: l.attrs,
        directory_mode: None,
        source,
        preserve: false,
        local_follow: Some(true),
    };
    let out = put(ctx, put_args)?;
    if out.is_failed() {
        return Ok(out);
    }
    Ok(out
        .with("md5sum", md5sum)
        .with("src", dir.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        assert_check_predicts, rooted, run_module, setup, snapshot, Entry, Gen, Run,
    };

    #[test]
    fn escape_decode_like_python() {
        // Each checked with Python 3.11's codecs.escape_decode.
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\\nb", b"a\nb"),
            (b"\\t\\r\\\\\\'\\\"", b"\t\r\\'\""),
            (b"\\x41\\101\\0\\18", b"AA\0\x018"),
            (b"\\q\\", b"\\q\\"),
            (b"x\\\ny", b"xy"),
            (b"\\777", b"\xff"),
            (b"\\a\\b\\f\\v", b"\x07\x08\x0c\x0b"),
        ];
        for (input, want) in cases {
            if input.ends_with(b"\\") && !input.ends_with(b"\\\\") {
                assert_eq!(escape_decode(input), Err("Trailing \\ in string".into()));
                continue;
            }
            assert_eq!(
                escape_decode(input).as_deref(),
                Ok(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            escape_decode(b"ab\\x4"),
            Err("invalid \\x escape at position 2".into())
        );
        assert_eq!(
            escape_decode(b"\\xzz"),
            Err("invalid \\x escape at position 0".into())
        );
    }

    #[test]
    fn assemble_like_ansible() {
        let f: &[&[u8]] = &[b"a\n", b"b", b"c\n"];
        assert_eq!(assemble(f, None, false).unwrap(), b"a\nb\nc\n");
        assert_eq!(
            assemble(f, Some("--"), false).unwrap(),
            b"a\n--\nb\n--\nc\n"
        );
        assert_eq!(
            assemble(f, Some("--\\n"), false).unwrap(),
            b"a\n--\nb\n--\nc\n"
        );
        // The action plugin always adds the newline.
        assert_eq!(
            assemble(f, Some("--\\n"), true).unwrap(),
            b"a\n--\n\nb\n--\n\nc\n"
        );
        // Decoded once more for each delimiter.
        assert_eq!(
            assemble(f, Some("D\\\\\\\\n"), false).unwrap(),
            b"a\nD\\\\n\nb\nD\\n\nc\n"
        );
        assert_eq!(assemble(f, Some(""), false).unwrap(), b"a\nb\nc\n");
        assert_eq!(assemble(&[b"x"], Some("--"), false).unwrap(), b"x");
        assert_eq!(assemble(&[], Some("--"), false).unwrap(), b"");
        assert!(assemble(f, Some("\\\n"), false).is_err());
    }

    fn frags(root: &std::path::Path) {
        setup(
            root,
            &[
                Entry::File("d/10-b", "b\n", 0o644),
                Entry::File("d/02-a", "a", 0o644),
                Entry::File("d/.hidden", "h\n", 0o644),
                Entry::File("d/B", "upper\n", 0o644),
                Entry::Link("d/20-link", "10-b"),
                Entry::Dir("d/sub", 0o755),
                Entry::File("d/sub/x", "nested\n", 0o644),
            ],
        );
    }

    /// (name, extra args, file afterwards); checked with Ansible's assemble.
    fn rows() -> Vec<(&'static str, Value, &'static str)> {
        vec![
            (
                "all fragments in name order",
                json!({}),
                "h\na\nb\nb\nupper\n",
            ),
            (
                "hidden ignored",
                json!({"ignore_hidden": true}),
                "a\nb\nb\nupper\n",
            ),
            (
                "regexp searched",
                json!({"regexp": "^\\d+-[ab]$"}),
                "a\nb\n",
            ),
            (
                "delimiter",
                json!({"regexp": "-", "delimiter": "# --"}),
                "a\n# --\nb\n# --\nb\n",
            ),
        ]
    }

    #[test]
    fn fixture_table() {
        for (name, extra, want) in rows() {
            for check in [true, false] {
                let tmp = tempfile::tempdir().unwrap();
                let root = tmp.path();
                frags(root);
                let before = snapshot(root);
                let mut args = json!({"src": "{root}/d", "dest": "{root}/out"});
                for (k, v) in extra.as_object().unwrap() {
                    args[k] = v.clone();
                }
                let (out, calls) = run_module(
                    run,
                    &rooted(&args, root),
                    &Run {
                        check,
                        ..Run::default()
                    },
                );
                assert!(!out.is_failed(), "{name}: {out:?}");
                assert!(out.is_changed(), "{name}");
                assert_eq!(out.result["msg"], json!("OK"));
                assert_eq!(
                    out.result["checksum"],
                    json!(sha1_hex(want.as_bytes())),
                    "{name}"
                );
                assert_eq!(
                    out.result["md5sum"],
                    json!(md5_hex(want.as_bytes())),
                    "{name}"
                );
                assert_eq!(out.result["src"], json!(format!("{}/d", root.display())));
                if check {
                    assert_eq!(calls, 1, "{name}");
                    assert_eq!(snapshot(root), before, "{name}");
                    assert!(
                        out.result.get("state").is_none(),
                        "no path facts for a file not yet written"
                    );
                    continue;
                }
                assert_eq!(calls, 2, "{name}");
                assert_eq!(
                    std::fs::read_to_string(root.join("out")).unwrap(),
                    want,
                    "{name}"
                );
                assert_eq!(out.result["state"], json!("file"));
                let (again, calls) = run_module(run, &rooted(&args, root), &Run::default());
                assert!(!again.is_changed() && calls == 1, "{name}: {again:?}");
            }
        }
    }

    #[test]
    fn failures_validate_backup_and_attrs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        frags(root);
        let r = |args: Value, check: bool| {
            run_module(
                run,
                &rooted(&args, root),
                &Run {
                    check,
                    ..Run::default()
                },
            )
            .0
        };
        for (args, msg) in [
            (
                json!({"src": "{root}/d"}),
                "src and dest are required".to_string(),
            ),
            (
                json!({"src": "{root}/none", "dest": "{root}/o"}),
                format!("Source ({}/none) does not exist", root.display()),
            ),
            (
                json!({"src": "{root}/d/02-a", "dest": "{root}/o"}),
                format!("Source ({}/d/02-a) is not a directory", root.display()),
            ),
            (
                json!({"src": "{root}/d", "dest": "{root}/d"}),
                format!(
                    "attempted to take checksum of directory: {}/d",
                    root.display()
                ),
            ),
            (
                json!({"src": "{root}/d", "dest": "{root}/o", "validate": "true"}),
                "validate must contain %s: true".to_string(),
            ),
            (
                json!({"src": "{root}/d", "dest": "{root}/o", "regexp": "("}),
                "Invalid Regexp (".to_string(),
            ),
            (
                json!({"src": "{root}/d", "dest": "{root}/o", "follow": true}),
                "Unsupported parameters for (assemble) module: follow.".to_string(),
            ),
        ] {
            let out = r(args.clone(), false);
            assert!(out.is_failed(), "{args}");
            assert!(
                out.result["msg"].as_str().unwrap().starts_with(&msg),
                "{args}: {out:?}"
            );
        }
        // validate runs on the assembled text, in check mode too, and reports its output.
        for check in [true, false] {
            let out = r(
                json!({"src": "{root}/d", "dest": "{root}/o", "validate": "grep -q nope %s"}),
                check,
            );
            assert_eq!(
                out.result["msg"],
                json!("failed to validate: rc:1 error:"),
                "{out:?}"
            );
        }
        assert!(!root.join("o").exists());
        let out = r(
            json!({"src": "{root}/d", "dest": "{root}/o", "validate": "grep -c upper %s"}),
            false,
        );
        assert_eq!(
            out.result["validation"],
            json!({"rc": 0, "stdout": "1\n", "stderr": ""}),
            "{out:?}"
        );
        // backup keeps the old file; mode applies.
        std::fs::write(root.join("o"), "old\n").unwrap();
        let out = r(
            json!({"src": "{root}/d", "dest": "{root}/o", "backup": true, "mode": "0600"}),
            false,
        );
        assert_eq!(
            std::fs::read_to_string(out.result["backup_file"].as_str().unwrap()).unwrap(),
            "old\n"
        );
        assert_eq!(out.result["mode"], json!("0600"));
        let out = r(
            json!({"src": "{root}/d", "dest": "{root}/o", "mode": "0640"}),
            false,
        );
        assert!(out.is_changed());
        assert_eq!(out.result["mode"], json!("0640"));
        assert!(out.result.get("backup_file").is_none());
    }

    #[test]
    fn controller_fragments() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[
                Entry::File("play/files/parts/1", "a\n", 0o644),
                Entry::File("play/files/parts/2", "b\n", 0o644),
                Entry::Dir("host", 0o755),
            ],
        );
        let run_opts = |check| Run {
            check,
            diff: true,
            search_paths: vec![root.join("play")],
            ..Run::default()
        };
        let args = rooted(
            &json!({"src": "parts", "dest": "{root}/host/out", "remote_src": false, "delimiter": "--\\n"}),
            root,
        );
        let before = snapshot(root);
        let (out, _) = run_module(run, &args, &run_opts(true));
        assert!(out.is_changed() && snapshot(root) == before, "{out:?}");
        let (out, _) = run_module(run, &args, &run_opts(false));
        assert!(out.is_changed(), "{out:?}");
        // As Ansible's action plugin: a newline after the delimiter even when it ends with one.
        assert_eq!(
            std::fs::read_to_string(root.join("host/out")).unwrap(),
            "a\n--\n\nb\n"
        );
        assert_eq!(out.result["md5sum"], json!(md5_hex(b"a\n--\n\nb\n")));
        assert_eq!(out.diffs[0].after, "a\n--\n\nb\n");
        let (again, _) = run_module(run, &args, &run_opts(false));
        assert!(!again.is_changed(), "{again:?}");
        let missing = rooted(
            &json!({"src": "nothere", "dest": "{root}/host/out", "remote_src": false}),
            root,
        );
        let (out, _) = run_module(run, &missing, &run_opts(false));
        assert_eq!(
            out.result["msg"],
            json!("Could not find or access 'nothere' on the Ansible Controller.")
        );
        setup(
            root,
            &[Entry::File(
                "play/files/vault/1",
                "$ANSIBLE_VAULT;1.1;AES256\n3031\n",
                0o644,
            )],
        );
        let vault = rooted(
            &json!({"src": "vault", "dest": "{root}/host/v", "remote_src": false}),
            root,
        );
        let (out, _) = run_module(run, &vault, &run_opts(false));
        assert!(
            out.result["msg"]
                .as_str()
                .unwrap()
                .contains("is vault-encrypted"),
            "{out:?}"
        );
        let mut raw = vault.clone();
        raw["decrypt"] = json!(false);
        let (out, _) = run_module(run, &raw, &run_opts(false));
        assert!(out.is_changed() && !out.is_failed(), "{out:?}");
    }

    fn generate(g: &mut Gen, root: &std::path::Path) -> Value {
        let names = ["a", "b", ".h", "10", "2", "x.conf", "y.conf"];
        let bodies = ["one\n", "two", "", "l1\nl2\n", "\n"];
        for _ in 0..g.below(5) {
            let name = *g.pick(&names);
            let path = root.join("d").join(name);
            std::fs::create_dir_all(root.join("d")).unwrap();
            std::fs::write(path, g.pick(&bodies)).unwrap();
        }
        std::fs::create_dir_all(root.join("d")).unwrap();
        if g.below(3) == 0 {
            std::fs::write(root.join("out"), g.pick(&["one\n", "old\n", ""])).unwrap();
        }
        let mut args = json!({"src": "{root}/d", "dest": "{root}/out"});
        if g.chance() {
            args["delimiter"] = json!(*g.pick(&["--", "#\\n", "\\t|", "a\\\\nb"]));
        }
        if g.below(3) == 0 {
            args["regexp"] = json!(*g.pick(&["conf$", "^[a-z]", "\\d"]));
        }
        if g.below(3) == 0 {
            args["ignore_hidden"] = json!(true);
        }
        if g.below(4) == 0 {
            args["mode"] = json!(*g.pick(&["0600", "0644"]));
        }
        args
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(3);
        for i in 0..40 {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let args = rooted(&generate(&mut g, root), root);
            assert_check_predicts(
                run,
                root,
                &args,
                &Run::default(),
                &format!("case {i}: {args}"),
            );
        }
    }

    /// The same generated cases through Ansible's own assemble (both sides).
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut g = Gen::new(8);
        let mut tasks = Vec::new();
        let mut cases = Vec::new();
        for i in 0..30 {
            let seed = g.next();
            let args = {
                let a = root.join(format!("ansible{i}"));
                std::fs::create_dir(&a).unwrap();
                generate(&mut Gen::new(seed), &a)
            };
            let b = root.join(format!("berth{i}"));
            std::fs::create_dir(&b).unwrap();
            generate(&mut Gen::new(seed), &b);
            let mut args = args;
            if i % 5 == 4 {
                // The controller side: the action plugin and the copy module.
                args["remote_src"] = json!(false);
                args.as_object_mut().unwrap().remove("mode");
            }
            tasks.push(rooted(&args, &root.join(format!("ansible{i}"))));
            cases.push(args);
        }
        let Some(expected) =
            crate::modules::test_support::ansible_results("assemble", &tasks, root)
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, args) in cases.iter().enumerate() {
            let dir = root.join(format!("berth{i}"));
            let (out, _) = run_module(run, &rooted(args, &dir), &Run::default());
            let want = &expected[i];
            let label = format!("case {i}: {args}");
            crate::modules::test_support::assert_same_outcome(&out, want, &label);
            for k in ["checksum", "md5sum", "msg", "mode", "size", "state"] {
                assert_eq!(out.result.get(k), want.get(k), "{label}: {k}");
            }
            let a = std::fs::read(root.join(format!("ansible{i}/out"))).ok();
            let b = std::fs::read(dir.join("out")).ok();
            assert_eq!(a, b, "{label}");
        }
    }
}
