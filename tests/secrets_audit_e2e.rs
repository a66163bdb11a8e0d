//! Secrets never leak: one app deployed with secrets from every source —
//! a no-echo prompt on a terminal, `--secrets-file`, the environment, and
//! `berth env prod set` — then every surface searched for the values:
//! stdout and stderr at every `-v` level, `--json`, `--plan`, a failed
//! deploy's errors, `--status`, `--logs`, `env list`, the git hook's output,
//! `berth run --diff -vvvv` of the committed playbook with a new secret (the
//! secrets role's loop and registered results), BERTH_RECORD's log of every
//! command sent, the committed files, every file berth leaves on the
//! controller, and the host's files and journal other than `.env.production`.
//! Goal: 0 hits.
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it the scenario prints SKIPPED and returns.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

const APP: &str = "vault";

fn blocks(extra: &str) -> String {
    format!(
        "security {{ auth jwt {{ secret: env(\"JWT_SECRET\") }} }}\nserver {{\n  route GET \"/healthz\" => fn() {{ \"ok\" }}\n  route GET \"/keys\" => fn() {{ [env(\"API_KEY\"), env(\"STRIPE_KEY\"){extra}].length }}\n}}\n"
    )
}

/// Every file under `dir` (not following links), with its bytes.
fn files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files(&e.path(), out);
        } else if t.is_file() {
            out.push((e.path(), std::fs::read(e.path()).unwrap_or_default()));
        }
    }
}

struct Audit {
    needles: Vec<String>,
    surfaces: Vec<(String, String)>,
}

impl Audit {
    fn saw(&mut self, what: &str, text: String) {
        self.surfaces.push((what.to_owned(), text));
    }

    fn hits(&self) -> Vec<String> {
        let mut hits = Vec::new();
        for (what, text) in &self.surfaces {
            for n in &self.needles {
                if text.contains(n.as_str()) {
                    hits.push(format!("{what}: contains {n}"));
                }
            }
        }
        hits
    }
}

/// `berth ARGS` on a terminal (script(1)), answering each secret prompt
/// once it shows (typed earlier, the terminal would echo it).
fn on_terminal(
    b: &Bed,
    dir: &Path,
    args: &[&str],
    envs: &[(&str, String)],
    answers: &[(&str, &str)],
) -> (bool, String) {
    let mut cmd = vec![BIN.to_owned()];
    cmd.extend(args.iter().map(|a| a.to_string()));
    cmd.extend([
        "-C".into(),
        dir.display().to_string(),
        "--private-key".into(),
        b.key.clone(),
        "--known-hosts".into(),
        b.known.clone(),
        "--host-key-checking".into(),
        "strict".into(),
    ]);
    let line = cmd
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut pending: Vec<(String, String)> = answers
        .iter()
        .map(|(p, a)| (format!("{p}: "), a.to_string()))
        .collect();
    let mut buf = [0u8; 4096];
    loop {
        let n = stdout.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        let so_far = String::from_utf8_lossy(&seen).into_owned();
        if let Some(i) = pending
            .iter()
            .position(|(p, _)| so_far.contains(p.as_str()))
        {
            let (_, answer) = pending.remove(i);
            std::thread::sleep(Duration::from_millis(200));
            stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        pending.is_empty(),
        "never prompted for {pending:?}:\n{}",
        String::from_utf8_lossy(&seen)
    );
    (
        status.success(),
        format!("{}{err}", String::from_utf8_lossy(&seen)),
    )
}

#[test]
fn no_secret_value_reaches_any_surface() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[0].1.clone();
    forget_app(&b, &[&addr], APP);
    let tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            ^ u128::from(std::process::id())
    );
    // Each value: a distinctive core (searched for) and shell-hostile rest.
    let prompted = format!("jwtPROMPT{tag}");
    let from_file = format!("apiFILE{tag}");
    let from_env = format!("stripeENV{tag}");
    let rotated = format!("rotatedSET{tag}");
    let fresh = format!("newRUN{tag}");
    let mut audit = Audit {
        needles: vec![
            prompted.clone(),
            from_file.clone(),
            from_env.clone(),
            rotated.clone(),
            fresh.clone(),
        ],
        surfaces: Vec::new(),
    };

    let dir = project(APP, &[&addr], &blocks(""), "", "");
    let d = dir.path();
    // The controller's home and temporary folder are the test's: whatever
    // berth writes there is searched.
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("record.log");
    let secrets_dir = tempfile::tempdir().unwrap();
    let secrets_file = secrets_dir.path().join("prod.secrets");
    std::fs::write(
        &secrets_file,
        format!("API_KEY=\"{from_file} $(touch /tmp/x) `id` 'q'\"\n"),
    )
    .unwrap();
    let envs = vec![
        ("HOME", home.path().display().to_string()),
        ("TMPDIR", tmp.path().display().to_string()),
        ("BERTH_RECORD", record.display().to_string()),
        ("BERTH_SECRET_STRIPE_KEY", format!("{from_env}'s \"key\"")),
    ];
    let run = |args: &[&str]| {
        let mut c = berth_cmd(&b, d, args);
        for (k, v) in &envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let sf = secrets_file.display().to_string();

    // The plan, with every value available.
    let o = run(&["deploy", "prod", "--plan", "--secrets-file", &sf]);
    audit.saw("deploy --plan", text(&o));

    // First deploy on a terminal: JWT_SECRET prompted, API_KEY from the
    // file, STRIPE_KEY from the environment; -vvv.
    let (ok1, out) = on_terminal(
        &b,
        d,
        &["-vvv", "deploy", "prod", "--yes", "--secrets-file", &sf],
        &envs,
        &[("JWT_SECRET", &format!("{prompted}$HOME\"`"))],
    );
    assert!(ok1, "{out}");
    audit.saw("deploy -vvv on a terminal", out);
    let names = ssh_ok(
        &b,
        &addr,
        &format!("cut -d= -f1 /opt/tova/apps/{APP}/.env.production | sort | tr '\\n' ' '"),
    );
    assert!(
        names.contains("API_KEY") && names.contains("JWT_SECRET") && names.contains("STRIPE_KEY"),
        "{names}"
    );
    for v in [&prompted, &from_file, &from_env] {
        assert!(
            ssh(
                &b,
                &addr,
                &format!("grep -qF '{v}' /opt/tova/apps/{APP}/.env.production")
            )
            .status
            .success(),
            "{v} did not reach .env.production"
        );
    }

    // Redeploys at the other verbosity levels, and --json.
    for (i, v) in ["", "-v", "-vv", "-vvvv"].iter().enumerate() {
        touch_bundle(d, i + 1);
        let mut args = vec![];
        if !v.is_empty() {
            args.push(*v);
        }
        args.extend(["deploy", "prod", "--yes", "--json", "--secrets-file", &sf]);
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        audit.saw(&format!("deploy {v} --json"), text(&o));
    }

    // A value rotated with env set, at -vvvv.
    let o = run(&[
        "-vvvv",
        "env",
        "prod",
        "set",
        &format!("API_KEY={rotated} $(id) \"x\""),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    audit.saw("env set -vvvv", text(&o));
    assert!(ssh(
        &b,
        &addr,
        &format!("grep -qF '{rotated}' /opt/tova/apps/{APP}/.env.production")
    )
    .status
    .success());
    assert!(
        !ssh(
            &b,
            &addr,
            &format!("test -e /opt/tova/apps/{APP}/.env.production.prev")
        )
        .status
        .success(),
        "the copy of the old values outlived env set"
    );
    let o = run(&["env", "prod", "list"]);
    audit.saw("env list", text(&o));

    // A deploy that fails its health check and rolls back: its errors.
    let server = d.join(".tova-out/server.js");
    let src = std::fs::read_to_string(&server).unwrap();
    std::fs::write(
        &server,
        src.replace(
            "if (url === \"/healthz\") return",
            "if (url === \"/healthz\" && false) return",
        ),
    )
    .unwrap();
    let o = run(&["-vvv", "deploy", "prod", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    audit.saw("failed deploy -vvv", text(&o));
    std::fs::write(&server, &src).unwrap();
    for args in [
        &["deploy", "prod", "--status"][..],
        &["deploy", "prod", "--logs", "--no-follow"],
        &["deploy", "prod", "--status", "--json"],
    ] {
        let o = run(args);
        audit.saw(&args.join(" "), text(&o));
    }

    // The git hook's output.
    let git = |args: &[&str]| {
        let o = git_cmd(d, &b)
            .args(args)
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
        text(&o)
    };
    std::fs::write(d.join(".gitignore"), "").unwrap();
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "app"]);
    let o = run(&["deploy", "prod", "--setup-git"]);
    assert!(o.status.success(), "{}", text(&o));
    audit.saw("deploy --setup-git", text(&o));
    touch_bundle(d, 9);
    git(&["commit", "-qam", "change"]);
    let out = git(&["push", "-q", "prod", "main"]);
    assert!(out.contains("Live at"), "{out}");
    audit.saw("git push (the hook's output)", out);

    // The committed playbook under `berth run --diff -vvvv`, adding a
    // secret the app now reads: the secrets role's loop and its results.
    let o = write_project(d, APP, &[&addr], &blocks(", env(\"NEW_TOKEN\")"), "", "");
    assert!(o.status.success(), "{}", text(&o));
    let extra = secrets_dir.path().join("extra.json");
    std::fs::write(
        &extra,
        serde_json::json!({"tova_secrets": {"NEW_TOKEN": format!("{fresh} \"$(id)\"")}})
            .to_string(),
    )
    .unwrap();
    let mut c = Command::new(BIN);
    c.current_dir(d)
        .args([
            "-vvvv",
            "run",
            "playbooks/prod.yml",
            "-i",
            "inventory/prod.yml",
            "--diff",
            "--private-key",
            &b.key,
            "--known-hosts",
            &b.known,
        ])
        .arg("-e")
        .arg(format!("@{}", extra.display()));
    for (k, v) in &envs {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    audit.saw("run playbooks/prod.yml --diff -vvvv", text(&o));
    let o = {
        let mut c = Command::new(BIN);
        c.current_dir(d)
            .args([
                "run",
                "playbooks/prod.yml",
                "-i",
                "inventory/prod.yml",
                "--diff",
                "--json",
                "--private-key",
                &b.key,
                "--known-hosts",
                &b.known,
            ])
            .arg("-e")
            .arg(format!("@{}", extra.display()));
        c.output().unwrap()
    };
    audit.saw("run playbooks/prod.yml --diff --json", text(&o));
    assert!(
        ssh(
            &b,
            &addr,
            &format!("grep -qF '{fresh}' /opt/tova/apps/{APP}/.env.production")
        )
        .status
        .success(),
        "NEW_TOKEN did not reach .env.production"
    );

    // Every file on the controller: the project (committed files and all
    // berth writes there), the home, the temporary folder, the record.
    let mut found = Vec::new();
    for root in [d, home.path(), tmp.path()] {
        files(root, &mut found);
    }
    assert!(
        found.iter().any(|(p, _)| p == &record),
        "BERTH_RECORD wrote nothing"
    );
    for (p, bytes) in found {
        audit.saw(
            &format!("controller file {}", p.display()),
            String::from_utf8_lossy(&bytes).into_owned(),
        );
    }

    // The host: every file outside .env.production, and the whole journal.
    let pattern: String = audit.needles.iter().map(|n| format!(" -e '{n}'")).collect();
    let o = ssh(&b, &addr, &format!(
        "grep -rlF{pattern} /opt /etc /var /tmp /root /home /srv /run /usr/local 2>/dev/null | grep -vx '/opt/tova/apps/{APP}/.env.production' || true"
    ));
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        listed.trim().is_empty(),
        "host files holding a value: {listed}"
    );
    let o = ssh(
        &b,
        &addr,
        &format!("journalctl --no-pager -o cat | grep -cF{pattern} || true"),
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "0",
        "journal lines holding a value"
    );

    let hits = audit.hits();
    eprintln!(
        "secrets audit: {} surfaces searched for {} values, {} hits",
        audit.surfaces.len(),
        audit.needles.len(),
        hits.len()
    );
    assert!(hits.is_empty(), "{}", hits.join("\n"));
    ok(&run(&["deploy", "prod", "--remove", "--yes"]));
}
