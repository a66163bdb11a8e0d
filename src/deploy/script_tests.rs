//! The deploy script of the role app (roles/app/templates/tova.sh.j2),
//! rendered by berth's templar as a playbook would and run here with a
//! temporary root: the port registry under concurrency, releases, secrets
//! and the store of versioned client files. What needs systemd or Caddy
//! (restart, site) is proven on the testbed by the end-to-end suites.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use super::layout::Layout;
use super::release::ReleaseManifest;
use super::remote::Remote;
use crate::playbook::templar::Templar;

struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    Host { root, _dir: dir }
}

impl Host {
    /// The app's script, as the template task installs it.
    fn script(&self, app: &str) -> PathBuf {
        let source = crate::emit::roles::ROLE_FILES
            .iter()
            .find(|(p, _)| *p == "app/templates/tova.sh.j2")
            .unwrap()
            .1;
        let root = self.root.to_string_lossy().into_owned();
        let vars = json!({"tova_root": root, "tova_app": app, "tova_app_dir": format!("{root}/apps/{app}"), "tova_locks": format!("{root}/locks")});
        let text = Templar::new()
            .render_text(source, &Templar::context(vars.as_object().unwrap()))
            .unwrap();
        let path = self.root.join(format!("tova-{app}"));
        std::fs::write(&path, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn app(&self, app: &str) -> PathBuf {
        self.root.join("apps").join(app)
    }
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(script: &Path, args: &[&str], stdin: &str) -> Out {
    let mut child = Command::new(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(script: &Path, args: &[&str], stdin: &str) -> String {
    let o = run(script, args, stdin);
    assert!(o.ok, "{args:?}: {}{}", o.stdout, o.stderr);
    o.stdout
}

fn ports(script: &Path, n: u32) -> Vec<u16> {
    let out = ok(
        script,
        &["ports", &n.to_string(), "x.example.com", "prod"],
        "",
    );
    out.lines()
        .next()
        .unwrap()
        .strip_prefix("ports:")
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn registry(h: &Host) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(h.root.join("registry.json")).unwrap()).unwrap()
}

#[test]
fn ports_are_stable_and_grow_and_shrink() {
    let h = host();
    let (shop, blog, api) = (h.script("shop"), h.script("blog"), h.script("api"));
    assert_eq!(ports(&shop, 2), vec![3000, 3001]);
    assert_eq!(ports(&blog, 1), vec![3002]);
    let again = ok(&shop, &["ports", "2", "x.example.com", "prod"], "");
    assert!(
        !again.contains("allocated"),
        "the same ports are no change: {again}"
    );
    assert_eq!(ports(&shop, 3), vec![3000, 3001, 3003]);
    assert_eq!(ports(&shop, 1), vec![3000]);
    // 3001 and 3003 were given back: the next app takes the lowest free.
    assert_eq!(ports(&api, 2), vec![3001, 3003]);
    // Check mode says what would change and writes nothing.
    let check = ok(&api, &["ports", "3", "x.example.com", "prod", "check"], "");
    assert!(
        check.contains("allocated") && check.starts_with("ports: 3001 3003 3004"),
        "{check}"
    );
    assert_eq!(registry(&h)["apps"]["api"]["ports"], json!([3001, 3003]));
    assert!(ok(&shop, &["set-version", "v4"], "").contains("recorded"));
    assert!(!ok(&shop, &["set-version", "v4"], "").contains("recorded"));
    let reg = registry(&h);
    assert_eq!(reg["apps"]["shop"]["version"], "v4");
    assert_eq!(reg["apps"]["shop"]["domain"], "x.example.com");
    assert_eq!(reg["apps"]["api"]["instances"], 2);
    assert_eq!(reg["next_port"], 3004);
    assert!(ok(&api, &["unregister"], "").contains("tova-step: Release ports 3001 3003"));
    assert!(registry(&h)["apps"].get("api").is_none());
    // The state read sees the registry the script keeps.
    let s = super::state::read(
        &mut Remote::local("local"),
        &Layout::new(h.root.to_str().unwrap()),
        "shop",
    )
    .unwrap();
    assert_eq!(
        (s.ports, s.registry_version.as_deref()),
        (vec![3000], Some("v4"))
    );
}

#[test]
fn concurrent_allocations_never_collide() {
    let h = host();
    // 24 apps, each allocating twice at the same time from its own process
    // (as deploys of two apps to one host would).
    let apps: Vec<(String, u32, PathBuf)> = (0..24)
        .map(|i| {
            (
                format!("app{i}"),
                1 + (i % 3) as u32,
                h.script(&format!("app{i}")),
            )
        })
        .collect();
    let results: Vec<(String, Vec<u16>)> = std::thread::scope(|s| {
        let handles: Vec<_> = apps
            .iter()
            .chain(apps.iter())
            .map(|(app, n, script)| s.spawn(move || (app.clone(), ports(script, *n))))
            .collect();
        handles.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let reg = registry(&h);
    let mut seen = std::collections::BTreeSet::new();
    for (app, n, _) in &apps {
        let got: Vec<u16> = serde_json::from_value(reg["apps"][app]["ports"].clone()).unwrap();
        assert_eq!(got.len(), *n as usize, "{app}");
        for p in &got {
            assert!(seen.insert(*p), "port {p} given twice ({app})");
        }
        for (a, r) in &results {
            if a == app {
                assert_eq!(r, &got, "{app}: both allocations agree with the registry");
            }
        }
    }
    let total: u32 = apps.iter().map(|(_, n, _)| n).sum();
    assert_eq!(
        *seen.iter().last().unwrap() as u32,
        3000 + total - 1,
        "ports are packed from 3000"
    );
}

/// `sha1  path` lines of a folder, sorted by path (what the playbook sends).
fn sums(dir: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let mut lines: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            use sha1::{Digest, Sha1};
            let sum: String = Sha1::digest(std::fs::read(p).unwrap())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (
                p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                sum,
            )
        })
        .collect();
    lines.sort();
    lines.iter().map(|(p, s)| format!("{s}  {p}\n")).collect()
}

/// The playbook's copy to staging: files written whole, by rename.
fn stage(h: &Host, app: &str, bundle: &Path) {
    let staging = h.app(app).join("staging");
    copy_by_rename(bundle, &staging);
}

fn copy_by_rename(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_by_rename(&p, &dest);
        } else {
            let tmp = to.join(".tmp");
            std::fs::copy(&p, &tmp).unwrap();
            std::fs::rename(&tmp, &dest).unwrap();
        }
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn releases_are_whole_reuse_what_is_live_and_roll_back() {
    let h = host();
    let tova = h.script("shop");
    let b = tempfile::tempdir().unwrap();
    write(b.path(), "server.js", "console.log(1)\n");
    write(b.path(), "index.html", "<h1>hi</h1>\n");
    write(b.path(), "public/c/m.js", "export {}\n");
    stage(&h, "shop", b.path());
    // As the command module hands it over: stdin ends with a newline of its own.
    let out = ok(
        &tova,
        &["release", "prod", "100"],
        &format!("{}\n", sums(b.path())),
    );
    assert!(
        out.contains("tova-step: Uploading bundle (3 files sent, 37 B; 0 reused)")
            && out.contains("tova-result: version=v1")
            && out.contains("created v1"),
        "{out}"
    );
    assert!(ok(&tova, &["flip", "v1"], "").contains("tova-step: Setting current → releases/v1"));
    assert_eq!(
        ok(&tova, &["flip", "v1"], ""),
        "",
        "flipping to what is live changes nothing"
    );
    // The same bundle again: no release.
    let out = ok(&tova, &["release", "prod", "101"], &sums(b.path()));
    assert!(
        out.contains("unchanged v1") && !out.contains("created"),
        "{out}"
    );

    // One file changes and one goes: one file sent, the rest linked from the live release.
    write(b.path(), "server.js", "console.log(2)\n");
    std::fs::remove_file(b.path().join("public/c/m.js")).unwrap();
    stage(&h, "shop", b.path());
    let out = ok(&tova, &["release", "prod", "102"], &sums(b.path()));
    assert!(
        out.contains("(1 file sent, 15 B; 1 reused)") && out.contains("created v2"),
        "{out}"
    );
    let app = h.app("shop");
    assert!(
        !app.join("staging/public/c/m.js").exists(),
        "staging holds exactly the bundle"
    );
    assert!(!app.join("releases/v2/public/c/m.js").exists());
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(app.join(p)).unwrap().ino();
    assert_eq!(
        ino("releases/v1/index.html"),
        ino("releases/v2/index.html"),
        "unchanged files are linked from the live release"
    );
    assert_ne!(
        ino("releases/v2/index.html"),
        ino("staging/index.html"),
        "releases never share a file with staging"
    );
    let m: ReleaseManifest = serde_json::from_str(
        &std::fs::read_to_string(app.join("releases/v2/.tova-manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (m.version.as_str(), m.deployed_at, m.files.len()),
        ("v2", 102, 2)
    );
    assert_eq!(
        std::fs::read_to_string(app.join("releases/v1/server.js")).unwrap(),
        "console.log(1)\n",
        "the old release is untouched"
    );
    ok(&tova, &["flip", "v2"], "");
    assert_eq!(
        std::fs::read_link(app.join("previous")).unwrap(),
        Path::new("releases/v1")
    );

    // A release that failed its checks: marked, current goes back.
    write(b.path(), "server.js", "console.log(3)\n");
    stage(&h, "shop", b.path());
    // `-`: the host's clock.
    ok(&tova, &["release", "prod", "-"], &sums(b.path()));
    let m: ReleaseManifest = serde_json::from_str(
        &std::fs::read_to_string(app.join("releases/v3/.tova-manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(m.deployed_at > 1_700_000_000, "{m:?}");
    ok(&tova, &["flip", "v3"], "");
    let out = ok(&tova, &["fail-back", "v3"], "");
    assert!(
        out.contains("tova-result: rolled_back_to=v2") && out.contains("rolled back"),
        "{out}"
    );
    assert!(app.join("releases/v3/.tova-failed").exists());
    assert_eq!(
        std::fs::read_link(app.join("current")).unwrap(),
        Path::new("releases/v2")
    );
    let s = super::state::read(
        &mut Remote::local("local"),
        &Layout::new(h.root.to_str().unwrap()),
        "shop",
    )
    .unwrap();
    assert_eq!(s.rollback_target().as_deref(), Some("v1"));
    assert_eq!(s.failed_releases(), vec!["v3"]);

    // --rollback goes to the newest good release older than current; --to anywhere.
    assert!(ok(&tova, &["rollback"], "").contains("tova-result: version=v1"));
    assert!(!run(&tova, &["rollback"], "").ok, "nothing older than v1");
    assert!(ok(&tova, &["rollback", "v2"], "").contains("current → releases/v2 (was v1)"));
    let bad = run(&tova, &["rollback", "v9"], "");
    assert!(
        !bad.ok && bad.stderr.contains("release v9 does not exist"),
        "{}",
        bad.stderr
    );

    // Pruning keeps KEEP releases, never current or previous.
    for i in 4..=7 {
        write(b.path(), "server.js", &format!("console.log({i})\n"));
        stage(&h, "shop", b.path());
        ok(&tova, &["release", "prod", "200"], &sums(b.path()));
        ok(&tova, &["flip", &format!("v{i}")], "");
    }
    ok(&tova, &["rollback", "v5"], "");
    let out = ok(&tova, &["prune", "2"], "");
    assert!(
        out.contains("tova-step: Pruned v4, v3, v2, v1 (keeping 2)"),
        "{out}"
    );
    let mut left: Vec<String> = std::fs::read_dir(app.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["v5", "v6", "v7"], "v5 is current, v7 previous");

    // A name the release manifest could not carry is refused.
    let bad = run(
        &tova,
        &["release", "prod", "1"],
        "da39a3ee5e6b4b0d3255bfef95601890afd80709  a\"b.js\n",
    );
    assert!(
        !bad.ok && bad.stderr.contains("rename it"),
        "{}",
        bad.stderr
    );
}

#[test]
fn secrets_are_added_never_overwritten_and_private() {
    let h = host();
    let tova = h.script("shop");
    let f = h.app("shop").join(".env.production");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, "DATABASE_URL=postgres://u:p@127.0.0.1/db\nEMPTY=\n").unwrap();
    let out = ok(
        &tova,
        &["env-add"],
        "DATABASE_URL=attacker\nJWT_SECRET=a \"quoted\" $HOME \\ value\nEMPTY=now-set\n",
    );
    assert!(
        out.contains("tova-step: 2 secrets written to .env.production")
            && !out.contains("attacker")
            && !out.contains("quoted"),
        "{out}"
    );
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("DATABASE_URL=postgres://u:p@127.0.0.1/db\n") && !text.contains("attacker"),
        "{text}"
    );
    assert!(
        text.contains("JWT_SECRET=\"a \\\"quoted\\\" \\$HOME \\\\ value\"\n"),
        "{text}"
    );
    assert!(
        text.contains("EMPTY=\"now-set\"\n") && !text.contains("EMPTY=\n"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        ok(&tova, &["env-add"], "JWT_SECRET=other\n"),
        "",
        "present names are no change"
    );
    // env-has says whether a name is set, never its value.
    assert_eq!(
        ok(&tova, &["env-has", "JWT_SECRET"], ""),
        "tova-result: had=yes\n"
    );
    assert_eq!(ok(&tova, &["env-has", "NOPE"], ""), "tova-result: had=no\n");
    assert!(!run(&tova, &["env-has", "BAD NAME"], "").ok);
    // env-set replaces one value.
    assert!(ok(&tova, &["env-set"], "JWT_SECRET=rotated\n").contains("JWT_SECRET updated"));
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("JWT_SECRET=\"rotated\"\n") && !text.contains("quoted"),
        "{text}"
    );
    assert_eq!(
        ok(&tova, &["env-set"], "JWT_SECRET=rotated\n"),
        "",
        "the same value is no change"
    );
    // A value the app did not come up with goes back; a proven one drops the copy of the old file.
    ok(&tova, &["env-set"], "JWT_SECRET=broken\n");
    assert!(ok(&tova, &["env-restore"], "").contains("restored"));
    assert!(std::fs::read_to_string(&f)
        .unwrap()
        .contains("JWT_SECRET=\"rotated\"\n"));
    assert!(
        !h.app("shop").join(".env.production.prev").exists(),
        "no copy of secrets stays behind"
    );
    ok(&tova, &["env-set"], "JWT_SECRET=proven\n");
    ok(&tova, &["env-commit"], "");
    assert!(!h.app("shop").join(".env.production.prev").exists());
    assert!(!run(&tova, &["env-add"], "not a line\n").ok);
    assert!(!run(&tova, &["env-add"], "1X=bad\n").ok);
    let s = super::state::read(
        &mut Remote::local("local"),
        &Layout::new(h.root.to_str().unwrap()),
        "shop",
    )
    .unwrap();
    assert_eq!(s.secret_names, vec!["DATABASE_URL", "EMPTY", "JWT_SECRET"]);
}

fn module(url: &str, path: &str, bytes: &str, src: &str) -> String {
    use sha1::{Digest, Sha1};
    let sum: String = Sha1::digest(bytes.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{url}\t{path}\t{sum}\t{}\t{src}\n", bytes.len())
}

/// A release holding the given files, live.
fn release_with(h: &Host, tova: &Path, files: &[(&str, &str)], at: &str) -> String {
    let b = tempfile::tempdir().unwrap();
    for (p, t) in files {
        write(b.path(), p, t);
    }
    let staging = h.app("shop").join("staging");
    let _ = std::fs::remove_dir_all(&staging);
    stage(h, "shop", b.path());
    let out = ok(tova, &["release", "prod", at], &sums(b.path()));
    let v = out
        .lines()
        .find_map(|l| l.strip_prefix("tova-result: version="))
        .unwrap()
        .to_owned();
    ok(tova, &["flip", &v], "");
    v
}

#[test]
fn the_store_is_additive_immutable_and_pruned_by_age() {
    let h = host();
    let tova = h.script("shop");
    let app = h.app("shop");
    let v1 = release_with(
        &h,
        &tova,
        &[
            ("public/c/cart.js", "cart 1"),
            ("client.1111aaaa2222.js", "client 1"),
        ],
        "1000",
    );
    let m1 = module(
        "/c/cart.js?v=c1",
        "__q/c1/cart.js",
        "cart 1",
        "public/c/cart.js",
    ) + &module(
        "/.tova-out/client.1111aaaa2222.js",
        "__a/client.1111aaaa2222.js",
        "client 1",
        "client.1111aaaa2222.js",
    );
    let out = ok(&tova, &["store-publish", &v1, "1000"], &format!("{m1}\n"));
    assert!(
        out.contains("Publishing versioned client files (2 new, 2 retained)")
            && out.contains("published"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("modules/__a/client.1111aaaa2222.js")).unwrap(),
        "client 1"
    );
    assert!(
        !ok(&tova, &["store-publish", &v1, "1001"], &m1).contains("published"),
        "publishing again adds nothing"
    );

    // v2 replaces both; v1's stay.
    let v2 = release_with(
        &h,
        &tova,
        &[
            ("public/c/cart.js", "cart 2"),
            ("client.3333bbbb4444.js", "client 2"),
        ],
        "2000",
    );
    let m2 = module(
        "/c/cart.js?v=c2",
        "__q/c2/cart.js",
        "cart 2",
        "public/c/cart.js",
    ) + &module(
        "/.tova-out/client.3333bbbb4444.js",
        "__a/client.3333bbbb4444.js",
        "client 2",
        "client.3333bbbb4444.js",
    );
    assert!(ok(&tova, &["store-publish", &v2, "2000"], &m2).contains("(2 new, 4 retained)"));

    // The same URL with other bytes: refused, by the host and across hosts.
    let tampered = module(
        "/c/cart.js?v=c2",
        "__q/c2/cart.js",
        "evil",
        "public/c/cart.js",
    );
    let before = std::fs::read_to_string(app.join("modules.index")).unwrap();
    assert!(!run(&tova, &["store-publish", &v2, "2001"], &tampered).ok);
    assert_eq!(
        std::fs::read_to_string(app.join("modules.index")).unwrap(),
        before,
        "a refused publish writes nothing"
    );
    let list = ok(&tova, &["store-list"], "");
    let hosts: String = list.lines().map(|l| format!("h1\t{l}\n")).collect();
    let bad = run(
        &tova,
        &["store-conflicts"],
        &format!("{tampered}--\n{hosts}"),
    );
    assert!(
        !bad.ok
            && bad.stderr.contains("/c/cart.js?v=c2")
            && bad.stderr.contains("nothing was changed"),
        "{}",
        bad.stderr
    );
    assert!(run(&tova, &["store-conflicts"], &format!("{m2}--\n{hosts}\n")).ok);
    let other: String = list
        .lines()
        .map(|l| {
            format!(
                "h2\t{}\n",
                l.replace(&l.split('\t').nth(2).unwrap().to_string(), &"0".repeat(40))
            )
        })
        .collect();
    assert!(
        !run(&tova, &["store-conflicts"], &format!("--\n{hosts}{other}")).ok,
        "two hosts disagree"
    );

    // Refs: v2 live, v1 previous.
    let refs = ok(&tova, &["store-refs"], "");
    assert!(
        refs.contains("live /c/cart.js?v=c2")
            && !refs.contains("live /c/cart.js?v=c1")
            && refs.contains("protected /c/cart.js?v=c1"),
        "{refs}"
    );

    // Pruning: v1's files get LAST at the first prune; a week later they go
    // only once no host protects them.
    let week = 7 * 86400;
    assert_eq!(
        ok(&tova, &["store-prune", &week.to_string(), "3000"], &refs),
        ""
    );
    assert_eq!(
        ok(
            &tova,
            &[
                "store-prune",
                &week.to_string(),
                &(3000 + week + 1).to_string()
            ],
            &refs
        ),
        "",
        "still protected as the previous release's"
    );
    let live_only: String = refs
        .lines()
        .filter(|l| l.contains("c2") || l.contains("3333"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = ok(
        &tova,
        &[
            "store-prune",
            &week.to_string(),
            &(3000 + week - 1).to_string(),
        ],
        &live_only,
    );
    assert_eq!(out, "", "inside the window nothing goes");
    let out = ok(
        &tova,
        &[
            "store-prune",
            &week.to_string(),
            &(3000 + week + 1).to_string(),
        ],
        &live_only,
    );
    assert!(
        out.contains("tova-result: pruned=/c/cart.js?v=c1")
            && out.contains("pruned=/.tova-out/client.1111aaaa2222.js"),
        "{out}"
    );
    assert!(
        !app.join("modules/__q/c1/cart.js").exists() && app.join("modules/__q/c2/cart.js").exists()
    );
    let st =
        super::store::parse_index(&std::fs::read_to_string(app.join("modules.index")).unwrap());
    assert_eq!(st.len(), 2);

    // A file copied in from another host joins the index when its bytes match.
    write(&app.join("modules"), "__q/c0/cart.js", "cart 0");
    let line = module("/c/cart.js?v=c0", "__q/c0/cart.js", "cart 0", "x");
    let f: Vec<&str> = line.trim_end().split('\t').collect();
    let adopt = format!("{}\t{}\t{}\t{}\t500\t600\tv0\n", f[0], f[1], f[2], f[3]);
    assert!(ok(&tova, &["store-adopt"], &adopt).contains("adopted"));
    assert_eq!(
        ok(&tova, &["store-adopt"], &adopt),
        "",
        "adopting twice adds nothing"
    );
    let wrong = adopt.replace(f[2], &"1".repeat(40)).replace("c0", "c9");
    write(&app.join("modules"), "__q/c9/cart.js", "cart 0");
    assert!(
        !run(&tova, &["store-adopt"], &wrong).ok,
        "other bytes than the source's are refused"
    );
}

/// A store written by berth before modules.index (modules.json) is read into
/// the index on first use.
#[test]
fn an_older_store_index_is_migrated() {
    let h = host();
    let tova = h.script("shop");
    let app = h.app("shop");
    std::fs::create_dir_all(&app).unwrap();
    let old = json!({"versions": {
        "/c/a.js?v=1": {"path": "__q/1/a.js", "sha1": "a".repeat(40), "size": 3, "first": 100, "releases": ["v1", "v2"]},
        "/c/__v/d1/b.js": {"path": "__v/d1/b.js", "sha1": "b".repeat(40), "size": 4, "first": 50, "last": 160, "releases": []},
    }});
    std::fs::write(
        app.join("modules.json"),
        serde_json::to_string_pretty(&old).unwrap() + "\n",
    )
    .unwrap();
    let list = ok(&tova, &["store-list"], "");
    assert_eq!(
        list,
        format!("/c/__v/d1/b.js\t__v/d1/b.js\t{}\t4\t50\t160\t-\n/c/a.js?v=1\t__q/1/a.js\t{}\t3\t100\t-\tv1,v2\n", "b".repeat(40), "a".repeat(40))
    );
    assert!(!app.join("modules.json").exists() && app.join("modules.index").exists());
}

#[test]
fn archive_keeps_everything() {
    let h = host();
    let tova = h.script("shop");
    let app = h.app("shop");
    write(&app, "data/db.sqlite", "rows");
    write(&app, ".env.production", "A=1\n");
    let out = ok(&tova, &["archive"], "");
    let dest = out
        .lines()
        .find_map(|l| l.strip_prefix("tova-result: archive="))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("{dest}/app/data/db.sqlite")).unwrap(),
        "rows"
    );
    assert!(!app.exists());
    // Nothing deployed (only the script's folder): nothing archived.
    std::fs::create_dir_all(app.join("bin")).unwrap();
    assert!(ok(&tova, &["archive"], "").contains("nothing to archive"));
}

#[test]
fn a_release_takes_the_fleets_next_number() {
    let h = host();
    let tova = h.script("shop");
    let b = tempfile::tempdir().unwrap();
    write(b.path(), "server.js", "console.log(1)\n");
    stage(&h, "shop", b.path());
    assert_eq!(ok(&tova, &["newest"], ""), "0\n");
    // A fresh host in a fleet whose newest release is v6: this one is v7 too.
    assert!(ok(&tova, &["release", "prod", "-", "7"], &sums(b.path())).contains("created v7"));
    assert_eq!(ok(&tova, &["newest"], ""), "7\n");
    // The host's own count wins when it is ahead.
    write(b.path(), "server.js", "console.log(2)\n");
    stage(&h, "shop", b.path());
    assert!(ok(&tova, &["release", "prod", "-", "2"], &sums(b.path())).contains("created v8"));
}

#[test]
fn one_deploy_holds_the_lock_and_only_a_dead_or_named_holder_loses_it() {
    let h = host();
    let t = h.script("shop");
    let other = h.script("blog");
    assert_eq!(
        ok(
            &t,
            &["lock-acquire", "r1", "berth deploy by ann@ctl (pid 10)"],
            ""
        ),
        "locked\n"
    );
    // The same run again (a retried task): still its own.
    assert_eq!(
        ok(
            &t,
            &["lock-acquire", "r1", "berth deploy by ann@ctl (pid 10)"],
            ""
        ),
        "held\n"
    );
    // Another app on the host has its own lock.
    assert_eq!(
        ok(&other, &["lock-acquire", "r9", "someone"], ""),
        "locked\n"
    );
    let o = run(
        &t,
        &["lock-acquire", "r2", "berth deploy by bob@ctl (pid 20)"],
        "",
    );
    assert!(!o.ok, "{}", o.stdout);
    assert!(o.stderr.starts_with("another deploy of shop is running on this host: berth deploy by ann@ctl (pid 10), for "), "{}", o.stderr);
    assert!(o.stderr.contains("--break-lock"), "{}", o.stderr);
    // Naming another holder than the one there does not take it.
    assert!(
        !run(
            &t,
            &[
                "lock-acquire",
                "r2",
                "bob",
                "berth deploy by zed@ctl (pid 30)"
            ],
            ""
        )
        .ok
    );
    // Releasing with another run's id does nothing.
    assert_eq!(ok(&t, &["lock-release", "r2"], ""), "");
    assert!(!run(&t, &["lock-acquire", "r2", "bob"], "").ok);
    // The named (dead) holder is taken over, and says so.
    let out = ok(
        &t,
        &[
            "lock-acquire",
            "r2",
            "bob",
            "berth deploy by ann@ctl (pid 10)",
        ],
        "",
    );
    assert!(
        out.contains("Took over the deploy lock of berth deploy by ann@ctl (pid 10)")
            && out.ends_with("locked\n"),
        "{out}"
    );
    // `break` takes it from anyone.
    let out = ok(&t, &["lock-acquire", "r3", "cy", "break"], "");
    assert!(
        out.contains("Took over the deploy lock of bob") && out.ends_with("locked\n"),
        "{out}"
    );
    assert_eq!(ok(&t, &["lock-release", "r3"], ""), "released\n");
    assert_eq!(ok(&t, &["lock-acquire", "r4", "dee"], ""), "locked\n");
    // A lock older than an hour belongs to a controller that vanished.
    std::fs::write(h.root.join("locks/shop/since"), "1\n").unwrap();
    let out = ok(&t, &["lock-acquire", "r5", "eve"], "");
    assert!(
        out.contains("Took over the deploy lock of dee") && out.ends_with("locked\n"),
        "{out}"
    );
    assert_eq!(ok(&other, &["lock-release", "r9"], ""), "released\n");
}
