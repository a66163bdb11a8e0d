//! What `--status` shows of a host's store of versioned client files
//! (`modules.index`, kept by the deploy script of the role app): how many
//! versions it retains, how old they are, how much room they take.

use serde_json::{json, Value};

use super::layout::Layout;
use super::remote::Remote;

/// The clock: `BERTH_NOW` (unix seconds, for tests) or the system time.
pub(crate) fn now() -> u64 {
    if let Some(t) = std::env::var("BERTH_NOW")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One retained version: when it was first published, and since when no
/// live release references it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) url: String,
    pub(crate) first: u64,
    pub(crate) last: Option<u64>,
}

/// The index's tab-separated lines: URL PATH SHA1 SIZE FIRST LAST RELEASES.
pub(crate) fn parse_index(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 7).then(|| Entry {
                url: f[0].to_owned(),
                first: f[4].parse().unwrap_or(0),
                last: f[5].parse().ok(),
            })
        })
        .collect()
}

pub(crate) fn status(
    remote: &mut Remote,
    layout: &Layout,
    app: &str,
) -> Result<(String, Value), String> {
    let script = format!(
        "{}[ -f \"$app/modules.index\" ] && cat \"$app/modules.index\"\necho \"@@bytes $( [ -d \"$app/modules\" ] && du -sb \"$app/modules\" | cut -f1 || echo 0)\"\n",
        layout.prologue(app)
    );
    let out = remote.run("reading the store of client files", &script, None)?;
    let bytes: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("@@bytes "))
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or(0);
    let entries = parse_index(&out);
    let now = now();
    let n = entries.len();
    let unreferenced = entries.iter().filter(|e| e.last.is_some()).count();
    let ages: Vec<u64> = entries
        .iter()
        .map(|e| now.saturating_sub(e.first))
        .collect();
    let (young, old) = (
        ages.iter().min().copied().unwrap_or(0),
        ages.iter().max().copied().unwrap_or(0),
    );
    let line = if n == 0 {
        format!(
            "  Modules:      none retained (store {})",
            super::workflow::human_size(bytes)
        )
    } else {
        format!(
            "  Modules:      {n} version{} retained ({unreferenced} no longer live), published {} – {} ago, store {}",
            if n == 1 { "" } else { "s" },
            super::services::human_duration(young),
            super::services::human_duration(old),
            super::workflow::human_size(bytes)
        )
    };
    Ok((
        line,
        json!({"versions": n, "unreferenced": unreferenced, "youngest_secs": young, "oldest_secs": old, "bytes": bytes}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lines() {
        let e = parse_index("/c/a.js?v=1\t__q/1/a.js\tab\t3\t100\t-\tv1\n/.tova-out/c.12345678.js\t__a/c.12345678.js\tcd\t4\t50\t160\t-\nbroken line\n");
        assert_eq!(
            e,
            vec![
                Entry {
                    url: "/c/a.js?v=1".into(),
                    first: 100,
                    last: None
                },
                Entry {
                    url: "/.tova-out/c.12345678.js".into(),
                    first: 50,
                    last: Some(160)
                }
            ]
        );
    }
}
