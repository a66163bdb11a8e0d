//! `berth deploy ENV` (seed 003 §4), the driver of the committed playbook:
//! it refuses output that is not what the .tova files compile to, reads
//! every host once (the plan, and which layers to skip), resolves secrets
//! before any change, then runs `playbooks/<env>.yml` — which does the
//! whole deploy, in rolling batches, with rollback — and tells what
//! happened per host.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::manifest::model::{AppKind, Manifest};

use super::plan::{self, HostDiff};
use super::play;
use super::release::{self, Bundle};
use super::secrets;
use super::stale;
use super::state::{self, HostState};
use super::target::{self, ConnectOpts, Target};
use super::ui::{RunReport, Ui};

/// Server entries tried, in order, when the deploy block names none.
pub(crate) const START_CANDIDATES: &[&str] = &["server.min.js", "server.js", "app.server.js"];

/// The project and the environment being deployed.
pub(crate) struct Loaded {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) all: Vec<Manifest>,
}

pub(crate) fn load(dir: &Path, env: &str) -> Result<Loaded, String> {
    let project = crate::manifest::load_project(dir).map_err(|diags| {
        let mut s: String = diags.iter().map(|d| d.to_string()).collect();
        s.push_str(&format!(
            "error: {} error(s) in the .tova files of {}",
            diags.iter().filter(|d| d.is_error()).count(),
            dir.display()
        ));
        s
    })?;
    crate::manifest::report(&project.warnings);
    let Some(m) = project.manifests.get(env) else {
        let known: Vec<&str> = project.manifests.keys().map(String::as_str).collect();
        return Err(format!(
            "error[B0201]: no deploy block named \"{env}\" in {}\n  hint: environments in this project: {}",
            dir.display(),
            if known.is_empty() { "none (add a deploy \"prod\" { } block)".to_string() } else { known.join(", ") }
        ));
    };
    Ok(Loaded {
        dir: dir.to_path_buf(),
        manifest: m.clone(),
        all: project.manifests.values().cloned().collect(),
    })
}

/// Options of one deploy.
#[derive(Clone)]
pub(crate) struct DeployOpts {
    pub(crate) connect: ConnectOpts,
    pub(crate) yes: bool,
    pub(crate) plan_only: bool,
    /// Run every layer, even unchanged ones.
    pub(crate) full: bool,
    /// Take the deploy lock from whoever holds it.
    pub(crate) break_lock: bool,
    pub(crate) secrets_file: Option<PathBuf>,
    pub(crate) verbose: u8,
    /// Skip the staleness check (the git hook compiled the pushed tree itself).
    pub(crate) compiled_here: bool,
}

/// The server entry inside the bundle (none for a static app). A static
/// export needs its document.
pub(crate) fn resolve_start(m: &Manifest, bundle: &Bundle) -> Result<String, String> {
    if m.kind == AppKind::Static {
        if !bundle.files.contains_key("index.html") {
            return Err(format!(
                "the bundle {}/ has no index.html; a static app (browser {{ }} without server {{ }}) deploys the page `tova build --production` writes there",
                m.bundle
            ));
        }
        return Ok(String::new());
    }
    if let Some(s) = &m.start {
        if bundle.files.contains_key(s) {
            return Ok(s.clone());
        }
        return Err(format!("`start: \"{s}\"` is not in the bundle {}/; build the app or fix `start:` in the deploy block", m.bundle));
    }
    START_CANDIDATES.iter().find(|c| bundle.files.contains_key(**c)).map(|c| c.to_string()).ok_or_else(|| {
        format!(
            "no server entry in the bundle {}/: none of {} exists\n  hint: build the app (`tova build --production`) or set `start: \"path/in/bundle.js\"` in the deploy block",
            m.bundle,
            START_CANDIDATES.join(", ")
        )
    })
}

/// One host, read before any change.
struct HostPlan {
    target: Target,
    state: HostState,
    diff: HostDiff,
}

/// How one host's deploy ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Deployed {
        version: String,
        changed: u32,
        sent: usize,
        reused: usize,
    },
    Unchanged {
        version: String,
    },
    RolledBack {
        failed: String,
        to: String,
        reason: String,
    },
    Failed {
        live: Option<String>,
        reason: String,
    },
    NotAttempted {
        live: Option<String>,
    },
}

impl Outcome {
    pub(crate) fn ok(&self) -> bool {
        matches!(self, Outcome::Deployed { .. } | Outcome::Unchanged { .. })
    }
    pub(crate) fn live(&self) -> Option<&str> {
        match self {
            Outcome::Deployed { version, .. } | Outcome::Unchanged { version } => Some(version),
            Outcome::RolledBack { to, .. } => Some(to),
            Outcome::Failed { live, .. } | Outcome::NotAttempted { live } => live.as_deref(),
        }
    }
    fn json(&self, host: &str) -> Value {
        let mut v = json!({"event": "host", "host": host, "version": self.live()});
        let o = v.as_object_mut().expect("object");
        match self {
            Outcome::Deployed {
                changed,
                sent,
                reused,
                ..
            } => {
                o.insert("outcome".into(), json!("deployed"));
                o.insert("changed".into(), json!(changed));
                o.insert("files_sent".into(), json!(sent));
                o.insert("files_reused".into(), json!(reused));
            }
            Outcome::Unchanged { .. } => {
                o.insert("outcome".into(), json!("unchanged"));
                o.insert("changed".into(), json!(0));
            }
            Outcome::RolledBack { failed, reason, .. } => {
                o.insert("outcome".into(), json!("rolled_back"));
                o.insert("failed_release".into(), json!(failed));
                o.insert("error".into(), json!(reason));
            }
            Outcome::Failed { reason, .. } => {
                o.insert("outcome".into(), json!("failed"));
                o.insert("error".into(), json!(reason));
            }
            Outcome::NotAttempted { .. } => {
                o.insert("outcome".into(), json!("not_attempted"));
            }
        }
        v
    }
}

fn read_host(
    t: &Target,
    m: &Manifest,
    opts: &DeployOpts,
    bundle: &Bundle,
    hashes: &BTreeMap<String, String>,
) -> Result<HostPlan, String> {
    let mut remote = target::connect(t, &opts.connect)?;
    let state = state::read(&mut remote, &opts.connect.layout, &m.app)?;
    let layers: Vec<String> = crate::emit::playbook::roles_for(m)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let (changed_layers, unchanged_layers): (Vec<String>, Vec<String>) =
        layers.into_iter().partition(|l| {
            state.current.is_none() || opts.full || state.layers.get(l) != hashes.get(l)
        });
    let changed_files = release::changed_files(bundle, state.files.as_ref()).len()
        + state
            .files
            .as_ref()
            .map(|f| f.keys().filter(|k| !bundle.files.contains_key(*k)).count())
            .unwrap_or(0);
    let diff = HostDiff {
        host: t.label.clone(),
        current: state.current.clone(),
        changed_layers,
        unchanged_layers,
        changed_files,
        ports: state.ports.clone(),
        settled: state.settled(),
    };
    Ok(HostPlan {
        target: t.clone(),
        state,
        diff,
    })
}

/// What the run left on one host, as the deploy tells it.
fn outcome(p: &HostPlan, report: &RunReport) -> Outcome {
    let name = &p.target.inventory_name;
    let live = p.state.current.clone();
    let Some(stats) = report.stats.get(name) else {
        return Outcome::NotAttempted { live };
    };
    let hr = report.hosts.get(name).cloned().unwrap_or_default();
    let reason = hr
        .first_failure
        .as_ref()
        .map(|(task, msg)| format!("{task}: {msg}"))
        .unwrap_or_else(|| "failed".into());
    let version = hr.result("version").map(str::to_owned);
    if stats.unreachable > 0 || stats.failed > 0 {
        return match (
            hr.result("rolled_back_to").filter(|v| !v.is_empty()),
            version,
        ) {
            (Some(to), Some(failed)) => Outcome::RolledBack {
                failed,
                to: to.to_owned(),
                reason,
            },
            (_, version) => Outcome::Failed {
                live: version.filter(|_| hr.result("previous").is_some()).or(live),
                reason: hr.last_failure.clone().unwrap_or(reason),
            },
        };
    }
    match version {
        // The rollout stopped before this host's batch.
        None => Outcome::NotAttempted { live },
        Some(version) if stats.changed > 0 => Outcome::Deployed {
            version,
            changed: stats.changed,
            sent: hr.result("sent").and_then(|n| n.parse().ok()).unwrap_or(0),
            reused: hr
                .result("reused")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        },
        Some(version) => Outcome::Unchanged { version },
    }
}

pub(crate) fn deploy(loaded: &Loaded, opts: &DeployOpts, ui: Arc<Ui>) -> i32 {
    match run(loaded, opts, ui.clone()) {
        Ok(code) => code,
        Err(e) => {
            ui.line("");
            eprintln!("error: {e}");
            ui.event(json!({"event": "result", "ok": false, "error": e}));
            1
        }
    }
}

fn run(loaded: &Loaded, opts: &DeployOpts, ui: Arc<Ui>) -> Result<i32, String> {
    let m = &loaded.manifest;
    let started = Instant::now();
    if !opts.compiled_here {
        stale::check(&loaded.dir, &loaded.all)?;
    }
    if let Some(cmd) = &m.build {
        if !opts.plan_only {
            ui.line(&format!("  Building: {cmd}"));
            let status = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd)
                .current_dir(&loaded.dir)
                .status()
                .map_err(|e| format!("cannot run the build command `{cmd}`: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "the build command `{cmd}` failed ({status}); fix the build, then deploy again"
                ));
            }
        }
    }
    let bundle = Bundle::scan(&loaded.dir.join(&m.bundle))?;
    let start = resolve_start(m, &bundle)?;
    let hashes: BTreeMap<String, String> = crate::emit::layers::layer_hashes(m)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let targets = target::targets(m, &opts.connect);
    let fleet = targets.len() > 1;

    // Connect and read every host in parallel; nothing changes yet.
    let reads: Vec<(Target, Result<HostPlan, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| {
                let t = t.clone();
                let bundle = &bundle;
                let hashes = &hashes;
                s.spawn(move || {
                    let r = read_host(&t, m, opts, bundle, hashes);
                    (t, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("host reader panicked"))
            .collect()
    });
    let mut plans = Vec::new();
    let mut unreachable: Vec<(Target, String)> = Vec::new();
    for (t, r) in reads {
        match r {
            Ok(p) => {
                ui.step("", &format!("Connecting to {}...", t.label), true);
                plans.push(p);
            }
            Err(e) => {
                ui.step("", &format!("Connecting to {}...", t.label), false);
                ui.line(&format!("      {e}"));
                unreachable.push((t, e));
            }
        }
    }
    if plans.is_empty() {
        return Err(format!("no host of \"{}\" could be reached; check the server address, your SSH key (--private-key) and known_hosts (--known-hosts)", m.env));
    }
    if !fleet && !unreachable.is_empty() {
        return Err(unreachable.remove(0).1);
    }

    if opts.plan_only {
        let diffs: Vec<HostDiff> = plans.iter().map(|p| p.diff.clone()).collect();
        ui.line("");
        let text = plan::render(m, &start, &diffs);
        ui.raw(&text);
        ui.event(json!({"event": "result", "ok": true, "app": m.app, "env": m.env, "plan": text}));
        return Ok(0);
    }

    // Secrets: every missing value is found before anything changes.
    let mut missing: Vec<String> = Vec::new();
    for p in &plans {
        for name in &m.secrets.required {
            if !p.state.secret_names.contains(name) && !missing.contains(name) {
                missing.push(name.clone());
            }
        }
    }
    let file = match &opts.secrets_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the secrets file {}: {e}", path.display()))?;
            secrets::parse_file(&text, &path.display().to_string())?
        }
        None => BTreeMap::new(),
    };
    let env_lookup = |k: &str| std::env::var(k).ok();
    let tty = std::io::stdin().is_terminal() && !ui.json();
    let prompt = |name: &str| {
        rpassword::prompt_password(format!("      {name}: ")).map_err(|e| e.to_string())
    };
    if !missing.is_empty() && tty {
        ui.line("  Configuring secrets...");
        ui.line("    → Missing secrets in .env.production:");
    }
    let values = secrets::resolve(&missing, &secrets::Sources { file, env: &env_lookup, prompt: if tty { Some(&prompt) } else { None } }).map_err(|names| {
        format!(
            "missing secrets: {} (required by the app, not set in .env.production on {})\n  hint: pass them with --secrets-file FILE (NAME=value lines), as environment variables (BERTH_SECRET_{} or {}), run on a terminal to be prompted, or set them with `berth env {} set NAME=value`; nothing was changed",
            names.join(", "),
            plans.iter().filter(|p| names.iter().any(|n| !p.state.secret_names.contains(n))).map(|p| p.target.label.as_str()).collect::<Vec<_>>().join(", "),
            names[0],
            names[0],
            m.env
        )
    })?;
    for (name, value) in &values {
        secrets::env_line(name, value)?;
    }

    // What changed. A new release takes the fleet's next number on every host.
    let next = plans
        .iter()
        .map(|p| p.state.next_version())
        .max_by_key(|v| release::version_number(v))
        .unwrap_or_default();
    ui.line("  Analyzing changes...");
    for p in &plans {
        let pre = if fleet {
            format!("{}: ", p.target.label)
        } else {
            String::new()
        };
        match &p.diff.current {
            None => ui.line(&format!("    → {pre}first deploy: {}", describe_needs(m))),
            Some(_) if p.diff.nothing_changed() => ui.line(&format!("    → {pre}no changes")),
            Some(_) => {
                let infra = if p.diff.changed_layers.is_empty() {
                    "no changes".to_string()
                } else {
                    p.diff
                        .changed_layers
                        .iter()
                        .map(|l| plan::layer_label(l))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                if !p.diff.settled {
                    ui.line(&format!(
                        "    → {pre}{} was never confirmed healthy: it is deployed again",
                        p.diff.current.as_deref().unwrap_or("")
                    ));
                }
                ui.line(&format!("    → {pre}Infrastructure: {infra}"));
                ui.line(&format!(
                    "    → {pre}App: {} file{} changed{}",
                    p.diff.changed_files,
                    if p.diff.changed_files == 1 { "" } else { "s" },
                    if p.diff.changed_files > 0 {
                        format!(", release {next}")
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    if unreachable.is_empty() && plans.iter().all(|p| p.diff.nothing_changed()) && !opts.full {
        // Nothing would change: the playbook is not run at all.
        let version = plans[0].diff.current.clone().unwrap_or_default();
        ui.line("");
        ui.line(&format!(
            "  ✓ No changes: {} is up to date at {version} (changed=0)",
            m.app
        ));
        let hosts: Vec<Value> = plans
            .iter()
            .map(|p| {
                Outcome::Unchanged {
                    version: p.diff.current.clone().unwrap_or_default(),
                }
                .json(&p.target.label)
            })
            .collect();
        ui.event(json!({"event": "result", "ok": true, "app": m.app, "env": m.env, "changed": 0, "hosts": hosts, "seconds": started.elapsed().as_secs_f64()}));
        return Ok(0);
    }
    if !opts.yes {
        if tty {
            eprint!("\nProceed? [y/n] ");
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                ui.line("  Nothing was changed.");
                return Ok(1);
            }
        } else {
            return Err("no terminal to confirm on: pass --yes to deploy without a prompt (nothing was changed)".into());
        }
    }

    // The committed playbook, on the hosts that answered, skipping the
    // layers no host needs.
    let needed: std::collections::BTreeSet<&str> = plans
        .iter()
        .flat_map(|p| p.diff.changed_layers.iter().map(String::as_str))
        .collect();
    let skip_tags: Vec<String> = crate::emit::playbook::roles_for(m)
        .into_iter()
        .filter(|l| !needed.contains(l))
        .map(str::to_owned)
        .collect();
    let mut extra = Map::new();
    if !values.is_empty() {
        extra.insert("tova_secrets".into(), json!(values));
    }
    // Who holds the deploy lock, as another deploy is told; the run's id
    // gives back what a run that stops early left locked.
    let me = lock_owner();
    let run_id = run_id();
    extra.insert("tova_lock_owner".into(), json!(me));
    extra.insert("tova_run_id".into(), json!(run_id));
    if opts.break_lock {
        extra.insert("tova_break_lock".into(), json!(true));
    }
    let reachable: Vec<Target> = plans.iter().map(|p| p.target.clone()).collect();
    let run_playbook =
        |which: play::Which, skip_tags: Vec<String>, extra: Map<String, Value>, ui: Arc<Ui>| {
            play::run(play::Run {
                loaded,
                connect: &opts.connect,
                which,
                targets: &reachable,
                skip_tags,
                extra,
                verbose: opts.verbose,
                ui,
            })
        };
    let deploy_run = |extra: Map<String, Value>| {
        run_playbook(play::Which::Deploy, skip_tags.clone(), extra, ui.clone())
    };
    let (mut code, mut report) = deploy_run(extra.clone());
    if code != 0 {
        // A lock held by an earlier deploy from this machine that no longer
        // runs (killed, or its machine restarted) is that deploy's leftover.
        if let Some(dead) = report
            .hosts
            .values()
            .filter_map(|h| h.last_failure.as_deref())
            .find_map(dead_local_holder)
        {
            ui.line(&format!(
                "  The deploy lock is held by {dead}, which no longer runs: taking it over."
            ));
            extra.insert("tova_dead_lock_owner".into(), json!(dead));
            (code, report) = deploy_run(extra.clone());
        }
    }
    if code != 0 {
        // The run stopped on some host (a failure past max_fail, a lost
        // link): give the lock back wherever this run still holds it.
        let mut unlock = Map::new();
        unlock.insert("tova_run_id".into(), json!(run_id));
        let _ = run_playbook(play::Which::Unlock, Vec::new(), unlock, Ui::quiet(&ui));
    }

    let mut outcomes: Vec<(String, Outcome)> = unreachable
        .iter()
        .map(|(t, e)| {
            (
                t.label.clone(),
                Outcome::Failed {
                    live: None,
                    reason: e.clone(),
                },
            )
        })
        .collect();
    outcomes.extend(
        plans
            .iter()
            .map(|p| (p.target.label.clone(), outcome(p, &report))),
    );
    if code == 1
        || (outcomes
            .iter()
            .all(|(_, o)| matches!(o, Outcome::NotAttempted { .. } | Outcome::Failed { .. }))
            && report.hosts.values().all(|h| h.result("version").is_none()))
    {
        // Stopped before any host changed (the fleet check refused the release).
        let why = report.hosts.values().find_map(|h| h.last_failure.clone()).unwrap_or_else(|| format!("the playbook run stopped (exit {code}); run `berth run playbooks/{}.yml -i inventory/{}.yml` to see why", m.env, m.env));
        ui.line(&format!(
            "\n  ✗ Nothing was deployed: {}",
            why.lines().next().unwrap_or("")
        ));
        ui.event(json!({"event": "result", "ok": false, "app": m.app, "env": m.env, "error": why}));
        return Ok(1);
    }

    // Recap.
    let order: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
    outcomes.sort_by_key(|(l, _)| order.iter().position(|o| o == l));
    ui.line("");
    if fleet {
        ui.line("  Recap");
        ui.line("  ─────");
        let width = order.iter().map(|l| l.len()).max().unwrap_or(0);
        for (label, o) in &outcomes {
            ui.line(&format!(
                "  {label:<width$}  {:<4} {}",
                o.live().unwrap_or("—"),
                recap_text(o)
            ));
        }
        ui.line("");
    }
    let all_ok = outcomes.iter().all(|(_, o)| o.ok());
    let url = format!("{}://{}", plan::scheme(m.tls), m.domain);
    let changed: u32 = outcomes
        .iter()
        .map(|(_, o)| {
            if let Outcome::Deployed { changed, .. } = o {
                *changed
            } else {
                0
            }
        })
        .sum();
    if all_ok {
        let v = outcomes
            .iter()
            .find_map(|(_, o)| o.live().map(str::to_owned))
            .unwrap_or_default();
        ui.line(&format!(
            "  ✓ Live at {url} ({v}) in {:.1}s (changed={changed})",
            started.elapsed().as_secs_f64()
        ));
        ui.line(&format!(
            "    Look at it: `berth deploy {} --status`, `berth deploy {} --logs`",
            m.env, m.env
        ));
    } else if let [(_, Outcome::RolledBack { to, .. })] = outcomes.as_slice() {
        ui.line(&format!("  ✗ Deploy failed. Rolled back to {to}."));
        ui.line(&format!(
            "    Run `berth deploy {} --logs` to investigate.",
            m.env
        ));
    } else {
        let bad = outcomes.iter().filter(|(_, o)| !o.ok()).count();
        ui.line(&format!(
            "  ✗ Deploy failed on {bad} of {} host{}.",
            outcomes.len(),
            if outcomes.len() == 1 { "" } else { "s" }
        ));
        ui.line(&format!(
            "    Run `berth deploy {} --status` and `--logs` to investigate.",
            m.env
        ));
    }
    let hosts: Vec<Value> = outcomes.iter().map(|(l, o)| o.json(l)).collect();
    for h in &hosts {
        ui.event(h.clone());
    }
    ui.event(json!({"event": "result", "ok": all_ok, "app": m.app, "env": m.env, "url": url, "changed": changed, "hosts": hosts, "seconds": started.elapsed().as_secs_f64()}));
    Ok(if all_ok { 0 } else { 2 })
}

/// This deploy, as another deploy is told who holds the lock.
fn lock_owner() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    format!(
        "berth deploy by {user}@{} (pid {})",
        controller_name(),
        std::process::id()
    )
}

fn controller_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| {
            Command::new("uname")
                .arg("-n")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "a controller".into())
}

/// A random id for this run (16 hex digits).
fn run_id() -> String {
    crate::random::bytes(8)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The holder named in a lock refusal, when it is a berth deploy on this
/// machine whose process is gone.
fn dead_local_holder(refusal: &str) -> Option<String> {
    let rest = refusal.split("another deploy of ").nth(1)?;
    let holder = rest.split(" is running on this host: ").nth(1)?;
    let holder = &holder[..holder.find(", for ")?];
    let (who, pid) = holder
        .strip_prefix("berth deploy by ")?
        .rsplit_once(" (pid ")?;
    let pid: i32 = pid.strip_suffix(')')?.parse().ok()?;
    let (_, machine) = who.rsplit_once('@')?;
    if machine != controller_name() || pid <= 0 || pid as u32 == std::process::id() {
        return None;
    }
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let gone = unsafe { libc::kill(pid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    gone.then(|| holder.to_owned())
}

fn recap_text(o: &Outcome) -> String {
    match o {
        Outcome::Deployed { sent, changed, .. } => {
            format!("✓ deployed ({sent} files sent, changed={changed})")
        }
        Outcome::Unchanged { .. } => "✓ unchanged (changed=0)".into(),
        Outcome::RolledBack { failed, reason, .. } => {
            format!("✗ {failed} failed, rolled back: {}", first_line(reason))
        }
        Outcome::Failed { reason, .. } => format!("✗ failed: {}", first_line(reason)),
        Outcome::NotAttempted { .. } => "– not attempted (rollout stopped)".into(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn describe_needs(m: &Manifest) -> String {
    let mut needs = vec![match m.runtime {
        crate::manifest::model::Runtime::Bun { .. } => "Bun".to_string(),
        crate::manifest::model::Runtime::Node => "Node.js".to_string(),
        crate::manifest::model::Runtime::None => "static export".to_string(),
    }];
    if m.databases.postgres.is_some() {
        needs.push("PostgreSQL".into());
    }
    if m.databases.redis.is_some() {
        needs.push("Redis".into());
    }
    needs.push(format!("Caddy ({})", plan::tls_label(m.tls)));
    let n = m.app_instances();
    format!(
        "{}; {n} instance{}, domain {}",
        needs.join(", "),
        if n == 1 { "" } else { "s" },
        m.domain
    )
}

pub(crate) fn human_size(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_entry() {
        let m = super::super::test_support::manifest(
            "server { }\ndeploy \"prod\" {\n  server: \"h\"\n  domain: \"a.example.com\"\n}\n",
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.server.js"), "x").unwrap();
        let b = Bundle::scan(dir.path()).unwrap();
        assert_eq!(resolve_start(&m, &b).unwrap(), "app.server.js");
        std::fs::write(dir.path().join("server.js"), "x").unwrap();
        let b = Bundle::scan(dir.path()).unwrap();
        assert_eq!(resolve_start(&m, &b).unwrap(), "server.js");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.js"), "x").unwrap();
        let b = Bundle::scan(dir.path()).unwrap();
        assert!(resolve_start(&m, &b)
            .unwrap_err()
            .contains("server.min.js, server.js, app.server.js"));
    }
}
