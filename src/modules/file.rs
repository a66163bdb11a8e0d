//! `file`: make a path a file, directory, symlink, hard link, absent, or
//! touched, with its mode/owner/group, in one read and at most one write.

use serde_json::{json, Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::file_mode::format_mode;
use crate::modules::remote_file::{
    self, add_path_info, finish, parent_of, AttrChange, Attrs, Facts, Kind, Probe, RemoteStat, Stop,
};
use crate::modules::{quote, FileDiff, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "path",
    "dest",
    "name",
    "state",
    "src",
    "mode",
    "owner",
    "group",
    "recurse",
    "force",
    "follow",
    "unsafe_writes",
    "modification_time",
    "modification_time_format",
    "access_time",
    "access_time_format",
];

/// A wanted modification or access time (`modification_time`, `access_time`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stamp {
    Preserve,
    Now,
    /// Seconds since the epoch, the given local time as the host reads it.
    At(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Times {
    mtime: Stamp,
    atime: Stamp,
}

/// Parse a time with Python's `strptime` format into `YYYY-MM-DD HH:MM:SS`
/// (a local time; the host turns it into seconds, as Ansible's mktime there).
fn strptime(value: &str, format: &str) -> Result<String, String> {
    let fail = || {
        format!("Error while obtaining timestamp for time {value} using format {format}: time data '{value}' does not match format '{format}'")
    };
    let (v, f) = match (
        std::ffi::CString::new(value),
        std::ffi::CString::new(format),
    ) {
        (Ok(v), Ok(f)) => (v, f),
        _ => return Err(fail()),
    };
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_mday = 1;
    // SAFETY: both strings are NUL-terminated and live across the call; tm is ours.
    let end = unsafe { libc::strptime(v.as_ptr(), f.as_ptr(), &mut tm) };
    // SAFETY: a non-null result points into `v`'s buffer.
    if end.is_null() || unsafe { *end } != 0 {
        return Err(fail());
    }
    let (year, month) = (tm.tm_year + 1900, tm.tm_mon + 1);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if tm.tm_mday > days {
        return Err(format!("Error while obtaining timestamp for time {value} using format {format}: day is out of range for month"));
    }
    Ok(format!(
        "{year:04}-{month:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    ))
}

/// The wanted times: `preserve`, `now` or a time in its format, resolved to
/// seconds on the host (one round trip, only when a time is given).
fn times(ctx: &mut ModuleContext<'_>, a: &Args<'_>, touch: bool) -> Result<Option<Times>, Stop> {
    let default = if touch { "now" } else { "preserve" };
    let mut local = Vec::new();
    let mut spec = |key: &str| -> Result<Option<String>, Stop> {
        let value = a.str(key)?;
        let format = a
            .str(&format!("{key}_format"))?
            .unwrap_or_else(|| "%Y%m%d%H%M.%S".into());
        Ok(match value.as_deref().unwrap_or(default) {
            "preserve" => None,
            "now" => Some("now".into()),
            v => {
                let t = strptime(v, &format)?;
                local.push(t.clone());
                Some(t)
            }
        })
    };
    let m = spec("modification_time")?;
    let at = spec("access_time")?;
    if m.is_none() && at.is_none() && !touch {
        return Ok(None);
    }
    let mut epochs = std::collections::HashMap::new();
    if !local.is_empty() {
        let script: String = local
            .iter()
            .map(|t| format!("date -d {} +%s || exit 1; ", quote(t)))
            .collect();
        let out = ctx.exec(&script, None)?;
        if !out.success() {
            return Err(format!(
                "the host cannot read the time {}: {}",
                local.join(", "),
                out.stderr_str().trim()
            )
            .into());
        }
        for (t, e) in local.iter().zip(out.stdout_str().lines()) {
            epochs.insert(
                t.clone(),
                e.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("the host read the time {t} as {e:?}"))?,
            );
        }
    }
    let stamp = |v: Option<String>| match v.as_deref() {
        None => Stamp::Preserve,
        Some("now") => Stamp::Now,
        Some(t) => Stamp::At(epochs[t]),
    };
    Ok(Some(Times {
        mtime: stamp(m),
        atime: stamp(at),
    }))
}

const STATES: &[&str] = &["absent", "directory", "file", "hard", "link", "touch"];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let warnings = check_mode_id_warnings(ctx, args)?;
    let mut out = finish(plan(ctx, &Args::new("file", args)))?;
    if !warnings.is_empty() {
        out.result.insert(
            "warnings".into(),
            Value::Array(warnings.into_iter().map(Value::String).collect()),
        );
    }
    Ok(out)
}

/// In check mode, an owner or group that does not exist (yet) is a warning,
/// as Ansible's check_owner_exists/check_group_exists say: an earlier task
/// of the play may be about to create it.
fn check_mode_id_warnings(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<Vec<String>, ConnError> {
    let text = |k: &str| {
        args.get(k)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .filter(|s| !s.is_empty())
    };
    let (owner, group) = (text("owner"), text("group"));
    if !ctx.check_mode
        || (owner.is_none() && group.is_none())
        || text("state").as_deref() == Some("absent")
    {
        return Ok(Vec::new());
    }
    let mut script = String::new();
    if let Some(o) = &owner {
        script.push_str(&format!(
            "getent passwd -- {} >/dev/null && echo u1 || echo u0; ",
            quote(o)
        ));
    }
    if let Some(g) = &group {
        script.push_str(&format!(
            "getent group -- {} >/dev/null && echo g1 || echo g0; ",
            quote(g)
        ));
    }
    let out = ctx.exec(&script, None)?;
    let answer = out.stdout_str();
    let numeric = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mut warnings = Vec::new();
    if let Some(o) = owner.filter(|_| answer.contains("u0")) {
        warnings.push(if numeric(&o) {
            format!(
                "failed to look up user with uid {o}. Create user up to this point in real play"
            )
        } else {
            format!("failed to look up user {o}. Create user up to this point in real play")
        });
    }
    if let Some(g) = group.filter(|_| answer.contains("g0")) {
        warnings.push(if numeric(&g) {
            format!(
                "failed to look up group with gid {g}. Create group up to this point in real play"
            )
        } else {
            format!("failed to look up group {g}. Create group up to this point in real play")
        });
    }
    Ok(warnings)
}

/// Ansible's name for what is at a path.
fn prev_state(st: &RemoteStat) -> &'static str {
    match st.kind {
        Kind::Missing => "absent",
        Kind::Link => "link",
        Kind::Dir => "directory",
        _ if st.nlink > 1 => "hard",
        _ => "file",
    }
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let path = match (a.str("path")?, a.str("dest")?, a.str("name")?) {
        (Some(p), _, _) | (None, Some(p), _) | (None, None, Some(p)) => p,
        _ => return Err("missing required arguments: path".into()),
    };
    let explicit_state = a.choice("state", STATES, None)?;
    let attrs = Attrs::from_args(a)?;
    let src = a.str("src")?;
    let recurse = a.bool("recurse", false)?;
    let force = a.bool("force", false)?;
    let follow = a.bool("follow", true)?;
    let src_abs = src.as_ref().map(|s| {
        if s.starts_with('/') {
            s.clone()
        } else {
            format!("{}/{}", parent_of(&path), s)
        }
    });
    let mut probes = vec![Probe::new(&path), Probe::new(&path).follow(true)];
    // A directory is only replaced by a link when it is empty.
    probes[0].tree = src.is_some();
    probes[1].tree = recurse;
    probes[1].tree_follow = recurse && follow;
    if let Some(s) = &src_abs {
        probes.push(Probe::new(s).follow(true));
    }
    // Ansible resolves a relative link `src` against the path itself when
    // the path is a directory (not a link), else against its parent.
    let src_in_dir = src
        .as_ref()
        .filter(|s| !s.starts_with('/'))
        .map(|s| format!("{}/{}", path.trim_end_matches('/'), s));
    if let Some(s) = &src_in_dir {
        probes.push(Probe::new(s).follow(true));
    }
    // A hard link asked for at a directory goes inside it (Ansible): probe
    // that path too, so the decision still takes one round trip.
    let inner = src
        .as_ref()
        .filter(|_| explicit_state.as_deref() == Some("hard"))
        .map(|s| {
            format!(
                "{}/{}",
                path.trim_end_matches('/'),
                remote_file::basename(s)
            )
        });
    // A hard link's relative `src` is relative to the working directory
    // (the remote user's home), as os.link sees it.
    let hard_src_at = match &src {
        Some(s) if !s.starts_with('/') => {
            probes.push(Probe::new(s).follow(true));
            probes.len() - 1
        }
        _ => 2,
    };
    let inner_at = probes.len();
    if let Some(p) = &inner {
        probes.push(Probe::new(p));
        probes.push(Probe::new(p).follow(true));
    }
    let facts = remote_file::probe(ctx, &probes, attrs.owner.as_deref(), attrs.group.as_deref())?;
    let st = facts.stats[0].clone();
    let prev = prev_state(&st);
    let state = match explicit_state {
        Some(s) => s,
        None if prev != "absent" => prev.to_string(),
        None if recurse => "directory".to_string(),
        None => "file".to_string(),
    };
    // As ansible-core 2.19, checked on the state in force (given, or the
    // path's own): `src` needs link or hard, `recurse` directory.
    if src.is_some() && !matches!(state.as_str(), "link" | "hard") {
        return Err("src option requires state to be 'link' or 'hard'".into());
    }
    if recurse && state != "directory" {
        return Err("recurse option requires state to be 'directory'".into());
    }
    let times = times(ctx, a, state == "touch")?;
    if times.is_some() && !matches!(state.as_str(), "file" | "touch") {
        return Err(format!("berth sets modification_time and access_time with state file or touch; `{state}` would ignore them").into());
    }
    let f = FileOp {
        path: &path,
        st: &st,
        followed: &facts.stats[1],
        facts: &facts,
        attrs: &attrs,
        follow,
        force,
        prev,
        times,
    };
    let out = match state.as_str() {
        "absent" => f.absent(ctx)?,
        "file" => f.file(ctx)?,
        "directory" => f.directory(ctx, recurse)?,
        "touch" => f.touch(ctx)?,
        // An existing link without `src`: Ansible keeps it and applies the
        // attributes (to its target with `follow`).
        "link" if src.is_none() && prev == "link" => {
            if follow {
                f.attributes(ctx, &facts.stats[1], "link")?
            } else {
                // The link itself: owner/group only (a Linux link has no mode of its own).
                let link_attrs = Attrs {
                    mode: None,
                    owner: attrs.owner.clone(),
                    group: attrs.group.clone(),
                };
                FileOp {
                    attrs: &link_attrs,
                    ..f
                }
                .attributes(ctx, &st, "link")?
            }
        }
        "link" => {
            let src = src.ok_or("src is required for creating this symlink")?;
            // Existence is checked where Ansible looks; attributes go to what
            // the new link will point at (relative to its parent).
            let checked = if st.kind == Kind::Dir && src_in_dir.is_some() {
                &facts.stats[3]
            } else {
                &facts.stats[2]
            };
            f.link(ctx, &src, checked, &facts.stats[2])?
        }
        // An existing hard link without `src`: its attributes only (Ansible's ensure_hardlink).
        "hard" if src.is_none() && prev == "hard" => f.attributes(ctx, &st, "hard")?,
        _ => {
            let src = src.ok_or("src is required for creating new hardlinks")?;
            if let (Some(inner), Kind::Dir) = (&inner, facts.stats[1].kind) {
                let st = &facts.stats[inner_at];
                let prev = prev_state(st);
                let f = FileOp {
                    path: inner,
                    st,
                    followed: &facts.stats[inner_at + 1],
                    prev,
                    ..f
                };
                return f.hard(ctx, &src, &facts.stats[hard_src_at]);
            }
            f.hard(ctx, &src, &facts.stats[hard_src_at])?
        }
    };
    let mut out = out;
    if ctx.diff_mode && !out.result.contains_key("diff") {
        // Nothing differed: Ansible's diff names the path only.
        out.result.insert(
            "diff".into(),
            json!({"before": {"path": path}, "after": {"path": path}}),
        );
    }
    Ok(out)
}

struct FileOp<'a> {
    path: &'a str,
    /// The path itself (not followed).
    st: &'a RemoteStat,
    /// The path with symlinks followed.
    followed: &'a RemoteStat,
    facts: &'a Facts,
    attrs: &'a Attrs,
    follow: bool,
    force: bool,
    prev: &'static str,
    /// `modification_time`/`access_time`, when given (touch: now unless preserved).
    times: Option<Times>,
}

impl FileOp<'_> {
    fn path_result(&self, changed: bool, st: &RemoteStat) -> ModuleOutcome {
        add_path_info(ModuleOutcome::changed(changed), st).with("path", self.path)
    }

    /// Ansible's state diff (`before`/`after` dicts): in the result under
    /// `diff` in diff mode (what `register` sees), and as text to show.
    fn diff(
        &self,
        ctx: &ModuleContext<'_>,
        out: ModuleOutcome,
        after_state: &str,
        change: &AttrChange,
    ) -> ModuleOutcome {
        self.diff_full(ctx, out, after_state, change, None, &[])
    }

    fn diff_full(
        &self,
        ctx: &ModuleContext<'_>,
        mut out: ModuleOutcome,
        after_state: &str,
        change: &AttrChange,
        src: Option<(&str, &str)>,
        extra: &[(&str, Value, Value)],
    ) -> ModuleOutcome {
        if !ctx.diff_mode {
            return out;
        }
        let mut before = Map::new();
        let mut after = Map::new();
        before.insert("path".into(), json!(self.path));
        after.insert("path".into(), json!(self.path));
        if self.prev != after_state {
            before.insert("state".into(), json!(self.prev));
            after.insert("state".into(), json!(after_state));
        }
        if let Some(m) = change.mode {
            if self.followed.exists() {
                before.insert("mode".into(), json!(format_mode(self.followed.mode)));
            }
            after.insert("mode".into(), json!(format_mode(m)));
        }
        if let Some(u) = change.uid {
            if self.followed.exists() {
                before.insert("owner".into(), json!(self.followed.uid));
            }
            after.insert("owner".into(), json!(u));
        }
        if let Some(g) = change.gid {
            if self.followed.exists() {
                before.insert("group".into(), json!(self.followed.gid));
            }
            after.insert("group".into(), json!(g));
        }
        if let Some((old, new)) = src {
            before.insert("src".into(), json!(old));
            after.insert("src".into(), json!(new));
        }
        for (k, b, a) in extra {
            before.insert(k.to_string(), b.clone());
            after.insert(k.to_string(), a.clone());
        }
        out.result.insert(
            "diff".into(),
            json!({"before": before.clone(), "after": after.clone()}),
        );
        if !out.is_changed() {
            return out;
        }
        let text = |m: Map<String, Value>| {
            serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_default() + "\n"
        };
        out.diffs.push(FileDiff {
            before_header: format!("before: {}", self.path),
            after_header: format!("after: {}", self.path),
            before: text(before),
            after: text(after),
        });
        out
    }

    /// Run `script` (unless in check mode) and report the path afterwards.
    fn apply(
        &self,
        ctx: &mut ModuleContext<'_>,
        script: &str,
        follow: bool,
        projected: RemoteStat,
    ) -> Result<RemoteStat, Stop> {
        if ctx.check_mode {
            return Ok(projected);
        }
        remote_file::run_then_stat(ctx, script, self.path, follow)
            .map(|(st, _)| st)
            .map_err(|e| match e {
                Stop::Fail(msg) => Stop::Fail(format!("Error while changing {}: {msg}", self.path)),
                other => other,
            })
    }

    fn absent(&self, ctx: &mut ModuleContext<'_>) -> Result<ModuleOutcome, Stop> {
        if !self.st.exists() {
            return Ok(ModuleOutcome::ok()
                .with("path", self.path)
                .with("state", "absent"));
        }
        // With --diff, a directory's diff lists what goes with it (Ansible's path_content).
        let content = if ctx.diff_mode && self.prev == "directory" {
            let out = ctx.exec(
                &format!(
                    "find {} -mindepth 1 \\( -type d -printf 'D %p\\n' \\) -o -printf 'F %p\\n'",
                    quote(self.path)
                ),
                None,
            )?;
            let (mut dirs, mut files) = (Vec::new(), Vec::new());
            for line in out.stdout_str().lines() {
                match line.split_at_checked(2) {
                    Some(("D ", p)) => dirs.push(Value::String(p.to_string())),
                    Some(("F ", p)) => files.push(Value::String(p.to_string())),
                    _ => {}
                }
            }
            Some(json!({"directories": dirs, "files": files}))
        } else {
            None
        };
        if !ctx.check_mode {
            let out = ctx.exec(&format!("rm -rf -- {}", quote(self.path)), None)?;
            if !out.success() {
                return Err(format!("rmtree failed: {}", out.stderr_str().trim()).into());
            }
        }
        let out = ModuleOutcome::changed(true)
            .with("path", self.path)
            .with("state", "absent");
        let mut out = self.diff(ctx, out, "absent", &AttrChange::default());
        if let (Some(content), Some(Value::Object(diff))) = (content, out.result.get_mut("diff")) {
            if let Some(Value::Object(before)) = diff.get_mut("before") {
                before.insert("path_content".into(), content);
            }
        }
        Ok(out)
    }

    fn file(&self, ctx: &mut ModuleContext<'_>) -> Result<ModuleOutcome, Stop> {
        let target = if self.follow && self.st.kind == Kind::Link {
            self.followed
        } else {
            self.st
        };
        let state = prev_state(target);
        if state != "file" && state != "hard" {
            let fail =
                ModuleOutcome::failed(format!("file ({}) is {state}, cannot continue", self.path))
                    .with("path", self.path)
                    .with("state", state);
            return Err(Stop::Outcome(fail));
        }
        if self.follow && self.st.kind == Kind::Link {
            // Ansible works on (and reports) the link's real path.
            if let Some(real) = &self.st.realpath {
                let f = FileOp {
                    path: real,
                    st: self.followed,
                    ..*self
                };
                return f.attributes(ctx, target, "file");
            }
        }
        self.attributes(ctx, target, "file")
    }

    /// What the wanted times change on an existing path, as Ansible's
    /// update_timestamp_for_file decides: `now` always changes; a given time
    /// changes only when it differs. Returns the `touch` script and the diff's
    /// before/after entries.
    fn stamps(
        &self,
        target: &RemoteStat,
        follow: bool,
    ) -> Option<(String, Vec<(&'static str, Value, Value)>)> {
        let t = self.times?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let want = |s: Stamp, prev: f64| match s {
            Stamp::Preserve => prev,
            Stamp::Now => now,
            Stamp::At(e) => e as f64,
        };
        let unchanged = |s: Stamp, prev: f64| {
            matches!(s, Stamp::Preserve) || matches!(s, Stamp::At(e) if e as f64 == prev)
        };
        if unchanged(t.mtime, target.mtime) && unchanged(t.atime, target.atime) {
            return None;
        }
        let h = if follow { "" } else { "-h " };
        let mut script = String::new();
        // Both times to now in one call: a user who may write the file
        // (not its owner) may only set both to now (utimensat's rule).
        let both_now = matches!((t.mtime, t.atime), (Stamp::Now, Stamp::Now));
        if both_now {
            script.push_str(&format!("touch -c {h}-- \"$p\" || exit 1; "));
        }
        for (flag, s) in [("-m", t.mtime), ("-a", t.atime)]
            .into_iter()
            .filter(|_| !both_now)
        {
            match s {
                Stamp::Preserve => {}
                Stamp::Now => script.push_str(&format!("touch -c {h}{flag} -- \"$p\" || exit 1; ")),
                Stamp::At(e) => {
                    script.push_str(&format!("touch -c {h}{flag} -d @{e} -- \"$p\" || exit 1; "))
                }
            }
        }
        // The diff names only the times that move.
        let mut diff = Vec::new();
        for (k, s, prev) in [
            ("mtime", t.mtime, target.mtime),
            ("atime", t.atime, target.atime),
        ] {
            if !unchanged(s, prev) {
                diff.push((k, json!(prev), json!(want(s, prev))));
            }
        }
        Some((script, diff))
    }

    /// Apply mode/owner/group (and wanted times) to an existing path.
    fn attributes(
        &self,
        ctx: &mut ModuleContext<'_>,
        target: &RemoteStat,
        state: &str,
    ) -> Result<ModuleOutcome, Stop> {
        let change = self.attrs.change(target, self.facts, 0)?;
        let follow = self.follow || target.kind != Kind::Link;
        let stamps = self.stamps(target, follow);
        if change.is_empty() && stamps.is_none() {
            return Ok(self.path_result(false, target));
        }
        let projected = project(target, &change);
        let mut script = change.script("\"$p\"", follow);
        let mut extra = Vec::new();
        if let Some((s, d)) = stamps {
            script.push_str(&s);
            extra = d;
        }
        let st = self.apply(ctx, &script, follow, projected)?;
        let out = self.path_result(true, &st);
        Ok(self.diff_full(ctx, out, state, &change, None, &extra))
    }

    fn directory(&self, ctx: &mut ModuleContext<'_>, recurse: bool) -> Result<ModuleOutcome, Stop> {
        let target = if self.follow && self.st.kind == Kind::Link {
            self.followed
        } else {
            self.st
        };
        match target.kind {
            Kind::Missing => {
                // Create each missing component, giving each the attributes (like Ansible).
                let mut comps = Vec::new();
                let mut cur = self.path.trim_end_matches('/').to_string();
                while !cur.is_empty() && cur != "/" && cur != "." {
                    comps.push(cur.clone());
                    cur = parent_of(&cur);
                }
                comps.reverse();
                let mut change = self.attrs.change(
                    &RemoteStat::default(),
                    self.facts,
                    self.facts.default_dir_mode(),
                )?;
                if let Some(mode) = &self.attrs.mode {
                    // `X` counts directories as executable.
                    change.mode = Some(mode.resolve(self.facts.default_dir_mode(), true));
                }
                let mut script = String::from("for c in");
                for c in &comps {
                    script.push(' ');
                    script.push_str(&quote(c));
                }
                script.push_str(&format!(
                    // Another process may create the same parent at the same moment
                    // (hosts sharing a filesystem): losing that race is not an error.
                    "; do if [ ! -d \"$c\" ]; then if mkdir -- \"$c\" 2>/dev/null; then :; {} elif [ ! -d \"$c\" ]; then mkdir -- \"$c\"; exit 1; fi; fi; done; ",
                    change.script("\"$c\"", true)
                ));
                let projected = RemoteStat {
                    path: self.path.to_string(),
                    kind: Kind::Dir,
                    mode: change.mode.unwrap_or(self.facts.default_dir_mode()),
                    nlink: 2,
                    ..RemoteStat::default()
                };
                let st = self.apply(ctx, &script, true, projected)?;
                let out = self.path_result(true, &st);
                Ok(self.diff(ctx, out, "directory", &change))
            }
            Kind::Dir => {
                let change = self.attrs.change(target, self.facts, 0)?;
                let tree_changes = recurse && self.tree_differs();
                if change.is_empty() && !tree_changes {
                    return Ok(self.path_result(false, target));
                }
                let mut script = change.script("\"$p\"", true);
                if tree_changes {
                    script.push_str(&self.recurse_script());
                }
                let st = self.apply(ctx, &script, true, project(target, &change))?;
                let out = self.path_result(true, &st);
                Ok(self.diff(ctx, out, "directory", &change))
            }
            _ => Err(Stop::Outcome(
                ModuleOutcome::failed(format!(
                    "{} already exists as a {}",
                    self.path,
                    prev_state(target)
                ))
                .with("path", self.path),
            )),
        }
    }

    fn tree_differs(&self) -> bool {
        self.followed.tree.iter().filter(|e| !e.is_link).any(|e| {
            let st = RemoteStat {
                kind: if e.is_dir { Kind::Dir } else { Kind::File },
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                ..RemoteStat::default()
            };
            self.attrs
                .change(&st, self.facts, 0)
                .map(|c| !c.is_empty())
                .unwrap_or(true)
        })
    }

    fn recurse_script(&self) -> String {
        let mut s = String::new();
        let owner = self
            .attrs
            .owner
            .as_ref()
            .and_then(|o| self.facts.uids.get(o).copied().flatten());
        let group = self
            .attrs
            .group
            .as_ref()
            .and_then(|g| self.facts.gids.get(g).copied().flatten());
        let spec = match (owner, group) {
            (Some(u), Some(g)) => Some(format!("{u}:{g}")),
            (Some(u), None) => Some(u.to_string()),
            (None, Some(g)) => Some(format!(":{g}")),
            (None, None) => None,
        };
        // With `follow`, what the links inside point at (and the trees of
        // linked folders) change too, as Ansible's recursive_set_attributes.
        // Dangling links are passed over (their targets do not exist).
        if let Some(spec) = spec {
            if self.follow {
                s.push_str(&format!(
                    "find -L \"$p\" ! -type l -exec chown {spec} -- {{}} + || exit 1; "
                ));
            } else {
                s.push_str(&format!("chown -R -h {spec} -- \"$p\" || exit 1; "));
            }
        }
        if let Some(m) = &self.attrs.mode {
            let arg = quote(&m.chmod_arg());
            if self.follow {
                // chmod -R never follows links: walk with find -L instead.
                s.push_str(&format!(
                    "find -L \"$p\" ! -type l -exec chmod {arg} -- {{}} + || exit 1; "
                ));
            } else {
                s.push_str(&format!("chmod -R {arg} -- \"$p\" || exit 1; "));
            }
        }
        s
    }

    fn touch(&self, ctx: &mut ModuleContext<'_>) -> Result<ModuleOutcome, Stop> {
        let target = if self.follow && self.st.kind == Kind::Link {
            self.followed
        } else {
            self.st
        };
        let h = if self.follow { "" } else { "-h " };
        let (change, projected) = if target.exists() {
            let ch = self.attrs.change(target, self.facts, 0)?;
            (ch.clone(), project(target, &ch))
        } else {
            let mut ch = self
                .attrs
                .change(target, self.facts, self.facts.default_file_mode())?;
            let mode = ch.mode.unwrap_or(self.facts.default_file_mode());
            ch.mode = Some(mode);
            (
                ch,
                RemoteStat {
                    path: self.path.to_string(),
                    kind: Kind::File,
                    mode,
                    nlink: 1,
                    ..RemoteStat::default()
                },
            )
        };
        let follow = self.follow || target.kind != Kind::Link;
        // An existing path changes only by its attributes and wanted times
        // (`preserve` for both makes touch idempotent); a new one is created.
        let (script, extra) = if target.exists() {
            let stamps = self.stamps(target, follow);
            if change.is_empty() && stamps.is_none() {
                return Ok(add_path_info(ModuleOutcome::ok(), target).with("dest", self.path));
            }
            let (s, d) = stamps.unwrap_or_default();
            (format!("{}{s}", change.script("\"$p\"", follow)), d)
        } else {
            // A new file whose owner/group/mode cannot be set is removed
            // again: the failure leaves nothing behind (as Ansible's touch).
            let attrs = change.script("\"$p\"", follow);
            let attrs = if attrs.is_empty() {
                attrs
            } else {
                format!("( {attrs}) || {{ rm -f -- \"$p\"; exit 1; }}; ")
            };
            let mut s = format!("touch {h}-- \"$p\" || exit 1; {attrs}");
            for (flag, st) in self
                .times
                .map(|t| [("-m", t.mtime), ("-a", t.atime)])
                .into_iter()
                .flatten()
            {
                if let Stamp::At(e) = st {
                    s.push_str(&format!("touch -c {h}{flag} -d @{e} -- \"$p\" || exit 1; "));
                }
            }
            (s, Vec::new())
        };
        let st = self.apply(ctx, &script, follow, projected)?;
        let out = add_path_info(ModuleOutcome::changed(true), &st).with("dest", self.path);
        Ok(self.diff_full(ctx, out, "touch", &change, None, &extra))
    }

    fn link(
        &self,
        ctx: &mut ModuleContext<'_>,
        src: &str,
        checked: &RemoteStat,
        src_st: &RemoteStat,
    ) -> Result<ModuleOutcome, Stop> {
        if !checked.exists() && !self.force {
            return Err(format!(
                "src file does not exist, use 'force=yes' if you really want to create the link: {}",
                checked.path
            )
            .into());
        }
        let mut pre = String::new();
        let changed = match self.prev {
            "absent" => true,
            "link" => self.st.link_target.as_deref() != Some(src),
            "directory" => {
                if !self.force {
                    return Err(format!(
                        "refusing to convert from directory to symlink for {}",
                        self.path
                    )
                    .into());
                }
                if !self.st.tree.is_empty() {
                    return Err(format!(
                        "the directory {} is not empty, refusing to convert it",
                        self.path
                    )
                    .into());
                }
                pre = "rmdir -- \"$p\" || exit 1; ".into();
                true
            }
            other => {
                if !self.force {
                    return Err(format!(
                        "refusing to convert from {other} to symlink for {}",
                        self.path
                    )
                    .into());
                }
                true
            }
        };
        // With `follow` (the default) mode/owner/group go to the link's target,
        // like Ansible; without it owner/group go to the link itself (Linux
        // links have no mode of their own).
        let (change, on_target) = if self.follow {
            if src_st.exists() {
                (self.attrs.change(src_st, self.facts, 0)?, true)
            } else {
                (AttrChange::default(), true)
            }
        } else {
            let link_attrs = Attrs {
                mode: None,
                owner: self.attrs.owner.clone(),
                group: self.attrs.group.clone(),
            };
            let new_link = RemoteStat {
                kind: Kind::Link,
                uid: self.facts.euid,
                gid: self.facts.egid,
                ..RemoteStat::default()
            };
            (
                link_attrs.change(if changed { &new_link } else { self.st }, self.facts, 0)?,
                false,
            )
        };
        if !changed && change.is_empty() {
            return Ok(add_path_info(ModuleOutcome::ok(), self.st)
                .with("dest", self.path)
                .with("src", src));
        }
        let mut script = pre;
        if changed {
            script.push_str(&format!(
                "t=\"$p.berth_tmp.$$\"; ln -s -- {} \"$t\" || exit 1; mv -Tf -- \"$t\" \"$p\" || {{ rm -f \"$t\"; exit 1; }}; ",
                quote(src)
            ));
        }
        script.push_str(&change.script("\"$p\"", on_target));
        let mut projected = if changed {
            RemoteStat {
                path: self.path.to_string(),
                kind: Kind::Link,
                mode: 0o777,
                nlink: 1,
                uid: self.facts.euid,
                gid: self.facts.egid,
                size: src.len() as u64,
                link_target: Some(src.to_string()),
                ..RemoteStat::default()
            }
        } else {
            self.st.clone()
        };
        if !on_target {
            projected = project(&projected, &change);
        }
        let st = self.apply(ctx, &script, false, projected)?;
        let out = add_path_info(ModuleOutcome::changed(true), &st)
            .with("dest", self.path)
            .with("src", src);
        let old_src = match (self.prev, self.st.link_target.as_deref()) {
            ("link", Some(old)) if old != src => Some((old, src)),
            _ => None,
        };
        Ok(self.diff_full(ctx, out, "link", &change, old_src, &[]))
    }

    fn hard(
        &self,
        ctx: &mut ModuleContext<'_>,
        src: &str,
        src_st: &RemoteStat,
    ) -> Result<ModuleOutcome, Stop> {
        if !src_st.exists() {
            return Err(Stop::Outcome(
                ModuleOutcome::failed("src does not exist")
                    .with("dest", self.path)
                    .with("src", src),
            ));
        }
        let changed = match self.prev {
            "absent" => true,
            // A symlink whose target is spelled like `src` counts as in place (Ansible).
            "link" => self.st.link_target.as_deref() != Some(src),
            "hard" => {
                let same = self.st.inode == src_st.inode && self.st.dev == src_st.dev;
                if !same && !self.force {
                    return Err("Cannot link, different hard link exists at destination".into());
                }
                !same
            }
            "file" => {
                if !self.force {
                    return Err("Cannot link, file exists at destination".into());
                }
                true
            }
            _ => {
                // A directory is never replaced by a hard link (unlink fails).
                if !self.force {
                    return Err("Cannot link: different hard link exists at destination".into());
                }
                return Err(format!(
                    "Error while replacing: [Errno 21] Is a directory: '{}'",
                    self.path
                )
                .into());
            }
        };
        let base = if changed {
            src_st.clone()
        } else {
            self.st.clone()
        };
        let change = self.attrs.change(&base, self.facts, 0)?;
        if !changed && change.is_empty() {
            return Ok(add_path_info(ModuleOutcome::ok(), self.st)
                .with("dest", self.path)
                .with("src", src));
        }
        let mut script = String::new();
        if changed {
            script.push_str(&format!(
                "t=\"$p.berth_tmp.$$\"; ln -- {} \"$t\" || exit 1; mv -Tf -- \"$t\" \"$p\" || {{ rm -f \"$t\"; exit 1; }}; ",
                quote(src)
            ));
        }
        script.push_str(&change.script("\"$p\"", true));
        let mut projected = project(&base, &change);
        projected.nlink = base.nlink + u64::from(changed);
        let st = self.apply(ctx, &script, false, projected)?;
        let out = add_path_info(ModuleOutcome::changed(true), &st)
            .with("dest", self.path)
            .with("src", src);
        Ok(self.diff(ctx, out, "hard", &change))
    }
}

/// A stat as it will be after `change` (what check mode reports).
fn project(st: &RemoteStat, change: &AttrChange) -> RemoteStat {
    let mut p = st.clone();
    if let Some(m) = change.mode {
        p.mode = m;
    }
    if let Some(u) = change.uid {
        p.uid = u;
    }
    if let Some(g) = change.gid {
        p.gid = g;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        assert_check_predicts, file, rooted, run_module, setup, snapshot, Entry, Gen, Node, Run,
    };

    struct Case {
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        check: bool,
        changed: bool,
        failed: Option<&'static str>,
        keys: Value,
        expect: Vec<(&'static str, Option<Node>)>,
    }

    fn dir(mode: u32) -> Node {
        Node::Dir {
            mode,
            uid: 0,
            gid: 0,
        }
    }

    fn link(t: &str) -> Node {
        Node::Link {
            target: t.into(),
            uid: 0,
        }
    }

    fn c(
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        changed: bool,
        keys: Value,
        expect: Vec<(&'static str, Option<Node>)>,
    ) -> Case {
        Case {
            name,
            initial,
            args,
            check: false,
            changed,
            failed: None,
            keys,
            expect,
        }
    }

    fn fail(name: &'static str, initial: Vec<Entry>, args: Value, msg: &'static str) -> Case {
        Case {
            name,
            initial,
            args,
            check: false,
            changed: false,
            failed: Some(msg),
            keys: json!({}),
            expect: vec![],
        }
    }

    fn cases() -> Vec<Case> {
        vec![
            c("directory created with parents", vec![], json!({"path": "{root}/a/b", "state": "directory", "mode": "0750"}), true,
              json!({"state": "directory", "mode": "0750", "path": "{root}/a/b"}),
              vec![("a", Some(dir(0o750))), ("a/b", Some(dir(0o750)))]),
            c("existing directory ok", vec![Entry::Dir("d", 0o755)], json!({"path": "{root}/d", "state": "directory"}), false,
              json!({"state": "directory", "mode": "0755"}), vec![]),
            c("directory mode change", vec![Entry::Dir("d", 0o700)], json!({"path": "{root}/d", "state": "directory", "mode": "u=rwx,g=rx,o=rx"}), true,
              json!({"mode": "0755"}), vec![("d", Some(dir(0o755)))]),
            c("recurse applies mode to the tree", vec![Entry::Dir("d", 0o755), Entry::File("d/f", "x", 0o600), Entry::Dir("d/s", 0o700)],
              json!({"path": "{root}/d", "state": "directory", "recurse": true, "mode": "a+rX"}), true, json!({}),
              vec![("d/f", Some(file("x", 0o644))), ("d/s", Some(dir(0o755)))]),
            c("recurse already right", vec![Entry::Dir("d", 0o755), Entry::File("d/f", "x", 0o644)],
              json!({"path": "{root}/d", "state": "directory", "recurse": true, "mode": "a+rX"}), false, json!({}), vec![]),
            fail("directory over a file", vec![Entry::File("f", "x", 0o644)], json!({"path": "{root}/f", "state": "directory"}), "{root}/f already exists as a file"),
            c("file mode", vec![Entry::File("f", "x", 0o600)], json!({"path": "{root}/f", "mode": 0o640}), true,
              json!({"mode": "0640", "state": "file", "size": 1}), vec![("f", Some(file("x", 0o640)))]),
            fail("state file on a missing path", vec![], json!({"path": "{root}/nope", "state": "file"}), "file ({root}/nope) is absent, cannot continue"),
            c("file through a link with follow", vec![Entry::File("f", "x", 0o600), Entry::Link("l", "f")], json!({"path": "{root}/l", "state": "file", "mode": "0644"}), true,
              json!({}), vec![("f", Some(file("x", 0o644)))]),
            c("absent removes a tree", vec![Entry::Dir("d", 0o755), Entry::File("d/f", "x", 0o644)], json!({"path": "{root}/d", "state": "absent"}), true,
              json!({"state": "absent"}), vec![("d", None), ("d/f", None)]),
            c("absent on missing is ok", vec![], json!({"path": "{root}/d", "state": "absent"}), false, json!({"state": "absent"}), vec![]),
            c("touch creates", vec![], json!({"path": "{root}/t", "state": "touch", "mode": "0600"}), true,
              json!({"state": "file", "mode": "0600"}), vec![("t", Some(file("", 0o600)))]),
            c("link created", vec![Entry::File("f", "x", 0o644)], json!({"src": "f", "dest": "{root}/l", "state": "link"}), true,
              json!({"state": "link", "dest": "{root}/l", "src": "f"}), vec![("l", Some(link("f")))]),
            c("link unchanged", vec![Entry::File("f", "x", 0o644), Entry::Link("l", "f")], json!({"src": "f", "path": "{root}/l", "state": "link"}), false,
              json!({"state": "link"}), vec![]),
            c("link retargeted", vec![Entry::File("f", "x", 0o644), Entry::File("g", "y", 0o644), Entry::Link("l", "f")],
              json!({"src": "g", "path": "{root}/l", "state": "link"}), true, json!({}), vec![("l", Some(link("g")))]),
            fail("link to missing src", vec![], json!({"src": "nope", "path": "{root}/l", "state": "link"}), "src file does not exist, use 'force=yes'"),
            // ansible-core 2.19: src without state takes the path's state (here none: file).
            fail("src without state", vec![Entry::File("f", "x", 0o644)], json!({"src": "{root}/f", "dest": "{root}/l"}), "src option requires state to be 'link' or 'hard'"),
            c("src without state on a link", vec![Entry::File("f", "x", 0o644), Entry::Link("l", "f")], json!({"src": "f", "path": "{root}/l"}), false,
              json!({"state": "link"}), vec![("l", Some(link("f")))]),
            c("forced link to missing src", vec![], json!({"src": "nope", "path": "{root}/l", "state": "link", "force": true}), true,
              json!({}), vec![("l", Some(link("nope")))]),
            fail("link over a file without force", vec![Entry::File("f", "x", 0o644), Entry::File("l", "y", 0o644)],
                 json!({"src": "f", "path": "{root}/l", "state": "link"}), "refusing to convert from file to symlink for {root}/l"),
            c("link over a file with force", vec![Entry::File("f", "x", 0o644), Entry::File("l", "y", 0o644)],
              json!({"src": "f", "path": "{root}/l", "state": "link", "force": true}), true, json!({}), vec![("l", Some(link("f")))]),
            c("hard link", vec![Entry::File("f", "x", 0o644)], json!({"src": "{root}/f", "path": "{root}/h", "state": "hard"}), true,
              json!({"state": "hard"}), vec![("h", Some(file("x", 0o644)))]),
            // Relative to the working directory, not to the link's directory (os.link).
            fail("relative hard link src", vec![Entry::File("f", "x", 0o644)], json!({"src": "f", "path": "{root}/h", "state": "hard"}), "src does not exist"),
            c("owner by name", vec![Entry::File("f", "x", 0o644)], json!({"path": "{root}/f", "owner": "nobody", "group": "nogroup"}), true,
              json!({"owner": "nobody", "group": "nogroup", "uid": 65534}),
              vec![("f", Some(Node::File { mode: 0o644, uid: 65534, gid: 65534, content: b"x".to_vec() }))]),
            fail("unknown group", vec![Entry::File("f", "x", 0o644)], json!({"path": "{root}/f", "group": "no_such_group_x"}), "chgrp failed: failed to look up group no_such_group_x"),
            fail("bad state", vec![], json!({"path": "{root}/f", "state": "weird"}), "value of state must be one of: absent, directory, file, hard, link, touch, got: weird"),
            fail("recurse needs directory", vec![], json!({"path": "{root}/f", "state": "file", "recurse": true}), "recurse option requires state to be 'directory'"),
            Case { name: "check mode creates nothing", initial: vec![], args: json!({"path": "{root}/d", "state": "directory"}), check: true, changed: true, failed: None, keys: json!({"state": "directory"}), expect: vec![] },
        ]
    }

    #[test]
    fn fixture_table() {
        for case in cases() {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &case.initial);
            let before = snapshot(root);
            let (out, _) = run_module(
                run,
                &rooted(&case.args, root),
                &Run {
                    check: case.check,
                    ..Run::default()
                },
            );
            assert_eq!(out.is_changed(), case.changed, "{}: {out:?}", case.name);
            match case.failed {
                Some(msg) => {
                    let msg = msg.replace("{root}", &root.to_string_lossy());
                    assert!(
                        out.is_failed() && out.result["msg"].as_str().unwrap().starts_with(&msg),
                        "{}: {out:?}",
                        case.name
                    );
                }
                None => assert!(!out.is_failed(), "{}: {out:?}", case.name),
            }
            for (k, v) in rooted(&case.keys, root).as_object().unwrap() {
                assert_eq!(
                    out.result.get(k),
                    Some(v),
                    "{}: key {k} in {out:?}",
                    case.name
                );
            }
            let mut want = before.clone();
            for (p, node) in &case.expect {
                match node {
                    Some(n) => want.insert(p.to_string(), n.clone()),
                    None => want.remove(*p),
                };
            }
            if case.name == "hard link" {
                // Both names now share one inode with two links.
                let f = std::fs::metadata(root.join("f")).unwrap();
                let h = std::fs::metadata(root.join("h")).unwrap();
                use std::os::unix::fs::MetadataExt;
                assert_eq!((f.ino(), f.nlink()), (h.ino(), 2));
            }
            assert_eq!(snapshot(root), want, "{}", case.name);
        }
    }

    #[test]
    fn diff_mode_shows_state_change() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let args = rooted(
            &json!({"path": "{root}/d", "state": "directory", "mode": "0700"}),
            root,
        );
        let (out, calls) = run_module(
            run,
            &args,
            &Run {
                diff: true,
                check: true,
                ..Run::default()
            },
        );
        assert_eq!(calls, 1);
        assert!(
            out.diffs[0].before.contains("\"state\": \"absent\""),
            "{:?}",
            out.diffs
        );
        assert!(out.diffs[0].after.contains("\"state\": \"directory\""));
        assert!(out.diffs[0].after.contains("\"mode\": \"0700\""));
        let d = root.join("d").to_string_lossy().into_owned();
        assert_eq!(
            out.result["diff"],
            json!({"before": {"path": d, "state": "absent"}, "after": {"path": d, "state": "directory", "mode": "0700"}})
        );
        // Without diff mode the result has no diff; unchanged in diff mode it has the path only.
        let (out, _) = run_module(
            run,
            &args,
            &Run {
                check: true,
                ..Run::default()
            },
        );
        assert!(out.result.get("diff").is_none(), "{out:?}");
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::set_permissions(
            root.join("d"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let (out, _) = run_module(
            run,
            &args,
            &Run {
                diff: true,
                ..Run::default()
            },
        );
        assert_eq!(
            out.result["diff"],
            json!({"before": {"path": d}, "after": {"path": d}})
        );
        // A link moved to another target shows both targets.
        std::os::unix::fs::symlink("/old/target", root.join("l")).unwrap();
        let l = root.join("l").to_string_lossy().into_owned();
        let (out, _) = run_module(
            run,
            &json!({"path": l, "src": "/new/target", "state": "link", "force": true}),
            &Run {
                diff: true,
                ..Run::default()
            },
        );
        assert_eq!(
            out.result["diff"],
            json!({"before": {"path": l, "src": "/old/target"}, "after": {"path": l, "src": "/new/target"}})
        );
    }

    #[test]
    fn an_existing_link_without_src_gets_attributes_on_its_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("f"), "x").unwrap();
        std::fs::set_permissions(
            root.join("f"),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        std::os::unix::fs::symlink(root.join("f"), root.join("l")).unwrap();
        let args =
            json!({"path": root.join("l").to_string_lossy(), "mode": "0600", "follow": true});
        let (out, _) = run_module(run, &args, &Run::default());
        assert!(out.is_changed() && !out.is_failed(), "{out:?}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(root.join("f")).unwrap().permissions(),
        ) & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_link(root.join("l")).unwrap(),
            root.join("f"),
            "the link stays"
        );
        let (out, _) = run_module(run, &args, &Run::default());
        assert!(!out.is_changed(), "{out:?}");
        // follow: false leaves the target's mode alone.
        let args = json!({"path": root.join("l").to_string_lossy(), "state": "link", "mode": "0644", "follow": false});
        let (out, _) = run_module(run, &args, &Run::default());
        assert!(!out.is_failed(), "{out:?}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(root.join("f")).unwrap().permissions(),
        ) & 0o7777;
        assert_eq!(mode, 0o600, "the target keeps its mode");
    }

    #[test]
    fn timestamps_as_ansible_sets_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let f = root.join("f").to_string_lossy().into_owned();
        let run_ = |args: Value, check: bool| {
            run_module(
                run,
                &args,
                &Run {
                    check,
                    diff: true,
                    ..Run::default()
                },
            )
            .0
        };
        let mtime = || {
            std::fs::metadata(root.join("f"))
                .map(|m| std::os::unix::fs::MetadataExt::mtime(&m))
                .unwrap_or(-1)
        };
        assert!(run_(json!({"path": f, "state": "touch"}), false).is_changed());
        // preserve/preserve: touching an existing file changes nothing.
        let out = run_(
            json!({"path": f, "state": "touch", "modification_time": "preserve", "access_time": "preserve"}),
            false,
        );
        assert!(!out.is_changed(), "{out:?}");
        // A given time: changed once (check mode predicts it and leaves the file), then not.
        let set = json!({"path": f, "modification_time": "202202081414.00"});
        let want = std::process::Command::new("date")
            .args(["-d", "2022-02-08 14:14:00", "+%s"])
            .output()
            .unwrap();
        let want: i64 = String::from_utf8_lossy(&want.stdout)
            .trim()
            .parse()
            .unwrap();
        let before = mtime();
        let out = run_(set.clone(), true);
        assert!(out.is_changed() && mtime() == before, "{out:?}");
        assert_eq!(out.result["diff"]["after"]["mtime"], json!(want as f64));
        assert!(
            out.result["diff"]["after"].get("atime").is_none(),
            "only the moving time is in the diff"
        );
        assert!(run_(set.clone(), false).is_changed());
        assert_eq!(mtime(), want);
        let out = run_(set, false);
        assert!(!out.is_changed(), "{out:?}");
        assert_eq!(out.result["diff"]["after"], json!({"path": f}));
        // now always changes; a bad date is refused with Python's reason.
        assert!(run_(json!({"path": f, "access_time": "now"}), false).is_changed());
        let out = run_(
            json!({"path": f, "modification_time": "2022-02-30", "modification_time_format": "%Y-%m-%d"}),
            false,
        );
        assert_eq!(out.result["msg"], json!("Error while obtaining timestamp for time 2022-02-30 using format %Y-%m-%d: day is out of range for month"));
        let out = run_(json!({"path": f, "modification_time": "yesterday"}), false);
        assert_eq!(out.result["msg"], json!("Error while obtaining timestamp for time yesterday using format %Y%m%d%H%M.%S: time data 'yesterday' does not match format '%Y%m%d%H%M.%S'"));
    }

    /// One generated case: what is at `t` (beside a file `src`), and the arguments.
    fn generate(g: &mut Gen) -> (usize, u32, Value) {
        let initial = g.below(5);
        let mode = *g.pick(&[0o600, 0o644, 0o700, 0o755]);
        let state = *g.pick(&["file", "directory", "link", "hard", "absent", "touch"]);
        let mut args = json!({"path": "{root}/t", "state": state});
        match state {
            "link" => args["src"] = json!("src"),
            "hard" => args["src"] = json!("{root}/src"),
            _ => {}
        }
        if state != "absent" && state != "link" && g.chance() {
            args["mode"] = json!(*g.pick(&["0644", "u+x", "go-rwx", "a+X"]));
        }
        if state != "absent" && g.chance() {
            args["owner"] = json!(*g.pick(&["root", "nobody"]));
        }
        if state == "directory" && g.chance() {
            args["recurse"] = json!(true);
        }
        if g.chance() {
            args["force"] = json!(true);
        }
        (initial, mode, args)
    }

    fn prepare(root: &std::path::Path, initial: usize, mode: u32) {
        setup(root, &[Entry::File("src", "s", 0o644)]);
        match initial {
            0 => {}
            1 => setup(root, &[Entry::File("t", "x", mode)]),
            2 => setup(
                root,
                &[Entry::Dir("t", mode), Entry::File("t/in", "y", 0o600)],
            ),
            3 => setup(
                root,
                &[Entry::Link(
                    "t",
                    if mode == 0o600 { "other" } else { "src" },
                )],
            ),
            _ => setup(root, &[Entry::Dir("t", mode)]),
        }
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(3);
        for i in 0..60 {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let (initial, mode, args) = generate(&mut g);
            if args["state"] == json!("touch") {
                continue; // touch always changes (timestamps), like Ansible
            }
            prepare(root, initial, mode);
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

    /// The same generated cases through Ansible's own file module: identical
    /// `changed`, `failed`, failure message, and resulting tree.
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut g = Gen::new(31);
        let cases: Vec<_> = (0..30).map(|_| generate(&mut g)).collect();
        let mut tasks = Vec::new();
        for (i, (initial, mode, args)) in cases.iter().enumerate() {
            for side in ["ansible", "berth"] {
                let dir = root.join(format!("{side}{i}"));
                std::fs::create_dir(&dir).unwrap();
                prepare(&dir, *initial, *mode);
            }
            tasks.push(rooted(args, &root.join(format!("ansible{i}"))));
        }
        let Some(expected) = crate::modules::test_support::ansible_results("file", &tasks, root)
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, (initial, mode, args)) in cases.iter().enumerate() {
            let dir = root.join(format!("berth{i}"));
            let (out, _) = run_module(run, &rooted(args, &dir), &Run::default());
            let want = &expected[i];
            let label = format!("case {i}: {args} on initial {initial} mode {mode:o}");
            if want.get("exception").is_some() {
                // Ansible crashed (e.g. touch through a dangling link); berth
                // does the sensible thing there, so there is nothing to compare.
                continue;
            }
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
            if out.is_failed() {
                let msg = want["msg"]
                    .as_str()
                    .unwrap_or("")
                    .replace(&format!("ansible{i}"), &format!("berth{i}"));
                assert_eq!(out.result["msg"].as_str().unwrap_or(""), msg, "{label}");
            } else {
                for key in ["state", "mode", "owner", "uid", "path", "dest", "src"] {
                    if let Some(v) = want.get(key) {
                        let v = json!(v
                            .as_str()
                            .map(|s| s.replace(&format!("ansible{i}"), &format!("berth{i}")))
                            .map(Value::from)
                            .unwrap_or(v.clone()));
                        assert_eq!(
                            out.result.get(key),
                            Some(&v),
                            "{label}: key {key}: {out:?} vs {want}"
                        );
                    }
                }
            }
            assert_eq!(
                snapshot(&dir),
                snapshot(&root.join(format!("ansible{i}"))),
                "{label}"
            );
        }
    }
}
