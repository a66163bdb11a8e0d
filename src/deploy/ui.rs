//! The deploy UX (seed 003 §4): indented steps ending in ✓ or ✗, written
//! whole under a lock so parallel hosts never interleave inside a line, and
//! a runner sink that turns playbook events into such steps.

use std::collections::BTreeMap;
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
    /// Says nothing at all (bookkeeping runs).
    quiet: bool,
    lock: Mutex<()>,
    started: std::time::Instant,
}

impl Ui {
    pub(crate) fn new(json: bool) -> Arc<Ui> {
        Arc::new(Ui {
            json,
            quiet: false,
            lock: Mutex::new(()),
            started: std::time::Instant::now(),
        })
    }

    /// A Ui that prints nothing, for runs whose outcome is not news.
    pub(crate) fn quiet(ui: &Ui) -> Arc<Ui> {
        Arc::new(Ui {
            json: ui.json,
            quiet: true,
            lock: Mutex::new(()),
            started: ui.started,
        })
    }

    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Writes text as is (it should end with a newline).
    pub(crate) fn raw(&self, text: &str) {
        if self.quiet {
            return;
        }
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

    /// `  → text ....... ✓` (and, with --json, a `step` event on stdout).
    pub(crate) fn step(&self, prefix: &str, text: &str, ok: bool) {
        self.raw(&step_line(prefix, text, if ok { "✓" } else { "✗" }));
        if self.json {
            let host = prefix.trim_start_matches('[').trim_end_matches(']');
            // `t`: seconds since the command started, for timelines.
            let t = (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
            self.event(
                serde_json::json!({"event": "step", "host": host, "text": text, "ok": ok, "t": t}),
            );
        }
    }

    /// One JSON event line on stdout (only with --json).
    pub(crate) fn event(&self, value: serde_json::Value) {
        if self.json && !self.quiet {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{value}");
            let _ = out.flush();
        }
    }
}

pub(crate) fn step_line(prefix: &str, text: &str, mark: &str) -> String {
    let head = format!("  {prefix}  → {text}");
    let pad = WIDTH.saturating_sub(head.chars().count()).max(1);
    format!("{head}{}{mark}\n", " ".repeat(pad))
}

/// What a playbook run left for one host.
#[derive(Debug, Default, Clone)]
pub(crate) struct HostRun {
    /// `tova-result: KEY=VALUE` lines of the deploy script, in order.
    pub(crate) results: Vec<(String, String)>,
    /// The first failure: (task, message).
    pub(crate) first_failure: Option<(String, String)>,
    /// The last failure's message (a rescue's summary).
    pub(crate) last_failure: Option<String>,
    pub(crate) unreachable: bool,
    /// Tasks that changed something, in order.
    pub(crate) changed_tasks: Vec<String>,
}

impl HostRun {
    /// The last value reported for `key`.
    pub(crate) fn result(&self, key: &str) -> Option<&str> {
        self.results
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value reported for `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.results
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// What a playbook run left: per-host counters and what each host reported.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunReport {
    pub(crate) stats: IndexMap<String, HostStats>,
    /// By inventory name.
    pub(crate) hosts: BTreeMap<String, HostRun>,
}

/// Runner sink for the deploy commands: seed 003's steps. The deploy
/// script's `tova-step:` lines become steps; so does every other task that
/// changes or fails. Each host's lines carry its label in a fleet.
pub(crate) struct DeploySink {
    ui: Arc<Ui>,
    /// Inventory name → line prefix (`[root@10.0.0.5]`, or nothing for one host).
    prefixes: BTreeMap<String, String>,
    verbose: u8,
    /// Hosts that have printed the provisioning / deploy header.
    headers: Mutex<BTreeMap<String, (bool, bool)>>,
    pub(crate) report: Arc<Mutex<RunReport>>,
}

impl DeploySink {
    pub(crate) fn new(
        ui: Arc<Ui>,
        prefixes: BTreeMap<String, String>,
        verbose: u8,
    ) -> (DeploySink, Arc<Mutex<RunReport>>) {
        let report = Arc::new(Mutex::new(RunReport::default()));
        (
            DeploySink {
                ui,
                prefixes,
                verbose,
                headers: Mutex::new(BTreeMap::new()),
                report: report.clone(),
            },
            report,
        )
    }

    fn prefix(&self, host: &str) -> String {
        self.prefixes.get(host).cloned().unwrap_or_default()
    }

    /// Prints "Provisioning..." or "Deploying app..." once per host.
    fn header(&self, host: &str, deploy: bool) {
        let mut h = self.headers.lock().unwrap_or_else(|e| e.into_inner());
        let seen = h.entry(host.to_owned()).or_insert((false, false));
        let (flag, text) = if deploy {
            (&mut seen.1, "Deploying app...")
        } else {
            (&mut seen.0, "Provisioning...")
        };
        if !*flag {
            *flag = true;
            self.ui.line(&format!("  {}{text}", self.prefix(host)));
        }
    }
}

fn failure_message(report: &HostReport) -> String {
    let pick = |r: &serde_json::Map<String, serde_json::Value>| -> Option<String> {
        // A failed command's own words are in stderr; its msg only says it failed.
        let generic = r.get("msg").and_then(|m| m.as_str()) == Some("non-zero return code");
        let keys: &[&str] = if generic {
            &["stderr", "stdout", "msg"]
        } else {
            &["msg", "stderr", "stdout"]
        };
        for key in keys {
            if let Some(serde_json::Value::String(s)) = r.get(*key) {
                let lines: Vec<&str> = s
                    .trim()
                    .lines()
                    .filter(|l| !l.starts_with("tova-"))
                    .take(10)
                    .collect();
                if !lines.is_empty() {
                    return Some(lines.join("\n"));
                }
            }
        }
        None
    };
    // A loop's own msg ("One or more items failed") says less than its first failed item.
    let item = || {
        report
            .items
            .iter()
            .filter(|i| i.status == Status::Failed)
            .find_map(|i| pick(&i.result))
    };
    let own = pick(&report.result);
    match own.as_deref() {
        Some("One or more items failed") | None => item().or(own),
        Some(_) => own,
    }
    .unwrap_or_else(|| "failed".into())
}

/// The deploy script's lines in a result (and in its loop items').
fn script_lines(report: &HostReport) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = |r: &serde_json::Map<String, serde_json::Value>| {
        if let Some(serde_json::Value::String(s)) = r.get("stdout") {
            out.extend(
                s.lines()
                    .filter(|l| l.starts_with("tova-"))
                    .map(str::to_owned),
            );
        }
    };
    take(&report.result);
    for i in &report.items {
        take(&i.result);
    }
    out
}

impl Sink for DeploySink {
    fn play_start(&self, _name: &str, _hosts: &[String]) {}
    fn task_start(&self, _name: &str, _kind: TaskKind) {}
    fn host_result(&self, task: &str, kind: TaskKind, report: &HostReport) {
        let host = report.host.as_str();
        let pre = self.prefix(host);
        let label = if kind == TaskKind::Handler {
            format!("{task} (handler)")
        } else {
            task.to_owned()
        };
        let lines = script_lines(report);
        let mut stepped = false;
        let mut failed_step = false;
        for line in &lines {
            if let Some(text) = line.strip_prefix("tova-step: ") {
                self.header(host, true);
                self.ui.step(&pre, text, true);
                stepped = true;
            } else if let Some(text) = line.strip_prefix("tova-step-failed: ") {
                self.header(host, true);
                self.ui.step(&pre, text, false);
                failed_step = true;
            } else if let Some((k, v)) = line
                .strip_prefix("tova-result: ")
                .and_then(|kv| kv.split_once('='))
            {
                let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
                r.hosts
                    .entry(host.to_owned())
                    .or_default()
                    .results
                    .push((k.to_owned(), v.to_owned()));
            }
        }
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        let hr = r.hosts.entry(host.to_owned()).or_default();
        match report.status {
            Status::Changed => {
                hr.changed_tasks.push(label.clone());
                drop(r);
                if !stepped {
                    self.header(host, false);
                    self.ui.step(&pre, &label, true);
                }
            }
            Status::Failed | Status::Unreachable if !report.ignored => {
                let msg = failure_message(report);
                hr.unreachable |= report.status == Status::Unreachable;
                if hr.first_failure.is_none() {
                    hr.first_failure = Some((label.clone(), msg.clone()));
                }
                hr.last_failure = Some(msg.clone());
                drop(r);
                if !failed_step {
                    self.ui.step(&pre, &label, false);
                }
                for line in msg.lines() {
                    self.ui.raw(&format!("  {pre}      {line}\n"));
                }
            }
            Status::Ok | Status::Skipped if self.verbose > 0 => {
                drop(r);
                self.ui.raw(&step_line(
                    &pre,
                    &label,
                    if report.status == Status::Ok {
                        "ok"
                    } else {
                        "skip"
                    },
                ));
            }
            _ => {}
        }
    }
    fn included(&self, _host: &str, _file: &str) {}
    fn message(&self, text: &str) {
        if self.verbose > 0 {
            self.ui.raw(&format!("  {text}\n"));
        }
    }
    fn recap(&self, stats: &IndexMap<String, HostStats>) {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).stats = stats.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_align_their_marks() {
        let a = step_line("", "Uploading bundle (2.1 MB)", "✓");
        let b = step_line("", "Setting current → releases/v1", "✓");
        assert_eq!(
            a.find('✓').map(|i| a[..i].chars().count()),
            b.find('✓').map(|i| b[..i].chars().count())
        );
        assert!(a.starts_with("    → Uploading"));
        let long = step_line("", &"x".repeat(80), "✗");
        assert!(long.ends_with(" ✗\n"));
    }
}
