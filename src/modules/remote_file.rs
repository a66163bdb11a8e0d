//! Shared pieces of the file modules, pyinfra-style: one round trip reads
//! every fact a module needs (stat, checksum, optional content, umask,
//! owner/group ids), one more applies a change. Writes are atomic: content
//! goes on stdin into a temp file next to the destination, gets its mode,
//! owner and group, is validated, then renamed over the destination.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::file_mode::{path_info_mode, FileMode};
use crate::modules::{quote, FileDiff, ModuleContext, ModuleOutcome};

/// Ansible's `max_file_size_for_diff` default.
pub(crate) const MAX_DIFF_SIZE: usize = 104448;

/// What to learn about one path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    pub(crate) path: String,
    /// Stat the link target instead of the link (`follow`).
    pub(crate) follow: bool,
    /// Checksum tool for regular files: `sha1sum`, `sha256sum`, ...
    pub(crate) checksum: Option<String>,
    /// Read the content of a regular file no larger than this many bytes.
    pub(crate) read_limit: Option<u64>,
    /// List every path below a directory (`recurse`).
    pub(crate) tree: bool,
    /// ...through symbolic links, to what they point at (`recurse` with `follow`).
    pub(crate) tree_follow: bool,
    /// Ask `file --mime` for the MIME type and charset (when the host has `file`).
    pub(crate) mime: bool,
    /// Ask `lsattr -vd` for the version and attribute flags (when the host has it).
    pub(crate) lsattr: bool,
    /// List the entries directly inside a directory, with the content of
    /// the readable regular files (symlinks followed).
    pub(crate) entries: bool,
}

impl Probe {
    pub(crate) fn new(path: &str) -> Probe {
        Probe {
            path: path.to_string(),
            ..Probe::default()
        }
    }
    pub(crate) fn follow(mut self, follow: bool) -> Probe {
        self.follow = follow;
        self
    }
    pub(crate) fn sha1(mut self) -> Probe {
        self.checksum = Some("sha1sum".into());
        self
    }
    pub(crate) fn read(mut self, limit: u64) -> Probe {
        self.read_limit = Some(limit);
        self
    }
    pub(crate) fn entries(mut self) -> Probe {
        self.entries = true;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Kind {
    #[default]
    Missing,
    File,
    Dir,
    Link,
    Char,
    Block,
    Fifo,
    Socket,
}

/// One path as the host sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RemoteStat {
    pub(crate) path: String,
    pub(crate) kind: Kind,
    /// Why a missing path could not be seen, when not simply absent:
    /// `EACCES` (a folder on the way is not searchable) or `ENOTDIR`.
    pub(crate) missing_errno: Option<&'static str>,
    /// Permission bits (0o7777).
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) owner: String,
    pub(crate) group: String,
    pub(crate) size: u64,
    pub(crate) mtime: f64,
    pub(crate) atime: f64,
    pub(crate) ctime: f64,
    pub(crate) inode: u64,
    pub(crate) dev: u64,
    pub(crate) nlink: u64,
    /// `readlink` of the path when it is a symlink.
    pub(crate) link_target: Option<String>,
    /// Fully resolved path (`realpath`).
    pub(crate) realpath: Option<String>,
    pub(crate) readable: bool,
    pub(crate) writeable: bool,
    pub(crate) executable: bool,
    pub(crate) checksum: Option<String>,
    pub(crate) content: Option<Vec<u8>>,
    /// `lsattr -vd` answer: (version, flags).
    pub(crate) lsattr: Option<(String, String)>,
    /// `file --mime` answer: (mimetype, charset).
    pub(crate) mime: Option<(String, String)>,
    /// 512-byte blocks allocated, preferred I/O block size, device type of a device file.
    pub(crate) blocks: u64,
    pub(crate) block_size: u64,
    pub(crate) device_type: u64,
    /// Entries below a directory when the probe asked for the tree.
    pub(crate) tree: Vec<TreeEntry>,
    /// Entries directly inside a directory when the probe asked for them.
    pub(crate) entries: Vec<DirEntry>,
}

/// One name inside a directory (`Probe::entries`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DirEntry {
    pub(crate) name: Vec<u8>,
    /// A regular file, or a symlink to one.
    pub(crate) is_file: bool,
    /// The content of a readable regular file.
    pub(crate) content: Option<Vec<u8>>,
}

/// One path under a directory: enough to judge `recurse` changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    pub(crate) is_dir: bool,
    pub(crate) is_link: bool,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl RemoteStat {
    pub(crate) fn exists(&self) -> bool {
        self.kind != Kind::Missing
    }

    /// Ansible's `state` for an existing path.
    pub(crate) fn state(&self) -> &'static str {
        match self.kind {
            Kind::Missing => "absent",
            Kind::Link => "link",
            Kind::Dir => "directory",
            _ if self.nlink > 1 => "hard",
            _ => "file",
        }
    }
}

/// Everything one probe round trip learned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub(crate) stats: Vec<RemoteStat>,
    pub(crate) umask: u32,
    /// The uid/gid commands run as (owner of a newly created file).
    pub(crate) euid: u32,
    pub(crate) egid: u32,
    pub(crate) uids: HashMap<String, Option<u32>>,
    pub(crate) gids: HashMap<String, Option<u32>>,
}

impl Facts {
    /// Mode a newly created file gets (0666 & ~umask), like Ansible's atomic_move.
    pub(crate) fn default_file_mode(&self) -> u32 {
        0o666 & !self.umask
    }
    pub(crate) fn default_dir_mode(&self) -> u32 {
        0o777 & !self.umask
    }
}

/// Shell that prints one stat record for the path in `"$p"`.
/// One `stat` call per path: type+mode, ids, size, times, inode, device, links,
/// names, then blocks, block size and device numbers.
const STAT_FORMAT: &str = "%f %u %g %s %.9Y %.9X %.9Z %i %d %h %U %G %b %o %t %T";

fn stat_script(follow: bool) -> String {
    let l = if follow { "-L " } else { "" };
    format!(
        "printf 'S '; stat {l}-c '{STAT_FORMAT}' -- \"$p\" 2>/dev/null || stat -c '{STAT_FORMAT}' -- \"$p\"; \
         if [ -L \"$p\" ]; then printf 'L '; printf %s \"$(readlink -- \"$p\")\" | base64 -w0; echo; \
         printf 'R '; printf %s \"$(readlink -f -- \"$p\" 2>/dev/null)\" | base64 -w0; echo; fi; \
         printf 'A '; [ -r \"$p\" ] && printf r; [ -w \"$p\" ] && printf w; [ -x \"$p\" ] && printf x; echo; "
    )
}

/// The facts of `probes` (plus umask and the ids of `owner`/`group` names) in one round trip.
pub(crate) fn probe(
    ctx: &mut ModuleContext<'_>,
    probes: &[Probe],
    owner: Option<&str>,
    group: Option<&str>,
) -> Result<Facts, Stop> {
    let mut script = String::from("umask; id; ");
    for (i, pr) in probes.iter().enumerate() {
        script.push_str(&format!(
            "p={}; echo P{i}; if [ -e \"$p\" ] || [ -L \"$p\" ]; then ",
            quote(&pr.path)
        ));
        script.push_str(&stat_script(pr.follow));
        let test_file = if pr.follow {
            "[ -f \"$p\" ]"
        } else {
            "[ -f \"$p\" ] && [ ! -L \"$p\" ]"
        };
        if let Some(tool) = &pr.checksum {
            script.push_str(&format!(
                "if {test_file} && [ -r \"$p\" ]; then printf 'C '; {} < \"$p\"; fi; ",
                quote(tool)
            ));
        }
        if let Some(limit) = pr.read_limit.map(|l| l.min(i64::MAX as u64)) {
            script.push_str(&format!(
                "if {test_file} && [ -r \"$p\" ] && [ \"$(stat -L -c %s -- \"$p\")\" -le {limit} ]; then printf 'B '; base64 -w0 < \"$p\"; echo; fi; "
            ));
        }
        if pr.mime {
            // Like Ansible (`file -i path`): the path itself, never followed.
            script.push_str("if command -v file >/dev/null 2>&1; then printf 'M '; file --mime-type --mime-encoding -- \"$p\" 2>/dev/null | base64 -w0; echo; fi; ");
        }
        if pr.lsattr {
            script.push_str("if command -v lsattr >/dev/null 2>&1; then a=$(lsattr -vd -- \"$p\" 2>/dev/null) && printf 'Z %s\\n' \"$a\" || :; fi; ");
        }
        if pr.entries {
            script.push_str(
                "if [ -d \"$p\" ]; then for e in \"$p\"/* \"$p\"/.[!.]* \"$p\"/..?*; do { [ -e \"$e\" ] || [ -L \"$e\" ]; } || continue; \
                 printf 'E '; printf %s \"${e##*/}\" | base64 -w0; \
                 if [ -f \"$e\" ]; then if [ -r \"$e\" ]; then printf ' f '; base64 -w0 < \"$e\"; else printf ' u'; fi; else printf ' o'; fi; echo; done; fi; ",
            );
        }
        if pr.tree {
            let l = if pr.tree_follow { "-L " } else { "" };
            script.push_str(&format!("if [ -d \"$p\" ]; then find {l}\"$p\" -mindepth 1 -printf 'T %y %m %U %G\\n'; fi; "));
        }
        script.push_str("else case \"$(LC_ALL=C stat -c %n -- \"$p\" 2>&1)\" in *'Permission denied'*) echo N EACCES;; *'Not a directory'*) echo N ENOTDIR;; *) echo N;; esac; fi; ");
    }
    if let Some(o) = owner.filter(|o| !is_numeric(o)) {
        script.push_str(&format!(
            "printf 'U '; id -u -- {} 2>/dev/null || echo; ",
            quote(o)
        ));
    }
    if let Some(g) = group.filter(|g| !is_numeric(g)) {
        script.push_str(&format!(
            "printf 'G '; getent group -- {} 2>/dev/null | cut -d: -f3 | head -n1; echo; ",
            quote(g)
        ));
    }
    let out = ctx.exec(&script, None)?;
    if !out.success() {
        return Err(Stop::Fail(format!(
            "could not read file facts: {}",
            out.stderr_str().trim()
        )));
    }
    let text = out.stdout_str();
    let mut facts = Facts::default();
    let mut lines = text.lines();
    facts.umask = lines
        .next()
        .and_then(|u| u32::from_str_radix(u.trim(), 8).ok())
        .unwrap_or(0o022);
    // `uid=0(root) gid=0(root) groups=...`
    let id_line = lines.next().unwrap_or("");
    let id_of = |key: &str| -> Option<u32> {
        let rest = id_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    facts.euid = id_of("uid=").unwrap_or(0);
    facts.egid = id_of("gid=").unwrap_or(0);
    let mut current: Option<RemoteStat> = None;
    for line in lines {
        if let Some(idx) = line.strip_prefix('P').and_then(|n| n.parse::<usize>().ok()) {
            if let Some(st) = current.take() {
                facts.stats.push(st);
            }
            current = Some(RemoteStat {
                path: probes.get(idx).map(|p| p.path.clone()).unwrap_or_default(),
                ..RemoteStat::default()
            });
            continue;
        }
        if line == "N" {
            continue;
        }
        if let Some(errno) = line.strip_prefix("N ") {
            if let Some(st) = current.as_mut() {
                st.missing_errno = match errno.trim() {
                    "EACCES" => Some("EACCES"),
                    "ENOTDIR" => Some("ENOTDIR"),
                    _ => None,
                };
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("U ") {
            if let Some(o) = owner {
                facts.uids.insert(o.to_string(), rest.trim().parse().ok());
            }
            continue;
        }
        if line == "U" {
            if let Some(o) = owner {
                facts.uids.insert(o.to_string(), None);
            }
            continue;
        }
        if line.starts_with('G') && line.len() <= 2 || line.starts_with("G ") {
            if let Some(g) = group {
                let v = line.get(2..).unwrap_or("").trim().parse().ok();
                // `echo` after an empty getent prints a bare line; keep the first answer.
                facts.gids.entry(g.to_string()).or_insert(v);
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(st) = current.as_mut() {
            parse_line(st, line);
        }
    }
    if let Some(st) = current.take() {
        facts.stats.push(st);
    }
    if let Some(o) = owner.filter(|o| is_numeric(o)) {
        facts.uids.insert(o.to_string(), o.parse().ok());
    }
    if let Some(g) = group.filter(|g| is_numeric(g)) {
        facts.gids.insert(g.to_string(), g.parse().ok());
    }
    if facts.stats.len() != probes.len() {
        return Err(Stop::Fail(format!(
            "could not read file facts: unexpected answer {text:?}"
        )));
    }
    Ok(facts)
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default()
}

/// Parse one `S`/`L`/`R`/`A`/`C`/`B` line into `st`.
fn parse_line(st: &mut RemoteStat, line: &str) {
    let (tag, rest) = line.split_at(1);
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    match tag {
        "S" => {
            let f: Vec<&str> = rest.split(' ').collect();
            if f.len() < 16 {
                return;
            }
            // The last four fields: blocks, block size, device major/minor (hex).
            let x = &f[f.len() - 4..];
            st.blocks = x[0].parse().unwrap_or(0);
            st.block_size = x[1].parse().unwrap_or(0);
            let major = u64::from_str_radix(x[2], 16).unwrap_or(0);
            let minor = u64::from_str_radix(x[3], 16).unwrap_or(0);
            st.device_type = libc::makedev(major as u32, minor as u32);
            let raw = u32::from_str_radix(f[0], 16).unwrap_or(0);
            st.kind = match raw & 0o170000 {
                0o100000 => Kind::File,
                0o040000 => Kind::Dir,
                0o120000 => Kind::Link,
                0o020000 => Kind::Char,
                0o060000 => Kind::Block,
                0o010000 => Kind::Fifo,
                0o140000 => Kind::Socket,
                _ => Kind::File,
            };
            st.mode = raw & 0o7777;
            st.uid = f[1].parse().unwrap_or(0);
            st.gid = f[2].parse().unwrap_or(0);
            st.size = f[3].parse().unwrap_or(0);
            st.mtime = f[4].parse().unwrap_or(0.0);
            st.atime = f[5].parse().unwrap_or(0.0);
            st.ctime = f[6].parse().unwrap_or(0.0);
            st.inode = f[7].parse().unwrap_or(0);
            st.dev = f[8].parse().unwrap_or(0);
            st.nlink = f[9].parse().unwrap_or(0);
            st.owner = f[10].to_string();
            st.group = f[11..f.len() - 4].join(" ");
        }
        "L" => st.link_target = Some(String::from_utf8_lossy(&b64(rest)).into_owned()),
        "R" => {
            let r = String::from_utf8_lossy(&b64(rest)).into_owned();
            st.realpath = (!r.is_empty()).then_some(r);
        }
        "A" => {
            st.readable = rest.contains('r');
            st.writeable = rest.contains('w');
            st.executable = rest.contains('x');
        }
        // `sha1sum` prints `<digest>  -`.
        "C" => st.checksum = rest.split_whitespace().next().map(str::to_string),
        "B" => st.content = Some(b64(rest)),
        "Z" => {
            let mut f = rest.split_whitespace();
            if let (Some(v), Some(flags)) = (f.next(), f.next()) {
                st.lsattr = Some((v.to_string(), flags.to_string()));
            }
        }
        "M" => {
            // `path: type; charset=x`, parsed the way Ansible's stat does:
            // anything else leaves both unknown.
            let text = String::from_utf8_lossy(&b64(rest)).into_owned();
            let tail = text
                .trim_end()
                .rsplit_once(':')
                .map(|(_, t)| t)
                .unwrap_or("");
            let parts: Vec<&str> = tail.split(';').collect();
            st.mime = match parts.as_slice() {
                [mime, charset] if charset.contains('=') => Some((
                    mime.trim().to_string(),
                    charset.split('=').nth(1).unwrap_or("").trim().to_string(),
                )),
                _ => None,
            };
        }
        "E" => {
            let f: Vec<&str> = rest.split(' ').collect();
            if let [name, kind, more @ ..] = f.as_slice() {
                st.entries.push(DirEntry {
                    name: b64(name),
                    is_file: *kind != "o",
                    content: (*kind == "f").then(|| b64(more.first().copied().unwrap_or(""))),
                });
            }
        }
        "T" => {
            let f: Vec<&str> = rest.split(' ').collect();
            if f.len() == 4 {
                st.tree.push(TreeEntry {
                    is_dir: f[0] == "d",
                    is_link: f[0] == "l",
                    mode: u32::from_str_radix(f[1], 8).unwrap_or(0),
                    uid: f[2].parse().unwrap_or(0),
                    gid: f[3].parse().unwrap_or(0),
                });
            }
        }
        _ => {}
    }
}

/// `mode`/`owner`/`group` arguments.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attrs {
    pub(crate) mode: Option<FileMode>,
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
}

/// The attribute changes a path needs (numeric targets, only those that differ).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AttrChange {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

impl AttrChange {
    pub(crate) fn is_empty(&self) -> bool {
        self.mode.is_none() && self.uid.is_none() && self.gid.is_none()
    }

    /// Shell applying these changes to the quoted path expression `p`.
    pub(crate) fn script(&self, p: &str, follow: bool) -> String {
        let mut s = String::new();
        let h = if follow { "" } else { "-h " };
        if self.uid.is_some() || self.gid.is_some() {
            let spec = match (self.uid, self.gid) {
                (Some(u), Some(g)) => format!("{u}:{g}"),
                (Some(u), None) => format!("{u}"),
                (None, Some(g)) => format!(":{g}"),
                (None, None) => unreachable!(),
            };
            s.push_str(&format!("chown {h}{spec} -- {p} || exit 1; "));
        }
        if let Some(m) = self.mode {
            s.push_str(&format!("chmod {:o} -- {p} || exit 1; ", m));
        }
        if s.is_empty() {
            s.push_str(": ; ");
        }
        s
    }
}

impl Attrs {
    pub(crate) fn from_args(args: &Args<'_>) -> Result<Attrs, String> {
        let mode = match args.get("mode") {
            None => None,
            Some(v) => Some(FileMode::parse(v)?),
        };
        Ok(Attrs {
            mode,
            owner: args.str("owner")?,
            group: args.str("group")?,
        })
    }

    /// What must change on `st` (whose type decides `X`); a path that does not
    /// exist yet is judged as if it had `base_mode` and no owner.
    pub(crate) fn change(
        &self,
        st: &RemoteStat,
        facts: &Facts,
        base_mode: u32,
    ) -> Result<AttrChange, String> {
        let exists = st.exists();
        let mut ch = AttrChange::default();
        if let Some(m) = &self.mode {
            let cur = if exists { st.mode } else { base_mode };
            let want = m.resolve(cur, st.kind == Kind::Dir);
            if !exists || want != st.mode {
                ch.mode = Some(want);
            }
        }
        if let Some(o) = &self.owner {
            let uid = facts
                .uids
                .get(o)
                .copied()
                .flatten()
                .ok_or_else(|| format!("chown failed: failed to look up user {o}"))?;
            if !exists || uid != st.uid {
                ch.uid = Some(uid);
            }
        }
        if let Some(g) = &self.group {
            let gid = facts
                .gids
                .get(g)
                .copied()
                .flatten()
                .ok_or_else(|| format!("chgrp failed: failed to look up group {g}"))?;
            if !exists || gid != st.gid {
                ch.gid = Some(gid);
            }
        }
        Ok(ch)
    }
}

/// An atomic write of `content` to `dest`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Write<'a> {
    pub(crate) dest: &'a str,
    pub(crate) content: &'a [u8],
    /// Attributes for the new file (mode always set for a new file).
    pub(crate) attrs: AttrChange,
    pub(crate) validate: Option<&'a str>,
    pub(crate) backup: bool,
    /// Create missing parent directories with this mode first.
    pub(crate) mkdir_parent: Option<u32>,
    /// Mode of a newly created file when `attrs` sets none (0666 & ~umask).
    pub(crate) default_mode: u32,
}

/// What an apply step reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub(crate) backup_file: Option<String>,
    /// The destination as it is afterwards.
    pub(crate) stat: RemoteStat,
}

/// Directory part of a path (`.` for a bare name).
pub(crate) fn parent_of(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
        None => ".".to_string(),
    }
}

pub(crate) fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Shell for a backup copy of `"$d"`; prints `BACKUP <b64 name>`.
const BACKUP: &str = "if [ -e \"$d\" ]; then b=\"$d.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$d\" \"$b\" || exit 1; printf 'BACKUP '; printf %s \"$b\" | base64 -w0; echo; fi; ";

/// Write a file atomically; `Err(outcome)` is a module failure to return as is.
pub(crate) fn write_file(ctx: &mut ModuleContext<'_>, w: &Write<'_>) -> Result<Applied, Stop> {
    write_file_from(ctx, w, Fill::Stdin)
}

/// `write_file` with the bytes from `fill` (stdin carries `w.content`).
pub(crate) fn write_file_from(
    ctx: &mut ModuleContext<'_>,
    w: &Write<'_>,
    fill: Fill<'_>,
) -> Result<Applied, Stop> {
    let mut s = write_script(w, fill);
    s.push_str("p=\"$d\"; ");
    s.push_str(&stat_script(false));
    let stdin = match fill {
        Fill::HostFile(_) => None,
        _ => Some(w.content),
    };
    let out = ctx.exec(&s, stdin)?;
    if out.rc == 97 {
        let text = out.stdout_str();
        let mut lines = text.splitn(2, '\n');
        let rc: i64 = lines
            .next()
            .and_then(|l| l.strip_prefix("VALIDATE "))
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(1);
        let stdout = lines.next().unwrap_or("").to_string();
        return Err(Stop::Outcome(
            ModuleOutcome::failed("failed to validate")
                .with("exit_status", rc)
                .with("stdout", stdout)
                .with("stderr", out.stderr_str()),
        ));
    }
    if !out.success() {
        return Err(Stop::Fail(format!(
            "Could not write {}: {}",
            w.dest,
            out.stderr_str().trim()
        )));
    }
    Ok(parse_applied(w.dest, &out.stdout_str()))
}

/// Where a written file's bytes come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fill<'a> {
    /// All of stdin.
    Stdin,
    /// The next that many bytes of stdin (several files on one stdin).
    Take(usize),
    /// A file already on the host (`remote_src`).
    HostFile(&'a str),
}

/// Shell for one atomic write (sets `$d` to the destination).
pub(crate) fn write_script(w: &Write<'_>, fill: Fill<'_>) -> String {
    let dir = parent_of(w.dest);
    let mut s = format!("d={}; dir={}; ", quote(w.dest), quote(&dir));
    if let Some(m) = w.mkdir_parent {
        s.push_str(&format!(
            "[ -d \"$dir\" ] || {{ mkdir -p -m {m:o} -- \"$dir\" || exit 1; }}; "
        ));
    }
    s.push_str("t=$(mktemp \"$dir/.berth_tmp.XXXXXXXX\") || exit 1; ");
    match fill {
        Fill::Stdin => s.push_str("cat > \"$t\" || { rm -f \"$t\"; exit 1; }; "),
        Fill::Take(n) => s.push_str(&format!(
            "head -c {n} > \"$t\" || {{ rm -f \"$t\"; exit 1; }}; "
        )),
        Fill::HostFile(p) => s.push_str(&format!(
            "cat -- {} > \"$t\" || {{ rm -f \"$t\"; exit 1; }}; ",
            quote(p)
        )),
    }
    s.push_str(&format!(
        // The file replaced keeps its mode, owner, ACLs and extended
        // attributes (Ansible's atomic_move copies them with copystat).
        "if [ -e \"$d\" ]; then cp --attributes-only --preserve=mode,ownership,xattr -- \"$d\" \"$t\" 2>/dev/null || {{ chmod --reference=\"$d\" \"$t\"; chown --reference=\"$d\" \"$t\" 2>/dev/null; }}; else chmod {:o} \"$t\"; fi; ",
        w.default_mode
    ));
    s.push_str(&format!(
        "( {} ) || {{ rm -f \"$t\"; exit 1; }}; ",
        w.attrs.script("\"$t\"", true)
    ));
    if let Some(v) = w.validate {
        let cmd = v.replace("%s", "\"$t\"");
        s.push_str(&format!(
            "( {cmd} ) > \"$t.vo\" 2> \"$t.ve\"; rc=$?; if [ $rc -ne 0 ]; then echo \"VALIDATE $rc\"; cat \"$t.vo\"; cat \"$t.ve\" >&2; rm -f \"$t\" \"$t.vo\" \"$t.ve\"; exit 97; fi; rm -f \"$t.vo\" \"$t.ve\"; "
        ));
    }
    if w.backup {
        s.push_str(BACKUP);
    }
    s.push_str("mv -f -- \"$t\" \"$d\" || { rm -f \"$t\"; exit 1; }; ");
    s
}

fn parse_applied(path: &str, text: &str) -> Applied {
    let mut applied = Applied {
        stat: RemoteStat {
            path: path.to_string(),
            ..RemoteStat::default()
        },
        ..Applied::default()
    };
    for line in text.lines() {
        if let Some(b) = line.strip_prefix("BACKUP ") {
            applied.backup_file = Some(String::from_utf8_lossy(&b64(b)).into_owned());
        } else if !line.is_empty() {
            parse_line(&mut applied.stat, line);
        }
    }
    applied
}

/// Apply attribute changes (and optionally a backup) to an existing path; returns its new stat.
pub(crate) fn apply_attrs(
    ctx: &mut ModuleContext<'_>,
    path: &str,
    change: &AttrChange,
    follow: bool,
) -> Result<RemoteStat, Stop> {
    let mut s = format!("p={}; ", quote(path));
    s.push_str(&change.script("\"$p\"", follow));
    s.push_str(&stat_script(follow));
    let out = ctx.exec(&s, None)?;
    if !out.success() {
        return Err(Stop::Fail(format!(
            "Could not set attributes of {path}: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(parse_applied(path, &out.stdout_str()).stat)
}

/// Run a script that changes `path`, then report its stat (in the same round trip).
pub(crate) fn run_then_stat(
    ctx: &mut ModuleContext<'_>,
    script: &str,
    path: &str,
    follow: bool,
) -> Result<(RemoteStat, Option<String>), Stop> {
    let s = format!(
        "d={q}; p={q}; {script}\n{}",
        stat_script(follow),
        q = quote(path)
    );
    let out = ctx.exec(&s, None)?;
    if !out.success() {
        return Err(Stop::Fail(out.stderr_str().trim().to_string()));
    }
    let applied = parse_applied(path, &out.stdout_str());
    Ok((applied.stat, applied.backup_file))
}

/// Ansible's path keys of a result: owner, group, mode, uid, gid, state, size.
pub(crate) fn add_path_info(mut out: ModuleOutcome, st: &RemoteStat) -> ModuleOutcome {
    if !st.exists() {
        return out.with("state", "absent");
    }
    out = out
        .with("uid", st.uid)
        .with("gid", st.gid)
        .with("owner", st.owner.clone())
        .with("group", st.group.clone())
        .with("mode", path_info_mode(st.mode))
        .with("state", st.state())
        .with("size", st.size);
    out
}

/// SHA-1 of bytes, hex (Ansible's `checksum`).
/// MD5 in hex, which Ansible still returns as `md5sum` beside the SHA-1 checksum.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn looks_binary(data: &[u8]) -> bool {
    data.contains(&0) || std::str::from_utf8(data).is_err()
}

/// A `--diff` entry for a content change, or Ansible's reason for skipping it
/// (`dst_binary`, `src_binary`, `dst_larger`, `src_larger`) in the result's `diff`.
pub(crate) fn content_diff(
    out: ModuleOutcome,
    path: &str,
    before: Option<&[u8]>,
    before_size: u64,
    after: &[u8],
    after_header: &str,
) -> ModuleOutcome {
    content_diff_with(
        out,
        &format!("before: {path}"),
        before,
        before_size,
        after,
        after_header,
    )
}

/// `content_diff` with both headers given (lineinfile's `PATH (content)`).
pub(crate) fn content_diff_with(
    mut out: ModuleOutcome,
    before_header: &str,
    before: Option<&[u8]>,
    before_size: u64,
    after: &[u8],
    after_header: &str,
) -> ModuleOutcome {
    let mut skipped = Map::new();
    if before_size as usize > MAX_DIFF_SIZE {
        skipped.insert("dst_larger".into(), Value::from(MAX_DIFF_SIZE));
    } else if after.len() > MAX_DIFF_SIZE {
        skipped.insert("src_larger".into(), Value::from(MAX_DIFF_SIZE));
    } else if before.is_some_and(looks_binary) {
        skipped.insert("dst_binary".into(), Value::from(1));
    } else if looks_binary(after) {
        skipped.insert("src_binary".into(), Value::from(1));
    }
    if !skipped.is_empty() {
        return out.with("diff", Value::Object(skipped));
    }
    out.diffs.push(FileDiff {
        before_header: before_header.to_string(),
        after_header: after_header.to_string(),
        before: before
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        after: String::from_utf8_lossy(after).into_owned(),
    });
    out
}

/// Why a module stopped early: a failure message, a ready failure outcome,
/// or a lost connection.
#[derive(Debug)]
pub(crate) enum Stop {
    Fail(String),
    Outcome(ModuleOutcome),
    Conn(ConnError),
}

impl From<String> for Stop {
    fn from(msg: String) -> Stop {
        Stop::Fail(msg)
    }
}

impl From<&str> for Stop {
    fn from(msg: &str) -> Stop {
        Stop::Fail(msg.to_string())
    }
}

impl From<ConnError> for Stop {
    fn from(e: ConnError) -> Stop {
        Stop::Conn(e)
    }
}

/// Turn a module body's result into the module entry point's.
pub(crate) fn finish(r: Result<ModuleOutcome, Stop>) -> Result<ModuleOutcome, ConnError> {
    match r {
        Ok(out) => Ok(out),
        Err(Stop::Fail(msg)) => Ok(ModuleOutcome::failed(msg)),
        Err(Stop::Outcome(out)) => Ok(out),
        Err(Stop::Conn(e)) => Err(e),
    }
}

/// A whole-file text edit (lineinfile, blockinfile) ready to apply.
pub(crate) struct Edit<'a> {
    /// The path as given (headers, messages).
    pub(crate) path: &'a str,
    /// The path as probed with symlinks followed.
    pub(crate) st: &'a RemoteStat,
    pub(crate) facts: &'a Facts,
    pub(crate) attrs: &'a Attrs,
    pub(crate) original: Option<&'a [u8]>,
    pub(crate) result: Vec<u8>,
    pub(crate) changed: bool,
    pub(crate) msg: String,
    pub(crate) backup: bool,
    pub(crate) validate: Option<&'a str>,
    /// Result key of the backup path (`backup` for lineinfile, `backup_file` for blockinfile).
    pub(crate) backup_key: &'static str,
}

/// Apply an edit the way Ansible's lineinfile/blockinfile do: write the new
/// content (backup, validate, atomic), then the file attributes, with the
/// message growing " and ownership, perms or SE linux context changed".
pub(crate) fn apply_edit(ctx: &mut ModuleContext<'_>, e: Edit<'_>) -> Result<ModuleOutcome, Stop> {
    let exists = e.st.exists();
    let mut out = ModuleOutcome::changed(e.changed);
    if ctx.diff_mode {
        let header = format!("{} (content)", e.path);
        out = content_diff_with(out, &header, e.original, e.st.size, &e.result, &header);
    }
    // A file this edit creates is judged as created: default mode, our ids.
    let created = RemoteStat {
        kind: Kind::File,
        mode: e.facts.default_file_mode(),
        uid: e.facts.euid,
        gid: e.facts.egid,
        nlink: 1,
        ..RemoteStat::default()
    };
    let change = e
        .attrs
        .change(if exists { e.st } else { &created }, e.facts, 0)?;
    let mut msg = e.msg;
    let mut backup_file = None;
    if e.changed && !ctx.check_mode {
        let dest = match (&e.st.realpath, exists) {
            (Some(real), true) => real.clone(),
            _ => e.path.to_string(),
        };
        let w = Write {
            dest: &dest,
            content: &e.result,
            attrs: change.clone(),
            validate: e.validate,
            backup: e.backup,
            mkdir_parent: (!exists).then(|| e.facts.default_dir_mode()),
            default_mode: e.facts.default_file_mode(),
        };
        let applied = write_file(ctx, &w).map_err(|stop| match stop {
            Stop::Outcome(fail)
                if fail.result.get("msg") == Some(&Value::from("failed to validate")) =>
            {
                let rc = fail
                    .result
                    .get("exit_status")
                    .cloned()
                    .unwrap_or(Value::Null);
                let err = fail
                    .result
                    .get("stderr")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                Stop::Fail(format!("failed to validate: rc:{rc} error:{err}"))
            }
            other => other,
        })?;
        backup_file = applied.backup_file;
    }
    if ctx.check_mode && !exists {
        return Ok(out.with("msg", msg).with(e.backup_key, ""));
    }
    if !change.is_empty() {
        if !e.changed && !ctx.check_mode {
            let target = e.st.realpath.clone().unwrap_or_else(|| e.path.to_string());
            apply_attrs(ctx, &target, &change, true)?;
        }
        if e.changed {
            msg.push_str(" and ");
        }
        msg.push_str("ownership, perms or SE linux context changed");
        out.result.insert("changed".into(), Value::Bool(true));
    }
    match (e.backup_key, backup_file) {
        ("backup", b) => out = out.with("backup", b.unwrap_or_default()),
        (key, Some(b)) => out = out.with(key, b),
        _ => {}
    }
    Ok(out.with("msg", msg))
}

/// A `type='path'` argument as the module sees it: `$VAR`/`${VAR}` and a
/// leading `~`/`~user` expanded on the host (Python's `expandvars` then
/// `expanduser`). Costs a round trip only when there is something to expand.
pub(crate) fn expand_on_host(ctx: &mut ModuleContext<'_>, path: &str) -> Result<String, Stop> {
    if !path.contains('$') && !path.starts_with('~') {
        return Ok(path.to_string());
    }
    let script = format!(
        "{}printf %s \"$p\" | base64 -w0",
        crate::modules::find::expand_script(path)
    );
    let out = ctx.exec(&script, None)?;
    if !out.success() {
        return Err(Stop::Fail(format!(
            "could not expand {path}: {}",
            out.stderr_str().trim()
        )));
    }
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(out.stdout_str().trim())
        .map_err(|e| format!("could not expand {path}: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Remote `type='path'` parameters of the modules that do not expand them
/// themselves: `~` and `$VAR` in them are the host's (as the task's user).
const REMOTE_PATHS: &[(&str, &[&str])] = &[
    ("copy", &["dest"]),
    ("template", &["dest"]),
    ("file", &["path", "dest", "name", "src"]),
    ("lineinfile", &["path", "dest", "destfile", "name"]),
    ("blockinfile", &["path", "dest", "destfile", "name"]),
    ("stat", &["path", "dest", "name"]),
    ("slurp", &["src", "path"]),
    ("fetch", &["src"]),
    ("unarchive", &["dest"]),
    ("get_url", &["dest"]),
    ("uri", &["dest"]),
    ("known_hosts", &["path"]),
    ("replace", &["path", "dest", "destfile", "name"]),
    ("assemble", &["dest"]),
    ("tempfile", &["path"]),
    ("wait_for", &["path"]),
    ("user", &["home", "shell"]),
];

/// Modules whose `src` is a host path when `remote_src` is on (the default given).
const REMOTE_SRC: &[(&str, bool)] = &[("copy", false), ("unarchive", false)];

/// The module's arguments with its remote paths expanded on the host.
pub(crate) fn expand_remote_paths(
    ctx: &mut ModuleContext<'_>,
    module: &str,
    args: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, Stop> {
    let Some((_, keys)) = REMOTE_PATHS.iter().find(|(m, _)| *m == module) else {
        return Ok(None);
    };
    let remote_src = REMOTE_SRC
        .iter()
        .find(|(m, _)| *m == module)
        .is_some_and(|(_, default)| match args.get("remote_src") {
            None => *default,
            Some(v) => super::args::to_bool(v).unwrap_or(false),
        });
    let mut out: Option<Map<String, Value>> = None;
    for key in keys.iter().copied().chain(remote_src.then_some("src")) {
        let Some(Value::String(p)) = args.get(key) else {
            continue;
        };
        if !p.starts_with('~') && !p.contains('$') {
            continue;
        }
        let expanded = expand_on_host(ctx, p)?;
        out.get_or_insert_with(|| args.clone())
            .insert(key.to_string(), Value::String(expanded));
    }
    Ok(out)
}

#[cfg(test)]
mod expand_tests {
    use super::*;
    use crate::modules::sys_test_support::SysHarness;
    use serde_json::json;

    /// Reports the arguments as the module would receive them.
    fn echo_copy(
        ctx: &mut ModuleContext<'_>,
        args: &Map<String, Value>,
    ) -> Result<ModuleOutcome, crate::connection::ConnError> {
        let got = match expand_remote_paths(ctx, "copy", args) {
            Ok(expanded) => expanded.unwrap_or_else(|| args.clone()),
            Err(_) => return Ok(ModuleOutcome::failed("expansion failed")),
        };
        Ok(ModuleOutcome::ok().with("args", Value::Object(got)))
    }

    #[test]
    fn copy_src_is_a_host_path_only_with_remote_src() {
        let mut h = SysHarness::new();
        h.extra_env.push(("BERTH_T".into(), "/srv/x".into()));
        let out = h.run(
            echo_copy,
            json!({"src": "$BERTH_T/a", "dest": "$BERTH_T/b", "remote_src": true}),
        );
        assert_eq!(out.result["args"]["src"], json!("/srv/x/a"));
        assert_eq!(out.result["args"]["dest"], json!("/srv/x/b"));
        // A controller source is the controller's business.
        let out = h.run(
            echo_copy,
            json!({"src": "$BERTH_T/a", "dest": "$BERTH_T/b"}),
        );
        assert_eq!(out.result["args"]["src"], json!("$BERTH_T/a"));
        assert_eq!(out.result["args"]["dest"], json!("/srv/x/b"));
    }
}
