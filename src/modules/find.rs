//! `find`: files matching name, age, size, mode and content criteria, with
//! ansible-core 2.19's semantics, in one round trip to list (GNU `find
//! -printf`, NUL-separated, binary safe) and at most one more to read
//! checksums or contents of candidate files only. Every filter and the
//! walk itself (`os.walk` order, depth counting, limits, hidden entries,
//! error handling per path) are replayed here on the listing.
//!
//! Entries of one directory are taken in byte order of their names (then
//! files before directories, as `os.walk` lists them); Ansible takes them in
//! the filesystem's `scandir` order, which is not deterministic.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::connection::ConnError;
use crate::modules::args::{type_name, Args};
use crate::modules::codec::Codec;
use crate::modules::file_mode::format_mode;
use crate::modules::py_re::{fnmatch, PyRegex};
use crate::modules::remote_file::{finish, Stop};
use crate::modules::{quote, ModuleContext, ModuleOutcome};
use crate::playbook::filters::{py_join_bytes, py_normpath_bytes, py_str_repr};

const KNOWN: &[&str] = &[
    "paths",
    "name",
    "path",
    "patterns",
    "pattern",
    "excludes",
    "exclude",
    "contains",
    "read_whole_file",
    "file_type",
    "age",
    "age_stamp",
    "size",
    "recurse",
    "hidden",
    "follow",
    "get_checksum",
    "checksum_algorithm",
    "checksum",
    "checksum_algo",
    "use_regex",
    "depth",
    "mode",
    "exact_mode",
    "encoding",
    "limit",
];

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// Python's text decoding reads files in chunks of this size (`TextIOWrapper._CHUNK_SIZE`).
const CHUNK: usize = 8192;

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("find", args)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileType {
    Any,
    Directory,
    File,
    Link,
}

#[derive(Debug, Clone)]
struct Opts {
    paths: Vec<String>,
    patterns: Vec<String>,
    excludes: Vec<String>,
    contains: Option<String>,
    read_whole_file: bool,
    file_type: FileType,
    age: Option<i128>,
    age_stamp: String,
    size: Option<i128>,
    recurse: bool,
    hidden: bool,
    follow: bool,
    get_checksum: bool,
    algorithm: String,
    use_regex: bool,
    /// `depth` when truthy (Ansible ignores 0).
    depth: Option<i64>,
    /// `mode` when truthy.
    mode: Option<String>,
    exact_mode: bool,
    /// `encoding` as given.
    encoding: Option<String>,
    /// How file contents decode (`contains`): `Err` is Python's LookupError.
    text: Result<Codec, String>,
    limit: Option<i64>,
}

/// Ansible's `list` type: a list, a comma-separated string (split as is),
/// or one scalar.
fn py_list(a: &Args<'_>, key: &str) -> Result<Option<Vec<String>>, String> {
    let elem = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(if *b { "True" } else { "False" }.to_string()),
            Value::Null => Ok("None".to_string()),
            other => Err(format!(
                "argument '{key}' has an element of type {} that cannot be converted to str",
                type_name(other)
            )),
        }
    };
    match a.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(elem)
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(Value::String(s)) => Ok(Some(s.split(',').map(str::to_string).collect())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(vec![elem(v)?])),
        Some(other) => {
            let t = type_name(other);
            Err(format!("argument '{key}' is of type {t} and we were unable to convert to list: <class '{t}'> cannot be converted to a list"))
        }
    }
}

/// Ansible's `int` type (integral floats and booleans accepted, as Python does).
fn py_int(a: &Args<'_>, key: &str) -> Result<Option<i64>, String> {
    match a.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                _ => Err(format!("argument '{key}' is of type float and we were unable to convert to int: \"{n}\" cannot be converted to an int")),
            }
        }
        Some(Value::Bool(b)) => Ok(Some(i64::from(*b))),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            format!("argument '{key}' is of type str and we were unable to convert to int: \"{}\" cannot be converted to an int", py_str_repr(s))
        }),
        Some(other) => Err(format!("argument '{key}' is of type {} and we were unable to convert to int", type_name(other))),
    }
}

fn first_set<'a>(a: &Args<'a>, keys: &[&'a str]) -> &'a str {
    keys.iter()
        .copied()
        .find(|k| a.get(k).is_some())
        .unwrap_or(keys[0])
}

/// `^(-?\d+)(unit)?$` on the lowered text (Python's `$` allows one trailing newline).
fn number_with_unit(text: &str, units: &[(char, i128)]) -> Option<i128> {
    let lower = text.to_lowercase();
    let t = lower.strip_suffix('\n').unwrap_or(&lower);
    let (num, mult) = match t.chars().last() {
        Some(c) if !c.is_ascii_digit() => (
            &t[..t.len() - c.len_utf8()],
            units.iter().find(|(u, _)| *u == c)?.1,
        ),
        _ => (t, 1),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: i128 = num.parse().ok()?;
    n.checked_mul(mult)
}

fn parse_opts(a: &Args<'_>) -> Result<Opts, Stop> {
    a.check_known(KNOWN)?;
    let paths_key = first_set(a, &["paths", "name", "path"]);
    let paths = py_list(a, paths_key)?.ok_or("missing required arguments: paths")?;
    let patterns_key = first_set(a, &["patterns", "pattern"]);
    let mut patterns = py_list(a, patterns_key)?.unwrap_or_default();
    let excludes_key = first_set(a, &["excludes", "exclude"]);
    let excludes = py_list(a, excludes_key)?.unwrap_or_default();
    let contains = a.str("contains")?;
    let read_whole_file = a.bool("read_whole_file", false)?;
    let file_type = match a
        .choice(
            "file_type",
            &["any", "directory", "file", "link"],
            Some("file"),
        )?
        .as_deref()
    {
        Some("any") => FileType::Any,
        Some("directory") => FileType::Directory,
        Some("link") => FileType::Link,
        _ => FileType::File,
    };
    let age_raw = a.str("age")?;
    let age_stamp = a
        .choice("age_stamp", &["atime", "ctime", "mtime"], Some("mtime"))?
        .unwrap_or_default();
    let size_raw = a.str("size")?;
    let recurse = a.bool("recurse", false)?;
    let hidden = a.bool("hidden", false)?;
    let follow = a.bool("follow", false)?;
    let get_checksum = a.bool("get_checksum", false)?;
    let algo_key = first_set(a, &["checksum_algorithm", "checksum", "checksum_algo"]);
    let algorithm = a
        .choice(algo_key, ALGORITHMS, Some("sha1"))?
        .unwrap_or_default();
    let use_regex = a.bool("use_regex", false)?;
    let depth = py_int(a, "depth")?.filter(|d| *d != 0);
    let mode = match a.get("mode") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(v) if !is_truthy(v) => None,
        Some(v) => {
            return Err(format!(
            "argument 'mode' is not a string and conversion is not allowed, value is of type {}",
            type_name(v)
        )
            .into())
        }
    };
    let exact_mode = a.bool("exact_mode", true)?;
    let encoding = a.str("encoding")?;
    let text = Codec::lookup(encoding.as_deref().unwrap_or("utf-8"));
    let limit = py_int(a, "limit")?;
    if patterns.is_empty() {
        patterns.push(if use_regex { ".*" } else { "*" }.to_string());
    }
    let age = match &age_raw {
        None => None,
        Some(raw) => {
            let units = [
                ('s', 1),
                ('m', 60),
                ('h', 3600),
                ('d', 86400),
                ('w', 604800),
            ];
            match number_with_unit(raw, &units) {
                Some(n) => Some(n),
                None => {
                    return Err(Stop::Outcome(
                        ModuleOutcome::failed("failed to process age").with("age", raw.clone()),
                    ))
                }
            }
        }
    };
    let size = match &size_raw {
        None => None,
        Some(raw) => {
            let k: i128 = 1024;
            let units = [
                ('b', 1),
                ('k', k),
                ('m', k.pow(2)),
                ('g', k.pow(3)),
                ('t', k.pow(4)),
            ];
            match number_with_unit(raw, &units) {
                Some(n) => Some(n),
                None => {
                    return Err(Stop::Outcome(
                        ModuleOutcome::failed("failed to process size").with("size", raw.clone()),
                    ))
                }
            }
        }
    };
    if let Some(l) = limit.filter(|l| *l <= 0) {
        return Err(format!("limit cannot be {l} (use None for unlimited)").into());
    }
    Ok(Opts {
        paths,
        patterns,
        excludes,
        contains,
        read_whole_file,
        file_type,
        age,
        age_stamp,
        size,
        recurse,
        hidden,
        follow,
        get_checksum,
        algorithm,
        use_regex,
        depth,
        mode,
        exact_mode,
        encoding,
        text,
        limit,
    })
}

fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

// ------------------------------------------------------------------- listing

/// Per entry: readable flag (`R`/`U`), lstat type, followed type, mode,
/// uid, gid, size, inode, device, links, atime, mtime, ctime, user, group,
/// then the path.
const FIELDS: &str = r"%y\0%Y\0%m\0%U\0%G\0%s\0%i\0%D\0%n\0%A@\0%T@\0%C@\0%u\0%g\0";
const READABLE: &str = r"\( -readable -printf 'R\0' -o -printf 'U\0' \)";

/// Python's `os.path.expandvars` then `expanduser`, done by the host's shell
/// (the variables and home directories are the host's); sets `$p`.
pub(crate) fn expand_script(path: &str) -> String {
    if !path.contains('$') && !path.starts_with('~') {
        return format!("p={}; ", quote(path));
    }
    let mut s = String::from("p=''; ");
    let chars: Vec<char> = path.chars().collect();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            // `\$(\w+|\{[^}]*\})` with ASCII `\w`.
            let word: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            let var = if !word.is_empty() {
                Some((word.clone(), word.chars().count() + 1))
            } else if chars.get(i + 1) == Some(&'{') {
                chars[i + 2..].iter().position(|c| *c == '}').map(|end| {
                    (
                        chars[i + 2..i + 2 + end].iter().collect::<String>(),
                        end + 3,
                    )
                })
            } else {
                None
            };
            if let Some((name, len)) = var {
                if !lit.is_empty() {
                    s.push_str(&format!("p=\"$p\"{}; ", quote(&lit)));
                    lit.clear();
                }
                let raw: String = chars[i..i + len].iter().collect();
                s.push_str(&format!(
                    "if v=$(printenv -- {} && printf .); then p=\"$p${{v%??}}\"; else p=\"$p\"{}; fi; ",
                    quote(&name),
                    quote(&raw)
                ));
                i += len;
                continue;
            }
        }
        lit.push(chars[i]);
        i += 1;
    }
    if !lit.is_empty() {
        s.push_str(&format!("p=\"$p\"{}; ", quote(&lit)));
    }
    s.push_str(
        "case $p in '~'*) r=${p#?}; n=${r%%/*}; t=${r#\"$n\"}; ok=0; \
         if [ -z \"$n\" ]; then if [ -n \"${HOME+x}\" ]; then h=$HOME; ok=1; \
         elif e=$(getent passwd \"$(id -u)\"); then h=$(printf '%s\\n' \"$e\" | head -n1 | cut -d: -f6); ok=1; fi; \
         elif e=$(getent passwd -- \"$n\") && [ \"${e%%:*}\" = \"$n\" ]; then h=$(printf '%s\\n' \"$e\" | cut -d: -f6); ok=1; fi; \
         if [ $ok = 1 ]; then while case $h in */) true;; *) false;; esac; do h=${h%/}; done; p=$h$t; [ -n \"$p\" ] || p=/; fi;; esac; ",
    );
    s
}

fn slashes(b: &[u8]) -> i64 {
    b.iter().filter(|c| **c == b'/').count() as i64
}

/// Ansible's depth of an entry found under `npath`.
fn entry_depth(npath: &[u8], fsname: &[u8]) -> i64 {
    let mut wpath = npath.to_vec();
    while wpath.last() == Some(&b'/') {
        wpath.pop();
    }
    wpath.push(b'/');
    slashes(fsname) - slashes(&wpath) + 1
}

/// How many levels below `npath` the walk can list (None: all).
fn max_levels(o: &Opts, npath: &str) -> Option<i64> {
    if !o.recurse {
        return Some(1);
    }
    let d = o.depth?;
    if npath.contains('$') || npath.starts_with('~') {
        return None; // expanded on the host: let the replay cut it
    }
    let first = py_normpath_bytes(&py_join_bytes(npath.as_bytes(), b"x"));
    let base = entry_depth(npath.as_bytes(), &first);
    Some((d - base + 1).max(0) + 1)
}

fn list_script(o: &Opts) -> String {
    let mut s = String::from("printf 'H\\0%s\\0%s\\0' \"$(umask)\" \"$(date +%s.%N)\"; ");
    for npath in &o.paths {
        let maxdepth = max_levels(o, npath)
            .map(|m| format!("-maxdepth {m} "))
            .unwrap_or_default();
        s.push_str(&expand_script(npath));
        s.push_str("printf 'P\\0%s\\0' \"$p\"; if [ -d \"$p\" ]; then if [ -r \"$p\" ]; then case $p in /*) s=$p;; *) s=./$p;; esac; printf 'D\\0'; ");
        if o.follow {
            // Symlinks are stat'ed without following them (Ansible lstats every
            // entry), so they are listed apart, by a -P find on each.
            let inner = format!(
                "exec find -P \"$@\" -maxdepth 0 {READABLE} -printf {}",
                quote(&format!("{FIELDS}%p\\0"))
            );
            s.push_str(&format!(
                "find -L \"$s\" -mindepth 1 {maxdepth}\\( -xtype l -o \\( {READABLE} -printf '{FIELDS}%P\\0' \\) \\) 2>/dev/null; printf 'X\\0%s\\0' \"$?\"; \
                 find -L \"$s\" -mindepth 1 {maxdepth}-xtype l -printf './%P\\0' 2>/dev/null | (cd -- \"$s\" && xargs -0 -r sh -c {} sh) 2>/dev/null; printf 'Y\\0'; ",
                quote(&inner)
            ));
        } else {
            s.push_str(&format!(
                "find -H \"$s\" -mindepth 1 {maxdepth}{READABLE} -printf '{FIELDS}%P\\0' 2>/dev/null; printf 'X\\0%s\\0' \"$?\"; "
            ));
        }
        s.push_str("else printf 'E\\0'; fi; else printf 'N\\0'; fi; ");
    }
    s
}

/// One listed entry.
#[derive(Debug, Clone, Default)]
struct Ent {
    name: Vec<u8>,
    readable: bool,
    /// `find`'s `%y` (the entry itself) and `%Y` (symlinks followed).
    ltype: u8,
    ftype: u8,
    perm: u32,
    uid: u64,
    gid: u64,
    size: u64,
    inode: u64,
    dev: u64,
    nlink: u64,
    atime: f64,
    mtime: f64,
    ctime: f64,
    user: String,
    group: String,
}

/// Everything listed under one path.
#[derive(Debug, Default)]
struct Tree {
    ents: Vec<Ent>,
    /// Parent's path relative to the top ("" for the top) → entries, sorted by name.
    children: HashMap<Vec<u8>, Vec<usize>>,
}

#[derive(Debug)]
enum Top {
    NotDir,
    Unreadable,
    Listed(Tree),
}

#[derive(Debug)]
struct Listing {
    umask: u32,
    now: f64,
    tops: Vec<(String, Top)>,
}

/// `st_*time` as Python computes it from seconds and nanoseconds.
fn py_time(s: &str) -> f64 {
    match s.split_once('.') {
        Some((sec, frac)) if !sec.starts_with('-') => {
            let ns: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
            sec.parse::<i64>().unwrap_or(0) as f64 + ns.parse::<i64>().unwrap_or(0) as f64 * 1e-9
        }
        _ => s.parse().unwrap_or(0.0),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_listing(out: &[u8], follow: bool) -> Result<Listing, String> {
    let toks: Vec<&[u8]> = out.split(|b| *b == 0).collect();
    let mut it = toks.into_iter();
    let bad = || {
        format!(
            "unexpected answer from the host's find: {:?}",
            String::from_utf8_lossy(&out[..out.len().min(300)])
        )
    };
    if it.next() != Some(b"H") {
        return Err(bad());
    }
    let umask = it
        .next()
        .map(lossy)
        .and_then(|u| u32::from_str_radix(u.trim(), 8).ok())
        .unwrap_or(0o022);
    let now = it
        .next()
        .map(lossy)
        .map(|t| py_time(t.trim()))
        .unwrap_or(0.0);
    let mut tops = Vec::new();
    while let Some(tok) = it.next() {
        match tok {
            b"P" => {}
            b"" => continue,
            _ => return Err(bad()),
        }
        let path = lossy(it.next().ok_or_else(bad)?);
        let top = match it.next().ok_or_else(bad)? {
            b"N" => Top::NotDir,
            b"E" => Top::Unreadable,
            b"D" => {
                let mut tree = Tree::default();
                let mut linked = false;
                loop {
                    let flag = it.next().ok_or_else(bad)?;
                    match flag {
                        b"X" => {
                            let rc = it.next().map(lossy).unwrap_or_default();
                            if rc == "127" {
                                return Err("the host has no GNU find (findutils)".into());
                            }
                            if !follow {
                                break;
                            }
                            // Then the symlinks, each listed by its own `find -P`.
                            linked = true;
                        }
                        b"Y" => break,
                        b"R" | b"U" => {
                            let f: Vec<&[u8]> =
                                (0..15).map(|_| it.next().unwrap_or_default()).collect();
                            let mut rel = f[14].to_vec();
                            if linked {
                                rel = rel.strip_prefix(b"./").map(<[u8]>::to_vec).unwrap_or(rel);
                            }
                            let num = |b: &[u8]| lossy(b).parse::<u64>().unwrap_or(0);
                            let (parent, name) = match rel.iter().rposition(|c| *c == b'/') {
                                Some(i) => (rel[..i].to_vec(), rel[i + 1..].to_vec()),
                                None => (Vec::new(), rel.clone()),
                            };
                            tree.ents.push(Ent {
                                name,
                                readable: flag == b"R",
                                ltype: f[0].first().copied().unwrap_or(b'U'),
                                ftype: f[1].first().copied().unwrap_or(b'U'),
                                perm: u32::from_str_radix(&lossy(f[2]), 8).unwrap_or(0) & 0o7777,
                                uid: num(f[3]),
                                gid: num(f[4]),
                                size: num(f[5]),
                                inode: num(f[6]),
                                dev: num(f[7]),
                                nlink: num(f[8]),
                                atime: py_time(&lossy(f[9])),
                                mtime: py_time(&lossy(f[10])),
                                ctime: py_time(&lossy(f[11])),
                                user: lossy(f[12]),
                                group: lossy(f[13]),
                            });
                            tree.children
                                .entry(parent)
                                .or_default()
                                .push(tree.ents.len() - 1);
                        }
                        _ => return Err(bad()),
                    }
                }
                let ents = &tree.ents;
                for kids in tree.children.values_mut() {
                    kids.sort_by(|a, b| ents[*a].name.cmp(&ents[*b].name));
                }
                Top::Listed(tree)
            }
            _ => return Err(bad()),
        };
        tops.push((path, top));
    }
    Ok(Listing { umask, now, tops })
}

// -------------------------------------------------------------------- filters

/// Ansible's `_symbolic_mode_to_octal` against a mode of 0 (not a directory).
fn symbolic_mode(spec: &str, umask: u32) -> Result<u32, String> {
    let mut mode: u32 = 0;
    for part in spec.split(',') {
        let bad = || format!("bad symbolic permission for mode: {part}");
        let ops: Vec<(usize, char)> = part
            .char_indices()
            .filter(|(_, c)| "+=-".contains(*c))
            .collect();
        let users_end = ops.first().map(|(i, _)| *i).unwrap_or(part.len());
        let users = &part[..users_end];
        let use_umask = users.is_empty();
        let users = if users.is_empty() || users == "a" {
            "ugo"
        } else {
            users
        };
        if !users.chars().all(|c| "ugo".contains(c)) {
            return Err(bad());
        }
        for (k, (at, op)) in ops.iter().enumerate() {
            let end = ops.get(k + 1).map(|(i, _)| *i).unwrap_or(part.len());
            let perms = &part[at + 1..end];
            if !perms.chars().all(|c| "rwxXstugo".contains(c)) {
                return Err(bad());
            }
            for user in users.chars() {
                let apply = perms_bits(user, perms, use_umask, mode, umask);
                mode = match op {
                    '=' => {
                        let mask = match user {
                            'u' => 0o4700,
                            'g' => 0o2070,
                            _ => 0o1007,
                        };
                        (mode & (mask ^ 0o7777)) | apply
                    }
                    '+' => mode | apply,
                    _ => mode - (mode & apply),
                };
            }
        }
    }
    Ok(mode)
}

fn perms_bits(user: char, perms: &str, use_umask: bool, prev: u32, umask: u32) -> u32 {
    let rev = umask ^ 0o7777;
    let masked = |bit: u32| if use_umask { rev & bit } else { bit };
    let x_ok = prev & 0o111 != 0;
    let (shift, s_bit, t_bit) = match user {
        'u' => (6, 0o4000, 0),
        'g' => (3, 0o2000, 0),
        _ => (0, 0, 0o1000),
    };
    let copy = |from: u32| -> u32 {
        let bits = (prev >> from) & 0o7;
        bits << shift
    };
    perms.chars().fold(0, |acc, p| {
        acc | match p {
            'r' => masked(0o4 << shift),
            'w' => masked(0o2 << shift),
            'x' => masked(0o1 << shift),
            'X' if x_ok => 0o1 << shift,
            'X' => 0,
            's' => s_bit,
            't' => t_bit,
            'u' => copy(6),
            'g' => copy(3),
            'o' => copy(0),
            _ => 0,
        }
    })
}

/// Python's `int(text, 8)`: whitespace, a sign, `0o`, single underscores.
fn py_octal(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let t = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .map(|r| r.strip_prefix('_').unwrap_or(r))
        .unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|c| *c != '_').collect();
    if !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    let v = i64::from_str_radix(&digits, 8).ok()?;
    Some(if neg { -v } else { v })
}

fn mode_value(spec: &str, umask: u32) -> Result<u32, String> {
    match py_octal(spec) {
        Some(v) => Ok((v & 0o7777) as u32),
        None => symbolic_mode(spec, umask).map(|m| m & 0o7777),
    }
}

/// Python's `open(path, encoding='utf-8')` read line by line (universal
/// newlines, 8 KiB decoding chunks, so a decoding error after an early
/// match is never seen), each line tried with `re.match`; or the whole text
/// with `re.search`. `Err` is a decoding error.
fn content_matches(data: &[u8], re: &PyRegex, whole: bool) -> Result<bool, ()> {
    if whole {
        let text = std::str::from_utf8(data).map_err(|_| ())?;
        return Ok(re.is_match(&text.replace("\r\n", "\n").replace('\r', "\n")));
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_cr = false;
    let mut buf = String::new();
    let mut pos = 0;
    let mut chunks = data.chunks(CHUNK).chain(std::iter::once(&[][..]));
    loop {
        let chunk = chunks.next().unwrap_or(&[]);
        let last = chunk.is_empty();
        pending.extend_from_slice(chunk);
        let text = match std::str::from_utf8(&pending) {
            Ok(t) => {
                let t = t.to_string();
                pending.clear();
                t
            }
            Err(e) if e.error_len().is_none() && !last => {
                let valid = e.valid_up_to();
                let t = String::from_utf8_lossy(&pending[..valid]).into_owned();
                pending.drain(..valid);
                t
            }
            Err(_) => return Err(()),
        };
        let mut piece = String::with_capacity(text.len() + 1);
        if pending_cr {
            piece.push('\r');
            pending_cr = false;
        }
        piece.push_str(&text);
        if !last && piece.ends_with('\r') {
            piece.pop();
            pending_cr = true;
        }
        buf.push_str(&piece.replace("\r\n", "\n").replace('\r', "\n"));
        while let Some(nl) = buf[pos..].find('\n') {
            if re.is_match(&buf[pos..pos + nl + 1]) {
                return Ok(true);
            }
            pos += nl + 1;
        }
        if last {
            return Ok(pos < buf.len() && re.is_match(&buf[pos..]));
        }
        if pos > CHUNK * 4 {
            buf.drain(..pos);
            pos = 0;
        }
    }
}

// ---------------------------------------------------------------------- walk

/// What the replay needs from the files' contents.
trait Oracle {
    /// `contentfilter` once the regex compiled: `Err` is a decoding error.
    fn content_match(
        &mut self,
        path: &[u8],
        re: &PyRegex,
        whole: bool,
        text: Codec,
    ) -> Result<bool, ()>;
    /// `digest_from_file`: `Ok(None)` when the file is gone.
    fn checksum(&mut self, path: &[u8]) -> Result<Option<String>, String>;
}

/// First pass: every file whose content or checksum the replay may ask for.
#[derive(Default)]
struct Wanted {
    paths: Vec<Vec<u8>>,
    seen: std::collections::HashSet<Vec<u8>>,
}

impl Wanted {
    fn want(&mut self, path: &[u8]) {
        if self.seen.insert(path.to_vec()) {
            self.paths.push(path.to_vec());
        }
    }
}

/// Contents pass as matching, checksums as present: the widest walk.
struct Recorder(Wanted);

impl Oracle for Recorder {
    fn content_match(
        &mut self,
        path: &[u8],
        _re: &PyRegex,
        _whole: bool,
        _text: Codec,
    ) -> Result<bool, ()> {
        self.0.want(path);
        Ok(true)
    }
    fn checksum(&mut self, path: &[u8]) -> Result<Option<String>, String> {
        self.0.want(path);
        Ok(Some(String::new()))
    }
}

#[derive(Debug, Default)]
struct Answer {
    content: Option<Vec<u8>>,
    checksum: Option<String>,
    /// `readlink -f` of a file we may not read.
    unreadable: Option<Vec<u8>>,
}

struct Answers(HashMap<Vec<u8>, Answer>);

impl Oracle for Answers {
    fn content_match(
        &mut self,
        path: &[u8],
        re: &PyRegex,
        whole: bool,
        text: Codec,
    ) -> Result<bool, ()> {
        // A file that cannot be opened does not match (Ansible swallows the error).
        match self.0.get(path).and_then(|a| a.content.as_deref()) {
            // UTF-8 as it is (its reading is chunked like Python's); other codecs decode first.
            Some(data) if text == Codec::Utf8 => content_matches(data, re, whole),
            Some(data) => {
                content_matches(text.decode(data, "").map_err(|_| ())?.as_bytes(), re, whole)
            }
            None => Ok(false),
        }
    }
    fn checksum(&mut self, path: &[u8]) -> Result<Option<String>, String> {
        match self.0.get(path) {
            Some(Answer {
                unreadable: Some(real),
                ..
            }) => Err(format!(
                "[Errno 13] Permission denied: {}",
                py_bytes_repr(real)
            )),
            Some(a) => Ok(a.checksum.clone()),
            None => Ok(None),
        }
    }
}

/// Python's repr of bytes.
fn py_bytes_repr(b: &[u8]) -> String {
    let q = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::from("b");
    out.push(q as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(q as char);
    out
}

struct Matchers {
    patterns: Vec<Result<PyRegex, String>>,
    excludes: Vec<Result<PyRegex, String>>,
    contains: Option<Result<PyRegex, String>>,
}

impl Matchers {
    fn new(o: &Opts) -> Matchers {
        let compile = |ps: &[String]| -> Vec<Result<PyRegex, String>> {
            if o.use_regex {
                ps.iter().map(|p| PyRegex::for_match(p)).collect()
            } else {
                Vec::new()
            }
        };
        Matchers {
            patterns: compile(&o.patterns),
            excludes: compile(&o.excludes),
            contains: o
                .contains
                .as_ref()
                .filter(|_| o.file_type == FileType::File)
                .map(|c| {
                    if o.read_whole_file {
                        PyRegex::for_search(c)
                    } else {
                        PyRegex::for_match(c)
                    }
                }),
        }
    }
}

struct Walk<'a, O: Oracle> {
    o: &'a Opts,
    m: &'a Matchers,
    oracle: O,
    now: f64,
    mode: Option<Result<u32, String>>,
    limit: Option<i64>,
    files: Vec<Value>,
    looked: u64,
    skipped: Map<String, Value>,
    warnings: Vec<String>,
    has_warnings: bool,
    limit_reached: bool,
}

impl<'a, O: Oracle> Walk<'a, O> {
    fn new(
        o: &'a Opts,
        m: &'a Matchers,
        oracle: O,
        listing: &Listing,
        limit: Option<i64>,
    ) -> Walk<'a, O> {
        Walk {
            o,
            m,
            oracle,
            now: listing.now,
            mode: o.mode.as_ref().map(|spec| mode_value(spec, listing.umask)),
            limit,
            files: Vec::new(),
            looked: 0,
            skipped: Map::new(),
            warnings: Vec::new(),
            has_warnings: false,
            limit_reached: false,
        }
    }

    fn at_limit(&self) -> bool {
        self.limit == Some(self.files.len() as i64)
    }

    fn run(&mut self, listing: &Listing) {
        for (npath, top) in &listing.tops {
            let r = match top {
                Top::NotDir => Err(format!("'{npath}' is not a directory")),
                Top::Unreadable => {
                    // os.walk's onerror: recorded, but not a warning.
                    self.skipped.insert(
                        npath.clone(),
                        json!(format!(
                            "[Errno 13] Permission denied: {}",
                            py_str_repr(npath)
                        )),
                    );
                    Ok(())
                }
                Top::Listed(tree) => self
                    .walk(tree, npath.as_bytes(), b"", npath.as_bytes())
                    .map(|_| ()),
            };
            if let Err(e) = r {
                self.warnings.push(format!(
                    "Skipped '{npath}' path due to this access issue: {e}\n"
                ));
                self.skipped.insert(npath.clone(), json!(e));
                self.has_warnings = true;
            }
        }
    }

    /// One `os.walk` step at `root` (and below); `Ok(true)` ends the walk.
    fn walk(&mut self, tree: &Tree, npath: &[u8], rel: &[u8], root: &[u8]) -> Result<bool, String> {
        let kids: &[usize] = tree.children.get(rel).map(Vec::as_slice).unwrap_or(&[]);
        let (dirs, files): (Vec<usize>, Vec<usize>) =
            kids.iter().partition(|i| tree.ents[**i].ftype == b'd');
        self.looked += kids.len() as u64;
        let mut descend = true;
        for &i in files.iter().chain(dirs.iter()) {
            let e = &tree.ents[i];
            let fsname = py_normpath_bytes(&py_join_bytes(root, &e.name));
            if let Some(d) = self.o.depth {
                if entry_depth(npath, &fsname) > d {
                    descend = false;
                    continue;
                }
            }
            let base = fsname.rsplit(|c| *c == b'/').next().unwrap_or(&fsname);
            if base.starts_with(b".") && !self.o.hidden {
                continue;
            }
            self.consider(e, &fsname)?;
            if self.at_limit() {
                self.limit_reached = true;
                break;
            }
        }
        if !self.o.recurse || self.at_limit() {
            return Ok(true);
        }
        if descend {
            for &i in &dirs {
                let e = &tree.ents[i];
                if !self.o.follow && e.ltype == b'l' {
                    continue;
                }
                let child_rel = if rel.is_empty() {
                    e.name.clone()
                } else {
                    [rel, b"/", &e.name].concat()
                };
                let child_root = py_join_bytes(root, &e.name);
                if !e.readable {
                    let p = lossy(&child_root);
                    self.skipped.insert(
                        p.clone(),
                        json!(format!("[Errno 13] Permission denied: {}", py_str_repr(&p))),
                    );
                    continue;
                }
                if self.walk(tree, npath, &child_rel, &child_root)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn pattern(
        &self,
        list: &[String],
        compiled: &[Result<PyRegex, String>],
        k: usize,
        name: &str,
    ) -> Result<bool, String> {
        if self.o.use_regex {
            compiled[k]
                .as_ref()
                .map(|re| re.is_match(name))
                .map_err(Clone::clone)
        } else {
            Ok(fnmatch(name, &list[k]))
        }
    }

    /// Ansible's `pfilter`: some pattern matches and, then, no exclude does.
    fn pfilter(&self, name: &[u8]) -> Result<bool, String> {
        let name = lossy(name);
        for k in 0..self.o.patterns.len() {
            if self.pattern(&self.o.patterns, &self.m.patterns, k, &name)? {
                for x in 0..self.o.excludes.len() {
                    if self.pattern(&self.o.excludes, &self.m.excludes, x, &name)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn agefilter(&self, e: &Ent) -> bool {
        let Some(age) = self.o.age else { return true };
        let t = match self.o.age_stamp.as_str() {
            "atime" => e.atime,
            "ctime" => e.ctime,
            _ => e.mtime,
        };
        let elapsed = self.now - t;
        if age >= 0 {
            elapsed >= age as f64
        } else {
            elapsed <= (-age) as f64
        }
    }

    fn sizefilter(&self, e: &Ent) -> bool {
        match self.o.size {
            None => true,
            Some(s) if s >= 0 => e.size as i128 >= s,
            Some(s) => e.size as i128 <= -s,
        }
    }

    fn modefilter(&self, e: &Ent) -> Result<bool, String> {
        let Some(mode) = &self.mode else {
            return Ok(true);
        };
        let mode = mode.clone()?;
        Ok(if self.o.exact_mode {
            e.perm == mode
        } else {
            e.perm & mode != 0
        })
    }

    fn contentfilter(&mut self, fsname: &[u8]) -> Result<bool, String> {
        let Some(re) = &self.m.contains else {
            return Ok(true);
        };
        let re = re.clone()?;
        let whole = self.o.read_whole_file;
        // An unknown codec is Python's LookupError, reported for the path.
        let text = self.o.text.clone()?;
        self.oracle
            .content_match(fsname, &re, whole, text)
            .map_err(|_| {
                let enc = self.o.encoding.clone().unwrap_or_else(|| {
                    "None (default determined by the Python built-in function \"open\")".into()
                });
                format!(
                    "Failed to read the file {} due to an encoding error. current encoding: {enc}",
                    lossy(fsname)
                )
            })
    }

    fn consider(&mut self, e: &Ent, fsname: &[u8]) -> Result<(), String> {
        let is_reg = e.ltype == b'f';
        match self.o.file_type {
            FileType::Any => {
                if self.pfilter(&e.name)? && self.agefilter(e) && self.modefilter(e)? {
                    let mut r = statinfo(fsname, e);
                    if is_reg && self.o.get_checksum {
                        r.insert("checksum".into(), json!(self.oracle.checksum(fsname)?));
                    }
                    if !is_reg || self.sizefilter(e) {
                        self.files.push(Value::Object(r));
                    }
                }
            }
            FileType::Directory => {
                if e.ltype == b'd'
                    && self.pfilter(&e.name)?
                    && self.agefilter(e)
                    && self.modefilter(e)?
                {
                    self.files.push(Value::Object(statinfo(fsname, e)));
                }
            }
            FileType::File => {
                if is_reg
                    && self.pfilter(&e.name)?
                    && self.agefilter(e)
                    && self.sizefilter(e)
                    && self.contentfilter(fsname)?
                    && self.modefilter(e)?
                {
                    let mut r = statinfo(fsname, e);
                    if self.o.get_checksum {
                        r.insert("checksum".into(), json!(self.oracle.checksum(fsname)?));
                    }
                    self.files.push(Value::Object(r));
                }
            }
            FileType::Link => {
                if e.ltype == b'l'
                    && self.pfilter(&e.name)?
                    && self.agefilter(e)
                    && self.modefilter(e)?
                {
                    self.files.push(Value::Object(statinfo(fsname, e)));
                }
            }
        }
        Ok(())
    }
}

/// Ansible's `statinfo` keys, after `path`.
fn statinfo(fsname: &[u8], e: &Ent) -> Map<String, Value> {
    let m = e.perm;
    let bit = |b: u32| Value::Bool(m & b != 0);
    let name_or_empty = |name: &str, id: u64| {
        if name == id.to_string() {
            String::new()
        } else {
            name.to_string()
        }
    };
    let mut r = Map::new();
    r.insert("path".into(), json!(lossy(fsname)));
    r.insert("mode".into(), json!(format_mode(m)));
    r.insert("isdir".into(), json!(e.ltype == b'd'));
    r.insert("ischr".into(), json!(e.ltype == b'c'));
    r.insert("isblk".into(), json!(e.ltype == b'b'));
    r.insert("isreg".into(), json!(e.ltype == b'f'));
    r.insert("isfifo".into(), json!(e.ltype == b'p'));
    r.insert("islnk".into(), json!(e.ltype == b'l'));
    r.insert("issock".into(), json!(e.ltype == b's'));
    r.insert("uid".into(), json!(e.uid));
    r.insert("gid".into(), json!(e.gid));
    r.insert("size".into(), json!(e.size));
    r.insert("inode".into(), json!(e.inode));
    r.insert("dev".into(), json!(e.dev));
    r.insert("nlink".into(), json!(e.nlink));
    r.insert("atime".into(), json!(e.atime));
    r.insert("mtime".into(), json!(e.mtime));
    r.insert("ctime".into(), json!(e.ctime));
    r.insert("gr_name".into(), json!(name_or_empty(&e.group, e.gid)));
    r.insert("pw_name".into(), json!(name_or_empty(&e.user, e.uid)));
    r.insert("wusr".into(), bit(0o200));
    r.insert("rusr".into(), bit(0o400));
    r.insert("xusr".into(), bit(0o100));
    r.insert("wgrp".into(), bit(0o020));
    r.insert("rgrp".into(), bit(0o040));
    r.insert("xgrp".into(), bit(0o010));
    r.insert("woth".into(), bit(0o002));
    r.insert("roth".into(), bit(0o004));
    r.insert("xoth".into(), bit(0o001));
    r.insert("isuid".into(), bit(0o4000));
    r.insert("isgid".into(), bit(0o2000));
    r
}

// ------------------------------------------------------------- second look

/// Contents and/or checksums of `paths` (NUL-separated on stdin).
fn read_files(
    ctx: &mut ModuleContext<'_>,
    o: &Opts,
    m: &Matchers,
    paths: &[Vec<u8>],
) -> Result<Answers, Stop> {
    let want_content = m.contains.as_ref().is_some_and(|r| r.is_ok());
    let mut inner = String::from("for f do if [ -e \"$f\" ]; then if [ -r \"$f\" ]; then ");
    if want_content {
        inner.push_str("printf 'B\\0%s\\0' \"$f\"; base64 -w0 < \"$f\"; printf '\\0'; ");
    } else {
        inner.push_str(": ; ");
    }
    inner.push_str("else printf 'U\\0%s\\0' \"$f\"; readlink -f -z -- \"$f\"; fi; fi; done; ");
    if o.get_checksum {
        inner.push_str(&format!("exec {}sum -z -- \"$@\" 2>/dev/null", o.algorithm));
    }
    let script = format!("xargs -0 -r sh -c {} sh", quote(&inner));
    let mut stdin = Vec::new();
    for p in paths {
        stdin.extend_from_slice(p);
        stdin.push(0);
    }
    let out = ctx.exec(&script, Some(&stdin))?;
    let mut answers: HashMap<Vec<u8>, Answer> = HashMap::new();
    let toks: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    let mut it = toks.into_iter();
    while let Some(tok) = it.next() {
        match tok {
            b"" => {}
            b"B" => {
                let path = it.next().unwrap_or_default().to_vec();
                let data = base64::engine::general_purpose::STANDARD
                    .decode(it.next().unwrap_or_default())
                    .unwrap_or_default();
                answers.entry(path).or_default().content = Some(data);
            }
            b"U" => {
                let path = it.next().unwrap_or_default().to_vec();
                let real = it.next().unwrap_or_default().to_vec();
                answers.entry(path).or_default().unreadable = Some(real);
            }
            line => {
                // `<hex>  <path>` (or ` *<path>`), unescaped with -z.
                let hex_len = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
                if hex_len == 0 || line.len() < hex_len + 2 {
                    continue;
                }
                let path = line[hex_len + 2..].to_vec();
                answers.entry(path).or_default().checksum = Some(lossy(&line[..hex_len]));
            }
        }
    }
    Ok(Answers(answers))
}

// ---------------------------------------------------------------------- main

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    let o = parse_opts(a)?;
    let out = ctx.exec(&list_script(&o), None)?;
    let listing = parse_listing(&out.stdout, o.follow).map_err(|e| {
        let err = out.stderr_str();
        Stop::Fail(if err.trim().is_empty() {
            e
        } else {
            format!("{e}: {}", err.trim())
        })
    })?;
    let m = Matchers::new(&o);
    let needs_files = m.contains.is_some() || o.get_checksum;
    let oracle = if needs_files {
        // Which files the walk may open. Without `contains` the walk is fully
        // known already (limit included); with it, any candidate may count.
        let limit = if m.contains.is_some() { None } else { o.limit };
        let mut first = Walk::new(&o, &m, Recorder(Wanted::default()), &listing, limit);
        first.run(&listing);
        let wanted = first.oracle.0.paths;
        if wanted.is_empty() {
            Answers(HashMap::new())
        } else {
            read_files(ctx, &o, &m, &wanted)?
        }
    } else {
        Answers(HashMap::new())
    };
    let mut walk = Walk::new(&o, &m, oracle, &listing, o.limit);
    walk.run(&listing);
    let msg = if walk.has_warnings {
        "Not all paths examined, check warnings for details"
    } else if walk.limit_reached {
        "Limit of matches reached"
    } else {
        "All paths examined"
    };
    let matched = walk.files.len();
    let mut outcome = ModuleOutcome::ok()
        .with("files", Value::Array(walk.files))
        .with("msg", msg)
        .with("matched", matched)
        .with("examined", walk.looked)
        .with("skipped_paths", Value::Object(walk.skipped));
    if !walk.warnings.is_empty() {
        outcome = outcome.with("warnings", walk.warnings);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, snapshot, Entry, Run};

    /// The tree most cases search.
    fn tree() -> Vec<Entry> {
        vec![
            Entry::File("a.txt", "hello\nworld\n", 0o644),
            Entry::File("b.log", "error: x\n", 0o600),
            Entry::File(".hidden", "h", 0o644),
            Entry::Dir("sub", 0o755),
            Entry::File("sub/c.txt", "deep", 0o644),
            Entry::Dir("sub/.h2", 0o755),
            Entry::File("sub/.h2/d.txt", "in a hidden dir", 0o644),
            Entry::Dir("sub/sub2", 0o755),
            Entry::File("sub/sub2/e.txt", "deeper\n", 0o644),
            Entry::Link("link", "a.txt"),
            Entry::Link("dlink", "sub"),
            Entry::Link("broken", "nope"),
            Entry::Dir("empty", 0o700),
        ]
    }

    fn touch_days_ago(root: &Path, rel: &str, days: u64) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - days * 86400;
        let st = std::process::Command::new("touch")
            .arg("-h")
            .arg("-d")
            .arg(format!("@{ts}"))
            .arg(root.join(rel))
            .status()
            .unwrap();
        assert!(st.success());
    }

    use std::path::Path;

    struct Case {
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        /// Paths found (relative to the temp dir, in order), or the failure message's start.
        want: Result<Vec<&'static str>, &'static str>,
        /// Other result keys that must have these values (`{root}` substituted).
        extra: Value,
        /// Round trips.
        calls: usize,
    }

    fn case(name: &'static str, args: Value, want: Vec<&'static str>) -> Case {
        Case {
            name,
            initial: tree(),
            args,
            want: Ok(want),
            extra: json!({}),
            calls: 1,
        }
    }

    fn fails(name: &'static str, args: Value, msg: &'static str) -> Case {
        Case {
            name,
            initial: tree(),
            args,
            want: Err(msg),
            extra: json!({}),
            calls: 0,
        }
    }

    impl Case {
        fn extra(mut self, extra: Value) -> Case {
            self.extra = extra;
            self
        }
        fn calls(mut self, calls: usize) -> Case {
            self.calls = calls;
            self
        }
        fn initial(mut self, initial: Vec<Entry>) -> Case {
            self.initial = initial;
            self
        }
    }

    fn sha1(s: &str) -> String {
        crate::modules::remote_file::sha1_hex(s.as_bytes())
    }

    #[test]
    fn fixture_table() {
        let all_top = json!({"examined": 8, "msg": "All paths examined", "skipped_paths": {}, "changed": false});
        let cases = vec![
            case("defaults: regular files at the top, no hidden ones", json!({"paths": "{root}"}), vec!["a.txt", "b.log"]).extra(all_top.clone()),
            case("path alias", json!({"path": "{root}"}), vec!["a.txt", "b.log"]),
            case("name alias and a one-element list", json!({"name": ["{root}"]}), vec!["a.txt", "b.log"]),
            case("comma-separated paths", json!({"paths": "{root}/sub,{root}/empty"}), vec!["sub/c.txt"]).extra(json!({"examined": 3})),
            case(
                "recurse walks into hidden directories but skips hidden names",
                json!({"paths": "{root}", "patterns": "*.txt", "recurse": true}),
                vec!["a.txt", "sub/c.txt", "sub/.h2/d.txt", "sub/sub2/e.txt"],
            )
            .extra(json!({"examined": 13})),
            case(
                "hidden, any type: files (and links to files) before directories (and links to them)",
                json!({"paths": "{root}", "hidden": true, "file_type": "any"}),
                vec![".hidden", "a.txt", "b.log", "broken", "link", "dlink", "empty", "sub"],
            ),
            case("glob list", json!({"paths": "{root}", "patterns": ["*.log", "a*"]}), vec!["a.txt", "b.log"]),
            case("glob is the whole name", json!({"paths": "{root}", "pattern": "txt"}), vec![]),
            case("glob bracket set", json!({"paths": "{root}", "patterns": "[!a]*"}), vec!["b.log"]),
            case("regex is re.match: anchored at the start only", json!({"paths": "{root}", "patterns": "[ab]\\.", "use_regex": true}), vec!["a.txt", "b.log"]),
            case("regex not found at the start", json!({"paths": "{root}", "patterns": "txt", "use_regex": true}), vec![]),
            case("regex default pattern with excludes", json!({"paths": "{root}", "excludes": "^a", "use_regex": true}), vec!["b.log"]),
            case("excludes", json!({"paths": "{root}", "patterns": "*", "exclude": ["*.log"]}), vec!["a.txt"]),
            case("contains: re.match line by line", json!({"paths": "{root}", "contains": "wor"}), vec!["a.txt"]).calls(2),
            case("contains does not search inside a line", json!({"paths": "{root}", "contains": "orld"}), vec![]).calls(2),
            case("contains $ before the newline", json!({"paths": "{root}", "contains": "hello$"}), vec!["a.txt"]).calls(2),
            case("read_whole_file searches the text", json!({"paths": "{root}", "contains": "o\\nw", "read_whole_file": true}), vec!["a.txt"]).calls(2),
            case("contains with utf-8 encoding named", json!({"paths": "{root}", "contains": "err", "encoding": "UTF-8"}), vec!["b.log"]).calls(2),
            case("contains is ignored for file_type any", json!({"paths": "{root}/sub", "contains": "nothing", "file_type": "any"}), vec!["sub/c.txt", "sub/sub2"]),
            case(
                "directories, recursively",
                json!({"paths": "{root}", "file_type": "directory", "recurse": true}),
                vec!["empty", "sub", "sub/sub2"],
            ),
            case("links", json!({"paths": "{root}", "file_type": "link"}), vec!["broken", "link", "dlink"]),
            case("size at least", json!({"paths": "{root}", "size": "10"}), vec!["a.txt"]),
            case("size at most", json!({"paths": "{root}", "size": "-9b"}), vec!["b.log"]),
            case("size in k", json!({"paths": "{root}", "size": "1k"}), vec![]),
            case("size only filters regular files under any", json!({"paths": "{root}/sub", "size": "1m", "file_type": "any"}), vec!["sub/sub2"]),
            case("depth 1", json!({"paths": "{root}", "recurse": true, "depth": 1}), vec!["a.txt", "b.log"]),
            case("depth 2", json!({"paths": "{root}", "recurse": true, "depth": 2}), vec!["a.txt", "b.log", "sub/c.txt"]),
            case(
                "depth 0 means no limit",
                json!({"paths": "{root}", "recurse": true, "depth": 0, "patterns": "e*"}),
                vec!["sub/sub2/e.txt"],
            ),
            case("depth counts from a trailing-slash path", json!({"paths": "{root}/sub/", "recurse": true, "depth": 1}), vec!["sub/c.txt"]),
            case("paths are normalized", json!({"paths": "{root}/sub/../sub//"}), vec!["sub/c.txt"]),
            case(
                "follow walks into linked directories",
                json!({"paths": "{root}", "patterns": "*.txt", "recurse": true, "follow": true}),
                vec!["a.txt", "dlink/c.txt", "dlink/.h2/d.txt", "dlink/sub2/e.txt", "sub/c.txt", "sub/.h2/d.txt", "sub/sub2/e.txt"],
            ),
            case("follow still reports links as links", json!({"paths": "{root}", "file_type": "link", "follow": true}), vec!["broken", "link", "dlink"]),
            case("mode exact", json!({"paths": "{root}", "mode": "0600"}), vec!["b.log"]),
            case("mode without leading zero", json!({"paths": "{root}", "mode": "644"}), vec!["a.txt"]),
            case("mode symbolic", json!({"paths": "{root}", "mode": "u=rw,g=r,o=r"}), vec!["a.txt"]),
            case("mode any bit", json!({"paths": "{root}", "mode": "0040", "exact_mode": false}), vec!["a.txt"]),
            case("mode 0 (int) is no filter", json!({"paths": "{root}", "mode": 0}), vec!["a.txt", "b.log"]),
            case("limit", json!({"paths": "{root}", "limit": 1}), vec!["a.txt"]).extra(json!({"msg": "Limit of matches reached", "matched": 1})),
            case(
                "limit is only checked for equality: a second path is not limited",
                json!({"paths": ["{root}/sub", "{root}/sub/sub2"], "limit": 1}),
                vec!["sub/c.txt", "sub/sub2/e.txt"],
            ),
            case("not a directory", json!({"paths": ["{root}/a.txt", "{root}/nope", "{root}/sub"]}), vec!["sub/c.txt"]).extra(json!({
                "msg": "Not all paths examined, check warnings for details",
                "skipped_paths": {"{root}/a.txt": "'{root}/a.txt' is not a directory", "{root}/nope": "'{root}/nope' is not a directory"},
                "warnings": [
                    "Skipped '{root}/a.txt' path due to this access issue: '{root}/a.txt' is not a directory\n",
                    "Skipped '{root}/nope' path due to this access issue: '{root}/nope' is not a directory\n"
                ],
            })),
            case("a bad symbolic mode skips the path", json!({"paths": "{root}", "mode": "zz"}), vec![]).extra(json!({
                "msg": "Not all paths examined, check warnings for details",
                "skipped_paths": {"{root}": "bad symbolic permission for mode: zz"},
            })),
            case("a bad regex skips the path", json!({"paths": "{root}", "patterns": "(", "use_regex": true}), vec![])
                .extra(json!({"msg": "Not all paths examined, check warnings for details"})),
            case("checksum", json!({"paths": "{root}", "patterns": "a.txt", "get_checksum": true}), vec!["a.txt"])
                .extra(json!({"files": [{"checksum": sha1("hello\nworld\n")}]}))
                .calls(2),
            case("checksum of regular files only under any", json!({"paths": "{root}/sub", "file_type": "any", "get_checksum": true}), vec!["sub/c.txt", "sub/sub2"])
                .extra(json!({"files": [{"checksum": sha1("deep")}, {"isdir": true}]}))
                .calls(2),
            case("sha256 by alias", json!({"paths": "{root}/sub", "get_checksum": true, "checksum": "sha256"}), vec!["sub/c.txt"])
                .extra(json!({"files": [{"checksum": "74611c1d6455b534323a21f8133a6f43dc3a8188e7b946f96dcc28dde932fcb2"}]}))
                .calls(2),
            case("statinfo keys", json!({"paths": "{root}", "patterns": "b.log"}), vec!["b.log"]).extra(json!({"files": [{
                "path": "{root}/b.log", "mode": "0600", "isreg": true, "isdir": false, "islnk": false, "isfifo": false, "ischr": false,
                "isblk": false, "issock": false, "size": 9, "nlink": 1, "uid": 0, "gid": 0, "pw_name": "root", "gr_name": "root",
                "rusr": true, "wusr": true, "xusr": false, "rgrp": false, "wgrp": false, "xgrp": false, "roth": false, "woth": false,
                "xoth": false, "isuid": false, "isgid": false,
            }]})),
            case("link statinfo is the link's own", json!({"paths": "{root}", "file_type": "link", "patterns": "link"}), vec!["link"])
                .extra(json!({"files": [{"mode": "0777", "islnk": true, "isreg": false, "size": 5}]})),
            case("names with spaces and newlines", json!({"paths": "{root}", "patterns": "*name*", "get_checksum": true}), vec!["we ird\nname"])
                .initial(vec![Entry::File("we ird\nname", "x", 0o644)])
                .extra(json!({"files": [{"checksum": sha1("x")}]}))
                .calls(2),
            case("contains: a decoding error in the first chunk skips the rest of the path", json!({"paths": "{root}", "contains": "ok"}), vec!["a.txt"])
                .initial(vec![Entry::File("a.txt", "ok\n", 0o644), Entry::Bytes("b.bin", vec![b'x', 0xff, b'\n'], 0o644), Entry::File("c.txt", "ok\n", 0o644)])
                .extra(json!({
                    "msg": "Not all paths examined, check warnings for details",
                    "skipped_paths": {"{root}": "Failed to read the file {root}/b.bin due to an encoding error. current encoding: None (default determined by the Python built-in function \"open\")"},
                }))
                .calls(2),
            case("contains: a match before an undecodable chunk wins", json!({"paths": "{root}", "contains": "ok"}), vec!["big"])
                .initial(vec![Entry::Bytes("big", [b"ok\n".to_vec(), vec![b'x'; 9000], vec![0xff]].concat(), 0o644)])
                .calls(2),
            fails("missing paths", json!({"patterns": "*"}), "missing required arguments: paths"),
            fails("unknown argument", json!({"paths": "/", "foo": 1}), "Unsupported parameters for (find) module: foo."),
            fails("bad file_type", json!({"paths": "/", "file_type": "socket"}), "value of file_type must be one of: any, directory, file, link, got: socket"),
            fails("bad algorithm", json!({"paths": "/", "checksum_algorithm": "crc"}), "value of checksum_algorithm must be one of: md5, sha1, sha224, sha256, sha384, sha512, got: crc"),
            fails("bad age", json!({"paths": "/", "age": "3x"}), "failed to process age"),
            fails("bad size", json!({"paths": "/", "size": "3q"}), "failed to process size"),
            fails("limit 0", json!({"paths": "/", "limit": 0}), "limit cannot be 0 (use None for unlimited)"),
            fails("int mode", json!({"paths": "/", "mode": 420}), "argument 'mode' is not a string and conversion is not allowed, value is of type int"),
            fails("paths as a mapping", json!({"paths": {"a": 1}}), "argument 'paths' is of type dict and we were unable to convert to list"),
        ];
        for c in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &c.initial);
            let before = snapshot(root);
            for check in [false, true] {
                let (out, calls) = run_module(
                    run,
                    &rooted(&c.args, root),
                    &Run {
                        check,
                        ..Run::default()
                    },
                );
                assert!(!out.is_changed(), "{}", c.name);
                assert_eq!(snapshot(root), before, "{}: find changed the host", c.name);
                match &c.want {
                    Err(msg) => {
                        assert!(out.is_failed(), "{}: {out:?}", c.name);
                        let got = out.result["msg"].as_str().unwrap();
                        assert!(got.starts_with(msg), "{}: {got}", c.name);
                    }
                    Ok(want) => {
                        assert!(!out.is_failed(), "{}: {out:?}", c.name);
                        let got: Vec<String> = out.result["files"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|f| f["path"].as_str().unwrap().to_string())
                            .collect();
                        let want: Vec<String> = want
                            .iter()
                            .map(|p| format!("{}/{p}", root.display()))
                            .collect();
                        assert_eq!(got, want, "{}", c.name);
                        assert_eq!(out.result["matched"], json!(want.len()), "{}", c.name);
                        assert_eq!(calls, c.calls, "{}: round trips", c.name);
                        check_subset(
                            c.name,
                            &out.result["files"],
                            &rooted(&c.extra, root)
                                .get("files")
                                .cloned()
                                .unwrap_or(json!([])),
                        );
                        for (k, v) in rooted_all(&c.extra, root).as_object().unwrap() {
                            if k != "files" {
                                assert_eq!(
                                    out.result.get(k),
                                    Some(v),
                                    "{}: {k} in {:?}",
                                    c.name,
                                    out.result
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// `rooted`, map keys included.
    fn rooted_all(v: &Value, root: &Path) -> Value {
        match rooted(v, root) {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.replace("{root}", &root.to_string_lossy()),
                            rooted_all(v, root),
                        )
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| rooted_all(v, root)).collect()),
            other => other,
        }
    }

    /// Every key of `want` (a list of partial objects) has that value in `got`.
    fn check_subset(name: &str, got: &Value, want: &Value) {
        for (i, w) in want.as_array().unwrap().iter().enumerate() {
            for (k, v) in w.as_object().unwrap() {
                assert_eq!(
                    got[i].get(k),
                    Some(v),
                    "{name}: files[{i}].{k} in {}",
                    got[i]
                );
            }
        }
    }

    #[test]
    fn age_against_the_hosts_clock() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(root, &tree());
        touch_days_ago(root, "a.txt", 10);
        touch_days_ago(root, "link", 30);
        let names = |args: Value| -> Vec<String> {
            let (out, _) = run_module(run, &rooted(&args, root), &Run::default());
            out.result["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    f["path"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(names(json!({"paths": "{root}", "age": "5d"})), ["a.txt"]);
        assert_eq!(names(json!({"paths": "{root}", "age": "1w"})), ["a.txt"]);
        assert_eq!(names(json!({"paths": "{root}", "age": "-5d"})), ["b.log"]);
        assert_eq!(names(json!({"paths": "{root}", "age": "200H"})), ["a.txt"]);
        assert_eq!(
            names(json!({"paths": "{root}", "age": 864000 - 60})),
            ["a.txt"]
        );
        assert_eq!(
            names(json!({"paths": "{root}", "age": "20d", "file_type": "link"})),
            ["link"]
        );
        assert_eq!(
            names(json!({"paths": "{root}", "age": "20d", "age_stamp": "ctime"})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn home_and_variables_are_expanded_on_the_host() {
        let home = std::env::var("HOME").unwrap();
        let tmp = tempfile::tempdir_in(&home).unwrap();
        let base = tmp
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        setup(tmp.path(), &[Entry::File("x", "1", 0o644)]);
        for paths in [
            format!("~/{base}"),
            format!("$HOME/{base}"),
            format!("${{HOME}}/{base}/"),
        ] {
            let (out, _) = run_module(run, &json!({"paths": paths}), &Run::default());
            let files = out.result["files"].as_array().unwrap();
            assert_eq!(files.len(), 1, "{paths}: {out:?}");
            assert_eq!(
                files[0]["path"],
                json!(format!("{home}/{base}/x").replace("//", "/")),
                "{paths}"
            );
        }
        let (out, _) = run_module(
            run,
            &json!({"paths": "$BERTH_SURELY_UNSET_VAR/x"}),
            &Run::default(),
        );
        assert_eq!(
            out.result["skipped_paths"],
            json!({"$BERTH_SURELY_UNSET_VAR/x": "'$BERTH_SURELY_UNSET_VAR/x' is not a directory"})
        );
    }

    #[test]
    fn unreadable_directories_and_files_for_an_unprivileged_user() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[
                Entry::File("a", "x", 0o644),
                Entry::Dir("locked", 0o700),
                Entry::File("locked/in", "y", 0o644),
                Entry::File("secret", "s", 0o600),
            ],
        );
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let nobody = Run {
            as_nobody: true,
            ..Run::default()
        };
        let r = root.display().to_string();
        // A directory the walk cannot enter is noted, without a warning.
        let (out, _) = run_module(
            run,
            &rooted(
                &json!({"paths": "{root}", "recurse": true, "patterns": "a"}),
                root,
            ),
            &nobody,
        );
        assert_eq!(
            out.result["skipped_paths"],
            json!({format!("{r}/locked"): format!("[Errno 13] Permission denied: '{r}/locked'")}),
            "{out:?}"
        );
        assert_eq!(out.result["msg"], json!("All paths examined"));
        assert_eq!(out.result["matched"], json!(1));
        let (out, _) = run_module(
            run,
            &rooted(&json!({"paths": "{root}/locked"}), root),
            &nobody,
        );
        assert_eq!(
            out.result["skipped_paths"],
            json!({format!("{r}/locked"): format!("[Errno 13] Permission denied: '{r}/locked'")}),
            "{out:?}"
        );
        // A checksum that cannot be read ends the path, with a warning.
        let (out, _) = run_module(
            run,
            &rooted(&json!({"paths": "{root}", "get_checksum": true}), root),
            &nobody,
        );
        assert_eq!(
            out.result["skipped_paths"],
            json!({r.clone(): format!("[Errno 13] Permission denied: b'{r}/secret'")}),
            "{out:?}"
        );
        assert_eq!(out.result["matched"], json!(1), "a was found before");
        // Content that cannot be read just does not match.
        let (out, _) = run_module(
            run,
            &rooted(&json!({"paths": "{root}", "contains": "."}), root),
            &nobody,
        );
        assert_eq!(out.result["matched"], json!(1), "{out:?}");
        assert_eq!(out.result["skipped_paths"], json!({}));
    }

    #[test]
    fn encodings_as_python_names_them() {
        let gbk: &[u8] = b"\xc4\xe3\xba\xc3\xca\xc0\xbd\xe7\n"; // 你好世界 in GBK
        let re = PyRegex::for_match("你好世界").unwrap();
        let mut answers = Answers(HashMap::from([(
            b"/f".to_vec(),
            Answer {
                content: Some(gbk.to_vec()),
                ..Answer::default()
            },
        )]));
        assert_eq!(
            answers.content_match(b"/f", &re, false, Codec::lookup("GBK").unwrap()),
            Ok(true)
        );
        assert_eq!(
            answers.content_match(b"/f", &re, false, Codec::lookup("utf-8").unwrap()),
            Err(()),
            "GBK is not UTF-8"
        );
        assert_eq!(
            Codec::lookup("latin-1")
                .unwrap()
                .decode(b"\xe9", "")
                .unwrap(),
            "é"
        );
        assert!(Codec::lookup("ascii").unwrap().decode(b"\xe9", "").is_err());
        assert_eq!(
            Codec::lookup("idontexist"),
            Err("unknown encoding: idontexist".into())
        );
    }

    #[test]
    fn content_decoding_like_python() {
        let re = PyRegex::for_match("b").unwrap();
        assert_eq!(
            content_matches(b"a\r\nb", &re, false),
            Ok(true),
            "CRLF lines"
        );
        assert_eq!(
            content_matches(b"a\rb", &re, false),
            Ok(true),
            "CR alone ends a line"
        );
        assert_eq!(
            content_matches(b"", &PyRegex::for_match("").unwrap(), false),
            Ok(false),
            "no lines, no match"
        );
        assert_eq!(
            content_matches(b"", &PyRegex::for_search("").unwrap(), true),
            Ok(true)
        );
        assert_eq!(content_matches("é\nb".as_bytes(), &re, false), Ok(true));
        assert_eq!(content_matches(b"a\n\xff", &re, false), Err(()));
        // A multi-byte character split across the 8 KiB chunk boundary is fine.
        let mut data = vec![b'a'; CHUNK - 1];
        data.extend_from_slice("é\nb".as_bytes());
        assert_eq!(content_matches(&data, &re, false), Ok(true));
        // Truncated at the very end: an error once the last line is reached.
        assert_eq!(content_matches(b"a\n\xc3", &re, false), Err(()));
        assert_eq!(content_matches(b"b\n\xc3", &re, false), Ok(true));
    }

    #[test]
    fn symbolic_modes_like_ansible() {
        for (spec, umask, want) in [
            ("u=rw,g=r,o=r", 0o022, 0o644),
            ("u+x", 0o022, 0o100),
            ("+r", 0o022, 0o444),
            ("+w", 0o022, 0o200),
            ("a+w", 0o022, 0o222),
            ("u=rwx,g=u,o=g-w", 0o022, 0o775),
            ("u+s,o+t", 0o022, 0o5000),
            ("u+X", 0o022, 0),
            ("u+x,g+X", 0o022, 0o110),
            ("u", 0o022, 0),
        ] {
            assert_eq!(mode_value(spec, umask), Ok(want), "{spec}");
        }
        assert_eq!(
            mode_value("ua+x", 0o022),
            Err("bad symbolic permission for mode: ua+x".into())
        );
        assert_eq!(mode_value("0o644", 0), Ok(0o644));
        assert_eq!(mode_value(" 755 ", 0), Ok(0o755));
    }
}

#[cfg(test)]
mod differential {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, Entry, Run};
    use std::process::Command;

    /// Runs ansible-core's `find` on each case (stdin: a JSON list of
    /// argument maps) and prints the JSON list of results: in one Python
    /// process through the module's `main()`, or, should that entry point
    /// change, with `python3 -m ansible.modules.find ARGS.json` per case.
    const DRIVER: &str = r#"
import contextlib, io, json, subprocess, sys, tempfile
cases = json.load(sys.stdin)
try:
    import ansible.module_utils.basic as basic
    from ansible.modules import find
    inproc = hasattr(basic, "_ANSIBLE_PROFILE")
except Exception:
    inproc = False
out = []
for args in cases:
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args})
    if inproc:
        basic._ANSIBLE_ARGS = payload.encode()
        basic._ANSIBLE_PROFILE = "legacy"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                find.main()
            except SystemExit:
                pass
        out.append(json.loads(buf.getvalue()))
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(payload)
            f.flush()
            r = subprocess.run([sys.executable, "-m", "ansible.modules.find", f.name], capture_output=True, text=True)
        out.append(json.loads(r.stdout))
print(json.dumps(out))
"#;

    /// ansible-core's own `find` on every case, or `None` when Python cannot import ansible.
    fn ansible_find(cases: &[Value]) -> Option<Vec<Value>> {
        use std::io::Write;
        let importable = Command::new("python3")
            .args(["-c", "import ansible"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !importable {
            return None;
        }
        let mut child = Command::new("python3")
            .args(["-c", DRIVER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(Value::from(cases.to_vec()).to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        Some(
            serde_json::from_str(text.trim())
                .unwrap_or_else(|e| panic!("ansible's find said {text:?}: {e}")),
        )
    }

    fn by_path(files: &Value) -> Vec<Map<String, Value>> {
        let mut v: Vec<Map<String, Value>> = files
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_object().unwrap().clone())
            .collect();
        v.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        v
    }

    /// The same answer as Ansible's: paths (compared as sets: Ansible's order
    /// within a directory is the filesystem's), every file key (`atime`
    /// aside: Ansible's own reads move it), counts, message and skipped paths.
    #[test]
    fn same_results_as_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let scratch = tempfile::tempdir().unwrap();
        setup(
            root,
            &[
                Entry::File("a.txt", "hello\nworld\n", 0o644),
                Entry::File("b.log", "error: x\n", 0o600),
                Entry::File(".hidden", "h", 0o644),
                Entry::File("x.sh", "#!/bin/sh\n", 0o4755),
                Entry::File("crlf.txt", "one\r\ntwo\r\n", 0o644),
                Entry::File("empty.txt", "", 0o644),
                Entry::File("sp ace\nnl.txt", "deep\n", 0o640),
                Entry::Dir("sub", 0o755),
                Entry::File("sub/c.txt", "deep", 0o644),
                Entry::Dir("sub/.h2", 0o755),
                Entry::File("sub/.h2/d.txt", "in a hidden dir", 0o644),
                Entry::Dir("sub/sub2", 0o750),
                Entry::File("sub/sub2/e.txt", "deeper\n", 0o644),
                Entry::Link("link", "a.txt"),
                Entry::Link("dlink", "sub"),
                Entry::Link("broken", "nope"),
                Entry::Dir("empty", 0o700),
            ],
        );
        // Undecodable content ends the walk of its path wherever it is met,
        // which depends on the directory order: alone in its own tree.
        setup(
            scratch.path(),
            &[
                Entry::Dir("bin", 0o755),
                Entry::Bytes("bin/z.bin", vec![b'o', b'k', 0xff, b'\n'], 0o644),
            ],
        );
        let st = Command::new("sh")
            .arg("-c")
            .arg("mkfifo \"$0/fifo\" && chown 12345:23456 \"$0/b.log\" && touch -d @1000000000 \"$0/sub/c.txt\"")
            .arg(root)
            .status()
            .unwrap();
        assert!(st.success());
        // A relative path, from the current directory (both run in the same one).
        let cwd = std::env::current_dir().unwrap();
        let relative =
            crate::playbook::filters::py_relpath(&root.to_string_lossy(), &cwd.to_string_lossy())
                .unwrap();
        let cases = [
            json!({"paths": "{root}"}),
            json!({"paths": "{root}", "recurse": true, "hidden": true, "file_type": "any"}),
            json!({"paths": "{root}", "recurse": true, "patterns": ["*.txt", "*.sh"], "excludes": "c*"}),
            json!({"paths": "{root}", "recurse": true, "use_regex": true, "patterns": "[a-d]", "excludes": ".*\\.log$"}),
            json!({"paths": "{root}", "recurse": true, "contains": "de"}),
            json!({"paths": "{root}", "contains": "two$"}),
            json!({"paths": "{root}", "recurse": true, "contains": "o.w", "read_whole_file": true}),
            json!({"paths": "{root}", "recurse": true, "file_type": "directory", "hidden": true}),
            json!({"paths": "{root}", "recurse": true, "file_type": "link", "follow": true}),
            json!({"paths": "{root}", "recurse": true, "follow": true, "hidden": true, "file_type": "any"}),
            json!({"paths": "{root}", "recurse": true, "depth": 2, "file_type": "any"}),
            json!({"paths": "{root}/sub/../sub/", "recurse": true, "depth": 1}),
            json!({"paths": "{root}//sub/./", "recurse": true, "depth": 2, "hidden": true}),
            json!({"paths": ["{root}/a.txt", "{root}/nope", "{root}/sub"]}),
            json!({"paths": "{root},{root}/sub"}),
            json!({"paths": "{root}", "recurse": true, "get_checksum": true, "checksum_algorithm": "md5"}),
            json!({"paths": "{root}", "file_type": "any", "get_checksum": true, "size": "-5"}),
            json!({"paths": "{root}", "get_checksum": true, "checksum_algo": "sha512", "patterns": "*.txt"}),
            json!({"paths": "{root}", "mode": "0644"}),
            json!({"paths": "{root}", "mode": "u+x,g+x", "exact_mode": false, "file_type": "any"}),
            json!({"paths": "{root}", "mode": "4755"}),
            json!({"paths": "{root}", "mode": "zz"}),
            json!({"paths": "{root}", "size": "1k"}),
            json!({"paths": "{root}", "size": "-9"}),
            json!({"paths": "{root}", "size": "10b", "recurse": true}),
            json!({"paths": ["{root}/sub", "{root}/sub/sub2"], "limit": 1}),
            json!({"paths": "{root}/sub/sub2", "recurse": true, "limit": 1}),
            json!({"paths": "{root}", "age": "-1h", "recurse": true}),
            json!({"paths": "{root}", "age": "5d", "recurse": true}),
            json!({"paths": "{root}", "age": "1000w", "age_stamp": "ctime"}),
            json!({"paths": format!("{}/bin", scratch.path().display()), "contains": "ok"}),
            json!({"paths": "{root}", "recurse": true, "hidden": true, "depth": 0, "file_type": "any"}),
            json!({"paths": "{root}", "recurse": true, "depth": -1}),
            json!({"paths": "{root}", "patterns": "[!ab]*.[tl][xo][tg]", "hidden": true}),
            json!({"paths": "{root}/dlink", "recurse": true, "file_type": "any"}),
            json!({"paths": "{root}/dlink/", "recurse": true, "depth": 1, "hidden": true, "file_type": "any"}),
            json!({"paths": relative, "recurse": true, "depth": 2}),
        ];
        let all: Vec<Value> = cases.iter().map(|c| rooted(c, root)).collect();
        // Berth first: Ansible's reads move atimes, never mtimes or ctimes.
        let ours_all: Vec<Value> = all
            .iter()
            .map(|args| Value::Object(run_module(run, args, &Run::default()).0.result))
            .collect();
        let Some(theirs_all) = ansible_find(&all) else {
            eprintln!("ansible is not importable: differential test not run");
            return;
        };
        assert_eq!(
            theirs_all.len(),
            all.len(),
            "one answer from Ansible per case"
        );
        for ((args, ours), theirs) in all.iter().zip(&ours_all).zip(&theirs_all) {
            for k in [
                "changed",
                "msg",
                "matched",
                "examined",
                "skipped_paths",
                "failed",
            ] {
                assert_eq!(
                    ours.get(k),
                    theirs.get(k),
                    "{args}: {k}\nours: {ours}\ntheirs: {theirs}"
                );
            }
            let (a, b) = (by_path(&ours["files"]), by_path(&theirs["files"]));
            let paths =
                |v: &[Map<String, Value>]| v.iter().map(|f| f["path"].clone()).collect::<Vec<_>>();
            assert_eq!(paths(&a), paths(&b), "{args}: paths");
            for (mine, their) in a.iter().zip(&b) {
                for (k, v) in their {
                    if k == "atime" {
                        continue;
                    }
                    let got = mine
                        .get(k)
                        .unwrap_or_else(|| panic!("{args}: berth lacks {k} ({v}) in {mine:?}"));
                    if let (Some(x), Some(y), true) = (got.as_f64(), v.as_f64(), v.is_f64()) {
                        // serde_json reads Python's shortest float text to within one ulp.
                        assert!(
                            (x - y).abs() < 1e-6,
                            "{args}: {} {k}: berth {got}, ansible {v}",
                            their["path"]
                        );
                    } else {
                        assert_eq!(got, v, "{args}: {} {k}", their["path"]);
                    }
                }
                for k in mine.keys() {
                    assert!(their.contains_key(k), "{args}: berth has extra {k}");
                }
            }
        }
    }
}
