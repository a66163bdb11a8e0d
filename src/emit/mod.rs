//! Emit: writes roles/, playbooks/<env>.yml and inventory/<env>.yml from manifests.
//!
//! The output is byte-for-byte deterministic: roles are the same bytes for
//! every app, playbooks and inventories depend only on the manifests (sorted
//! by env), never on file order, hash seeds or time.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::manifest::model::Manifest;

pub(crate) mod inventory;
pub(crate) mod layers;
pub(crate) mod playbook;
pub(crate) mod roles;
pub(crate) mod writer;
pub(crate) mod yaml_out;

#[cfg(test)]
mod tests;

use writer::Writer;

#[derive(Debug, clap::Args)]
pub(crate) struct CompileArgs {
    /// Project directory holding the .tova files.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Write nothing; print a diff of what would change and exit 1 if stale.
    #[arg(long)]
    pub(crate) check: bool,
    /// Where roles/, playbooks/ and inventory/ go [default: the project directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn main(args: CompileArgs) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let out = args.out.clone().unwrap_or_else(|| args.dir.clone());
    run(
        &args.dir,
        &out,
        args.check,
        load_manifests,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
}

/// The project folder as playbooks compiled into it name it.
pub(crate) const PROJECT_DIR: &str = "{{ playbook_dir }}/..";

/// The project directory as the compiled playbooks find it: relative to
/// their own folder, so the output can move with the project.
pub(crate) fn project_dir_var(project: &Path, out: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (project, out) = (abs(project), abs(out));
    if project == out {
        return PROJECT_DIR.to_owned();
    }
    let p: Vec<_> = project.components().collect();
    let o: Vec<_> = out.components().collect();
    let common = p.iter().zip(&o).take_while(|(a, b)| a == b).count();
    let mut rel: Vec<String> = o[common..].iter().map(|_| "..".to_owned()).collect();
    rel.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    format!("{{{{ playbook_dir }}}}/../{}", rel.join("/"))
}

/// The front end's entry: every deploy block of the project in `dir`, as
/// manifests (warnings are printed, errors returned).
fn load_manifests(dir: &Path) -> Result<Vec<Manifest>, Vec<Diagnostic>> {
    let project = crate::manifest::project::load_project(dir)?;
    for w in &project.warnings {
        eprint!("{w}");
    }
    if project.manifests.is_empty() {
        return Err(vec![Diagnostic::error("B0600", format!("no deploy block found in the .tova files under {}", dir.display()))
            .hint("add a `deploy \"prod\" { server: \"root@host\" domain: \"example.com\" }` block to one of the app's .tova files")]);
    }
    Ok(project.manifests.into_values().collect())
}

/// `berth compile` with its loader and output streams injected: 0 when the
/// output was written (or is current under `--check`), 1 when stale under
/// `--check` or on errors.
pub(crate) fn run(
    dir: &Path,
    out_dir: &Path,
    check: bool,
    load: impl FnOnce(&Path) -> Result<Vec<Manifest>, Vec<Diagnostic>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let manifests = match load(dir) {
        Ok(m) => m,
        Err(diags) => return report(err, &diags),
    };
    let mut files = match compile(&manifests, &project_dir_var(dir, out_dir)) {
        Ok(f) => f,
        Err(diags) => return report(err, &diags),
    };
    keep_own_ansible_cfg(&mut files, out_dir, err);
    let result = if check {
        check_dir(&files, out_dir, out, err)
    } else {
        write_dir(&files, out_dir, err)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(
                err,
                "error[B0605]: cannot write the compiled output under {}: {e}",
                dir.display()
            );
            1
        }
    }
}

/// An ansible.cfg the project wrote itself is never replaced; it is only
/// checked to name the roles folder.
fn keep_own_ansible_cfg(files: &mut Writer, out_dir: &Path, err: &mut dyn Write) {
    let path = out_dir.join(ANSIBLE_CFG);
    let Ok(own) = std::fs::read(&path) else {
        return;
    };
    if writer::is_generated(&own) {
        return;
    }
    files.files.remove(ANSIBLE_CFG);
    let cfg = crate::runner::ansible_cfg::parse(&String::from_utf8_lossy(&own), out_dir);
    let roles = out_dir.join("roles");
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if !cfg.roles_path.iter().any(|p| abs(p) == abs(&roles)) {
        let d = Diagnostic::warning("B0606", format!("{} is the project's own and does not list `roles` in roles_path", path.display()))
            .hint("add `roles_path = roles` under [defaults], so ansible-playbook run from the project folder finds the roles");
        let _ = write!(err, "{d}");
    }
}

fn report(err: &mut dyn Write, diags: &[Diagnostic]) -> i32 {
    for d in diags {
        let _ = write!(err, "{d}");
    }
    if diags.iter().any(Diagnostic::is_error) {
        1
    } else {
        0
    }
}

fn check_dir(
    files: &Writer,
    dir: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let changes = files.changes(dir)?;
    if changes.is_empty() {
        writeln!(
            err,
            "berth compile --check: {} generated files are up to date",
            files.files.len()
        )?;
        return Ok(0);
    }
    out.write_all(files.diff(dir, &changes)?.as_bytes())?;
    writeln!(
        err,
        "berth compile --check: {} generated files are stale ({} new, {} changed, {} to remove); run `berth compile {}` and commit the result",
        changes.count(),
        changes.added.len(),
        changes.modified.len(),
        changes.removed.len(),
        dir.display()
    )?;
    Ok(1)
}

fn write_dir(files: &Writer, dir: &Path, err: &mut dyn Write) -> std::io::Result<i32> {
    let changes = files.write(dir)?;
    if changes.is_empty() {
        writeln!(
            err,
            "berth compile: {} generated files are up to date",
            files.files.len()
        )?;
    } else {
        writeln!(
            err,
            "berth compile: {} new, {} changed, {} removed ({} generated files)",
            changes.added.len(),
            changes.modified.len(),
            changes.removed.len(),
            files.files.len()
        )?;
    }
    Ok(0)
}

/// Every generated file for the project's manifests (one per deploy block);
/// `project_dir` is how the playbooks name the project folder.
pub(crate) fn compile(
    manifests: &[Manifest],
    project_dir: &str,
) -> Result<Writer, Vec<Diagnostic>> {
    let mut sorted: Vec<&Manifest> = manifests.iter().collect();
    sorted.sort_by(|a, b| a.env.cmp(&b.env).then_with(|| a.app.cmp(&b.app)));
    let diags = validate(&sorted);
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut files = Writer::default();
    if sorted.is_empty() {
        return Ok(files);
    }
    for (path, bytes) in roles::role_files() {
        files.add(path, bytes);
    }
    files.add(ANSIBLE_CFG, with_header(ANSIBLE_CFG, ANSIBLE_CFG_BODY));
    for m in sorted {
        for (path, body) in playbook::playbooks(m, project_dir) {
            files.add(path.clone(), with_header(&path, &body));
        }
        let inventory = format!("inventory/{}.yml", m.env);
        files.add(
            inventory.clone(),
            with_header(&inventory, &inventory::inventory_yaml(m)),
        );
    }
    Ok(files)
}

/// Where ansible-playbook (and ansible-lint) find the roles when run from
/// the project folder: `ansible-playbook -i inventory/prod.yml playbooks/prod.yml`.
pub(crate) const ANSIBLE_CFG: &str = "ansible.cfg";
const ANSIBLE_CFG_BODY: &str =
    "[defaults]\n# The roles the playbooks import (relative to this file).\nroles_path = roles\n";

fn with_header(path: &str, body: &str) -> Vec<u8> {
    let mut text = roles::header(path);
    text.push_str(body);
    text.into_bytes()
}

/// What the emitter relies on and the front end should already have refused:
/// names that become paths, one deploy block per env, data files inside the project.
fn validate(manifests: &[&Manifest]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    for (i, m) in manifests.iter().enumerate() {
        if !name_ok(&m.app) {
            diags.push(
                Diagnostic::error(
                    "B0601",
                    format!("app name `{}` cannot name files and services", m.app),
                )
                .hint("use lowercase letters, digits and `-` in `app:`"),
            );
        }
        if !name_ok(&m.env) {
            diags.push(
                Diagnostic::error("B0601", format!("deploy block name `{}` cannot name a playbook file", m.env))
                    .hint("name deploy blocks with lowercase letters, digits, `-` and `_`, e.g. deploy \"prod\""),
            );
        }
        if i > 0 && manifests[i - 1].env == m.env {
            diags.push(
                Diagnostic::error("B0602", format!("two deploy blocks are named `{}`", m.env))
                    .hint("give every deploy block its own name"),
            );
        }
        if m.servers.is_empty() {
            diags.push(
                Diagnostic::error("B0604", format!("deploy block `{}` has no server", m.env))
                    .hint("add `server: \"user@host\"` to the deploy block"),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &m.servers {
            if !seen.insert((s.host.clone(), s.port.unwrap_or(22))) {
                diags.push(
                    Diagnostic::error(
                        "B0604",
                        format!("deploy block `{}` lists server {} twice", m.env, s.host),
                    )
                    .hint("list every server once"),
                );
            }
        }
        for f in &m.data_files {
            if f.path.starts_with('/') || f.path.split('/').any(|s| s == "..") {
                diags.push(
                    Diagnostic::error("B0603", format!("data file `{}` ({}) is outside the project", f.name, f.path))
                        .hint("keep data files inside the project folder and read them with a relative path"),
                );
            }
        }
    }
    diags
}
