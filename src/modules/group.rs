//! `group`: local groups via `getent`, `groupadd`, `groupmod`, `groupdel`.

use serde_json::{Map, Value};

use super::args::Args;
use super::{quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

const KNOWN: &[&str] = &[
    "name",
    "gid",
    "state",
    "system",
    "non_unique",
    "force",
    "local",
    "gid_min",
    "gid_max",
];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("group", args);
    let parsed = (|| -> Result<_, String> {
        a.check_known(KNOWN)?;
        if a.bool("local", false)? {
            return Err("local=true (luseradd) is not supported by berth's group module".into());
        }
        Ok((
            a.required_str("name")?,
            a.int("gid")?,
            a.choice("state", &["absent", "present"], Some("present"))?
                .unwrap_or_default(),
            a.bool("system", false)?,
            a.bool("non_unique", false)?,
            a.bool("force", false)?,
            a.int("gid_min")?,
            a.int("gid_max")?,
        ))
    })();
    let (name, gid, state, system, non_unique, force, gid_min, gid_max) = match parsed {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    // Ansible's required_if: a non-unique group needs its gid.
    if non_unique && gid.is_none() {
        return Ok(ModuleOutcome::failed(
            "non_unique is True but all of the following are missing: gid",
        ));
    }
    let q = quote(&name);
    let current = ctx.exec(&format!("getent group {q}"), None)?.stdout_str();
    let existing_gid = parse_gid(&current, &name);

    let base = |changed: bool| {
        ModuleOutcome::changed(changed)
            .with("name", name.clone())
            .with("state", state.clone())
    };
    let cmd = match (state.as_str(), existing_gid) {
        ("absent", None) => return Ok(base(false)),
        ("absent", Some(_)) => format!("groupdel{} {q}", if force { " -f" } else { "" }),
        (_, None) => {
            let mut c = String::from("groupadd");
            if let Some(g) = gid {
                c.push_str(&format!(" -g {g}"));
                if non_unique {
                    c.push_str(" -o");
                }
            }
            if system {
                c.push_str(" -r");
            }
            if let Some(m) = gid_min {
                c.push_str(&format!(" -K GID_MIN={m}"));
            }
            if let Some(m) = gid_max {
                c.push_str(&format!(" -K GID_MAX={m}"));
            }
            format!("{c} {q}")
        }
        (_, Some(have)) => match gid {
            Some(want) if want != have => {
                format!(
                    "groupmod -g {want}{} {q}",
                    if non_unique { " -o" } else { "" }
                )
            }
            _ => return Ok(base(false).with("gid", have).with("system", system)),
        },
    };
    if ctx.check_mode {
        let mut out = base(true).with("system", system);
        if let Some(g) = gid.or(existing_gid) {
            out = out.with("gid", g);
        }
        return Ok(out);
    }
    let res = ctx.exec(&format!("{cmd} || exit $?\ngetent group {q} || true"), None)?;
    if res.rc != 0 {
        return Ok(ModuleOutcome::failed(res.stderr_str().trim().to_string())
            .with("name", name)
            .with("rc", res.rc));
    }
    let mut out = base(true);
    if state == "present" {
        out = out.with("system", system);
        if let Some(g) = parse_gid(&res.stdout_str(), &name) {
            out = out.with("gid", g);
        }
    }
    Ok(out)
}

/// The gid in a `getent group` line for `name`.
pub(crate) fn parse_gid(text: &str, name: &str) -> Option<i64> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys_test_support::{logging_wrappers, AccountGuard, SysHarness, ACCOUNTS};
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn guard(names: &[&str]) -> AccountGuard {
        let g = AccountGuard {
            users: Vec::new(),
            groups: names.iter().map(|s| s.to_string()).collect(),
        };
        g.clean();
        g
    }

    #[test]
    fn fixture_table_on_real_groups() {
        if !crate::modules::sys_test_support::is_root() {
            eprintln!("skipped: managing real accounts needs root");
            return;
        }
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let g = format!("berthtest_g{}", std::process::id() % 100000);
        let _accounts = guard(&[&g]);
        // (args, check, changed, failed, calls that change state)
        let cases: Vec<(Value, bool, bool, bool, Vec<String>)> = vec![
            (json!({"name": g, "gid": 47311}), true, true, false, vec![]),
            (
                json!({"name": g, "gid": 47311}),
                false,
                true,
                false,
                vec![format!("groupadd -g 47311 {g}")],
            ),
            (
                json!({"name": g, "gid": "47311"}),
                false,
                false,
                false,
                vec![],
            ),
            (json!({"name": g}), false, false, false, vec![]),
            // non_unique needs a gid (Ansible's required_if), refused before anything runs.
            (
                json!({"name": g, "non_unique": true}),
                false,
                false,
                true,
                vec![],
            ),
            (json!({"name": g, "gid": 47312}), true, true, false, vec![]),
            (
                json!({"name": g, "gid": 47312}),
                false,
                true,
                false,
                vec![format!("groupmod -g 47312 {g}")],
            ),
            (
                json!({"name": g, "state": "absent"}),
                true,
                true,
                false,
                vec![],
            ),
            (
                json!({"name": g, "state": "absent"}),
                false,
                true,
                false,
                vec![format!("groupdel {g}")],
            ),
            (
                json!({"name": g, "state": "absent"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": g, "system": true}),
                false,
                true,
                false,
                vec![format!("groupadd -r {g}")],
            ),
            (
                json!({"name": g, "state": "absent"}),
                false,
                true,
                false,
                vec![format!("groupdel {g}")],
            ),
            (
                json!({"name": g, "state": "gone"}),
                false,
                false,
                true,
                vec![],
            ),
            (json!({"gid": 5}), false, false, true, vec![]),
        ];
        for (args, check, changed, failed, calls) in cases {
            let mut h = SysHarness::new();
            logging_wrappers(&h, &["groupadd", "groupmod", "groupdel"]);
            h.check_mode = check;
            let out = h.run(run, args.clone());
            assert_eq!(
                (out.is_changed(), out.is_failed(), h.take_calls()),
                (changed, failed, calls),
                "{args}: {out:?}"
            );
        }
        let exists = std::process::Command::new("getent")
            .args(["group", &g])
            .output()
            .unwrap()
            .status
            .success();
        assert!(!exists);
    }

    #[test]
    fn return_values() {
        if !crate::modules::sys_test_support::is_root() {
            eprintln!("skipped: managing real accounts needs root");
            return;
        }
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let g = format!("berthtest_r{}", std::process::id() % 100000);
        let accounts = guard(&[&g]);
        let mut h = SysHarness::new();
        let out = h.run(run, json!({"name": g, "gid": 47321}));
        drop(accounts);
        assert_eq!(
            Value::Object(out.result),
            json!({"changed": true, "name": g, "state": "present", "system": false, "gid": 47321})
        );
        assert_eq!(parse_gid("a:x:1:\nab:x:2:u1,u2\n", "ab"), Some(2));
    }
}
