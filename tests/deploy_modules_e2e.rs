//! `/c/*` module retention end to end (issue 6's proof) on real booted
//! Debian hosts: the built binary deploys three releases of a small app
//! (the todo example's server, with versioned client modules in both URL
//! shapes) and every check goes through each host's Caddy or looks at the
//! host's store over SSH. A test clock (`BERTH_NOW`, read by the
//! controller only) makes the retention window testable.
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it the scenario prints SKIPPED and returns.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::{copy_dir, json, ok, root, text, Bed};

const APP: &str = "modret";
const DOMAIN: &str = "modret.test";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const HOUR: u64 = 3600;
const WEEK: u64 = 7 * 24 * HOUR;
/// The test clock's start (2030-03-17).
const T0: u64 = 1_900_000_000;

/// Writes the project for `servers` (and `toml` settings for "prod") and compiles it.
fn write_project(dir: &Path, servers: &[&str], toml: &str) -> Output {
    support::write_project(
        dir,
        APP,
        servers,
        "server {\n  route GET \"/healthz\" => fn() { \"ok\" }\n}\n",
        "",
        toml,
    )
}

/// Release `n` of the bundle: its own cart module version and search digest.
/// Returns the module URLs with their bytes.
fn release_bundle(dir: &Path, n: u32) -> Vec<(String, String)> {
    let c = dir.join(".tova-out/public/c");
    let _ = std::fs::remove_dir_all(&c);
    std::fs::create_dir_all(c.join(format!("__v/d{n}{n}{n}{n}"))).unwrap();
    let cart = format!("export const Cart = {{ release: {n}, removeItem(e) {{ e.target.closest(\"li\")?.remove(); }} }};\n");
    let search = format!(
        "export const search = (list, q) => list.filter((x) => x.includes(q)); // release {n}\n"
    );
    std::fs::write(c.join("cart.client.js"), &cart).unwrap();
    std::fs::write(
        c.join(format!("__v/d{n}{n}{n}{n}/search.client.js")),
        &search,
    )
    .unwrap();
    std::fs::write(
        c.join(".versions.json"),
        format!("{{\"cart.client.js\": \"c{n}aaaa\"}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join(".tova-out/public/build.txt"),
        format!("release {n}\n"),
    )
    .unwrap();
    vec![
        (format!("/c/cart.client.js?v=c{n}aaaa"), cart),
        (format!("/c/__v/d{n}{n}{n}{n}/search.client.js"), search),
    ]
}

fn berth(b: &Bed, dir: &Path, args: &[&str], now: u64) -> Output {
    support::berth(b, dir, args, &[("BERTH_NOW", &now.to_string())])
}

/// A command on a host; its stdout (a failure shows as empty output).
fn ssh(b: &Bed, addr: &str, cmd: &str) -> String {
    String::from_utf8_lossy(&support::ssh(b, addr, cmd).stdout).into_owned()
}

fn request(addr: &str, method: &str, path: &str) -> Option<support::Answer> {
    support::request(addr, DOMAIN, path, &["--http1.1", "-X", method])
}

/// GET through Caddy, retrying until Caddy answers (up to 30 s).
fn get(addr: &str, path: &str) -> support::Answer {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = request(addr, "GET", path) {
            if r.status != 502 {
                return r;
            }
        }
        assert!(
            Instant::now() < end,
            "{DOMAIN}{path} does not answer through Caddy on {addr}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn serves_module(addr: &str, url: &str, bytes: &str) {
    let r = get(addr, url);
    assert_eq!(r.status, 200, "{url} on {addr}: {}", r.body);
    assert_eq!(
        r.header("cache-control"),
        Some(IMMUTABLE),
        "{url} on {addr}"
    );
    assert_eq!(r.body, bytes, "{url} on {addr} serves other bytes");
}

fn lacks_module(addr: &str, url: &str) {
    let r = get(addr, url);
    assert_eq!(r.status, 404, "{url} on {addr} should 404: {}", r.body);
    assert_ne!(
        r.header("cache-control"),
        Some(IMMUTABLE),
        "{url} on {addr}: a 404 must not be cached as immutable"
    );
}

#[test]
fn modules_stay_resolvable_across_deploys_on_every_host() {
    let b = need_bed!();
    let addrs = b.addrs();
    let (h1, h2, h3) = (addrs[0], addrs[1], addrs[2]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_dir(
        &root().join("examples/todo/.tova-out"),
        &d.join(".tova-out"),
    );
    for addr in [h1, h2, h3] {
        // A previous run's leftovers (the app's directory) would change the release numbers.
        ssh(&b, addr, &format!("systemctl stop 'tova-{APP}@*' 2>/dev/null; rm -rf /opt/tova/apps/{APP} /opt/tova/caddy/apps/{APP}.caddy; true"));
    }

    // A window below the 24h floor does not compile, with its code.
    let o = write_project(d, &[h1, h2], "module_retention = \"12h\"\n");
    assert!(!o.status.success(), "12h retention compiled:\n{}", text(&o));
    assert!(text(&o).contains("B0111"), "{}", text(&o));
    ok(&write_project(d, &[h1, h2], ""));

    // v1, then open its module URLs on both hosts.
    let v1 = release_bundle(d, 1);
    let out = ok(&berth(&b, d, &["deploy", "prod", "--yes"], T0));
    assert!(
        out.contains("Publishing versioned client files (2 new, 2 retained)"),
        "{out}"
    );
    for addr in [h1, h2] {
        for (url, bytes) in &v1 {
            serves_module(addr, url, bytes);
        }
        lacks_module(addr, "/c/cart.client.js?v=nosuchversion");
        lacks_module(addr, "/c/cart.client.js");
        lacks_module(addr, "/c/__v/d9999/search.client.js");
    }

    // v2 an hour later, v3 two hours later.
    let v2 = release_bundle(d, 2);
    ok(&berth(&b, d, &["deploy", "prod", "--yes"], T0 + HOUR));
    let v3 = release_bundle(d, 3);
    let out = ok(&berth(&b, d, &["deploy", "prod", "--yes"], T0 + 2 * HOUR));
    assert!(
        out.contains("Publishing versioned client files (2 new, 6 retained)"),
        "{out}"
    );
    for addr in [h1, h2] {
        for (url, bytes) in v1.iter().chain(&v2).chain(&v3) {
            serves_module(addr, url, bytes);
        }
        // The HTML document is never immutable; a POST's response is never stored.
        let page = get(addr, "/page");
        assert_eq!(page.status, 200);
        assert!(page.body.contains("/c/cart.client.js?v="), "{}", page.body);
        assert_eq!(
            page.header("cache-control"),
            Some("no-cache"),
            "/page on {addr}"
        );
        let post = request(addr, "POST", "/page").expect("POST answers");
        assert_eq!(
            post.header("cache-control"),
            Some("no-store"),
            "POST /page on {addr}"
        );
    }

    // Rollback re-publishes nothing and breaks nothing: v2 is live again,
    // the store is byte for byte the same, every version still resolves.
    let store = |a: &str| {
        ssh(&b, a, &format!("cd /opt/tova/apps/{APP} && sha1sum modules.json && find modules -type f | sort | xargs sha1sum"))
    };
    let before: Vec<String> = [h1, h2].iter().map(|a| store(a)).collect();
    ok(&berth(
        &b,
        d,
        &["deploy", "prod", "--rollback", "--yes"],
        T0 + 2 * HOUR + 30,
    ));
    assert_eq!(
        before,
        [h1, h2].iter().map(|a| store(a)).collect::<Vec<_>>(),
        "the rollback changed the module store"
    );
    for addr in [h1, h2] {
        assert_eq!(
            ssh(&b, addr, &format!("readlink /opt/tova/apps/{APP}/current")).trim(),
            "releases/v2"
        );
        for (url, bytes) in v1.iter().chain(&v2).chain(&v3) {
            serves_module(addr, url, bytes);
        }
    }

    // A rewrite of a published URL with other bytes is refused, nothing changed.
    let before: Vec<String> = [h1, h2].iter().map(|a| ssh(&b, a, &format!("cd /opt/tova/apps/{APP} && readlink current && sha1sum modules.json && find modules -type f | sort | xargs sha1sum"))).collect();
    std::fs::create_dir_all(d.join(".tova-out/public/c/__v/d1111")).unwrap();
    std::fs::write(
        d.join(".tova-out/public/c/__v/d1111/search.client.js"),
        "export const search = () => []; // rewritten\n",
    )
    .unwrap();
    let o = berth(&b, d, &["deploy", "prod", "--yes"], T0 + 2 * HOUR + 60);
    let out = text(&o);
    assert!(
        !o.status.success(),
        "a conflicting rewrite deployed:\n{out}"
    );
    assert!(
        out.contains("/c/__v/d1111/search.client.js")
            && out.contains("immutable")
            && out.contains("nothing was changed"),
        "{out}"
    );
    assert!(!out.contains("Uploading bundle"), "{out}");
    let after: Vec<String> = [h1, h2].iter().map(|a| ssh(&b, a, &format!("cd /opt/tova/apps/{APP} && readlink current && sha1sum modules.json && find modules -type f | sort | xargs sha1sum"))).collect();
    assert_eq!(before, after, "the refused deploy changed a host");
    serves_module(h1, &v1[1].0, &v1[1].1);
    std::fs::remove_dir_all(d.join(".tova-out/public/c/__v/d1111")).unwrap();

    // A host added after v3 receives the retained set on its first deploy,
    // copied from the hosts that have it (h1 and h2 go from the rolled-back
    // v2 to v4, v3's bundle, publishing nothing new).
    ok(&write_project(d, &[h1, h2, h3], ""));
    let out = ok(&berth(&b, d, &["deploy", "prod", "--yes"], T0 + 3 * HOUR));
    assert!(
        out.contains(&format!("[root@{h3}]"))
            && out.contains("Copied 4 retained version(s) from other hosts"),
        "{out}"
    );
    assert!(
        out.contains("Publishing versioned client files (2 new, 6 retained)"),
        "{out}"
    );
    assert_eq!(
        out.matches("Publishing versioned client files (0 new, 6 retained)")
            .count(),
        2,
        "{out}"
    );
    for (url, bytes) in v1.iter().chain(&v2).chain(&v3) {
        serves_module(h3, url, bytes);
    }

    // --status: retained versions, age span and store size per host.
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--status", "--json"],
        T0 + 3 * HOUR,
    );
    let status = json(&o);
    let hosts = status["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{status}");
    for h in hosts {
        assert_eq!(h["modules"]["versions"], 6, "{h}");
        assert_eq!(h["modules"]["oldest_secs"], 3 * HOUR, "{h}");
        assert!(h["modules"]["bytes"].as_u64().unwrap() > 0, "{h}");
    }
    assert!(text(&o).contains("6 versions retained"), "{}", text(&o));

    // Pruning by document lifetime. v1's modules stopped being live at T0+1h,
    // v2's at T0+2h; v3's bundle is live and v2 is the previous release on h1 and h2.
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--prune-modules", "--json"],
        T0 + HOUR + WEEK - 60,
    );
    let r = json(&o);
    assert_eq!(r["ok"], true, "{}", text(&o));
    assert!(
        r["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["pruned"].as_array().unwrap().is_empty()),
        "pruned inside the window: {r}"
    );
    let o = berth(
        &b,
        d,
        &["deploy", "prod", "--prune-modules", "--json"],
        T0 + 2 * HOUR + WEEK + 60,
    );
    let r = json(&o);
    assert_eq!(r["ok"], true, "{}", text(&o));
    let mut v1_urls: Vec<Value> = v1.iter().map(|(u, _)| Value::from(u.as_str())).collect();
    v1_urls.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    for h in r["hosts"].as_array().unwrap() {
        assert_eq!(
            h["pruned"].as_array().unwrap(),
            &v1_urls,
            "exactly v1's modules on every host: {r}"
        );
    }
    for addr in [h1, h2, h3] {
        for (url, _) in &v1 {
            lacks_module(addr, url);
        }
        for (url, bytes) in v2.iter().chain(&v3) {
            serves_module(addr, url, bytes);
        }
    }

    ok(&berth(
        &b,
        d,
        &["deploy", "prod", "--remove", "--yes"],
        T0 + 3 * HOUR,
    ));
}
