//! `systemd` / `systemd_service`: units through `systemctl`. One
//! `systemctl show` reads the unit's state (after `daemon-reload` when asked);
//! one more exec makes every needed change (mask, enable, start...) in order.

use serde_json::{Map, Value};

use super::args::Args;
use super::{quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

const KNOWN: &[&str] = &[
    "name",
    "unit",
    "service",
    "state",
    "enabled",
    "masked",
    "daemon_reload",
    "daemon-reload",
    "daemon_reexec",
    "daemon-reexec",
    "no_block",
    "scope",
    "force",
];
const PROPERTIES: &str = "Id,Names,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID,FragmentPath,ExecMainStatus";
const MARK: &str = "@@berth-systemd ";

/// What the task asks for.
pub(crate) struct SystemdParams {
    pub(crate) name: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) masked: Option<bool>,
    pub(crate) daemon_reload: bool,
    pub(crate) daemon_reexec: bool,
    pub(crate) no_block: bool,
    pub(crate) scope: String,
    pub(crate) force: bool,
}

fn opt_bool(a: &Args<'_>, key: &str) -> Result<Option<bool>, String> {
    if a.get(key).is_some() {
        a.bool(key, false).map(Some)
    } else {
        Ok(None)
    }
}

fn parse(args: &Map<String, Value>) -> Result<SystemdParams, String> {
    let a = Args::new("systemd", args);
    a.check_known(KNOWN)?;
    let name = match a.str("name")? {
        Some(n) => Some(n),
        None => match a.str("unit")? {
            Some(n) => Some(n),
            None => a.str("service")?,
        },
    };
    let p = SystemdParams {
        name,
        state: a.choice(
            "state",
            &["reloaded", "restarted", "started", "stopped"],
            None,
        )?,
        enabled: opt_bool(&a, "enabled")?,
        masked: opt_bool(&a, "masked")?,
        daemon_reload: a.bool("daemon_reload", false)? || a.bool("daemon-reload", false)?,
        daemon_reexec: a.bool("daemon_reexec", false)? || a.bool("daemon-reexec", false)?,
        no_block: a.bool("no_block", false)?,
        scope: a
            .choice("scope", &["system", "user", "global"], Some("system"))?
            .unwrap_or_default(),
        force: a.bool("force", false)?,
    };
    let wants_unit = p.state.is_some() || p.enabled.is_some() || p.masked.is_some();
    if !wants_unit && !p.daemon_reload && !p.daemon_reexec {
        return Err("one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec".into());
    }
    if wants_unit && p.name.is_none() {
        return Err("missing parameter(s) required by 'state', 'enabled', 'masked': name".into());
    }
    if p.scope == "global" && p.state.is_some() {
        return Err("state cannot be used with scope=global".into());
    }
    Ok(p)
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    match parse(args) {
        Ok(p) => run_params(ctx, &p),
        Err(msg) => Ok(ModuleOutcome::failed(msg)),
    }
}

/// What `systemctl is-enabled` may answer for a unit that exists (systemctl(1)).
const VALID_ENABLED_STATES: &[&str] = &[
    "enabled",
    "enabled-runtime",
    "linked",
    "linked-runtime",
    "masked",
    "masked-runtime",
    "static",
    "indirect",
    "disabled",
    "generated",
    "transient",
];

pub(crate) fn run_params(
    ctx: &mut ModuleContext<'_>,
    p: &SystemdParams,
) -> Result<ModuleOutcome, ConnError> {
    let systemctl = match p.scope.as_str() {
        "user" => "systemctl --user".to_string(),
        "global" => "systemctl --global".to_string(),
        _ => "systemctl".to_string(),
    };
    let mut result = ModuleOutcome::ok();
    if let Some(n) = &p.name {
        result = result.with("name", n.clone());
    }

    // Round trip 1: reloads (never in check mode) and the unit's state.
    // Ansible's "chroot or systemd offline": SYSTEMD_OFFLINE=1 in the
    // task's environment, or a root that is not PID 1's.
    let mut script = format!(
        "__off=0; [ \"${{SYSTEMD_OFFLINE:-}}\" = 1 ] && __off=1; [ -n \"${{debian_chroot:-}}\" ] && __off=1\n\
         __r1=$(stat -c %d:%i / 2>/dev/null); __r2=$(stat -c %d:%i /proc/1/root/. 2>/dev/null)\n\
         [ -n \"$__r1\" ] && [ -n \"$__r2\" ] && [ \"$__r1\" != \"$__r2\" ] && __off=1\n\
         echo \"{MARK}offline $__off\"\n"
    );
    let mut reload_steps = false;
    if !ctx.check_mode {
        for (flag, verb) in [
            (p.daemon_reload, "daemon-reload"),
            (p.daemon_reexec, "daemon-reexec"),
        ] {
            if flag {
                reload_steps = true;
                // Offline, a failed reload is a warning and the task goes on (Ansible).
                script.push_str(&format!(
                    "__e=$({systemctl} {verb} 2>&1) || {{ __rc=$?; if [ $__off = 1 ]; then echo \"{MARK}warn {verb} $__rc $(printf %s \"$__e\" | tr '\\n' ' ')\"; else echo \"$__e\" >&2; echo \"{MARK}failed {verb} $__rc\"; exit $__rc; fi; }}\n"
                ));
            }
        }
    }
    if let Some(n) = &p.name {
        // `systemctl show` ignored (in a chroot, offline) or failing: what
        // is-enabled and list-unit-files say instead, as Ansible asks them.
        script.push_str(&format!(
            "echo '{MARK}show'\n__show=$({systemctl} show {u} --property={PROPERTIES} 2>/dev/null); __rc=$?\n\
             case \"$__rc:$__show\" in 0:*=*) printf '%s\\n' \"$__show\";;\n\
             *) echo \"{MARK}enabled $({systemctl} is-enabled {u} 2>/dev/null | head -n1)\"; {systemctl} list-unit-files {u} >/dev/null 2>&1; echo \"{MARK}listed $?\";; esac\n",
            u = quote(n)
        ));
        if p.enabled.is_some() {
            // Ansible decides "enabled" from `is-enabled -l`: its listing of
            // an indirect unit's enabled triggers counts as enabled.
            script.push_str(&format!(
                "__l=$({systemctl} is-enabled {u} -l 2>/dev/null); __lrc=$?; printf '%s\\n' \"$__l\" | sed 's/^/{MARK}l /'; echo \"{MARK}listing-rc $__lrc\"\n",
                u = quote(n)
            ));
        }
    }
    let has_unit = p.name.is_some();
    let mut listing: Option<(String, i32)> = None;
    let mut offline = false;
    let mut fallback: Option<(String, bool)> = None;
    let mut warnings: Vec<String> = Vec::new();
    let status = if !has_unit && !reload_steps {
        Map::new()
    } else {
        let out = ctx.exec(&script, None)?;
        let text = out.stdout_str();
        if let Some(line) = text
            .lines()
            .find(|l| l.starts_with(&format!("{MARK}failed")))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            return Ok(ModuleOutcome::failed(format!(
                "failure {} during {}: {}",
                words.get(3).unwrap_or(&"1"),
                words.get(2).unwrap_or(&"daemon-reload"),
                out.stderr_str().trim()
            )));
        }
        let mut status = Map::new();
        let mut enabled_out = None;
        let mut listed = false;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(MARK) {
                let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                match word {
                    "offline" => offline = rest == "1",
                    "enabled" => enabled_out = Some(rest.trim().to_string()),
                    "listed" => listed = rest == "0",
                    "l" => {
                        let l = listing.get_or_insert_with(|| (String::new(), 1));
                        l.0.push_str(rest);
                        l.0.push('\n');
                    }
                    "listing-rc" => {
                        listing.get_or_insert_with(|| (String::new(), 1)).1 =
                            rest.trim().parse().unwrap_or(1)
                    }
                    "warn" => {
                        let mut w = rest.splitn(3, ' ');
                        let (verb, rc, err) = (
                            w.next().unwrap_or(""),
                            w.next().unwrap_or(""),
                            w.next().unwrap_or("").trim(),
                        );
                        warnings.push(format!("{verb} failed, but target is a chroot or systemd is offline. Continuing. Error was: {rc} / {err}"));
                    }
                    _ => {}
                }
            } else if let Some((k, v)) = line.split_once('=') {
                status.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
        if let Some(e) = enabled_out {
            fallback = Some((e, listed));
        }
        status
    };
    if !warnings.is_empty() {
        result = result.with("warnings", warnings.clone());
    }
    let Some(unit) = p.name.clone() else {
        return Ok(result);
    };
    let get = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // Without `show`, a unit is there when is-enabled names a state or
    // list-unit-files knows it (Ansible's fallback).
    let (found, unit_file_state) = match &fallback {
        Some((state, listed)) => (
            VALID_ENABLED_STATES.contains(&state.as_str()) || *listed,
            state.clone(),
        ),
        None => (
            !status.is_empty() && get("LoadState") != "not-found",
            get("UnitFileState"),
        ),
    };
    let active = get("ActiveState");

    let mut steps: Vec<String> = Vec::new();
    if let Some(masked) = p.masked {
        let is_masked = unit_file_state == "masked" || get("LoadState") == "masked";
        if masked != is_masked {
            steps.push(if masked { "mask" } else { "unmask" }.to_string());
        }
        result = result.with("masked", masked);
    }
    if let Some(enabled) = p.enabled {
        if !found && p.masked != Some(false) {
            return Ok(ModuleOutcome::failed(format!(
                "Could not find the requested service {unit}: host"
            ))
            .with("status", status));
        }
        let is_enabled = match &listing {
            Some((out, 0)) => !matches!(out.trim_end(), "enabled-runtime" | "indirect" | "alias"),
            Some(_) => false,
            None => false,
        };
        // Unmasking in this same task makes the unit's state readable only
        // after the fact; a masked unit is never enabled.
        if enabled != is_enabled || (enabled && steps.iter().any(|s| s == "unmask")) {
            steps.push(if enabled { "enable" } else { "disable" }.to_string());
        }
        result = result.with("enabled", enabled);
    }
    if let Some(state) = &p.state {
        if !found {
            return Ok(ModuleOutcome::failed(format!(
                "Could not find the requested service {unit}: host"
            ))
            .with("status", status));
        }
        if !status.contains_key("ActiveState") {
            // Nothing can tell whether it runs: offline, Ansible warns and
            // reports the state asked for.
            if !offline {
                return Ok(
                    ModuleOutcome::failed("Service is in unknown state").with("status", status)
                );
            }
            warnings.push("Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working.".into());
            result = result.with("warnings", warnings.clone());
        }
        let running = matches!(active.as_str(), "active" | "activating");
        let deactivating = active == "deactivating";
        let action = if !status.contains_key("ActiveState") {
            None
        } else {
            match state.as_str() {
                "started" => (!running).then_some("start"),
                "stopped" => (running || deactivating).then_some("stop"),
                "restarted" => Some(if running { "restart" } else { "start" }),
                _ => Some(if running { "reload" } else { "start" }),
            }
        };
        if let Some(a) = action {
            steps.push(a.to_string());
        }
        // A unit restarted or reloaded is reported `started` (Ansible).
        let reported = if matches!(state.as_str(), "restarted" | "reloaded")
            && status.contains_key("ActiveState")
        {
            "started"
        } else {
            state.as_str()
        };
        result = result.with("state", reported);
    }
    result = result.with("status", Value::Object(status.clone()));
    if steps.is_empty() {
        return Ok(result);
    }
    if ctx.check_mode {
        return Ok(result.with("changed", true));
    }
    // Round trip 2: every change, in Ansible's order, stopping at the first failure.
    let no_block = if p.no_block { " --no-block" } else { "" };
    let force = if p.force { " --force" } else { "" };
    let mut script = String::new();
    for step in &steps {
        let flags = match step.as_str() {
            "start" | "stop" | "restart" | "reload" => no_block,
            "enable" | "disable" | "mask" => force,
            _ => "",
        };
        script.push_str(&format!(
            "{systemctl}{flags} {step} {u} || {{ __rc=$?; echo \"{MARK}failed {step} $__rc\"; exit $__rc; }}\n",
            u = quote(&unit)
        ));
    }
    let out = ctx.exec(&script, None)?;
    if let Some(line) = out
        .stdout_str()
        .lines()
        .find(|l| l.starts_with(&format!("{MARK}failed")))
    {
        let step = line.split_whitespace().nth(2).unwrap_or("change");
        return Ok(ModuleOutcome::failed(format!(
            "Unable to {step} service {unit}: {}",
            out.stderr_str().trim()
        ))
        .with("name", unit)
        .with("rc", out.rc));
    }
    Ok(result.with("changed", true))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::modules::sys_test_support::{s, SysHarness};
    use pretty_assertions::assert_eq;
    use serde_json::json;

    /// A fake `systemctl` over `$STATE/<unit>.active` and `$STATE/<unit>.file`;
    /// a unit exists when its `.file` exists.
    pub(crate) fn systemd_harness(units: &[(&str, &str, &str)]) -> SysHarness {
        let h = SysHarness::new();
        for (unit, active, file) in units {
            std::fs::write(h.state(&format!("{unit}.active")), active).unwrap();
            std::fs::write(h.state(&format!("{unit}.file")), file).unwrap();
        }
        h.fake(
            "systemctl",
            r#"verb=; unit=
for a in "$@"; do case "$a" in --*) ;; *) if [ -z "$verb" ]; then verb=$a; elif [ -z "$unit" ]; then unit=$a; fi;; esac; done
f="$STATE/$unit.file"; act="$STATE/$unit.active"
if [ -n "${SYSTEMD_OFFLINE:-}" ]; then case "$verb" in
  show) echo "Running in chroot, ignoring command 'show'" >&2; exit 1;;
  is-enabled) [ -f "$f" ] && { cat "$f"; exit 0; }; echo "Failed to get unit file state for $unit.service: No such file or directory" >&2; exit 1;;
  list-unit-files) exit 1;;
  daemon-reload|daemon-reexec) echo "Running in chroot, ignoring request." >&2; exit 1;;
esac; fi
case "$verb" in
  is-enabled) [ -f "$f" ] || exit 4; st=$(cat "$f"); echo "$st"
    case "$st" in enabled|enabled-runtime|static|indirect|alias|generated|transient) exit 0;; *) exit 1;; esac;;
  daemon-reload|daemon-reexec) [ -f "$STATE/reload_fails" ] && { echo "Failed to reload daemon" >&2; exit 1; }; exit 0;;
  show) if [ -f "$f" ]; then load=loaded; [ "$(cat "$f")" = masked ] && load=masked
          echo "Id=$unit.service"; echo "LoadState=$load"; echo "ActiveState=$(cat "$act")"; echo "SubState=x"; echo "UnitFileState=$(cat "$f")"
        else echo "Id=$unit.service"; echo "LoadState=not-found"; echo "ActiveState=inactive"; echo "UnitFileState="; fi; exit 0;;
esac
[ -f "$f" ] || { echo "Failed to $verb $unit.service: Unit $unit.service not found." >&2; exit 5; }
case "$verb" in
  start|restart|reload) [ "$(cat "$f")" = masked ] && { echo "Failed to $verb $unit.service: Unit $unit.service is masked." >&2; exit 1; }; echo active > "$act";;
  stop) echo inactive > "$act";;
  enable) echo enabled > "$f";;
  disable) echo disabled > "$f";;
  mask) echo masked > "$f";;
  unmask) echo disabled > "$f";;
esac"#,
        );
        h
    }

    fn changing(calls: &[String]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| !c.contains(" show ") && !c.contains(" is-enabled "))
            .cloned()
            .collect()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn fixture_table() {
        // (active, unit file state, args, changed, failed, state-changing calls)
        let cases: Vec<(&str, &str, Value, bool, bool, Vec<&str>)> = vec![
            // indirect (a socket's service): never disabled, enabled on request (Ansible).
            (
                "inactive",
                "indirect",
                json!({"name": "web", "enabled": false}),
                false,
                false,
                vec![],
            ),
            (
                "inactive",
                "indirect",
                json!({"name": "web", "enabled": true}),
                true,
                false,
                vec!["systemctl enable web"],
            ),
            (
                "inactive",
                "enabled-runtime",
                json!({"name": "web", "enabled": true}),
                true,
                false,
                vec!["systemctl enable web"],
            ),
            (
                "inactive",
                "disabled",
                json!({"name": "web", "state": "started", "enabled": true}),
                true,
                false,
                vec!["systemctl enable web", "systemctl start web"],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "state": "started", "enabled": "yes"}),
                false,
                false,
                vec![],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "state": "stopped"}),
                true,
                false,
                vec!["systemctl stop web"],
            ),
            (
                "inactive",
                "enabled",
                json!({"name": "web", "state": "stopped"}),
                false,
                false,
                vec![],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "state": "restarted"}),
                true,
                false,
                vec!["systemctl restart web"],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "state": "reloaded"}),
                true,
                false,
                vec!["systemctl reload web"],
            ),
            (
                "inactive",
                "enabled",
                json!({"name": "web", "state": "reloaded"}),
                true,
                false,
                vec!["systemctl start web"],
            ),
            (
                "active",
                "static",
                json!({"name": "web", "enabled": true}),
                false,
                false,
                vec![],
            ),
            (
                "inactive",
                "masked",
                json!({"name": "web", "masked": false, "enabled": true, "state": "started"}),
                true,
                false,
                vec![
                    "systemctl unmask web",
                    "systemctl enable web",
                    "systemctl start web",
                ],
            ),
            (
                "active",
                "enabled",
                json!({"name": "web", "masked": true}),
                true,
                false,
                vec!["systemctl mask web"],
            ),
            (
                "inactive",
                "disabled",
                json!({"name": "web", "state": "started", "no_block": true, "daemon_reload": true}),
                true,
                false,
                vec!["systemctl daemon-reload", "systemctl --no-block start web"],
            ),
            (
                "inactive",
                "disabled",
                json!({"daemon_reload": true}),
                false,
                false,
                vec!["systemctl daemon-reload"],
            ),
            (
                "inactive",
                "disabled",
                json!({"name": "web", "state": "started", "scope": "user"}),
                true,
                false,
                vec!["systemctl --user start web"],
            ),
            (
                "inactive",
                "disabled",
                json!({"name": "ghost", "state": "started"}),
                false,
                true,
                vec![],
            ),
            (
                "inactive",
                "disabled",
                json!({"name": "web"}),
                false,
                true,
                vec![],
            ),
            (
                "inactive",
                "disabled",
                json!({"state": "started"}),
                false,
                true,
                vec![],
            ),
            (
                "inactive",
                "disabled",
                json!({"name": "web", "state": "running"}),
                false,
                true,
                vec![],
            ),
        ];
        for (active, file, args, changed, failed, calls) in cases {
            let want: Vec<String> = calls.iter().map(|c| c.to_string()).collect();
            // Check mode: same answer, no changing call.
            let mut h = systemd_harness(&[("web", active, file)]);
            h.check_mode = true;
            let out = h.run(run, args.clone());
            assert_eq!(
                (out.is_changed(), out.is_failed()),
                (changed, failed),
                "check mode {args}: {out:?}"
            );
            assert_eq!(
                changing(&h.take_calls()),
                Vec::<String>::new(),
                "check mode {args}"
            );
            // Real run: the exact commands, then a second run changes nothing.
            let mut h = systemd_harness(&[("web", active, file)]);
            let out = h.run(run, args.clone());
            assert_eq!(
                (out.is_changed(), out.is_failed(), changing(&h.take_calls())),
                (changed, failed, want),
                "{args}: {out:?}"
            );
            let restart = matches!(
                args.get("state").and_then(Value::as_str),
                Some("restarted") | Some("reloaded")
            );
            if changed && !restart && args.get("name").is_some() {
                let again = h.run(run, args.clone());
                assert!(
                    !again.is_changed(),
                    "second run of {args}: {:?}",
                    h.take_calls()
                );
            }
        }
    }

    #[test]
    fn one_round_trip_to_read_one_to_change() {
        use crate::modules::sys_test_support::run_counted;
        let mut h = systemd_harness(&[("web", "inactive", "masked")]);
        let args = json!({"name": "web", "masked": false, "enabled": true, "state": "started", "daemon_reload": true});
        assert_eq!(
            run_counted(&mut h, run, args.clone()).1,
            2,
            "reload + show, then unmask + enable + start"
        );
        assert_eq!(run_counted(&mut h, run, args).1, 1);
    }

    #[test]
    fn offline_units_are_found_by_is_enabled_and_left_as_they_are() {
        let mut h = systemd_harness(&[("web", "active", "enabled")]);
        h.extra_env.push(("SYSTEMD_OFFLINE".into(), "1".into()));
        let out = h.run(
            run,
            json!({"name": "web", "state": "started", "daemon_reload": true}),
        );
        assert_eq!(out.result.get("failed"), None, "{:?}", out.result);
        assert_eq!(out.result["changed"], false);
        assert_eq!(s(&out, "state"), "started");
        assert_eq!(out.result["status"], json!({}));
        assert_eq!(
            out.result["warnings"],
            json!([
                "daemon-reload failed, but target is a chroot or systemd is offline. Continuing. Error was: 1 / Running in chroot, ignoring request.",
                "Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working."
            ])
        );
        assert!(changing(&h.take_calls())
            .iter()
            .all(|c| !c.contains("start")));
        let out = h.run(run, json!({"name": "nope", "state": "started"}));
        assert_eq!(
            s(&out, "msg"),
            "Could not find the requested service nope: host"
        );
        // Offline, enabling still works from is-enabled's answer.
        let out = h.run(run, json!({"name": "web", "enabled": true}));
        assert_eq!(out.result["changed"], false, "{:?}", out.result);
    }

    #[test]
    fn one_show_call_and_return_values() {
        let mut h = systemd_harness(&[("web", "active", "enabled")]);
        let out = h.run(
            run,
            json!({"name": "web", "state": "started", "enabled": true}),
        );
        let calls = h.take_calls();
        // One exec: the unit's state and, as `enabled` is asked, `is-enabled -l`.
        assert_eq!(
            calls,
            vec![
                format!("systemctl show web --property={PROPERTIES}"),
                "systemctl is-enabled web -l".to_string()
            ]
        );
        assert_eq!(s(&out, "name"), "web");
        assert_eq!(s(&out, "state"), "started");
        // Restarted and reloaded units are reported as started, as Ansible does.
        for asked in ["restarted", "reloaded"] {
            let out = h.run(run, json!({"name": "web", "state": asked}));
            assert_eq!(
                (s(&out, "state"), out.is_changed()),
                ("started".to_string(), true),
                "{asked}"
            );
        }
        assert_eq!(out.result["enabled"], json!(true));
        assert_eq!(out.result["status"]["ActiveState"], json!("active"));
        assert_eq!(out.result["status"]["UnitFileState"], json!("enabled"));
    }

    #[test]
    fn failures_use_ansible_messages() {
        let mut h = systemd_harness(&[("web", "inactive", "masked")]);
        let out = h.run(run, json!({"name": "web", "state": "started"}));
        assert!(out.is_failed());
        assert_eq!(
            s(&out, "msg"),
            "Unable to start service web: Failed to start web.service: Unit web.service is masked."
        );
        let out = h.run(run, json!({"name": "nope", "enabled": true}));
        assert_eq!(
            s(&out, "msg"),
            "Could not find the requested service nope: host"
        );
        std::fs::write(h.state("reload_fails"), "").unwrap();
        let out = h.run(run, json!({"daemon_reload": true}));
        assert_eq!(
            s(&out, "msg"),
            "failure 1 during daemon-reload: Failed to reload daemon"
        );
    }
}
