//! `berth deploy` end to end on real booted Debian hosts: the built binary
//! deploys small apps (the todo example's bundle, in projects laid out as
//! Tova lays them out) through the compiled playbooks to `berth testbed up
//! 3` hosts, with systemd, Caddy, PostgreSQL and Redis from the testbed's
//! mirror, and every check looks at the hosts themselves (through Caddy,
//! systemd, the filesystem).
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it every scenario prints SKIPPED and returns. The
//! scenarios share the hosts, so they run one at a time.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

const RICH: &str = r#"
security { auth jwt { secret: env("JWT_SECRET") } }
server {
  db { driver: "postgres", url: env("DATABASE_URL") }
  route GET "/healthz" => fn() { "ok" }
  ws { on_message: fn(s, m) { s.send(m) } }
}
"#;

const PLAIN: &str = "server {\n  route GET \"/healthz\" => fn() { \"ok\" }\n}\n";

/// 1. Bare hosts → the rich app on every host; a redeploy with no change is
///    changed=0; a bundle-only change skips every provisioning layer.
#[test]
fn s1_rich_app_on_every_host_and_noop_redeploy() {
    let b = need_bed!();
    let _l = lock();
    let addrs: Vec<&str> = b.hosts.iter().map(|(_, a)| a.as_str()).collect();
    let dir = project(
        "todo",
        &addrs,
        RICH,
        "  instances: 2\n  env { NODE_ENV: \"production\" }\n  db { redis { } }\n",
        "",
    );
    let secret = "jwt-e2e-3f9c1d";
    // Hosts that had the app before (an earlier run): it is taken off them
    // by hand, its database kept, as `--remove` leaves it.
    forget_app(&b, &addrs, "todo");

    // Missing secret: a clear error naming it, before anything changes.
    let fresh = ssh(&b, addrs[0], "test -e /opt/tova/apps/todo/current")
        .status
        .success();
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes"], &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("missing secrets: JWT_SECRET")
            && text(&o).contains("nothing was changed"),
        "{}",
        text(&o)
    );
    if !fresh {
        assert!(
            !ssh(&b, addrs[0], "test -e /opt/tova/apps/todo/releases")
                .status
                .success(),
            "a refused deploy changed the host"
        );
    }

    let started = Instant::now();
    let o = berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--yes", "--json"],
        &[("BERTH_SECRET_JWT_SECRET", secret)],
    );
    let first = started.elapsed();
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(!all.contains(secret), "the secret value was printed");
    let j = json(&o);
    assert_eq!(j["ok"], true);
    assert_eq!(j["hosts"].as_array().unwrap().len(), 3);
    let version = j["hosts"][0]["version"].as_str().unwrap().to_owned();

    for addr in &addrs {
        let mut ports = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let v = answer(addr, "todo.test");
            assert_eq!(v["app"], "todo");
            assert_eq!(v["release"], version.as_str());
            for k in ["DATABASE_URL", "REDIS_URL", "JWT_SECRET"] {
                assert!(
                    v["configured"].as_array().unwrap().iter().any(|c| c == k),
                    "{k} not configured on {addr}: {v}"
                );
            }
            ports.insert(v["port"].as_u64().unwrap());
        }
        assert_eq!(
            ports.len(),
            2,
            "Caddy round-robins over both instances on {addr}"
        );
        // WebSocket upgrade through Caddy.
        let ws = Command::new("curl")
            .args([
                "-sk",
                "--http1.1",
                "-i",
                "--max-time",
                "5",
                "--resolve",
                &format!("todo.test:443:{addr}"),
            ])
            .args([
                "-H",
                "Connection: Upgrade",
                "-H",
                "Upgrade: websocket",
                "-H",
                "Sec-WebSocket-Version: 13",
                "-H",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            ])
            .arg("https://todo.test/ws")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&ws.stdout).contains("101 Switching Protocols"),
            "ws on {addr}: {}",
            text(&ws)
        );
        let st = ssh_ok(&b, addr, "stat -c '%a %U' /opt/tova/apps/todo/.env.production; ufw status | head -1; systemctl is-active postgresql redis-server caddy");
        assert!(
            st.starts_with("600 tova\nStatus: active\nactive\nactive\nactive"),
            "{addr}: {st}"
        );
        let db = ssh_ok(&b, addr, "runuser -u postgres -- psql -tAc \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'todo_db'\"");
        assert_eq!(db.trim(), "tova_todo");
    }

    // Nothing changed: no release, changed=0, no layer runs.
    let started = Instant::now();
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    let noop = started.elapsed();
    let j = json(&o);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(j["changed"], 0, "{j}");
    for h in j["hosts"].as_array().unwrap() {
        assert_eq!(h["outcome"], "unchanged");
        assert_eq!(h["version"], version.as_str());
    }

    let out = ok(&berth(&b, dir.path(), &["deploy", "prod", "--plan"], &[]));
    assert!(
        out.contains("Deploy plan for \"prod\"")
            && out.contains(&format!("No changes since {version}: nothing to deploy")),
        "{out}"
    );

    // Only the bundle changed: infrastructure skipped (no system/databases tasks).
    touch_bundle(dir.path(), 1);
    let out = ok(&berth(&b, dir.path(), &["deploy", "prod", "--plan"], &[]));
    assert!(
        out.contains(&format!("Changed since {version}: app bundle (1 file)")),
        "{out}"
    );
    assert!(
        out.contains("No changes from last deploy: system, database"),
        "{out}"
    );
    let started = Instant::now();
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes"], &[]);
    let app_only = started.elapsed();
    let out = ok(&o);
    assert!(
        out.contains("Infrastructure: no changes") && out.contains("App: 1 file changed"),
        "{out}"
    );
    assert!(
        !out.contains("system :") && !out.contains("databases :"),
        "{out}"
    );
    assert!(
        out.contains("1 file sent") && out.contains("reused"),
        "{out}"
    );
    for addr in &addrs {
        serves(addr, "todo.test", &next(&version));
    }
    eprintln!("timing: first deploy of 3 hosts {first:.1?}, no-op redeploy {noop:.1?}, bundle-only redeploy {app_only:.1?}");
}

/// 2. Two apps on one host: own ports, DB users and Caddy files; concurrent
///    deploys of both, repeated 20 times, never collide.
#[test]
fn s2_two_apps_on_one_host_deploy_concurrently() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[0].1.clone();
    let blocks =
        "server {\n  db { driver: \"postgres\" }\n  route GET \"/healthz\" => fn() { \"ok\" }\n}\n";
    let alpha = project("alpha", &[&addr], blocks, "  instances: 2\n", "");
    let beta = project("beta", &[&addr], blocks, "  instances: 1\n", "");
    let both = |round: usize| {
        let spawn = |d: &Path| {
            berth_cmd(&b, d, &["deploy", "prod", "--yes", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (pa, pb) = (spawn(alpha.path()), spawn(beta.path()));
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        assert!(oa.status.success(), "round {round} alpha:\n{}", text(&oa));
        assert!(ob.status.success(), "round {round} beta:\n{}", text(&ob));
        (
            json(&oa)["hosts"][0]["version"]
                .as_str()
                .unwrap()
                .to_owned(),
            json(&ob)["hosts"][0]["version"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    both(0);
    let registry = |b: &Bed| -> Value {
        serde_json::from_str(&ssh_ok(b, &addr, "cat /opt/tova/registry.json")).unwrap()
    };
    let reg = registry(&b);
    let ports = |reg: &Value, app: &str| -> Vec<u64> {
        reg["apps"][app]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect()
    };
    let (pa, pb) = (ports(&reg, "alpha"), ports(&reg, "beta"));
    assert_eq!((pa.len(), pb.len()), (2, 1));
    assert!(
        pa.iter().all(|p| !pb.contains(p)),
        "ports collide: {pa:?} {pb:?}"
    );
    let owners = ssh_ok(&b, &addr, "runuser -u postgres -- psql -tAc \"SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database WHERE datname IN ('alpha_db', 'beta_db') ORDER BY 1\"");
    assert_eq!(owners.trim(), "alpha_db=tova_alpha\nbeta_db=tova_beta");
    ssh_ok(
        &b,
        &addr,
        "test -f /opt/tova/caddy/apps/alpha.caddy && test -f /opt/tova/caddy/apps/beta.caddy",
    );
    for round in 1..=20 {
        touch_bundle(alpha.path(), round);
        touch_bundle(beta.path(), round);
        let (va, vb) = both(round);
        serves(&addr, "alpha.test", &va);
        serves(&addr, "beta.test", &vb);
        let reg = registry(&b);
        assert_eq!(
            ports(&reg, "alpha"),
            pa,
            "round {round}: alpha's ports moved"
        );
        assert_eq!(ports(&reg, "beta"), pb, "round {round}: beta's ports moved");
        assert_eq!(reg["apps"]["alpha"]["version"], va.as_str());
        assert_eq!(reg["apps"]["beta"]["version"], vb.as_str());
    }
    // keep_releases (default 5) bounds what stays on disk.
    let n = ssh_ok(&b, &addr, "ls -d /opt/tova/apps/alpha/releases/v* | wc -l");
    assert!(n.trim().parse::<u32>().unwrap() <= 6, "{n}");
}

/// 3. A release whose health check fails is rolled back; the old release
///    keeps serving; `--status` tells.
#[test]
fn s3_failed_health_check_rolls_back() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[1].1.clone();
    let dir = project("flaky", &[&addr], PLAIN, "  instances: 2\n", "");
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    ok(&o);
    let good = json(&o)["hosts"][0]["version"].as_str().unwrap().to_owned();
    serves(&addr, "flaky.test", &good);

    let server = dir.path().join(".tova-out/server.js");
    let src = std::fs::read_to_string(&server).unwrap();
    let broken = src.replace(
        "if (url === \"/healthz\") return",
        "if (url === \"/healthz\" && false) return",
    );
    assert_ne!(broken, src, "the bundle's health route moved");
    std::fs::write(&server, broken).unwrap();
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("Deploy failed. Rolled back to {good}")),
        "{out}"
    );
    let j = json(&o);
    assert_eq!(j["hosts"][0]["outcome"], "rolled_back");
    let bad = j["hosts"][0]["failed_release"].as_str().unwrap().to_owned();
    serves(&addr, "flaky.test", &good);
    assert_eq!(
        ssh_ok(&b, &addr, "readlink /opt/tova/apps/flaky/current").trim(),
        format!("releases/{good}")
    );
    ssh_ok(
        &b,
        &addr,
        &format!("test -d /opt/tova/apps/flaky/releases/{bad}"),
    );

    let o = berth(&b, dir.path(), &["deploy", "prod", "--status"], &[]);
    let out = ok(&o);
    assert!(
        out.contains(&format!("running ({good})")) && out.contains("2/2 healthy"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("  Failed:") && l.contains(&bad)),
        "{out}"
    );
    let o = berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--status", "--json"],
        &[],
    );
    let j = json(&o);
    assert_eq!(j["hosts"][0]["current"], good.as_str());
    assert!(
        j["hosts"][0]["failed_releases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == bad.as_str()),
        "{j}"
    );
    // Restore: the next good deploy goes live.
    std::fs::write(&server, src).unwrap();
    touch_bundle(dir.path(), 9);
    ok(&berth(&b, dir.path(), &["deploy", "prod", "--yes"], &[]));
}

/// 4. --rollback, --status, --logs, --list, env list/set, --remove.
#[test]
fn s4_rollback_status_logs_list_env_remove() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[2].1.clone();
    let blocks = "server {\n  route GET \"/healthz\" => fn() { env(\"API_KEY\") }\n}\n";
    let dir = project("ops", &[&addr], blocks, "", "");
    forget_app(&b, &[&addr], "ops");
    let o = berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--yes", "--json"],
        &[("BERTH_SECRET_API_KEY", "k1-secret")],
    );
    ok(&o);
    let v1 = json(&o)["hosts"][0]["version"].as_str().unwrap().to_owned();
    touch_bundle(dir.path(), 2);
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    ok(&o);
    let v2 = json(&o)["hosts"][0]["version"].as_str().unwrap().to_owned();
    serves(&addr, "ops.test", &v2);

    let out = ok(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--rollback"],
        &[],
    ));
    assert!(
        out.contains(&format!("current → releases/{v1} (was {v2})"))
            && out.contains(&format!("Rolled back to {v1}")),
        "{out}"
    );
    serves(&addr, "ops.test", &v1);
    let out = ok(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--rollback", "--to", &v2],
        &[],
    ));
    assert!(out.contains(&format!("Rolled back to {v2}")), "{out}");
    serves(&addr, "ops.test", &v2);
    assert!(!berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--rollback", "--to", "v99"],
        &[]
    )
    .status
    .success());

    let j = json(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--status", "--json"],
        &[],
    ));
    assert_eq!(j["hosts"][0]["current"], v2.as_str());
    assert_eq!(j["hosts"][0]["healthy"], 1);

    let out = ok(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--logs", "--no-follow"],
        &[],
    ));
    assert!(
        out.contains(&format!("ops {v2} listening on 127.0.0.1:")),
        "{out}"
    );
    let out = ok(&berth(
        &b,
        dir.path(),
        &[
            "deploy",
            "prod",
            "--logs",
            "--no-follow",
            "--instance",
            "1",
            "--since",
            "1 hour ago",
        ],
        &[],
    ));
    assert!(out.contains("listening on"), "{out}");

    // --logs streams (journalctl -f over the ssh client) until it is stopped.
    let mut follow = berth_cmd(&b, dir.path(), &["deploy", "prod", "--logs"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    let mut seen = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while !seen.contains("listening on") && Instant::now() < end {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(
        follow.try_wait().unwrap().is_none(),
        "--logs stopped by itself:\n{seen}"
    );
    follow.kill().unwrap();
    let _ = follow.wait();
    assert!(seen.contains("listening on"), "{seen}");

    let o = berth(
        &b,
        dir.path(),
        &[
            "deploy",
            "--list",
            "--server",
            &format!("root@{addr}"),
            "--json",
        ],
        &[],
    );
    let j = json(&o);
    let ops = j["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == "ops")
        .unwrap_or_else(|| panic!("{j}"))
        .clone();
    assert_eq!(ops["version"], v2.as_str());
    assert_eq!(ops["running"], 1);
    let out = ok(&berth(
        &b,
        dir.path(),
        &["deploy", "--list", "--server", &format!("root@{addr}")],
        &[],
    ));
    assert!(
        out.contains("ops") && out.contains("ops.test") && out.contains("● running"),
        "{out}"
    );

    let out = ok(&berth(&b, dir.path(), &["env", "prod", "list"], &[]));
    assert!(
        out.contains("API_KEY (required)") && !out.contains("k1-secret"),
        "{out}"
    );
    let out = ok(&berth(
        &b,
        dir.path(),
        &["env", "prod", "set", "API_KEY=k2-rotated"],
        &[],
    ));
    assert!(
        out.contains("API_KEY updated") && !out.contains("k2-rotated"),
        "{out}"
    );
    assert_eq!(
        ssh_ok(
            &b,
            &addr,
            "grep -c '^API_KEY=\"k2-rotated\"$' /opt/tova/apps/ops/.env.production"
        )
        .trim(),
        "1"
    );
    assert_eq!(
        ssh_ok(
            &b,
            &addr,
            "grep -c k1-secret /opt/tova/apps/ops/.env.production || true"
        )
        .trim(),
        "0"
    );

    ssh_ok(
        &b,
        &addr,
        "echo precious > /opt/tova/apps/ops/data/keep.txt",
    );
    assert!(
        !berth(&b, dir.path(), &["deploy", "prod", "--remove"], &[])
            .status
            .success(),
        "--remove without --yes and no terminal must refuse"
    );
    let out = ok(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--remove", "--yes"],
        &[],
    ));
    assert!(out.contains("Removed (data archived"), "{out}");
    let archived = ssh_ok(&b, &addr, "cat /opt/tova/archive/ops/*/app/data/keep.txt");
    assert_eq!(archived.trim(), "precious");
    ssh_ok(&b, &addr, "! test -e /opt/tova/apps/ops && ! test -e /opt/tova/caddy/apps/ops.caddy && ! test -e /etc/systemd/system/tova-ops@.service");
    let reg: Value =
        serde_json::from_str(&ssh_ok(&b, &addr, "cat /opt/tova/registry.json")).unwrap();
    assert!(reg["apps"].get("ops").is_none(), "{reg}");
}

/// 6. A 3-host fleet in one batch with a 34% failure budget (Ansible's
///    max_fail_percentage over the batch); one host is killed mid-rollout: the
///    others finish, the recap is true, and the next deploy repairs the killed
///    host.
#[test]
fn s6_fleet_survives_a_host_killed_mid_rollout() {
    killed_at("wide", "Uploading bundle");
}

/// 6, with the power lost between the flip and the restart.
#[test]
fn s6_killed_after_the_flip() {
    killed_at("wideflip", "Setting current");
}

/// 6, with the power lost as the restart begins (the new release just
/// answered on its spare port).
#[test]
fn s6_killed_during_the_restart() {
    killed_at("widerestart", "on a spare port");
}

fn killed_at(app: &str, step: &str) {
    let b = need_bed!();
    let _l = lock();
    let addrs: Vec<&str> = b.hosts.iter().map(|(_, a)| a.as_str()).collect();
    let (victim_name, victim) = b.hosts[1].clone();
    forget_app(&b, &addrs, app);
    let dir = project(app, &addrs, PLAIN, "", "rolling = 3\nmax_fail = \"34%\"\n");
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    ok(&o);
    let v1 = json(&o)["hosts"][0]["version"].as_str().unwrap().to_owned();

    touch_bundle(dir.path(), 1);
    // Whatever happens below, the killed host boots again for the scenarios after this one.
    let _reboot = Reboot(b.hosts.len());
    let mut child = berth_cmd(&b, dir.path(), &["deploy", "prod", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if !killed && line.contains(&format!("[root@{victim}]")) && line.contains(step) {
            let k = Command::new(BIN)
                .args(["testbed", "kill", &victim_name])
                .output()
                .unwrap();
            assert!(k.status.success(), "testbed kill: {}", text(&k));
            killed = true;
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let out = lines.join("\n");
    assert!(killed, "the victim's step {step:?} never showed:\n{out}");
    assert_eq!(status.code(), Some(2), "{out}");
    let v2 = next(&v1);
    // The recap: the other two hosts run v2, the killed one failed.
    for addr in [addrs[0], addrs[2]] {
        assert!(
            out.lines().any(|l| l.contains(&format!("root@{addr} "))
                && l.contains(&v2)
                && l.contains("✓ deployed")),
            "{addr}:\n{out}"
        );
        serves(addr, &format!("{app}.test"), &v2);
    }
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("root@{victim} ")) && l.contains("✗ failed")),
        "{out}"
    );

    // Boot it again (its disk is volatile: it comes back bare) and redeploy: repaired.
    let up = Command::new(BIN)
        .args(["testbed", "up", &b.hosts.len().to_string(), "--inventory"])
        .arg(std::env::var("BERTH_TESTBED_INVENTORY").unwrap())
        .output()
        .unwrap();
    assert!(up.status.success(), "testbed up: {}", text(&up));
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    ok(&o);
    let j = json(&o);
    for h in j["hosts"].as_array().unwrap() {
        assert!(
            h["outcome"] == "deployed" || h["outcome"] == "unchanged",
            "{j}"
        );
    }
    let current = ssh_ok(
        &b,
        &victim,
        &format!("readlink /opt/tova/apps/{app}/current"),
    );
    assert!(current.trim().starts_with("releases/v"), "{current}");
    ssh_ok(
        &b,
        &victim,
        &format!("test -f /opt/tova/apps/{app}/current/server.js"),
    );
    let v = answer(&victim, &format!("{app}.test"));
    assert_eq!(v["app"], app);
    ok(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--remove", "--yes"],
        &[],
    ));
}

fn git(dir: &Path, args: &[&str], b: &Bed) -> Output {
    git_cmd(dir, b).args(args).output().unwrap()
}

/// 5. `--setup-git`, a push to the deploy branch deploys (and rolls back a
///    release whose health check fails), a push to another branch is refused.
#[test]
fn s5_git_push_deploys_and_other_branches_are_refused() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[2].1.clone();
    let dir = project("pushy", &[&addr], PLAIN, "  branch: \"main\"\n", "");
    let d = dir.path();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &["commit", "-q", "-m", "app"],
    ] {
        let o = git(d, args, &b);
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
    }
    let out = ok(&berth(&b, d, &["deploy", "prod", "--setup-git"], &[]));
    assert!(
        out.contains("git push prod main") && out.contains("repo.git"),
        "{out}"
    );
    assert!(git(d, &["remote", "get-url", "prod"], &b).status.success());

    let o = git(d, &["push", "-q", "prod", "main"], &b);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("[tova] Received push to main") && out.contains("Live at https://pushy.test"),
        "{out}"
    );
    let live = answer(&addr, "pushy.test");
    let v1 = live["release"].as_str().unwrap().to_owned();

    // A broken release: the push is stored, the deploy rolls back.
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
    assert!(git(d, &["commit", "-qam", "broken health"], &b)
        .status
        .success());
    let o = git(d, &["push", "-q", "prod", "main"], &b);
    let out = text(&o);
    assert!(o.status.success(), "the push itself succeeds: {out}");
    assert!(
        out.contains(&format!("Deploy failed. Rolled back to {v1}")),
        "{out}"
    );
    serves(&addr, "pushy.test", &v1);

    // Another branch: refused, nothing deployed.
    let o = git(d, &["push", "-q", "prod", "main:feature"], &b);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("deploys only branch main"), "{out}");
    serves(&addr, "pushy.test", &v1);
    ok(&berth(&b, d, &["deploy", "prod", "--remove", "--yes"], &[]));
}

/// 6b. The same rollout with one host's link cut mid-deploy (its disk
/// survives): the others finish, the cut host's `current` is a whole
/// release (the old or the new one, never a half-written one), it keeps
/// serving, and the next deploy completes it.
#[test]
fn s6b_partitioned_host_keeps_a_whole_release_and_is_repaired() {
    cut_at("cut", "Uploading bundle");
}

/// 6b, with the link cut between the flip and the restart.
#[test]
fn s6b_cut_after_the_flip() {
    cut_at("cutflip", "Setting current");
}

/// 6b, with the link cut as the restart begins.
#[test]
fn s6b_cut_during_the_restart() {
    cut_at("cutrestart", "on a spare port");
}

fn cut_at(app: &str, step: &str) {
    let b = need_bed!();
    let _l = lock();
    let addrs: Vec<&str> = b.hosts.iter().map(|(_, a)| a.as_str()).collect();
    let (victim_name, victim) = b.hosts[2].clone();
    forget_app(&b, &addrs, app);
    let dir = project(app, &addrs, PLAIN, "", "rolling = 1\nmax_fail = \"34%\"\n");
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    ok(&o);
    let v1 = json(&o)["hosts"][2]["version"].as_str().unwrap().to_owned();

    touch_bundle(dir.path(), 1);
    let _heal = Heal(victim_name.clone());
    let mut child = berth_cmd(&b, dir.path(), &["deploy", "prod", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut cut = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if !cut && line.contains(&format!("[root@{victim}]")) && line.contains(step) {
            let k = Command::new(BIN)
                .args(["testbed", "partition", &victim_name])
                .output()
                .unwrap();
            assert!(k.status.success(), "testbed partition: {}", text(&k));
            cut = true;
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    let heal = Command::new(BIN)
        .args(["testbed", "heal", &victim_name])
        .output()
        .unwrap();
    assert!(heal.status.success(), "testbed heal: {}", text(&heal));
    let out = lines.join("\n");
    assert!(cut, "the victim's step {step:?} never showed:\n{out}");
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("root@{victim} ")) && l.contains("✗ failed")),
        "{out}"
    );

    // Whatever moment the link went: current is a whole release.
    let current = ssh_ok(
        &b,
        &victim,
        &format!("readlink /opt/tova/apps/{app}/current"),
    );
    let live = current
        .trim()
        .strip_prefix("releases/")
        .unwrap_or_else(|| panic!("current is {current}"))
        .to_owned();
    assert!(live == v1 || live == next(&v1), "current is {live}");
    let manifest: Value = serde_json::from_str(&ssh_ok(
        &b,
        &victim,
        &format!("cat /opt/tova/apps/{app}/current/.tova-manifest.json"),
    ))
    .unwrap();
    assert_eq!(manifest["version"], live.as_str());
    let files = manifest["files"].as_object().unwrap();
    let sums: String = files
        .iter()
        .map(|(p, f)| format!("{}  {p}\n", f["sha1"].as_str().unwrap()))
        .collect();
    let check = ssh(
        &b,
        &victim,
        &format!(
            "cd /opt/tova/apps/{app}/current && printf '%s' '{sums}' | sha1sum --quiet --strict -c"
        ),
    );
    assert!(
        check.status.success(),
        "the live release is not whole: {}",
        text(&check)
    );
    let served = answer(&victim, &format!("{app}.test"));
    assert!(
        served["release"] == v1.as_str() || served["release"] == next(&v1).as_str(),
        "{served}"
    );

    // The next deploy completes the host.
    let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
    ok(&o);
    let j = json(&o);
    let h = &j["hosts"][2];
    let now = h["version"].as_str().unwrap().to_owned();
    serves(&victim, &format!("{app}.test"), &now);
    let manifest: Value = serde_json::from_str(&ssh_ok(
        &b,
        &victim,
        &format!("cat /opt/tova/apps/{app}/current/.tova-manifest.json"),
    ))
    .unwrap();
    assert!(
        manifest["files"]
            .as_object()
            .unwrap()
            .contains_key("public/build.txt"),
        "the new bundle is live on the repaired host"
    );
    ok(&berth(
        &b,
        dir.path(),
        &["deploy", "prod", "--remove", "--yes"],
        &[],
    ));
}
