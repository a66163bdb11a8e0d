//! The Manifest Preview (seed 003 §2): what a deploy will provision, and
//! what changed since the last deploy on each host.

use crate::manifest::model::{Manifest, Runtime, Tls};

/// What one host has compared with this deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostDiff {
    pub(crate) host: String,
    /// The release live there (`v3`), if any.
    pub(crate) current: Option<String>,
    /// Layers whose inputs changed (all of them on a first deploy).
    pub(crate) changed_layers: Vec<String>,
    pub(crate) unchanged_layers: Vec<String>,
    /// Bundle files that differ from the live release.
    pub(crate) changed_files: usize,
    /// The app's ports there (allocated or to be allocated).
    pub(crate) ports: Vec<u16>,
    /// The registry confirms `current` went live (health-checked); false
    /// after a deploy interrupted between the flip and the health check.
    pub(crate) settled: bool,
}

impl HostDiff {
    pub(crate) fn nothing_changed(&self) -> bool {
        self.current.is_some()
            && self.settled
            && self.changed_layers.is_empty()
            && self.changed_files == 0
    }
}

/// Human names of the layers, as the plan prints them.
pub(crate) fn layer_label(layer: &str) -> &str {
    match layer {
        "system" => "system",
        "databases" => "database",
        "app" => "app layout",
        "secrets" => "secrets",
        "proxy" => "Caddy config",
        "services" => "services",
        "module_retention" => "module retention",
        other => other,
    }
}

pub(crate) fn port_range(ports: &[u16]) -> String {
    match ports {
        [] => "no ports".into(),
        [p] => format!("port {p}"),
        _ => {
            let contiguous = ports.windows(2).all(|w| w[1] == w[0] + 1);
            if contiguous {
                format!("ports {}-{}", ports[0], ports[ports.len() - 1])
            } else {
                format!(
                    "ports {}",
                    ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        }
    }
}

pub(crate) fn tls_label(tls: Tls) -> &'static str {
    match tls {
        Tls::Auto => "auto-SSL",
        Tls::Internal => "Caddy internal CA",
        Tls::Off => "plain HTTP",
    }
}

pub(crate) fn scheme(tls: Tls) -> &'static str {
    if tls == Tls::Off {
        "http"
    } else {
        "https"
    }
}

pub(crate) fn target_label(m: &Manifest) -> String {
    let first = m.servers.first().map(|s| match &s.user {
        Some(u) => format!("{u}@{}", s.host),
        None => s.host.clone(),
    });
    match (first, m.servers.len()) {
        (Some(f), 1) => f,
        (Some(f), n) => format!("{f} (+{} more)", n - 1),
        (None, _) => "(no server)".into(),
    }
}

/// The whole preview. `diffs` is empty when the hosts could not be read.
pub(crate) fn render(m: &Manifest, start: &str, diffs: &[HostDiff]) -> String {
    let mut out = String::new();
    let title = format!("Deploy plan for \"{}\" → {}", m.env, target_label(m));
    out.push_str(&format!(
        "{title}\n{}\n\n",
        "─".repeat(title.chars().count().max(45))
    ));
    let runtime = match &m.runtime {
        Runtime::Bun { url } => format!("Bun (from {url})"),
        Runtime::Node => "Node.js (Debian package)".into(),
        Runtime::None => "no runtime (static export)".into(),
    };
    row(
        &mut out,
        "System",
        &[format!("{runtime}, Caddy 2.x, UFW firewall (22, 80, 443)")],
    );
    let mut dbs = Vec::new();
    if let Some(p) = &m.databases.postgres {
        dbs.push(format!(
            "PostgreSQL ({} owned by {}, port {})",
            p.name, p.user, p.port
        ));
    }
    if let Some(r) = &m.databases.redis {
        dbs.push(format!("Redis (key prefix {})", r.prefix));
    }
    if let Some(s) = &m.databases.sqlite {
        dbs.push(format!("SQLite (data/{})", s.path));
    }
    row(
        &mut out,
        "Database",
        &[if dbs.is_empty() {
            "none".into()
        } else {
            dbs.join(", ")
        }],
    );
    let ports = diffs.first().map(|d| d.ports.clone()).unwrap_or_default();
    let instances = match m.app_instances() {
        0 => "no instances (static export)".to_string(),
        1 => "1 instance".to_string(),
        n => format!("{n} instances"),
    };
    let static_app = m.kind == crate::manifest::model::AppKind::Static;
    if static_app {
        row(
            &mut out,
            "App",
            &[format!("{instances}, bundle {}/ served by Caddy", m.bundle)],
        );
    } else {
        let on = if ports.is_empty() {
            "on ports from the host registry (3000+)".to_string()
        } else {
            format!("on {}", port_range(&ports))
        };
        row(
            &mut out,
            "App",
            &[format!(
                "{instances} {on}, entry {start}, bundle {}/",
                m.bundle
            )],
        );
    }
    row(
        &mut out,
        "Domain",
        &[format!("{} ({})", m.domain, tls_label(m.tls))],
    );
    let upstream = if ports.is_empty() {
        "app ports".to_string()
    } else {
        ports
            .iter()
            .map(|p| format!("localhost:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut proxy = if static_app {
        Vec::new()
    } else {
        vec![format!("HTTP → {upstream} (round-robin)")]
    };
    if m.proxy.document {
        proxy.push(format!(
            "Document index.html for client-side routes{}",
            if static_app { "" } else { " (navigations)" }
        ));
    }
    proxy.push(format!(
        "Bundle files {}* (content-hashed: immutable, kept {})",
        m.proxy.asset_prefix,
        crate::manifest::render::duration(m.module_retention_secs)
    ));
    for p in &m.proxy.websocket_paths {
        proxy.push(format!("WebSocket {p} → upgrade"));
    }
    for p in &m.proxy.sse_paths {
        proxy.push(format!("SSE {p} → streaming, no buffering"));
    }
    if !m.proxy.cors_origins.is_empty() {
        proxy.push(format!("CORS {}", m.proxy.cors_origins.join(", ")));
    }
    if m.proxy.static_files {
        proxy.push("Static files from current/public".into());
    }
    row(&mut out, "Proxy", &proxy);
    let mut secrets: Vec<String> = m
        .secrets
        .required
        .iter()
        .map(|s| format!("{s} (required)"))
        .collect();
    secrets.extend(m.secrets.auto.iter().map(|s| format!("{s} (auto)")));
    row(
        &mut out,
        "Secrets",
        &[if secrets.is_empty() {
            "none".into()
        } else {
            secrets.join(", ")
        }],
    );
    let env: Vec<String> = m.env_vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    row(
        &mut out,
        "Env",
        &[if env.is_empty() {
            "none".into()
        } else {
            env.join(", ")
        }],
    );
    if static_app {
        row(
            &mut out,
            "Health",
            &[format!(
                "the document at / through Caddy, keeping {} releases",
                m.keep_releases
            )],
        );
    } else {
        row(
            &mut out,
            "Health",
            &[format!(
                "{} every {}s (timeout {}s), keeping {} releases",
                m.health.path, m.health.interval_secs, m.health.timeout_secs, m.keep_releases
            )],
        );
    }
    if m.servers.len() > 1 {
        let batch = match m.rolling {
            None => "all hosts at once".to_string(),
            Some(crate::manifest::model::Batch::Count(n)) => format!("batches of {n}"),
            Some(crate::manifest::model::Batch::Percent(p)) => format!("batches of {p}%"),
        };
        let budget = m
            .max_fail_percent
            .map(|p| format!(", failure budget {p}%"))
            .unwrap_or_default();
        row(
            &mut out,
            "Fleet",
            &[format!("{} hosts, {batch}{budget}", m.servers.len())],
        );
    }
    out.push('\n');
    if diffs.is_empty() {
        out.push_str("  Hosts not read: changes since the last deploy are unknown\n");
    }
    let many = diffs.len() > 1;
    for d in diffs {
        let prefix = if many {
            format!("  {}: ", d.host)
        } else {
            "  ".to_string()
        };
        match &d.current {
            None => out.push_str(&format!("{prefix}First deploy: every layer runs\n")),
            Some(cur) => {
                if d.nothing_changed() {
                    out.push_str(&format!(
                        "{prefix}No changes since {cur}: nothing to deploy\n"
                    ));
                    continue;
                }
                if !d.unchanged_layers.is_empty() {
                    let names: Vec<&str> =
                        d.unchanged_layers.iter().map(|l| layer_label(l)).collect();
                    out.push_str(&format!(
                        "{prefix}No changes from last deploy: {}\n",
                        names.join(", ")
                    ));
                }
                let mut changed = Vec::new();
                if !d.settled {
                    changed.push(format!("{cur} was never confirmed healthy (restart)"));
                }
                if d.changed_files > 0 {
                    changed.push(format!(
                        "app bundle ({} file{})",
                        d.changed_files,
                        if d.changed_files == 1 { "" } else { "s" }
                    ));
                }
                changed.extend(d.changed_layers.iter().map(|l| layer_label(l).to_string()));
                out.push_str(&format!(
                    "{prefix}Changed since {cur}: {}\n",
                    changed.join(", ")
                ));
            }
        }
    }
    out
}

fn row(out: &mut String, label: &str, lines: &[String]) {
    for (i, line) in lines.iter().enumerate() {
        let head = if i == 0 {
            format!("{label}:")
        } else {
            String::new()
        };
        out.push_str(&format!("  {head:<11}{line}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::test_support::manifest;

    const SHOP: &str = r#"
security { auth jwt { secret: env("JWT_SECRET") } }
server {
  db { type: "postgres" }
  db { type: "redis" }
  ws { on_message: fn(s, m) { s.send(m) } }
  route GET "/healthz" => fn() { "ok" }
}
deploy "prod" {
  server: "root@159.65.100.42"
  domain: "myapp.com"
  instances: 2
  env { NODE_ENV: "production" }
}
"#;

    #[test]
    fn preview_of_a_first_and_a_later_deploy() {
        let m = manifest(SHOP);
        let first = HostDiff {
            host: "root@159.65.100.42".into(),
            current: None,
            changed_layers: vec!["system".into()],
            unchanged_layers: vec![],
            changed_files: 12,
            ports: vec![3000, 3001],
            settled: true,
        };
        let text = render(&m, "server.js", std::slice::from_ref(&first));
        let expected_lines = [
            "Deploy plan for \"prod\" → root@159.65.100.42",
            "  Database:  PostgreSQL (shop_db owned by tova_shop, port 5432), Redis (key prefix shop:)",
            "  App:       2 instances on ports 3000-3001, entry server.js, bundle .tova-out/",
            "  Domain:    myapp.com (auto-SSL)",
            "  Proxy:     HTTP → localhost:3000,localhost:3001 (round-robin)",
            "             WebSocket /ws → upgrade",
            "  Secrets:   JWT_SECRET (required), DATABASE_URL (auto), REDIS_URL (auto)",
            "  Env:       NODE_ENV=production",
            "  First deploy: every layer runs",
        ];
        for line in expected_lines {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let later = HostDiff {
            current: Some("v3".into()),
            changed_layers: vec!["proxy".into()],
            unchanged_layers: vec!["system".into(), "databases".into()],
            ..first
        };
        let text = render(&m, "server.js", std::slice::from_ref(&later));
        assert!(
            text.contains("  No changes from last deploy: system, database\n"),
            "{text}"
        );
        assert!(
            text.contains("  Changed since v3: app bundle (12 files), Caddy config\n"),
            "{text}"
        );
        let same = HostDiff {
            changed_layers: vec![],
            changed_files: 0,
            ..later
        };
        assert!(same.nothing_changed());
        let interrupted = HostDiff {
            settled: false,
            ..same.clone()
        };
        assert!(!interrupted.nothing_changed());
        assert!(render(&m, "server.js", &[interrupted])
            .contains("Changed since v3: v3 was never confirmed healthy (restart)"));
        assert!(render(&m, "server.js", &[same]).contains("No changes since v3: nothing to deploy"));
        assert!(render(&m, "server.js", &[]).contains("Hosts not read"));
    }

    #[test]
    fn ranges() {
        assert_eq!(port_range(&[3000]), "port 3000");
        assert_eq!(port_range(&[3000, 3001, 3002]), "ports 3000-3002");
        assert_eq!(port_range(&[3000, 3003]), "ports 3000,3003");
    }
}
