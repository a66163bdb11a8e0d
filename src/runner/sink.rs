//! Reporting, separated from the work: the runner emits events into a sink
//! (human text like ansible-playbook's, or one JSON object per line). Each
//! call writes one whole block under a lock, so parallel hosts never
//! interleave inside a block.

use std::io::Write;
use std::sync::Mutex;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::stats::HostStats;
use crate::modules::FileDiff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
        }
    }
}

/// One loop item's result.
#[derive(Debug, Clone)]
pub(crate) struct ItemReport {
    pub(crate) label: String,
    pub(crate) status: Status,
    pub(crate) result: Map<String, Value>,
    pub(crate) diffs: Vec<FileDiff>,
}

/// One task's result on one host.
#[derive(Debug, Clone)]
pub(crate) struct HostReport {
    pub(crate) host: String,
    pub(crate) delegated_to: Option<String>,
    pub(crate) status: Status,
    pub(crate) ignored: bool,
    pub(crate) result: Map<String, Value>,
    pub(crate) items: Vec<ItemReport>,
    pub(crate) diffs: Vec<FileDiff>,
    /// Show the result even without -v (Ansible's `_ansible_verbose_always`, set by debug).
    pub(crate) verbose_always: bool,
    /// Where the task is written, for the error display of a failure.
    pub(crate) origin: Option<Origin>,
}

/// A task's place in its file, and whether an action plugin (rather than a
/// module) carries it out in Ansible: failures read "Action failed" or
/// "Module failed" as ansible-core 2.19 shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) file: std::sync::Arc<std::path::PathBuf>,
    pub(crate) line: usize,
    pub(crate) action: bool,
}

impl Origin {
    /// `[ERROR]: Task failed: ...`, the task's file:line:column and the
    /// lines leading to it, as ansible-core 2.19 prints before a failure.
    pub(crate) fn error_block(&self, msg: &str) -> String {
        let head = if msg.starts_with("Task failed:") {
            msg.to_string()
        } else {
            format!(
                "Task failed: {} failed: {msg}",
                if self.action { "Action" } else { "Module" }
            )
        };
        let path = std::fs::canonicalize(&*self.file).unwrap_or_else(|_| self.file.to_path_buf());
        let text = std::fs::read_to_string(&*self.file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let Some(at) = lines.get(self.line.wrapping_sub(1)) else {
            return format!(
                "[ERROR]: {head}\nOrigin: {}:{}\n\n",
                path.display(),
                self.line
            );
        };
        // The column of the task's first key (`- name:` -> `name`).
        let indent = at.len() - at.trim_start().len();
        let rest = at.trim_start();
        let col = 1
            + indent
            + match rest.strip_prefix("- ") {
                Some(item) => 2 + (item.len() - item.trim_start().len()),
                None => 0,
            };
        let first = self.line.saturating_sub(2).max(1);
        let width = self.line.to_string().len();
        let mut out = format!(
            "[ERROR]: {head}\nOrigin: {}:{}:{col}\n\n",
            path.display(),
            self.line
        );
        for n in first..=self.line {
            out.push_str(&format!("{n:>width$} {}\n", lines[n - 1]));
        }
        out.push_str(&format!("{}^ column {col}\n\n", " ".repeat(width + col)));
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskKind {
    Task,
    Handler,
}

pub(crate) trait Sink: Send + Sync {
    fn play_start(&self, name: &str, hosts: &[String]);
    fn task_start(&self, name: &str, kind: TaskKind);
    fn host_result(&self, task: &str, kind: TaskKind, report: &HostReport);
    fn included(&self, host: &str, file: &str);
    fn message(&self, text: &str);
    fn recap(&self, stats: &IndexMap<String, HostStats>);
    /// Where the time went (`--profile`), just before the recap.
    fn timing(&self, _summary: &super::timing::Summary) {}
}

/// Python's `json.dumps(..., sort_keys=True)` spacing, as Ansible prints results.
pub(crate) fn py_json(v: &Value) -> String {
    let mut out = String::new();
    write_py_json(v, &mut out);
    out
}

fn write_py_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write_py_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// Drop internal keys before showing a result.
fn shown(result: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    for (k, v) in result {
        // `diff` is shown as a diff (with --diff), not in the result, as
        // Ansible's callback does; warnings as [WARNING] lines; an
        // exception's detail only at -vvv (Ansible's traceback).
        if k.starts_with("_ansible")
            || matches!(
                k.as_str(),
                "invocation" | "_berth" | "diff" | "warnings" | "deprecations" | "exception"
            )
        {
            continue;
        }
        // Every registered result says `failed`; Ansible's callback drops it.
        if k == "failed" && v == &Value::Bool(false) {
            continue;
        }
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

pub(crate) fn banner(text: &str) -> String {
    let stars = 80usize.saturating_sub(text.chars().count() + 1).max(3);
    format!("{text} {}", "*".repeat(stars))
}

/// Ansible's notes for diffs it did not compute (binary or too large content).
pub(crate) fn skipped_diff_notes(result: &Map<String, Value>) -> String {
    let Some(Value::Object(d)) = result.get("diff") else {
        return String::new();
    };
    let mut out = String::new();
    if d.contains_key("dst_binary") {
        out.push_str("diff skipped: destination file appears to be binary\n");
    }
    if d.contains_key("src_binary") {
        out.push_str("diff skipped: source file appears to be binary\n");
    }
    if let Some(n) = d.get("dst_larger") {
        out.push_str(&format!(
            "diff skipped: destination file size is greater than {n}\n"
        ));
    }
    if let Some(n) = d.get("src_larger") {
        out.push_str(&format!(
            "diff skipped: source file size is greater than {n}\n"
        ));
    }
    out
}

/// Render a file diff like Ansible's default callback.
pub(crate) fn render_diff(d: &FileDiff) -> String {
    if d.before == d.after && d.before_header == d.after_header {
        return String::new();
    }
    let diff = similar::TextDiff::from_lines(&d.before, &d.after);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(&d.before_header, &d.after_header)
        .to_string();
    if text.is_empty() && d.before_header != d.after_header {
        text = format!("--- {}\n+++ {}\n", d.before_header, d.after_header);
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// A live status line on a terminal: hosts done / running / failed for the current task.
struct Progress {
    bar: indicatif::ProgressBar,
    counts: Mutex<(usize, usize, usize, String)>,
}

impl Progress {
    fn new() -> Progress {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress {
            bar,
            counts: Mutex::new((0, 0, 0, String::new())),
        }
    }

    fn update(&self, f: impl FnOnce(&mut (usize, usize, usize, String))) {
        let mut c = self.counts.lock().expect("progress lock");
        f(&mut c);
        let (total, done, failed, task) = (&c.0, &c.1, &c.2, &c.3);
        self.bar.set_message(format!(
            "{task}: {done}/{total} hosts done, {} running, {failed} failed",
            total.saturating_sub(*done)
        ));
    }
}

pub(crate) struct HumanSink {
    out: Mutex<Box<dyn Write + Send>>,
    last_header: Mutex<String>,
    verbose: u8,
    show_diff: bool,
    progress: Option<Progress>,
    /// The timing summary, printed after the recap as profile_tasks does.
    timing: Mutex<Option<String>>,
}

impl HumanSink {
    pub(crate) fn new(out: Box<dyn Write + Send>, verbose: u8, show_diff: bool) -> HumanSink {
        HumanSink {
            out: Mutex::new(out),
            last_header: Mutex::new(String::new()),
            verbose,
            show_diff,
            progress: None,
            timing: Mutex::new(None),
        }
    }

    /// Show a live status line on stderr (for a terminal).
    pub(crate) fn with_progress(mut self) -> HumanSink {
        self.progress = Some(Progress::new());
        self
    }

    fn write(&self, text: &str) {
        let emit = || {
            let mut out = self.out.lock().expect("sink lock");
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.progress {
            Some(p) => p.bar.suspend(emit),
            None => emit(),
        }
    }

    fn header_for(name: &str, kind: TaskKind) -> String {
        match kind {
            TaskKind::Task => banner(&format!("TASK [{name}]")),
            TaskKind::Handler => banner(&format!("RUNNING HANDLER [{name}]")),
        }
    }

    fn host_label(report: &HostReport) -> String {
        match &report.delegated_to {
            Some(d) if d != &report.host => format!("[{} -> {}]", report.host, d),
            _ => format!("[{}]", report.host),
        }
    }

    fn line(
        &self,
        status: Status,
        label: &str,
        item: Option<&str>,
        result: &Map<String, Value>,
        ignored: bool,
        is_debug: bool,
    ) -> String {
        let item_part = item.map(|i| format!(" => (item={i})")).unwrap_or_default();
        let item_fail = item.map(|i| format!(" (item={i})")).unwrap_or_default();
        match status {
            Status::Ok | Status::Changed => {
                let word = if status == Status::Changed {
                    "changed"
                } else {
                    "ok"
                };
                // Ansible's callback: shown at -v, or when the action asks
                // (`_ansible_verbose_always`: debug, assert), unless overridden.
                if (self.verbose > 0 || is_debug || result.contains_key("_ansible_verbose_always"))
                    && !result.contains_key("_ansible_verbose_override")
                {
                    // Indented as Ansible dumps results that ask to be shown, or at -vvv.
                    let pretty = is_debug
                        || result.contains_key("_ansible_verbose_always")
                        || self.verbose > 2;
                    let mut r = shown(result);
                    if is_debug {
                        // As Ansible's default callback cleans debug results.
                        if let Value::Object(m) = &mut r {
                            if m.contains_key("msg") {
                                m.retain(|k, _| {
                                    matches!(
                                        k.as_str(),
                                        "msg" | "exception" | "warnings" | "deprecations"
                                    ) || k.starts_with('_')
                                });
                            } else {
                                for k in
                                    ["changed", "failed", "skipped", "invocation", "skip_reason"]
                                {
                                    m.remove(k);
                                }
                            }
                        }
                    }
                    if item.is_some() {
                        format!(
                            "{word}: {label} => (item={}) => {}\n",
                            item.unwrap_or_default(),
                            py_json_pretty_debug(&r, pretty)
                        )
                    } else {
                        format!("{word}: {label} => {}\n", py_json_pretty_debug(&r, pretty))
                    }
                } else {
                    format!("{word}: {label}{item_part}\n")
                }
            }
            Status::Skipped => {
                if self.verbose > 0 {
                    format!(
                        "skipping: {label}{item_part} => {}\n",
                        py_json(&shown(result))
                    )
                } else {
                    format!("skipping: {label}{item_part}\n")
                }
            }
            Status::Failed => {
                // Ansible's callback shows no `failed` key on a failure.
                let mut r = shown(result);
                if let Value::Object(m) = &mut r {
                    m.remove("failed");
                }
                let mut s = if item.is_some() {
                    format!("failed: {label}{item_fail} => {}\n", py_json(&r))
                } else {
                    format!("fatal: {label}: FAILED! => {}\n", py_json(&r))
                };
                if ignored {
                    s.push_str("...ignoring\n");
                }
                s
            }
            Status::Unreachable => {
                let mut s = format!(
                    "fatal: {label}: UNREACHABLE! => {}\n",
                    py_json(&shown(result))
                );
                if ignored {
                    s.push_str("...ignoring\n");
                }
                s
            }
        }
    }
}

/// `debug` output is pretty-printed with 4 spaces like Ansible's callback.
fn py_json_pretty_debug(v: &Value, pretty: bool) -> String {
    if !pretty {
        return py_json(v);
    }
    let mut sorted = v.clone();
    sort_keys(&mut sorted);
    let buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(buf, formatter);
    use serde::Serialize;
    if sorted.serialize(&mut ser).is_err() {
        return py_json(v);
    }
    String::from_utf8(ser.into_inner()).unwrap_or_default()
}

fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_keys(&mut val);
                m.insert(k, val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

impl Sink for HumanSink {
    fn play_start(&self, name: &str, hosts: &[String]) {
        if let Some(p) = &self.progress {
            p.update(|c| *c = (hosts.len(), 0, 0, format!("PLAY [{name}]")));
        }
        *self.last_header.lock().expect("sink lock") = String::new();
        self.write(&format!("\n{}\n", banner(&format!("PLAY [{name}]"))));
    }

    fn task_start(&self, name: &str, kind: TaskKind) {
        if let Some(p) = &self.progress {
            p.update(|c| {
                c.1 = 0;
                c.3 = name.to_string();
            });
        }
        let header = HumanSink::header_for(name, kind);
        let mut last = self.last_header.lock().expect("sink lock");
        *last = header.clone();
        self.write(&format!("\n{header}\n"));
    }

    fn host_result(&self, task: &str, kind: TaskKind, report: &HostReport) {
        let mut text = String::new();
        {
            let header = HumanSink::header_for(task, kind);
            let mut last = self.last_header.lock().expect("sink lock");
            if *last != header {
                text.push_str(&format!("\n{header}\n"));
                *last = header;
            }
        }
        if let Some(p) = &self.progress {
            p.update(|c| {
                c.1 += 1;
                if matches!(report.status, Status::Failed | Status::Unreachable) && !report.ignored
                {
                    c.2 += 1;
                }
            });
        }
        let label = HumanSink::host_label(report);
        if self.show_diff {
            for d in &report.diffs {
                text.push_str(&render_diff(d));
            }
            text.push_str(&skipped_diff_notes(&report.result));
        }
        if report.status == Status::Failed {
            if let Some(origin) = &report.origin {
                // The first failure's message: the task's, or its first failed item's.
                let first = report
                    .items
                    .iter()
                    .find(|i| i.status == Status::Failed)
                    .map(|i| &i.result)
                    .unwrap_or(&report.result);
                let msg = first
                    .get("msg")
                    .map(|m| {
                        m.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| m.to_string())
                    })
                    .unwrap_or_default();
                text.push_str(
                    &origin.error_block(
                        msg.split("\n\nThe error appears to be in")
                            .next()
                            .unwrap_or_default(),
                    ),
                );
            }
        }
        if report.items.is_empty() {
            text.push_str(&self.line(
                report.status,
                &label,
                None,
                &report.result,
                report.ignored,
                report.verbose_always,
            ));
        } else {
            for item in &report.items {
                if self.show_diff {
                    for d in &item.diffs {
                        text.push_str(&render_diff(d));
                    }
                    text.push_str(&skipped_diff_notes(&item.result));
                }
                text.push_str(&self.line(
                    item.status,
                    &label,
                    Some(&item.label),
                    &item.result,
                    false,
                    report.verbose_always,
                ));
            }
            // Like ansible-core 2.19: the failed items, no line for the loop as a whole.
            if report.status == Status::Failed && report.ignored {
                text.push_str("...ignoring\n");
            }
        }
        // A module's warnings, after its result, as Ansible prints them.
        for w in report
            .result
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            text.push_str(&format!(
                "[WARNING]: {}\n",
                w.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| w.to_string())
            ));
        }
        self.write(&text);
    }

    fn included(&self, host: &str, file: &str) {
        self.write(&format!("included: {file} for {host}\n"));
    }

    fn message(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    fn recap(&self, stats: &IndexMap<String, HostStats>) {
        if let Some(p) = &self.progress {
            p.bar.finish_and_clear();
        }
        let mut text = format!("\n{}\n", banner("PLAY RECAP"));
        for (host, s) in stats {
            text.push_str(&format!(
                "{:<26} : {:<7} {:<12} {:<16} {:<11} {:<12} {:<12} {:<12}\n",
                host,
                format!("ok={}", s.ok),
                format!("changed={}", s.changed),
                format!("unreachable={}", s.unreachable),
                format!("failed={}", s.failed),
                format!("skipped={}", s.skipped),
                format!("rescued={}", s.rescued),
                format!("ignored={}", s.ignored),
            ));
        }
        text.push('\n');
        if let Some(timing) = self.timing.lock().expect("timing").take() {
            text.push_str(&timing);
            text.push('\n');
        }
        self.write(&text);
    }

    fn timing(&self, summary: &super::timing::Summary) {
        *self.timing.lock().expect("timing") = Some(super::timing::human(summary));
    }
}

/// One JSON object per line; the last line is the recap.
pub(crate) struct JsonSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonSink {
    pub(crate) fn new(out: Box<dyn Write + Send>) -> JsonSink {
        JsonSink {
            out: Mutex::new(out),
        }
    }

    fn emit(&self, v: Value) {
        let mut out = self.out.lock().expect("sink lock");
        let _ = writeln!(out, "{}", serde_json::to_string(&v).unwrap_or_default());
        let _ = out.flush();
    }
}

fn diffs_json(diffs: &[FileDiff]) -> Value {
    Value::Array(
        diffs
            .iter()
            .map(|d| json!({"before_header": d.before_header, "after_header": d.after_header, "before": d.before, "after": d.after}))
            .collect(),
    )
}

impl Sink for JsonSink {
    fn play_start(&self, name: &str, hosts: &[String]) {
        self.emit(json!({"event": "play_start", "play": name, "hosts": hosts}));
    }

    fn task_start(&self, name: &str, kind: TaskKind) {
        self.emit(
            json!({"event": "task_start", "task": name, "handler": kind == TaskKind::Handler}),
        );
    }

    fn host_result(&self, task: &str, kind: TaskKind, report: &HostReport) {
        let items: Vec<Value> = report
            .items
            .iter()
            .map(|i| json!({"item": i.label, "status": i.status.as_str(), "result": shown(&i.result), "diff": diffs_json(&i.diffs)}))
            .collect();
        let mut event = json!({
            "event": if kind == TaskKind::Handler { "handler" } else { "host_result" },
            "task": task,
            "host": report.host,
            "status": report.status.as_str(),
            "ignored": report.ignored,
            "result": shown(&report.result),
            "items": items,
            "diff": diffs_json(&report.diffs),
        });
        // Warnings, which the human sink prints as [WARNING] lines.
        if let Some(w) = report
            .result
            .get("warnings")
            .filter(|w| w.as_array().is_some_and(|a| !a.is_empty()))
        {
            event["warnings"] = w.clone();
        }
        self.emit(event);
    }

    fn included(&self, host: &str, file: &str) {
        self.emit(json!({"event": "included", "host": host, "file": file}));
    }

    fn message(&self, text: &str) {
        self.emit(json!({"event": "message", "text": text}));
    }

    fn recap(&self, stats: &IndexMap<String, HostStats>) {
        self.emit(json!({"event": "recap", "hosts": stats}));
    }

    fn timing(&self, summary: &super::timing::Summary) {
        self.emit(super::timing::json(summary));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_json() {
        assert_eq!(
            py_json(&json!({"b": [1, "x"], "a": true})),
            r#"{"a": true, "b": [1, "x"]}"#
        );
    }

    #[test]
    fn notes_for_skipped_diffs() {
        let r = json!({"diff": {"src_larger": 104448, "dst_binary": 1}});
        assert_eq!(
            skipped_diff_notes(r.as_object().unwrap()),
            "diff skipped: destination file appears to be binary\ndiff skipped: source file size is greater than 104448\n"
        );
    }

    #[test]
    fn ignored_failures_and_unreachables_say_so() {
        let sink = HumanSink::new(Box::new(std::io::sink()), 0, false);
        let r: Map<String, Value> = json!({"msg": "down", "unreachable": true})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            sink.line(Status::Unreachable, "[h]", None, &r, true, false),
            "fatal: [h]: UNREACHABLE! => {\"msg\": \"down\", \"unreachable\": true}\n...ignoring\n"
        );
        assert_eq!(
            sink.line(Status::Unreachable, "[h]", None, &r, false, false),
            "fatal: [h]: UNREACHABLE! => {\"msg\": \"down\", \"unreachable\": true}\n"
        );
    }

    #[test]
    fn results_asking_to_be_shown_are_shown_without_v() {
        let sink = HumanSink::new(Box::new(std::io::sink()), 0, false);
        let shown: Map<String, Value> =
            json!({"changed": false, "msg": "lockstep works", "_ansible_verbose_always": true})
                .as_object()
                .unwrap()
                .clone();
        assert_eq!(
            sink.line(Status::Ok, "[h]", None, &shown, false, false),
            "ok: [h] => {\n    \"changed\": false,\n    \"msg\": \"lockstep works\"\n}\n"
        );
        let quiet: Map<String, Value> = json!({"changed": false, "msg": "x"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            sink.line(Status::Ok, "[h]", None, &quiet, false, false),
            "ok: [h]\n"
        );
    }

    #[test]
    fn banners_are_80_columns() {
        assert_eq!(banner("PLAY RECAP").len(), 80);
        assert!(banner(&"x".repeat(100)).ends_with(" ***"));
    }
}
