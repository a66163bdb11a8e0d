//! Two deploys of the same app at once, 50 times, on a booted host: one
//! runs and the other is refused with who holds the deploy lock (or they
//! happen one after the other); nothing is lost either way: the app keeps
//! its ports, every client file a deploy published stays in the store,
//! every release is whole, and the lock is free afterwards.
//!
//! Needs `BERTH_TESTBED_INVENTORY` (the inventory `berth testbed up 3`
//! writes); without it the scenario prints SKIPPED and returns.

mod support;

use std::path::Path;

use support::*;

const APP: &str = "twin";
const PLAIN: &str = "server {\n  route GET \"/healthz\" => fn() { \"ok\" }\n}\n";
const TRIALS: usize = 50;

/// A client module of its own for deploy `tag`: its URL.
fn module(dir: &Path, tag: &str) -> String {
    let c = dir.join(".tova-out/public/c");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(
        c.join("cart.client.js"),
        format!("export const cart = {tag:?};\n"),
    )
    .unwrap();
    std::fs::write(
        c.join(".versions.json"),
        format!("{{\"cart.client.js\": \"{tag}\"}}\n"),
    )
    .unwrap();
    std::fs::write(dir.join(".tova-out/public/build.txt"), format!("{tag}\n")).unwrap();
    format!("/c/cart.client.js?v={tag}")
}

#[test]
fn two_deploys_of_one_app_at_once_lose_nothing() {
    let b = need_bed!();
    let _l = lock();
    let addr = b.hosts[2].1.clone();
    forget_app(&b, &[&addr], APP);
    let one = project(APP, &[&addr], PLAIN, "", "");
    let two = project(APP, &[&addr], PLAIN, "", "");
    module(one.path(), "first");
    ok(&berth(&b, one.path(), &["deploy", "prod", "--yes"], &[]));
    let ports = ssh_ok(&b, &addr, &format!("cat /opt/tova/registry/{APP}.ports"));

    let mut published = vec!["/c/cart.client.js?v=first".to_string()];
    let (mut refused, mut both) = (0, 0);
    for trial in 0..TRIALS {
        let (u1, u2) = (
            module(one.path(), &format!("a{trial}")),
            module(two.path(), &format!("b{trial}")),
        );
        let (c1, c2) = (
            berth_cmd(&b, one.path(), &["deploy", "prod", "--yes"]),
            berth_cmd(&b, two.path(), &["deploy", "prod", "--yes"]),
        );
        let (o1, o2) = std::thread::scope(|s| {
            let h1 = s.spawn(move || {
                let mut c = c1;
                c.output().unwrap()
            });
            let h2 = s.spawn(move || {
                let mut c = c2;
                c.output().unwrap()
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        for (o, url) in [(&o1, &u1), (&o2, &u2)] {
            if o.status.success() {
                published.push(url.clone());
            } else {
                let t = text(o);
                assert!(
                    t.contains(&format!("another deploy of {APP} is running on this host"))
                        && t.contains("--break-lock"),
                    "trial {trial}: a deploy failed otherwise:\n{t}"
                );
                assert!(t.contains("Nothing was deployed"), "trial {trial}: {t}");
                refused += 1;
            }
        }
        assert!(
            o1.status.success() || o2.status.success(),
            "trial {trial}: both deploys were refused:\n{}\n{}",
            text(&o1),
            text(&o2)
        );
        if o1.status.success() && o2.status.success() {
            both += 1;
        }

        // Nothing lost.
        assert_eq!(
            ssh_ok(&b, &addr, &format!("cat /opt/tova/registry/{APP}.ports")),
            ports,
            "trial {trial}: the app's ports moved"
        );
        let index = ssh_ok(
            &b,
            &addr,
            &format!("cut -f1 /opt/tova/apps/{APP}/modules.index"),
        );
        for url in &published {
            assert!(
                index.lines().any(|l| l == url),
                "trial {trial}: {url} left the store's index:\n{index}"
            );
        }
        ssh_ok(&b, &addr, &format!("cd /opt/tova/apps/{APP} && for r in releases/v*; do (cd $r && sha1sum --quiet --strict -c .tova-sums); done && (cd current && sha1sum --quiet --strict -c .tova-sums)"));
        ssh_ok(&b, &addr, &format!("! test -e /run/tova-locks/{APP}"));
    }
    eprintln!("{TRIALS} trials: {refused} deploys refused by the lock, {both} trials where both ran one after the other");
    assert!(
        refused > 0,
        "the two deploys never overlapped: the lock was not exercised"
    );

    // A lock left by a deploy that died is reported, and --break-lock takes it.
    ssh_ok(&b, &addr, &format!("mkdir -p /run/tova-locks/{APP} && echo dead > /run/tova-locks/{APP}/run && echo 'berth deploy by ghost@nowhere (pid 1)' > /run/tova-locks/{APP}/who && date +%s > /run/tova-locks/{APP}/since"));
    module(one.path(), "after");
    let o = berth(&b, one.path(), &["deploy", "prod", "--yes"], &[]);
    assert!(
        !o.status.success() && text(&o).contains("ghost@nowhere"),
        "{}",
        text(&o)
    );
    let o = berth(
        &b,
        one.path(),
        &["deploy", "prod", "--yes", "--break-lock"],
        &[],
    );
    assert!(
        text(&o).contains("Took over the deploy lock of berth deploy by ghost@nowhere"),
        "{}",
        text(&o)
    );
    ok(&o);
    ssh_ok(&b, &addr, &format!("! test -e /run/tova-locks/{APP}"));

    // A lock left by a deploy from this machine whose process is gone (a
    // killed berth) is taken over without --break-lock, and says so.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    let me = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let holder = format!("berth deploy by {user}@{me} (pid {pid})");
    ssh_ok(&b, &addr, &format!("mkdir -p /run/tova-locks/{APP} && echo dead > /run/tova-locks/{APP}/run && echo '{holder}' > /run/tova-locks/{APP}/who && date +%s > /run/tova-locks/{APP}/since"));
    module(one.path(), "after-crash");
    let o = berth(&b, one.path(), &["deploy", "prod", "--yes"], &[]);
    let t = ok(&o);
    assert!(
        t.contains(&format!(
            "The deploy lock is held by {holder}, which no longer runs: taking it over."
        )),
        "{t}"
    );
    ssh_ok(&b, &addr, &format!("! test -e /run/tova-locks/{APP}"));
    // ...but not one whose process runs (this test's own pid stands in).
    let holder = format!("berth deploy by {user}@{me} (pid {})", std::process::id());
    ssh_ok(&b, &addr, &format!("mkdir -p /run/tova-locks/{APP} && echo live > /run/tova-locks/{APP}/run && echo '{holder}' > /run/tova-locks/{APP}/who && date +%s > /run/tova-locks/{APP}/since"));
    module(one.path(), "while-live");
    let o = berth(&b, one.path(), &["deploy", "prod", "--yes"], &[]);
    assert!(
        !o.status.success() && text(&o).contains(&holder),
        "{}",
        text(&o)
    );
    ssh_ok(&b, &addr, &format!("rm -rf /run/tova-locks/{APP}"));
}
