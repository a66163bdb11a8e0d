//! Tova's own project shapes, end to end on a booted testbed host: the
//! `examples/` fullstack app (server routes, RPC, a browser app with
//! client-side routes and a SQLite file), api app and static site, each a
//! project as Tova lays it out with a bundle in the layout `tova build
//! --production` writes, deployed to one host as three tenants. Every check
//! goes through the host's Caddy as a browser or a client would, or looks at
//! the host.
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it the scenario prints SKIPPED and returns.

mod support;

use std::path::Path;

use sha1::{Digest, Sha1};

use support::*;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const HTML: &str = "Accept: text/html,application/xhtml+xml,*/*;q=0.8";

/// The `<script src>` of a Tova page.
fn script_src(page: &str) -> String {
    let at = page
        .find("<script src=\"")
        .unwrap_or_else(|| panic!("no script in the page:\n{page}"))
        + 13;
    page[at..].split('"').next().unwrap().to_owned()
}

/// A rebuild of the bundle's client, as `tova build --production` names it:
/// `client.<hash>.js` (and the `.min.js` twin) with the page pointing at it.
/// The old client files leave the bundle. Returns the new script URL.
fn rebuild_client(dir: &Path, marker: &str) -> String {
    let out = dir.join(".tova-out");
    let mut old = None;
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("client.") && name.ends_with(".js") && !name.ends_with(".min.js") {
            old = Some(name);
        }
    }
    let old = old.expect("a client bundle");
    let body = format!(
        "{}\n// rebuilt: {marker}\n",
        std::fs::read_to_string(out.join(&old)).unwrap()
    );
    let hash: String = Sha1::digest(body.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("client.{hash}.js");
    std::fs::write(out.join(&name), &body).unwrap();
    std::fs::write(out.join(format!("client.{hash}.min.js")), &body).unwrap();
    std::fs::remove_file(out.join(&old)).unwrap();
    std::fs::remove_file(out.join(old.replace(".js", ".min.js"))).unwrap();
    for page in ["index.html", "200.html", "404.html"] {
        let p = out.join(page);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace(&old, &name)).unwrap();
    }
    format!("/.tova-out/{name}")
}

/// The document a browser gets for `path`, and the script it loads.
fn document(addr: &str, domain: &str, path: &str) -> (Answer, String) {
    let a = until_status(addr, domain, path, &["-H", HTML], 200);
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{domain}{path}: {a:?}"
    );
    assert_eq!(
        a.header("cache-control"),
        Some("no-cache"),
        "{domain}{path}: documents revalidate"
    );
    let src = script_src(&a.body);
    (a, src)
}

/// The bundle file at `url` answers with the bytes `bytes`, immutable.
fn immutable(addr: &str, domain: &str, url: &str, bytes: &str) {
    let a = until_status(addr, domain, url, &[], 200);
    assert_eq!(a.header("cache-control"), Some(IMMUTABLE), "{domain}{url}");
    assert_eq!(a.body, bytes, "{domain}{url} serves other bytes");
}

fn not_served(addr: &str, domain: &str, url: &str) {
    let a = request(addr, domain, url, &[]).unwrap_or_else(|| panic!("{domain}{url}: no answer"));
    assert_eq!(a.status, 404, "{domain}{url} must not be served: {a:?}");
}

fn visits(addr: &str) -> u64 {
    let a = until_status(addr, "fullstack.test", "/api/message", &[], 200);
    let v: serde_json::Value =
        serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {a:?}"));
    assert_eq!(v["text"], "Hello from Tova!", "{v}");
    v["visits"].as_u64().unwrap()
}

#[test]
fn tova_shapes_on_one_host_as_three_tenants() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[0].1.clone();
    let apps = ["fullstack", "api", "site"];
    for app in apps {
        // A previous run's leftovers would change the release numbers and the visit count.
        let _ = ssh(&b, &addr, &format!("systemctl disable --now 'tova-{app}@*' 'tova-{app}-health.timer' 2>/dev/null; rm -rf /opt/tova/apps/{app} /opt/tova/caddy/apps/{app}.caddy /opt/tova/registry/{app}.*; true"));
    }
    let dirs: Vec<tempfile::TempDir> = apps.iter().map(|a| example(a)).collect();
    for (app, dir) in apps.iter().zip(&dirs) {
        // What is deployed is the committed, reviewed output.
        let o = std::process::Command::new(BIN)
            .args(["compile", "--check"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "examples/{app} is stale: {}", text(&o));
        let o = berth(&b, dir.path(), &["deploy", "prod", "--yes", "--json"], &[]);
        assert!(o.status.success(), "{app}: {}", text(&o));
        assert_eq!(json(&o)["hosts"][0]["version"], "v1", "{app}: {}", text(&o));
    }

    // fullstack: the page, the bundle it loads, a client-side route, a GET
    // route, an RPC call, and no server code.
    let (_, script) = document(&addr, "fullstack.test", "/");
    // `/` is the document for any client (curl, a monitor), not only a browser's navigation.
    let plain = until_status(&addr, "fullstack.test", "/", &[], 200);
    assert_eq!(
        script_src(&plain.body),
        script,
        "plain GET / gets the page: {plain:?}"
    );
    let client =
        std::fs::read_to_string(dirs[0].path().join(script.trim_start_matches('/'))).unwrap();
    immutable(&addr, "fullstack.test", &script, &client);
    document(&addr, "fullstack.test", "/about");
    let first = visits(&addr);
    assert_eq!(visits(&addr), first + 1);
    let rpc = until_status(
        &addr,
        "fullstack.test",
        "/rpc/get_message",
        &[
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            "{\"__args\":[]}",
        ],
        200,
    );
    assert!(
        rpc.body.contains("\"result\"") && rpc.body.contains("Hello from Tova!"),
        "{rpc:?}"
    );
    assert_eq!(rpc.header("cache-control"), Some("no-store"), "{rpc:?}");
    let api_nav = until_status(&addr, "fullstack.test", "/api/message", &["-H", HTML], 200);
    assert!(
        api_nav.body.contains("Hello from Tova!"),
        "a navigation to a server route reaches the app: {api_nav:?}"
    );
    let missing = until_status(&addr, "fullstack.test", "/no/such/api", &[], 404);
    assert!(
        missing.body.contains("NOT_FOUND"),
        "non-navigations to unknown paths reach the app: {missing:?}"
    );
    for url in [
        "/.tova-out/server.js",
        "/.tova-out/server.min.js",
        "/.tova-out/.tova-manifest.json",
    ] {
        not_served(&addr, "fullstack.test", url);
    }
    let server_file = std::fs::read_dir(dirs[0].path().join(".tova-out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("server.") && n.len() > 12)
        .unwrap();
    not_served(
        &addr,
        "fullstack.test",
        &format!("/.tova-out/{server_file}"),
    );
    // The SQLite file the app opens relative to its directory lives in data/.
    ssh_ok(&b, &addr, "test -f /opt/tova/apps/fullstack/data/fullstack.db && test ! -e /opt/tova/apps/fullstack/current/fullstack.db");

    // api: its routes, no document.
    let health = until_status(&addr, "api.test", "/api/health", &[], 200);
    assert!(health.body.contains("\"status\":\"ok\""), "{health:?}");
    let rpc = until_status(
        &addr,
        "api.test",
        "/rpc/health",
        &["-X", "POST", "-d", "{}"],
        200,
    );
    assert!(rpc.body.contains("\"result\""), "{rpc:?}");
    let nav = until_status(&addr, "api.test", "/", &["-H", HTML], 404);
    assert!(nav.body.contains("NOT_FOUND"), "{nav:?}");

    // site: a static export, served by Caddy alone.
    let (_, site_script) = document(&addr, "site.test", "/");
    let site_client =
        std::fs::read_to_string(dirs[2].path().join(site_script.trim_start_matches('/'))).unwrap();
    immutable(&addr, "site.test", &site_script, &site_client);
    document(&addr, "site.test", "/docs");
    let units = ssh_ok(
        &b,
        &addr,
        "systemctl list-units --all --plain --no-legend 'tova-site*' | wc -l",
    );
    assert_eq!(units.trim(), "0", "a static app runs no services");
    let reg: serde_json::Value =
        serde_json::from_str(&ssh_ok(&b, &addr, "cat /opt/tova/registry.json")).unwrap();
    assert_eq!(reg["apps"]["site"]["instances"], 0, "{reg}");
    let ports: Vec<u64> = ["fullstack", "api"]
        .iter()
        .flat_map(|a| {
            reg["apps"][a]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap())
        })
        .collect();
    assert_eq!(ports.len(), 3);
    assert!(
        ports
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 3,
        "tenants share no port: {reg}"
    );

    // A rebuilt client (a new hash): the page moves to it, and a tab opened
    // before the deploy still loads the old one.
    let new_script = rebuild_client(dirs[0].path(), "2");
    let new_site = rebuild_client(dirs[2].path(), "2");
    for (dir, app) in [(&dirs[0], "fullstack"), (&dirs[2], "site")] {
        let out = ok(&berth(&b, dir.path(), &["deploy", "prod", "--yes"], &[]));
        assert!(out.contains("(v2)"), "{app}: {out}");
    }
    let (_, now) = document(&addr, "fullstack.test", "/");
    assert_eq!(now, new_script);
    let rebuilt =
        std::fs::read_to_string(dirs[0].path().join(new_script.trim_start_matches('/'))).unwrap();
    immutable(&addr, "fullstack.test", &new_script, &rebuilt);
    immutable(&addr, "fullstack.test", &script, &client);
    let (_, now) = document(&addr, "site.test", "/");
    assert_eq!(now, new_site);
    immutable(&addr, "site.test", &site_script, &site_client);
    // The data survived the deploy.
    assert!(
        visits(&addr) > first + 1,
        "the SQLite data was lost across the deploy"
    );

    // An unknown hash is a 404, never cached as immutable.
    let gone = request(
        &addr,
        "fullstack.test",
        "/.tova-out/client.000000000000.js",
        &[],
    )
    .unwrap();
    assert_eq!(gone.status, 404);
    assert_ne!(gone.header("cache-control"), Some(IMMUTABLE));

    for dir in &dirs {
        ok(&berth(
            &b,
            dir.path(),
            &["deploy", "prod", "--remove", "--yes"],
            &[],
        ));
    }
    for app in apps {
        nothing_left_running(&b, &addr, app);
    }
}

/// The health warning shows before anything runs: `deploy --plan` of the
/// api shape without `health:` (its route is /api/health, not /healthz).
#[test]
fn plan_warns_about_an_unserved_health_path() {
    let b = need_bed!();
    let _l = lock();
    let dir = example("api");
    let src = dir.path().join("src/app.tova");
    let text_before = std::fs::read_to_string(&src).unwrap();
    std::fs::write(&src, text_before.replace("  health: \"/api/health\"\n", "")).unwrap();
    let o = std::process::Command::new(BIN)
        .arg("compile")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success() && text(&o).contains("warning[B0305]"),
        "{}",
        text(&o)
    );
    // With --json every human line goes to stderr, in the order printed.
    let o = berth(&b, dir.path(), &["deploy", "prod", "--plan", "--json"], &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    let warn = err
        .find("warning[B0305]")
        .unwrap_or_else(|| panic!("{err}"));
    let connect = err.find("Connecting to").unwrap_or_else(|| panic!("{err}"));
    assert!(
        warn < connect && err.contains("Deploy plan for"),
        "the warning comes before any host is touched:\n{err}"
    );
    assert!(
        err.contains("src/app.tova:") && err.contains("route GET \"/healthz\""),
        "{err}"
    );
}

/// Two tenants of one host never break each other's Caddy: a second app
/// asking for a domain the host already serves is refused by name before
/// its site is written, and a site the host's whole configuration rejects
/// (here a hand-written site that also claims the domain) is taken back,
/// the previous version put back, and Caddy never reloaded with it. After
/// every refusal the host's configuration validates and the first app
/// still answers.
#[test]
fn a_domain_clash_is_refused_and_the_host_keeps_serving() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[0].1.clone();
    for app in ["api", "clash"] {
        forget_app(&b, &[&addr], app);
    }
    let _ = ssh(&b, &addr, "rm -f /opt/tova/caddy/apps/zz-hand.caddy");
    let api = example("api");
    ok(&berth(&b, api.path(), &["deploy", "prod", "--yes"], &[]));
    let valid = |why: &str| {
        let o = ssh(
            &b,
            &addr,
            "caddy validate --adapter caddyfile --config /etc/caddy/Caddyfile",
        );
        assert!(
            o.status.success(),
            "{why}: the host's Caddy configuration no longer validates: {}",
            text(&o)
        );
        let health = until_status(&addr, "api.test", "/api/health", &[], 200);
        assert!(
            health.body.contains("\"status\":\"ok\""),
            "{why}: {health:?}"
        );
    };

    // Same domain as `api`, another app: refused by name, nothing written.
    let clash = example("api");
    let toml = std::fs::read_to_string(clash.path().join("tova.toml")).unwrap();
    std::fs::write(
        clash.path().join("tova.toml"),
        toml.replace("name = \"api\"", "name = \"clash\""),
    )
    .unwrap();
    ok(&std::process::Command::new(BIN)
        .arg("compile")
        .arg(clash.path())
        .output()
        .unwrap());
    let o = berth(&b, clash.path(), &["deploy", "prod", "--yes"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("api.test is already served on this host by api;"),
        "{}",
        text(&o)
    );
    ssh_ok(&b, &addr, "test ! -e /opt/tova/caddy/apps/clash.caddy");
    valid("after a refused domain");

    // A site Caddy accepts alone but the whole configuration rejects: taken back.
    let src = clash.path().join("src/app.tova");
    let tova = std::fs::read_to_string(&src).unwrap();
    std::fs::write(
        &src,
        tova.replace("domain: \"api.test\"", "domain: \"clash.test\""),
    )
    .unwrap();
    ok(&std::process::Command::new(BIN)
        .arg("compile")
        .arg(clash.path())
        .output()
        .unwrap());
    ssh_ok(&b, &addr, "printf 'other.test, clash.test {\\n\\trespond ok\\n}\\n' > /opt/tova/caddy/apps/zz-hand.caddy");
    let o = berth(&b, clash.path(), &["deploy", "prod", "--yes"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Caddy refuses this app's site on this host: Error: adapting config using caddyfile: ambiguous site definition: clash.test"), "{}", text(&o));
    ssh_ok(&b, &addr, "test ! -e /opt/tova/caddy/apps/clash.caddy");
    ssh_ok(&b, &addr, "rm /opt/tova/caddy/apps/zz-hand.caddy");
    valid("after a site the whole configuration rejects");

    // An app that had a site: a rejected change puts the previous one back, byte for byte.
    let before = ssh_ok(&b, &addr, "cat /opt/tova/caddy/apps/api.caddy");
    let src = api.path().join("src/app.tova");
    let tova = std::fs::read_to_string(&src).unwrap();
    std::fs::write(
        &src,
        tova.replace(
            "origins: [\"https://api.test\"]",
            "origins: [\"https://api.test\", \"https://admin.test\"]",
        ),
    )
    .unwrap();
    ok(&std::process::Command::new(BIN)
        .arg("compile")
        .arg(api.path())
        .output()
        .unwrap());
    ssh_ok(&b, &addr, "printf 'api.test:8443, other.test {\\n\\trespond ok\\n}\\nother.test {\\n\\trespond no\\n}\\n' > /opt/tova/caddy/apps/zz-hand.caddy");
    let o = berth(&b, api.path(), &["deploy", "prod", "--yes"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Caddy refuses this app's site on this host:"),
        "{}",
        text(&o)
    );
    assert_eq!(
        ssh_ok(&b, &addr, "cat /opt/tova/caddy/apps/api.caddy"),
        before,
        "the previous site is back"
    );
    ssh_ok(&b, &addr, "rm /opt/tova/caddy/apps/zz-hand.caddy; test -z \"$(ls /opt/tova/caddy/apps | grep -v '[.]caddy$')\"");
    valid("after a rejected change to a site");
    ok(&berth(&b, api.path(), &["deploy", "prod", "--yes"], &[]));
    ok(&berth(
        &b,
        api.path(),
        &["deploy", "prod", "--remove", "--yes"],
        &[],
    ));
    nothing_left_running(&b, &addr, "api");
}

/// After `--remove` no process of the app runs (a health check that ran
/// between the instances' stops once started one again, left without its unit).
fn nothing_left_running(b: &Bed, addr: &str, app: &str) {
    let left = ssh_ok(b, addr, &format!("systemctl list-units --all --plain --no-legend 'tova-{app}@*' 'tova-{app}-health*' | awk '$3 != \"inactive\" && $3 != \"failed\"'"));
    assert_eq!(left.trim(), "", "{app} still runs after --remove");
}
