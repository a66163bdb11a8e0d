//! The play interpreter: host selection, serial batches, strategies
//! (linear lockstep or host_pinned), blocks with rescue/always, dynamic
//! includes, handlers, failure budgets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Map, Value};

use super::executor::{self, Call, ExecResult};
use super::options::Strategy;
use super::sink::{HostReport, Status, TaskKind};
use super::state::{HostRuntime, PlayState, RunState};
use super::stats::Outcome;
use super::vars::{Layer, Scope};
use crate::modules;
use crate::playbook::play::{Play, Playbook};
use crate::playbook::task::{Block, Item, Keywords, Task};
use crate::playbook::templar::Templar;

/// Per-batch control shared by all hosts of the batch.
struct Batch<'a> {
    play: &'a PlayState,
    /// Every host of the play (all batches).
    play_hosts: &'a [Arc<HostRuntime>],
    hosts: Vec<Arc<HostRuntime>>,
    aborted: AtomicBool,
    /// Play ended by `meta: end_play`, any_errors_fatal or the failure budget.
    end_play: AtomicBool,
    /// any_errors_fatal or the failure budget: the playbook ends too.
    broken: AtomicBool,
    /// The hosts that failure ended (`clear_host_errors` brings them back).
    ended_by_abort: std::sync::Mutex<Vec<String>>,
    /// Handlers are running with force_handlers: tasks they include run on
    /// hosts that failed too.
    forcing_handlers: AtomicBool,
    /// Handlers are running: tasks they include are shown and run as handlers.
    in_handlers: AtomicBool,
}

/// Run every play; returns the exit code (0, 2 failed, 4 unreachable).
pub(crate) fn run_playbook(run: &RunState, playbook: &Playbook) -> i32 {
    for play in &playbook.plays {
        match run_play(run, play) {
            Ok(PlayEnd::Done) => {}
            // A batch that failed whole, any_errors_fatal or the failure
            // budget ends the playbook, as in ansible-playbook.
            Ok(PlayEnd::Broken) => break,
            Err(code) => {
                finish(run);
                return code;
            }
        }
    }
    finish(run);
    exit_code(run)
}

/// The timing summary (with --profile), then the recap.
fn finish(run: &RunState) {
    if run.opts.profile {
        let timings = run.timings.lock().expect("timings");
        run.sink.timing(&super::timing::summarize(&timings));
    }
    run.sink.recap(&sorted_stats(run));
}

fn sorted_stats(run: &RunState) -> indexmap::IndexMap<String, super::stats::HostStats> {
    let mut stats = run.stats.lock().expect("stats").clone();
    stats.sort_keys();
    stats
}

pub(crate) fn exit_code(run: &RunState) -> i32 {
    let all: Vec<Arc<HostRuntime>> = run
        .hosts
        .values()
        .cloned()
        .chain(std::iter::once(run.localhost.clone()))
        .collect();
    if all.iter().any(|h| h.status().failed) {
        2
    } else if all.iter().any(|h| h.status().unreachable) {
        4
    } else {
        0
    }
}

fn extra_ctx(run: &RunState, play_vars: &Map<String, Value>) -> minijinja::Value {
    let scope = Scope::new(
        vec![
            Layer::Static(run.extra_vars.clone()),
            Layer::Static(Arc::new(play_vars.clone())),
        ],
        run.templar.clone(),
        Some(run.hostvars.clone()),
    );
    minijinja::Value::from_object(scope)
}

/// Select the play's hosts. Err(code) aborts the whole run before anything ran.
fn select_hosts(run: &RunState, play: &Play) -> Result<Vec<Arc<HostRuntime>>, String> {
    let ctx = extra_ctx(run, &play.vars);
    let pattern =
        executor::render_str(&run.templar, &play.hosts, &ctx).map_err(|e| format!("hosts: {e}"))?;
    let mut names = run.inventory.select(&pattern)?;
    if names.is_empty() && (pattern == "localhost" || pattern == "127.0.0.1") {
        return Ok(vec![run.localhost.clone()]);
    }
    if let Some(limit) = &run.opts.limit {
        let allowed = run.inventory.select(limit)?;
        names.retain(|n| allowed.contains(n));
    }
    Ok(names
        .into_iter()
        .map(|n| run.host(&n))
        .filter(|h| {
            let s = h.status();
            !s.failed && !s.unreachable
        })
        .collect())
}

fn batch_sizes(serial: &[Value], total: usize) -> Vec<usize> {
    if serial.is_empty() || total == 0 {
        return vec![total.max(1)];
    }
    let size_of = |v: &Value| -> usize {
        let n = match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0) as usize,
            Value::String(s) if s.trim().ends_with('%') => {
                let pct: f64 = s.trim().trim_end_matches('%').parse().unwrap_or(100.0);
                ((pct / 100.0) * total as f64) as usize
            }
            Value::String(s) => s.trim().parse().unwrap_or(total),
            _ => total,
        };
        if n == 0 {
            if matches!(v, Value::Number(_)) {
                total
            } else {
                1
            }
        } else {
            n
        }
    };
    let mut sizes = Vec::new();
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let s = size_of(&serial[i.min(serial.len() - 1)]).min(left).max(1);
        sizes.push(s);
        left -= s;
        i += 1;
    }
    sizes
}

fn load_vars_files(run: &RunState, play: &Play) -> Result<Map<String, Value>, String> {
    let ctx = extra_ctx(run, &play.vars);
    let mut vars = Map::new();
    for entry in &play.vars_files {
        // A list entry means "first file found".
        let candidates: Vec<String> = match entry {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => return Err("vars_files entries must be file names".into()),
        };
        let mut loaded = false;
        for c in &candidates {
            let name = executor::render_str(&run.templar, c, &ctx)?;
            let path = if std::path::Path::new(&name).is_absolute() {
                name.clone().into()
            } else {
                run.playbook_dir.join(&name)
            };
            if path.is_file() {
                match crate::yaml::load_file(&path)
                    .map_err(|d| d.to_string())?
                    .to_value()
                {
                    Value::Object(m) => vars.extend(m),
                    Value::Null => {}
                    // A list of mappings is merged in order, as Ansible's preprocess_vars does.
                    Value::Array(items) if items.iter().all(Value::is_object) => {
                        for m in items.into_iter().filter_map(|i| {
                            if let Value::Object(m) = i {
                                Some(m)
                            } else {
                                None
                            }
                        }) {
                            vars.extend(m);
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{} must hold a mapping of variables (or a list of mappings)",
                            path.display()
                        ))
                    }
                }
                loaded = true;
                break;
            }
        }
        if !loaded {
            return Err(format!(
                "vars file {} was not found (relative to {})",
                candidates.join(" or "),
                run.playbook_dir.display()
            ));
        }
    }
    Ok(vars)
}

/// Answer a play's `vars_prompt`: extra vars win (no prompt), then a
/// terminal prompt (without echo when `private`, the default), then `default`.
fn prompt_vars(run: &RunState, play: &Play) -> Result<Map<String, Value>, String> {
    use std::io::{BufRead, IsTerminal, Write};
    let mut answers = Map::new();
    for p in &play.vars_prompt {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if run.extra_vars.contains_key(&name) {
            continue;
        }
        let text = p
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        let private = p.get("private").map(executor::truthy).unwrap_or(true);
        let default = p.get("default").cloned();
        let answer = if std::io::stdin().is_terminal() {
            let shown = match &default {
                Some(d) => format!("{text} [{}]: ", executor::py_repr(d)),
                None => format!("{text}: "),
            };
            let line = if private {
                rpassword::prompt_password(shown).map_err(|e| format!("vars_prompt {name}: {e}"))?
            } else {
                eprint!("{shown}");
                let _ = std::io::stderr().flush();
                let mut l = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut l)
                    .map_err(|e| format!("vars_prompt {name}: {e}"))?;
                l.trim_end_matches(['\n', '\r']).to_string()
            };
            if line.is_empty() {
                default.unwrap_or(Value::String(String::new()))
            } else {
                Value::String(line)
            }
        } else {
            match default {
                Some(d) => d,
                None => return Err(format!("vars_prompt `{name}` needs an answer but there is no terminal; pass it with -e {name}=VALUE")),
            }
        };
        answers.insert(name, answer);
    }
    Ok(answers)
}

/// How a play ended.
enum PlayEnd {
    Done,
    /// Its failures end the playbook.
    Broken,
}

fn run_play(run: &RunState, play: &Play) -> Result<PlayEnd, i32> {
    let hosts = match select_hosts(run, play) {
        Ok(h) => h,
        Err(e) => {
            run.sink.message(&format!("ERROR! {e}"));
            return Err(1);
        }
    };
    let names: Vec<String> = hosts.iter().map(|h| h.data.name.clone()).collect();
    run.sink.play_start(&play.name, &names);
    if hosts.is_empty() {
        run.sink.message("skipping: no hosts matched");
        return Ok(PlayEnd::Done);
    }
    let vars_files = match load_vars_files(run, play) {
        Ok(v) => v,
        Err(e) => {
            run.sink.message(&format!(
                "ERROR! {e}\n\nThe error appears to be in '{}': line {}",
                play.file.display(),
                play.line
            ));
            return Err(1);
        }
    };
    let strategy = run.opts.strategy.unwrap_or(match play.strategy.as_deref() {
        Some("host_pinned" | "free") => Strategy::HostPinned,
        _ => Strategy::Linear,
    });
    let mut play_vars = play.vars.clone();
    match prompt_vars(run, play) {
        // vars_prompt sits above play vars and below vars_files in Ansible's precedence.
        Ok(answers) => play_vars.extend(answers),
        Err(e) => {
            run.sink.message(&format!("ERROR! {e}"));
            return Err(1);
        }
    }
    let state = PlayState::new(run, play.clone(), play_vars, vars_files, strategy, &names);
    let sizes = batch_sizes(&play.serial, hosts.len());
    let mut offset = 0;
    for size in sizes {
        let batch_hosts: Vec<Arc<HostRuntime>> = hosts[offset..offset + size]
            .iter()
            .filter(|h| h.status().active())
            .cloned()
            .collect();
        offset += size;
        for h in &batch_hosts {
            run.touch(&h.data.name);
        }
        if batch_hosts.is_empty() {
            continue;
        }
        let batch = Batch {
            play: &state,
            play_hosts: &hosts,
            hosts: batch_hosts,
            aborted: AtomicBool::new(false),
            end_play: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            ended_by_abort: Default::default(),
            forcing_handlers: AtomicBool::new(false),
            in_handlers: AtomicBool::new(false),
        };
        update_live_hosts(&state, &hosts, &batch.hosts);
        run_batch(run, &batch);
        // Hosts that ended their play (meta end_host) take part in the next play again.
        for h in &batch.hosts {
            h.set_status(|s| s.ended = false);
        }
        if batch.broken.load(Ordering::SeqCst) {
            return Ok(PlayEnd::Broken);
        }
        if batch.end_play.load(Ordering::SeqCst) {
            break;
        }
        if batch
            .hosts
            .iter()
            .all(|h| h.status().failed || h.status().unreachable)
        {
            run.sink.message("\nNO MORE HOSTS LEFT *************************************************************");
            return Ok(PlayEnd::Broken);
        }
    }
    Ok(PlayEnd::Done)
}

/// `ansible_play_hosts` and `ansible_play_batch`: the hosts not failed.
fn update_live_hosts(
    state: &PlayState,
    play_hosts: &[Arc<HostRuntime>],
    batch: &[Arc<HostRuntime>],
) {
    let active = |hs: &[Arc<HostRuntime>]| -> Vec<String> {
        hs.iter()
            .filter(|h| {
                let s = h.status();
                !s.failed && !s.unreachable
            })
            .map(|h| h.data.name.clone())
            .collect()
    };
    state.set_live_hosts(&active(play_hosts), &active(batch));
}

fn facts_task(play: &Play) -> Task {
    Task {
        name: Some("Gathering Facts".into()),
        ..Task::bare("gather_facts", play.file.clone(), play.line)
    }
}

fn run_batch(run: &RunState, batch: &Batch<'_>) {
    let play = &batch.play.play;
    match batch.play.strategy {
        Strategy::Linear => run_sections(run, batch, &batch.hosts),
        Strategy::HostPinned => {
            run.pool.install(|| {
                batch
                    .hosts
                    .par_iter()
                    .for_each(|h| run_sections(run, batch, std::slice::from_ref(h)));
            });
        }
    }
    let _ = play;
}

fn run_sections(run: &RunState, batch: &Batch<'_>, hosts: &[Arc<HostRuntime>]) {
    let play = &batch.play.play;
    let kw = &play.keywords;
    if play.gather_facts.unwrap_or(run.opts.gather_by_default) && run.opts.role.is_none() {
        let t = facts_task(play);
        // Facts run regardless of tags, like Ansible's `always`-tagged implicit task.
        let mut fk = kw.clone();
        fk.tags = vec!["always".into()];
        // `gathering = smart`: hosts already gathered (earlier in the run,
        // or in the fact cache) are not gathered again.
        let pending: Vec<Arc<HostRuntime>> = if run.opts.gather_smart {
            hosts
                .iter()
                .filter(|h| {
                    h.data
                        .facts
                        .read()
                        .expect("facts")
                        .get("_ansible_facts_gathered")
                        != Some(&Value::Bool(true))
                })
                .cloned()
                .collect()
        } else {
            hosts.to_vec()
        };
        // Only an import_playbook's conditions apply to gathering (plays have no `when`).
        if !pending.is_empty() {
            run_task(
                run,
                batch,
                &t,
                &pending,
                &fk,
                &fk,
                &[],
                false,
                TaskKind::Task,
            );
        }
    }
    for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        if batch.aborted.load(Ordering::SeqCst) {
            break;
        }
        run_items(run, batch, section, hosts, kw, &[], false);
        // The implicit flush is a task of the play's, tagged like it and
        // `always`: --skip-tags naming the play skips it too.
        let mut flush_tags = kw.tags.clone();
        flush_tags.push("always".into());
        if run.opts.tags_allow(&flush_tags) {
            flush_handlers(run, batch, hosts, false);
        }
    }
    if play.force_handlers.unwrap_or(run.opts.force_handlers)
        && batch.aborted.load(Ordering::SeqCst)
    {
        // force_handlers: notified handlers still run when a failure ended
        // the play (any_errors_fatal, max_fail_percentage), as in Ansible.
        let ended: Vec<(Arc<HostRuntime>, bool)> = hosts
            .iter()
            .map(|h| (h.clone(), h.status().ended))
            .collect();
        batch.aborted.store(false, Ordering::SeqCst);
        for (h, _) in &ended {
            h.set_status(|s| s.ended = false);
        }
        flush_handlers(run, batch, hosts, false);
        for (h, was) in &ended {
            h.set_status(|s| s.ended |= *was);
        }
        batch.aborted.store(true, Ordering::SeqCst);
    }
}

fn run_items(
    run: &RunState,
    batch: &Batch<'_>,
    items: &[Item],
    hosts: &[Arc<HostRuntime>],
    kw: &Keywords,
    extra: &[Layer],
    rescue_pending: bool,
) {
    for item in items {
        if batch.aborted.load(Ordering::SeqCst) {
            return;
        }
        let forcing = batch.forcing_handlers.load(Ordering::SeqCst);
        let live: Vec<Arc<HostRuntime>> = hosts
            .iter()
            .filter(|h| h.status().takes_part(forcing))
            .cloned()
            .collect();
        if live.is_empty() {
            return;
        }
        match item {
            Item::Task(t) => {
                let tkw = t.keywords.inherit(kw);
                run_task(
                    run,
                    batch,
                    t,
                    &live,
                    &tkw,
                    kw,
                    extra,
                    rescue_pending,
                    if batch.in_handlers.load(Ordering::SeqCst) {
                        TaskKind::Handler
                    } else {
                        TaskKind::Task
                    },
                );
            }
            Item::Block(b) => run_block(run, batch, b, &live, kw, extra, rescue_pending),
        }
    }
}

fn run_block(
    run: &RunState,
    batch: &Batch<'_>,
    b: &Block,
    hosts: &[Arc<HostRuntime>],
    kw: &Keywords,
    extra: &[Layer],
    rescue_pending: bool,
) {
    let bkw = b.keywords.inherit(kw);
    let aborted_before = batch.aborted.load(Ordering::SeqCst);
    let has_rescue = !b.rescue.is_empty();
    run_items(
        run,
        batch,
        &b.block,
        hosts,
        &bkw,
        extra,
        rescue_pending || has_rescue,
    );
    let failed_in_block: Vec<Arc<HostRuntime>> = hosts
        .iter()
        .filter(|h| {
            let s = h.status();
            s.failed && !s.unreachable
        })
        .cloned()
        .collect();
    if has_rescue && !failed_in_block.is_empty() && !batch.aborted.load(Ordering::SeqCst) {
        for h in &failed_in_block {
            h.set_status(|s| s.failed = false);
        }
        run_items(
            run,
            batch,
            &b.rescue,
            &failed_in_block,
            &bkw,
            extra,
            rescue_pending,
        );
    }
    if !b.always.is_empty() && !aborted_before {
        // A failure that ended the play inside this block (any_errors_fatal,
        // max_fail_percentage) still runs its `always`, as Ansible does; then
        // the play stays ended.
        let aborted_here = batch.aborted.load(Ordering::SeqCst);
        let always_hosts: Vec<Arc<HostRuntime>> = hosts
            .iter()
            .filter(|h| {
                let s = h.status();
                !s.unreachable && (!s.ended || aborted_here)
            })
            .cloned()
            .collect();
        let before: Vec<(bool, bool, u32)> = always_hosts
            .iter()
            .map(|h| {
                let s = h.status();
                (s.failed, s.ended, s.errors_cleared)
            })
            .collect();
        if aborted_here {
            batch.aborted.store(false, Ordering::SeqCst);
        }
        for h in &always_hosts {
            h.set_status(|s| {
                s.failed = false;
                s.ended = false;
            });
        }
        run_items(
            run,
            batch,
            &b.always,
            &always_hosts,
            &bkw,
            extra,
            rescue_pending,
        );
        // `meta: clear_host_errors` inside `always` clears the block's
        // failure, and one that ended the play (any_errors_fatal) with it.
        let mut cleared_any = false;
        for (h, (failed, ended, cleared)) in always_hosts.iter().zip(before) {
            h.set_status(|s| {
                let kept = s.errors_cleared == cleared;
                cleared_any |= !kept;
                s.failed |= failed && kept;
                s.ended |= ended && (kept || !aborted_here);
            });
        }
        if aborted_here && cleared_any {
            batch.broken.store(false, Ordering::SeqCst);
            batch.end_play.store(false, Ordering::SeqCst);
            let ended = std::mem::take(&mut *batch.ended_by_abort.lock().expect("ended"));
            for h in batch.hosts.iter().filter(|h| ended.contains(&h.data.name)) {
                h.set_status(|s| s.ended = false);
            }
        }
        if aborted_here && !cleared_any {
            batch.aborted.store(true, Ordering::SeqCst);
        }
    }
}

fn role_allowed(run: &RunState, task: &Task) -> bool {
    match &run.opts.role {
        None => true,
        Some(r) => task.role.as_ref().is_some_and(|role| &role.name == r),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_task(
    run: &RunState,
    batch: &Batch<'_>,
    task: &Task,
    hosts: &[Arc<HostRuntime>],
    kw: &Keywords,
    parent_kw: &Keywords,
    extra: &[Layer],
    rescue_pending: bool,
    kind: TaskKind,
) {
    // Templated tags are rendered from the play's variables first (Ansible's evaluate_tags).
    let rendered = kw.tags.iter().any(|t| Templar::is_template(t)).then(|| {
        let mut vars = batch.play.play.vars.clone();
        vars.extend(run.extra_vars.as_ref().clone());
        run.templar.render_tags(&kw.tags, &vars)
    });
    let tags = rendered.as_ref().unwrap_or(&kw.tags);
    if kind == TaskKind::Task
        && (!run.opts.tags_allow(tags)
            || (!role_allowed(run, task) && task.action != "gather_facts"))
    {
        return;
    }
    let action = modules::short_name(&task.action).to_string();
    let name = task.display_name();
    match action.as_str() {
        "meta" => {
            // A meta handler has its banner (a meta task has none, as in ansible-core).
            if kind == TaskKind::Handler {
                run.sink.task_start(&name, kind);
                let what = task.args.get("_raw_params").and_then(Value::as_str);
                if what.map(str::trim) == Some("flush_handlers") {
                    for h in hosts {
                        report_fail(
                            run,
                            task,
                            h,
                            "flush_handlers cannot be used as a handler".into(),
                        );
                    }
                    return;
                }
            }
            run_meta(run, batch, task, hosts, kw, extra, rescue_pending);
            if run.opts.verbose >= 2 {
                if let Some(msg) = meta_message(task, hosts) {
                    run.sink.message(&format!("META: {msg}"));
                }
            }
            return;
        }
        "include_tasks" | "include_role" => {
            return run_include(
                run,
                batch,
                task,
                hosts,
                (kw, parent_kw),
                extra,
                rescue_pending,
                kind,
            )
        }
        _ => {}
    }
    let linear = batch.play.strategy == Strategy::Linear;
    if linear {
        run.sink.task_start(&name, kind);
    }
    let run_once = {
        let first = &hosts[0];
        let scope = batch.play.scope(run, first, task, kw, extra, None);
        let ctx = minijinja::Value::from_dyn_object(scope);
        kw.run_once
            .as_ref()
            .map(|v| executor::eval_cond(&run.templar, v, &ctx).unwrap_or(false))
            .unwrap_or(false)
    };
    let call = Call {
        task,
        keywords: kw,
        extra,
    };
    let targets: Vec<Arc<HostRuntime>> = if run_once {
        vec![hosts[0].clone()]
    } else {
        hosts.to_vec()
    };
    let started = std::time::Instant::now();
    let timed = |h: &Arc<HostRuntime>| {
        let t = std::time::Instant::now();
        let r = executor::run(run, batch.play, h, &call);
        (r, t.elapsed())
    };
    let (results, took): (Vec<ExecResult>, Vec<std::time::Duration>) = if targets.len() == 1 {
        let (r, d) = timed(&targets[0]);
        (vec![r], vec![d])
    } else {
        run.pool
            .install(|| targets.par_iter().map(timed).collect::<Vec<_>>())
            .into_iter()
            .unzip()
    };
    if run.opts.profile {
        run.timings
            .lock()
            .expect("timings")
            .push(super::timing::TaskTiming {
                name: name.clone(),
                origin: format!("{}:{}", task.file.display(), task.line),
                wall: started.elapsed(),
                hosts: targets
                    .iter()
                    .map(|h| h.data.name.clone())
                    .zip(took)
                    .collect(),
            });
    }
    // A run_once set_fact (or include_vars) sets its facts on every host of
    // the batch, as Ansible does.
    let shared_facts = match (run_once, action.as_str(), results.first()) {
        (true, "set_fact" | "include_vars", Some(r)) => r
            .report
            .result
            .get("ansible_facts")
            .and_then(Value::as_object)
            .cloned(),
        _ => None,
    };
    let mut any_fatal = false;
    for (h, mut r) in targets.iter().zip(results) {
        // Notify handlers (checked against known handler names).
        if r.notifies() && !task.notify.is_empty() {
            match notify(run, batch, h, task, kw, extra) {
                Err(msg) => r = failed_result(&h.data.name, msg),
                Ok(warnings) if !warnings.is_empty() => {
                    let list = r
                        .report
                        .result
                        .entry("warnings")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = list {
                        a.extend(warnings.into_iter().map(Value::String));
                    }
                }
                Ok(_) => {}
            }
        }
        r.report.delegated_to = None;
        run.sink.host_result(&name, kind, &r.report);
        let failed_hard = r.failed && !r.ignored && !r.unreachable;
        run.record(&h.data.name, r.outcome(failed_hard && rescue_pending));
        if failed_hard {
            h.set_status(|s| s.failed = true);
            any_fatal = true;
            if rescue_pending {
                // What a rescue sees of the failure, as Ansible sets it (for the rest of the play).
                h.data.set_var(
                    "ansible_failed_result",
                    Value::Object(r.report.result.clone()),
                );
                let mut t = Map::new();
                t.insert(
                    "name".into(),
                    Value::String(task.name.clone().unwrap_or_default()),
                );
                t.insert("action".into(), Value::String(task.action.clone()));
                h.data.set_var("ansible_failed_task", Value::Object(t));
            }
        }
        if r.unreachable && !r.ignored {
            h.set_status(|s| s.unreachable = true);
            any_fatal = true;
        }
    }
    if run_once {
        for h in hosts.iter().skip(1) {
            for (k, v) in shared_facts.iter().flatten() {
                h.data.set_var(k, v.clone());
            }
        }
        // The registered result is shared with every host of the batch.
        if let Some(reg) = &task.register {
            if let Some(v) = targets[0].data.vars.read().expect("vars").get(reg).cloned() {
                for h in hosts.iter().skip(1) {
                    h.data.set_var(reg, v.clone());
                }
            }
        }
    }
    if any_fatal {
        update_live_hosts(batch.play, batch.play_hosts, &batch.hosts);
        check_budget(run, batch, kw, rescue_pending);
    }
}

fn failed_result(host: &str, msg: String) -> ExecResult {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("failed".into(), Value::Bool(true));
    result.insert("msg".into(), Value::String(msg));
    ExecResult {
        report: HostReport {
            host: host.into(),
            delegated_to: None,
            status: Status::Failed,
            ignored: false,
            result,
            items: Vec::new(),
            diffs: Vec::new(),
            verbose_always: false,
            origin: None,
        },
        failed: true,
        unreachable: false,
        changed: false,
        skipped: false,
        ignored: false,
    }
}

/// any_errors_fatal and max_fail_percentage after a failure.
fn check_budget(run: &RunState, batch: &Batch<'_>, kw: &Keywords, rescue_pending: bool) {
    let play = &batch.play.play;
    let fatal_kw = kw
        .any_errors_fatal
        .as_ref()
        .map(executor::truthy)
        .unwrap_or(false);
    let failed = batch
        .hosts
        .iter()
        .filter(|h| {
            let s = h.status();
            s.failed || s.unreachable
        })
        .count();
    if (play.any_errors_fatal || fatal_kw) && failed > 0 {
        if rescue_pending {
            // Inside a block with `rescue`: every host of the batch fails
            // with the one that did, and all of them are rescued (Ansible).
            for h in &batch.hosts {
                if h.status().active() {
                    h.set_status(|s| s.failed = true);
                }
            }
        } else {
            abort(run, batch);
        }
        return;
    }
    if let Some(pct) = play.max_fail_percentage {
        let ratio = failed as f64 * 100.0 / batch.hosts.len() as f64;
        if ratio > pct {
            abort(run, batch);
        }
    }
}

fn abort(run: &RunState, batch: &Batch<'_>) {
    batch.broken.store(true, Ordering::SeqCst);
    if !batch.aborted.swap(true, Ordering::SeqCst) {
        batch.end_play.store(true, Ordering::SeqCst);
        let mut ended = batch.ended_by_abort.lock().expect("ended");
        for h in &batch.hosts {
            if h.status().active() {
                h.set_status(|s| s.ended = true);
                ended.push(h.data.name.clone());
            }
        }
        run.sink.message(
            "\nNO MORE HOSTS LEFT *************************************************************",
        );
    }
}

/// Record a notification for every name in `notify`; an unknown handler is
/// an error, or with error_on_missing_handler off a warning (returned).
fn notify(
    run: &RunState,
    batch: &Batch<'_>,
    host: &Arc<HostRuntime>,
    task: &Task,
    kw: &Keywords,
    extra: &[Layer],
) -> Result<Vec<String>, String> {
    let scope = batch.play.scope(run, host, task, kw, extra, None);
    let ctx = minijinja::Value::from_dyn_object(scope);
    let handlers = batch.play.handlers.lock().expect("handlers").clone();
    let known = handler_names(run, batch, &handlers, host);
    let mut n = host.notified.lock().expect("notified");
    let mut warnings = Vec::new();
    // A templated entry may name a list of handlers (`notify: "{{ names }}"`).
    let mut names = Vec::new();
    for raw in &task.notify {
        match run.templar.render_str(raw, &ctx).map_err(|e| e.message)? {
            Value::Array(items) => names.extend(items.iter().map(|v| match v {
                Value::String(s) => s.clone(),
                other => executor::py_repr(other),
            })),
            Value::String(s) => names.push(s),
            other => names.push(executor::py_repr(&other)),
        }
    }
    for name in names {
        if !known.iter().any(|k| k == &name) {
            let msg = format!("The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list");
            if run.opts.error_on_missing_handler {
                return Err(msg);
            }
            warnings.push(msg);
            continue;
        }
        n.insert(name);
    }
    Ok(warnings)
}

fn handler_tasks(items: &[Item], out: &mut Vec<Task>) {
    for i in items {
        match i {
            Item::Task(t) => out.push((**t).clone()),
            Item::Block(b) => {
                handler_tasks(&b.block, out);
            }
        }
    }
}

/// The order ansible-core searches handlers for a notification: its handler
/// blocks from the last loaded to the first, each block's tasks in order.
/// Consecutive bare handlers of one file make one (implicit) block, as
/// Ansible's loader groups them; an explicit block is one block; a role's
/// handlers loaded again (an include_role in a loop) start a new one.
fn search_order(items: &[Item]) -> Vec<usize> {
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    let mut last: Option<(Arc<std::path::PathBuf>, usize)> = None;
    for item in items {
        let mut tasks = Vec::new();
        handler_tasks(std::slice::from_ref(item), &mut tasks);
        let idx: Vec<usize> = (next..next + tasks.len()).collect();
        next += tasks.len();
        match item {
            Item::Task(t) => {
                let continues = last
                    .as_ref()
                    .is_some_and(|(f, l)| *f == t.file && *l < t.line);
                last = Some((t.file.clone(), t.line));
                match blocks.last_mut() {
                    Some(b) if continues => b.extend(idx),
                    _ => blocks.push(idx),
                }
            }
            Item::Block(_) => {
                last = None;
                blocks.push(idx);
            }
        }
    }
    blocks.into_iter().rev().flatten().collect()
}

/// What a handler answers to: its names (templated name, `role : name` with
/// the role's short name and, for a collection role, its FQCN) and its
/// listen topics (each also as `role : topic`, as Ansible namespaces them).
fn names_of(
    run: &RunState,
    batch: &Batch<'_>,
    t: &Task,
    host: &Arc<HostRuntime>,
) -> (Vec<String>, Vec<String>) {
    let roles: Vec<String> = match &t.role {
        Some(r) => {
            let short = r.short_name().to_string();
            if short == r.name {
                vec![short]
            } else {
                vec![short, r.name.clone()]
            }
        }
        None => Vec::new(),
    };
    let mut names = Vec::new();
    if let Some(n) = &t.name {
        let rendered = if crate::playbook::templar::Templar::is_template(n) {
            let scope = batch.play.scope(run, host, t, &t.keywords, &[], None);
            let ctx = minijinja::Value::from_dyn_object(scope);
            executor::render_str(&run.templar, n, &ctx).map_err(|e| {
                // As ansible-core: such a handler answers only to its listen
                // topics; without any it is unusable, and said so once.
                let key = format!("{}:{}", t.file.display(), t.line);
                let fresh = batch.play.unusable_handlers.lock().expect("warned").insert(key);
                if fresh && t.listen.is_empty() {
                    eprintln!("[WARNING]: Handler '{n}' is unusable because it has no listen topics and the name could not be templated (host-specific variables are not supported in handler names). The error: {e}");
                }
            })
        } else {
            Ok(n.clone())
        };
        if let Ok(rendered) = rendered {
            names.extend(roles.iter().map(|r| format!("{r} : {rendered}")));
            names.push(rendered);
        }
    }
    let mut listen = t.listen.clone();
    for topic in &t.listen {
        listen.extend(roles.iter().map(|r| format!("{r} : {topic}")));
    }
    (names, listen)
}

fn handler_names(
    run: &RunState,
    batch: &Batch<'_>,
    handlers: &[Item],
    host: &Arc<HostRuntime>,
) -> Vec<String> {
    let mut tasks = Vec::new();
    handler_tasks(handlers, &mut tasks);
    tasks
        .iter()
        .flat_map(|t| {
            let (names, listen) = names_of(run, batch, t, host);
            names.into_iter().chain(listen)
        })
        .collect()
}

/// Whether notification `x` reaches handler `j`, as ansible-core resolves
/// it over `order` (see [`search_order`]): by name, only the first handler
/// found with that name; by listen topic, every listener, but of listeners
/// sharing a name only the first found.
fn reaches(forms: &[(Vec<String>, Vec<String>)], order: &[usize], x: &str, j: usize) -> bool {
    let named = |k: usize| forms[k].0.iter().any(|n| n == x);
    if order.iter().copied().find(|&k| named(k)) == Some(j) {
        return true;
    }
    let listens = |k: usize| forms[k].1.iter().any(|l| l == x);
    if !listens(j) {
        return false;
    }
    // The bare name is the last of a handler's names.
    let Some(name) = forms[j].0.last() else {
        return true;
    };
    order
        .iter()
        .copied()
        .find(|&k| listens(k) && forms[k].0.last() == Some(name))
        == Some(j)
}

/// Run notified handlers; a handler that fails inside a block with a
/// rescue is that block's failure (`rescue_pending`).
/// `ANSIBLE_DEBUG` set: the handler flushes are traced with Ansible's
/// debug lines (roles' tests count them).
fn ansible_debug() -> bool {
    std::env::var("ANSIBLE_DEBUG")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on" | "y" | "t"
            )
        })
        .unwrap_or(false)
}

fn flush_handlers(
    run: &RunState,
    batch: &Batch<'_>,
    hosts: &[Arc<HostRuntime>],
    rescue_pending: bool,
) {
    flush_handlers_as(run, batch, hosts, rescue_pending, false)
}

/// A flush: `explicit` for `meta: flush_handlers`, which runs for every
/// host it names; the implicit ones after each section skip hosts with
/// nothing notified.
fn flush_handlers_as(
    run: &RunState,
    batch: &Batch<'_>,
    hosts: &[Arc<HostRuntime>],
    rescue_pending: bool,
    explicit: bool,
) {
    if ansible_debug() {
        for h in hosts.iter().filter(|h| !h.status().ended) {
            let notified = !h.notified.lock().expect("notified").is_empty();
            if explicit || notified {
                run.sink.message(&format!(
                    "META: triggered running handlers for {}",
                    h.data.name
                ));
            } else {
                run.sink.message(&format!(
                    "No handler notifications for {}, skipping.",
                    h.data.name
                ));
            }
        }
    }
    let play = &batch.play.play;
    let force = play.force_handlers.unwrap_or(run.opts.force_handlers);
    let was = batch.forcing_handlers.swap(force, Ordering::SeqCst);
    let was_in = batch.in_handlers.swap(true, Ordering::SeqCst);
    flush_handler_passes(run, batch, hosts, rescue_pending);
    batch.in_handlers.store(was_in, Ordering::SeqCst);
    batch.forcing_handlers.store(was, Ordering::SeqCst);
}

fn flush_handler_passes(
    run: &RunState,
    batch: &Batch<'_>,
    hosts: &[Arc<HostRuntime>],
    rescue_pending: bool,
) {
    let play = &batch.play.play;
    for _pass in 0..8 {
        let handlers = batch.play.handlers.lock().expect("handlers").clone();
        let mut tasks = Vec::new();
        handler_tasks(&handlers, &mut tasks);
        let mut ran_any = false;
        // What each handler answers to, per host (names may be templated):
        // (its name forms, its listen topics).
        let order = search_order(&handlers);
        let forms: Vec<Vec<(Vec<String>, Vec<String>)>> = hosts
            .iter()
            .map(|h| tasks.iter().map(|t| names_of(run, batch, t, h)).collect())
            .collect();
        // Notifications taken in this pass, per host: a topic reaches every
        // handler listening to it, so it stays live for the rest of the pass.
        let mut taken: Vec<Vec<String>> = vec![Vec::new(); hosts.len()];
        for (j, t) in tasks.iter().enumerate() {
            if batch.aborted.load(Ordering::SeqCst) {
                return;
            }
            let mut targets = Vec::new();
            let forcing = batch.forcing_handlers.load(Ordering::SeqCst);
            for (i, h) in hosts.iter().enumerate() {
                if !h.status().takes_part(forcing) {
                    continue;
                }
                let mut n = h.notified.lock().expect("notified");
                let reached: Vec<String> = n
                    .iter()
                    .chain(taken[i].iter())
                    .filter(|x| reaches(&forms[i], &order, x, j))
                    .cloned()
                    .collect();
                if reached.is_empty() {
                    continue;
                }
                for x in reached {
                    if n.shift_remove(&x) {
                        taken[i].push(x);
                    }
                }
                targets.push(h.clone());
            }
            if targets.is_empty() || !role_allowed(run, t) {
                continue;
            }
            ran_any = true;
            let hkw = t.keywords.inherit(&play.keywords);
            run_task(
                run,
                batch,
                t,
                &targets,
                &hkw,
                &play.keywords,
                &[],
                rescue_pending,
                TaskKind::Handler,
            );
        }
        if !ran_any {
            return;
        }
    }
}

/// What ansible-core shows at -vv after an explicit meta task.
fn meta_message(task: &Task, hosts: &[Arc<HostRuntime>]) -> Option<String> {
    let what = task
        .args
        .get("_raw_params")
        .and_then(Value::as_str)
        .unwrap_or("noop")
        .trim();
    let host = hosts
        .first()
        .map(|h| h.data.name.clone())
        .unwrap_or_default();
    Some(match what {
        "noop" => "noop".into(),
        "flush_handlers" => format!("triggered running handlers for {host}"),
        "refresh_inventory" => "inventory successfully refreshed".into(),
        "clear_facts" => "facts cleared".into(),
        "clear_host_errors" => "cleared host errors".into(),
        "end_batch" => "ending batch".into(),
        "end_play" => "ending play".into(),
        "end_host" => format!("ending play for {host}"),
        "reset_connection" => "reset connection".into(),
        _ => return None,
    })
}

fn run_meta(
    run: &RunState,
    batch: &Batch<'_>,
    task: &Task,
    hosts: &[Arc<HostRuntime>],
    kw: &Keywords,
    extra: &[Layer],
    rescue_pending: bool,
) {
    let what = task
        .args
        .get("_raw_params")
        .and_then(Value::as_str)
        .unwrap_or("noop")
        .trim()
        .to_string();
    let when_ok = |h: &Arc<HostRuntime>| -> bool {
        let scope = batch.play.scope(run, h, task, kw, extra, None);
        let ctx = minijinja::Value::from_dyn_object(scope);
        executor::eval_all(&run.templar, &kw.when, &ctx)
            .map(|r| r.is_none())
            .unwrap_or(false)
    };
    match what.as_str() {
        "flush_handlers" => {
            // Only for the hosts its `when` holds for.
            let flushing: Vec<Arc<HostRuntime>> =
                hosts.iter().filter(|h| when_ok(h)).cloned().collect();
            if !flushing.is_empty() {
                flush_handlers_as(run, batch, &flushing, rescue_pending, true);
            }
        }
        "end_play" => {
            if hosts.iter().any(when_ok) {
                batch.aborted.store(true, Ordering::SeqCst);
                batch.end_play.store(true, Ordering::SeqCst);
                for h in &batch.hosts {
                    h.set_status(|s| s.ended = true);
                }
            }
        }
        "end_host" => {
            for h in hosts {
                if when_ok(h) {
                    h.set_status(|s| s.ended = true);
                }
            }
        }
        "clear_host_errors" if hosts.iter().any(when_ok) => {
            for h in &batch.hosts {
                h.set_status(|s| {
                    s.failed = false;
                    s.errors_cleared += 1;
                });
            }
        }
        "clear_host_errors" => {}
        "reset_connection" => {
            for h in hosts.iter().filter(|h| when_ok(h)) {
                if let Some(mut s) = h.conn.lock().expect("conn").take() {
                    s.conn.close();
                }
            }
        }
        "clear_facts" => {
            for h in hosts.iter().filter(|h| when_ok(h)) {
                h.data.facts.write().expect("facts").clear();
                // The persistent cache forgets them too (Ansible's clear_facts).
                if let Some(cache) = &run.opts.fact_cache {
                    if let Err(e) = cache.flush(&h.data.name) {
                        eprintln!(
                            "[WARNING]: cannot clear the fact cache of {} in {}: {e}",
                            h.data.name,
                            cache.dir.display()
                        );
                    }
                }
            }
        }
        "noop" | "refresh_inventory" | "end_batch" | "end_role" => {}
        other => {
            for h in hosts {
                let r = failed_result(
                    &h.data.name,
                    format!("invalid meta action requested: {other}"),
                );
                run.sink
                    .host_result(&task.display_name(), TaskKind::Task, &r.report);
                run.record(&h.data.name, Outcome::Failed { rescued: false });
                h.set_status(|s| s.failed = true);
            }
        }
    }
}

/// `include_tasks` / `include_role`: resolved per host at run time, hosts
/// grouped by what they include, then run like any other task list.
#[allow(clippy::too_many_arguments)]
fn run_include(
    run: &RunState,
    batch: &Batch<'_>,
    task: &Task,
    hosts: &[Arc<HostRuntime>],
    (kw, parent_kw): (&Keywords, &Keywords),
    extra: &[Layer],
    rescue_pending: bool,
    kind: TaskKind,
) {
    let action = modules::short_name(&task.action).to_string();
    // (key, include vars) per host, in host order; loops produce several.
    let mut groups: Vec<(String, Vec<Arc<HostRuntime>>, Map<String, Value>)> = Vec::new();
    for h in hosts {
        let scope = batch.play.scope(run, h, task, kw, extra, None);
        let ctx = minijinja::Value::from_dyn_object(scope);
        let items: Vec<Option<Value>> = match &task.loop_ {
            None => vec![None],
            Some(lv) => match executor::loop_items(run, task, lv, &ctx) {
                Ok(items) => items.into_iter().map(Some).collect(),
                Err(e) => {
                    report_fail(run, task, h, e);
                    continue;
                }
            },
        };
        let loop_var = executor::loop_control_str(&run.templar, task, "loop_var", &ctx)
            .unwrap_or_else(|| "item".into());
        let index_var = executor::loop_control_str(&run.templar, task, "index_var", &ctx);
        for (index, item) in items.into_iter().enumerate() {
            let mut include_vars = Map::new();
            if let Some(it) = &item {
                include_vars.insert(loop_var.clone(), it.clone());
                // The included tasks see loop_control's index_var too.
                if let Some(iv) = &index_var {
                    include_vars.insert(iv.clone(), Value::from(index));
                }
            }
            let item_scope = batch.play.scope(
                run,
                h,
                task,
                kw,
                extra,
                Some(Layer::Static(Arc::new(include_vars.clone()))),
            );
            let ictx = minijinja::Value::from_dyn_object(item_scope);
            match executor::eval_all(&run.templar, &kw.when, &ictx) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    let r = HostReport {
                        host: h.data.name.clone(),
                        delegated_to: None,
                        status: Status::Skipped,
                        ignored: false,
                        result: Map::new(),
                        items: Vec::new(),
                        diffs: Vec::new(),
                        verbose_always: false,
                        origin: None,
                    };
                    run.sink.host_result(&task.display_name(), kind, &r);
                    run.record(&h.data.name, Outcome::Skipped);
                    continue;
                }
                Err(e) => {
                    report_fail(run, task, h, e);
                    continue;
                }
            }
            let args = match run
                .templar
                .render_value(&Value::Object(task.args.clone()), &ictx)
            {
                Ok(Value::Object(m)) => m,
                Ok(_) => Map::new(),
                Err(e) => {
                    report_fail(run, task, h, format!("The task includes an option with an undefined variable. The error was: {}", e.message));
                    continue;
                }
            };
            let key = match action.as_str() {
                "include_tasks" => args
                    .get("file")
                    .or_else(|| args.get("_raw_params"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                // The role and the files it is asked for, one key per distinct include.
                _ => {
                    let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or("");
                    let name = args
                        .get("name")
                        .or_else(|| args.get("role"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    [
                        name,
                        arg("tasks_from"),
                        arg("handlers_from"),
                        arg("vars_from"),
                        arg("defaults_from"),
                    ]
                    .join("|")
                }
            };
            if let Some(Value::Object(apply_vars)) = args.get("vars") {
                include_vars.extend(apply_vars.clone());
            }
            match groups
                .iter_mut()
                .find(|(k, _, v)| *k == key && *v == include_vars)
            {
                Some((_, hs, _)) => hs.push(h.clone()),
                None => groups.push((key, vec![h.clone()], include_vars)),
            }
        }
    }
    for (key, group_hosts, include_vars) in groups {
        let loaded: Result<(Vec<Item>, String), String> = if action == "include_tasks" {
            match run.loader.resolve_tasks_file(&key, &task.file, task.role.as_ref()) {
                None => Err(format!("Could not find or access '{key}' (searched the including file's folder, the role's tasks/ folder and the playbook folder)")),
                Some(path) => {
                    let file = Arc::new(path.clone());
                    crate::yaml::load_file(&path)
                        .and_then(|node| {
                            let mut handlers = Vec::new();
                            let mut roles = Vec::new();
                            let items = if kind == TaskKind::Handler {
                                run.loader.parse_handler_items(&node, &file, task.role.as_ref(), &mut handlers, &mut roles)?
                            } else {
                                run.loader.parse_items(&node, &file, task.role.as_ref(), &mut handlers, &mut roles)?
                            };
                            batch.play.handlers.lock().expect("handlers").extend(handlers);
                            Ok(items)
                        })
                        .map(|items| (items, path.display().to_string()))
                        .map_err(|d| d.to_string())
                }
            }
        } else {
            let parts: Vec<&str> = key.split('|').collect();
            let part = |i: usize| {
                parts
                    .get(i)
                    .filter(|p| !p.is_empty())
                    .map(|p| p.to_string())
            };
            let from = crate::playbook::loader::RoleFrom {
                tasks: part(1),
                handlers: part(2),
                vars: part(3),
                defaults: part(4),
            };
            run.loader
                .load_role(parts[0], Map::new(), &from, &task.file, task.line, 0)
                .map(|content| {
                    let mut role_handlers = content.handlers.clone();
                    crate::playbook::loader::give_vars(&mut role_handlers, &task.keywords.vars);
                    batch
                        .play
                        .handlers
                        .lock()
                        .expect("handlers")
                        .extend(role_handlers);
                    (content.tasks, content.role.path.display().to_string())
                })
                .map_err(|d| d.to_string())
        };
        match loaded {
            Err(msg) => {
                for h in &group_hosts {
                    report_fail(run, task, h, msg.clone());
                }
                check_budget(run, batch, kw, rescue_pending);
            }
            Ok((items, label)) => {
                let names: Vec<&str> = group_hosts.iter().map(|h| h.data.name.as_str()).collect();
                for h in &group_hosts {
                    run.record(&h.data.name, Outcome::Ok { changed: false });
                }
                run.sink.included(&names.join(", "), &label);
                // As ansible-core: a dynamic include's own keywords (when, tags,
                // become, ...) are the include's alone; its tasks inherit what
                // encloses the include, and its vars.
                let mut child_kw = parent_kw.clone();
                child_kw.vars = kw.vars.clone();
                let mut layers = extra.to_vec();
                if !include_vars.is_empty() {
                    layers.insert(0, Layer::Static(Arc::new(include_vars)));
                }
                run_items(
                    run,
                    batch,
                    &items,
                    &group_hosts,
                    &child_kw,
                    &layers,
                    rescue_pending,
                );
            }
        }
    }
}

fn report_fail(run: &RunState, task: &Task, h: &Arc<HostRuntime>, msg: String) {
    let r = failed_result(
        &h.data.name,
        format!(
            "{msg}\n\nThe error appears to be in '{}': line {}",
            task.file.display(),
            task.line
        ),
    );
    run.sink
        .host_result(&task.display_name(), TaskKind::Task, &r.report);
    run.record(&h.data.name, Outcome::Failed { rescued: false });
    h.set_status(|s| s.failed = true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serial_batches() {
        assert_eq!(batch_sizes(&[], 5), vec![5]);
        assert_eq!(batch_sizes(&[json!(2)], 5), vec![2, 2, 1]);
        assert_eq!(batch_sizes(&[json!("40%")], 5), vec![2, 2, 1]);
        assert_eq!(batch_sizes(&[json!(1), json!(3)], 7), vec![1, 3, 3]);
        assert_eq!(batch_sizes(&[json!("10%")], 5), vec![1, 1, 1, 1, 1]);
    }

    fn handler(file: &str, line: usize) -> Item {
        Item::Task(Box::new(Task::bare(
            "debug",
            Arc::new(std::path::PathBuf::from(file)),
            line,
        )))
    }

    #[test]
    fn handlers_are_searched_last_block_first_each_block_in_order() {
        // A role's handlers (one file), the same role loaded again (an
        // include_role in a loop), then the play's own handlers.
        let items = vec![
            handler("r/handlers/main.yml", 1),
            handler("r/handlers/main.yml", 4),
            handler("r/handlers/main.yml", 1),
            handler("r/handlers/main.yml", 4),
            handler("play.yml", 10),
            handler("play.yml", 14),
        ];
        assert_eq!(search_order(&items), vec![4, 5, 2, 3, 0, 1]);
    }

    #[test]
    fn notifications_reach_handlers_as_ansible_resolves_them() {
        let h = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let restart = || vec!["restart web".to_string()];
        let none = Vec::new;
        // Two instances of a role's "test handler" (an include_role in a
        // loop, the later one searched first), then one block of the play:
        // two handlers named "bounce" listening to the same topic, another
        // listener and an unnamed one.
        let forms: Vec<(Vec<String>, Vec<String>)> = vec![
            (h(&["r : test handler", "test handler"]), none()),
            (h(&["r : test handler", "test handler"]), none()),
            (h(&["bounce"]), restart()),
            (h(&["bounce"]), restart()),
            (h(&["other"]), restart()),
            (h(&[]), restart()),
        ];
        let order = [1, 0, 2, 3, 4, 5];
        let reached = |x: &str| {
            (0..forms.len())
                .filter(|j| reaches(&forms, &order, x, *j))
                .collect::<Vec<_>>()
        };
        assert_eq!(reached("test handler"), vec![1]);
        assert_eq!(reached("r : test handler"), vec![1]);
        // Within a block the first of a name wins, for names and topics alike.
        assert_eq!(reached("restart web"), vec![2, 4, 5]);
        assert_eq!(reached("bounce"), vec![2]);
        assert_eq!(reached("nothing"), Vec::<usize>::new());
    }
}
