//! The app's systemd instances on a host: rolling restart with a health
//! check per instance (curl on the host), stopping instances whose port the
//! app no longer has, and the numbers `--status` shows.

use super::remote::{q, Remote};
use crate::manifest::model::Tls;

/// Seconds a restarted instance gets to answer its health check.
pub(crate) fn health_window(timeout_secs: u32) -> u32 {
    (timeout_secs * 4).max(20)
}

/// The script that checks one instance until it answers or the window ends.
pub(crate) fn health_script(app: &str, port: u16, path: &str, timeout_secs: u32, window_secs: u32) -> String {
    format!(
        r#"set -u
url={url}
end=$(( $(date +%s) + {window} ))
while :; do
  if curl --silent --fail --max-time {timeout} --output /dev/null "$url"; then echo healthy; exit 0; fi
  if [ "$(date +%s)" -ge "$end" ]; then break; fi
  sleep 0.5
done
echo "tova-{app}@{port}: {path} did not answer within {window}s" >&2
systemctl --no-pager --lines=0 status {unit} 2>/dev/null | sed -n '1,4p' >&2 || true
journalctl --no-pager -o cat -n 8 -u {unit} 2>/dev/null >&2 || true
exit 1
"#,
        url = q(&format!("http://127.0.0.1:{port}{path}")),
        window = window_secs,
        timeout = timeout_secs.max(1),
        unit = q(&format!("tova-{app}@{port}.service")),
    )
}

/// The script that asks Caddy on the host for the site's document, as a
/// visitor would (the domain resolved to the host itself), until it answers
/// or the window ends. With `tls: auto` and no certificate yet (the domain
/// does not point here), Caddy redirecting plain HTTP for the domain is the
/// most that can be checked from the host.
pub(crate) fn site_script(domain: &str, tls: Tls, timeout_secs: u32, window_secs: u32) -> String {
    let (scheme, port) = if tls == Tls::Off { ("http", 80) } else { ("https", 443) };
    format!(
        r#"set -u
end=$(( $(date +%s) + {window} ))
while :; do
  if curl --silent --fail --insecure --max-time {timeout} --output /dev/null --resolve {resolve} {url}; then echo healthy; exit 0; fi
  rc=$?
  if [ {auto} = 1 ] && [ "$rc" = 35 ]; then
    code=$(curl --silent --max-time {timeout} --output /dev/null --write-out '%{{http_code}}' --resolve {resolve80} {url80} || true)
    case "$code" in 30[178]) echo "no certificate yet for {domain}; Caddy redirects HTTP" >&2; echo healthy; exit 0 ;; esac
  fi
  if [ "$(date +%s)" -ge "$end" ]; then break; fi
  sleep 0.5
done
echo "{domain}: Caddy did not serve the document at / within {window}s" >&2
curl --silent --show-error --insecure --max-time {timeout} --output /dev/null --write-out 'last answer: HTTP %{{http_code}}
' --resolve {resolve} {url} >&2 || true
exit 1
"#,
        window = window_secs,
        timeout = timeout_secs.max(1),
        auto = if tls == Tls::Auto { 1 } else { 0 },
        resolve = q(&format!("{domain}:{port}:127.0.0.1")),
        url = q(&format!("{scheme}://{domain}/")),
        resolve80 = q(&format!("{domain}:80:127.0.0.1")),
        url80 = q(&format!("http://{domain}/")),
    )
}

pub(crate) fn check_site(remote: &mut Remote, domain: &str, tls: Tls, timeout_secs: u32) -> Result<(), String> {
    let out = remote.exec(&site_script(domain, tls, timeout_secs, health_window(timeout_secs)), None)?;
    if out.success() {
        Ok(())
    } else {
        Err(out.stderr_str().trim().to_owned())
    }
}

pub(crate) fn check(remote: &mut Remote, app: &str, port: u16, path: &str, timeout_secs: u32) -> Result<(), String> {
    let out = remote.exec(&health_script(app, port, path, timeout_secs, health_window(timeout_secs)), None)?;
    if out.success() {
        Ok(())
    } else {
        Err(out.stderr_str().trim().to_owned())
    }
}

pub(crate) fn restart(remote: &mut Remote, app: &str, port: u16) -> Result<(), String> {
    let unit = q(&format!("tova-{app}@{port}.service"));
    remote
        .run(&format!("restarting tova-{app}@{port}"), &format!("systemctl daemon-reload\nsystemctl enable {unit} >/dev/null 2>&1 || true\nsystemctl restart {unit}\n"), None)
        .map(|_| ())
}

/// Restarts each instance in turn and waits for it to be healthy before the
/// next one; stops at the first that fails. `step` reports each instance.
pub(crate) fn rolling_restart(
    remote: &mut Remote,
    app: &str,
    ports: &[u16],
    path: &str,
    timeout_secs: u32,
    step: &mut dyn FnMut(u16, Result<(), &str>),
) -> Result<(), String> {
    for &port in ports {
        let result = restart(remote, app, port).and_then(|_| check(remote, app, port, path, timeout_secs));
        match result {
            Ok(()) => step(port, Ok(())),
            Err(e) => {
                step(port, Err(&e));
                return Err(format!("tova-{app}@{port} failed its health check {path}: {e}"));
            }
        }
    }
    Ok(())
}

/// Stops and disables instances of the app on ports it no longer has.
pub(crate) fn stop_others(remote: &mut Remote, app: &str, ports: &[u16]) -> Result<Vec<u16>, String> {
    let keep: Vec<String> = ports.iter().map(u16::to_string).collect();
    let script = format!(
        r#"set -eu
keep=" {keep} "
for unit in $(systemctl list-units --all --plain --no-legend 'tova-{app}@*.service' 2>/dev/null | awk '{{print $1}}'); do
  port=${{unit#tova-{app}@}}; port=${{port%.service}}
  case "$keep" in *" $port "*) continue ;; esac
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
  echo "STOPPED $port"
done
"#,
        keep = keep.join(" ")
    );
    let out = remote.run("stopping old instances", &script, None)?;
    Ok(out.lines().filter_map(|l| l.strip_prefix("STOPPED ")?.trim().parse().ok()).collect())
}

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

pub(crate) fn instances(remote: &mut Remote, app: &str, ports: &[u16], path: &str) -> Result<Vec<Instance>, String> {
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
        let got = parse_instances("I|3000|active|134217728|1000|1|4600\nI|3001|failed|[not set]||0|4600\nnoise\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Instance { port: 3000, active: "active".into(), memory_bytes: Some(134217728), uptime_secs: Some(3600), healthy: true });
        assert_eq!(got[1].memory_bytes, None);
        assert!(!got[1].healthy);
        assert_eq!(human_duration(3 * 86400 + 7 * 3600 + 5), "3d 7h");
        assert_eq!(human_bytes(134217728), "128 MB");
    }

    #[test]
    fn health_script_gives_up_after_its_window() {
        // Nothing listens on this port: the script must fail, quickly.
        let mut r = Remote::local("local");
        let start = std::time::Instant::now();
        let out = r.exec(&health_script("ghost", 9, "/healthz", 1, 2), None).unwrap();
        assert!(!out.success());
        assert!(out.stderr_str().contains("/healthz did not answer within 2s"), "{}", out.stderr_str());
        assert!(start.elapsed().as_secs() < 10);
    }
}
