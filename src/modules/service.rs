//! `service`: the generic service module. On systemd hosts it is the
//! `systemd` module; elsewhere SysV init through `service` and `update-rc.d`.
//! The init system comes from `ansible_facts.service_mgr` when facts were
//! gathered, else from one probe per host.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::args::Args;
use super::package::lookup_var;
use super::systemd::{self, SystemdParams};
use super::{quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

const KNOWN: &[&str] = &[
    "name",
    "state",
    "enabled",
    "arguments",
    "args",
    "pattern",
    "runlevel",
    "sleep",
    "use",
];
const PROBE: &str = "if [ -d /run/systemd/system ] || [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ]; \
    then echo systemd; elif command -v update-rc.d >/dev/null 2>&1; then echo sysvinit; else echo service; fi";

static DETECTED: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("service", args);
    let parsed = (|| -> Result<_, String> {
        a.check_known(KNOWN)?;
        let name = a.required_str("name")?;
        let state = a.choice(
            "state",
            &["reloaded", "restarted", "started", "stopped"],
            None,
        )?;
        let enabled = if a.get("enabled").is_some() {
            Some(a.bool("enabled", false)?)
        } else {
            None
        };
        if state.is_none() && enabled.is_none() {
            return Err("Neither 'state' nor 'enabled' set".into());
        }
        let opts = SysvOpts {
            runlevel: a.str("runlevel")?,
            pattern: a.str("pattern")?,
            sleep: a.int("sleep")?,
        };
        Ok((
            name,
            state,
            enabled,
            a.str("use")?.unwrap_or_else(|| "auto".into()),
            opts,
        ))
    })();
    let (name, state, enabled, wanted, opts) = match parsed {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    let manager = if wanted != "auto" {
        wanted
    } else {
        detect(ctx)?
    };
    if manager == "systemd" {
        let p = SystemdParams {
            name: Some(name),
            state,
            enabled,
            masked: None,
            daemon_reload: false,
            daemon_reexec: false,
            no_block: false,
            scope: "system".into(),
            force: false,
        };
        return systemd::run_params(ctx, &p);
    }
    sysv(ctx, &name, state.as_deref(), enabled, &opts)
}

/// SysV-only options: which runlevel's links, a process pattern that tells
/// whether the service runs, and seconds between stop and start on restart.
struct SysvOpts {
    runlevel: Option<String>,
    pattern: Option<String>,
    sleep: Option<i64>,
}

/// The host's init system: the gathered fact, the cached probe, or one probe now.
fn detect(ctx: &mut ModuleContext<'_>) -> Result<String, ConnError> {
    for path in [
        &["ansible_facts", "service_mgr"][..],
        &["ansible_service_mgr"][..],
    ] {
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
    let found = ctx.exec(PROBE, None)?.stdout_str().trim().to_string();
    DETECTED
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(ctx.inventory_hostname.clone(), found.clone());
    Ok(found)
}

const MARK: &str = "@@berth-service ";

/// SysV init: `service NAME status` for running, `S??NAME` links for enabled.
fn sysv(
    ctx: &mut ModuleContext<'_>,
    name: &str,
    state: Option<&str>,
    enabled: Option<bool>,
    opts: &SysvOpts,
) -> Result<ModuleOutcome, ConnError> {
    let q = quote(name);
    let levels = match &opts.runlevel {
        Some(r) => format!("/etc/rc{}.d", quote(r)),
        None => "/etc/rc[2345].d".into(),
    };
    let mut script = format!(
        "__o=$(service {q} status 2>&1); echo \"{MARK}status $?\"; printf '%s\\n' \"$__o\"\n\
         echo \"{MARK}links\"; ls -d {levels}/S??{q} 2>/dev/null\n"
    );
    // The pattern comes on stdin so that no command line but pgrep's own
    // (which pgrep skips) contains it.
    let pattern_input = opts.pattern.as_ref().map(|p| format!("{p}\n"));
    if pattern_input.is_some() {
        script.push_str(&format!(
            "IFS= read -r __pat; pgrep -f -- \"$__pat\" >/dev/null; echo \"{MARK}pattern $?\"\n"
        ));
    }
    let out = ctx
        .exec(&script, pattern_input.as_deref().map(str::as_bytes))?
        .stdout_str();
    let pattern_rc: Option<i32> = out
        .lines()
        .find_map(|l| {
            l.strip_prefix(MARK)
                .and_then(|r| r.strip_prefix("pattern "))
        })
        .and_then(|r| r.trim().parse().ok());
    let (status_part, links) = out
        .split_once(&format!("{MARK}links\n"))
        .unwrap_or((&out, ""));
    let status_rc: i32 = status_part
        .lines()
        .find_map(|l| l.strip_prefix(MARK).and_then(|r| r.strip_prefix("status ")))
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(1);
    if status_part.contains("unrecognized service") || status_rc == 4 {
        return Ok(ModuleOutcome::failed(format!(
            "Could not find the requested service {name}: host"
        )));
    }
    let running = match pattern_rc {
        Some(rc) => rc == 0,
        None => status_rc == 0,
    };
    let links = links.split(MARK).next().unwrap_or("");
    let is_enabled = !links.trim().is_empty();

    let mut steps: Vec<String> = Vec::new();
    let mut result = ModuleOutcome::ok().with("name", name.to_string());
    if let Some(e) = enabled {
        if e != is_enabled {
            steps.push(if e {
                format!("update-rc.d {q} defaults >/dev/null 2>&1; update-rc.d {q} enable")
            } else {
                format!("update-rc.d {q} disable")
            });
        }
        result = result.with("enabled", e);
    }
    if let Some(s) = state {
        let action = match s {
            "started" => (!running).then_some("start"),
            "stopped" => running.then_some("stop"),
            "restarted" => Some("restart"),
            _ => Some(if running { "reload" } else { "start" }),
        };
        match (action, opts.sleep) {
            (Some("restart"), Some(secs)) if secs > 0 => {
                steps.push(format!("service {q} stop; sleep {secs}; service {q} start"));
            }
            (Some(a), _) => steps.push(format!("service {q} {a}")),
            (None, _) => {}
        }
        result = result.with("state", s.to_string());
    }
    if steps.is_empty() {
        return Ok(result);
    }
    if ctx.check_mode {
        return Ok(result.with("changed", true));
    }
    let script: Vec<String> = steps
        .iter()
        .map(|s| format!("{{ {s}; }} || exit $?"))
        .collect();
    let res = ctx.exec(&script.join("\n"), None)?;
    if res.rc != 0 {
        let err = res.stderr_str();
        let text = if err.trim().is_empty() {
            res.stdout_str()
        } else {
            err
        };
        return Ok(ModuleOutcome::failed(text.trim().to_string())
            .with("name", name.to_string())
            .with("rc", res.rc));
    }
    Ok(result.with("changed", true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::systemd::tests::systemd_harness;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn systemd_hosts_use_the_systemd_logic() {
        // (active, file, args, changed, changing calls)
        let cases: Vec<(&str, &str, Value, bool, Vec<&str>)> = vec![
            (
                "inactive",
                "disabled",
                json!({"name": "web", "state": "started", "enabled": true, "arguments": "-x"}),
                true,
                vec!["systemctl enable web", "systemctl start web"],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "state": "started", "enabled": true}),
                false,
                vec![],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "enabled": false}),
                true,
                vec!["systemctl disable web"],
            ),
        ];
        for (active, file, args, changed, calls) in cases {
            let mut h = systemd_harness(&[("web", active, file)]);
            h.vars
                .insert("ansible_facts".into(), json!({"service_mgr": "systemd"}));
            let out = h.run(run, args.clone());
            let got: Vec<String> = h
                .take_calls()
                .into_iter()
                .filter(|c| !c.contains(" show ") && !c.contains(" is-enabled "))
                .collect();
            assert_eq!(
                (out.is_changed(), got),
                (
                    changed,
                    calls.iter().map(|c| c.to_string()).collect::<Vec<_>>()
                ),
                "{args}"
            );
            assert!(
                !h.run(run, args.clone()).is_changed(),
                "second run of {args}"
            );
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn sysv_fallback() {
        // (running, args, check, changed, failed, changing calls)
        let cases: Vec<(bool, Value, bool, bool, bool, Vec<&str>)> = vec![
            (
                false,
                json!({"name": "berthsvc", "state": "started"}),
                false,
                true,
                false,
                vec!["service berthsvc start"],
            ),
            (
                true,
                json!({"name": "berthsvc", "state": "started"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                true,
                json!({"name": "berthsvc", "state": "stopped"}),
                false,
                true,
                false,
                vec!["service berthsvc stop"],
            ),
            (
                true,
                json!({"name": "berthsvc", "state": "stopped"}),
                true,
                true,
                false,
                vec![],
            ),
            (
                true,
                json!({"name": "berthsvc", "state": "reloaded"}),
                false,
                true,
                false,
                vec!["service berthsvc reload"],
            ),
            (
                false,
                json!({"name": "berthsvc", "enabled": true}),
                false,
                true,
                false,
                vec![
                    "update-rc.d berthsvc defaults",
                    "update-rc.d berthsvc enable",
                ],
            ),
            (
                false,
                json!({"name": "berthsvc", "enabled": false}),
                false,
                false,
                false,
                vec![],
            ),
            (
                false,
                json!({"name": "nosvc", "state": "started"}),
                false,
                false,
                true,
                vec![],
            ),
            (
                false,
                json!({"name": "berthsvc"}),
                false,
                false,
                true,
                vec![],
            ),
        ];
        for (running, args, check, changed, failed, calls) in cases {
            let mut h = crate::modules::sys_test_support::SysHarness::new();
            h.check_mode = check;
            h.vars
                .insert("ansible_service_mgr".into(), json!("sysvinit"));
            if running {
                std::fs::write(h.state("berthsvc.running"), "").unwrap();
            }
            h.fake(
                "service",
                r#"[ "$1" = berthsvc ] || { echo "$1: unrecognized service" >&2; exit 1; }
case "$2" in status) [ -f "$STATE/berthsvc.running" ];; start|restart|reload) touch "$STATE/berthsvc.running";; stop) rm -f "$STATE/berthsvc.running";; esac"#,
            );
            h.fake("update-rc.d", "exit 0");
            let out = h.run(run, args.clone());
            let got: Vec<String> = h
                .take_calls()
                .into_iter()
                .filter(|c| !c.ends_with(" status"))
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
            if changed
                && !check
                && args
                    .get("state")
                    .is_some_and(|s| s == "started" || s == "stopped")
            {
                assert!(
                    !h.run(run, args.clone()).is_changed(),
                    "second run of {args}"
                );
            }
        }
    }

    /// Removes the throwaway init script and its rc links, even on panic.
    struct InitScript(String);

    impl Drop for InitScript {
        fn drop(&mut self) {
            let _ = std::process::Command::new("update-rc.d")
                .args(["-f", &self.0, "remove"])
                .output();
            let _ = std::fs::remove_file(format!("/etc/init.d/{}", self.0));
        }
    }

    /// A real LSB init script driven through the real `service` and
    /// `update-rc.d` of this (systemd-less) machine.
    #[test]
    fn sysv_on_a_real_init_script() {
        let real = std::path::Path::new("/usr/sbin/service").exists()
            && std::path::Path::new("/usr/sbin/update-rc.d").exists();
        if !crate::modules::sys_test_support::is_root()
            || !real
            || std::path::Path::new("/run/systemd/system").exists()
        {
            eprintln!("skipped: needs root, service, update-rc.d and no running systemd");
            return;
        }
        let name = format!("berthtest_svc{}", std::process::id() % 100000);
        let mut h = crate::modules::sys_test_support::SysHarness::new();
        let flag = h.state("running");
        let script = format!(
            "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: {name}\n# Required-Start:\n# Required-Stop:\n\
             # Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n# Short-Description: berth test\n### END INIT INFO\n\
             case \"$1\" in start|restart|reload) touch {f};; stop) rm -f {f};; \
             status) [ -f {f} ] && exit 0; exit 3;; *) exit 2;; esac\n",
            f = flag.display()
        );
        let _guard = InitScript(name.clone());
        std::fs::write(format!("/etc/init.d/{name}"), script).unwrap();
        std::fs::set_permissions(
            format!("/etc/init.d/{name}"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        h.vars
            .insert("ansible_service_mgr".into(), json!("sysvinit"));
        let links = || {
            std::fs::read_dir("/etc/rc2.d")
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|f| f.ends_with(&name))
                .collect::<Vec<_>>()
        };
        // (args, changed)
        let steps: Vec<(Value, bool)> = vec![
            (
                json!({"name": name, "state": "started", "enabled": true}),
                true,
            ),
            (
                json!({"name": name, "state": "started", "enabled": true}),
                false,
            ),
            (json!({"name": name, "enabled": false}), true),
            (json!({"name": name, "enabled": false}), false),
            (
                json!({"name": name, "state": "stopped", "enabled": true}),
                true,
            ),
            (
                json!({"name": name, "state": "stopped", "enabled": true}),
                false,
            ),
        ];
        for (args, changed) in steps {
            let out = h.run(run, args.clone());
            assert_eq!(
                (out.is_changed(), out.is_failed()),
                (changed, false),
                "{args}: {out:?}"
            );
            let want_running = args.get("state").map(|s| s == "started");
            if let Some(r) = want_running {
                assert_eq!(flag.exists(), r, "{args}");
            }
            let enabled = args["enabled"].as_bool().unwrap_or(true);
            assert_eq!(
                links().iter().any(|l| l.starts_with('S')),
                enabled,
                "{args}: {:?}",
                links()
            );
        }
    }

    #[test]
    fn sysv_pattern_and_sleep() {
        let mut h = crate::modules::sys_test_support::SysHarness::new();
        h.vars
            .insert("ansible_service_mgr".into(), json!("sysvinit"));
        h.fake("service", "[ \"$2\" = status ] && exit 3; exit 0");
        // A process that matches the pattern: the service counts as running
        // although `service status` says otherwise.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30.4242")
            .spawn()
            .unwrap();
        let out = h.run(
            run,
            json!({"name": "x", "state": "started", "pattern": "sleep 30.4242"}),
        );
        let stopped = h.run(
            run,
            json!({"name": "x", "state": "stopped", "pattern": "sleep 30.4242"}),
        );
        sleeper.kill().unwrap();
        let _ = sleeper.wait();
        assert!(!out.is_changed(), "{out:?}");
        assert!(stopped.is_changed());
        let out = h.run(
            run,
            json!({"name": "x", "state": "started", "pattern": "sleep 30.4242"}),
        );
        assert!(out.is_changed(), "no process matches any more");
        h.take_calls();
        let out = h.run(run, json!({"name": "x", "state": "restarted", "sleep": 1}));
        assert!(out.is_changed());
        let calls: Vec<String> = h
            .take_calls()
            .into_iter()
            .filter(|c| !c.ends_with(" status"))
            .collect();
        assert_eq!(
            calls,
            vec!["service x stop".to_string(), "service x start".to_string()]
        );
    }

    #[test]
    fn probe_runs_once_per_host() {
        let mut h = crate::modules::sys_test_support::SysHarness::new();
        h.hostname = "service-probe-host".into();
        h.fake("service", "exit 0");
        let _ = h.run(run, json!({"name": "anything", "state": "started"}));
        let first = DETECTED
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .get("service-probe-host")
            .cloned();
        assert!(first.is_some());
        DETECTED
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .insert("service-probe-host".into(), "sysvinit".into());
        h.take_calls();
        let out = h.run(run, json!({"name": "anything", "state": "started"}));
        assert!(!out.is_failed(), "{out:?}");
        assert_eq!(
            h.take_calls(),
            vec!["service anything status".to_string()],
            "no probe, no systemctl"
        );
    }
}
