//! The deploy UX (seed 003 §4): indented steps ending in ✓ or ✗, written
//! whole under a lock so parallel hosts never interleave inside a line, and
//! a runner sink that turns playbook events into such steps.

use std::io::Write;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

use crate::runner::sink::{HostReport, Sink, Status, TaskKind};
use crate::runner::stats::HostStats;

/// Column where ✓/✗ are aligned.
const WIDTH: usize = 52;

pub(crate) struct Ui {
    /// With --json the human lines go to stderr and stdout holds one JSON document.
    json: bool,
    lock: Mutex<()>,
}

impl Ui {
    pub(crate) fn new(json: bool) -> Arc<Ui> {
        Arc::new(Ui { json, lock: Mutex::new(()) })
    }

    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Writes text as is (it should end with a newline).
    pub(crate) fn raw(&self, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.json {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    pub(crate) fn line(&self, text: &str) {
        self.raw(&format!("{text}\n"));
    }

    /// `  → text ....... ✓`
    pub(crate) fn step(&self, prefix: &str, text: &str, ok: bool) {
        self.raw(&step_line(prefix, text, if ok { "✓" } else { "✗" }));
    }

}

pub(crate) fn step_line(prefix: &str, text: &str, mark: &str) -> String {
    let head = format!("  {prefix}  → {text}");
    let pad = WIDTH.saturating_sub(head.chars().count()).max(1);
    format!("{head}{}{mark}\n", " ".repeat(pad))
}

/// What a playbook run left: per-host counters and failure messages.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunReport {
    pub(crate) stats: IndexMap<String, HostStats>,
    /// (task, message) of every failed task.
    pub(crate) failures: Vec<(String, String)>,
    pub(crate) changed_tasks: Vec<String>,
}

/// Runner sink for deploys: one step line per changed or failed task.
pub(crate) struct DeploySink {
    ui: Arc<Ui>,
    prefix: String,
    verbose: u8,
    pub(crate) report: Arc<Mutex<RunReport>>,
}

impl DeploySink {
    pub(crate) fn new(ui: Arc<Ui>, prefix: &str, verbose: u8) -> (DeploySink, Arc<Mutex<RunReport>>) {
        let report = Arc::new(Mutex::new(RunReport::default()));
        (DeploySink { ui, prefix: prefix.to_owned(), verbose, report: report.clone() }, report)
    }
}

fn failure_message(report: &HostReport) -> String {
    let pick = |r: &serde_json::Map<String, serde_json::Value>| -> Option<String> {
        for key in ["msg", "stderr", "stdout"] {
            if let Some(serde_json::Value::String(s)) = r.get(key) {
                if !s.trim().is_empty() {
                    return Some(s.trim().lines().take(6).collect::<Vec<_>>().join(" / "));
                }
            }
        }
        None
    };
    pick(&report.result)
        .or_else(|| report.items.iter().filter(|i| i.status == Status::Failed).find_map(|i| pick(&i.result)))
        .unwrap_or_else(|| "failed".into())
}

impl Sink for DeploySink {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _name: &str, _kind: TaskKind) {}
    fn host_result(&self, task: &str, kind: TaskKind, report: &HostReport) {
        let label = if kind == TaskKind::Handler { format!("{task} (handler)") } else { task.to_owned() };
        match report.status {
            Status::Changed => {
                self.ui.step(&self.prefix, &label, true);
                self.report.lock().unwrap().changed_tasks.push(label);
            }
            Status::Failed | Status::Unreachable if !report.ignored => {
                let msg = failure_message(report);
                self.ui.step(&self.prefix, &label, false);
                self.ui.raw(&format!("  {}      {msg}\n", self.prefix));
                self.report.lock().unwrap().failures.push((label, msg));
            }
            Status::Ok | Status::Skipped if self.verbose > 0 => {
                self.ui.raw(&step_line(&self.prefix, &label, if report.status == Status::Ok { "ok" } else { "skip" }));
            }
            _ => {}
        }
    }
    fn included(&self, _host: &str, _file: &str) {}
    fn message(&self, text: &str) {
        if self.verbose > 0 {
            self.ui.raw(&format!("  {}  {text}\n", self.prefix));
        }
    }
    fn recap(&self, stats: &IndexMap<String, HostStats>) {
        self.report.lock().unwrap().stats = stats.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_align_their_marks() {
        let a = step_line("", "Uploading bundle (2.1 MB)", "✓");
        let b = step_line("", "Setting current → releases/v1", "✓");
        assert_eq!(a.find('✓').map(|i| a[..i].chars().count()), b.find('✓').map(|i| b[..i].chars().count()));
        assert!(a.starts_with("    → Uploading"));
        let long = step_line("", &"x".repeat(80), "✗");
        assert!(long.ends_with(" ✗\n"));
    }
}
