//! `known_hosts`: add, replace or remove one host's key in an OpenSSH
//! known_hosts file with Ansible's rules: the host's ssh-keygen finds the
//! entries (`-F`, also through hashed names) and removes a whole host
//! (`-R`); a key of the same type as the given one is replaced; `hash_host`
//! stores the name as `|1|salt|HMAC-SHA1`; the result carries the diff
//! Ansible computes (also in check mode).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::find::expand_script;
use crate::modules::getent::{bin_paths, need_tool, py_splitlines};
use crate::modules::remote_file::{self, add_path_info, finish, Kind, RemoteStat, Stop, Write};
use crate::modules::{quote, FileDiff, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &["name", "host", "key", "path", "hash_host", "state"];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("known_hosts", args)))
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default()
}

/// HMAC-SHA1 (RFC 2104), as OpenSSH hashes host names.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// Python's `str.split()` (runs of whitespace).
fn fields(s: &str) -> Vec<&str> {
    s.split(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
        .filter(|f| !f.is_empty())
        .collect()
}

/// Ansible's `hash_host_key`: the host field replaced by `|1|salt|hash`.
fn hash_host_key(host: &str, key: &str, salt: &[u8]) -> Option<String> {
    let mut parts: Vec<String> = fields(key).into_iter().map(str::to_string).collect();
    let i = usize::from(parts.first()?.starts_with('@'));
    let b = base64::engine::general_purpose::STANDARD;
    let hashed = format!(
        "|1|{}|{}",
        b.encode(salt),
        b.encode(hmac_sha1(salt, host.as_bytes()))
    );
    *parts.get_mut(i)? = hashed;
    Some(parts.join(" "))
}

/// A known_hosts line or a user's key, reduced to what Ansible compares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Normal {
    options: Option<String>,
    host: String,
    typ: String,
    key: String,
}

/// Ansible's `normalize_known_hosts_key`.
fn normalize(line: &str) -> Option<Normal> {
    let k = fields(line);
    if k.first()?.starts_with('@') {
        Some(Normal {
            options: Some(k[0].into()),
            host: k.get(1)?.to_string(),
            typ: k.get(2)?.to_string(),
            key: k.get(3)?.to_string(),
        })
    } else {
        Some(Normal {
            options: None,
            host: k[0].into(),
            typ: k.get(1)?.to_string(),
            key: k.get(2)?.to_string(),
        })
    }
}

/// `\S+(\s+)?,(\s+)?` searched in the host name.
fn has_comma_list(host: &str) -> bool {
    host.char_indices()
        .any(|(p, c)| c == ',' && !host[..p].trim_end().is_empty())
}

/// What `search_for_host_key` answers: found, replace_or_add, found_line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Search {
    found: bool,
    replace_or_add: bool,
    found_line: Option<usize>,
}

/// Ansible's reading of `ssh-keygen -F host -f path` (run only when the file exists).
fn search(rc: i32, stdout: &str, stderr: &str, key: Option<&str>) -> Result<Search, String> {
    if stdout.is_empty() && stderr.is_empty() && (rc == 0 || rc == 1) {
        return Ok(Search {
            found: false,
            replace_or_add: false,
            found_line: None,
        });
    }
    if rc != 0 {
        return Err(format!(
            "ssh-keygen failed (rc={rc}, stdout='{stdout}',stderr='{stderr}')"
        ));
    }
    let Some(key) = key else {
        return Ok(Search {
            found: true,
            replace_or_add: false,
            found_line: None,
        });
    };
    let mut new_key =
        normalize(key).ok_or("list index out of range (the key has fewer than three fields)")?;
    let line_re = regex::Regex::new(r"found: line (\d+)").expect("valid regex");
    let mut found_line = None;
    for l in stdout.split('\n') {
        if l.is_empty() {
            continue;
        }
        if l.starts_with('#') {
            let n = line_re
                .captures(l)
                .and_then(|c| c[1].parse().ok())
                .ok_or_else(|| {
                    format!("failed to parse output of ssh-keygen for line number: '{l}'")
                })?;
            found_line = Some(n);
            continue;
        }
        let found_key = normalize(l)
            .ok_or_else(|| format!("list index out of range (ssh-keygen printed {l:?})"))?;
        let hit = |replace| {
            Ok(Search {
                found: true,
                replace_or_add: replace,
                found_line,
            })
        };
        match found_key.options.as_deref() {
            Some(o) if o.starts_with("@cert-authority") || o.starts_with("@revoke") => {
                if new_key == found_key {
                    return hit(false);
                }
            }
            _ => {
                if new_key.host.starts_with("|1|") && found_key.host.starts_with("|1|") {
                    new_key.host = found_key.host.clone();
                }
                if new_key == found_key {
                    return hit(false);
                }
                if new_key.typ == found_key.typ {
                    return hit(true);
                }
            }
        }
    }
    Ok(Search {
        found: true,
        replace_or_add: true,
        found_line: None,
    })
}

/// Text read the way Python's `open(path, 'r')` does: universal newlines.
fn universal(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The file as Ansible's rewrite produces it: every line but `skip`, then `key`.
fn rewrite(text: &str, skip: Option<usize>, key: Option<&str>) -> String {
    let mut out = String::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if skip == Some(n + 1) {
            continue;
        }
        out.push_str(line);
    }
    if let Some(k) = key {
        out.push_str(k);
    }
    out
}

/// Ansible's `compute_diff`.
fn compute_diff(
    path: &str,
    before: &Before,
    s: &Search,
    present: bool,
    key: Option<&str>,
) -> FileDiff {
    let (header, text) = match before {
        Before::Missing => ("/dev/null".to_string(), String::new()),
        Before::Unreadable => (path.to_string(), String::new()),
        Before::Text(t) => (path.to_string(), t.clone()),
    };
    let mut lines = py_splitlines(&text, true);
    if let Some(n) = s
        .found_line
        .filter(|n| (s.replace_or_add || !present) && *n >= 1 && *n <= lines.len())
    {
        lines.remove(n - 1);
    }
    let mut after = lines.concat();
    if present && (s.replace_or_add || s.found_line.is_none()) {
        after.push_str(key.unwrap_or(""));
    }
    FileDiff {
        before_header: header,
        after_header: path.to_string(),
        before: text,
        after,
    }
}

/// The file's content as `compute_diff` and the rewrite see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Before {
    Missing,
    Unreadable,
    Text(String),
}

/// What the first round trip learned.
#[derive(Debug, Default)]
struct Facts {
    path: String,
    umask: u32,
    /// `ssh-keygen -F` on the supplied key alone (stdout).
    sanity: Option<String>,
    /// `ssh-keygen -F` on the file: rc, stdout, stderr.
    lookup: Option<(i32, String, String)>,
    content: Option<Option<Vec<u8>>>,
    stat: RemoteStat,
}

/// Shell printing the stat line `S` of `"$p"` (not following a symlink).
const STAT: &str =
    "if [ -e \"$p\" ]; then printf 'S '; stat -c '%f %u %g %s %h %U %G' -- \"$p\"; fi; ";

fn parse_stat(st: &mut RemoteStat, rest: &str) {
    let f: Vec<&str> = rest.split(' ').collect();
    if f.len() < 7 {
        return;
    }
    let raw = u32::from_str_radix(f[0], 16).unwrap_or(0);
    st.kind = match raw & 0o170000 {
        0o040000 => Kind::Dir,
        0o120000 => Kind::Link,
        _ => Kind::File,
    };
    st.mode = raw & 0o7777;
    st.uid = f[1].parse().unwrap_or(0);
    st.gid = f[2].parse().unwrap_or(0);
    st.size = f[3].parse().unwrap_or(0);
    st.nlink = f[4].parse().unwrap_or(0);
    st.owner = f[5].to_string();
    st.group = f[6..].join(" ");
}

fn parse_facts(text: &str) -> Facts {
    let mut f = Facts::default();
    for line in text.lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "P" => f.path = String::from_utf8_lossy(&b64(rest)).into_owned(),
            "M" => f.umask = u32::from_str_radix(rest.trim(), 8).unwrap_or(0o022),
            "K" => f.sanity = Some(String::from_utf8_lossy(&b64(rest)).into_owned()),
            "F" => {
                let mut p = rest.splitn(3, ' ');
                let rc = p.next().and_then(|r| r.parse().ok()).unwrap_or(-1);
                let out = String::from_utf8_lossy(&b64(p.next().unwrap_or(""))).into_owned();
                let err = String::from_utf8_lossy(&b64(p.next().unwrap_or(""))).into_owned();
                f.lookup = Some((rc, out, err));
            }
            "C" => f.content = Some(Some(b64(rest))),
            "C!" => f.content = Some(None),
            "S" => parse_stat(&mut f.stat, rest),
            _ => {}
        }
    }
    f.stat.path = f.path.clone();
    f
}

/// Decode a known_hosts file as Python's text mode does (UTF-8, strict).
fn decode(data: &[u8], path: &str) -> Result<String, String> {
    String::from_utf8(data.to_vec())
        .map_err(|e| format!("Failed to read '{path}': it is not valid UTF-8 ({e})"))
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let name = a
        .first_str(&["name", "host"])?
        .ok_or("missing required arguments: name")?;
    let key_param = a.str("key")?;
    let path_param = a
        .str("path")?
        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
    let hash_host = a.bool("hash_host", false)?;
    let state = a
        .choice("state", &["absent", "present"], Some("present"))?
        .unwrap_or_default();
    let present = state == "present";
    let host = name.to_lowercase();
    // An empty key is no key, as for Python's `if key`.
    let mut key = key_param.clone().filter(|k| !k.is_empty());
    if let (Some(k), true) = (&key, hash_host) {
        let salt = crate::random::bytes(20);
        key = Some(hash_host_key(&host, k, &salt).unwrap_or_default());
    }
    if let Some(k) = key.as_mut() {
        if !k.ends_with('\n') {
            k.push('\n');
        }
    }

    // One round trip: the path, the umask, both lookups, the content and the stat.
    let mut script = need_tool("ssh-keygen");
    script.push_str(&expand_script(&path_param));
    script.push_str("printf 'P '; printf %s \"$p\" | base64 -w0; echo; printf 'M '; umask; ");
    let qhost = quote(&host);
    if let Some(k) = &key {
        script.push_str(&format!(
            "t=$(mktemp) || exit 1; printf %s {} > \"$t\"; ssh-keygen -F {qhost} -f \"$t\" > \"$t.o\" 2>/dev/null; \
             printf 'K '; base64 -w0 < \"$t.o\"; echo; rm -f -- \"$t\" \"$t.o\"; ",
            quote(k)
        ));
    }
    script.push_str(&format!(
        "if [ -e \"$p\" ]; then t=$(mktemp) || exit 1; ssh-keygen -F {qhost} -f \"$p\" > \"$t\" 2> \"$t.e\"; rc=$?; \
         printf 'F %s ' $rc; base64 -w0 < \"$t\"; printf ' '; base64 -w0 < \"$t.e\"; echo; rm -f -- \"$t\" \"$t.e\"; \
         if [ -f \"$p\" ] && [ -r \"$p\" ]; then printf 'C '; base64 -w0 < \"$p\"; echo; else echo 'C!'; fi; fi; {STAT}"
    ));
    let out = ctx.exec(&script, None)?;
    if out.rc == 127 {
        let paths = bin_paths(out.stderr_str().trim_end_matches('\n'));
        return Err(
            format!("Failed to find required executable \"ssh-keygen\" in paths: {paths}").into(),
        );
    }
    if !out.success() {
        return Err(format!("could not read {path_param}: {}", out.stderr_str().trim()).into());
    }
    let facts = parse_facts(&out.stdout_str());
    let path = facts.path.clone();

    if key.is_none() && present {
        return Err("No key specified when adding a host".into());
    }
    if key.is_some() {
        if has_comma_list(&host) {
            return Err("Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file.".into());
        }
        if facts.sanity.as_deref().unwrap_or("").is_empty() {
            return Err("Host parameter does not match hashed host field in supplied key".into());
        }
    }
    let s = match &facts.lookup {
        None => Search {
            found: false,
            replace_or_add: false,
            found_line: None,
        },
        Some((rc, o, e)) => search(*rc, o, e, key.as_deref())?,
    };
    let before = match &facts.content {
        None => Before::Missing,
        Some(None) => Before::Unreadable,
        Some(Some(data)) => match String::from_utf8(data.clone()) {
            Ok(t) => Before::Text(universal(&t)),
            Err(_) => Before::Unreadable,
        },
    };
    let diff = compute_diff(&path, &before, &s, present, key.as_deref());
    let diff_value = json!({
        "before_header": diff.before_header, "after_header": diff.after_header,
        "before": diff.before, "after": diff.after,
    });
    let params = |changed: bool, st: &RemoteStat| {
        let mut out = ModuleOutcome::changed(changed)
            .with("name", name.clone())
            .with(
                "key",
                key_param.clone().map(Value::String).unwrap_or(Value::Null),
            )
            .with("path", path.clone())
            .with("hash_host", hash_host)
            .with("state", state.clone())
            .with("diff", diff_value.clone());
        if st.exists() {
            out = add_path_info(out, st);
        }
        out
    };
    let with_diff = |mut out: ModuleOutcome, diff_mode: bool| {
        if diff_mode {
            out.diffs.push(diff.clone());
        }
        out
    };
    if !present && s.found_line.is_none() && key.is_some() {
        return Ok(with_diff(params(false, &facts.stat), ctx.diff_mode));
    }
    if ctx.check_mode {
        let changed = s.replace_or_add || present != s.found;
        let out = ModuleOutcome::changed(changed).with("diff", diff_value.clone());
        return Ok(with_diff(out, ctx.diff_mode));
    }

    let mut changed = false;
    let mut stat = facts.stat.clone();
    // The text the rewrite starts from, and its bytes on disk.
    let mut current: Option<Vec<u8>> = match &facts.content {
        None => None,
        Some(c) => c.clone(),
    };
    let mut skip = s.found_line;
    if s.found && key.is_none() && !present {
        let script = format!(
            "p={}; t=$(mktemp) || exit 1; ssh-keygen -R {qhost} -f \"$p\" > \"$t\" 2> \"$t.e\"; rc=$?; \
             printf 'R %s ' $rc; base64 -w0 < \"$t\"; printf ' '; base64 -w0 < \"$t.e\"; echo; rm -f -- \"$t\" \"$t.e\"; \
             if [ -f \"$p\" ] && [ -r \"$p\" ]; then printf 'C '; base64 -w0 < \"$p\"; echo; else echo 'C!'; fi; {STAT}",
            quote(&path)
        );
        let out = ctx.exec(&script, None)?;
        if !out.success() {
            return Err(format!(
                "Could not run ssh-keygen -R on {path}: {}",
                out.stderr_str().trim()
            )
            .into());
        }
        let text = out.stdout_str();
        let after = parse_facts(&text);
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("R ")) {
            let mut p = line.splitn(3, ' ');
            let rc: i64 = p.next().and_then(|r| r.parse().ok()).unwrap_or(-1);
            let o = String::from_utf8_lossy(&b64(p.next().unwrap_or(""))).into_owned();
            let e = String::from_utf8_lossy(&b64(p.next().unwrap_or(""))).into_owned();
            if rc != 0 {
                let cmd = format!("ssh-keygen -R {host} -f {path}");
                return Err(Stop::Outcome(
                    ModuleOutcome::failed(e.trim_end().to_string())
                        .with("cmd", cmd)
                        .with("rc", rc)
                        .with("stdout", o)
                        .with("stderr", e),
                ));
            }
        }
        current = after.content.and_then(|c| c);
        stat = after.stat;
        stat.path = path.clone();
        skip = None;
        changed = true;
    }
    if s.replace_or_add || s.found != present {
        let text = match &current {
            Some(data) => Some(decode(data, &path)?),
            None if facts.content.is_some() => {
                return Err(format!("Failed to read '{path}'.").into())
            }
            None => None,
        };
        let new = rewrite(
            &universal(text.as_deref().unwrap_or("")),
            skip.filter(|_| s.replace_or_add || !present),
            key.as_deref().filter(|_| present),
        );
        // After `-R` the rewrite only normalizes newlines: skip it when that changes nothing.
        if current.as_deref() != Some(new.as_bytes()) {
            let w = Write {
                dest: &path,
                content: new.as_bytes(),
                default_mode: 0o666 & !facts.umask,
                ..Write::default()
            };
            let applied = remote_file::write_file(ctx, &w).map_err(|stop| match stop {
                Stop::Fail(m) => Stop::Fail(format!("Failed to write to file '{path}': {m}")),
                other => other,
            })?;
            stat = applied.stat;
        }
        changed = true;
    }
    Ok(with_diff(params(changed, &stat), ctx.diff_mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        assert_check_predicts, rooted, run_module, setup, snapshot, Entry, Gen, Run,
    };

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDWddAUAVDO41rdmNEgcwCAu7powCHyCpH09C7N4Q3Z";
    const K2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH+jVDszjVnsXD6jA6iwjoeLVHZrH4y/z6g2z1Ds2CRl";
    const K3: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGj3obBBteVuYIItqCJXZbCZT1jPW1PGnmDLnEI6Q8fy0ea1gxowSvab8S07NY9hOg3uK97WOpORyGb2iGY7tG4=";

    fn line(host: &str, k: &str) -> String {
        format!("{host} {k}\n")
    }

    /// (name, initial file, args, changed, file afterwards).
    fn rows() -> Vec<(&'static str, Option<String>, Value, bool, Option<String>)> {
        let a1 = line("a.example", K1);
        let b1 = line("b.example", K1);
        vec![
            (
                "add to a new file",
                None,
                json!({"name": "a.example", "key": line("a.example", K1)}),
                true,
                Some(a1.clone()),
            ),
            (
                "already there",
                Some(a1.clone()),
                json!({"name": "a.example", "key": format!("a.example {K1}")}),
                false,
                Some(a1.clone()),
            ),
            (
                "name is lowercased",
                Some(a1.clone()),
                json!({"name": "A.Example", "key": format!("a.example {K1}")}),
                false,
                Some(a1.clone()),
            ),
            (
                "comment ignored",
                Some(a1.clone()),
                json!({"name": "a.example", "key": format!("a.example {K1} me@there")}),
                false,
                Some(a1.clone()),
            ),
            (
                "append after others",
                Some(b1.clone()),
                json!({"name": "a.example", "key": format!("a.example {K1}")}),
                true,
                Some(format!("{b1}{a1}")),
            ),
            (
                "same type is replaced",
                Some(format!("{b1}{a1}# c\n")),
                json!({"name": "a.example", "key": format!("a.example {K2}")}),
                true,
                Some(format!("{b1}# c\n{}", line("a.example", K2))),
            ),
            (
                "other type is added",
                Some(a1.clone()),
                json!({"name": "a.example", "key": format!("a.example {K3}")}),
                true,
                Some(format!("{a1}{}", line("a.example", K3))),
            ),
            (
                "multi-name entry is replaced",
                Some(line("a.example,10.0.0.1", K1)),
                json!({"name": "a.example", "key": format!("a.example {K1}")}),
                true,
                Some(a1.clone()),
            ),
            (
                "crlf is normalized",
                Some(format!("b.example {K1}\r\n")),
                json!({"name": "a.example", "key": format!("a.example {K1}")}),
                true,
                Some(format!("{b1}{a1}")),
            ),
            (
                "no final newline joins lines",
                Some(format!("b.example {K1}")),
                json!({"name": "a.example", "key": format!("a.example {K1}")}),
                true,
                Some(format!("b.example {K1}a.example {K1}\n")),
            ),
            (
                "absent removes the host",
                Some(format!("{b1}{a1}{}", line("a.example", K3))),
                json!({"name": "a.example", "state": "absent"}),
                true,
                Some(b1.clone()),
            ),
            (
                "absent with a key removes that type",
                Some(format!("{a1}{}", line("a.example", K3))),
                json!({"name": "a.example", "key": format!("a.example {K2}"), "state": "absent"}),
                true,
                Some(line("a.example", K3)),
            ),
            (
                "absent and not there",
                Some(b1.clone()),
                json!({"name": "a.example", "state": "absent"}),
                false,
                Some(b1.clone()),
            ),
            (
                "absent key of an unknown type",
                Some(a1.clone()),
                json!({"name": "a.example", "key": format!("a.example {K3}"), "state": "absent"}),
                false,
                Some(a1.clone()),
            ),
            (
                "absent on a missing file",
                None,
                json!({"name": "a.example", "state": "absent"}),
                false,
                None,
            ),
            (
                "cert-authority entry is its own",
                Some(format!("@cert-authority a.example {K1}\n")),
                json!({"name": "a.example", "key": format!("a.example {K1}")}),
                true,
                Some(format!("@cert-authority a.example {K1}\n{a1}")),
            ),
            (
                "cert-authority key kept",
                Some(format!("@cert-authority a.example {K1}\n")),
                json!({"name": "a.example", "key": format!("@cert-authority a.example {K1}")}),
                false,
                Some(format!("@cert-authority a.example {K1}\n")),
            ),
        ]
    }

    #[test]
    fn fixture_table() {
        for (name, initial, args, changed, want) in rows() {
            for check in [true, false] {
                let tmp = tempfile::tempdir().unwrap();
                let root = tmp.path();
                if let Some(c) = &initial {
                    std::fs::write(root.join("kh"), c).unwrap();
                }
                let before = snapshot(root);
                let mut args = args.clone();
                args["path"] = json!("{root}/kh");
                let (out, _) = run_module(
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
                let diff = &out.result["diff"];
                assert_eq!(out.diffs.len(), 1, "{name}");
                assert_eq!(
                    diff["before"],
                    json!(initial.as_deref().map(universal).unwrap_or_default()),
                    "{name}"
                );
                if check {
                    assert_eq!(snapshot(root), before, "{name}");
                    continue;
                }
                let got = std::fs::read_to_string(root.join("kh")).ok();
                assert_eq!(got, want, "{name}");
                assert_eq!(
                    out.result["path"],
                    json!(root.join("kh").to_string_lossy()),
                    "{name}: {out:?}"
                );
                assert_eq!(out.result["name"], args["name"], "{name}");
                // The diff predicts the file, except after ssh-keygen -R: Ansible's diff shows no removal then.
                if let (Some(w), false) = (&want, name == "absent removes the host") {
                    assert_eq!(diff["after"], json!(w), "{name}");
                }
                if name == "absent removes the host" {
                    assert!(
                        root.join("kh.old").exists(),
                        "ssh-keygen -R keeps a backup as with Ansible"
                    );
                }
            }
        }
    }

    #[test]
    fn hashed_names() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let args = rooted(
            &json!({"name": "h.example", "key": format!("h.example {K1}"), "hash_host": true, "path": "{root}/kh"}),
            root,
        );
        let (out, _) = run_module(run, &args, &Run::default());
        assert!(out.is_changed(), "{out:?}");
        let text = std::fs::read_to_string(root.join("kh")).unwrap();
        assert!(
            text.starts_with("|1|") && text.ends_with(&format!(" {K1}\n")),
            "{text}"
        );
        // The host's ssh-keygen finds the hashed name.
        let found = std::process::Command::new("ssh-keygen")
            .args(["-F", "h.example", "-f"])
            .arg(root.join("kh"))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&found.stdout).contains("found: line 1"));
        // A new salt each run, yet an already hashed entry is kept.
        let (again, calls) = run_module(run, &args, &Run::default());
        assert!(!again.is_changed(), "{again:?}");
        assert_eq!(calls, 1);
        assert_eq!(std::fs::read_to_string(root.join("kh")).unwrap(), text);
        // Without hash_host the plain key does not equal the hashed entry: replaced.
        let plain = rooted(
            &json!({"name": "h.example", "key": format!("h.example {K1}"), "path": "{root}/kh"}),
            root,
        );
        let (out, _) = run_module(run, &plain, &Run::default());
        assert!(out.is_changed());
        assert_eq!(
            std::fs::read_to_string(root.join("kh")).unwrap(),
            line("h.example", K1)
        );
        // A supplied hashed key must hash the name.
        let (out, _) = run_module(
            run,
            &rooted(
                &json!({"name": "other.example", "key": text.trim(), "path": "{root}/kh"}),
                root,
            ),
            &Run::default(),
        );
        assert_eq!(
            out.result["msg"],
            json!("Host parameter does not match hashed host field in supplied key")
        );
        let salt = b"0123456789abcdefghij";
        // Checked with Python: hmac.new(salt, b"h.example", hashlib.sha1).
        assert_eq!(
            hash_host_key("h.example", &format!("h.example {K1} c"), salt).unwrap(),
            format!(
                "|1|MDEyMzQ1Njc4OWFiY2RlZmdoaWo=|{} {K1} c",
                base64::engine::general_purpose::STANDARD.encode(hmac_sha1(salt, b"h.example"))
            )
        );
        assert_eq!(
            hex(&hmac_sha1(
                b"key",
                b"The quick brown fox jumps over the lazy dog"
            )),
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn failures_and_results() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let r = |args: Value| run_module(run, &rooted(&args, root), &Run::default()).0;
        for (args, msg) in [
            (json!({"name": "a.example", "path": "{root}/kh"}), "No key specified when adding a host"),
            (json!({"name": "a.example, b", "key": format!("a.example {K1}"), "path": "{root}/kh"}), "Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file."),
            (json!({"name": "a.example", "key": format!("b.example {K1}"), "path": "{root}/kh"}), "Host parameter does not match hashed host field in supplied key"),
            (json!({"name": "a.example", "key": "a.example garbage", "path": "{root}/kh"}), "Host parameter does not match hashed host field in supplied key"),
            (json!({"path": "{root}/kh"}), "missing required arguments: name"),
            (json!({"name": "a", "state": "gone"}), "value of state must be one of: absent, present, got: gone"),
        ] {
            let out = r(args.clone());
            assert!(out.is_failed(), "{args}");
            assert_eq!(out.result["msg"], json!(msg), "{args}");
        }
        let out = r(
            json!({"name": "a.example", "key": format!("a.example {K1}"), "path": "{root}/nodir/kh"}),
        );
        assert!(
            out.result["msg"].as_str().unwrap().starts_with(&format!(
                "Failed to write to file '{}/nodir/kh': ",
                root.display()
            )),
            "{out:?}"
        );
        let out = r(
            json!({"name": "a.example", "key": format!("a.example {K1}"), "path": "{root}/kh", "port": 22}),
        );
        assert!(out.result["msg"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported parameters for (known_hosts) module: port."));
        // The result repeats the parameters, as Ansible's does, with the file's facts.
        let out =
            r(json!({"host": "A.example", "key": format!("a.example {K1}"), "path": "{root}/kh"}));
        assert_eq!(out.result["name"], json!("A.example"));
        assert_eq!(out.result["key"], json!(format!("a.example {K1}")));
        assert_eq!(out.result["hash_host"], json!(false));
        assert_eq!(
            out.result["state"],
            json!("file"),
            "add_path_info's state wins, as in Ansible: {out:?}"
        );
        assert_eq!(out.result["mode"], json!("0644"));
        assert_eq!(out.result["diff"]["before_header"], json!("/dev/null"));
        // Check mode answers only changed and diff.
        let (out, _) = run_module(
            run,
            &rooted(
                &json!({"name": "b.example", "key": format!("b.example {K1}"), "path": "{root}/kh"}),
                root,
            ),
            &Run {
                check: true,
                ..Run::default()
            },
        );
        let keys: Vec<&str> = out.result.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["changed", "diff"]);
        // An existing file keeps its mode.
        std::fs::set_permissions(
            root.join("kh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let out =
            r(json!({"name": "b.example", "key": format!("b.example {K1}"), "path": "{root}/kh"}));
        assert_eq!(out.result["mode"], json!("0600"), "{out:?}");
    }

    #[test]
    fn default_path_is_the_users() {
        let home = std::env::var("HOME").unwrap();
        let (out, calls) = run_module(
            run,
            &json!({"name": "berth-never.example", "state": "absent"}),
            &Run {
                check: true,
                ..Run::default()
            },
        );
        assert!(!out.is_changed() && !out.is_failed(), "{out:?}");
        assert_eq!(calls, 1);
        let (out, _) = run_module(
            run,
            &json!({"name": "berth-never.example", "state": "absent"}),
            &Run::default(),
        );
        assert_eq!(
            out.result["path"],
            json!(format!("{home}/.ssh/known_hosts"))
        );
    }

    fn generate(g: &mut Gen) -> (Option<String>, Value) {
        let hosts = ["a.example", "b.example"];
        let keys = [K1, K2, K3];
        let mut initial = None;
        if g.below(4) > 0 {
            let mut text = String::new();
            for _ in 0..g.below(4) {
                match g.below(5) {
                    0 => text.push_str("# comment\n"),
                    1 => text.push_str(&line(
                        &format!("{},10.0.0.{}", g.pick(&hosts), g.below(3)),
                        g.pick::<&str>(&keys),
                    )),
                    _ => text.push_str(&line(g.pick::<&str>(&hosts), g.pick::<&str>(&keys))),
                }
            }
            initial = Some(text);
        }
        let host = *g.pick(&hosts);
        let mut args = json!({"name": host, "path": "{root}/kh"});
        if g.below(5) > 0 {
            args["key"] = json!(format!("{host} {}", g.pick(&keys)));
        }
        if g.below(3) == 0 {
            args["state"] = json!("absent");
        }
        (initial, args)
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(5);
        let mut full = 0;
        for i in 0..50 {
            let (initial, args) = generate(&mut g);
            let label = format!("case {i}: {args} on {initial:?}");
            let fresh = || {
                let tmp = tempfile::tempdir().unwrap();
                if let Some(c) = &initial {
                    std::fs::write(tmp.path().join("kh"), c).unwrap();
                }
                tmp
            };
            // Some files take Ansible two runs to settle (two entries of one key
            // type for the host: each run replaces or removes one of them).
            // On a scratch copy: check mode predicts each of the first two runs.
            let scratch = fresh();
            let sargs = rooted(&args, scratch.path());
            let mut settles = true;
            for run_no in 0..2 {
                let (check, real) = crate::modules::test_support::check_then_real(
                    run,
                    scratch.path(),
                    &sargs,
                    &format!("{label} run {run_no}"),
                );
                assert_eq!(check.result.get("msg"), real.result.get("msg"), "{label}");
                settles &= run_no == 0 || !real.is_changed();
            }
            if settles {
                full += 1;
                let tmp = fresh();
                assert_check_predicts(
                    run,
                    tmp.path(),
                    &rooted(&args, tmp.path()),
                    &Run::default(),
                    &label,
                );
            }
        }
        assert!(full > 35, "most generated cases settle in one run: {full}");
    }

    /// The same generated cases through Ansible's own known_hosts.
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut g = Gen::new(17);
        let mut cases: Vec<_> = (0..30).map(|_| generate(&mut g)).collect();
        cases.push((
            None,
            json!({"name": "a.example", "key": format!("b.example {K1}"), "path": "{root}/kh"}),
        ));
        cases.push((
            None,
            json!({"name": "a.example,b", "key": format!("a.example {K1}"), "path": "{root}/kh"}),
        ));
        cases.push((
            Some(format!("x {K1}\r\ny {K2}")),
            json!({"name": "a.example", "key": format!("a.example {K1}"), "path": "{root}/kh"}),
        ));
        cases.push((
            Some(line("a.example", K1)),
            json!({"name": "A.EXAMPLE", "path": "{root}/kh", "state": "absent"}),
        ));
        let mut tasks = Vec::new();
        for (i, (initial, args)) in cases.iter().enumerate() {
            for side in ["ansible", "berth"] {
                let dir = root.join(format!("{side}{i}"));
                std::fs::create_dir(&dir).unwrap();
                if let Some(c) = initial {
                    setup(&dir, &[Entry::Bytes("kh", c.clone().into_bytes(), 0o644)]);
                }
            }
            tasks.push(rooted(args, &root.join(format!("ansible{i}"))));
        }
        let Some(expected) =
            crate::modules::test_support::ansible_results("known_hosts", &tasks, root)
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, (initial, args)) in cases.iter().enumerate() {
            let dir = root.join(format!("berth{i}"));
            let (out, _) = run_module(run, &rooted(args, &dir), &Run::default());
            let want: Value = serde_json::from_str(
                &expected[i]
                    .to_string()
                    .replace(&format!("ansible{i}"), &format!("berth{i}")),
            )
            .unwrap();
            let label = format!("case {i}: {args} on {initial:?}");
            crate::modules::test_support::assert_same_outcome(&out, &want, &label);
            assert_eq!(out.result.get("msg"), want.get("msg"), "{label}");
            if !out.is_failed() {
                assert_eq!(out.result["diff"], want["diff"], "{label}");
                for k in ["name", "key", "path", "hash_host", "mode", "size", "state"] {
                    assert_eq!(out.result.get(k), want.get(k), "{label}: {k}");
                }
            }
            for f in ["kh", "kh.old"] {
                let a = std::fs::read(root.join(format!("ansible{i}/{f}"))).ok();
                let b = std::fs::read(dir.join(f)).ok();
                assert_eq!(a, b, "{label}: {f}");
            }
        }
    }
}
