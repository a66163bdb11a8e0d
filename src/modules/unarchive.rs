//! `unarchive`: unpack tar (plain, gzip, bzip2, xz) with `tar` and zip with
//! `unzip` on the target. The archive's members (type, size, mtime) are
//! compared with what is in `dest` in one round trip first; when nothing
//! differs, nothing is uploaded or unpacked.

use std::io::Read;
use std::process::{Command, Stdio};

use regex::Regex;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::net_http::{parse_response, NetHttp};
use crate::modules::net_perms::{apply_mode, field, has_line, parse_stat, stat_script, NetPerms};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "src",
    "dest",
    "remote_src",
    "copy",
    "creates",
    "list_files",
    "keep_newer",
    "extra_opts",
    "exclude",
    "include",
    "validate_certs",
    "io_buffer_size",
    "mode",
    "owner",
    "group",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    Zip,
}

impl Format {
    fn from_magic(b: &[u8]) -> Option<Format> {
        if b.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if b.starts_with(b"BZh") {
            Some(Format::TarBz2)
        } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Format::TarXz)
        } else if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if b.len() >= 262 && &b[257..262] == b"ustar" {
            Some(Format::Tar)
        } else {
            None
        }
    }

    fn handler(self) -> &'static str {
        match self {
            Format::Tar => "TarArchive",
            Format::TarGz => "TgzArchive",
            Format::TarBz2 => "TarBzipArchive",
            Format::TarXz => "TarXzArchive",
            Format::Zip => "ZipArchive",
        }
    }

    fn tar_flag(self) -> Option<&'static str> {
        match self {
            Format::TarGz => Some("-z"),
            Format::TarBz2 => Some("-j"),
            Format::TarXz => Some("-J"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Link,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MTime {
    /// Seconds since the epoch (tar headers, zip extended timestamps).
    Epoch(i64),
    /// `YYYY-MM-DD HH:MM:SS` in the target's local time (zip DOS times, listings).
    Local(String),
}

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// The name as stored in the archive.
    raw: String,
    /// Normalised relative path (no `./`, no trailing `/`).
    path: String,
    kind: Kind,
    size: u64,
    mtime: MTime,
    mode: Option<u32>,
    /// SHA-1 of a regular file's content, when the archive was read on the controller.
    sha1: Option<String>,
    /// A symlink's target, when the archive was read on the controller.
    link_target: Option<String>,
}

fn normalise(name: &str) -> String {
    let mut s = name;
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    s.trim_end_matches('/').to_string()
}

fn members_from_tar<R: Read>(r: R) -> Result<Vec<Member>, String> {
    let mut archive = tar::Archive::new(r);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let header = entry.header();
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Link,
            // Hard links: only their presence is compared.
            tar::EntryType::Link => Kind::Other,
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => continue,
            _ => Kind::Other,
        };
        let path = normalise(&raw);
        if path.is_empty() || path == "." {
            continue;
        }
        let size = header.size().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let mode = header.mode().ok().map(|m| m & 0o7777);
        let mut entry = entry;
        let link_target = (kind == Kind::Link)
            .then(|| entry.link_name_bytes())
            .flatten()
            .map(|t| String::from_utf8_lossy(&t).into_owned());
        let sha1 = if kind == Kind::File {
            let mut content = Vec::with_capacity(size.min(1 << 20) as usize);
            entry.read_to_end(&mut content).map_err(|e| e.to_string())?;
            Some(crate::modules::remote_file::sha1_hex(&content))
        } else {
            None
        };
        out.push(Member {
            sha1,
            link_target,
            raw,
            path,
            size: if kind == Kind::File { size } else { 0 },
            kind,
            mtime: MTime::Epoch(mtime),
            mode,
        });
    }
    Ok(out)
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Members from a zip's central directory.
fn members_from_zip(b: &[u8]) -> Result<Vec<Member>, String> {
    let bad = || "not a readable zip archive (no central directory)".to_string();
    let from = b.len().saturating_sub(22 + 65_535);
    let eocd = (from..=b.len().saturating_sub(22))
        .rev()
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let count = u16le(b, eocd + 10).ok_or_else(bad)? as usize;
    let mut at = u32le(b, eocd + 16).ok_or_else(bad)? as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if !b.get(at..).is_some_and(|s| s.starts_with(b"PK\x01\x02")) {
            return Err(bad());
        }
        let made_by_unix = u16le(b, at + 4).ok_or_else(bad)? >> 8 == 3;
        let time = u16le(b, at + 12).ok_or_else(bad)?;
        let date = u16le(b, at + 14).ok_or_else(bad)?;
        let size = u32le(b, at + 24).ok_or_else(bad)? as u64;
        let name_len = u16le(b, at + 28).ok_or_else(bad)? as usize;
        let extra_len = u16le(b, at + 30).ok_or_else(bad)? as usize;
        let comment_len = u16le(b, at + 32).ok_or_else(bad)? as usize;
        let external = u32le(b, at + 38).ok_or_else(bad)?;
        let name_bytes = b.get(at + 46..at + 46 + name_len).ok_or_else(bad)?;
        let extra = b
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(bad)?;
        let raw = String::from_utf8_lossy(name_bytes).into_owned();
        let unix_mode = if made_by_unix {
            Some(external >> 16)
        } else {
            None
        };
        let kind = match unix_mode.map(|m| m & 0o170000) {
            _ if raw.ends_with('/') => Kind::Dir,
            Some(0o040000) => Kind::Dir,
            Some(0o120000) => Kind::Link,
            _ => Kind::File,
        };
        // Extended timestamp (0x5455) holds the exact UTC mtime.
        let mut mtime = MTime::Local(format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            1980 + (date >> 9),
            (date >> 5) & 0xf,
            date & 0x1f,
            time >> 11,
            (time >> 5) & 0x3f,
            (time & 0x1f) * 2
        ));
        let mut i = 0;
        while i + 4 <= extra.len() {
            let id = u16le(extra, i).unwrap_or(0);
            let len = u16le(extra, i + 2).unwrap_or(0) as usize;
            if id == 0x5455 && len >= 5 && extra[i + 4] & 1 == 1 {
                if let Some(t) = u32le(extra, i + 5) {
                    mtime = MTime::Epoch(t as i32 as i64);
                }
            }
            i += 4 + len;
        }
        let path = normalise(&raw);
        if !path.is_empty() {
            out.push(Member {
                sha1: None,
                link_target: None,
                raw,
                path,
                size: if kind == Kind::File { size } else { 0 },
                kind,
                mtime,
                mode: unix_mode.map(|m| m & 0o7777).filter(|m| *m != 0),
            });
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// Members from `tar -tv --full-time --numeric-owner --quoting-style=literal`.
fn parse_tar_listing(text: &str) -> Vec<Member> {
    let re =
        Regex::new(r"^(\S+)\s+\S+\s+(\d+|\d+,\s*\d+)\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\s(.*)$")
            .unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(c) = re.captures(line) else { continue };
        let perms = &c[1];
        let mut name = c[5].to_string();
        let kind = match perms.chars().next() {
            Some('-') => Kind::File,
            Some('h') => {
                if let Some((n, _)) = name.split_once(" link to ") {
                    name = n.to_string();
                }
                Kind::Other
            }
            Some('d') => Kind::Dir,
            Some('l') => {
                if let Some((n, _)) = name.split_once(" -> ") {
                    name = n.to_string();
                }
                Kind::Link
            }
            _ => Kind::Other,
        };
        let path = normalise(&name);
        if path.is_empty() || path == "." {
            continue;
        }
        out.push(Member {
            sha1: None,
            link_target: None,
            size: if kind == Kind::File {
                c[2].parse().unwrap_or(0)
            } else {
                0
            },
            mode: mode_from_ls(perms),
            raw: name,
            path,
            kind,
            mtime: MTime::Local(format!("{} {}", &c[3], &c[4])),
        });
    }
    out
}

/// Members from `zipinfo -T` (`unzip -Z -T`).
fn parse_zipinfo(text: &str) -> Vec<Member> {
    let re = Regex::new(
        r"^(\S+)\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(\d{4})(\d\d)(\d\d)\.(\d\d)(\d\d)(\d\d)\s(.*)$",
    )
    .unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(c) = re.captures(line) else { continue };
        let raw = c[9].to_string();
        let kind = if raw.ends_with('/') || c[1].starts_with('d') {
            Kind::Dir
        } else if c[1].starts_with('l') {
            Kind::Link
        } else {
            Kind::File
        };
        let path = normalise(&raw);
        if path.is_empty() {
            continue;
        }
        out.push(Member {
            sha1: None,
            link_target: None,
            size: if kind == Kind::File {
                c[2].parse().unwrap_or(0)
            } else {
                0
            },
            mode: if c[1].len() == 10 {
                mode_from_ls(&c[1])
            } else {
                None
            },
            raw,
            path,
            kind,
            mtime: MTime::Local(format!(
                "{}-{}-{} {}:{}:{}",
                &c[3], &c[4], &c[5], &c[6], &c[7], &c[8]
            )),
        });
    }
    out
}

/// `-rwxr-sr-x` → 0o2755.
fn mode_from_ls(perms: &str) -> Option<u32> {
    let p: Vec<char> = perms.chars().collect();
    if p.len() < 10 {
        return None;
    }
    let mut m = 0u32;
    for (i, bit) in [
        (1, 0o400),
        (2, 0o200),
        (4, 0o040),
        (5, 0o020),
        (7, 0o004),
        (8, 0o002),
    ] {
        if p[i] != '-' {
            m |= bit;
        }
    }
    for (i, x, special) in [(3, 0o100, 0o4000), (6, 0o010, 0o2000), (9, 0o001, 0o1000)] {
        match p[i] {
            'x' => m |= x,
            's' | 't' => m |= x | special,
            'S' | 'T' => m |= special,
            _ => {}
        }
    }
    Some(m)
}

/// What `stat` says about one member in dest.
#[derive(Debug, Clone)]
struct Found {
    kind: Kind,
    size: u64,
    epoch: i64,
    local: String,
    mode: u32,
}

fn parse_stats(text: &str) -> std::collections::HashMap<String, Found> {
    let mut m = std::collections::HashMap::new();
    for rec in text.split('\0') {
        let f: Vec<&str> = rec.trim_start_matches('\n').split('\t').collect();
        if f.len() < 7 || f[0] != "S" {
            continue;
        }
        let kind = match f[2] {
            "regular file" | "regular empty file" => Kind::File,
            "directory" => Kind::Dir,
            "symbolic link" => Kind::Link,
            _ => Kind::Other,
        };
        m.insert(
            normalise(f[1]),
            Found {
                kind,
                size: f[3].parse().unwrap_or(0),
                epoch: f[4].parse().unwrap_or(0),
                local: f[5].chars().take(19).collect(),
                mode: u32::from_str_radix(f[6], 8).unwrap_or(0),
            },
        );
    }
    m
}

/// The first member that differs from dest, with the reason (like `tar --diff`).
fn first_difference(
    members: &[Member],
    found: &std::collections::HashMap<String, Found>,
    uid: u32,
    umask: u32,
    keep_newer: bool,
    check_modes: bool,
) -> Option<String> {
    for m in members {
        let Some(f) = found.get(&m.path) else {
            return Some(format!("{}: No such file or directory", m.path));
        };
        if f.kind != m.kind && !(m.kind == Kind::Other) {
            return Some(format!("{}: File type differs", m.path));
        }
        if m.kind != Kind::File {
            continue;
        }
        let newer_here = match &m.mtime {
            MTime::Epoch(t) => f.epoch > *t,
            MTime::Local(s) => f.local.as_str() > s.as_str(),
        };
        if keep_newer && newer_here {
            continue;
        }
        if f.size != m.size {
            return Some(format!("{}: Size differs", m.path));
        }
        let same_time = match &m.mtime {
            MTime::Epoch(t) => f.epoch == *t,
            MTime::Local(s) => &f.local == s,
        };
        if !same_time {
            return Some(format!("{}: Mod time differs", m.path));
        }
        if check_modes {
            if let Some(mode) = m.mode {
                let want = if uid == 0 {
                    mode
                } else {
                    mode & !umask & 0o7777
                };
                if want != f.mode {
                    return Some(format!("{}: Mode differs", m.path));
                }
            }
        }
    }
    None
}

struct Plan {
    src: String,
    dest: String,
    remote_src: bool,
    creates: Option<String>,
    list_files: bool,
    keep_newer: bool,
    extra_opts: Vec<String>,
    exclude: Vec<String>,
    include: Vec<String>,
    validate_certs: bool,
    perms: NetPerms,
}

fn plan(args: &Map<String, Value>) -> Result<Plan, String> {
    let a = Args::new("unarchive", args);
    a.check_known(KNOWN)?;
    let (Some(src), Some(dest)) = (a.str("src")?, a.str("dest")?) else {
        return Err("src (or content) and dest are required".into());
    };
    if a.get("include").is_some() && a.get("exclude").is_some() {
        return Err("parameters are mutually exclusive: include|exclude".into());
    }
    if a.get("remote_src").is_some() && a.get("copy").is_some() {
        return Err("parameters are mutually exclusive: ('copy', 'remote_src')".into());
    }
    let remote_src = match a.get("copy") {
        Some(_) => !a.bool("copy", true)?,
        None => a.bool("remote_src", false)?,
    };
    a.int("io_buffer_size")?;
    Ok(Plan {
        src,
        dest,
        remote_src,
        creates: a.str("creates")?,
        list_files: a.bool("list_files", false)?,
        keep_newer: a.bool("keep_newer", false)?,
        extra_opts: a.list("extra_opts")?,
        exclude: a.list("exclude")?,
        include: a.list("include")?,
        validate_certs: a.bool("validate_certs", true)?,
        perms: NetPerms::from_args(&a)?,
    })
}

/// Decompress a controller-side archive for listing: gzip in process,
/// bzip2/xz through the controller's own tools.
fn controller_members(bytes: &[u8], format: Format) -> Result<Vec<Member>, String> {
    match format {
        Format::Zip => members_from_zip(bytes),
        Format::Tar => members_from_tar(bytes),
        Format::TarGz => members_from_tar(flate2::read::GzDecoder::new(bytes)),
        Format::TarBz2 | Format::TarXz => {
            let tool = if format == Format::TarBz2 {
                "bzip2"
            } else {
                "xz"
            };
            let mut child = Command::new(tool)
                .arg("-dc")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!("cannot read the archive: {tool} is needed on the controller ({e})")
                })?;
            let mut input = child.stdin.take().expect("piped");
            let data = bytes.to_vec();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let _ = input.write_all(&data);
            });
            let stdout = child.stdout.take().expect("piped");
            let members = members_from_tar(stdout);
            let _ = writer.join();
            let _ = child.wait();
            members
        }
    }
}

fn matches_any(path: &str, raw: &str, patterns: &[glob::Pattern]) -> bool {
    patterns.iter().any(|p| p.matches(path) || p.matches(raw))
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let mut p = match plan(args) {
        Ok(p) => p,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    // A relative dest is the login directory's, said in a warning as Ansible does.
    let mut warning = None;
    if !p.dest.starts_with('/') {
        let cwd = ctx.exec("pwd", None)?.stdout_str().trim().to_string();
        // Python's os.path.abspath.
        let abs = crate::playbook::filters::py_normpath(&format!("{cwd}/{}", p.dest));
        warning = Some(format!(
            "Relative destination path '{}' was resolved to absolute path '{abs}'.",
            p.dest
        ));
    }
    let dest_q = quote(&p.dest);
    let mut cleanup: Option<String> = None;
    let result = unpack(ctx, &mut p, &dest_q, &mut cleanup);
    if let Some(dir) = cleanup {
        ctx.exec(&format!("rm -rf {}", quote(&dir)), None)?;
    }
    let mut out = result?;
    if let Some(w) = warning {
        let mut warnings = match out.result.remove("warnings") {
            Some(Value::Array(w)) => w,
            _ => Vec::new(),
        };
        warnings.insert(0, Value::String(w));
        out = out.with("warnings", warnings);
    }
    Ok(out)
}

fn unpack(
    ctx: &mut ModuleContext<'_>,
    p: &mut Plan,
    dest_q: &str,
    cleanup: &mut Option<String>,
) -> Result<ModuleOutcome, ConnError> {
    let shown_src = p.src.clone();
    // A URL: download on the target first, then unpack from there.
    if p.src.contains("://") {
        if !p.remote_src {
            return Ok(ModuleOutcome::failed(format!(
                "Unsupported option, an URI src ({}) is only supported when remote_src is True",
                crate::modules::net_http::mask_url(&p.src)
            )));
        }
        if p.creates.as_ref().is_some() {
            let c = quote(p.creates.as_deref().unwrap_or_default());
            if ctx.exec(&format!("[ -e {c} ]"), None)?.success() {
                return Ok(ModuleOutcome::ok().with("skipped", true).with(
                    "msg",
                    format!(
                        "skipped, since {} exists",
                        p.creates.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        let mut req = NetHttp::new(&p.src);
        req.validate_certs = p.validate_certs;
        let script = format!(
            "export LC_ALL=C\n_d=$(mktemp -d) || exit 1; body=\"$_d/archive\"; head=\"$_d/head\"; extra_header=\nprintf 'TMPDIR\\t%s\\n' \"$_d\"\n{}",
            req.script()
        );
        let out = ctx.exec(&script, Some(&req.payload()))?;
        let so = out.stdout_str();
        *cleanup = field(&so, "TMPDIR").map(str::to_string);
        match parse_response(&so) {
            Some(r) if r.status == 200 => {}
            Some(r) => {
                return Ok(ModuleOutcome::failed(format!(
                    "Failure downloading {}, {}",
                    crate::modules::net_http::mask_url(&p.src),
                    r.msg()
                )))
            }
            None => {
                return Ok(ModuleOutcome::failed(format!(
                    "Failure downloading {}: {}",
                    crate::modules::net_http::mask_url(&p.src),
                    out.stderr_str().trim()
                )))
            }
        }
        p.src = format!("{}/archive", cleanup.as_deref().unwrap_or_default());
        p.remote_src = true;
    }

    let excludes: Vec<glob::Pattern> = p
        .exclude
        .iter()
        .filter_map(|e| glob::Pattern::new(e).ok())
        .collect();
    let includes: Vec<glob::Pattern> = p
        .include
        .iter()
        .filter_map(|e| glob::Pattern::new(e).ok())
        .collect();
    let mut prelude = format!(
        "export LC_ALL=C\ndest={dest_q}\nif [ ! -d \"$dest\" ]; then echo NODEST; exit 0; fi\n"
    );
    if let Some(c) = &p.creates {
        prelude.push_str(&format!(
            "if [ -e {} ]; then echo CREATES; exit 0; fi\n",
            quote(c)
        ));
    }
    prelude.push_str(
        "[ -w \"$dest\" ] || echo NOWRITE\nprintf 'ID\\t%s\\t%s\\n' \"$(id -u)\" \"$(umask)\"\n",
    );

    // The archive's members and format.
    let (format, mut members, local_bytes) = if p.remote_src {
        let script = format!(
            "{prelude}src={}\nif [ ! -f \"$src\" ]; then echo NOSRC; exit 0; fi\n[ -s \"$src\" ] || {{ echo EMPTYSRC; exit 0; }}\n\
             printf 'MAGIC\\t%s\\n' \"$(head -c 262 \"$src\" | od -An -v -tx1 | tr -d ' \\n')\"\n\
             echo '--- list'\n\
             case \"$(head -c 4 \"$src\" | od -An -tx1 | tr -d ' \\n')\" in\n\
               504b0304|504b0506) if command -v unzip >/dev/null 2>&1; then unzip -Z -T \"$src\"; else echo NOUNZIP; fi ;;\n\
               *) _le=$(mktemp) || exit 1; \"$(command -v tar || echo tar)\" -t -v --full-time --numeric-owner --quoting-style=literal{opts} -f \"$src\" 2>\"$_le\" || {{ printf 'LISTERR\\t'; tr '\\n' '\\036' < \"$_le\"; echo; }}; rm -f \"$_le\" ;;\n\
             esac\n",
            quote(&p.src),
            // As Ansible lists with the extra options (names as they transform).
            opts = if p.extra_opts.is_empty() {
                String::new()
            } else {
                format!(
                    " --show-transformed-names {}",
                    p.extra_opts.iter().map(|o| quote(o)).collect::<Vec<_>>().join(" ")
                )
            }
        );
        let out = ctx.exec(&script, None)?;
        let so = out.stdout_str();
        if let Some(early) = early_exit(&so, p) {
            return Ok(early);
        }
        if has_line(&so, "NOSRC") {
            return Ok(ModuleOutcome::failed(format!(
                "Source '{}' does not exist",
                p.src
            )));
        }
        if has_line(&so, "EMPTYSRC") {
            return Ok(ModuleOutcome::failed(format!(
                "Invalid archive '{}', the file is 0 bytes",
                p.src
            )));
        }
        let magic: Vec<u8> = field(&so, "MAGIC")
            .map(|h| {
                (0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&h[i * 2..i * 2 + 2], 16).ok())
                    .collect()
            })
            .unwrap_or_default();
        let Some(format) = Format::from_magic(&magic) else {
            return Ok(unknown_format(&shown_src, &p.dest));
        };
        if let Some(err) = field(&so, "LISTERR").filter(|_| format != Format::Zip) {
            return Ok(ModuleOutcome::failed(format!(
                "Failed to find handler for \"{shown_src}\". Make sure the required command to extract the file is installed.\n\
                 Command \"tar\" could not handle archive: Unable to list files in the archive: {}",
                err.replace('\u{1e}', "\n").trim_end()
            )));
        }
        if format == Format::Zip && has_line(&so, "NOUNZIP") {
            // Ansible's words when neither unzip nor zipinfo is on the PATH.
            return Ok(ModuleOutcome::failed(format!(
                "Failed to find handler for \"{shown_src}\". Make sure the required command to extract the file is installed.\n\
                 Unable to find required 'unzip' or 'zipinfo' binary in the path."
            )));
        }
        let listing = so.split_once("--- list\n").map(|(_, l)| l).unwrap_or("");
        let members = if format == Format::Zip {
            parse_zipinfo(listing)
        } else {
            parse_tar_listing(listing)
        };
        if members.is_empty() && !out.success() {
            return Ok(ModuleOutcome::failed(format!(
                "Failed to read {}: {}",
                p.src,
                out.stderr_str().trim()
            )));
        }
        (format, members, None)
    } else {
        let Some(path) = ctx.find_file("files", &p.src) else {
            return Ok(ModuleOutcome::failed(format!(
                "Could not find or access '{}' on the Ansible Controller.",
                p.src
            )));
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                return Ok(ModuleOutcome::failed(format!(
                    "Could not read '{}': {e}",
                    path.display()
                )))
            }
        };
        if bytes.is_empty() {
            return Ok(ModuleOutcome::failed(format!(
                "Invalid archive '{}', the file is 0 bytes",
                path.display()
            )));
        }
        let Some(format) = Format::from_magic(&bytes) else {
            return Ok(unknown_format(&shown_src, &p.dest));
        };
        let members = match controller_members(&bytes, format) {
            Ok(m) => m,
            Err(e) => {
                return Ok(ModuleOutcome::failed(format!(
                    "Failed to read {}: {e}",
                    path.display()
                )))
            }
        };
        (format, members, Some(bytes))
    };
    members.retain(|m| !matches_any(&m.path, &m.raw, &excludes));
    if !includes.is_empty() {
        members.retain(|m| matches_any(&m.path, &m.raw, &includes));
    }

    // One round trip: what is in dest for each member.
    let mut names = Vec::new();
    for m in &members {
        names.extend_from_slice(m.path.as_bytes());
        names.push(0);
    }
    let tool = if format == Format::Zip {
        "unzip"
    } else {
        "tar"
    };
    let stat_script_text = format!(
        "{}command -v {tool} >/dev/null 2>&1 || echo NOTOOL\necho '--- stats'\ncd \"$dest\" && xargs -0 -r stat --printf 'S\\t%n\\t%F\\t%s\\t%Y\\t%y\\t%a\\0' -- 2>/dev/null\nexit 0\n",
        if p.remote_src { format!("export LC_ALL=C\ndest={dest_q}\nprintf 'ID\\t%s\\t%s\\n' \"$(id -u)\" \"$(umask)\"\n") } else { prelude.clone() }
    );
    let out = ctx.exec(&stat_script_text, Some(&names))?;
    let so = out.stdout_str();
    if let Some(early) = early_exit(&so, p) {
        return Ok(early);
    }
    if has_line(&so, "NOTOOL") {
        return Ok(ModuleOutcome::failed(format!(
            "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\nCommand \"{tool}\" not found on the target.",
            shown_src
        )));
    }
    let (uid, umask) = field(&so, "ID")
        .and_then(|l| l.split_once('\t'))
        .map(|(u, m)| {
            (
                u.parse().unwrap_or(1),
                u32::from_str_radix(m.trim(), 8).unwrap_or(0o022),
            )
        })
        .unwrap_or((1, 0o022));
    let found = parse_stats(so.split_once("--- stats\n").map(|(_, s)| s).unwrap_or(""));
    let mut difference = first_difference(
        &members,
        &found,
        uid,
        umask,
        // Ansible's zip handler leaves newer files out of the comparison;
        // its tar handler asks `tar --diff`, which reports them (a change).
        p.keep_newer && format == Format::Zip,
        // unzip's handling of stored modes varies; tar's is known (umask unless root).
        p.perms.mode.is_none() && format != Format::Zip,
    );
    // Same names, sizes and times: compare contents, as `tar --diff` does.
    if difference.is_none() && format != Format::Zip {
        difference = content_difference(ctx, p, &members)?;
    }

    let files: Vec<Value> = members
        .iter()
        .map(|m| Value::from(m.raw.as_str()))
        .collect();
    let mut o = ModuleOutcome::changed(difference.is_some())
        .with("dest", p.dest.as_str())
        .with("src", shown_src.as_str())
        .with("handler", format.handler());
    if p.list_files {
        o = o.with("files", Value::Array(files));
    }
    if difference.is_some() && !ctx.check_mode {
        let mut cmd: Vec<String> = Vec::new();
        let mut stdin: Option<Vec<u8>> = None;
        let mut upload = String::new();
        let archive = if p.remote_src {
            p.src.clone()
        } else {
            String::new()
        };
        if format == Format::Zip {
            let zip_path = if p.remote_src {
                archive
            } else {
                upload =
                    "_z=$(mktemp) || exit 1; cat > \"$_z\"; trap 'rm -f \"$_z\"' EXIT\n".into();
                stdin = local_bytes;
                "$_z".to_string()
            };
            cmd.extend([
                "unzip".into(),
                if p.keep_newer {
                    "-uo".into()
                } else {
                    "-o".into()
                },
            ]);
            cmd.extend(p.extra_opts.iter().cloned());
            cmd.push(zip_path);
            cmd.extend(p.include.iter().cloned());
            if !p.exclude.is_empty() {
                cmd.push("-x".into());
                cmd.extend(p.exclude.iter().cloned());
            }
            cmd.extend(["-d".into(), p.dest.clone()]);
        } else {
            cmd.extend([
                "tar".into(),
                "--extract".into(),
                "-C".into(),
                p.dest.clone(),
            ]);
            if !p.remote_src {
                cmd.extend(format.tar_flag().map(str::to_string));
            }
            cmd.extend(p.extra_opts.iter().cloned());
            if p.keep_newer {
                cmd.push("--keep-newer-files".into());
            }
            for e in &p.exclude {
                cmd.push(format!("--exclude={e}"));
            }
            cmd.extend(["-f".into(), if p.remote_src { archive } else { "-".into() }]);
            if !p.include.is_empty() {
                cmd.push("--wildcards".into());
                cmd.extend(p.include.iter().cloned());
            }
            if !p.remote_src {
                stdin = local_bytes;
            }
        }
        let shell_cmd: Vec<String> = cmd
            .iter()
            .map(|c| {
                if c == "$_z" {
                    "\"$_z\"".to_string()
                } else {
                    quote(c)
                }
            })
            .collect();
        let script = format!("{upload}{}\n", shell_cmd.join(" "));
        let out = ctx.exec(&script, stdin.as_deref())?;
        let extract = serde_json::json!({
            "cmd": cmd.join(" ").replace("$_z", "<uploaded archive>"),
            "rc": out.rc,
            "out": out.stdout_str(),
            "err": out.stderr_str(),
        });
        o = o.with("extract_results", extract);
        if !out.success() {
            let mut f =
                ModuleOutcome::failed(format!("failed to unpack {} to {}", shown_src, p.dest));
            f.result.extend(
                o.result
                    .into_iter()
                    .filter(|(k, _)| k != "changed" && k != "failed" && k != "msg"),
            );
            return Ok(f);
        }
    }

    // Attributes on every member: one stat round trip, decided here, then
    // one round trip applying only what differs (grouped per command).
    let mut tail = format!("export LC_ALL=C\ndest={dest_q}\n");
    let want_attrs = !p.perms.is_empty() && !members.is_empty();
    if want_attrs {
        tail.push_str(
            "echo '--- attrs'\n(cd \"$dest\" && xargs -0 -r stat --printf 'A\\t%n\\t%F\\t%a\\t%U\\t%u\\t%G\\t%g\\0' -- 2>/dev/null)\necho\necho '--- end attrs'\n",
        );
    }
    tail.push_str(&stat_script("dest"));
    // The top folders of the members too, listed in the archive or not
    // (tar makes them), as Ansible applies owner, group and mode to them.
    let mut attr_names = names.clone();
    let mut tops: Vec<&str> = Vec::new();
    for m in &members {
        if let Some((top, _)) = m.path.split_once('/') {
            if !tops.contains(&top) && !members.iter().any(|o| o.path == top) {
                tops.push(top);
                attr_names.extend_from_slice(top.as_bytes());
                attr_names.push(0);
            }
        }
    }
    let out = ctx.exec(&tail, if want_attrs { Some(&attr_names) } else { None })?;
    let so = out.stdout_str();
    if want_attrs {
        let section = so
            .split_once("--- attrs\n")
            .and_then(|(_, r)| r.split_once("\n--- end attrs"))
            .map(|(a, _)| a)
            .unwrap_or("");
        let changes = match attr_changes(section, &p.perms) {
            Ok(c) => c,
            Err(e) => {
                return Ok(
                    ModuleOutcome::failed("mode must be in octal or symbolic form")
                        .with("details", e),
                )
            }
        };
        if !changes.is_empty() {
            o.result.insert("changed".into(), Value::Bool(true));
            if !ctx.check_mode {
                let mut input = Vec::new();
                for (op, arg, name) in &changes {
                    input.extend_from_slice(format!("{op}\t{arg}\t{name}").as_bytes());
                    input.push(0);
                }
                let apply = format!(
                    "cd {dest_q} || exit 3\n_key=; _cmd=; _arg=; _files=()\n\
                     flush() {{ if [ ${{#_files[@]}} -gt 0 ]; then $_cmd \"$_arg\" -- \"${{_files[@]}}\" || exit 3; _files=(); fi; }}\n\
                     while IFS= read -r -d '' rec; do\n\
                       op=${{rec%%$'\\t'*}}; rest=${{rec#*$'\\t'}}; arg=${{rest%%$'\\t'*}}; name=${{rest#*$'\\t'}}\n\
                       if [ \"$op:$arg\" != \"$_key\" ] || [ ${{#_files[@]}} -ge 500 ]; then flush; _key=\"$op:$arg\"; _arg=$arg\n\
                         case $op in M) _cmd=chmod;; O) _cmd='chown -h';; G) _cmd='chgrp -h';; esac; fi\n\
                       _files+=(\"$name\")\n\
                     done\nflush\n"
                );
                let res = ctx.exec(&format!("bash -c {}", quote(&apply)), Some(&input))?;
                if !res.success() {
                    return Ok(ModuleOutcome::failed(format!(
                        "Failed to set attributes in {}: {}",
                        p.dest,
                        res.stderr_str().trim()
                    )));
                }
            }
        }
    }
    if let Some(st) = parse_stat(&so) {
        o.result.extend(st);
    }
    Ok(o)
}

/// From `stat` records of the members, the (command, argument, name)
/// triples that bring them to `perms`, sorted so equal commands group.
fn attr_changes(section: &str, perms: &NetPerms) -> Result<Vec<(char, String, String)>, String> {
    let mut changes = Vec::new();
    for rec in section.split('\0') {
        let f: Vec<&str> = rec.trim_start_matches('\n').split('\t').collect();
        if f.len() < 8 || f[0] != "A" {
            continue;
        }
        let (name, kind) = (f[1], f[2]);
        if let Some(owner) = &perms.owner {
            if owner != f[4] && owner != f[5] {
                changes.push(('O', owner.clone(), name.to_string()));
            }
        }
        if let Some(group) = &perms.group {
            if group != f[6] && group != f[7] {
                changes.push(('G', group.clone(), name.to_string()));
            }
        }
        if let (Some(mode), false) = (&perms.mode, kind == "symbolic link") {
            let cur = u32::from_str_radix(f[3], 8).unwrap_or(0);
            let want = apply_mode(mode, cur, kind == "directory")?;
            if want != cur {
                changes.push(('M', format!("{want:o}"), name.to_string()));
            }
        }
    }
    // Owner and group before modes: chown may clear set-id bits.
    changes.sort_by(|a, b| (a.0 == 'M', a.0, &a.1).cmp(&(b.0 == 'M', b.0, &b.1)));
    Ok(changes)
}

fn early_exit(so: &str, p: &Plan) -> Option<ModuleOutcome> {
    if has_line(so, "NODEST") {
        return Some(ModuleOutcome::failed(format!(
            "dest '{}' must be an existing dir",
            p.dest
        )));
    }
    if has_line(so, "CREATES") {
        let c = p.creates.as_deref().unwrap_or_default();
        return Some(
            ModuleOutcome::ok()
                .with("skipped", true)
                .with("msg", format!("skipped, since {c} exists")),
        );
    }
    if has_line(so, "NOWRITE") {
        return Some(ModuleOutcome::failed(format!(
            "Destination '{}' not writable",
            p.dest
        )));
    }
    None
}

/// The first regular member whose content in dest differs from the
/// archive's: by SHA-1 for an archive read on the controller, by
/// `tar --compare` on the target for a remote one.
fn content_difference(
    ctx: &mut ModuleContext<'_>,
    p: &Plan,
    members: &[Member],
) -> Result<Option<String>, ConnError> {
    let compared: Vec<&Member> = members
        .iter()
        .filter(|m| matches!(m.kind, Kind::File | Kind::Link))
        .collect();
    if compared.is_empty() {
        return Ok(None);
    }
    let mut names = Vec::new();
    let dest = quote(&p.dest);
    if p.remote_src {
        for m in &compared {
            names.extend_from_slice(m.raw.as_bytes());
            names.push(0);
        }
        let script = format!(
            "export LC_ALL=C\ntar --compare -C {dest} -f {} --null -T - 2>&1; exit 0\n",
            quote(&p.src)
        );
        let out = ctx.exec(&script, Some(&names))?;
        let text = out.stdout_str();
        return Ok(text
            .lines()
            .find(|l| l.ends_with(": Contents differ") || l.ends_with(": Symlink differs"))
            .map(|l| l.trim_start_matches("tar: ").to_string()));
    }
    // Each name tagged F (a file: its SHA-1) or L (a link: its target).
    for m in &compared {
        names.push(if m.kind == Kind::File { b'F' } else { b'L' });
        names.extend_from_slice(m.path.as_bytes());
        names.push(0);
    }
    let script = format!(
        "export LC_ALL=C\ncd {dest} && xargs -0 -r sh -c 'for n; do p=${{n#?}}; case $n in \
         F*) printf \"F\\t%s\\t%s\\0\" \"$p\" \"$(sha1sum < \"$p\" 2>/dev/null | cut -d\" \" -f1)\";; \
         L*) printf \"L\\t%s\\t%s\\0\" \"$p\" \"$(readlink -- \"$p\")\";; esac; done' sh; exit 0\n"
    );
    let out = ctx.exec(&script, Some(&names))?;
    let mut found = std::collections::HashMap::new();
    for rec in out.stdout.split(|b| *b == 0) {
        let rec = String::from_utf8_lossy(rec);
        let mut f = rec.trim_start_matches('\n').splitn(3, '\t');
        if let (Some(kind), Some(name), Some(value)) = (f.next(), f.next(), f.next()) {
            found.insert((kind.to_string(), name.to_string()), value.to_string());
        }
    }
    Ok(compared.iter().find_map(|m| {
        let (kind, want, why) = match m.kind {
            Kind::File => ("F", m.sha1.as_deref()?, "Contents differ"),
            _ => ("L", m.link_target.as_deref()?, "Symlink differs"),
        };
        let got = found.get(&(kind.to_string(), m.path.clone()));
        (got.map(String::as_str) != Some(want)).then(|| format!("{}: {why}", m.path))
    }))
}

fn unknown_format(src: &str, dest: &str) -> ModuleOutcome {
    ModuleOutcome::failed(format!(
        "Failed to find handler for \"{src}\". Make sure the required command to extract the file is installed.\n\
         The file is not a tar (plain, gzip, bzip2, xz) or zip archive."
    ))
    .with("dest", dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::{HttpServer, NetHarness, Reply};
    use serde_json::json;
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    const MTIME: u64 = 1_700_000_000;

    /// A tar with `app/`, `app/bin/run` (0755) and `app/README` (0644).
    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_mtime(MTIME);
        dir.set_size(0);
        b.append_data(&mut dir, "app/", std::io::empty()).unwrap();
        for (name, body, mode) in [
            ("app/bin/run", "#!/bin/sh\necho run\n", 0o755),
            ("app/README", "read me\n", 0o644),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_mtime(MTIME);
            h.set_size(body.len() as u64);
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_mode(0o777);
        link.set_mtime(MTIME);
        link.set_size(0);
        b.append_link(&mut link, "app/latest", "bin/run").unwrap();
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn compress_with(tool: &str, data: &[u8]) -> Vec<u8> {
        let mut c = Command::new(tool)
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(data).unwrap();
        c.wait_with_output().unwrap().stdout
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A stored (uncompressed) zip with DOS times only.
    fn zip_bytes(entries: &[(&str, &str)]) -> Vec<u8> {
        let (time, date): (u16, u16) = (
            (10 << 11) | (30 << 5) | (20 / 2),
            ((2024 - 1980) << 9) | (3 << 5) | 15,
        );
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, body) in entries {
            let offset = out.len() as u32;
            let crc = crc32(body.as_bytes());
            let is_dir = name.ends_with('/');
            let mut local = Vec::new();
            local.extend_from_slice(b"PK\x03\x04");
            for v in [10u16, 0, 0, time, date] {
                local.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, body.len() as u32, body.len() as u32] {
                local.extend_from_slice(&v.to_le_bytes());
            }
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local);
            out.extend_from_slice(body.as_bytes());
            central.extend_from_slice(b"PK\x01\x02");
            for v in [0x031eu16, 10, 0, 0, time, date] {
                central.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, body.len() as u32, body.len() as u32] {
                central.extend_from_slice(&v.to_le_bytes());
            }
            for v in [name.len() as u16, 0, 0, 0, 0] {
                central.extend_from_slice(&v.to_le_bytes());
            }
            let mode: u32 = if is_dir { 0o040755 } else { 0o100644 };
            central.extend_from_slice(&(mode << 16).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn uploaded(h: &NetHarness) -> usize {
        h.log().iter().map(|(_, n)| *n).max().unwrap_or(0)
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        files: std::path::PathBuf,
        h: NetHarness,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let files = tmp.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let tar = tar_bytes();
        std::fs::write(files.join("app.tar"), &tar).unwrap();
        std::fs::write(files.join("app.tar.gz"), gzip(&tar)).unwrap();
        std::fs::write(files.join("app.tar.bz2"), compress_with("bzip2", &tar)).unwrap();
        std::fs::write(files.join("app.tar.xz"), compress_with("xz", &tar)).unwrap();
        std::fs::write(
            files.join("app.zip"),
            zip_bytes(&[
                ("app/", ""),
                ("app/README", "read me\n"),
                ("app/conf.ini", "[a]\n"),
            ]),
        )
        .unwrap();
        std::fs::write(files.join("notes.txt"), "just text").unwrap();
        let mut h = NetHarness::new(json!({}));
        h.search_paths = vec![tmp.path().to_path_buf()];
        Fixture {
            files,
            _tmp: tmp,
            h,
        }
    }

    fn new_dest(f: &Fixture, name: &str) -> String {
        let d = f.files.parent().unwrap().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d.to_str().unwrap().to_string()
    }

    #[test]
    fn fixture_table_idempotent_for_every_format() {
        let mut f = fixture();
        // (src, handler, expected file in dest, remote_src)
        let cases = [
            ("app.tar", "TarArchive", "app/bin/run", false),
            ("app.tar.gz", "TgzArchive", "app/bin/run", false),
            ("app.tar.bz2", "TarBzipArchive", "app/bin/run", false),
            ("app.tar.xz", "TarXzArchive", "app/bin/run", false),
            ("app.zip", "ZipArchive", "app/conf.ini", false),
            ("app.tar.gz", "TgzArchive", "app/README", true),
            ("app.tar.xz", "TarXzArchive", "app/README", true),
            ("app.zip", "ZipArchive", "app/conf.ini", true),
        ];
        for (i, (src, handler, expect, remote)) in cases.iter().enumerate() {
            let dest = new_dest(&f, &format!("d{i}"));
            let src_arg = if *remote {
                f.files.join(src).to_str().unwrap().to_string()
            } else {
                src.to_string()
            };
            let args = json!({"src": src_arg, "dest": dest, "remote_src": remote});
            let first = f.h.run(run, args.clone());
            assert_eq!(
                first.result["changed"], true,
                "{src} remote={remote}: {:?}",
                first.result
            );
            assert_eq!(first.result["handler"], *handler);
            assert_eq!(first.result["extract_results"]["rc"], 0);
            assert!(
                Path::new(&dest).join(expect).is_file(),
                "{src}: {expect} extracted"
            );
            if handler.starts_with("T") {
                let meta = std::fs::metadata(Path::new(&dest).join("app/README")).unwrap();
                assert_eq!(meta.mtime(), MTIME as i64);
            }
            f.h.clear_log();
            let second = f.h.run(run, args.clone());
            assert_eq!(
                second.result["changed"], false,
                "{src} remote={remote} second run: {:?}",
                second.result
            );
            assert!(!second.result.contains_key("extract_results"));
            assert!(
                uploaded(&f.h) < 200,
                "{src}: an unchanged archive is not uploaded ({} bytes sent)",
                uploaded(&f.h)
            );
            // Listing (remote only), dest's state, and for tar the contents.
            let tar_like = handler.starts_with('T');
            assert_eq!(
                f.h.log().len(),
                usize::from(*remote) + 2 + usize::from(tar_like),
                "{src}: round trips"
            );
            // A changed file makes it extract again, and restores the file.
            std::fs::write(Path::new(&dest).join("app/README"), "edited").unwrap();
            let third = f.h.run(run, args);
            assert_eq!(third.result["changed"], true, "{src}: edited file detected");
            assert_eq!(
                std::fs::read_to_string(Path::new(&dest).join("app/README")).unwrap(),
                "read me\n"
            );
            if tar_like {
                // Same size and time, other bytes: `tar --diff` calls that a change.
                let readme = Path::new(&dest).join("app/README");
                std::fs::write(&readme, "READ ME\n").unwrap();
                let touched = std::process::Command::new("touch")
                    .args(["-m", "-d", &format!("@{MTIME}")])
                    .arg(&readme)
                    .status()
                    .unwrap();
                assert!(touched.success());
                let fourth = f.h.run(run, args_again(&src_arg, &dest, *remote));
                assert_eq!(
                    fourth.result["changed"], true,
                    "{src}: content difference detected"
                );
                assert_eq!(std::fs::read_to_string(&readme).unwrap(), "read me\n");
                // A symlink pointing elsewhere is a difference too.
                let latest = Path::new(&dest).join("app/latest");
                std::fs::remove_file(&latest).unwrap();
                std::os::unix::fs::symlink("README", &latest).unwrap();
                let fifth = f.h.run(run, args_again(&src_arg, &dest, *remote));
                assert_eq!(
                    fifth.result["changed"], true,
                    "{src}: symlink difference detected"
                );
                assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("bin/run"));
            }
        }
    }

    fn args_again(src: &str, dest: &str, remote: bool) -> Value {
        json!({"src": src, "dest": dest, "remote_src": remote})
    }

    #[test]
    fn check_mode_list_files_exclude_creates_and_modes() {
        let mut f = fixture();
        let dest = new_dest(&f, "check");
        f.h.check_mode = true;
        let got = f.h.run(
            run,
            json!({"src": "app.tar.gz", "dest": dest, "list_files": true}),
        );
        assert_eq!(got.result["changed"], true);
        assert_eq!(
            got.result["files"],
            json!(["app/", "app/bin/run", "app/README", "app/latest"])
        );
        assert_eq!(
            std::fs::read_dir(&dest).unwrap().count(),
            0,
            "check mode extracts nothing"
        );
        f.h.check_mode = false;

        let dest = new_dest(&f, "excl");
        let got = f.h.run(run, json!({"src": "app.tar.gz", "dest": dest, "exclude": ["app/bin/*"], "list_files": "yes"}));
        assert_eq!(got.result["changed"], true);
        assert_eq!(
            got.result["files"],
            json!(["app/", "app/README", "app/latest"])
        );
        assert!(!Path::new(&dest).join("app/bin/run").exists());
        let again = f.h.run(
            run,
            json!({"src": "app.tar.gz", "dest": dest, "exclude": ["app/bin/*"]}),
        );
        assert_eq!(again.result["changed"], false, "{:?}", again.result);

        let dest = new_dest(&f, "modes");
        let args = json!({"src": "app.zip", "dest": dest, "mode": "u=rwX,g=rX,o="});
        assert_eq!(f.h.run(run, args.clone()).result["changed"], true);
        let readme = Path::new(&dest).join("app/README");
        assert_eq!(
            std::fs::metadata(&readme).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::metadata(Path::new(&dest).join("app"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o750
        );
        assert_eq!(f.h.run(run, args.clone()).result["changed"], false);
        std::fs::set_permissions(&readme, std::fs::Permissions::from_mode(0o666)).unwrap();
        let fixed = f.h.run(run, args);
        assert_eq!(
            fixed.result["changed"], true,
            "a mode change alone is a change"
        );
        assert_eq!(
            std::fs::metadata(&readme).unwrap().permissions().mode() & 0o777,
            0o640
        );

        // Owner and group: as root, hand the tree to nobody:nogroup and back.
        if unsafe { libc::geteuid() } == 0 {
            let args =
                json!({"src": "app.zip", "dest": dest, "owner": "nobody", "group": "nogroup"});
            assert_eq!(f.h.run(run, args.clone()).result["changed"], true);
            let meta = std::fs::metadata(&readme).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
            assert_eq!(
                std::fs::metadata(Path::new(&dest).join("app"))
                    .unwrap()
                    .uid(),
                65534
            );
            assert_eq!(f.h.run(run, args).result["changed"], false);
            let back = f.h.run(
                run,
                json!({"src": "app.zip", "dest": dest, "owner": "0", "group": "root"}),
            );
            assert_eq!(back.result["changed"], true);
            assert_eq!(std::fs::metadata(&readme).unwrap().uid(), 0);
        } else {
            let denied = f.h.run(
                run,
                json!({"src": "app.zip", "dest": dest, "owner": "root"}),
            );
            assert!(denied.result["msg"]
                .as_str()
                .unwrap()
                .starts_with("Failed to set attributes in"));
        }
        let marker = Path::new(&dest).join("app/README");
        let skipped = f.h.run(
            run,
            json!({"src": "app.tar", "dest": dest, "creates": marker.to_str().unwrap()}),
        );
        assert_eq!(skipped.result["skipped"], true);
        assert_eq!(
            skipped.result["msg"],
            format!("skipped, since {} exists", marker.display())
        );
    }

    #[test]
    fn remote_tar_listed_with_its_extra_opts() {
        let mut f = fixture();
        let dest = new_dest(&f, "strip");
        let src = f.files.join("app.tar.gz").to_str().unwrap().to_string();
        let args = json!({"src": src, "dest": dest, "remote_src": true, "extra_opts": ["--strip-components=1"]});
        assert_eq!(f.h.run(run, args.clone()).result["changed"], true);
        assert!(Path::new(&dest).join("bin/run").is_file());
        let again = f.h.run(run, args);
        assert_eq!(again.result["changed"], false, "{:?}", again.result);
        let bad = f.h.run(
            run,
            json!({"src": src, "dest": dest, "remote_src": true, "extra_opts": ["--no-such-öption"]}),
        );
        let msg = bad.result["msg"].as_str().unwrap();
        assert!(
            msg.contains("Unable to list files in the archive: ")
                && msg.contains("unrecognized option '--no-such-öption'"),
            "{msg}"
        );
    }

    #[test]
    fn relative_dest_is_resolved_and_said() {
        use crate::playbook::filters::py_normpath;
        assert_eq!(py_normpath("/root/./a//b/../c/"), "/root/a/c");
        assert_eq!(py_normpath("/.."), "/");
    }

    #[test]
    fn attributes_reach_top_folders_the_archive_does_not_list() {
        let mut f = fixture();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_size(3);
        b.append_data(&mut h, "top/f.txt", &b"hi\n"[..]).unwrap();
        std::fs::write(f.files.join("notop.tar"), b.into_inner().unwrap()).unwrap();
        let dest = new_dest(&f, "tops");
        let out = f.h.run(
            run,
            json!({"src": f.files.join("notop.tar").to_str().unwrap(), "dest": dest, "remote_src": true, "mode": "u=rwX,g=rX,o="}),
        );
        assert_eq!(out.result["changed"], true, "{:?}", out.result);
        let mode = |p: &str| {
            std::fs::metadata(Path::new(&dest).join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!((mode("top"), mode("top/f.txt")), (0o750, 0o640));
    }

    #[test]
    fn failures_like_ansible() {
        let mut f = fixture();
        let dest = new_dest(&f, "ok");
        let cases = vec![
            (json!({"src": "app.tar", "dest": format!("{dest}/nope")}), format!("dest '{dest}/nope' must be an existing dir")),
            (json!({"src": "missing.tgz", "dest": dest}), "Could not find or access 'missing.tgz' on the Ansible Controller.".to_string()),
            (json!({"src": "/nowhere/x.tgz", "dest": dest, "remote_src": true}), "Source '/nowhere/x.tgz' does not exist".to_string()),
            (json!({"src": "app.tar", "dest": dest, "copy": false, "remote_src": true}), "parameters are mutually exclusive: ('copy', 'remote_src')".to_string()),
            (json!({"src": "app.tar"}), "src (or content) and dest are required".to_string()),
            (json!({"src": "app.tar", "dest": dest, "include": ["a"], "exclude": ["b"]}), "parameters are mutually exclusive: include|exclude".to_string()),
            (
                json!({"src": "http://deploy:pw@127.0.0.1:1/a.tgz", "dest": dest}),
                "Unsupported option, an URI src (http://****:****@127.0.0.1:1/a.tgz) is only supported when remote_src is True".to_string(),
            ),
        ];
        for (args, msg) in cases {
            let got = f.h.run(run, args.clone());
            assert_eq!(got.result["failed"], true, "{args}");
            assert_eq!(got.result["msg"], msg, "{args}");
        }
        std::fs::write(f.files.join("empty.tgz"), "").unwrap();
        let empty = f.h.run(run, json!({"src": f.files.join("empty.tgz").to_str().unwrap(), "dest": dest, "remote_src": true}));
        assert_eq!(
            empty.result["msg"],
            format!(
                "Invalid archive '{}', the file is 0 bytes",
                f.files.join("empty.tgz").display()
            )
        );
        let unknown = f.h.run(run, json!({"src": "notes.txt", "dest": dest}));
        assert!(unknown.result["msg"]
            .as_str()
            .unwrap()
            .starts_with("Failed to find handler for \"notes.txt\"."));
        assert!(f
            .h
            .run(run, json!({"src": "app.tar", "dest": dest, "bogus": 1}))
            .is_failed());
    }

    #[test]
    fn url_src_is_downloaded_on_the_target() {
        let data = gzip(&tar_bytes());
        let srv = HttpServer::start(move |req| match req.path.as_str() {
            "/app.tar.gz" => Reply::new(200, "application/gzip", data.clone()),
            _ => Reply::new(404, "text/plain", "no"),
        });
        let mut f = fixture();
        let dest = new_dest(&f, "url");
        let got = f.h.run(
            run,
            json!({"src": srv.url("/app.tar.gz"), "dest": dest, "remote_src": true}),
        );
        assert_eq!(got.result["changed"], true, "{:?}", got.result);
        assert!(Path::new(&dest).join("app/bin/run").is_file());
        let again = f.h.run(
            run,
            json!({"src": srv.url("/app.tar.gz"), "dest": dest, "remote_src": true}),
        );
        assert_eq!(again.result["changed"], false);
        let missing = f.h.run(
            run,
            json!({"src": srv.url("/nope.tgz"), "dest": dest, "remote_src": "yes"}),
        );
        assert_eq!(
            missing.result["msg"],
            format!(
                "Failure downloading {}, HTTP Error 404: Not Found",
                srv.url("/nope.tgz")
            )
        );
        // Credentials in the URL never show.
        let with_creds = srv.url("/nope.tgz").replacen("://", "://deploy:s3cret@", 1);
        let masked = f.h.run(
            run,
            json!({"src": with_creds, "dest": dest, "remote_src": true}),
        );
        let text = serde_json::to_string(&masked.result).unwrap();
        assert!(
            masked.result["failed"] == true && !text.contains("s3cret"),
            "{text}"
        );
        assert!(text.contains("****:****@"), "{text}");
    }

    #[test]
    fn zip_made_by_info_zip_with_extended_timestamps() {
        let mut f = fixture();
        let work = f.files.parent().unwrap().join("work");
        std::fs::create_dir_all(work.join("site/css")).unwrap();
        std::fs::write(work.join("site/index.html"), "<h1>hi</h1>\n").unwrap();
        std::fs::write(work.join("site/css/a.css"), "h1{}\n").unwrap();
        let status = Command::new("zip")
            .args(["-qr", f.files.join("site.zip").to_str().unwrap(), "site"])
            .current_dir(&work)
            .status()
            .expect("zip is installed");
        assert!(status.success());
        let zc = members_from_zip(&std::fs::read(f.files.join("site.zip")).unwrap()).unwrap();
        assert!(
            zc.iter()
                .all(|m| m.kind == Kind::Dir || matches!(m.mtime, MTime::Epoch(_))),
            "{zc:?}"
        );
        for remote in [false, true] {
            let dest = new_dest(&f, &format!("site-{remote}"));
            let src = if remote {
                f.files.join("site.zip").to_str().unwrap().to_string()
            } else {
                "site.zip".into()
            };
            let args = json!({"src": src, "dest": dest, "remote_src": remote});
            assert_eq!(f.h.run(run, args.clone()).result["changed"], true);
            assert_eq!(
                std::fs::read_to_string(Path::new(&dest).join("site/css/a.css")).unwrap(),
                "h1{}\n"
            );
            let again = f.h.run(run, args);
            assert_eq!(
                again.result["changed"], false,
                "remote={remote}: {:?}",
                again.result
            );
        }
    }

    #[test]
    fn listings_parse() {
        let tar = "drwxr-xr-x 0/0               0 2023-11-14 22:13:20 app/\n-rwxr-xr-x 0/0              19 2023-11-14 22:13:20 app/bin/run\nlrwxrwxrwx 0/0               0 2023-11-14 22:13:20 app/link -> bin/run\nhrw-r--r-- 0/0               0 2023-11-14 22:13:20 app/hard link to app/README\n";
        let m = parse_tar_listing(tar);
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[1].path.as_str(), m[1].size, m[1].mode),
            ("app/bin/run", 19, Some(0o755))
        );
        assert_eq!((m[2].path.as_str(), &m[2].kind), ("app/link", &Kind::Link));
        assert_eq!((m[3].path.as_str(), &m[3].kind), ("app/hard", &Kind::Other));
        let zi = "Archive:  x.zip\nZip file size: 1 bytes, number of entries: 2\ndrwxr-xr-x  3.0 unx        0 bx stor 20240315.103020 app/\n-rw-r--r--  3.0 unx        8 tx stor 20240315.103020 app/README\n2 files, 8 bytes uncompressed, 8 bytes compressed:  0.0%\n";
        let z = parse_zipinfo(zi);
        assert_eq!(z.len(), 2);
        assert_eq!(z[1].mtime, MTime::Local("2024-03-15 10:30:20".into()));
        let zc =
            members_from_zip(&zip_bytes(&[("app/", ""), ("app/README", "read me\n")])).unwrap();
        assert_eq!(zc[1].mtime, MTime::Local("2024-03-15 10:30:20".into()));
        assert_eq!((zc[0].kind.clone(), zc[1].size), (Kind::Dir, 8));
        assert_eq!(mode_from_ls("-rwsr-x--T"), Some(0o5750));
    }
}
