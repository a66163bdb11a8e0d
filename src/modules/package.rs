//! `package`: the generic package module. It hands the task to the host's
//! package manager module (`apt` on the Debian family), found from
//! `ansible_facts.pkg_mgr` when facts were gathered, else probed once per host.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::args::Args;
use super::{apt, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

/// Package manager per inventory host, probed once per run.
static DETECTED: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

const PROBE: &str = "for m in apt-get dnf yum zypper apk pacman pkg; do \
    if command -v \"$m\" >/dev/null 2>&1; then echo \"$m\"; exit 0; fi; done; echo unknown";

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("package", args);
    if a.get("name").is_none() {
        return Ok(ModuleOutcome::failed("missing required arguments: name"));
    }
    let wanted = match a.str("use") {
        Ok(u) => u.unwrap_or_else(|| "auto".into()),
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let manager = if wanted != "auto" {
        wanted
    } else {
        detect(ctx)?
    };
    let mut rest = args.clone();
    rest.remove("use");
    match manager.as_str() {
        "apt" => {
            let mut out = apt::run(ctx, &rest)?;
            out.result.insert("ansible_facts".into(), serde_json::json!({"pkg_mgr": "apt"}));
            Ok(out)
        }
        other => Ok(ModuleOutcome::failed(format!(
            "package: this host's package manager is '{other}', and berth's package module drives apt only. \
             Use the manager's own module or command: for this task."
        ))),
    }
}

/// The host's package manager: the gathered fact, the cached probe, or one probe now.
pub(crate) fn detect(ctx: &mut ModuleContext<'_>) -> Result<String, ConnError> {
    for path in [&["ansible_facts", "pkg_mgr"][..], &["ansible_pkg_mgr"][..]] {
        if let Some(v) = lookup_var(ctx.vars, path) {
            return Ok(v);
        }
    }
    if let Some(found) = DETECTED
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&ctx.inventory_hostname))
        .cloned()
    {
        return Ok(found);
    }
    let out = ctx.exec(PROBE, None)?;
    let found = match out.stdout_str().trim() {
        "apt-get" => "apt".to_string(),
        "" => "unknown".to_string(),
        other => other.to_string(),
    };
    DETECTED
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(ctx.inventory_hostname.clone(), found.clone());
    Ok(found)
}

/// A string variable at `path` in the task's template context.
pub(crate) fn lookup_var(vars: &minijinja::Value, path: &[&str]) -> Option<String> {
    let mut v = vars.clone();
    for key in path {
        v = v
            .get_attr(key)
            .ok()
            .filter(|x| !x.is_undefined() && !x.is_none())?;
    }
    v.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::apt::tests::apt_harness;
    use crate::modules::sys_test_support::s;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    #[allow(clippy::type_complexity)]
    fn fixture_table() {
        // (facts pkg_mgr, args, changed, failed, apt-get calls)
        let cases: Vec<(Option<&str>, Value, bool, bool, Vec<&str>)> = vec![
            (Some("apt"), json!({"name": "nginx", "state": "present"}), true, false,
                vec!["apt-get -o DPkg::Lock::Timeout=60 -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install nginx"]),
            (Some("apt"), json!({"name": "curl", "state": "present"}), false, false, vec![]),
            (Some("apt"), json!({"name": "curl", "state": "absent"}), true, false, vec!["apt-get -o DPkg::Lock::Timeout=60 -q -y remove curl"]),
            (Some("dnf"), json!({"name": "curl"}), false, true, vec![]),
            (None, json!({"name": "curl", "use": "apt"}), false, false, vec![]),
            (Some("apt"), json!({"state": "present"}), false, true, vec![]),
            (Some("apt"), json!({"name": "curl", "bogus": true}), false, true, vec![]),
        ];
        for (mgr, args, changed, failed, calls) in cases {
            let mut h = apt_harness("curl 8\n", "nginx 1.22\ncurl 8\n");
            if let Some(m) = mgr {
                h.vars.insert("ansible_facts".into(), json!({"pkg_mgr": m}));
            }
            let out = h.run(run, args.clone());
            let got: Vec<String> = h
                .take_calls()
                .into_iter()
                .filter(|c| c.starts_with("apt-get"))
                .collect();
            assert_eq!(
                (out.is_changed(), out.is_failed(), got),
                (
                    changed,
                    failed,
                    calls.iter().map(|c| c.to_string()).collect::<Vec<_>>()
                ),
                "{args}: {out:?}"
            );
        }
    }

    #[test]
    fn probes_the_host_once() {
        let mut h = apt_harness("", "");
        h.hostname = "package-probe-host".into();
        h.fake("apt-get", "exit 0");
        let mut other = apt_harness("", "");
        other.hostname = "package-probe-dnf".into();
        let out = h.run(run, json!({"name": "curl", "state": "absent"}));
        assert!(!out.is_changed() && !out.is_failed(), "{out:?}");
        assert_eq!(out.result["ansible_facts"], json!({"pkg_mgr": "apt"}));
        let cached = DETECTED
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .get("package-probe-host")
            .cloned();
        assert_eq!(cached.as_deref(), Some("apt"));
        // A host whose cached probe says dnf fails clearly, without probing again.
        DETECTED
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert("package-probe-dnf".into(), "dnf".into());
        let out = other.run(run, json!({"name": "curl"}));
        assert!(out.is_failed());
        assert!(
            s(&out, "msg").contains("package manager is 'dnf'"),
            "{}",
            s(&out, "msg")
        );
        assert!(
            other.take_calls().is_empty(),
            "a cached answer needs no probe"
        );
    }
}
