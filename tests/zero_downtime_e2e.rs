//! Zero downtime, measured: a bounded request loop through Caddy on every
//! host of a two-host app (two instances each, one host at a time) while it
//! is redeployed, rolled back, given a third instance (a proxy change), sent
//! a release that fails its health check, and while one host loses power and
//! is repaired. Every request must answer 200; the repaired host must
//! answer through Caddy the moment the deploy says it is live.
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it the scenario prints SKIPPED and returns.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use support::*;

const DOMAIN: &str = "steady.test";
const PLAIN: &str = "server {\n  route GET \"/healthz\" => fn() { \"ok\" }\n}\n";
/// Requests per host at most, per measured operation (the loop's bound).
const MAX_REQUESTS: usize = 4000;

/// A request loop through one host's Caddy until stopped (or MAX_REQUESTS).
struct Traffic {
    stop: Arc<AtomicBool>,
    loops: Vec<(String, JoinHandle<Vec<String>>)>,
}

impl Traffic {
    fn start(addrs: &[&str]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let loops = addrs
            .iter()
            .map(|addr| {
                let (addr, stop) = (addr.to_string(), stop.clone());
                let a = addr.clone();
                (
                    a,
                    std::thread::spawn(move || {
                        let mut outcomes = Vec::new();
                        while !stop.load(Ordering::Relaxed) && outcomes.len() < MAX_REQUESTS {
                            let status = Command::new("curl")
                                .args([
                                    "-sk",
                                    "-o",
                                    "/dev/null",
                                    "-w",
                                    "%{http_code}",
                                    "--max-time",
                                    "10",
                                ])
                                .args(["--resolve", &format!("{DOMAIN}:443:{addr}")])
                                .arg(format!("https://{DOMAIN}/"))
                                .output()
                                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                                .unwrap_or_else(|e| e.to_string());
                            outcomes.push(status);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        outcomes
                    }),
                )
            })
            .collect();
        Traffic { stop, loops }
    }

    /// Stops the loops; per host (requests, the ones that did not answer 200).
    fn finish(self) -> Vec<(String, usize, Vec<String>)> {
        self.stop.store(true, Ordering::Relaxed);
        self.loops
            .into_iter()
            .map(|(addr, h)| {
                let outcomes = h.join().unwrap();
                let failed = outcomes
                    .iter()
                    .filter(|s| s.as_str() != "200")
                    .cloned()
                    .collect();
                (addr, outcomes.len(), failed)
            })
            .collect()
    }
}

/// Runs `op` under traffic and asserts every request answered 200.
fn without_downtime(what: &str, addrs: &[&str], op: impl FnOnce()) -> usize {
    let traffic = Traffic::start(addrs);
    std::thread::sleep(Duration::from_millis(300));
    op();
    std::thread::sleep(Duration::from_millis(300));
    let mut total = 0;
    for (addr, n, failed) in traffic.finish() {
        eprintln!("{what}: {addr}: {n} requests, {} failed", failed.len());
        assert!(n >= 10, "{what}: only {n} requests reached {addr}");
        assert!(
            failed.is_empty(),
            "{what}: {} of {n} requests through Caddy on {addr} failed: {failed:?}",
            failed.len()
        );
        total += n;
    }
    total
}

fn deploy(b: &Bed, dir: &Path) -> std::process::Output {
    berth(b, dir, &["deploy", "prod", "--yes", "--json"], &[])
}

#[test]
fn requests_never_fail_while_the_app_changes() {
    let b = need_bed!();
    let _l = lock();
    let (h1, h2) = (b.hosts[0].1.clone(), b.hosts[1].1.clone());
    let addrs = [h1.as_str(), h2.as_str()];
    forget_app(&b, &addrs, "steady");
    let dir = project("steady", &addrs, PLAIN, "  instances: 2\n", "rolling = 1\n");
    let d = dir.path();
    let o = deploy(&b, d);
    ok(&o);
    let v1 = json(&o)["hosts"][0]["version"].as_str().unwrap().to_owned();
    for a in addrs {
        serves(a, DOMAIN, &v1);
    }

    // A bundle-only rolling redeploy.
    touch_bundle(d, 1);
    let mut v2 = String::new();
    without_downtime("rolling redeploy", &addrs, || {
        let o = deploy(&b, d);
        ok(&o);
        v2 = json(&o)["hosts"][0]["version"].as_str().unwrap().to_owned();
    });
    for a in addrs {
        serves(a, DOMAIN, &v2);
    }

    // A rollback.
    without_downtime("rollback", &addrs, || {
        ok(&berth(&b, d, &["deploy", "prod", "--rollback"], &[]));
    });
    for a in addrs {
        serves(a, DOMAIN, &v1);
    }

    // A proxy change: a third instance joins the upstreams (Caddy reloads).
    ok(&write_project(
        d,
        "steady",
        &addrs,
        PLAIN,
        "  instances: 3\n",
        "rolling = 1\n",
    ));
    without_downtime("a third instance", &addrs, || {
        ok(&deploy(&b, d));
    });

    // A release that fails its health check: never receives a request.
    let server = d.join(".tova-out/server.js");
    let src = std::fs::read_to_string(&server).unwrap();
    let broken = src.replace(
        "if (url === \"/healthz\") return",
        "if (url === \"/healthz\" && false) return",
    );
    assert_ne!(broken, src, "the bundle's health route moved");
    std::fs::write(&server, &broken).unwrap();
    without_downtime("a release that fails its health check", &addrs, || {
        let o = deploy(&b, d);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("Deploy failed. Rolled back to"),
            "{}",
            text(&o)
        );
    });
    std::fs::write(&server, &src).unwrap();
    touch_bundle(d, 2);

    // Power loss: the second host goes down and comes back bare; the first
    // keeps answering, and the repaired one answers the moment it is live.
    let _reboot = Reboot(b.hosts.len());
    let name = b.hosts[1].0.clone();
    without_downtime(
        "a host lost power and was repaired (the other host)",
        &[h1.as_str()],
        || {
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
            let o = deploy(&b, d);
            ok(&o);
            let r = request(&h2, DOMAIN, "/", &[]).expect("the repaired host answers");
            assert_eq!(
                r.status, 200,
                "the repaired host said live, but Caddy answered {}: {}",
                r.status, r.body
            );
        },
    );
}
