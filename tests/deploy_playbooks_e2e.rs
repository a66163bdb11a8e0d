//! What runs is what was reviewed, end to end on a fresh testbed host:
//! `ansible-playbook` runs the compiled, committed playbooks of the
//! fullstack example and deploys it (no lock-in); `berth deploy` then finds
//! nothing to change; after a berth deploy, ansible-playbook changes
//! nothing; a rollback through ansible-playbook works. Every command berth
//! sends to the host while deploying, rolling back, pruning and removing is
//! recorded (`BERTH_RECORD`) and must come from a task of the committed
//! playbooks, or be one of the driver's named reads.
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it the scenario prints SKIPPED and returns.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

const HTML: &str = "Accept: text/html";

/// ansible-playbook on the project's compiled output, with the testbed's key.
fn ansible(b: &Bed, dir: &Path, playbook: &str, extra: &[&str]) -> Output {
    Command::new("ansible-playbook")
        .current_dir(dir)
        .args([
            "-i",
            "inventory/prod.yml",
            playbook,
            "--private-key",
            &b.key,
        ])
        .args([
            "-e",
            &format!(
                "ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'",
                b.known
            ),
        ])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(extra)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_PIPELINING", "True")
        .output()
        .expect("ansible-playbook (test.sh installs ansible-core)")
}

/// The host's line of ansible-playbook's recap: (ok, changed, failed).
fn recap(out: &Output, addr: &str) -> (u32, u32, u32) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(addr) && l.contains(" : ok="))
        .unwrap_or_else(|| panic!("no recap for {addr}:\n{}", text));
    let n = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    (n("ok"), n("changed"), n("failed"))
}

/// The release the fullstack app reports through Caddy.
fn release(addr: &str) -> String {
    let a = until_status(addr, "fullstack.test", "/api/message", &[], 200);
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    v["release"].as_str().unwrap().to_owned()
}

/// Commands of a recording: (origin, command) per line for `addr`.
fn recorded(path: &Path, addr: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // Hosts are recorded as the connection names them: `user@address:port`.
        .filter(|v| {
            v["host"]
                .as_str()
                .map(|h| h.rsplit_once(':').map_or(h, |(a, _)| a))
                .map(|h| h.rsplit('@').next().unwrap_or(h))
                == Some(addr)
        })
        .map(|v| {
            (
                v["origin"].as_str().unwrap().to_owned(),
                v["command"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The driver's own reads, by name: everything else must be a task.
const READS: &[&str] = &["read reading the app's state"];

fn only_playbook_tasks(path: &Path, addr: &str, project: &Path, what: &str) -> usize {
    let records = recorded(path, addr);
    let roles = project.join("roles").canonicalize().unwrap();
    let playbooks = project.join("playbooks").canonicalize().unwrap();
    let mut tasks = 0;
    for (origin, command) in &records {
        if READS.contains(&origin.as_str()) {
            continue;
        }
        let file = origin
            .strip_prefix("task ")
            .and_then(|t| t.split(':').next())
            .unwrap_or_else(|| {
                panic!("{what}: a command not from a task or a named read ({origin}):\n{command}")
            });
        let file = Path::new(file).canonicalize().unwrap();
        assert!(
            file.starts_with(&roles) || file.starts_with(&playbooks),
            "{what}: a task outside the committed output: {origin}"
        );
        tasks += 1;
    }
    tasks
}

#[test]
fn the_committed_playbooks_are_the_deploy() {
    let b = need_bed!();
    let _l = lock();
    let (name, addr) = b.hosts[1].clone();
    // A fresh host: the testbed's disks are volatile, so a power cycle makes it bare.
    let _reboot = Reboot(b.hosts.len());
    let k = Command::new(BIN)
        .args(["testbed", "kill", &name])
        .output()
        .unwrap();
    assert!(k.status.success(), "{}", text(&k));
    let up = Command::new(BIN)
        .args(["testbed", "up", &b.hosts.len().to_string(), "--inventory"])
        .arg(std::env::var("BERTH_TESTBED_INVENTORY").unwrap())
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        !ssh(&b, &addr, "test -e /opt/tova").status.success(),
        "the host is not fresh"
    );

    let dir = example("fullstack");
    let d = dir.path();
    let src = d.join("src/app.tova");
    std::fs::write(
        &src,
        std::fs::read_to_string(&src)
            .unwrap()
            .replace("root@10.213.7.11", &format!("root@{addr}")),
    )
    .unwrap();
    let o = Command::new(BIN).arg("compile").arg(d).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // 1. ansible-playbook deploys the app from the committed output alone.
    let o = ansible(&b, d, "playbooks/prod.yml", &[]);
    assert!(o.status.success(), "ansible-playbook:\n{}", text(&o));
    let (_, _, failed) = recap(&o, &addr);
    assert_eq!(failed, 0);
    let page = until_status(&addr, "fullstack.test", "/", &["-H", HTML], 200);
    assert!(page.body.contains("/.tova-out/client."), "{page:?}");
    assert_eq!(release(&addr), "v1");

    // 2. berth finds nothing to change, and sends only its reads.
    let rec = d.join("record.jsonl");
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--yes", "--json"],
        &[("BERTH_RECORD", rec.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["changed"], 0, "{}", text(&o));
    assert_eq!(
        only_playbook_tasks(&rec, &addr, d, "a deploy with no change"),
        0
    );
    // The whole playbook through berth's runner, every layer: it changes nothing either.
    std::fs::remove_file(rec.as_path()).ok();
    let unit = "cat /etc/systemd/system/tova-fullstack@.service";
    let before = ssh_ok(&b, &addr, unit);
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--yes", "--json", "--full"],
        &[("BERTH_RECORD", rec.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", text(&o));
    let after = ssh_ok(&b, &addr, unit);
    assert_eq!(json(&o)["changed"], 0, "berth's runner changed what ansible-playbook had deployed:\n{}\nunit by ansible-playbook:\n{before}\nunit by berth:\n{after}", text(&o));
    let n = only_playbook_tasks(&rec, &addr, d, "a full deploy with no change");
    assert!(n > 20, "{n} commands: {:?}", recorded(&rec, &addr));

    // 3. A new build, deployed by berth: every command a task of the committed playbooks.
    let client = std::fs::read_dir(d.join(".tova-out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("client.") && !n.ends_with(".min.js"))
        .unwrap();
    let out = d.join(".tova-out");
    std::fs::write(out.join("client.0a1b2c3d4e5f.js"), "// rebuilt\n").unwrap();
    for page in ["index.html", "200.html", "404.html"] {
        let p = out.join(page);
        std::fs::write(
            &p,
            std::fs::read_to_string(&p)
                .unwrap()
                .replace(&client, "client.0a1b2c3d4e5f.js"),
        )
        .unwrap();
    }
    std::fs::remove_file(rec.as_path()).ok();
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--yes", "--json"],
        &[("BERTH_RECORD", rec.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["hosts"][0]["version"], "v2");
    assert!(only_playbook_tasks(&rec, &addr, d, "a deploy") > 5);
    assert_eq!(release(&addr), "v2");

    // 4. ansible-playbook after berth: nothing to change.
    let o = ansible(&b, d, "playbooks/prod.yml", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        recap(&o, &addr).1,
        0,
        "ansible-playbook changed something berth had deployed:\n{}",
        text(&o)
    );

    // 5. A rollback through ansible-playbook, then berth's own, recorded.
    let o = ansible(&b, d, "playbooks/prod.rollback.yml", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(release(&addr), "v1");
    assert_eq!(
        ssh_ok(&b, &addr, "readlink /opt/tova/apps/fullstack/current").trim(),
        "releases/v1"
    );
    std::fs::remove_file(rec.as_path()).ok();
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--rollback", "--to", "v2"],
        &[("BERTH_RECORD", rec.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(release(&addr), "v2");
    assert!(only_playbook_tasks(&rec, &addr, d, "a rollback") > 0);

    // 6. Pruning and removal, recorded the same way.
    for args in [
        &["deploy", "prod", "--prune-modules"][..],
        &["deploy", "prod", "--remove", "--yes"],
    ] {
        std::fs::remove_file(rec.as_path()).ok();
        let o = berth(&b, d, args, &[("BERTH_RECORD", rec.to_str().unwrap())]);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(only_playbook_tasks(&rec, &addr, d, &args.join(" ")) > 0);
    }
    ssh_ok(
        &b,
        &addr,
        "! test -e /opt/tova/apps/fullstack && ls /opt/tova/archive/fullstack/",
    );
}
