//! Where the time went (`--profile`): each task's wall time and every
//! host's share, summed up at the end the way Ansible's profile_tasks
//! callback lists them (slowest first), plus per-host totals.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{json, Value};

/// One task (or handler) as it ran across its hosts.
#[derive(Debug, Clone)]
pub(crate) struct TaskTiming {
    pub(crate) name: String,
    /// `file:line` of the task.
    pub(crate) origin: String,
    pub(crate) wall: Duration,
    pub(crate) hosts: Vec<(String, Duration)>,
}

/// The end-of-run summary.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// Slowest first; ties keep run order.
    pub(crate) tasks: Vec<TaskTiming>,
    /// Each host's summed task time, in first-seen order.
    pub(crate) hosts: IndexMap<String, (Duration, usize)>,
    pub(crate) total: Duration,
}

/// How many tasks the human summary lists (profile_tasks' default).
pub(crate) const SHOWN: usize = 20;

pub(crate) fn summarize(timings: &[TaskTiming]) -> Summary {
    let mut tasks = timings.to_vec();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.wall));
    let mut hosts: IndexMap<String, (Duration, usize)> = IndexMap::new();
    for t in timings {
        for (h, d) in &t.hosts {
            let e = hosts.entry(h.clone()).or_default();
            e.0 += *d;
            e.1 += 1;
        }
    }
    Summary {
        tasks,
        hosts,
        total: timings.iter().map(|t| t.wall).sum(),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// profile_tasks' lines: `name ---- 1.23s`, 79 columns, then the hosts.
pub(crate) fn human(s: &Summary) -> String {
    let mut out = format!("{}\n", "=".repeat(79));
    for t in s.tasks.iter().take(SHOWN) {
        let label = format!("{} ({})", t.name, t.origin);
        let time = secs(t.wall);
        let dashes = 79usize
            .saturating_sub(label.chars().count() + time.len() + 2)
            .max(3);
        out.push_str(&format!("{label} {} {time}\n", "-".repeat(dashes)));
    }
    out.push_str(&format!(
        "{} tasks in {}; per host:\n",
        s.tasks.len(),
        secs(s.total)
    ));
    for (h, (d, n)) in &s.hosts {
        out.push_str(&format!("{h:<26} : {:>9} in {n} tasks\n", secs(*d)));
    }
    out
}

pub(crate) fn json(s: &Summary) -> Value {
    json!({
        "event": "timing",
        "total_seconds": s.total.as_secs_f64(),
        "tasks": s.tasks.iter().map(|t| json!({
            "task": t.name,
            "origin": t.origin,
            "seconds": t.wall.as_secs_f64(),
            "hosts": t.hosts.iter().map(|(h, d)| (h.clone(), json!(d.as_secs_f64()))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "hosts": s.hosts.iter().map(|(h, (d, n))| (h.clone(), json!({"seconds": d.as_secs_f64(), "tasks": n}))).collect::<serde_json::Map<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, ms: u64, hosts: &[(&str, u64)]) -> TaskTiming {
        TaskTiming {
            name: name.into(),
            origin: format!("site.yml:{ms}"),
            wall: Duration::from_millis(ms),
            hosts: hosts
                .iter()
                .map(|(h, d)| (h.to_string(), Duration::from_millis(*d)))
                .collect(),
        }
    }

    #[test]
    fn slowest_first_with_host_totals() {
        let s = summarize(&[
            t("fast", 100, &[("a", 90), ("b", 100)]),
            t("slow", 2500, &[("a", 2500), ("b", 1200)]),
            t("mid", 700, &[("b", 700)]),
        ]);
        let names: Vec<&str> = s.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["slow", "mid", "fast"]);
        assert_eq!(s.hosts["a"], (Duration::from_millis(2590), 2));
        assert_eq!(s.hosts["b"], (Duration::from_millis(2000), 3));
        assert_eq!(s.total, Duration::from_millis(3300));
        let text = human(&s);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("slow (site.yml:2500) {} 2.50s", "-".repeat(79 - 20 - 5 - 2))
        );
        assert!(text.contains("3 tasks in 3.30s; per host:\n"), "{text}");
        assert!(
            text.ends_with(&format!("{:<26} :     2.00s in 3 tasks\n", "b")),
            "{text}"
        );
        let j = json(&s);
        assert_eq!(j["event"], "timing");
        assert_eq!(j["tasks"][0]["hosts"]["b"], 1.2);
        assert_eq!(j["hosts"]["a"]["tasks"], 2);
    }
}
