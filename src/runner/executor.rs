//! Runs one task on one host: conditionals, loops, argument templating,
//! escalation, the module call, retries, `changed_when`/`failed_when`,
//! `register` and `no_log` — producing a report and a recap outcome.

use super::connect::Target;
use super::state::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::sink::{HostReport, ItemReport, Status};
use super::state::{HostRuntime, PlayState, RunState};
use super::stats::Outcome;
use super::vars::{Layer, Scope};
use crate::connection::ConnError;
use crate::modules::{
    self, args::to_bool, async_job, async_status, Become, FileDiff, ModuleContext, ModuleOutcome,
};
use crate::playbook::task::{Keywords, Task};
use crate::playbook::templar::{mark_unsafe, Templar, OMIT};

/// What one task did on one host.
#[derive(Debug, Clone)]
pub(crate) struct ExecResult {
    pub(crate) report: HostReport,
    pub(crate) failed: bool,
    pub(crate) unreachable: bool,
    pub(crate) changed: bool,
    pub(crate) skipped: bool,
    pub(crate) ignored: bool,
}

impl ExecResult {
    /// The recap outcome; `rescued` when a rescue section takes the failure.
    pub(crate) fn outcome(&self, rescued: bool) -> Outcome {
        if self.unreachable {
            if self.ignored {
                Outcome::Ignored { changed: false }
            } else {
                Outcome::Unreachable
            }
        } else if self.failed {
            if self.ignored {
                Outcome::Ignored {
                    changed: self.changed,
                }
            } else {
                Outcome::Failed { rescued }
            }
        } else if self.skipped {
            Outcome::Skipped
        } else {
            Outcome::Ok {
                changed: self.changed,
            }
        }
    }

    /// Does this result notify handlers?
    pub(crate) fn notifies(&self) -> bool {
        self.changed && !self.failed && !self.unreachable
    }
}

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// A task about to run on a host.
pub(crate) struct Call<'a> {
    pub(crate) task: &'a Task,
    pub(crate) keywords: &'a Keywords,
    /// Extra layers above the task's own (include params, loop variables of an include).
    pub(crate) extra: &'a [Layer],
}

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(false),
        Value::String(s) => to_bool(v).unwrap_or(!s.is_empty()),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Evaluate a conditional that may be a string expression or a literal.
pub(crate) fn eval_cond(
    templar: &Templar,
    cond: &Value,
    ctx: &minijinja::Value,
) -> Result<bool, String> {
    match cond {
        Value::String(s) => templar.eval_bool(s, ctx).map_err(|e| e.message),
        other => Ok(truthy(other)),
    }
}

pub(crate) fn eval_all(
    templar: &Templar,
    conds: &[Value],
    ctx: &minijinja::Value,
) -> Result<Option<String>, String> {
    for c in conds {
        if !eval_cond(templar, c, ctx)? {
            return Ok(Some(match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
    }
    Ok(None)
}

/// Render a keyword value (`become: "{{ x }}"`) and read it as a boolean.
fn kw_bool(
    templar: &Templar,
    v: &Option<Value>,
    ctx: &minijinja::Value,
) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some(v) => {
            let r = templar.render_value(v, ctx).map_err(|e| e.message)?;
            Ok(Some(truthy(&r)))
        }
    }
}

fn kw_str(
    templar: &Templar,
    v: &Option<Value>,
    ctx: &minijinja::Value,
) -> Result<Option<String>, String> {
    match v {
        None => Ok(None),
        Some(v) => match templar.render_value(v, ctx).map_err(|e| e.message)? {
            Value::String(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => Ok(Some(other.to_string())),
        },
    }
}

/// Remove `omit` placeholders from rendered arguments.
pub(crate) fn strip_omit(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| v.as_str() != Some(OMIT))
                .map(|(k, v)| (k, strip_omit(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| v.as_str() != Some(OMIT))
                .map(strip_omit)
                .collect(),
        ),
        other => other,
    }
}

/// Python-like repr for loop labels (`{'a': 1}`), as Ansible prints items.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(inner_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{}': {}", k, inner_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn inner_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        other => py_repr(other),
    }
}

fn failed_report(host: &str, msg: String) -> ExecResult {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("failed".into(), Value::Bool(true));
    result.insert("msg".into(), Value::String(msg));
    ExecResult {
        report: HostReport {
            host: host.to_string(),
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

/// Result of one module invocation (one loop item).
struct Single {
    result: Map<String, Value>,
    diffs: Vec<FileDiff>,
    unreachable: bool,
}

impl Single {
    /// As Ansible's TaskResult.is_failed: a failed_when verdict decides over
    /// `failed` (which exhausted `until` retries set regardless).
    fn failed(&self) -> bool {
        match self
            .result
            .get("failed_when_result")
            .and_then(Value::as_bool)
        {
            Some(verdict) => verdict,
            None => self
                .result
                .get("failed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
    fn changed(&self) -> bool {
        self.result
            .get("changed")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    fn skipped(&self) -> bool {
        self.result
            .get("skipped")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Modules that ansible-core carries out through an action plugin on the
/// controller: their failures read "Action failed".
/// (command, shell, raw, script, service and package have action plugins
/// too, but their failures are the module's and read "Module failed".)
const ACTION_PLUGINS: &[&str] = &[
    "add_host",
    "assemble",
    "assert",
    "async_status",
    "copy",
    "debug",
    "fail",
    "fetch",
    "gather_facts",
    "group_by",
    "include_vars",
    "pause",
    "reboot",
    "set_fact",
    "set_stats",
    "template",
    "unarchive",
    "uri",
    "validate_argument_spec",
    "wait_for_connection",
];

/// Run a task on a host.
pub(crate) fn run(
    run: &RunState,
    play: &PlayState,
    host: &Arc<HostRuntime>,
    call: &Call<'_>,
) -> ExecResult {
    let mut out = run_task_on_host(run, play, host, call);
    let task = call.task;
    out.report.origin = Some(super::sink::Origin {
        file: task.file.clone(),
        line: task.line,
        action: ACTION_PLUGINS.contains(&modules::short_name(&task.action)),
    });
    out
}

fn run_task_on_host(
    run: &RunState,
    play: &PlayState,
    host: &Arc<HostRuntime>,
    call: &Call<'_>,
) -> ExecResult {
    let task = call.task;
    let templar = &run.templar;
    let scope = play.scope(run, host, task, call.keywords, call.extra, None);
    let ctx = minijinja::Value::from_dyn_object(scope.clone());
    let name = host.data.name.clone();
    let ignore_errors = match kw_bool(templar, &call.keywords.ignore_errors, &ctx) {
        Ok(v) => v.unwrap_or(false),
        Err(e) => return with_location(failed_report(&name, e), task),
    };
    let no_log = kw_bool(templar, &call.keywords.no_log, &ctx)
        .ok()
        .flatten()
        .unwrap_or(false);
    // -vvv shows the commands this task sends, unless it is no_log.
    let _hidden = crate::connection::trace::NoLog::set(no_log);
    let mut out = match &task.loop_ {
        None => {
            let single = match eval_all(templar, &call.keywords.when, &ctx) {
                Err(e) => {
                    return with_location(
                        failed_report(&name, format!("The conditional check failed: {e}")),
                        task,
                    )
                }
                Ok(Some(cond)) => Single {
                    result: skipped(&name, &cond).report.result,
                    diffs: Vec::new(),
                    unreachable: false,
                },
                Ok(None) => run_single(run, play, host, call, &scope, None),
            };
            let status = status_of(&single);
            let changed = single.changed();
            let failed = single.failed();
            let skipped = single.skipped();
            let unreachable = single.unreachable;
            ExecResult {
                report: HostReport {
                    host: name.clone(),
                    delegated_to: None,
                    status,
                    ignored: false,
                    result: single.result,
                    items: Vec::new(),
                    diffs: single.diffs,
                    verbose_always: modules::short_name(&task.action) == "debug",
                    origin: None,
                },
                failed,
                unreachable,
                changed,
                skipped,
                ignored: false,
            }
        }
        Some(loop_value) => run_loop(run, play, host, call, &scope, &ctx, loop_value),
    };
    if let Some(reg) = &task.register {
        // Internal flags (`_ansible_verbose_always`) are for the display only.
        let mut value = Value::Object(
            out.report
                .result
                .iter()
                .filter(|(k, _)| !k.starts_with("_ansible_"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        if out.unreachable {
            if let Value::Object(m) = &mut value {
                m.insert("unreachable".into(), Value::Bool(true));
            }
        }
        // Module results are untrusted text (never templated again); what
        // include_vars read from the controller's files keeps its trust.
        let value = match modules::short_name(&task.action) {
            "include_vars" => value,
            // set_fact's literal values are the playbook's own text: trusted
            // as templates, as Ansible tags them; what templating made is not.
            "set_fact" => {
                let mut v = mark_unsafe(&value);
                if let (Some(Value::Object(facts)), Value::Object(m)) =
                    (value.get("ansible_facts"), &mut v)
                {
                    let kept = facts
                        .iter()
                        .map(|(k, f)| {
                            (
                                k.clone(),
                                task.args.get(k).map_or_else(
                                    || mark_unsafe(f),
                                    |raw| keep_literal_trust(raw, f),
                                ),
                            )
                        })
                        .collect();
                    m.insert("ansible_facts".into(), Value::Object(kept));
                }
                v
            }
            _ => mark_unsafe(&value),
        };
        host.data.set_var(reg, value);
    }
    if ignore_errors && out.failed && !out.unreachable {
        out.ignored = true;
        out.report.ignored = true;
    }
    if out.unreachable {
        let ignore_unreachable = kw_bool(templar, &call.keywords.ignore_unreachable, &ctx)
            .ok()
            .flatten()
            .unwrap_or(false);
        if ignore_unreachable {
            out.ignored = true;
            out.report.ignored = true;
        }
    }
    if no_log {
        censor(&mut out.report.result);
        for item in &mut out.report.items {
            censor(&mut item.result);
        }
        out.report.diffs.clear();
    }
    out
}

fn censor(result: &mut Map<String, Value>) {
    let keep: Vec<(String, Value)> = ["changed", "failed", "skipped", "unreachable"]
        .iter()
        .filter_map(|k| result.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    result.clear();
    result.insert("censored".into(), Value::String(CENSORED.into()));
    for (k, v) in keep {
        result.insert(k, v);
    }
}

fn with_location(mut r: ExecResult, task: &Task) -> ExecResult {
    if let Some(Value::String(msg)) = r.report.result.get_mut("msg") {
        msg.push_str(&format!(
            "\n\nThe error appears to be in '{}': line {}",
            task.file.display(),
            task.line
        ));
    }
    r
}

fn skipped(host: &str, cond: &str) -> ExecResult {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("false_condition".into(), Value::String(cond.to_string()));
    result.insert(
        "skip_reason".into(),
        Value::String("Conditional result was False".into()),
    );
    result.insert("skipped".into(), Value::Bool(true));
    ExecResult {
        report: HostReport {
            host: host.to_string(),
            delegated_to: None,
            status: Status::Skipped,
            ignored: false,
            result,
            items: Vec::new(),
            diffs: Vec::new(),
            verbose_always: false,
            origin: None,
        },
        failed: false,
        unreachable: false,
        changed: false,
        skipped: true,
        ignored: false,
    }
}

fn status_of(s: &Single) -> Status {
    if s.unreachable {
        Status::Unreachable
    } else if s.failed() {
        Status::Failed
    } else if s.skipped() {
        Status::Skipped
    } else if s.changed() {
        Status::Changed
    } else {
        Status::Ok
    }
}

/// Evaluate the loop's items (templated `loop:` or a `with_*` lookup).
pub(crate) fn loop_items(
    run: &RunState,
    task: &Task,
    loop_value: &Value,
    ctx: &minijinja::Value,
) -> Result<Vec<Value>, String> {
    let templar = &run.templar;
    let rendered = templar
        .render_value(loop_value, ctx)
        .map_err(|e| e.message)?;
    let with = task.loop_with.as_deref();
    if let Some(shaped) = with.and_then(|w| {
        let terms = crate::playbook::with_loops::loop_terms(&rendered);
        crate::playbook::with_loops::items(w, &terms, Some(&run.playbook_dir))
    }) {
        return shaped;
    }
    let items = match (with, rendered) {
        (None | Some("list"), Value::Array(a)) => a,
        (Some("items"), Value::Array(a)) => a.into_iter().flat_map(|v| match v {
            Value::Array(inner) => inner,
            other => vec![other],
        }).collect(),
        (Some("items" | "list"), Value::Null) => Vec::new(),
        (Some("items" | "list"), other) => vec![other],
        (Some("dict"), Value::Object(m)) => m.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect(),
        (Some("dict"), Value::Array(terms)) => {
            // Each term must be a mapping (Ansible's dict lookup).
            let mut out = Vec::new();
            for term in terms {
                let Value::Object(m) = term else { return Err(crate::playbook::lookups::dict_expected(&term)) };
                out.extend(m.into_iter().map(|(k, v)| json!({"key": k, "value": v})));
            }
            out
        }
        (Some("dict"), other) => return Err(crate::playbook::lookups::dict_expected(&other)),
        (Some("indexed_items"), Value::Array(a)) => a.into_iter().enumerate().map(|(i, v)| json!([i, v])).collect(),
        (Some("fileglob"), v) => {
            let pats: Vec<String> = match v {
                Value::Array(a) => a.into_iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                Value::String(s) => vec![s],
                _ => Vec::new(),
            };
            let mut out = Vec::new();
            for p in pats {
                let full = if std::path::Path::new(&p).is_absolute() { p.clone() } else {
                    let base = task.role.as_ref().map(|r| r.path.join("files")).unwrap_or_else(|| run.playbook_dir.join("files"));
                    base.join(&p).to_string_lossy().into_owned()
                };
                if let Ok(paths) = glob::glob(&full) {
                    let mut found: Vec<String> = paths.flatten().filter(|p| p.is_file()).map(|p| p.to_string_lossy().into_owned()).collect();
                    found.sort();
                    out.extend(found.into_iter().map(Value::String));
                }
            }
            out
        }
        // Any other lookup berth has: with_X is query('X', *terms), as Ansible runs it.
        (Some(other), v) if crate::playbook::lookups::SUPPORTED.contains(&other) => {
            let terms = crate::playbook::with_loops::loop_terms(&v);
            let args: String = (0..terms.len()).map(|i| format!(", __berth_terms[{i}]")).collect();
            let scope = minijinja::context! { __berth_terms => terms, ..ctx.clone() };
            match templar.render_str(&format!("{{{{ query('{other}'{args}) }}}}"), &scope).map_err(|e| e.message)? {
                Value::Array(a) => a,
                Value::Null => Vec::new(),
                one => vec![one],
            }
        }
        (Some(other), _) if !matches!(other, "items" | "list" | "dict") => {
            return Err(format!("with_{other} is not supported by berth; use `loop:` with a filter instead"))
        }
        (None, Value::Null) => return Err("Invalid data passed to 'loop', it requires a list, got this instead: None. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.".into()),
        (_, other) => return Err(format!("Invalid data passed to 'loop', it requires a list, got this instead: {}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.", py_repr(&other))),
    };
    Ok(items)
}

/// A `loop_control` setting, templated with the task's variables (without the loop's).
pub(crate) fn loop_control_value(
    templar: &Templar,
    task: &Task,
    key: &str,
    ctx: &minijinja::Value,
) -> Option<Value> {
    let raw = task.loop_control.get(key)?;
    Some(
        templar
            .render_value(raw, ctx)
            .unwrap_or_else(|_| raw.clone()),
    )
}

pub(crate) fn loop_control_str(
    templar: &Templar,
    task: &Task,
    key: &str,
    ctx: &minijinja::Value,
) -> Option<String> {
    loop_control_value(templar, task, key, ctx).and_then(|v| v.as_str().map(str::to_string))
}

fn run_loop(
    run: &RunState,
    play: &PlayState,
    host: &Arc<HostRuntime>,
    call: &Call<'_>,
    _scope: &Arc<Scope>,
    ctx: &minijinja::Value,
    loop_value: &Value,
) -> ExecResult {
    let task = call.task;
    let templar = &run.templar;
    let name = host.data.name.clone();
    let items = match loop_items(run, task, loop_value, ctx) {
        Ok(i) => i,
        Err(e) => {
            // An undefined loop: a `when` that is false without the loop
            // variable skips the task instead (Ansible's _loop_eval_error).
            if e.contains("is undefined") {
                if let Ok(Some(cond)) = eval_all(templar, &call.keywords.when, ctx) {
                    return skipped(&name, &cond);
                }
            }
            return with_location(failed_report(&name, e), task);
        }
    };
    let loop_var =
        loop_control_str(templar, task, "loop_var", ctx).unwrap_or_else(|| "item".into());
    let index_var = loop_control_str(templar, task, "index_var", ctx);
    let extended = loop_control_value(templar, task, "extended", ctx)
        .map(|v| truthy(&v))
        .unwrap_or(false);
    let pause = loop_control_value(templar, task, "pause", ctx)
        .and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .unwrap_or(0.0);
    let mut reports = Vec::new();
    let mut results = Vec::new();
    let (mut any_changed, mut any_failed, mut all_skipped, mut unreachable) =
        (false, false, true, false);
    let mut diffs_all = Vec::new();
    let n = items.len();
    for (i, item) in items.iter().enumerate() {
        let mut lv = Map::new();
        lv.insert(loop_var.clone(), item.clone());
        lv.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
        if let Some(iv) = &index_var {
            lv.insert(iv.clone(), json!(i));
            lv.insert("ansible_index_var".into(), Value::String(iv.clone()));
        }
        if extended {
            let mut info = json!({
                "index": i + 1, "index0": i, "revindex": n - i, "revindex0": n - i - 1,
                "first": i == 0, "last": i + 1 == n, "length": n, "allitems": items,
            });
            // previtem/nextitem exist only where there is one (undefined at the ends).
            if i > 0 {
                info["previtem"] = items[i - 1].clone();
            }
            if let Some(next) = items.get(i + 1) {
                info["nextitem"] = next.clone();
            }
            lv.insert("ansible_loop".into(), info);
        }
        let item_layer = Layer::Static(Arc::new(lv));
        let item_scope = play.scope(
            run,
            host,
            task,
            call.keywords,
            call.extra,
            Some(item_layer.clone()),
        );
        let item_ctx = minijinja::Value::from_dyn_object(item_scope.clone());
        let mut single = match eval_all(templar, &call.keywords.when, &item_ctx) {
            Err(e) => Single {
                result: failed_report(&name, format!("The conditional check failed: {e}"))
                    .report
                    .result,
                diffs: Vec::new(),
                unreachable: false,
            },
            Ok(Some(cond)) => {
                let r = skipped(&name, &cond).report.result;
                Single {
                    result: r,
                    diffs: Vec::new(),
                    unreachable: false,
                }
            }
            Ok(None) => run_single(run, play, host, call, &item_scope, Some(item_layer.clone())),
        };
        if pause > 0.0 && i + 1 < n {
            std::thread::sleep(Duration::from_secs_f64(pause.min(3600.0)));
        }
        // The label is templated after the item ran, with the registered
        // name holding this item's result (as Ansible does); a label that
        // fails to template fails its item.
        let label = match task.loop_control.get("label") {
            None => py_repr(item),
            Some(l) => {
                let mut top = vec![item_layer.clone()];
                if let Some(reg) = &task.register {
                    let mut m = Map::new();
                    m.insert(
                        reg.clone(),
                        mark_unsafe(&Value::Object(single.result.clone())),
                    );
                    top.insert(0, Layer::Static(Arc::new(m)));
                }
                let label_scope = play.scope_with(run, host, task, call.keywords, call.extra, top);
                match templar.render_value(l, &minijinja::Value::from_dyn_object(label_scope)) {
                    Ok(v) => py_repr(&v),
                    Err(e) => {
                        single.result.insert("failed".into(), Value::Bool(true));
                        single.result.insert("msg".into(), Value::String(e.message));
                        py_repr(item)
                    }
                }
            }
        };
        single.result.insert(loop_var.clone(), item.clone());
        single
            .result
            .insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
        if let Some(iv) = &index_var {
            single.result.insert(iv.clone(), json!(i));
        }
        any_changed |= single.changed();
        any_failed |= single.failed();
        all_skipped &= single.skipped();
        unreachable |= single.unreachable;
        let status = status_of(&single);
        results.push(Value::Object(single.result.clone()));
        diffs_all.extend(single.diffs.iter().cloned());
        reports.push(ItemReport {
            label,
            status,
            result: single.result,
            diffs: single.diffs,
        });
        if single.unreachable {
            break;
        }
    }
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(any_changed));
    let skipped_all = all_skipped && !reports.is_empty() || reports.is_empty();
    if any_failed {
        result.insert("failed".into(), Value::Bool(true));
        result.insert(
            "msg".into(),
            Value::String("One or more items failed".into()),
        );
    } else if skipped_all {
        result.insert(
            "msg".into(),
            Value::String(if reports.is_empty() {
                "No items in the list".into()
            } else {
                "All items skipped".into()
            }),
        );
        result.insert("skipped".into(), Value::Bool(true));
        if reports.is_empty() {
            result.insert(
                "skipped_reason".into(),
                Value::String("No items in the list".into()),
            );
        }
    } else {
        result.insert("msg".into(), Value::String("All items completed".into()));
    }
    result.insert("results".into(), Value::Array(results));
    let status = if unreachable {
        Status::Unreachable
    } else if any_failed {
        Status::Failed
    } else if skipped_all {
        Status::Skipped
    } else if any_changed {
        Status::Changed
    } else {
        Status::Ok
    };
    ExecResult {
        report: HostReport {
            host: name,
            delegated_to: None,
            status,
            ignored: false,
            result,
            items: reports,
            diffs: Vec::new(),
            verbose_always: modules::short_name(&task.action) == "debug",
            origin: None,
        },
        failed: any_failed,
        unreachable,
        changed: any_changed,
        skipped: skipped_all && !any_failed,
        ignored: false,
    }
}

/// One module invocation with retries, changed_when and failed_when.
fn run_single(
    run: &RunState,
    play: &PlayState,
    host: &Arc<HostRuntime>,
    call: &Call<'_>,
    scope: &Arc<Scope>,
    item: Option<Layer>,
) -> Single {
    let task = call.task;
    let templar = &run.templar;
    let ctx = minijinja::Value::from_dyn_object(scope.clone());
    let until = !task.until.is_empty();
    let retries = if until {
        task.retries
            .as_ref()
            .and_then(|r| templar.render_value(r, &ctx).ok())
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3)
    } else {
        0
    };
    let delay = task
        .delay
        .as_ref()
        .and_then(|r| templar.render_value(r, &ctx).ok())
        .and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(5.0);
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        let mut single = invoke(run, play, host, call, scope);
        if single.unreachable {
            return single;
        }
        // As Ansible's task executor: a result without `failed` gets one,
        // true when it carries a non-zero `rc`.
        if !single.result.contains_key("failed") && !single.skipped() {
            let rc_failed = match single.result.get("rc") {
                Some(Value::Number(n)) => n.as_i64() != Some(0),
                Some(Value::String(s)) => s != "0",
                _ => false,
            };
            single
                .result
                .insert("failed".into(), Value::Bool(rc_failed));
        }
        if until {
            // changed_when/failed_when see the attempt too (Ansible sets it first).
            single.result.insert("attempts".into(), json!(attempt));
        }
        // changed_when / failed_when see the result under the register name.
        let needs_eval = !task.changed_when.is_empty() || !task.failed_when.is_empty() || until;
        if needs_eval {
            // The conditions see the result under the register name.
            let eval_ctx = |result: &Map<String, Value>| {
                let mut local = Map::new();
                if let Some(reg) = &task.register {
                    local.insert(reg.clone(), mark_unsafe(&Value::Object(result.clone())));
                }
                let mut layers = vec![Layer::Static(Arc::new(local))];
                if let Some(it) = &item {
                    layers.push(it.clone());
                }
                minijinja::Value::from_dyn_object(play.scope_with(
                    run,
                    host,
                    task,
                    call.keywords,
                    call.extra,
                    layers,
                ))
            };
            let ectx = eval_ctx(&single.result);
            if !task.changed_when.is_empty() {
                match eval_all(templar, &task.changed_when, &ectx) {
                    Ok(none) => {
                        single
                            .result
                            .insert("changed".into(), Value::Bool(none.is_none()));
                    }
                    Err(e) => {
                        single.result.insert("failed".into(), Value::Bool(true));
                        single.result.insert(
                            "msg".into(),
                            Value::String(format!(
                                "The conditional check '{}' failed. The error was: {e}",
                                cond_text(&task.changed_when)
                            )),
                        );
                    }
                }
            }
            if !task.failed_when.is_empty() {
                match eval_all(templar, &task.failed_when, &ectx) {
                    Ok(none) => {
                        let failed = none.is_none();
                        single
                            .result
                            .insert("failed_when_result".into(), Value::Bool(failed));
                        single.result.insert("failed".into(), Value::Bool(failed));
                    }
                    Err(e) => {
                        single.result.insert("failed".into(), Value::Bool(true));
                        single.result.insert(
                            "msg".into(),
                            Value::String(format!(
                                "The conditional check '{}' failed. The error was: {e}",
                                cond_text(&task.failed_when)
                            )),
                        );
                    }
                }
            }
            if until {
                // `until` sees what changed_when/failed_when made of the result.
                let uctx = eval_ctx(&single.result);
                let done = eval_all(templar, &task.until, &uctx)
                    .map(|r| r.is_none())
                    .unwrap_or(false);
                single.result.insert("attempts".into(), json!(attempt));
                if done {
                    // The result stays as it is (a failed_when failure that `until` accepts stays failed).
                    return single;
                }
                if attempt > retries {
                    // Ansible reports the retries, not the runs, once they are exhausted.
                    single.result.insert("attempts".into(), json!(retries));
                    single.result.insert("failed".into(), Value::Bool(true));
                    if !single.result.contains_key("msg") {
                        single.result.insert(
                            "msg".into(),
                            Value::String(format!("Retried {retries} times without success")),
                        );
                    }
                    return single;
                }
                run.sink.message(&format!(
                    "FAILED - RETRYING: [{}]: {} ({} retries left).",
                    host.data.name,
                    task.display_name(),
                    retries + 1 - attempt
                ));
                std::thread::sleep(Duration::from_secs_f64(delay.clamp(0.0, 3600.0)));
                continue;
            }
        }
        return single;
    }
}

/// `name`, `name.attr`, `name[0]`: a plain variable reference.
fn is_variable_path(expr: &str) -> bool {
    let mut rest = expr.trim();
    let ident = |s: &str| -> usize {
        s.char_indices()
            .take_while(|(i, c)| {
                c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_digit())
            })
            .count()
    };
    let n = ident(rest);
    if n == 0 {
        return false;
    }
    rest = &rest[n..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let n = ident(r);
            if n == 0 {
                return false;
            }
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return false };
            let inner = &r[..end];
            let quoted = inner.len() >= 2
                && (inner.starts_with('\'') && inner.ends_with('\'')
                    || inner.starts_with('"') && inner.ends_with('"'));
            if !(quoted || (!inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit()))) {
                return false;
            }
            rest = &r[end + 1..];
        } else {
            return false;
        }
    }
    true
}

fn cond_text(conds: &[Value]) -> String {
    conds
        .iter()
        .map(|c| {
            c.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| c.to_string())
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn fail_single(msg: String) -> Single {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("failed".into(), Value::Bool(true));
    result.insert("msg".into(), Value::String(msg));
    Single {
        result,
        diffs: Vec::new(),
        unreachable: false,
    }
}

fn unreachable_single(e: ConnError) -> Single {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(false));
    result.insert("msg".into(), Value::String(e.to_string()));
    result.insert("unreachable".into(), Value::Bool(true));
    Single {
        result,
        diffs: Vec::new(),
        unreachable: true,
    }
}

/// Template the arguments and call the module once.
fn invoke(
    run: &RunState,
    play: &PlayState,
    host: &Arc<HostRuntime>,
    call: &Call<'_>,
    scope: &Arc<Scope>,
) -> Single {
    let task = call.task;
    let kw = call.keywords;
    let templar = &run.templar;
    let ctx = minijinja::Value::from_dyn_object(scope.clone());
    // `action: "{{ ansible_facts.pkg_mgr }}"`: the module is named at run time.
    let action_name = if Templar::is_template(&task.action) {
        match templar.render_str(&task.action, &ctx) {
            Ok(Value::String(n)) => n,
            Ok(other) => other.to_string(),
            Err(e) => {
                return fail_single(format!(
                    "Task failed: the module name `{}` does not render: {}",
                    task.action, e.message
                ))
            }
        }
    } else {
        task.action.clone()
    };
    let action = modules::short_name(&action_name).to_string();
    let err_at = |msg: String| {
        fail_single(format!(
            "{msg}\n\nThe error appears to be in '{}': line {}",
            task.file.display(),
            task.line
        ))
    };
    // Arguments. `assert`'s `that` and `debug`'s `var` are expressions, not templates.
    // `module_defaults` for this module come first, the task's own over them.
    let mut raw_map = if kw.module_defaults.is_empty() {
        Map::new()
    } else {
        module_defaults_for(&action, kw, scope)
    };
    raw_map.extend(task.args.clone());
    let raw_args = Value::Object(raw_map);
    let marked = |k: &str| {
        task.args.get(k).is_some_and(|v| {
            crate::playbook::templar::unsafe_text(v).is_some()
                || v.as_array().is_some_and(|a| {
                    a.iter()
                        .any(|x| crate::playbook::templar::unsafe_text(x).is_some())
                })
        })
    };
    match action.as_str() {
        "debug" if marked("var") => return err_at("The debug `var` is marked !unsafe: an untrusted template or expression is never evaluated".into()),
        "assert" if marked("that") => return err_at("Conditional is marked as unsafe, and cannot be evaluated.".into()),
        _ => {}
    }
    // Like ansible-core 2.19: a failure names the module and the argument.
    let fqcn = if task.action.contains('.') {
        task.action.clone()
    } else {
        format!("ansible.builtin.{}", task.action)
    };
    let finalization = |why: String| {
        let mut failed = err_at(format!(
            "Task failed: Finalization of task args for '{fqcn}' failed: {why}"
        ));
        failed.result.insert("exception".into(), Value::String(why));
        failed
    };
    let Value::Object(raw_map) = raw_args else {
        return err_at("module arguments must be a mapping".into());
    };
    let mut args = Map::with_capacity(raw_map.len());
    for (k, v) in &raw_map {
        let rendered = match templar.render_value(v, &ctx) {
            Ok(v) => strip_omit(v),
            Err(e) if e.undefined.is_some() => {
                return finalization(format!(
                    "Error while resolving value for '{k}': {}",
                    e.message
                ))
            }
            Err(e) => {
                return finalization(format!(
                    "Error while resolving value for '{k}': Error rendering template: {}",
                    e.message
                ))
            }
        };
        if rendered.as_str() == Some(crate::playbook::templar::OMIT) {
            continue;
        }
        let key = if Templar::is_template(k) {
            match templar.render_text(k, &ctx) {
                Ok(key) => key,
                Err(e) => {
                    return finalization(format!(
                        "Error while resolving the name of '{k}': {}",
                        e.message
                    ))
                }
            }
        } else {
            k.clone()
        };
        args.insert(key, rendered);
    }
    if let Some(whole) = args.remove(crate::playbook::loader::VARIABLE_PARAMS) {
        // Arguments given as one template: its mapping, under any `args:` keys.
        let Value::Object(m) = whole else {
            return finalization(format!(
                "Task args must resolve to a 'dict' not '{}'.",
                crate::modules::args::type_name(&whole)
            ));
        };
        for (k, v) in m {
            args.entry(k).or_insert(v);
        }
    }
    // debug's `var` names a variable; a template there must resolve to a
    // name the playbook wrote (`{{ item }}` over a literal list), not a
    // string made by the template itself (ansible-core 2.19's trust rule).
    if action == "debug" {
        if let (Some(Value::String(raw)), Some(_)) = (raw_map.get("var"), args.get("var")) {
            if Templar::is_template(raw)
                && !crate::playbook::templar::single_expression(raw).is_some_and(is_variable_path)
            {
                return fail_single("Task failed: Error while resolving `var` expression: Encountered untrusted template or expression.".into());
            }
        }
    }
    let check_mode = match kw_bool(templar, &kw.check_mode, &ctx) {
        Ok(Some(v)) => v,
        Ok(None) => run.opts.check,
        Err(e) => return err_at(e),
    };
    let diff_mode = match kw_bool(templar, &kw.diff, &ctx) {
        Ok(Some(v)) => v,
        Ok(None) => run.opts.diff,
        Err(e) => return err_at(e),
    };
    // Escalation: task/block/play keyword, then inventory ansible_become*.
    let scope_bool = |k: &str| {
        scope.raw(k).map(|v| {
            templar
                .render_value(&v, &ctx)
                .map(|r| truthy(&r))
                .unwrap_or(false)
        })
    };
    let become_on = match kw_bool(templar, &kw.become_, &ctx) {
        Ok(Some(b)) => b,
        Ok(None) => scope_bool("ansible_become")
            .or(run.opts.become_default.as_ref().map(|(b, _)| *b))
            .unwrap_or(false),
        Err(e) => return err_at(e),
    };
    let escalate = if become_on {
        let user = match kw_str(templar, &kw.become_user, &ctx) {
            Ok(Some(u)) => u,
            Ok(None) => scope
                .raw("ansible_become_user")
                .and_then(|v| templar.render_value(&v, &ctx).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| {
                    run.opts
                        .become_default
                        .as_ref()
                        .and_then(|(_, u)| u.clone())
                })
                .unwrap_or_else(|| "root".into()),
            Err(e) => return err_at(e),
        };
        let password = scope
            .raw("ansible_become_password")
            .or_else(|| scope.raw("ansible_become_pass"))
            .and_then(|v| templar.render_value(&v, &ctx).ok())
            .and_then(|v| v.as_str().map(str::to_string));
        Some(Become { user, password })
    } else {
        None
    };
    let mut environment = Vec::new();
    for e in &kw.environment {
        match templar.render_value(e, &ctx) {
            Ok(Value::Object(m)) => {
                for (k, v) in m {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    environment.push((k, v));
                }
            }
            Ok(Value::Null) => {}
            Ok(_) => return err_at("environment must be a mapping".into()),
            Err(e) => return err_at(e.message),
        }
    }
    // Builtins handled by the runner itself.
    if action == "setup" || action == "gather_facts" {
        return with_conn(
            run,
            host,
            task_target(run, host, scope, &ctx, kw),
            &None,
            |conn| match super::facts::gather(conn) {
                Ok(Ok(facts)) => {
                    let mut named: Map<String, Value> = facts
                        .iter()
                        .filter(|(k, _)| *k != "ansible_facts")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let mut ns = facts.get("ansible_facts").cloned().unwrap_or(Value::Null);
                    // The gather_facts action (the play's implicit gathering)
                    // marks the host as gathered: `gathering = smart` skips it next time.
                    if action == "gather_facts" {
                        named.insert("_ansible_facts_gathered".into(), Value::Bool(true));
                        if let Value::Object(m) = &mut ns {
                            m.insert("_ansible_facts_gathered".into(), Value::Bool(true));
                        }
                    }
                    keep_facts(run, host, &named);
                    let mut r = Map::new();
                    r.insert("changed".into(), Value::Bool(false));
                    r.insert("ansible_facts".into(), ns);
                    // Facts are never dumped to the display (Ansible's setup sets this too).
                    r.insert("_ansible_verbose_override".into(), Value::Bool(true));
                    Ok(Single {
                        result: r,
                        diffs: Vec::new(),
                        unreachable: false,
                    })
                }
                Ok(Err(msg)) => Ok(fail_single(msg)),
                Err(e) => Err(e),
            },
        );
    }
    if action == "ping" {
        return with_conn(
            run,
            host,
            task_target(run, host, scope, &ctx, kw),
            &None,
            |conn| {
                let out = conn.exec("true", None)?;
                let data = args.get("data").and_then(Value::as_str).unwrap_or("pong");
                // Ansible's ping raises on `data: crash`, for testing failures.
                if out.rc == 0 && data == "crash" {
                    return Ok(fail_single("Task failed: Module failed: boom".to_string()));
                }
                Ok(if out.rc == 0 {
                    let mut r = Map::new();
                    r.insert("changed".into(), Value::Bool(false));
                    r.insert(
                        "ping".into(),
                        Value::String(
                            args.get("data")
                                .and_then(Value::as_str)
                                .unwrap_or("pong")
                                .to_string(),
                        ),
                    );
                    Single {
                        result: r,
                        diffs: Vec::new(),
                        unreachable: false,
                    }
                } else {
                    fail_single(format!("ping failed: {}", out.stderr_str().trim()))
                })
            },
        );
    }
    let Some(module) = modules::lookup(&action) else {
        return err_at(format!("couldn't resolve module/action '{}'. This often indicates a misspelling, missing collection, or incorrect module path.", task.action));
    };
    let delegate = match kw_str(templar, &kw.delegate_to, &ctx) {
        Ok(d) => d,
        Err(e) => return err_at(e),
    };
    let search_paths = play.search_paths(run, task);
    let background = match async_settings(templar, task, &ctx) {
        Ok(b) => b,
        Err(e) => return err_at(e),
    };
    if let Some((_, poll)) = background {
        if async_job::refuses_async(&action) {
            return fail_single(format!(
                "This action ({}) does not support async.",
                task.action
            ));
        }
        if poll == 0 && (!async_job::detachable(&action) || check_mode) {
            return err_at(format!(
                "berth runs `async` with `poll: 0` (in the background) for command and shell; `{}` would run in the foreground. Use `poll:` above 0 to wait for it, or drop `async`",
                task.action
            ));
        }
    }
    let origin = || {
        format!(
            "task {}:{} {}",
            task.file.display(),
            task.line,
            task.name.clone().unwrap_or_else(|| task.action.clone())
        )
    };
    crate::connection::record::with_origin(origin, || {
        with_conn(
            run,
            host,
            task_target(run, host, scope, &ctx, kw),
            &delegate,
            |conn| {
                let mut mctx = ModuleContext {
                    conn,
                    check_mode,
                    diff_mode,
                    escalate: escalate.clone(),
                    environment: environment.clone(),
                    templar,
                    vars: &ctx,
                    search_paths: search_paths.clone(),
                    inventory_hostname: host.data.name.clone(),
                };
                // `~` and `$VAR` in remote paths are the host's, as the task's user sees them.
                let expanded =
                    match modules::remote_file::expand_remote_paths(&mut mctx, &action, &args) {
                        Ok(e) => e,
                        Err(modules::remote_file::Stop::Conn(e)) => return Err(e),
                        Err(modules::remote_file::Stop::Fail(msg)) => return Ok(fail_single(msg)),
                        Err(modules::remote_file::Stop::Outcome(o)) => {
                            return Ok(Single {
                                result: o.result,
                                diffs: o.diffs,
                                unreachable: false,
                            })
                        }
                    };
                let args = expanded.as_ref().unwrap_or(&args);
                let outcome = match background {
                    None => module(&mut mctx, args)?,
                    Some((limit, poll)) => {
                        run_in_background(&mut mctx, module, &action, args, limit, poll)?
                    }
                };
                let mut result = outcome.result;
                if let Some(Value::Object(facts)) = result.get("ansible_facts") {
                    let set_fact = matches!(action.as_str(), "set_fact" | "include_vars");
                    if set_fact {
                        let mut vars = host.data.vars.write().expect("host vars");
                        for (k, v) in facts {
                            vars.insert(k.clone(), v.clone());
                        }
                    }
                    // `set_fact: cacheable=true` makes real facts too (Ansible sets
                    // both: the fact, cached, and the higher-precedence variable).
                    // debug's result is keyed by the variable it shows (`var:
                    // ansible_facts`), not facts to keep.
                    let cacheable = action == "set_fact"
                        && result.get("_ansible_facts_cacheable") == Some(&Value::Bool(true));
                    if (!set_fact && action != "debug") || cacheable {
                        keep_facts(run, host, facts);
                    }
                }
                if check_mode && !result.contains_key("skipped") {
                    result.entry("changed").or_insert(Value::Bool(false));
                }
                // In diff mode the registered result carries the diff, as Ansible's does.
                if diff_mode && !result.contains_key("diff") && !outcome.diffs.is_empty() {
                    let as_json = |d: &FileDiff| json!({"before": d.before, "after": d.after, "before_header": d.before_header, "after_header": d.after_header});
                    // copy's and template's action plugin collect a list, one
                    // per file; modules return their one diff as a mapping.
                    let listed = matches!(modules::short_name(&action), "copy" | "template");
                    let v = match outcome.diffs.as_slice() {
                        [one] if !listed => as_json(one),
                        many => Value::Array(many.iter().map(as_json).collect()),
                    };
                    result.insert("diff".into(), v);
                }
                Ok(Single {
                    result,
                    diffs: outcome.diffs,
                    unreachable: false,
                })
            },
        )
    })
}

/// The `module_defaults` that apply to `action` (outer levels first). service
/// and package hand their task to the host's manager module, as Ansible's
/// actions do, which takes that module's defaults too.
fn module_defaults_for(action: &str, kw: &Keywords, scope: &Scope) -> Map<String, Value> {
    let mut raw_map = Map::new();
    let mut names = vec![action.to_string()];
    // Facts are kept marked unsafe (never templated): read their text either way.
    let fact = |k: &str| {
        scope.raw(&format!("ansible_{k}")).and_then(|v| {
            v.as_str()
                .or_else(|| crate::playbook::templar::unsafe_text(&v))
                .map(str::to_string)
        })
    };
    match action {
        "service" => {
            if let Some(m) = fact("service_mgr") {
                if m == "systemd" {
                    names.push("systemd_service".into());
                }
                names.push(m);
            }
        }
        "package" => names.extend(fact("pkg_mgr")),
        "systemd" => names.push("systemd_service".into()),
        "systemd_service" => names.push("systemd".into()),
        _ => {}
    }
    for md in &kw.module_defaults {
        for (name, defaults) in md {
            if names.iter().any(|n| n == modules::short_name(name)) && !name.starts_with("group/") {
                if let Value::Object(d) = defaults {
                    raw_map.extend(d.clone());
                }
            }
        }
    }
    raw_map
}

/// `rendered` with the trust of `raw`, the task's text it came from: a
/// literal string (no template in it) stays trusted, anything rendered
/// from a template is marked unsafe.
fn keep_literal_trust(raw: &Value, rendered: &Value) -> Value {
    match (raw, rendered) {
        (Value::String(r), _) if !r.contains("{{") && !r.contains("{%") && !r.contains("{#") => {
            rendered.clone()
        }
        (Value::Object(r), Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        r.get(k)
                            .map_or_else(|| mark_unsafe(v), |rv| keep_literal_trust(rv, v)),
                    )
                })
                .collect(),
        ),
        (Value::Array(r), Value::Array(a)) if r.len() == a.len() => Value::Array(
            r.iter()
                .zip(a)
                .map(|(rv, v)| keep_literal_trust(rv, v))
                .collect(),
        ),
        _ => mark_unsafe(rendered),
    }
}

/// Facts a module returned: the host's from now on, and in the fact cache
/// when one is configured.
fn keep_facts(run: &RunState, host: &HostRuntime, facts: &Map<String, Value>) {
    host.data.merge_facts(facts);
    if let Some(cache) = &run.opts.fact_cache {
        let all = host.data.facts.read().expect("facts").clone();
        if let Err(e) = cache.store(&host.data.name, &all) {
            eprintln!(
                "[WARNING]: cannot write the fact cache of {} in {}: {e}",
                host.data.name,
                cache.dir.display()
            );
        }
    }
}

/// `async` and `poll` of a task: `Some((limit, poll))` when `async` is above 0.
fn async_settings(
    templar: &Templar,
    task: &Task,
    ctx: &minijinja::Value,
) -> Result<Option<(u64, u64)>, String> {
    let int = |v: &Option<Value>, name: &str, default: u64| -> Result<u64, String> {
        match v {
            None => Ok(default),
            Some(raw) => {
                let v = templar.render_value(raw, ctx).map_err(|e| e.message)?;
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| {
                        format!(
                            "`{name}` must be a whole number of seconds, got {}",
                            py_repr(&v)
                        )
                    })
            }
        }
    };
    let limit = int(&task.async_, "async", 0)?;
    if limit == 0 {
        return Ok(None);
    }
    Ok(Some((limit, int(&task.poll, "poll", 15)?)))
}

/// A task with `async`: command and shell run as a background job on the
/// host (left running with `poll: 0`, else polled every `poll` seconds up to
/// the limit, as Ansible's); other modules run in the foreground and fail
/// when they outlast the limit.
fn run_in_background(
    ctx: &mut ModuleContext<'_>,
    module: modules::ModuleFn,
    action: &str,
    args: &Map<String, Value>,
    limit: u64,
    poll: u64,
) -> Result<ModuleOutcome, ConnError> {
    let jid = async_job::new_jid();
    if !async_job::detachable(action) || ctx.check_mode {
        let started = Instant::now();
        let out = module(ctx, args)?;
        if started.elapsed().as_secs_f64() > limit as f64 {
            return Ok(ModuleOutcome::failed(format!(
                "async task did not complete within the requested time - {limit}s"
            ))
            .with("async_result", Value::Object(out.result)));
        }
        let mut out = out;
        for (k, v) in [
            ("ansible_job_id", Value::from(jid.clone())),
            ("started", Value::Bool(true)),
            ("finished", Value::Bool(true)),
        ] {
            out.result.insert(k.into(), v);
        }
        return Ok(out);
    }
    let results_file = match async_job::launch(ctx, action, args, &jid, limit)? {
        Ok(path) => path,
        Err(outcome) => return Ok(outcome),
    };
    if poll == 0 {
        return Ok(ModuleOutcome::changed(true)
            .with("ansible_job_id", jid)
            .with("started", true)
            .with("finished", false)
            .with("results_file", results_file));
    }
    let mut time_left = limit as i64;
    let mut last = None;
    while time_left > 0 {
        std::thread::sleep(Duration::from_secs(poll));
        time_left -= poll as i64;
        let st = async_status::status(ctx, &jid, "status")?;
        let finished = st
            .result
            .get("finished")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if finished || st.is_failed() {
            ctx.exec(&async_job::cleanup_script(&jid), None)?;
            return Ok(st);
        }
        last = Some(st);
    }
    let last = last.map(|o| Value::Object(o.result)).unwrap_or(Value::Null);
    Ok(ModuleOutcome::failed(format!(
        "async task did not complete within the requested time - {limit}s"
    ))
    .with("async_result", last))
}

/// A host's session, opened when the first command needs it, for the
/// target the task resolves to; a session open for another target (a task
/// with its own `ansible_user`, say) is closed first.
struct LazyConnection<'a> {
    run: &'a RunState,
    want: &'a Result<Target, String>,
    session: &'a mut Option<Session>,
}

impl crate::connection::Connection for LazyConnection<'_> {
    fn exec(
        &mut self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<crate::connection::ExecOutput, ConnError> {
        let want = self
            .want
            .as_ref()
            .map_err(|e| ConnError::Unreachable(e.clone()))?;
        if self.session.as_ref().is_some_and(|s| s.target != *want) {
            if let Some(mut old) = self.session.take() {
                old.conn.close();
            }
        }
        if self.session.is_none() {
            *self.session = Some(Session {
                target: want.clone(),
                conn: super::connect::open(want, &self.run.opts)?,
            });
        }
        self.session
            .as_mut()
            .expect("connection opened")
            .conn
            .exec(command, stdin)
    }
}

/// Where this task connects: its scope's connection variables and the
/// `remote_user` keyword (Ansible's precedence), resolved per task.
fn task_target(
    run: &RunState,
    host: &Arc<HostRuntime>,
    scope: &Scope,
    ctx: &minijinja::Value,
    kw: &Keywords,
) -> Result<Target, String> {
    let templar = &run.templar;
    let get = |k: &str| -> Option<Value> {
        let raw = scope.raw(k)?;
        templar.render_value(&raw, ctx).ok()
    };
    let remote_user = match &kw.remote_user {
        Some(v) => match templar.render_value(v, ctx) {
            Ok(Value::String(s)) => Some(s),
            Ok(Value::Null) => None,
            Ok(other) => Some(other.to_string()),
            Err(e) => return Err(e.message),
        },
        None => None,
    };
    super::connect::resolve(&host.data.name, &get, &run.opts, remote_user.as_deref())
}

/// Run `f` with the host's session for `want` (opened on first use), or a
/// delegated host's own.
fn with_conn(
    run: &RunState,
    host: &Arc<HostRuntime>,
    want: Result<Target, String>,
    delegate: &Option<String>,
    f: impl FnOnce(&mut dyn crate::connection::Connection) -> Result<Single, ConnError>,
) -> Single {
    let target_host: Arc<HostRuntime> = match delegate.as_deref() {
        None => host.clone(),
        Some(d) if d == host.data.name => host.clone(),
        Some(d) => match run.hosts.get(d) {
            Some(h) => h.clone(),
            None if d == "localhost" || d == "127.0.0.1" => run.localhost.clone(),
            None => return fail_single(format!("delegate_to: host `{d}` is not in the inventory")),
        },
    };
    let want = if Arc::ptr_eq(&target_host, host) {
        want
    } else {
        run.default_target(&target_host)
    };
    let mut guard = target_host.conn.lock().expect("connection lock");
    // Opened on the first command: controller-side actions (debug, assert,
    // fail, set_fact) never connect, as in Ansible.
    let mut lazy = LazyConnection {
        run,
        want: &want,
        session: &mut guard,
    };
    match f(&mut lazy) {
        Ok(s) => s,
        Err(e) => {
            // The session is broken: drop it so a later task reconnects.
            *guard = None;
            unreachable_single(e)
        }
    }
}

/// Expose helpers for the play runner.
pub(crate) fn render_str(
    templar: &Templar,
    s: &str,
    ctx: &minijinja::Value,
) -> Result<String, String> {
    match templar.render_str(s, ctx).map_err(|e| e.message)? {
        Value::String(s) => Ok(s),
        other => Ok(py_repr(&other)),
    }
}
