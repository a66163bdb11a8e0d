//! `copy`: put a controller file (or `content`, or a file already on the host
//! with `remote_src`) at `dest`, atomically, only when its SHA-1 differs.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::file_mode::FileMode;
use crate::modules::remote_file::{
    self, add_path_info, basename, content_diff, finish, parent_of, sha1_hex, Attrs, Kind, Probe,
    Stop, Write, MAX_DIFF_SIZE,
};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "src",
    "content",
    "dest",
    "backup",
    "force",
    "mode",
    "owner",
    "group",
    "directory_mode",
    "remote_src",
    "follow",
    "local_follow",
    "validate",
    "checksum",
    "decrypt",
    "unsafe_writes",
];

/// The `--diff` label of inline `content` (Ansible's wording).
const CONTENT_LABEL: &str = "dynamically generated";

/// Where the new bytes come from; `label` names it in `--diff` headers.
pub(crate) enum Source {
    Bytes {
        data: Vec<u8>,
        label: String,
        local_mode: Option<u32>,
    },
    Remote(String),
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("copy", args);
    finish(plan(ctx, &a))
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    // copy's action keeps these for itself, as Ansible's does.
    for internal in ["_original_basename", "_diff_peek"] {
        if a.get(internal).is_some_and(|v| !v.is_null()) {
            return Err(format!("Invalid parameter specified: \"{internal}\"").into());
        }
    }
    a.check_known(KNOWN)?;
    let dest_arg = a
        .str("dest")?
        .filter(|d| !d.is_empty())
        .ok_or("dest is required")?;
    let backup = a.bool("backup", false)?;
    let force = a.bool("force", true)?;
    let local_follow = a.bool("local_follow", true)?;
    let decrypt = a.bool("decrypt", true)?;
    let remote_src = a.bool("remote_src", false)?;
    let follow = a.bool("follow", false)?;
    let validate = a.str("validate")?;
    if let Some(v) = &validate {
        if !v.contains("%s") {
            return Err(format!("validate must contain %s: {v}").into());
        }
    }
    let preserve = matches!(a.get("mode"), Some(Value::String(s)) if s == "preserve");
    let attrs = if preserve {
        Attrs {
            mode: None,
            owner: a.str("owner")?,
            group: a.str("group")?,
        }
    } else {
        Attrs::from_args(a)?
    };
    let directory_mode = match a.get("directory_mode") {
        None => None,
        Some(v) => Some(FileMode::parse(v)?),
    };
    // An empty src is no src, as Ansible's copy action reads it.
    let src = a.str("src")?.filter(|s| !s.is_empty());
    let content = a.get("content");
    let source = match (src, content) {
        (Some(_), Some(_)) => return Err("src and content are mutually exclusive".into()),
        (None, None) => return Err("src (or content) is required".into()),
        (None, Some(c)) => {
            if dest_arg.ends_with('/') {
                return Err("can not use content with a dir as dest".into());
            }
            let data = match c {
                Value::String(s) => s.clone().into_bytes(),
                other => serde_json::to_string(other)
                    .unwrap_or_default()
                    .into_bytes(),
            };
            // Ansible stages `content` in a 0600 temp file: that is what `mode: preserve` keeps.
            Source::Bytes {
                data,
                label: CONTENT_LABEL.into(),
                local_mode: Some(0o600),
            }
        }
        (Some(s), None) if remote_src => Source::Remote(s),
        (Some(s), None) => {
            let path = ctx.find_file("files", &s).ok_or_else(|| {
                format!("Could not find or access '{s}' on the Ansible Controller.")
            })?;
            if path.is_dir() {
                let tree = Tree {
                    local: path,
                    src: s,
                    dest: dest_arg,
                    attrs,
                    directory_mode,
                    backup,
                    force,
                    local_follow,
                    decrypt,
                };
                return copy_tree(ctx, tree);
            }
            let data = std::fs::read(&path)
                .map_err(|e| format!("Could not read '{}': {e}", path.display()))?;
            refuse_vaulted(&data, &path, decrypt)?;
            use std::os::unix::fs::PermissionsExt;
            let local_mode = std::fs::metadata(&path)
                .ok()
                .map(|m| m.permissions().mode() & 0o7777);
            Source::Bytes {
                data,
                label: path.to_string_lossy().into_owned(),
                local_mode,
            }
        }
    };
    if let (Some(expected), Source::Bytes { data, .. }) = (a.str("checksum")?, &source) {
        let got = sha1_hex(data);
        if !got.eq_ignore_ascii_case(&expected) {
            return Err(Stop::Outcome(
                ModuleOutcome::failed(
                    "Copied file does not match the expected checksum. Transfer failed.",
                )
                .with("checksum", got)
                .with("expected_checksum", expected),
            ));
        }
    }
    put(
        ctx,
        Put {
            dest: dest_arg,
            backup,
            force,
            follow,
            validate,
            attrs,
            directory_mode,
            source,
            preserve,
            // Unset, Ansible's module keeps a new folder's symlinks (copytree).
            local_follow: a.get("local_follow").is_some().then_some(local_follow),
        },
    )
}

/// A controller directory to copy recursively.
struct Tree {
    local: std::path::PathBuf,
    /// `src` as given: a trailing `/` copies the contents, not the directory.
    src: String,
    dest: String,
    attrs: Attrs,
    directory_mode: Option<FileMode>,
    backup: bool,
    force: bool,
    /// Follow symlinks in the tree (Ansible's default); off, they are made
    /// as symlinks on the host.
    local_follow: bool,
    /// Vault-encrypted files would be decrypted (berth has no vault secrets).
    decrypt: bool,
}

/// Ansible's copy decrypts vault-encrypted sources (`decrypt`, default
/// true); berth holds no vault secrets, so it fails as ansible-playbook
/// does without a password. With `decrypt: false` the file goes as it is.
fn refuse_vaulted(data: &[u8], path: &std::path::Path, decrypt: bool) -> Result<(), String> {
    if decrypt && data.starts_with(b"$ANSIBLE_VAULT;") {
        return Err(format!(
            "A vault password or secret must be specified to decrypt {}",
            path.display()
        ));
    }
    Ok(())
}

/// What a controller folder holds, relative: directories (parents first),
/// files with their content, and symlinks with their targets.
type Walked = (Vec<String>, Vec<(String, Vec<u8>)>, Vec<(String, String)>);

/// Every directory, file and symlink under `root`. With `follow`, symlinks
/// are followed, except a broken one or one back into a folder already on
/// the way (a cycle), which stay symlinks as in Ansible's copy action.
fn walk(root: &std::path::Path, follow: bool) -> Result<Walked, String> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    let mut links = Vec::new();
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut stack = vec![(root.to_path_buf(), String::new(), vec![canon(root)])];
    while let Some((dir, rel, ancestors)) = stack.pop() {
        dirs.push(rel.clone());
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("Could not read directory '{}': {e}", dir.display()))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries.into_iter().rev() {
            let name = e.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = e.path();
            let is_link =
                std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            let followed = std::fs::metadata(&path);
            let cycle =
                followed.as_ref().is_ok_and(|m| m.is_dir()) && ancestors.contains(&canon(&path));
            if is_link && (!follow || followed.is_err() || cycle) {
                let target = std::fs::read_link(&path)
                    .map_err(|err| format!("Could not read '{}': {err}", path.display()))?;
                links.push((child_rel, target.to_string_lossy().into_owned()));
                continue;
            }
            let md =
                followed.map_err(|err| format!("Could not read '{}': {err}", path.display()))?;
            if md.is_dir() {
                let mut next = ancestors.clone();
                next.push(canon(&path));
                stack.push((path, child_rel, next));
            } else {
                let data = std::fs::read(&path)
                    .map_err(|err| format!("Could not read '{}': {err}", path.display()))?;
                files.push((child_rel, data));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    links.sort();
    Ok((dirs, files, links))
}

/// Recursive copy of a controller directory: one probe of every target
/// path, then one apply that creates directories and streams every changed
/// file on stdin (`head -c` per file).
fn copy_tree(ctx: &mut ModuleContext<'_>, t: Tree) -> Result<ModuleOutcome, Stop> {
    let (dirs, files, links) = walk(&t.local, t.local_follow)?;
    // Checked in the order Ansible's action walks the folder: top-down,
    // a folder's own files before its subfolders'.
    let mut by_depth: Vec<&(String, Vec<u8>)> = files.iter().collect();
    by_depth.sort_by_key(|(rel, _)| (rel.matches('/').count(), rel.clone()));
    for (rel, data) in by_depth {
        refuse_vaulted(data, &t.local.join(rel), t.decrypt)?;
    }
    let base = if t.src.ends_with('/') {
        t.dest.trim_end_matches('/').to_string()
    } else {
        format!("{}/{}", t.dest.trim_end_matches('/'), basename(&t.src))
    };
    let join = |rel: &str| {
        if rel.is_empty() {
            base.clone()
        } else {
            format!("{base}/{rel}")
        }
    };
    let read = ctx.diff_mode.then_some(MAX_DIFF_SIZE as u64);
    let mut probes: Vec<Probe> = dirs.iter().map(|d| Probe::new(&join(d))).collect();
    for (rel, _) in &files {
        let mut p = Probe::new(&join(rel)).follow(true).sha1();
        p.read_limit = read;
        probes.push(p);
    }
    for (rel, _) in &links {
        probes.push(Probe::new(&join(rel)));
    }
    let facts = remote_file::probe(
        ctx,
        &probes,
        t.attrs.owner.as_deref(),
        t.attrs.group.as_deref(),
    )?;
    let mut script = String::new();
    let mut stdin = Vec::new();
    let mut out = ModuleOutcome::changed(false);
    let mut changed = false;
    let dir_base = facts.default_dir_mode();
    let dir_mode = t
        .directory_mode
        .as_ref()
        .map(|m| m.resolve(dir_base, true))
        .unwrap_or(dir_base);
    for (i, rel) in dirs.iter().enumerate() {
        let st = &facts.stats[i];
        match st.kind {
            Kind::Dir => {}
            Kind::Missing => {
                let dir_attrs = Attrs {
                    mode: None,
                    owner: t.attrs.owner.clone(),
                    group: t.attrs.group.clone(),
                };
                let mut ch = dir_attrs.change(st, &facts, dir_mode)?;
                ch.mode = Some(dir_mode);
                let path = join(rel);
                // The top folder may need its parents too (dest not there yet).
                let parents = if rel.is_empty() { "-p " } else { "" };
                script.push_str(&format!(
                    "mkdir {parents}-- {q} || exit 1; {}",
                    ch.script(&quote(&path), true),
                    q = quote(&path)
                ));
                changed = true;
            }
            _ => {
                return Err(
                    format!("Destination {} exists and is not a directory", join(rel)).into(),
                )
            }
        }
    }
    for (k, (rel, data)) in files.iter().enumerate() {
        let st = &facts.stats[dirs.len() + k];
        let path = join(rel);
        if st.kind == Kind::Dir {
            return Err(format!("Destination {path} is a directory").into());
        }
        if st.exists() && !t.force {
            continue;
        }
        let change = t.attrs.change(st, &facts, facts.default_file_mode())?;
        if st.checksum.as_deref() != Some(sha1_hex(data).as_str()) {
            changed = true;
            if ctx.diff_mode {
                let label = t.local.join(rel).to_string_lossy().into_owned();
                out = content_diff(
                    out,
                    &path,
                    st.content.as_deref(),
                    st.size,
                    data,
                    &format!("after: {label}"),
                );
            }
            let w = Write {
                dest: &path,
                content: data,
                attrs: change,
                validate: None,
                backup: t.backup,
                mkdir_parent: None,
                default_mode: facts.default_file_mode(),
            };
            script.push_str(&remote_file::write_script(
                &w,
                remote_file::Fill::Take(data.len()),
            ));
            stdin.extend_from_slice(data);
        } else if !change.is_empty() {
            changed = true;
            script.push_str(&change.script(&quote(&path), true));
        }
    }
    // Symlinks: made (or pointed again) where the host has something else.
    for (k, (rel, target)) in links.iter().enumerate() {
        let st = &facts.stats[dirs.len() + files.len() + k];
        let path = join(rel);
        if st.kind == Kind::Link && st.link_target.as_deref() == Some(target.as_str()) {
            continue;
        }
        if st.kind == Kind::Dir {
            return Err(format!("Destination {path} is a directory").into());
        }
        if st.exists() && !t.force {
            continue;
        }
        changed = true;
        script.push_str(&format!(
            "ln -sfn -- {} {} || exit 1\n",
            quote(target),
            quote(&path)
        ));
    }
    out.result.insert("changed".into(), Value::Bool(changed));
    if changed && !ctx.check_mode {
        let res = ctx.exec(&script, Some(&stdin))?;
        if !res.success() {
            return Err(format!(
                "Could not copy {} to {base}: {}",
                t.src,
                res.stderr_str().trim()
            )
            .into());
        }
    }
    Ok(out
        .with("dest", t.dest)
        .with("src", t.local.to_string_lossy().into_owned()))
}

/// `remote_src` with a folder, as Ansible's copy module copies one on the
/// host: `src/` puts the folder's contents into dest, `src` the folder
/// itself (dest/NAME); new and differing files are copied with their modes
/// (`cp -a`; with `local_follow`, the default, symlinks to files become the
/// files, while broken links and links to folders stay links), nothing in
/// dest is removed; owner and group (and mode, when
/// given) are applied to the copy each run. Changed when a file differed
/// or was missing.
fn remote_tree(
    ctx: &mut ModuleContext<'_>,
    src: &str,
    dest: &str,
    attrs: &Attrs,
    follow_links: Option<bool>,
) -> Result<ModuleOutcome, Stop> {
    let target = if src.ends_with('/') {
        dest.trim_end_matches('/').to_string()
    } else {
        format!(
            "{}/{}",
            dest.trim_end_matches('/'),
            basename(src.trim_end_matches('/'))
        )
    };
    let mut fix = String::new();
    if attrs.owner.is_some() || attrs.group.is_some() {
        let who = format!(
            "{}{}",
            attrs.owner.clone().unwrap_or_default(),
            attrs
                .group
                .as_ref()
                .map(|g| format!(":{g}"))
                .unwrap_or_default()
        );
        fix.push_str(&format!(" && chown -R -- {} \"$d\"", quote(&who)));
    }
    if let Some(m) = &attrs.mode {
        fix.push_str(&format!(" && chmod -R -- {} \"$d\"", quote(&m.chmod_arg())));
    }
    let check = if ctx.check_mode { "yes" } else { "no" };
    let script = format!(
        "s={s}; d={d}\n\
         same=no\n\
         if [ -d \"$d\" ]; then out=$(diff -rq -- \"$s\" \"$d\" 2>&1 | grep -v -F \"Only in $d\" | grep -v -e '^diff: .*: No such file or directory$' -e '^diff: .*: Too many levels of symbolic links$' -e '^diff: .*: recursive directory loop$'); [ -z \"$out\" ] && same=yes; fi\n\
         if [ $same = yes ] && [ -z {fixq} ]; then echo SAME; exit 0; fi\n\
         if [ {check} = yes ]; then [ $same = yes ] && echo SAME || echo CHANGED; exit 0; fi\n\
         existed=no; [ -d \"$d\" ] && existed=yes\n\
         mkdir -p -- \"$d\" && cp -a -- \"$s\"/. \"$d\"/ || exit 1\n\
         if [ {deref} = yes ] || {{ [ {deref} = auto ] && [ $existed = yes ]; }}; then find \"$d\" -type l | while IFS= read -r l; do if [ -f \"$l\" ]; then cp -L -- \"$l\" \"$l.berth-tmp\" && mv -f -- \"$l.berth-tmp\" \"$l\" || exit 1; fi; done || exit 1; fi\n\
         true{fix} || exit 1\n\
         [ $same = yes ] && echo SAME || echo CHANGED\n",
        s = quote(src.trim_end_matches('/')),
        d = quote(&target),
        fixq = quote(&fix),
        deref = match follow_links {
            Some(true) => "yes",
            Some(false) => "no",
            None => "auto",
        },
    );
    let res = ctx.exec(&script, None).map_err(Stop::from)?;
    if res.rc != 0 {
        return Err(format!(
            "failed to copy {src} to {target}: {}",
            res.stderr_str().trim()
        )
        .into());
    }
    let changed = res.stdout_str().trim() == "CHANGED";
    Ok(ModuleOutcome::changed(changed)
        .with("dest", format!("{}/", target))
        .with("src", src.to_string()))
}

/// A file to put on the host (shared by `copy` and `template`).
pub(crate) struct Put {
    pub(crate) dest: String,
    pub(crate) backup: bool,
    pub(crate) force: bool,
    pub(crate) follow: bool,
    pub(crate) validate: Option<String>,
    pub(crate) attrs: Attrs,
    pub(crate) directory_mode: Option<FileMode>,
    pub(crate) source: Source,
    /// `mode: preserve`: the source file's mode.
    pub(crate) preserve: bool,
    /// `local_follow` as given: a host folder copied with `remote_src`
    /// follows its symlinks when true, keeps them when false; unset, a new
    /// destination keeps them and an existing one gets what they name.
    pub(crate) local_follow: Option<bool>,
}

/// Compare, then (unless in check mode) atomically write, like Ansible's copy module.
pub(crate) fn put(ctx: &mut ModuleContext<'_>, p: Put) -> Result<ModuleOutcome, Stop> {
    let Put {
        dest: dest_arg,
        backup,
        force,
        follow,
        validate,
        mut attrs,
        directory_mode,
        source,
        preserve,
        local_follow,
    } = p;
    let src_name = match &source {
        Source::Bytes { label, .. } => basename(label).to_string(),
        Source::Remote(p) => basename(p).to_string(),
    };
    let into_dir = dest_arg.ends_with('/');
    let child = format!("{}/{}", dest_arg.trim_end_matches('/'), src_name);
    let read = if ctx.diff_mode {
        Some(MAX_DIFF_SIZE as u64)
    } else {
        None
    };
    let mut probes = vec![
        Probe::new(&dest_arg).follow(true).sha1(),
        Probe::new(&child).follow(true).sha1(),
        Probe::new(&parent_of(&dest_arg)),
    ];
    if let Some(limit) = read {
        probes[0] = probes[0].clone().read(limit);
        probes[1] = probes[1].clone().read(limit);
    }
    if let Source::Remote(p) = &source {
        let mut pr = Probe::new(p).follow(true).sha1();
        if let Some(limit) = read {
            pr = pr.read(limit);
        }
        probes.push(pr);
    }
    let facts = remote_file::probe(ctx, &probes, attrs.owner.as_deref(), attrs.group.as_deref())?;
    // The new content and its checksum.
    let (data, checksum, label, src_mode) = match &source {
        Source::Bytes {
            data,
            label,
            local_mode,
        } => (
            Some(data.as_slice()),
            sha1_hex(data),
            label.clone(),
            *local_mode,
        ),
        Source::Remote(p) => {
            let st = &facts.stats[3];
            match st.kind {
                Kind::Missing => return Err(format!("Source {p} not found").into()),
                Kind::Dir => return remote_tree(ctx, p, &dest_arg, &attrs, local_follow),
                Kind::Char | Kind::Block | Kind::Fifo | Kind::Socket => {
                    return Err(format!("Cannot copy invalid source '{p}': not a file").into())
                }
                _ => {}
            }
            let sum = st
                .checksum
                .clone()
                .ok_or_else(|| format!("Source {p} not readable"))?;
            (st.content.as_deref(), sum, p.clone(), Some(st.mode))
        }
    };
    if preserve {
        attrs.mode = src_mode.map(FileMode::Numeric);
    }
    let dest_stat = &facts.stats[0];
    if dest_stat.kind == Kind::Dir
        && matches!(&source, Source::Bytes { label, .. } if label == CONTENT_LABEL)
    {
        return Err("can not use content with a dir as dest".into());
    }
    let (target, st) = if into_dir || dest_stat.kind == Kind::Dir {
        (child.clone(), facts.stats[1].clone())
    } else {
        (dest_arg.clone(), dest_stat.clone())
    };
    // `follow`: write through a symlink to its target.
    let write_path = match (&st.link_target, follow, &st.realpath) {
        (Some(_), true, Some(real)) => real.clone(),
        _ => target.clone(),
    };
    let parent_exists =
        dest_stat.kind == Kind::Dir || (!into_dir && facts.stats[2].kind == Kind::Dir);
    let mkdir_parent = if into_dir && dest_stat.kind != Kind::Dir {
        let base = facts.default_dir_mode();
        Some(
            directory_mode
                .as_ref()
                .map(|m| m.resolve(base, true))
                .unwrap_or(base),
        )
    } else {
        None
    };
    if !parent_exists && mkdir_parent.is_none() {
        return Err(format!(
            "Destination directory {} does not exist",
            parent_of(&dest_arg)
        )
        .into());
    }
    if st.kind == Kind::Dir {
        return Err(format!("Destination {target} is a directory").into());
    }
    let content_differs = st.checksum.as_deref() != Some(checksum.as_str());
    if st.exists() && !force {
        let out = ModuleOutcome::ok()
            .with("dest", target.clone())
            .with("msg", "file already exists")
            .with("checksum", checksum);
        return Ok(out);
    }
    let change = attrs.change(&st, &facts, facts.default_file_mode())?;
    let mut out;
    if content_differs {
        out = ModuleOutcome::changed(true);
        if ctx.diff_mode {
            match data {
                Some(d) => {
                    out = content_diff(
                        out,
                        &target,
                        st.content.as_deref(),
                        st.size,
                        d,
                        // Ansible writes `content` to a file first, then names
                        // the destination as what comes after.
                        &format!(
                            "after: {}",
                            if label == CONTENT_LABEL {
                                target.as_str()
                            } else {
                                label.as_str()
                            }
                        ),
                    )
                }
                None => out = out.with("diff", serde_json::json!({"src_larger": MAX_DIFF_SIZE})),
            }
        }
        if ctx.check_mode {
            out = out
                .with("dest", target.clone())
                .with("checksum", checksum)
                .with("src", label);
            return Ok(out);
        }
        let applied = match &source {
            Source::Bytes { data, .. } => {
                let w = Write {
                    dest: &write_path,
                    content: data,
                    attrs: change,
                    validate: validate.as_deref(),
                    backup,
                    mkdir_parent,
                    default_mode: facts.default_file_mode(),
                };
                remote_file::write_file(ctx, &w)?
            }
            Source::Remote(p) => {
                let w = Write {
                    dest: &write_path,
                    content: &[],
                    attrs: change,
                    validate: validate.as_deref(),
                    backup,
                    mkdir_parent,
                    default_mode: facts.default_file_mode(),
                };
                remote_file::write_file_from(ctx, &w, remote_file::Fill::HostFile(p))?
            }
        };
        out = add_path_info(out, &applied.stat);
        if let Some(b) = applied.backup_file {
            out = out.with("backup_file", b);
        }
    } else if !change.is_empty() {
        out = ModuleOutcome::changed(true);
        if ctx.check_mode {
            return Ok(out.with("dest", target.clone()).with("checksum", checksum));
        }
        let stat = remote_file::apply_attrs(ctx, &write_path, &change, true)?;
        out = add_path_info(out, &stat);
    } else {
        out = add_path_info(ModuleOutcome::ok(), &st);
    }
    // Ansible's copy also answers the source's MD5 (`md5sum`, kept for old playbooks).
    if let Some(d) = data {
        out = out.with("md5sum", remote_file::md5_hex(d));
    }
    Ok(out
        .with("dest", target)
        .with("checksum", checksum)
        .with("src", label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        file, rooted, run_module, setup, snapshot, Entry, Gen, Node, Run,
    };
    use serde_json::json;

    struct Case {
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        check: bool,
        changed: bool,
        failed: Option<&'static str>,
        keys: Value,
        /// Expected paths after the run (others must be as before).
        expect: Vec<(&'static str, Option<Node>)>,
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "content creates file with umask mode",
                initial: vec![],
                args: json!({"content": "hello\n", "dest": "{root}/a"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"checksum": "f572d396fae9206628714fb2ce00f72e94f2258f", "md5sum": "b1946ac92492d2347c6235b4d2611184", "size": 6, "mode": "0644", "state": "file", "owner": "root", "uid": 0}),
                expect: vec![("a", Some(file("hello\n", 0o644)))],
            },
            Case {
                name: "same content is ok",
                initial: vec![Entry::File("a", "hello\n", 0o600)],
                args: json!({"content": "hello\n", "dest": "{root}/a"}),
                check: false,
                changed: false,
                failed: None,
                keys: json!({"mode": "0600", "checksum": "f572d396fae9206628714fb2ce00f72e94f2258f"}),
                expect: vec![("a", Some(file("hello\n", 0o600)))],
            },
            Case {
                name: "different content keeps existing mode",
                initial: vec![Entry::File("a", "old\n", 0o640)],
                args: json!({"content": "new\n", "dest": "{root}/a"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"mode": "0640"}),
                expect: vec![("a", Some(file("new\n", 0o640)))],
            },
            Case {
                name: "mode only change",
                initial: vec![Entry::File("a", "x", 0o600)],
                args: json!({"content": "x", "dest": "{root}/a", "mode": "u=rw,g=r,o=r"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"mode": "0644"}),
                expect: vec![("a", Some(file("x", 0o644)))],
            },
            Case {
                name: "int mode",
                initial: vec![],
                args: json!({"content": "x", "dest": "{root}/a", "mode": 0o755}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"mode": "0755"}),
                expect: vec![("a", Some(file("x", 0o755)))],
            },
            Case {
                name: "check mode reports change and writes nothing",
                initial: vec![Entry::File("a", "old", 0o644)],
                args: json!({"content": "new", "dest": "{root}/a"}),
                check: true,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![("a", Some(file("old", 0o644)))],
            },
            Case {
                name: "force=no leaves an existing file",
                initial: vec![Entry::File("a", "old", 0o644)],
                args: json!({"content": "new", "dest": "{root}/a", "force": "no"}),
                check: false,
                changed: false,
                failed: None,
                keys: json!({}),
                expect: vec![("a", Some(file("old", 0o644)))],
            },
            Case {
                name: "dest directory gets src basename",
                initial: vec![
                    Entry::Dir("d", 0o755),
                    Entry::File("ctl/files/app.conf", "conf\n", 0o644),
                ],
                args: json!({"src": "app.conf", "dest": "{root}/d"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"dest": "{root}/d/app.conf"}),
                expect: vec![("d/app.conf", Some(file("conf\n", 0o644)))],
            },
            Case {
                name: "dest ending in slash is created with directory_mode",
                initial: vec![Entry::File("ctl/files/app.conf", "conf\n", 0o644)],
                args: json!({"src": "app.conf", "dest": "{root}/new/", "directory_mode": "0750"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"dest": "{root}/new/app.conf"}),
                expect: vec![
                    (
                        "new",
                        Some(Node::Dir {
                            mode: 0o750,
                            uid: 0,
                            gid: 0,
                        }),
                    ),
                    ("new/app.conf", Some(file("conf\n", 0o644))),
                ],
            },
            Case {
                name: "local_follow false keeps the tree's symlinks, broken ones too",
                initial: vec![
                    Entry::File("ctl/files/t/a", "a\n", 0o644),
                    Entry::Link("ctl/files/t/to_a", "a"),
                    Entry::Link("ctl/files/t/nowhere", "missing"),
                    Entry::Dir("www", 0o755),
                ],
                args: json!({"src": "t/", "dest": "{root}/www", "local_follow": false, "mode": "0644"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    ("www/a", Some(file("a\n", 0o644))),
                    (
                        "www/nowhere",
                        Some(Node::Link {
                            target: "missing".into(),
                            uid: 0,
                        }),
                    ),
                    (
                        "www/to_a",
                        Some(Node::Link {
                            target: "a".into(),
                            uid: 0,
                        }),
                    ),
                ],
            },
            Case {
                name:
                    "local_follow (the default) copies what a symlink names; a cycle stays a link",
                initial: vec![
                    Entry::File("ctl/files/t/a", "a\n", 0o644),
                    Entry::Link("ctl/files/t/to_a", "a"),
                    Entry::Link("ctl/files/t/self", "."),
                    Entry::Dir("www", 0o755),
                ],
                args: json!({"src": "t/", "dest": "{root}/www", "mode": "0644"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    ("www/a", Some(file("a\n", 0o644))),
                    ("www/to_a", Some(file("a\n", 0o644))),
                    (
                        "www/self",
                        Some(Node::Link {
                            target: ".".into(),
                            uid: 0,
                        }),
                    ),
                ],
            },
            Case {
                name: "directory src copies the directory itself",
                initial: vec![
                    Entry::File("ctl/files/site/index.html", "hi\n", 0o644),
                    Entry::File("ctl/files/site/css/a.css", "x{}", 0o600),
                    Entry::Dir("www", 0o755),
                ],
                args: json!({"src": "site", "dest": "{root}/www", "directory_mode": "0750", "mode": "0640"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"dest": "{root}/www"}),
                expect: vec![
                    (
                        "www/site",
                        Some(Node::Dir {
                            mode: 0o750,
                            uid: 0,
                            gid: 0,
                        }),
                    ),
                    (
                        "www/site/css",
                        Some(Node::Dir {
                            mode: 0o750,
                            uid: 0,
                            gid: 0,
                        }),
                    ),
                    ("www/site/css/a.css", Some(file("x{}", 0o640))),
                    ("www/site/index.html", Some(file("hi\n", 0o640))),
                ],
            },
            Case {
                name: "directory src with slash copies contents, only what differs",
                initial: vec![
                    Entry::File("ctl/files/site/index.html", "hi\n", 0o644),
                    Entry::File("ctl/files/site/b.txt", "new", 0o644),
                    Entry::File("www/index.html", "hi\n", 0o644),
                    Entry::File("www/b.txt", "old", 0o600),
                ],
                args: json!({"src": "site/", "dest": "{root}/www"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![("www/b.txt", Some(file("new", 0o600)))],
            },
            Case {
                name: "directory src already in place",
                initial: vec![
                    Entry::File("ctl/files/site/index.html", "hi\n", 0o644),
                    Entry::File("www/index.html", "hi\n", 0o644),
                ],
                args: json!({"src": "site/", "dest": "{root}/www"}),
                check: false,
                changed: false,
                failed: None,
                keys: json!({}),
                expect: vec![],
            },
            Case {
                name: "directory src in check mode",
                initial: vec![Entry::File("ctl/files/site/index.html", "hi\n", 0o644)],
                args: json!({"src": "site", "dest": "{root}/www"}),
                check: true,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![],
            },
            Case {
                name: "remote_src folder with a slash: its contents into dest",
                initial: vec![Entry::Dir("s", 0o755), Entry::File("s/a", "x\n", 0o640)],
                args: json!({"src": "{root}/s/", "dest": "{root}/d", "remote_src": true}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    (
                        "d",
                        Some(Node::Dir {
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                        }),
                    ),
                    ("d/a", Some(file("x\n", 0o640))),
                ],
            },
            Case {
                name: "remote_src folder without a slash: the folder into dest",
                initial: vec![
                    Entry::Dir("s", 0o755),
                    Entry::File("s/a", "x\n", 0o600),
                    Entry::Dir("d", 0o755),
                ],
                args: json!({"src": "{root}/s", "dest": "{root}/d/", "remote_src": true}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    (
                        "d/s",
                        Some(Node::Dir {
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                        }),
                    ),
                    ("d/s/a", Some(file("x\n", 0o600))),
                ],
            },
            Case {
                name: "remote_src folder: symlinks followed, or kept with local_follow false",
                initial: vec![
                    Entry::Dir("s", 0o755),
                    Entry::File("s/a", "x\n", 0o644),
                    Entry::Link("s/l", "a"),
                    Entry::Dir("d", 0o755),
                    Entry::Dir("k", 0o755),
                ],
                args: json!({"src": "{root}/s/", "dest": "{root}/d", "remote_src": true}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    ("d/a", Some(file("x\n", 0o644))),
                    ("d/l", Some(file("x\n", 0o644))),
                ],
            },
            Case {
                name: "remote_src folder into a new dest keeps its symlinks, as copytree does",
                initial: vec![
                    Entry::Dir("s", 0o755),
                    Entry::File("s/a", "x\n", 0o644),
                    Entry::Link("s/l", "a"),
                ],
                args: json!({"src": "{root}/s/", "dest": "{root}/n/", "remote_src": true}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    (
                        "n",
                        Some(Node::Dir {
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                        }),
                    ),
                    ("n/a", Some(file("x\n", 0o644))),
                    (
                        "n/l",
                        Some(Node::Link {
                            target: "a".into(),
                            uid: 0,
                        }),
                    ),
                ],
            },
            Case {
                name: "remote_src folder with local_follow false keeps symlinks",
                initial: vec![
                    Entry::Dir("s", 0o755),
                    Entry::File("s/a", "x\n", 0o644),
                    Entry::Link("s/l", "a"),
                    Entry::Dir("k", 0o755),
                ],
                args: json!({"src": "{root}/s/", "dest": "{root}/k", "remote_src": true, "local_follow": false}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    ("k/a", Some(file("x\n", 0o644))),
                    (
                        "k/l",
                        Some(Node::Link {
                            target: "a".into(),
                            uid: 0,
                        }),
                    ),
                ],
            },
            Case {
                name: "remote_src folder already copied with its broken and looping links: unchanged (check mode)",
                initial: vec![
                    Entry::Dir("s", 0o755),
                    Entry::File("s/a", "x\n", 0o644),
                    Entry::Link("s/broken", "nowhere"),
                    Entry::Dir("s/sub", 0o755),
                    Entry::Link("s/sub/circles", "../"),
                    Entry::Dir("d", 0o755),
                    Entry::File("d/a", "x\n", 0o644),
                    Entry::Link("d/broken", "nowhere"),
                    Entry::Dir("d/sub", 0o755),
                    Entry::Link("d/sub/circles", "../"),
                ],
                args: json!({"src": "{root}/s/", "dest": "{root}/d", "remote_src": true}),
                check: true,
                changed: false,
                failed: None,
                keys: json!({}),
                expect: vec![],
            },
            Case {
                name: "remote_src folder already there: unchanged, extra dest files kept",
                initial: vec![
                    Entry::Dir("s", 0o755),
                    Entry::File("s/a", "x\n", 0o644),
                    Entry::Dir("d", 0o755),
                    Entry::File("d/a", "x\n", 0o644),
                    Entry::File("d/extra", "e\n", 0o644),
                ],
                args: json!({"src": "{root}/s/", "dest": "{root}/d", "remote_src": true}),
                check: false,
                changed: false,
                failed: None,
                keys: json!({}),
                expect: vec![("d/extra", Some(file("e\n", 0o644)))],
            },
            Case {
                name: "remote_src folder in check mode: changed, nothing written",
                initial: vec![Entry::Dir("s", 0o755), Entry::File("s/a", "y\n", 0o644)],
                args: json!({"src": "{root}/s/", "dest": "{root}/d", "remote_src": true}),
                check: true,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![("d", None)],
            },
            Case {
                name: "a vaulted source needs the vault secret berth does not hold",
                initial: vec![Entry::File(
                    "ctl/files/v",
                    "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
                    0o644,
                )],
                args: json!({"src": "v", "dest": "{root}/out"}),
                check: false,
                changed: false,
                failed: Some(
                    "A vault password or secret must be specified to decrypt {root}/ctl/files/v",
                ),
                keys: json!({}),
                expect: vec![("out", None)],
            },
            Case {
                name: "decrypt false copies a vaulted file as it is",
                initial: vec![Entry::File(
                    "ctl/files/v",
                    "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
                    0o644,
                )],
                args: json!({"src": "v", "dest": "{root}/out", "decrypt": false, "mode": "0644"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![(
                    "out",
                    Some(file("$ANSIBLE_VAULT;1.1;AES256\n6162\n", 0o644)),
                )],
            },
            Case {
                name: "a remote src that is a device is not copied",
                initial: vec![],
                args: json!({"src": "/dev/null", "dest": "{root}/whocares", "remote_src": true}),
                check: false,
                changed: false,
                failed: Some("Cannot copy invalid source '/dev/null': not a file"),
                keys: json!({}),
                expect: vec![("whocares", None)],
            },
            Case {
                name: "copy's internal parameters are refused",
                initial: vec![],
                args: json!({"content": "irrelevant", "dest": "{root}/f", "_diff_peek": true}),
                check: false,
                changed: false,
                failed: Some("Invalid parameter specified: \"_diff_peek\""),
                keys: json!({}),
                expect: vec![("f", None)],
            },
            Case {
                name: "an empty src is no src",
                initial: vec![],
                args: json!({"src": "", "dest": "{root}/a"}),
                check: false,
                changed: false,
                failed: Some("src (or content) is required"),
                keys: json!({}),
                expect: vec![("a", None)],
            },
            Case {
                name: "missing parent fails like Ansible",
                initial: vec![],
                args: json!({"content": "x", "dest": "{root}/no/a"}),
                check: false,
                changed: false,
                failed: Some("Destination directory {root}/no does not exist"),
                keys: json!({}),
                expect: vec![("no", None)],
            },
            Case {
                name: "validate failure leaves dest alone",
                initial: vec![Entry::File("a", "old", 0o644)],
                args: json!({"content": "bad", "dest": "{root}/a", "validate": "grep -q good %s"}),
                check: false,
                changed: false,
                failed: Some("failed to validate"),
                keys: json!({"exit_status": 1}),
                expect: vec![("a", Some(file("old", 0o644)))],
            },
            Case {
                name: "validate success",
                initial: vec![],
                args: json!({"content": "good", "dest": "{root}/a", "validate": "grep -q good %s"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![("a", Some(file("good", 0o644)))],
            },
            Case {
                name: "remote_src copies a host file",
                initial: vec![Entry::File("src.txt", "remote\n", 0o600)],
                args: json!({"src": "{root}/src.txt", "dest": "{root}/b", "remote_src": true}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"size": 7}),
                expect: vec![
                    ("b", Some(file("remote\n", 0o644))),
                    ("src.txt", Some(file("remote\n", 0o600))),
                ],
            },
            Case {
                name: "owner and group by name and number",
                initial: vec![Entry::File("a", "x", 0o644)],
                args: json!({"content": "x", "dest": "{root}/a", "owner": "nobody", "group": "65534"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({"owner": "nobody", "uid": 65534, "gid": 65534, "group": "nogroup"}),
                expect: vec![(
                    "a",
                    Some(Node::File {
                        mode: 0o644,
                        uid: 65534,
                        gid: 65534,
                        content: b"x".to_vec(),
                    }),
                )],
            },
            Case {
                name: "unknown owner fails",
                initial: vec![],
                args: json!({"content": "x", "dest": "{root}/a", "owner": "no_such_user_x"}),
                check: false,
                changed: false,
                failed: Some("chown failed: failed to look up user no_such_user_x"),
                keys: json!({}),
                expect: vec![("a", None)],
            },
            Case {
                name: "checksum mismatch fails before any write",
                initial: vec![],
                args: json!({"content": "x", "dest": "{root}/a", "checksum": "0000000000000000000000000000000000000000"}),
                check: false,
                changed: false,
                failed: Some("Copied file does not match the expected checksum. Transfer failed."),
                keys: json!({"checksum": "11f6ad8ec52a2984abaafd7c3b516503785c2072"}),
                expect: vec![("a", None)],
            },
            Case {
                name: "checksum match",
                initial: vec![],
                args: json!({"content": "x", "dest": "{root}/a", "checksum": "11f6ad8ec52a2984abaafd7c3b516503785c2072"}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![("a", Some(file("x", 0o644)))],
            },
            Case {
                name: "unknown argument fails",
                initial: vec![],
                args: json!({"content": "x", "dest": "{root}/a", "bogus": 1}),
                check: false,
                changed: false,
                failed: Some("Unsupported parameters for (copy) module: bogus."),
                keys: json!({}),
                expect: vec![("a", None)],
            },
            Case {
                name: "follow writes through a symlink",
                initial: vec![
                    Entry::File("real", "old", 0o644),
                    Entry::Link("lnk", "real"),
                ],
                args: json!({"content": "new", "dest": "{root}/lnk", "follow": true}),
                check: false,
                changed: true,
                failed: None,
                keys: json!({}),
                expect: vec![
                    ("real", Some(file("new", 0o644))),
                    (
                        "lnk",
                        Some(Node::Link {
                            target: "real".into(),
                            uid: 0,
                        }),
                    ),
                ],
            },
        ]
    }

    #[test]
    fn fixture_table() {
        for case in cases() {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &case.initial);
            let before = snapshot(root);
            let run = Run {
                check: case.check,
                search_paths: vec![root.join("ctl")],
                ..Run::default()
            };
            let (out, _) = run_module(run_fn(), &rooted(&case.args, root), &run);
            assert_eq!(out.is_changed(), case.changed, "{}: {out:?}", case.name);
            match case.failed {
                Some(msg) => {
                    let msg = msg.replace("{root}", &root.to_string_lossy());
                    let got = out.result["msg"].as_str().unwrap_or("");
                    assert!(
                        out.is_failed() && got.starts_with(&msg),
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
            assert_eq!(snapshot(root), want, "{}", case.name);
        }
    }

    fn run_fn() -> crate::modules::ModuleFn {
        run
    }

    #[test]
    fn directory_copy_is_two_round_trips_then_one() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut entries = Vec::new();
        let names: Vec<&'static str> = (0..20)
            .map(|i| &*Box::leak(format!("ctl/files/tree/d{}/f{i}.txt", i % 4).into_boxed_str()))
            .collect();
        for n in &names {
            entries.push(Entry::File(n, "data\n", 0o644));
        }
        setup(root, &entries);
        let run_cfg = Run {
            search_paths: vec![root.join("ctl")],
            ..Run::default()
        };
        let args = rooted(&json!({"src": "tree", "dest": "{root}/out/"}), root);
        std::fs::create_dir(root.join("out")).unwrap();
        let (out, calls) = run_module(run, &args, &run_cfg);
        assert!(out.is_changed() && !out.is_failed(), "{out:?}");
        assert_eq!(calls, 2);
        assert_eq!(
            std::fs::read_to_string(root.join("out/tree/d3/f19.txt")).unwrap(),
            "data\n"
        );
        let (again, calls) = run_module(run, &args, &run_cfg);
        assert!(!again.is_changed(), "{again:?}");
        assert_eq!(calls, 1);
        // A dest that does not exist yet is made, parents and all (Ansible).
        let args = rooted(&json!({"src": "tree", "dest": "{root}/new/deeper"}), root);
        let (out, _) = run_module(run, &args, &run_cfg);
        assert!(out.is_changed() && !out.is_failed(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(root.join("new/deeper/tree/d0/f0.txt")).unwrap(),
            "data\n"
        );
    }

    #[test]
    fn unchanged_run_is_one_round_trip_and_diff_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(root, &[Entry::File("a", "one\n", 0o644)]);
        let args = rooted(
            &json!({"content": "two\n", "dest": "{root}/a", "backup": true}),
            root,
        );
        let (out, calls) = run_module(
            run,
            &args,
            &Run {
                diff: true,
                ..Run::default()
            },
        );
        assert!(out.is_changed());
        assert_eq!(calls, 2);
        assert_eq!(out.diffs.len(), 1);
        assert_eq!(out.diffs[0].before, "one\n");
        assert_eq!(out.diffs[0].after, "two\n");
        assert_eq!(
            out.diffs[0].after_header,
            format!("after: {}", args["dest"].as_str().unwrap())
        );
        let backup = out.result["backup_file"].as_str().unwrap();
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "one\n");
        let name = basename(backup);
        let re = regex::Regex::new(r"^a\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$").unwrap();
        assert!(re.is_match(name), "{name}");
        let (again, calls) = run_module(
            run,
            &args,
            &Run {
                diff: true,
                ..Run::default()
            },
        );
        assert!(!again.is_changed());
        assert_eq!(calls, 1);
        // Binary content: the diff is skipped, with Ansible's reason.
        let args = rooted(&json!({"content": "bin\u{0}", "dest": "{root}/a"}), root);
        let (out, _) = run_module(
            run,
            &args,
            &Run {
                diff: true,
                check: true,
                ..Run::default()
            },
        );
        assert!(out.diffs.is_empty());
        assert_eq!(out.result["diff"], json!({"src_binary": 1}));
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(7);
        for i in 0..40 {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let contents = ["", "a\n", "b\n"];
            let modes = [0o600, 0o644, 0o755];
            match g.below(4) {
                0 => {}
                1 | 2 => setup(
                    root,
                    &[Entry::File("t", g.pick::<&str>(&contents), *g.pick(&modes))],
                ),
                _ => setup(
                    root,
                    &[
                        Entry::File("real", g.pick::<&str>(&contents), *g.pick(&modes)),
                        Entry::Link("t", "real"),
                    ],
                ),
            }
            let mut args = json!({"content": g.pick(&contents), "dest": "{root}/t"});
            if g.chance() {
                args["mode"] = json!(*g.pick(&["0644", "u=rwx,go=rx", "go-w", "600"]));
            }
            if g.chance() {
                args["owner"] = json!(*g.pick(&["root", "nobody"]));
            }
            if g.chance() {
                args["follow"] = json!(g.chance());
            }
            let args = rooted(&args, root);
            crate::modules::test_support::assert_check_predicts(
                run,
                root,
                &args,
                &Run::default(),
                &format!("case {i}: {args}"),
            );
        }
    }

    /// Generated `copy` cases through Ansible's own copy: same `changed`,
    /// `failed`, result keys (checksum, size, mode, owner, state, dest) and tree.
    #[test]
    fn differential_against_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut g = Gen::new(41);
        let mut cases = Vec::new();
        for _ in 0..24 {
            let initial = g.below(4);
            let mut args = json!({"content": *g.pick(&["a\n", "b\n", ""]), "dest": *g.pick(&["{root}/t", "{root}/d/t", "{root}/d"])});
            if g.chance() {
                args["mode"] = json!(*g.pick(&["0644", "0600", "u+x", "preserve"]));
            }
            if g.below(3) == 0 {
                args["force"] = json!(false);
            }
            if g.below(4) == 0 {
                args["owner"] = json!("nobody");
            }
            cases.push((initial, args));
        }
        let prepare = |dir: &std::path::Path, initial: usize| match initial {
            0 => setup(dir, &[Entry::Dir("d", 0o755)]),
            1 => setup(
                dir,
                &[Entry::File("t", "a\n", 0o640), Entry::Dir("d", 0o755)],
            ),
            2 => setup(dir, &[Entry::File("d/t", "b\n", 0o600)]),
            _ => {}
        };
        let mut tasks = Vec::new();
        for (i, (initial, args)) in cases.iter().enumerate() {
            for side in ["ansible", "berth"] {
                let dir = root.join(format!("{side}{i}"));
                std::fs::create_dir(&dir).unwrap();
                prepare(&dir, *initial);
            }
            tasks.push(rooted(args, &root.join(format!("ansible{i}"))));
        }
        let Some(expected) = crate::modules::test_support::ansible_results("copy", &tasks, root)
        else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, (initial, args)) in cases.iter().enumerate() {
            let dir = root.join(format!("berth{i}"));
            let (out, _) = run_module(run, &rooted(args, &dir), &Run::default());
            let want = &expected[i];
            let label = format!("case {i}: {args} on initial {initial}");
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
            if !out.is_failed() {
                for key in ["checksum", "size", "mode", "owner", "uid", "state", "dest"] {
                    if let (Some(v), true) = (want.get(key), out.is_changed() || key != "dest") {
                        let v = v
                            .as_str()
                            .map(|s| {
                                Value::from(s.replace(&format!("ansible{i}"), &format!("berth{i}")))
                            })
                            .unwrap_or(v.clone());
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
