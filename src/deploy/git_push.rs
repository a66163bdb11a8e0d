//! `--setup-git` (seed 003 §6): a bare repository on the server whose
//! pre-receive hook refuses branches other than the deploy block's `branch`
//! and whose post-receive hook checks the pushed tree out and runs the same
//! `berth deploy` (on the server itself, `--local`), so a push compiles,
//! deploys and rolls back exactly like the CLI. The berth binary running
//! this command is uploaded to the server for the hook.

use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::manifest::model::Manifest;

use super::remote::q;
use super::target::{self, ConnectOpts};
use super::ui::Ui;
use super::workflow::Loaded;

pub(crate) fn pre_receive(m: &Manifest) -> String {
    format!(
        r#"#!/bin/sh
# Managed by berth (--setup-git): only branch {branch} deploys "{env}".
status=0
while read -r old new ref; do
  case "$ref" in
    refs/heads/{branch}) ;;
    *) echo "[tova] refusing $ref: this repository deploys only branch {branch} (deploy \"{env}\")"; status=1 ;;
  esac
done
exit $status
"#,
        branch = m.branch,
        env = m.env
    )
}

pub(crate) fn post_receive(m: &Manifest, berth: &str) -> String {
    format!(
        r#"#!/bin/sh
# Managed by berth (--setup-git): a push to {branch} deploys "{env}" with the same code path as `berth deploy {env}`.
set -u
zero=0000000000000000000000000000000000000000
while read -r old new ref; do
  [ "$ref" = "refs/heads/{branch}" ] || continue
  [ "$new" = "$zero" ] && continue
  echo "[tova] Received push to {branch}"
  work=$(mktemp -d /tmp/tova-push.XXXXXX)
  git archive "$new" | tar -x -C "$work"
  echo "[tova] Compiling .tova files and deploying..."
  (cd "$work" && {berth} deploy {env} --dir "$work" --local --yes 2>&1) | sed 's/^/[tova] /'
  rm -rf "$work"
done
exit 0
"#,
        branch = m.branch,
        env = m.env,
        berth = q(berth)
    )
}

pub(crate) fn setup(loaded: &Loaded, c: &ConnectOpts, ui: Arc<Ui>) -> i32 {
    match setup_inner(loaded, c, &ui) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn setup_inner(loaded: &Loaded, c: &ConnectOpts, ui: &Ui) -> Result<(), String> {
    let m = &loaded.manifest;
    let targets = target::targets(m, c);
    let [t] = targets.as_slice() else {
        return Err(format!("git push deploys need one server; deploy \"{}\" has {} (use `berth deploy {}` for fleets)", m.env, targets.len(), m.env));
    };
    ui.line(&format!("  Setting up git deployment on {}...", t.label));
    let mut remote = target::connect(t, c)?;
    let app_dir = c.layout.app_dir(&m.app);
    let repo = format!("{app_dir}/repo.git");
    let berth = format!("{}/bin/berth", c.layout.root);

    remote.run(
        "installing git",
        "command -v git >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null; }; }\ncommand -v git >/dev/null\n",
        None,
    )?;
    ui.step("", "git is installed", true);

    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running berth binary: {e}"))?;
    let bytes = std::fs::read(&exe).map_err(|e| format!("cannot read {}: {e}", exe.display()))?;
    let sum: String = Sha1::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let have = remote.run("checking the berth binary", &format!("sha1sum {} 2>/dev/null | cut -d' ' -f1", q(&berth)), None)?;
    if have.trim() != sum {
        remote.run(
            "uploading the berth binary",
            &format!("set -eu\nmkdir -p {dir}\ncat > {b}.tmp\nchmod 0755 {b}.tmp\nmv -f {b}.tmp {b}\n", dir = q(&format!("{}/bin", c.layout.root)), b = q(&berth)),
            Some(&bytes),
        )?;
    }
    ui.step("", &format!("berth installed at {berth}"), true);

    let script = format!(
        "set -eu\nmkdir -p {app}\n[ -d {repo}/objects ] || git init -q --bare {repo}\ncat > {repo}/hooks/pre-receive.tmp <<'BERTH_PRE'\n{pre}BERTH_PRE\ncat > {repo}/hooks/post-receive.tmp <<'BERTH_POST'\n{post}BERTH_POST\nchmod 0755 {repo}/hooks/pre-receive.tmp {repo}/hooks/post-receive.tmp\nmv -f {repo}/hooks/pre-receive.tmp {repo}/hooks/pre-receive\nmv -f {repo}/hooks/post-receive.tmp {repo}/hooks/post-receive\n",
        app = q(&app_dir),
        repo = q(&repo),
        pre = pre_receive(m),
        post = post_receive(m, &berth)
    );
    remote.run("creating the repository", &script, None)?;
    ui.step("", &format!("Creating bare repo at {repo}"), true);
    ui.step("", "Installing pre-receive and post-receive hooks", true);

    let url = format!("ssh://{}@{}:{}{repo}", t.ssh.user, t.ssh.host, t.ssh.port);
    let git = |args: &[&str]| std::process::Command::new("git").arg("-C").arg(&loaded.dir).args(args).output();
    match git(&["rev-parse", "--git-dir"]) {
        Ok(o) if o.status.success() => {
            let exists = git(&["remote", "get-url", &m.env]).map(|o| o.status.success()).unwrap_or(false);
            let r = if exists { git(&["remote", "set-url", &m.env, &url]) } else { git(&["remote", "add", &m.env, &url]) };
            match r {
                Ok(o) if o.status.success() => ui.step("", &format!("Adding git remote \"{}\" to local project", m.env), true),
                _ => ui.step("", &format!("Adding git remote \"{}\" ({url})", m.env), false),
            }
        }
        _ => ui.line(&format!("    → the project is not a git repository: add the remote yourself: git remote add {} {url}", m.env)),
    }
    ui.line(&format!("\n  Done. You can now deploy with:\n    git push {} {}", m.env, m.branch));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_refuse_other_branches_and_deploy_the_configured_one() {
        let m = crate::deploy::test_support::manifest("server { }\ndeploy \"prod\" {\n  server: \"root@h\"\n  domain: \"a.example.com\"\n  branch: \"release\"\n}\n");
        let dir = tempfile::tempdir().unwrap();
        let hook = dir.path().join("pre-receive");
        std::fs::write(&hook, pre_receive(&m)).unwrap();
        let run = |input: &str| {
            let mut child = std::process::Command::new("/bin/sh")
                .arg(&hook)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        };
        assert!(run("a b refs/heads/release\n").status.success());
        let out = run("a b refs/heads/main\n");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("deploys only branch release"));
        let post = post_receive(&m, "/opt/tova/bin/berth");
        assert!(post.contains("refs/heads/release") && post.contains("deploy prod --dir \"$work\" --local --yes"));
    }
}
