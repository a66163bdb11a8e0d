//! The app's systemd instances as `--status` shows them (restarts and
//! health checks are the deploy script's, run by the playbooks).

use super::remote::{q, Remote};

/// One instance as `--status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    pub(crate) port: u16,
    pub(crate) active: String,
    pub(crate) memory_bytes: Option<u64>,
    /// Seconds since the instance entered its state.
    pub(crate) uptime_secs: Option<u64>,
    pub(crate) healthy: bool,
}

pub(crate) fn instances(
    remote: &mut Remote,
    app: &str,
    ports: &[u16],
    path: &str,
) -> Result<Vec<Instance>, String> {
    let mut script = String::from("set -u\nnow=$(date +%s)\n");
    for port in ports {
        let unit = q(&format!("tova-{app}@{port}.service"));
        script.push_str(&format!(
            "a=$(systemctl is-active {unit} 2>/dev/null || true)\nm=$(systemctl show -p MemoryCurrent --value {unit} 2>/dev/null || true)\nt=$(systemctl show -p ActiveEnterTimestamp --value {unit} 2>/dev/null || true)\ns=\"\"\n[ -n \"$t\" ] && s=$(date -d \"$t\" +%s 2>/dev/null || true)\nh=0\ncurl --silent --fail --max-time 3 --output /dev/null {url} && h=1\necho \"I|{port}|${{a:-unknown}}|${{m:-}}|${{s:-}}|$h|$now\"\n",
            url = q(&format!("http://127.0.0.1:{port}{path}"))
        ));
    }
    let out = remote.run("reading the instances", &script, None)?;
    Ok(parse_instances(&out))
}

fn parse_instances(out: &str) -> Vec<Instance> {
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.strip_prefix("I|")?.split('|').collect();
            if w.len() < 6 {
                return None;
            }
            let now: u64 = w[5].parse().ok()?;
            Some(Instance {
                port: w[0].parse().ok()?,
                active: w[1].to_owned(),
                memory_bytes: w[2].parse().ok(),
                uptime_secs: w[3].parse::<u64>().ok().map(|s| now.saturating_sub(s)),
                healthy: w[4] == "1",
            })
        })
        .collect()
}

pub(crate) fn human_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, (secs % 86400) / 3600, (secs % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

pub(crate) fn human_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{} MB", b >> 20)
    } else {
        format!("{} KB", b >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_lines() {
        let got = parse_instances(
            "I|3000|active|134217728|1000|1|4600\nI|3001|failed|[not set]||0|4600\nnoise\n",
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Instance {
                port: 3000,
                active: "active".into(),
                memory_bytes: Some(134217728),
                uptime_secs: Some(3600),
                healthy: true
            }
        );
        assert_eq!(got[1].memory_bytes, None);
        assert!(!got[1].healthy);
        assert_eq!(human_duration(3 * 86400 + 7 * 3600 + 5), "3d 7h");
        assert_eq!(human_bytes(134217728), "128 MB");
    }
}
