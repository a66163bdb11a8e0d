//! The other deploy commands (seed 003 §4–§8). Those that change a host run
//! the environment's committed playbooks — `--rollback [--to vN]`,
//! `--remove`, `--prune-modules`, `--setup-git`, `berth env ENV set` — and
//! those that only read it (`--status`, `--logs`, `--ssh`, `--list`, `berth
//! env ENV list`) read it directly.

use std::io::IsTerminal;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::manifest::model::Manifest;

use super::plan;
use super::play::{self, Which};
use super::registry;
use super::remote::{q, Remote};
use super::secrets;
use super::services;
use super::state;
use super::target::{self, ConnectOpts, Target};
use super::ui::{RunReport, Ui};
use super::workflow::Loaded;

fn connect_all(m: &Manifest, c: &ConnectOpts) -> Vec<(Target, Result<Remote, String>)> {
    let targets = target::targets(m, c);
    std::thread::scope(|s| {
        let hs: Vec<_> = targets
            .into_iter()
            .map(|t| {
                s.spawn(move || {
                    let r = target::connect(&t, c);
                    (t, r)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("connect thread"))
            .collect()
    })
}

/// `--rollback [--to vN]`: flip `current` back, restart, health check.
/// Runs one of the environment's playbooks on every host of the app;
/// per host (label, ok, what it reported).
fn run_playbook(
    loaded: &Loaded,
    c: &ConnectOpts,
    which: Which,
    extra: Map<String, Value>,
    verbose: u8,
    ui: &Arc<Ui>,
) -> (i32, Vec<(Target, bool, super::ui::HostRun)>) {
    let targets = target::targets(&loaded.manifest, c);
    let (code, report): (i32, RunReport) = play::run(play::Run {
        loaded,
        connect: c,
        which,
        targets: &targets,
        skip_tags: Vec::new(),
        extra,
        verbose,
        ui: ui.clone(),
    });
    let hosts = targets
        .into_iter()
        .map(|t| {
            let ok = report
                .stats
                .get(&t.inventory_name)
                .is_some_and(|s| s.failed == 0 && s.unreachable == 0);
            let hr = report
                .hosts
                .get(&t.inventory_name)
                .cloned()
                .unwrap_or_default();
            (t, ok, hr)
        })
        .collect();
    (code, hosts)
}

fn failure(hr: &super::ui::HostRun) -> String {
    hr.last_failure
        .clone()
        .or_else(|| hr.first_failure.as_ref().map(|(_, m)| m.clone()))
        .unwrap_or_else(|| "not reached".into())
}

/// `--rollback [--to vN]`: `playbooks/<env>.rollback.yml`.
pub(crate) fn rollback(
    loaded: &Loaded,
    c: &ConnectOpts,
    to: Option<&str>,
    verbose: u8,
    ui: Arc<Ui>,
) -> i32 {
    let m = &loaded.manifest;
    ui.line(&format!(
        "  Rolling back {} on {}...",
        m.app,
        plan::target_label(m)
    ));
    let mut extra = Map::new();
    if let Some(v) = to {
        extra.insert("tova_to".into(), json!(v));
    }
    let (_, hosts) = run_playbook(loaded, c, Which::Rollback, extra, verbose, &ui);
    let mut all_ok = true;
    let mut results = Vec::new();
    for (t, ok, hr) in &hosts {
        let version = hr.result("version").map(str::to_owned);
        if *ok {
            match hr.result("was") {
                Some(_) => ui.line(&format!(
                    "\n  ✓ Rolled back to {}",
                    version.as_deref().unwrap_or("")
                )),
                None => ui.line(&format!(
                    "\n  ✓ {} is already live",
                    version.as_deref().unwrap_or("")
                )),
            }
        } else {
            all_ok = false;
            ui.line(&format!(
                "\n  ✗ Rollback failed on {}: {}",
                t.label,
                failure(hr).lines().next().unwrap_or("")
            ));
        }
        let v = json!({"event": "host", "host": t.label, "ok": ok, "version": version, "error": (!ok).then(|| failure(hr))});
        ui.event(v.clone());
        results.push(v);
    }
    ui.event(
        json!({"event": "result", "ok": all_ok, "app": m.app, "env": m.env, "hosts": results}),
    );
    if all_ok {
        0
    } else {
        2
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
    ui.event(json!({"event": "result", "ok": ok, "app": m.app, "env": m.env, "hosts": hosts}));
    if ok {
        0
    } else {
        1
    }
}

fn status_host(
    remote: &mut Remote,
    m: &Manifest,
    c: &ConnectOpts,
    url: &str,
    t: &Target,
    ui: &Ui,
) -> Result<Value, String> {
    let state = state::read(remote, &c.layout, &m.app)?;
    let ports = state.ports.clone();
    let insts = services::instances(remote, &m.app, &ports, &m.health.path)?;
    let healthy = insts.iter().filter(|i| i.healthy).count();
    let running = insts.iter().filter(|i| i.active == "active").count();
    let title = format!("{} — {url} on {}", m.app, t.label);
    ui.line(&format!(
        "  {title}\n  {}",
        "─".repeat(title.chars().count())
    ));
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
    ui.line(&format!(
        "  Instances:  {healthy}/{} healthy\n",
        insts.len()
    ));
    for i in &insts {
        let dot = if i.active == "active" { "●" } else { "✗" };
        ui.line(&format!(
            "    @{}   {dot} {:<9} mem: {:<8} uptime: {:<8} health: {}",
            i.port,
            i.active,
            i.memory_bytes
                .map(services::human_bytes)
                .unwrap_or_else(|| "-".into()),
            i.uptime_secs
                .map(services::human_duration)
                .unwrap_or_else(|| "-".into()),
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
            let active = remote
                .exec(&format!("systemctl is-active {}", q(unit)), None)
                .map(|o| o.stdout_str().trim().to_owned())
                .unwrap_or_default();
            let dot = if active == "active" {
                "● running"
            } else {
                "✗ not running"
            };
            ui.line(&format!("    {}", text.replace("{}", dot)));
        }
    }
    let failed = state.failed_releases();
    if let (Some(at), Some(v)) = (state.deployed_at, &state.current) {
        ui.line(&format!("\n  Last deploy:  {} ({v})", format_time(at)));
    }
    ui.line(&format!(
        "  Releases:     {} (keeping last {})",
        state.releases.len(),
        m.keep_releases
    ));
    if !failed.is_empty() {
        ui.line(&format!(
            "  Failed:       {} (health check failed, rolled back; kept for debugging)",
            failed.join(", ")
        ));
    }
    let (modules_line, modules) = super::store::status(remote, &c.layout, &m.app)?;
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
        "deployed_at": state.deployed_at,
    }))
}

fn format_time(secs: u64) -> String {
    let out = std::process::Command::new("date")
        .arg("-u")
        .arg("-d")
        .arg(format!("@{secs}"))
        .arg("+%Y-%m-%d %H:%M:%S UTC")
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => format!("@{secs}"),
    }
}

/// The journalctl command for `--logs`.
pub(crate) fn logs_command(
    app: &str,
    ports: &[u16],
    instance: Option<u32>,
    since: Option<&str>,
    follow: bool,
) -> Result<String, String> {
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
pub(crate) fn logs(
    loaded: &Loaded,
    c: &ConnectOpts,
    instance: Option<u32>,
    since: Option<&str>,
    follow: bool,
    ui: Arc<Ui>,
) -> i32 {
    let m = &loaded.manifest;
    let targets = target::targets(m, c);
    for t in &targets {
        let ports = match target::connect(t, c)
            .and_then(|mut r| state::read(&mut r, &c.layout, &m.app).map(|s| s.ports))
        {
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
                ui.line(&format!(
                    "  Streaming {} (first host of {}; Ctrl-C to stop)",
                    t.label,
                    targets.len()
                ));
            }
            // The ssh client streams until Ctrl-C, with a terminal when there is one.
            let mut args = ssh_client_args(t, c, std::io::stdout().is_terminal());
            args.push(if t.ssh.user == "root" {
                cmd
            } else {
                format!("sudo -n {cmd}")
            });
            use std::os::unix::process::CommandExt;
            let err = std::process::Command::new("ssh").args(&args).exec();
            eprintln!("error: cannot run the ssh client: {err}");
            return 1;
        }
        if follow {
            let status = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .status();
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
    args.push(format!(
        "cd {} 2>/dev/null; exec \"${{SHELL:-/bin/sh}}\" -l",
        q(&c.layout.app_dir(&m.app))
    ));
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("ssh").args(&args).exec();
    eprintln!("error: cannot run the ssh client: {err}");
    1
}

/// `--remove`: `playbooks/<env>.remove.yml` (data archived, never deleted).
pub(crate) fn remove(loaded: &Loaded, c: &ConnectOpts, yes: bool, verbose: u8, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "error: no terminal to confirm on: pass --yes to remove {} (nothing was changed)",
                m.app
            );
            return 1;
        }
        eprint!(
            "Remove \"{}\" from {}? Data is archived, not deleted. [y/n] ",
            m.app,
            plan::target_label(m)
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return 1;
        }
    }
    ui.line(&format!(
        "  Removing \"{}\" from {}...",
        m.app,
        plan::target_label(m)
    ));
    let (_, hosts) = run_playbook(loaded, c, Which::Remove, Map::new(), verbose, &ui);
    let mut all_ok = true;
    let mut results = Vec::new();
    for (t, ok, hr) in &hosts {
        let archive = hr.result("archive").map(str::to_owned);
        if *ok {
            match &archive {
                Some(a) => ui.line(&format!(
                    "\n  ✓ Removed (data archived in {a}, not deleted) from {}",
                    t.label
                )),
                None => ui.line(&format!(
                    "\n  ✓ Removed from {} (nothing was deployed there)",
                    t.label
                )),
            }
        } else {
            all_ok = false;
            ui.line(&format!(
                "\n  ✗ Removal from {} failed: {}",
                t.label,
                failure(hr).lines().next().unwrap_or("")
            ));
        }
        let v = json!({"event": "host", "host": t.label, "ok": ok, "archive": archive, "error": (!ok).then(|| failure(hr))});
        ui.event(v.clone());
        results.push(v);
    }
    ui.event(
        json!({"event": "result", "ok": all_ok, "app": m.app, "env": m.env, "hosts": results}),
    );
    if all_ok {
        0
    } else {
        2
    }
}

/// `--prune-modules`: `playbooks/<env>.prune-modules.yml`, over every host
/// of the app together (nothing is pruned unless every host could be read).
pub(crate) fn prune_modules(loaded: &Loaded, c: &ConnectOpts, verbose: u8, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let (_, hosts) = run_playbook(loaded, c, Which::PruneModules, Map::new(), verbose, &ui);
    let all_ok = hosts.iter().all(|(_, ok, _)| *ok);
    let mut results = Vec::new();
    for (t, ok, hr) in &hosts {
        let pruned = hr.all("pruned");
        if *ok {
            let text = if pruned.is_empty() {
                "no client file version past module_retention".to_string()
            } else {
                format!("pruned {}: {}", pruned.len(), pruned.join(", "))
            };
            ui.step(&format!("[{}]", t.label), &text, true);
        }
        let v = json!({"event": "host", "host": t.label, "ok": ok, "pruned": pruned, "error": (!ok).then(|| failure(hr))});
        ui.event(v.clone());
        results.push(v);
    }
    if !all_ok {
        eprintln!("error: client files are pruned only when every host of the app can be read; nothing was pruned where it failed");
    }
    ui.event(
        json!({"event": "result", "ok": all_ok, "app": m.app, "env": m.env, "hosts": results}),
    );
    if all_ok {
        0
    } else {
        1
    }
}

/// `--setup-git`: `playbooks/<env>.git.yml` (git, the bare repository, its
/// hooks and berth itself on the server), then the git remote here.
pub(crate) fn setup_git(loaded: &Loaded, c: &ConnectOpts, verbose: u8, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let targets = target::targets(m, c);
    let [t] = targets.as_slice() else {
        eprintln!("error: git push deploys need one server; deploy \"{}\" has {} (use `berth deploy {}` for fleets)", m.env, targets.len(), m.env);
        return 1;
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the running berth binary: {e}");
            return 1;
        }
    };
    ui.line(&format!("  Setting up git deployment on {}...", t.label));
    let mut extra = Map::new();
    extra.insert("tova_berth_binary".into(), json!(exe.display().to_string()));
    let (_, hosts) = run_playbook(loaded, c, Which::Git, extra, verbose, &ui);
    if let Some((_, false, hr)) = hosts.first() {
        eprintln!("error: {}", failure(hr));
        return 1;
    }
    let repo = format!("{}/repo.git", c.layout.app_dir(&m.app));
    ui.step("", &format!("Creating bare repo at {repo}"), true);
    ui.step("", "Installing pre-receive and post-receive hooks", true);
    let url = format!("ssh://{}@{}:{}{repo}", t.ssh.user, t.ssh.host, t.ssh.port);
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&loaded.dir)
            .args(args)
            .output()
    };
    match git(&["rev-parse", "--git-dir"]) {
        Ok(o) if o.status.success() => {
            let exists = git(&["remote", "get-url", &m.env]).map(|o| o.status.success()).unwrap_or(false);
            let r = if exists { git(&["remote", "set-url", &m.env, &url]) } else { git(&["remote", "add", &m.env, &url]) };
            match r {
                Ok(o) if o.status.success() => ui.step("", &format!("Adding git remote \"{}\" to local project", m.env), true),
                _ => ui.step("", &format!("Adding git remote \"{}\" ({url})", m.env), false),
            }
        }
        _ => ui.line(&format!("    → the project is not a git repository: add the remote yourself: git remote add {} {url}", m.env)),
    }
    ui.line(&format!(
        "\n  Done. You can now deploy with:\n    git push {} {}",
        m.env, m.branch
    ));
    0
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
    let t = Target {
        inventory_name: st.host.clone(),
        label: format!("{}@{}", ssh.user, st.host),
        ssh,
    };
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
        let ports: Vec<u16> = entry["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_u64().map(|p| p as u16))
                    .collect()
            })
            .unwrap_or_default();
        let mut script = String::new();
        for p in &ports {
            script.push_str(&format!(
                "systemctl is-active {} || true\n",
                q(&format!("tova-{name}@{p}.service"))
            ));
        }
        let active = remote
            .exec(&script, None)?
            .stdout_str()
            .lines()
            .filter(|l| *l == "active")
            .count();
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
        let version = entry["version"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("—");
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
    for (unit, label) in [
        ("postgresql", "PostgreSQL"),
        ("redis-server", "Redis"),
        ("caddy", "Caddy"),
    ] {
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
    ui.line(&format!(
        "  Resources: {}",
        if resources.is_empty() {
            "none".into()
        } else {
            resources.join("  ")
        }
    ));
    let pair = |key: &str| -> Option<(u64, u64)> {
        let l = text.lines().find(|l| l.starts_with(key))?;
        let w: Vec<u64> = l
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        Some((*w.first()?, *w.get(1)?))
    };
    if let Some((used, total)) = pair("MEM ") {
        ui.line(&format!(
            "  Memory: {} / {} used",
            services::human_bytes(used),
            services::human_bytes(total)
        ));
    }
    if let Some((used, total)) = pair("DISK ") {
        ui.line(&format!(
            "  Disk: {} / {} used",
            services::human_bytes(used),
            services::human_bytes(total)
        ));
    }
    Ok(json!({"host": host, "apps": out, "next_port": reg["next_port"]}))
}

/// `berth env ENV list`: names only, never values.
pub(crate) fn env_list(loaded: &Loaded, c: &ConnectOpts, ui: Arc<Ui>) -> i32 {
    let m = &loaded.manifest;
    let mut ok = true;
    for (t, r) in connect_all(m, c) {
        match r.and_then(|mut remote| {
            state::read(&mut remote, &c.layout, &m.app).map(|s| s.secret_names)
        }) {
            Ok(names) => {
                if ui.json() {
                    println!(
                        "{}",
                        json!({"host": t.label, "names": names, "required": m.secrets.required, "auto": m.secrets.auto})
                    );
                    continue;
                }
                ui.line(&format!(
                    "  .env.production on {} ({} names, values are never shown)",
                    t.label,
                    names.len()
                ));
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

/// `berth env ENV set KEY=value`: `playbooks/<env>.env.yml` on every host
/// (the value travels as an extra var in memory; the task is no_log).
pub(crate) fn env_set(
    loaded: &Loaded,
    c: &ConnectOpts,
    assignment: &str,
    verbose: u8,
    ui: Arc<Ui>,
) -> i32 {
    let Some((name, value)) = assignment.split_once('=') else {
        eprintln!(
            "error: expected KEY=value, got `{}`",
            assignment.split('=').next().unwrap_or("")
        );
        return 1;
    };
    if !secrets::valid_name(name) {
        eprintln!("error: `{name}` is not a variable name (use A-Z, 0-9 and _)");
        return 1;
    }
    if let Err(e) = secrets::env_line(name, value) {
        eprintln!("error: {e}");
        return 1;
    }
    if loaded.manifest.kind != crate::manifest::model::AppKind::Server {
        eprintln!(
            "error: {} is a static site: it runs no process and has no .env.production",
            loaded.manifest.app
        );
        return 1;
    }
    let mut extra = Map::new();
    extra.insert("tova_env_name".into(), json!(name));
    extra.insert("tova_env_value".into(), json!(value));
    let (_, hosts) = run_playbook(loaded, c, Which::Env, extra, verbose, &ui);
    let mut ok = true;
    for (t, host_ok, hr) in &hosts {
        if !host_ok {
            ok = false;
            eprintln!("error: {}: {}", t.label, failure(hr));
            continue;
        }
        let what = match hr.result("had") {
            Some("yes") if hr.changed_tasks.iter().any(|n| n.contains("Set the value")) => {
                "updated"
            }
            Some("yes") => "unchanged",
            _ => "set",
        };
        ui.line(&format!("  ✓ {name} {what} on {}", t.label));
    }
    if ok {
        0
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journalctl_commands() {
        assert_eq!(
            logs_command("shop", &[3000, 3001], None, None, true).unwrap(),
            "journalctl --no-pager -o short-iso -u 'tova-shop@*' -f"
        );
        assert_eq!(
            logs_command("shop", &[3000, 3001], Some(2), Some("1 hour ago"), false).unwrap(),
            "journalctl --no-pager -o short-iso -u 'tova-shop@3001.service' --since '1 hour ago'"
        );
        assert!(logs_command("shop", &[3000, 3001], Some(3001), None, false)
            .unwrap()
            .contains("tova-shop@3001.service"));
        assert!(logs_command("shop", &[3000], Some(5), None, false)
            .unwrap_err()
            .contains("instance 5 does not exist"));
    }
}
