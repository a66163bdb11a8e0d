//! The other deploy commands (seed 003 §4–§8): `--rollback [--to vN]`,
//! `--status`, `--logs`, `--ssh`, `--remove`, `--list --server`, and
//! `berth env ENV list|set`.

use std::io::IsTerminal;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::manifest::model::Manifest;

use super::layout::Layout;
use super::plan;
use super::registry;
use super::release;
use super::remote::{q, Remote};
use super::secrets;
use super::services;
use super::target::{self, ConnectOpts, Target};
use super::ui::Ui;
use super::workflow::Loaded;

fn connect_all(m: &Manifest, c: &ConnectOpts) -> Vec<(Target, Result<Remote, String>)> {
    let targets = target::targets(m, c);
    std::thread::scope(|s| {
        let hs: Vec<_> = targets.into_iter().map(|t| s.spawn(move || { let r = target::connect(&t, c); (t, r) })).collect();
        hs.into_iter().map(|h| h.join().expect("connect thread")).collect()
    })
}

fn app_ports(remote: &mut Remote, layout: &Layout, m: &Manifest, state: &release::HostApp) -> Result<Vec<u16>, String> {
    let reg = registry::read(remote, layout)?;
    let ports: Vec<u16> = reg["apps"][&m.app]["ports"].as_array().map(|a| a.iter().filter_map(|p| p.as_u64().map(|p| p as u16)).collect()).unwrap_or_default();
    if !ports.is_empty() {
        return Ok(ports);
    }
    Ok(state.current_manifest.as_ref().map(|c| c.ports.clone()).unwrap_or_default())
}

/// `--rollback [--to vN]`: flip `current` back, restart, health check.
pub(crate) fn rollback(loaded: &Loaded, c: &ConnectOpts, to: Option<&str>, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let mut ok = true;
    let mut results = Vec::new();
    for (t, r) in connect_all(m, c) {
        ui.line(&format!("  Rolling back {} on {}...", m.app, t.label));
        let result = r.and_then(|mut remote| {
            let state = release::read_state(&mut remote, &c.layout, &m.app)?;
            let cur = state.current.clone().ok_or_else(|| format!("{} is not deployed on {}", m.app, t.label))?;
            let target = match to {
                Some(v) if state.has(v) => v.to_owned(),
                Some(v) => {
                    let have: Vec<String> = state.releases.iter().map(|(n, _)| format!("v{n}")).collect();
                    return Err(format!("release {v} is not on {} (releases there: {})", t.label, have.join(", ")));
                }
                None => state.rollback_target().ok_or_else(|| format!("no earlier good release than {cur} on {}", t.label))?,
            };
            if target == cur {
                ui.step("", &format!("current is already {cur}"), true);
                return Ok(target);
            }
            release::flip(&mut remote, &c.layout, &m.app, &target)?;
            ui.step("", &format!("current → releases/{target} (was {cur})"), true);
            let ports = app_ports(&mut remote, &c.layout, m, &state)?;
            let mut quiet = |_: u16, _: Result<(), &str>| {};
            let restarted = services::rolling_restart(&mut remote, &m.app, &ports, &m.health.path, m.health.timeout_secs, &mut quiet);
            ui.step("", "Services restarted", restarted.is_ok());
            restarted?;
            ui.step("", "Health check passed", true);
            registry::set_version(&mut remote, &c.layout, &m.app, &target)?;
            Ok(target)
        });
        match &result {
            Ok(v) => ui.line(&format!("\n  ✓ Rolled back to {v}")),
            Err(e) => {
                ok = false;
                ui.line(&format!("\n  ✗ Rollback failed: {e}"));
            }
        }
        results.push(json!({"host": t.label, "ok": result.is_ok(), "version": result.as_ref().ok(), "error": result.as_ref().err()}));
    }
    if ui.json() {
        println!("{}", json!({"ok": ok, "hosts": results}));
    }
    if ok {
        0
    } else {
        1
    }
}

/// `--status`: instances, databases, releases, the last deploy.
pub(crate) fn status(loaded: &Loaded, c: &ConnectOpts, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let url = format!("{}://{}", plan::scheme(m.tls), m.domain);
    let mut ok = true;
    let mut hosts = Vec::new();
    for (t, r) in connect_all(m, c) {
        let result = r.and_then(|mut remote| status_host(&mut remote, m, c, &url, &t, &ui));
        match result {
            Ok(v) => hosts.push(v),
            Err(e) => {
                ok = false;
                ui.line(&format!("  {}: ✗ {e}", t.label));
                hosts.push(json!({"host": t.label, "error": e}));
            }
        }
    }
    if ui.json() {
        println!("{}", json!({"ok": ok, "app": m.app, "env": m.env, "hosts": hosts}));
    }
    if ok {
        0
    } else {
        1
    }
}

fn status_host(remote: &mut Remote, m: &Manifest, c: &ConnectOpts, url: &str, t: &Target, ui: &Ui) -> Result<Value, String> {
    let state = release::read_state(remote, &c.layout, &m.app)?;
    let ports = app_ports(remote, &c.layout, m, &state)?;
    let insts = services::instances(remote, &m.app, &ports, &m.health.path)?;
    let healthy = insts.iter().filter(|i| i.healthy).count();
    let running = insts.iter().filter(|i| i.active == "active").count();
    let title = format!("{} — {url} on {}", m.app, t.label);
    ui.line(&format!("  {title}\n  {}", "─".repeat(title.chars().count())));
    let status = match (&state.current, running) {
        (None, _) => "○ not deployed".to_string(),
        (Some(v), n) if n == insts.len() && n > 0 => format!("● running ({v})"),
        (Some(v), 0) => format!("✗ stopped ({v})"),
        (Some(v), _) => format!("◐ degraded ({v})"),
    };
    ui.line(&format!("  Status:     {status}"));
    let oldest = insts.iter().filter_map(|i| i.uptime_secs).max();
    if let Some(u) = oldest {
        ui.line(&format!("  Uptime:     {}", services::human_duration(u)));
    }
    ui.line(&format!("  Instances:  {healthy}/{} healthy\n", insts.len()));
    for i in &insts {
        let dot = if i.active == "active" { "●" } else { "✗" };
        ui.line(&format!(
            "    @{}   {dot} {:<9} mem: {:<8} uptime: {:<8} health: {}",
            i.port,
            i.active,
            i.memory_bytes.map(services::human_bytes).unwrap_or_else(|| "-".into()),
            i.uptime_secs.map(services::human_duration).unwrap_or_else(|| "-".into()),
            if i.healthy { "ok" } else { "failing" }
        ));
    }
    let mut dbs = Vec::new();
    if let Some(p) = &m.databases.postgres {
        dbs.push(("postgresql", format!("PostgreSQL  {{}}   {}", p.name)));
    }
    if m.databases.redis.is_some() {
        dbs.push(("redis-server", "Redis       {}".to_string()));
    }
    if !dbs.is_empty() {
        ui.line("\n  Database:");
        for (unit, text) in &dbs {
            let active = remote.exec(&format!("systemctl is-active {}", q(unit)), None).map(|o| o.stdout_str().trim().to_owned()).unwrap_or_default();
            let dot = if active == "active" { "● running" } else { "✗ not running" };
            ui.line(&format!("    {}", text.replace("{}", dot)));
        }
    }
    let failed: Vec<String> = state.releases.iter().filter(|(_, f)| *f).map(|(n, _)| format!("v{n}")).collect();
    if let Some(cm) = &state.current_manifest {
        ui.line(&format!("\n  Last deploy:  {} ({})", format_time(cm.deployed_at), cm.version));
    }
    ui.line(&format!("  Releases:     {} (keeping last {})", state.releases.len(), m.keep_releases));
    if !failed.is_empty() {
        ui.line(&format!("  Failed:       {} (health check failed, rolled back; kept for debugging)", failed.join(", ")));
    }
    let (modules_line, modules) = super::modules_store::status(remote, &c.layout, &m.app)?;
    ui.line(&modules_line);
    ui.line("");
    Ok(json!({
        "modules": modules,
        "host": t.label,
        "current": state.current,
        "releases": state.releases.iter().map(|(n, _)| format!("v{n}")).collect::<Vec<_>>(),
        "failed_releases": failed,
        "instances": insts.iter().map(|i| json!({"port": i.port, "active": i.active, "healthy": i.healthy, "memory": i.memory_bytes, "uptime": i.uptime_secs})).collect::<Vec<_>>(),
        "healthy": healthy,
        "deployed_at": state.current_manifest.as_ref().map(|c| c.deployed_at),
    }))
}

fn format_time(secs: u64) -> String {
    let out = std::process::Command::new("date").arg("-u").arg("-d").arg(format!("@{secs}")).arg("+%Y-%m-%d %H:%M:%S UTC").output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => format!("@{secs}"),
    }
}

/// The journalctl command for `--logs`.
pub(crate) fn logs_command(app: &str, ports: &[u16], instance: Option<u32>, since: Option<&str>, follow: bool) -> Result<String, String> {
    let units: Vec<String> = match instance {
        None => vec![format!("tova-{app}@*")],
        Some(n) if n >= 1 && (n as usize) <= ports.len() => vec![format!("tova-{app}@{}.service", ports[n as usize - 1])],
        Some(n) if ports.contains(&(n as u16)) => vec![format!("tova-{app}@{n}.service")],
        Some(n) => return Err(format!("instance {n} does not exist: {app} has {} instance(s) on ports {:?}; use 1..{} or a port", ports.len(), ports, ports.len())),
    };
    let mut cmd = String::from("journalctl --no-pager -o short-iso");
    for u in &units {
        cmd.push_str(&format!(" -u {}", q(u)));
    }
    if let Some(s) = since {
        cmd.push_str(&format!(" --since {}", q(s)));
    } else if !follow {
        cmd.push_str(" -n 200");
    }
    if follow {
        cmd.push_str(" -f");
    }
    Ok(cmd)
}

/// The `ssh` client arguments for a target (`--ssh`, `--logs`).
pub(crate) fn ssh_client_args(t: &Target, c: &ConnectOpts, tty: bool) -> Vec<String> {
    let mut args = vec!["-p".to_string(), t.ssh.port.to_string()];
    if tty {
        args.push("-t".into());
    }
    if let Some(k) = &c.private_key {
        args.push("-i".into());
        args.push(k.display().to_string());
    }
    if let Some(k) = &c.known_hosts {
        args.push("-o".into());
        args.push(format!("UserKnownHostsFile={}", k.display()));
    }
    args.push("-o".into());
    args.push(format!(
        "StrictHostKeyChecking={}",
        match c.host_key_checking {
            crate::connection::known_hosts::HostKeyChecking::Strict => "yes",
            crate::connection::known_hosts::HostKeyChecking::AcceptNew => "accept-new",
            _ => "no",
        }
    ));
    args.push(format!("{}@{}", t.ssh.user, t.ssh.host));
    args
}

/// `--logs`: journalctl on the first host (all hosts without --follow).
pub(crate) fn logs(loaded: &Loaded, c: &ConnectOpts, instance: Option<u32>, since: Option<&str>, follow: bool, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let targets = target::targets(m, c);
    for t in &targets {
        let ports = match target::connect(t, c).and_then(|mut r| {
            let state = release::read_state(&mut r, &c.layout, &m.app)?;
            app_ports(&mut r, &c.layout, m, &state)
        }) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let cmd = match logs_command(&m.app, &ports, instance, since, follow) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        if follow && !c.local {
            if targets.len() > 1 {
                ui.line(&format!("  Streaming {} (first host of {}; Ctrl-C to stop)", t.label, targets.len()));
            }
            // The ssh client streams until Ctrl-C, with a terminal when there is one.
            let mut args = ssh_client_args(t, c, std::io::stdout().is_terminal());
            args.push(if t.ssh.user == "root" { cmd } else { format!("sudo -n {cmd}") });
            use std::os::unix::process::CommandExt;
            let err = std::process::Command::new("ssh").args(&args).exec();
            eprintln!("error: cannot run the ssh client: {err}");
            return 1;
        }
        if follow {
            let status = std::process::Command::new("/bin/sh").arg("-c").arg(&cmd).status();
            return status.ok().and_then(|s| s.code()).unwrap_or(1);
        }
        match target::connect(t, c).and_then(|mut r| r.run("reading logs", &cmd, None)) {
            Ok(text) => {
                if targets.len() > 1 {
                    ui.line(&format!("==> {} <==", t.label));
                }
                ui.raw(&text);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    0
}

/// `--ssh`: an interactive shell in the app directory of the first host.
pub(crate) fn ssh(loaded: &Loaded, c: &ConnectOpts) -> i32 {
    let m = &loaded.manifest;
    let Some(t) = target::targets(m, c).into_iter().next() else {
        eprintln!("error: deploy block \"{}\" has no server", m.env);
        return 1;
    };
    let mut args = ssh_client_args(&t, c, true);
    args.push(format!("cd {} 2>/dev/null; exec \"${{SHELL:-/bin/sh}}\" -l", q(&c.layout.app_dir(&m.app))));
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("ssh").args(&args).exec();
    eprintln!("error: cannot run the ssh client: {err}");
    1
}

/// `--remove`: stop and drop the app's units and Caddy site, archive its
/// data (and a database dump), release its ports. Nothing is deleted.
pub(crate) fn remove(loaded: &Loaded, c: &ConnectOpts, yes: bool, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("error: no terminal to confirm on: pass --yes to remove {} (nothing was changed)", m.app);
            return 1;
        }
        eprint!("Remove \"{}\" from {}? Data is archived, not deleted. [y/n] ", m.app, plan::target_label(m));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return 1;
        }
    }
    let mut ok = true;
    let mut hosts = Vec::new();
    for (t, r) in connect_all(m, c) {
        ui.line(&format!("  Removing \"{}\" from {}...", m.app, t.label));
        let result = r.and_then(|mut remote| remove_host(&mut remote, m, c, &ui));
        match &result {
            Ok(archive) => ui.line(&format!("\n  ✓ Removed (data archived in {archive}, not deleted)")),
            Err(e) => {
                ok = false;
                ui.line(&format!("\n  ✗ {e}"));
            }
        }
        hosts.push(json!({"host": t.label, "ok": result.is_ok(), "archive": result.as_ref().ok(), "error": result.as_ref().err()}));
    }
    if ui.json() {
        println!("{}", json!({"ok": ok, "hosts": hosts}));
    }
    if ok {
        0
    } else {
        1
    }
}

pub(crate) fn remove_script(layout: &Layout, app: &str, postgres_db: Option<&str>) -> String {
    format!(
        r#"{prologue}stamp=$(date -u +%Y%m%dT%H%M%SZ)
archive="$ROOT/archive/$APP/$stamp"
mkdir -p "$archive"
chmod 0700 "$ROOT/archive" "$ROOT/archive/$APP" "$archive"
n=0
for unit in $(systemctl list-units --all --plain --no-legend "tova-$APP@*.service" 2>/dev/null | awk '{{print $1}}'); do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
  n=$((n + 1))
done
echo "STEP Stop $n instances"
systemctl disable --now "tova-$APP-health.timer" >/dev/null 2>&1 || true
rm -f "/etc/systemd/system/tova-$APP@.service" "/etc/systemd/system/tova-$APP-health.service" "/etc/systemd/system/tova-$APP-health.timer"
systemctl daemon-reload
echo "STEP Remove systemd services"
if [ -f "$ROOT/caddy/apps/$APP.caddy" ]; then
  mv "$ROOT/caddy/apps/$APP.caddy" "$archive/$APP.caddy"
  if command -v caddy >/dev/null 2>&1; then
    caddy validate --adapter caddyfile --config /etc/caddy/Caddyfile >/dev/null 2>&1 && systemctl reload caddy || true
  fi
fi
echo "STEP Remove Caddy config"
DB={db}
if [ -n "$DB" ] && command -v pg_dump >/dev/null 2>&1; then
  if runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" 2>/dev/null | grep -q 1; then
    runuser -u postgres -- pg_dump --no-owner "$DB" > "$archive/$DB.sql"
    echo "STEP Dump database $DB to the archive (the database is kept)"
  fi
fi
if [ -d "$app" ]; then
  mv "$app" "$archive/app"
fi
echo "STEP Archive data to $archive"
echo "ARCHIVE $archive"
"#,
        prologue = layout.prologue(app),
        db = q(postgres_db.unwrap_or("")),
    )
}

fn remove_host(remote: &mut Remote, m: &Manifest, c: &ConnectOpts, ui: &Ui) -> Result<String, String> {
    let out = remote.run("removing the app", &remove_script(&c.layout, &m.app, m.databases.postgres.as_ref().map(|p| p.name.as_str())), None)?;
    for line in out.lines() {
        if let Some(step) = line.strip_prefix("STEP ") {
            ui.step("", step, true);
        }
    }
    let ports = registry::release(remote, &c.layout, &m.app)?;
    ui.step("", &format!("Release {}", plan::port_range(&ports)), true);
    out.lines().find_map(|l| l.strip_prefix("ARCHIVE ")).map(str::to_owned).ok_or_else(|| "the removal script printed no archive".into())
}

/// `berth deploy --list --server T`: every app on a host.
pub(crate) fn list(server: &str, c: &ConnectOpts, ui: Arc<Ui>) -> i32 {
    let st = match target::parse_target(server) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let ssh = target::ssh_options(&st, c);
    let t = Target { inventory_name: st.host.clone(), label: format!("{}@{}", ssh.user, st.host), ssh };
    let result = target::connect(&t, c).and_then(|mut r| list_host(&mut r, c, &st.host, &ui));
    match result {
        Ok(v) => {
            if ui.json() {
                println!("{v}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn list_host(remote: &mut Remote, c: &ConnectOpts, host: &str, ui: &Ui) -> Result<Value, String> {
    let reg = registry::read(remote, &c.layout)?;
    let apps = reg["apps"].as_object().cloned().unwrap_or_default();
    let title = format!("Apps on {host}");
    ui.line(&format!("  {title}\n  {}", "─".repeat(37)));
    let mut out = Vec::new();
    for (name, entry) in &apps {
        let ports: Vec<u16> = entry["ports"].as_array().map(|a| a.iter().filter_map(|p| p.as_u64().map(|p| p as u16)).collect()).unwrap_or_default();
        let mut script = String::new();
        for p in &ports {
            script.push_str(&format!("systemctl is-active {} || true\n", q(&format!("tova-{name}@{p}.service"))));
        }
        let active = remote.exec(&script, None)?.stdout_str().lines().filter(|l| *l == "active").count();
        let state = if ports.is_empty() {
            "○ no instances"
        } else if active == ports.len() {
            "● running"
        } else if active == 0 {
            "✗ stopped"
        } else {
            "◐ degraded"
        };
        let n = ports.len();
        let version = entry["version"].as_str().filter(|s| !s.is_empty()).unwrap_or("—");
        ui.line(&format!(
            "  {name:<10} {:<24} {version:<4} {n} instance{}   {}   {state}",
            entry["domain"].as_str().unwrap_or(""),
            if n == 1 { " " } else { "s" },
            plan::port_range(&ports)
        ));
        out.push(json!({"app": name, "domain": entry["domain"], "version": entry["version"], "ports": ports, "running": active}));
    }
    if apps.is_empty() {
        ui.line("  (no apps)");
    }
    let res = remote.exec(
        "for u in postgresql redis-server caddy; do printf '%s %s\\n' \"$u\" \"$(systemctl is-active $u 2>/dev/null || true)\"; done\nfree -b | awk '/^Mem:/ {print \"MEM\", $3, $2}'\ndf -B1 /opt 2>/dev/null | awk 'NR==2 {print \"DISK\", $3, $2}'\n",
        None,
    )?;
    let text = res.stdout_str();
    let mut resources = Vec::new();
    for (unit, label) in [("postgresql", "PostgreSQL"), ("redis-server", "Redis"), ("caddy", "Caddy")] {
        if let Some(line) = text.lines().find(|l| l.starts_with(&format!("{unit} "))) {
            let st = line.split_whitespace().nth(1).unwrap_or("");
            if st == "active" {
                resources.push(format!("{label} ●"));
            } else if st != "inactive" && !st.is_empty() && st != "unknown" {
                resources.push(format!("{label} ✗"));
            }
        }
    }
    ui.line("");
    ui.line(&format!("  Resources: {}", if resources.is_empty() { "none".into() } else { resources.join("  ") }));
    let pair = |key: &str| -> Option<(u64, u64)> {
        let l = text.lines().find(|l| l.starts_with(key))?;
        let w: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        Some((*w.first()?, *w.get(1)?))
    };
    if let Some((used, total)) = pair("MEM ") {
        ui.line(&format!("  Memory: {} / {} used", services::human_bytes(used), services::human_bytes(total)));
    }
    if let Some((used, total)) = pair("DISK ") {
        ui.line(&format!("  Disk: {} / {} used", services::human_bytes(used), services::human_bytes(total)));
    }
    Ok(json!({"host": host, "apps": out, "next_port": reg["next_port"]}))
}

/// `berth env ENV list`: names only, never values.
pub(crate) fn env_list(loaded: &Loaded, c: &ConnectOpts, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let mut ok = true;
    for (t, r) in connect_all(m, c) {
        match r.and_then(|mut remote| secrets::names_on_host(&mut remote, &c.layout, &m.app)) {
            Ok(names) => {
                if ui.json() {
                    println!("{}", json!({"host": t.label, "names": names, "required": m.secrets.required, "auto": m.secrets.auto}));
                    continue;
                }
                ui.line(&format!("  .env.production on {} ({} names, values are never shown)", t.label, names.len()));
                for n in &names {
                    let tag = if m.secrets.required.contains(n) {
                        " (required)"
                    } else if m.secrets.auto.contains(n) || n == "REDIS_PREFIX" {
                        " (auto)"
                    } else {
                        ""
                    };
                    ui.line(&format!("    {n}{tag}"));
                }
                for n in m.secrets.required.iter().filter(|n| !names.contains(n)) {
                    ui.line(&format!("    {n} (required, MISSING)"));
                }
            }
            Err(e) => {
                ok = false;
                eprintln!("error: {e}");
            }
        }
    }
    if ok {
        0
    } else {
        1
    }
}

/// `berth env ENV set KEY=value`: sets the value on every host and restarts
/// the running instances so they read it.
pub(crate) fn env_set(loaded: &Loaded, c: &ConnectOpts, assignment: &str, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let Some((name, value)) = assignment.split_once('=') else {
        eprintln!("error: expected KEY=value, got `{}`", assignment.split('=').next().unwrap_or(""));
        return 2;
    };
    let mut ok = true;
    for (t, r) in connect_all(m, c) {
        let result = r.and_then(|mut remote| {
            let existed = secrets::set(&mut remote, &c.layout, &m.app, name, value)?;
            ui.step("", &format!("{name} {} on {}", if existed { "updated" } else { "set" }, t.label), true);
            let state = release::read_state(&mut remote, &c.layout, &m.app)?;
            if state.current.is_some() {
                let ports = app_ports(&mut remote, &c.layout, m, &state)?;
                let mut quiet = |_: u16, _: Result<(), &str>| {};
                services::rolling_restart(&mut remote, &m.app, &ports, &m.health.path, m.health.timeout_secs, &mut quiet)?;
                ui.step("", "Services restarted, health check passed", true);
            }
            Ok(())
        });
        if let Err(e) = result {
            ok = false;
            eprintln!("error: {e}");
        }
    }
    if ok {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journalctl_commands() {
        assert_eq!(logs_command("shop", &[3000, 3001], None, None, true).unwrap(), "journalctl --no-pager -o short-iso -u 'tova-shop@*' -f");
        assert_eq!(
            logs_command("shop", &[3000, 3001], Some(2), Some("1 hour ago"), false).unwrap(),
            "journalctl --no-pager -o short-iso -u 'tova-shop@3001.service' --since '1 hour ago'"
        );
        assert!(logs_command("shop", &[3000, 3001], Some(3001), None, false).unwrap().contains("tova-shop@3001.service"));
        assert!(logs_command("shop", &[3000], Some(5), None, false).unwrap_err().contains("instance 5 does not exist"));
    }

    #[test]
    fn remove_archives_and_never_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path().to_str().unwrap());
        let app = dir.path().join("apps/shop");
        std::fs::create_dir_all(app.join("data")).unwrap();
        std::fs::create_dir_all(dir.path().join("caddy/apps")).unwrap();
        std::fs::write(app.join("data/db.sqlite"), "rows").unwrap();
        std::fs::write(app.join(".env.production"), "A=1\n").unwrap();
        std::fs::write(dir.path().join("caddy/apps/shop.caddy"), "site").unwrap();
        let mut r = Remote::local("local");
        registry::allocate(&mut r, &l, "shop", "shop.example.com", "prod", 2).unwrap();
        // systemctl may be missing or not running here: the script tolerates both
        // for the unit steps, and must still archive everything.
        let script = remove_script(&l, "shop", None).replace("systemctl daemon-reload", "systemctl daemon-reload 2>/dev/null || true");
        let out = r.run("remove", &script, None).unwrap();
        let archive = out.lines().find_map(|l| l.strip_prefix("ARCHIVE ")).unwrap().to_owned();
        assert_eq!(std::fs::read_to_string(format!("{archive}/app/data/db.sqlite")).unwrap(), "rows");
        assert_eq!(std::fs::read_to_string(format!("{archive}/shop.caddy")).unwrap(), "site");
        assert!(!app.exists());
        assert!(!dir.path().join("caddy/apps/shop.caddy").exists());
        assert_eq!(registry::release(&mut r, &l, "shop").unwrap(), vec![3000, 3001]);
    }
}
