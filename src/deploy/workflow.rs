//! `berth deploy ENV` (seed 003 §4): check the committed playbooks, read
//! every host, resolve secrets before any change, then per host (in rolling
//! batches for a fleet): allocate ports, upload a release, run only the
//! provisioning layers whose inputs changed, flip `current`, restart the
//! instances one by one with a health check, roll back when one fails, and
//! prune old releases.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::manifest::layers::{layer_hashes, LAYERS};
use crate::manifest::model::{AppKind, Batch, Manifest};
use crate::runner::options::RunOptions;

use super::plan::{self, HostDiff};
use super::registry;
use super::release::{self, Bundle, HostApp, ReleaseManifest};
use super::remote::Remote;
use super::secrets;
use super::services;
use super::stale;
use super::target::{self, ConnectOpts, Target};
use super::ui::{DeploySink, Ui};

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
        s.push_str(&format!("error: {} error(s) in the .tova files of {}", diags.iter().filter(|d| d.is_error()).count(), dir.display()));
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
    Ok(Loaded { dir: dir.to_path_buf(), manifest: m.clone(), all: project.manifests.values().cloned().collect() })
}

/// Options of one deploy.
#[derive(Clone)]
pub(crate) struct DeployOpts {
    pub(crate) connect: ConnectOpts,
    pub(crate) yes: bool,
    pub(crate) plan_only: bool,
    /// Run every layer, even unchanged ones.
    pub(crate) full: bool,
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
    remote: Remote,
    state: HostApp,
    names: Vec<String>,
    diff: HostDiff,
}

/// How one host's deploy ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Deployed { version: String, infra_changed: usize, sent: usize, reused: usize },
    Unchanged { version: String },
    RolledBack { failed: String, to: String, reason: String },
    Failed { live: Option<String>, reason: String },
    NotAttempted { live: Option<String> },
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
        let mut v = json!({"host": host, "version": self.live()});
        let o = v.as_object_mut().expect("object");
        match self {
            Outcome::Deployed { infra_changed, sent, reused, .. } => {
                o.insert("outcome".into(), json!("deployed"));
                o.insert("changed".into(), json!(infra_changed + 1));
                o.insert("infra_changed".into(), json!(infra_changed));
                o.insert("files_sent".into(), json!(sent));
                o.insert("files_reused".into(), json!(reused));
            }
            Outcome::Unchanged { .. } => {
                o.insert("outcome".into(), json!("unchanged"));
                o.insert("changed".into(), json!(0));
                o.insert("infra_changed".into(), json!(0));
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

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn prefix_for(fleet: bool, t: &Target) -> String {
    if fleet {
        format!("[{}]", t.label)
    } else {
        String::new()
    }
}

/// Hosts per batch.
pub(crate) fn batch_size(rolling: Option<Batch>, total: usize) -> usize {
    match rolling {
        None => total.max(1),
        Some(Batch::Count(n)) => (n as usize).clamp(1, total.max(1)),
        Some(Batch::Percent(p)) => ((total * p as usize).div_ceil(100)).clamp(1, total.max(1)),
    }
}

/// True when `failed` of `total` hosts exceed the budget (Ansible's
/// max_fail_percentage: strictly more than the percentage). Without a
/// budget, a batch whose hosts all failed stops the rollout.
pub(crate) fn over_budget(budget: Option<u8>, failed: usize, total: usize, batch_failed_all: bool) -> bool {
    match budget {
        Some(p) => failed * 100 > p as usize * total,
        None => batch_failed_all,
    }
}

pub(crate) fn deploy(loaded: &Loaded, opts: &DeployOpts, ui: Arc<Ui>) -> i32 {
    match run(loaded, opts, ui.clone()) {
        Ok(code) => code,
        Err(e) => {
            ui.line("");
            eprintln!("error: {e}");
            if ui.json() {
                println!("{}", json!({"ok": false, "error": e}));
            }
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
                return Err(format!("the build command `{cmd}` failed ({status}); fix the build, then deploy again"));
            }
        }
    }
    let bundle = Bundle::scan(&loaded.dir.join(&m.bundle))?;
    let start = resolve_start(m, &bundle)?;
    let hashes: BTreeMap<String, String> = layer_hashes(m).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
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
        handles.into_iter().map(|h| h.join().expect("host reader panicked")).collect()
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

    // /c/* modules: every host's retained set, checked against the bundle before any change.
    let modules = super::modules_store::Prepared::prepare(&bundle, &m.proxy.asset_prefix, plans.iter_mut().map(|p| (p.target.label.as_str(), &mut p.remote)).collect(), &opts.connect.layout, &m.app)?;

    if opts.plan_only {
        let diffs: Vec<HostDiff> = plans.iter().map(|p| p.diff.clone()).collect();
        ui.line("");
        ui.raw(&plan::render(m, &start, &diffs));
        if ui.json() {
            println!("{}", json!({"ok": true, "plan": plan::render(m, &start, &diffs)}));
        }
        return Ok(0);
    }

    // Secrets: every missing value is found before anything changes.
    let mut missing: Vec<String> = Vec::new();
    for p in &plans {
        for name in &m.secrets.required {
            if !p.names.contains(name) && !missing.contains(name) {
                missing.push(name.clone());
            }
        }
    }
    let file = match &opts.secrets_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the secrets file {}: {e}", path.display()))?;
            secrets::parse_file(&text, &path.display().to_string())?
        }
        None => BTreeMap::new(),
    };
    let env_lookup = |k: &str| std::env::var(k).ok();
    let tty = std::io::stdin().is_terminal() && !ui.json();
    let prompt = |name: &str| rpassword::prompt_password(format!("      {name}: ")).map_err(|e| e.to_string());
    if !missing.is_empty() && tty {
        ui.line("  Configuring secrets...");
        ui.line("    → Missing secrets in .env.production:");
    }
    let values = secrets::resolve(&missing, &secrets::Sources { file, env: &env_lookup, prompt: if tty { Some(&prompt) } else { None } }).map_err(|names| {
        format!(
            "missing secrets: {} (required by the app, not set in .env.production on {})\n  hint: pass them with --secrets-file FILE (NAME=value lines), as environment variables (BERTH_SECRET_{} or {}), run on a terminal to be prompted, or set them with `berth env {} set NAME=value`; nothing was changed",
            names.join(", "),
            plans.iter().filter(|p| names.iter().any(|n| !p.names.contains(n))).map(|p| p.target.label.as_str()).collect::<Vec<_>>().join(", "),
            names[0],
            names[0],
            m.env
        )
    })?;

    // What changed.
    ui.line("  Analyzing changes...");
    for p in &plans {
        let pre = if fleet { format!("{}: ", p.target.label) } else { String::new() };
        match &p.diff.current {
            None => ui.line(&format!("    → {pre}first deploy: {}", describe_needs(m))),
            Some(_) if p.diff.nothing_changed() => ui.line(&format!("    → {pre}no changes")),
            Some(_) => {
                let infra = if p.diff.changed_layers.is_empty() {
                    "no changes".to_string()
                } else {
                    p.diff.changed_layers.iter().map(|l| plan::layer_label(l)).collect::<Vec<_>>().join(", ")
                };
                if !p.diff.settled {
                    ui.line(&format!("    → {pre}{} was never confirmed healthy: it is deployed again", p.diff.current.as_deref().unwrap_or("")));
                }
                ui.line(&format!("    → {pre}Infrastructure: {infra}"));
                ui.line(&format!("    → {pre}App: {} file{} changed", p.diff.changed_files, if p.diff.changed_files == 1 { "" } else { "s" }));
            }
        }
    }
    if unreachable.is_empty() && plans.iter().all(|p| p.diff.nothing_changed()) && !opts.full {
        let version = plans[0].diff.current.clone().unwrap_or_default();
        ui.line("");
        ui.line(&format!("  ✓ No changes: {} is up to date at {version} (changed=0)", m.app));
        if ui.json() {
            let hosts: Vec<Value> = plans
                .iter()
                .map(|p| Outcome::Unchanged { version: p.diff.current.clone().unwrap_or_default() }.json(&p.target.label))
                .collect();
            println!("{}", json!({"ok": true, "app": m.app, "env": m.env, "changed": 0, "hosts": hosts, "seconds": started.elapsed().as_secs_f64()}));
        }
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

    // Roll out in batches.
    let total = targets.len();
    let size = batch_size(m.rolling, plans.len());
    let mut outcomes: Vec<(String, Outcome)> = unreachable.iter().map(|(t, e)| (t.label.clone(), Outcome::Failed { live: None, reason: e.clone() })).collect();
    let mut failed = outcomes.len();
    let ctx = HostCtx { loaded, opts, bundle: &bundle, modules: &modules, start: &start, hashes: &hashes, values: &values, fleet, ui: ui.clone() };
    let mut pending: Vec<HostPlan> = plans;
    let mut stopped = false;
    while !pending.is_empty() {
        let rest = pending.split_off(size.min(pending.len()));
        let batch = std::mem::replace(&mut pending, rest);
        if stopped {
            for p in batch {
                outcomes.push((p.target.label.clone(), Outcome::NotAttempted { live: p.state.current.clone() }));
            }
            continue;
        }
        let n = batch.len();
        let results: Vec<(String, Outcome)> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .into_iter()
                .map(|p| {
                    let ctx = &ctx;
                    s.spawn(move || {
                        let label = p.target.label.clone();
                        (label, deploy_host(ctx, p))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("host deploy panicked")).collect()
        });
        let batch_failed = results.iter().filter(|(_, o)| !o.ok()).count();
        failed += batch_failed;
        outcomes.extend(results);
        if fleet && over_budget(m.max_fail_percent, failed, total, batch_failed == n) {
            ui.line(&format!("\n  ✗ {failed} of {total} hosts failed: over the failure budget, stopping the rollout"));
            stopped = true;
        }
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
            ui.line(&format!("  {label:<width$}  {:<4} {}", o.live().unwrap_or("—"), recap_text(o)));
        }
        ui.line("");
    }
    let all_ok = outcomes.iter().all(|(_, o)| o.ok());
    if outcomes.iter().any(|(_, o)| matches!(o, Outcome::Deployed { .. })) {
        ui.line(&super::modules_store::after_deploy(m, &opts.connect));
    }
    let url = format!("{}://{}", plan::scheme(m.tls), m.domain);
    if all_ok {
        let v = outcomes.iter().find_map(|(_, o)| o.live().map(str::to_owned)).unwrap_or_default();
        let changed: usize = outcomes.iter().map(|(_, o)| if let Outcome::Deployed { infra_changed, .. } = o { infra_changed + 1 } else { 0 }).sum();
        ui.line(&format!("  ✓ Live at {url} ({v}) in {:.1}s (changed={changed})", started.elapsed().as_secs_f64()));
        ui.line(&format!("    Look at it: `berth deploy {} --status`, `berth deploy {} --logs`", m.env, m.env));
    } else if let [(_, Outcome::RolledBack { to, .. })] = outcomes.as_slice() {
        ui.line(&format!("  ✗ Deploy failed. Rolled back to {to}."));
        ui.line(&format!("    Run `berth deploy {} --logs` to investigate.", m.env));
    } else {
        let bad = outcomes.iter().filter(|(_, o)| !o.ok()).count();
        ui.line(&format!("  ✗ Deploy failed on {bad} of {} host{}.", outcomes.len(), if outcomes.len() == 1 { "" } else { "s" }));
        ui.line(&format!("    Run `berth deploy {} --status` and `--logs` to investigate.", m.env));
    }
    if ui.json() {
        let hosts: Vec<Value> = outcomes.iter().map(|(l, o)| o.json(l)).collect();
        let changed: u64 = hosts.iter().filter_map(|h| h.get("changed").and_then(Value::as_u64)).sum();
        println!("{}", json!({"ok": all_ok, "app": m.app, "env": m.env, "url": url, "changed": changed, "hosts": hosts, "seconds": started.elapsed().as_secs_f64()}));
    }
    Ok(if all_ok { 0 } else { 2 })
}

fn recap_text(o: &Outcome) -> String {
    match o {
        Outcome::Deployed { infra_changed, sent, .. } => format!("✓ deployed ({sent} files sent, infra changed={infra_changed})"),
        Outcome::Unchanged { .. } => "✓ unchanged (changed=0)".into(),
        Outcome::RolledBack { failed, reason, .. } => format!("✗ {failed} failed, rolled back: {}", first_line(reason)),
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
    format!("{}; {n} instance{}, domain {}", needs.join(", "), if n == 1 { "" } else { "s" }, m.domain)
}

fn read_host(t: &Target, m: &Manifest, opts: &DeployOpts, bundle: &Bundle, hashes: &BTreeMap<String, String>) -> Result<HostPlan, String> {
    let layout = &opts.connect.layout;
    let mut remote = target::connect(t, &opts.connect)?;
    let state = release::read_state(&mut remote, layout, &m.app)?;
    let names = secrets::names_on_host(&mut remote, layout, &m.app)?;
    let registry = registry::read(&mut remote, layout)?;
    let ports: Vec<u16> = registry["apps"][&m.app]["ports"].as_array().map(|a| a.iter().filter_map(|p| p.as_u64().map(|p| p as u16)).collect()).unwrap_or_default();
    let provisioned = state.provisioned.as_ref().map(|p| &p.layers);
    let (changed_layers, unchanged_layers): (Vec<String>, Vec<String>) = LAYERS.iter().map(|l| l.to_string()).partition(|l| {
        state.current.is_none() || provisioned.and_then(|p| p.get(l)) != hashes.get(l) || opts.full
    });
    let changed_files = release::changed_files(bundle, state.current_manifest.as_ref().map(|c| &c.files)).len()
        + state.current_manifest.as_ref().map(|c| c.files.keys().filter(|k| !bundle.files.contains_key(*k)).count()).unwrap_or(0);
    let ports_same = state.current_manifest.as_ref().is_some_and(|c| c.ports.len() == m.app_instances() as usize && c.ports == ports);
    let settled = state.current.is_some() && registry["apps"][&m.app]["version"].as_str() == state.current.as_deref();
    let mut diff = HostDiff { host: t.label.clone(), current: state.current.clone(), changed_layers, unchanged_layers, changed_files, ports, settled };
    if !ports_same && settled && diff.changed_layers.is_empty() && diff.changed_files == 0 {
        // Same release and layers, but the instances moved: services and proxy run again.
        diff.changed_layers = vec!["proxy".into(), "services".into()];
        diff.unchanged_layers.retain(|l| l != "proxy" && l != "services");
    }
    Ok(HostPlan { target: t.clone(), remote, state, names, diff })
}

struct HostCtx<'a> {
    loaded: &'a Loaded,
    opts: &'a DeployOpts,
    bundle: &'a Bundle,
    modules: &'a super::modules_store::Prepared,
    start: &'a str,
    hashes: &'a BTreeMap<String, String>,
    values: &'a BTreeMap<String, String>,
    fleet: bool,
    ui: Arc<Ui>,
}

fn deploy_host(ctx: &HostCtx, mut p: HostPlan) -> Outcome {
    let live = p.state.current.clone();
    match deploy_host_inner(ctx, &mut p) {
        Ok(o) => o,
        Err(reason) => {
            // Whatever happened, report what is live now (it may have changed).
            let live = release::read_state(&mut p.remote, &ctx.opts.connect.layout, &ctx.loaded.manifest.app).ok().and_then(|s| s.current).or(live);
            Outcome::Failed { live, reason }
        }
    }
}

fn deploy_host_inner(ctx: &HostCtx, p: &mut HostPlan) -> Result<Outcome, String> {
    let m = &ctx.loaded.manifest;
    let layout = &ctx.opts.connect.layout;
    let ui = &ctx.ui;
    let pre = prefix_for(ctx.fleet, &p.target);
    let remote = &mut p.remote;

    let ports = registry::allocate(remote, layout, &m.app, &m.domain, &m.env, m.app_instances())?;
    let ports_same = p.state.current_manifest.as_ref().is_some_and(|c| c.ports == ports);
    if p.diff.nothing_changed() && ports_same && !ctx.opts.full {
        let version = p.state.current.clone().unwrap_or_default();
        ui.step(&pre, &format!("No changes: {version} stays live"), true);
        return Ok(Outcome::Unchanged { version });
    }

    let version = p.state.next_version();
    let first = p.state.current.is_none();
    let manifest = ReleaseManifest {
        app: m.app.clone(),
        env: m.env.clone(),
        version: version.clone(),
        deployed_at: now_secs(),
        layers: ctx.hashes.clone(),
        files: ctx.bundle.files.clone(),
        ports: ports.clone(),
    };
    ui.line(&format!("  {pre}Deploying app ({version})..."));
    let previous = match (&p.state.current, &p.state.current_manifest) {
        (Some(v), Some(cm)) => Some((v.as_str(), &cm.files)),
        _ => None,
    };
    let stats = release::upload(remote, layout, &m.app, &version, ctx.bundle, &manifest, previous)?;
    ui.step(
        &pre,
        &format!("Uploading bundle ({} file{} sent, {}; {} reused)", stats.sent, if stats.sent == 1 { "" } else { "s" }, human_size(stats.sent_bytes), stats.reused),
        true,
    );
    let published = super::modules_store::publish(remote, layout, &m.app, &p.target.label, ctx.modules, &version)?;
    ui.step(&pre, &format!("Publishing versioned client files ({} new, {} retained)", published.sent, published.retained), true);
    let wanted: BTreeMap<String, String> = ctx.values.iter().filter(|(k, _)| !p.names.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !wanted.is_empty() {
        let n = secrets::write_missing(remote, layout, &m.app, &wanted)?;
        ui.step(&pre, &format!("{n} secret{} written to .env.production", if n == 1 { "" } else { "s" }), true);
    }
    if first {
        release::flip(remote, layout, &m.app, &version)?;
        ui.step(&pre, &format!("Setting current → releases/{version}"), true);
    }

    // Provisioning: only the layers whose inputs changed.
    let run_layers: Vec<String> = p.diff.changed_layers.clone();
    let mut infra_changed = 0;
    if !run_layers.is_empty() {
        ui.line(&format!("  {pre}Provisioning ({})...", run_layers.iter().map(|l| plan::layer_label(l)).collect::<Vec<_>>().join(", ")));
        let skip: Vec<String> = LAYERS.iter().map(|l| l.to_string()).filter(|l| !run_layers.contains(l)).collect();
        let report = run_playbook(ctx, &p.target, &pre, skip, &ports)?;
        infra_changed = report.changed_tasks.len();
        if !report.failures.is_empty() || report.stats.values().any(|s| s.failed > 0 || s.unreachable > 0) {
            if !first {
                let _ = release::mark_failed(remote, layout, &m.app, &version);
            }
            let (task, msg) = report.failures.first().cloned().unwrap_or_else(|| ("playbook".into(), "failed".into()));
            return Err(format!("provisioning failed at \"{task}\": {msg}"));
        }
        ui.step(&pre, &format!("Provisioned (changed={infra_changed})"), true);
    } else {
        ui.step(&pre, "Infrastructure unchanged: provisioning skipped", true);
    }
    let mut provisioned = manifest.clone();
    provisioned.layers = ctx.hashes.clone();
    release::write_app_manifest(remote, layout, &m.app, &provisioned)?;

    let old = if first {
        None
    } else {
        let old = release::flip(remote, layout, &m.app, &version)?;
        ui.step(&pre, &format!("Setting current → releases/{version}"), true);
        old
    };
    let stopped = services::stop_others(remote, &m.app, &ports)?;
    for port in stopped {
        ui.step(&pre, &format!("tova-{}@{port} stopped (port released)", m.app), true);
    }
    if m.kind == AppKind::Static {
        return verify_static(ctx, remote, &pre, version, old, (stats, infra_changed));
    }
    ui.line(&format!("  {pre}{}...", if first { "Starting app" } else { "Restarting app" }));
    let mut report_step = |port: u16, r: Result<(), &str>| match r {
        Ok(()) => ui.step(&pre, &format!("tova-{}@{port} {} and healthy", m.app, if first { "started" } else { "restarted" }), true),
        Err(e) => {
            ui.step(&pre, &format!("tova-{}@{port} health check {}", m.app, m.health.path), false);
            for line in e.lines().take(10) {
                ui.raw(&format!("  {pre}      {line}\n"));
            }
        }
    };
    let restarted = services::rolling_restart(remote, &m.app, &ports, &m.health.path, m.health.timeout_secs, &mut report_step);
    if let Err(reason) = restarted {
        let _ = release::mark_failed(remote, layout, &m.app, &version);
        let Some(old) = old else {
            return Err(reason);
        };
        ui.line(&format!("  {pre}⚠ Health check failed, rolling back..."));
        release::flip(remote, layout, &m.app, &old)?;
        ui.step(&pre, &format!("current → releases/{old} (was {version})"), true);
        let mut quiet = |_: u16, _: Result<(), &str>| {};
        match services::rolling_restart(remote, &m.app, &ports, &m.health.path, m.health.timeout_secs, &mut quiet) {
            Ok(()) => ui.step(&pre, "Services restarted, health check passed", true),
            Err(e) => {
                ui.step(&pre, "Services restarted, health check passed", false);
                return Err(format!("{reason}; the rollback to {old} is unhealthy too: {e}"));
            }
        }
        let _ = registry::set_version(remote, layout, &m.app, &old);
        return Ok(Outcome::RolledBack { failed: version, to: old, reason });
    }
    ui.step(&pre, &format!("Health check {} passed", m.health.path), true);
    registry::set_version(remote, layout, &m.app, &version)?;
    let pruned = release::prune(remote, layout, &m.app, m.keep_releases)?;
    if !pruned.is_empty() {
        ui.step(&pre, &format!("Pruned {} (keeping {})", pruned.join(", "), m.keep_releases), true);
    }
    Ok(Outcome::Deployed { version, infra_changed, sent: stats.sent, reused: stats.reused })
}

/// A static app has nothing to restart: the live release is checked through
/// Caddy on the host (the document at `/`), and a failed check flips back.
fn verify_static(ctx: &HostCtx, remote: &mut Remote, pre: &str, version: String, old: Option<String>, (stats, infra_changed): (release::UploadStats, usize)) -> Result<Outcome, String> {
    let m = &ctx.loaded.manifest;
    let layout = &ctx.opts.connect.layout;
    let ui = &ctx.ui;
    match services::check_site(remote, &m.domain, m.tls, m.health.timeout_secs) {
        Ok(()) => ui.step(pre, &format!("{} answers through Caddy", m.domain), true),
        Err(reason) => {
            ui.step(pre, &format!("{} answers through Caddy", m.domain), false);
            let _ = release::mark_failed(remote, layout, &m.app, &version);
            let Some(old) = old else {
                return Err(reason);
            };
            release::flip(remote, layout, &m.app, &old)?;
            ui.step(pre, &format!("current → releases/{old} (was {version})"), true);
            let _ = registry::set_version(remote, layout, &m.app, &old);
            return Ok(Outcome::RolledBack { failed: version, to: old, reason });
        }
    }
    registry::set_version(remote, layout, &m.app, &version)?;
    let pruned = release::prune(remote, layout, &m.app, m.keep_releases)?;
    if !pruned.is_empty() {
        ui.step(pre, &format!("Pruned {} (keeping {})", pruned.join(", "), m.keep_releases), true);
    }
    Ok(Outcome::Deployed { version, infra_changed, sent: stats.sent, reused: stats.reused })
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

/// Extra vars berth decides at deploy time.
pub(crate) fn deploy_vars(start: &str, ports: &[u16], local: bool) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("tova_ports".into(), json!(ports));
    extra.insert("tova_start".into(), json!(start));
    if local {
        extra.insert("ansible_connection".into(), json!("local"));
    }
    extra
}

fn run_playbook(ctx: &HostCtx, t: &Target, pre: &str, skip: Vec<String>, ports: &[u16]) -> Result<super::ui::RunReport, String> {
    let m = &ctx.loaded.manifest;
    let c = &ctx.opts.connect;
    let opts = RunOptions {
        limit: Some(t.inventory_name.clone()),
        skip_tags: skip,
        private_key: c.private_key.clone(),
        known_hosts: c.known_hosts.clone(),
        host_key_checking: c.host_key_checking,
        host_key_checking_explicit: true,
        timeout: c.timeout_secs,
        verbose: ctx.opts.verbose,
        forks: Some(1),
        ..RunOptions::default()
    };
    let (sink, report) = DeploySink::new(ctx.ui.clone(), pre, ctx.opts.verbose);
    let inv = crate::runner::Invocation {
        playbook: ctx.loaded.dir.join("playbooks").join(format!("{}.yml", m.env)),
        inventory: vec![ctx.loaded.dir.join("inventory").join(format!("{}.yml", m.env))],
        extra_vars: deploy_vars(ctx.start, ports, c.local),
        opts,
    };
    let code = crate::runner::execute(inv, Box::new(sink));
    let report = report.lock().unwrap().clone();
    if code != 0 && report.failures.is_empty() {
        return Err(format!("the playbook run failed (exit {code}) before any task failed; run `berth run playbooks/{}.yml -i inventory/{}.yml` to see why", m.env, m.env));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_budget() {
        assert_eq!(batch_size(None, 3), 3);
        assert_eq!(batch_size(Some(Batch::Count(1)), 3), 1);
        assert_eq!(batch_size(Some(Batch::Count(9)), 3), 3);
        assert_eq!(batch_size(Some(Batch::Percent(50)), 3), 2);
        assert_eq!(batch_size(Some(Batch::Percent(1)), 3), 1);
        assert!(!over_budget(Some(34), 1, 3, true));
        assert!(over_budget(Some(34), 2, 3, false));
        assert!(over_budget(Some(0), 1, 3, false));
        assert!(!over_budget(None, 1, 3, false));
        assert!(over_budget(None, 1, 3, true));
    }

    #[test]
    fn start_entry() {
        let m = super::super::test_support::manifest("server { }\ndeploy \"prod\" {\n  server: \"h\"\n  domain: \"a.example.com\"\n}\n");
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
        assert!(resolve_start(&m, &b).unwrap_err().contains("server.min.js, server.js, app.server.js"));
    }
}
