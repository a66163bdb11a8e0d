//! `berth manifest` output: a human summary or stable JSON (manifest fields in
//! model order, then the layer hashes).

use std::fmt::Write;

use super::layers::layer_hashes;
use super::model::{AppKind, Batch, Manifest, Runtime, Tls};

pub(crate) fn json(m: &Manifest) -> String {
    let mut value = serde_json::to_value(m).expect("manifest serializes");
    let layers: serde_json::Map<String, serde_json::Value> = layer_hashes(m)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    value
        .as_object_mut()
        .expect("manifest is an object")
        .insert("layers".to_owned(), layers.into());
    let mut out = serde_json::to_string_pretty(&value).expect("json");
    out.push('\n');
    out
}

pub(crate) fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{}gb", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{}mb", bytes >> 20)
    } else {
        format!("{}kb", bytes >> 10)
    }
}

pub(crate) fn duration(secs: u64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

pub(crate) fn human(m: &Manifest) -> String {
    let mut o = String::new();
    let targets: Vec<String> = m
        .servers
        .iter()
        .map(|t| {
            let user = t.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
            let host = if t.host.contains(':') {
                format!("[{}]", t.host)
            } else {
                t.host.clone()
            };
            let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{user}{host}{port}")
        })
        .collect();
    let row = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "  {k:<12} {v}");
    };
    let _ = writeln!(o, "Manifest for \"{}\" ({})", m.env, m.app);
    row(&mut o, "App:", &m.app);
    row(&mut o, "Servers:", &list(&targets));
    if targets.len() > 1 {
        let batch = match m.rolling {
            Some(Batch::Count(n)) => format!("{n} host(s) per batch"),
            Some(Batch::Percent(p)) => format!("{p}% of hosts per batch"),
            None => "all hosts at once".to_owned(),
        };
        let fail = m
            .max_fail_percent
            .map(|p| format!(", stop above {p}% failed"))
            .unwrap_or_default();
        row(&mut o, "Rollout:", &format!("{batch}{fail}"));
    }
    let tls = match m.tls {
        Tls::Auto => "auto-TLS via Let's Encrypt",
        Tls::Internal => "TLS from Caddy's internal CA",
        Tls::Off => "plain HTTP",
    };
    row(&mut o, "Domain:", &format!("{} ({tls})", m.domain));
    if m.kind == AppKind::Static {
        row(
            &mut o,
            "Kind:",
            "static export (no server block): Caddy serves the bundle, no runtime or instances",
        );
    }
    if m.kind == AppKind::Server {
        row(
            &mut o,
            "Instances:",
            &format!(
                "{} x {} memory, ports: {} consecutive from the server registry (3000+), stable across deploys",
                m.instances,
                size(m.memory_bytes),
                m.instances
            ),
        );
    }
    let runtime = match &m.runtime {
        Runtime::Bun { url } => format!("bun ({url})"),
        Runtime::Node => "node".to_owned(),
        Runtime::None => "none (static export served by Caddy)".to_owned(),
    };
    row(&mut o, "Runtime:", &runtime);
    let start = m
        .start
        .clone()
        .unwrap_or_else(|| "decided at deploy".to_owned());
    let build = m
        .build
        .clone()
        .map(|b| format!(", build: {b}"))
        .unwrap_or_default();
    if m.kind == AppKind::Server {
        row(
            &mut o,
            "Bundle:",
            &format!("{} (start: {start}{build})", m.bundle),
        );
    } else {
        row(&mut o, "Bundle:", &format!("{}{build}", m.bundle));
    }
    if m.kind == AppKind::Server {
        row(
            &mut o,
            "Health:",
            &format!(
                "{} every {}s, timeout {}s, restart on failure: {}",
                m.health.path,
                m.health.interval_secs,
                m.health.timeout_secs,
                if m.restart_on_failure { "yes" } else { "no" }
            ),
        );
    }
    row(
        &mut o,
        "Releases:",
        &format!("keep {}, branch {}", m.keep_releases, m.branch),
    );
    let mut dbs = Vec::new();
    if let Some(pg) = &m.databases.postgres {
        dbs.push(format!(
            "postgres (db {}, user {}, port {}, URL in {})",
            pg.name, pg.user, pg.port, pg.url_env
        ));
    }
    if let Some(r) = &m.databases.redis {
        let mm = r
            .maxmemory
            .as_ref()
            .map(|x| format!(", maxmemory {x}"))
            .unwrap_or_default();
        dbs.push(format!(
            "redis (prefix {}{mm}, URL in {})",
            r.prefix, r.url_env
        ));
    }
    if let Some(s) = &m.databases.sqlite {
        dbs.push(format!("sqlite ({} in the data dir)", s.path));
    }
    row(&mut o, "Databases:", &list(&dbs));
    let upstreams = match m.kind {
        AppKind::Server => format!("{} upstream(s), round-robin", m.instances),
        AppKind::Static => "static files".to_owned(),
    };
    let statics = if m.proxy.static_files && m.kind == AppKind::Server {
        ", static files"
    } else {
        ""
    };
    row(
        &mut o,
        "Proxy:",
        &format!("{} -> {upstreams}{statics}", m.domain),
    );
    let document = if m.proxy.document {
        "index.html for client-side routes"
    } else {
        "-"
    };
    row(&mut o, "  Document:", document);
    row(
        &mut o,
        "  Assets:",
        &format!(
            "{}* (content-hashed ones kept {})",
            m.proxy.asset_prefix,
            duration(m.module_retention_secs)
        ),
    );
    row(&mut o, "  App paths:", &list(&m.proxy.app_paths));
    row(&mut o, "  WebSocket:", &list(&m.proxy.websocket_paths));
    row(&mut o, "  SSE:", &list(&m.proxy.sse_paths));
    row(&mut o, "  CORS:", &list(&m.proxy.cors_origins));
    row(
        &mut o,
        "Secrets:",
        &format!(
            "required: {}; auto: {}",
            list(&m.secrets.required),
            list(&m.secrets.auto)
        ),
    );
    let env: Vec<String> = m.env_vars.keys().cloned().collect();
    row(&mut o, "Env:", &list(&env));
    let data: Vec<String> = m
        .data_files
        .iter()
        .map(|d| format!("{} ({})", d.path, d.name))
        .collect();
    row(&mut o, "Data files:", &list(&data));
    row(
        &mut o,
        "Modules:",
        &format!("/c/* kept {}", duration(m.module_retention_secs)),
    );
    let _ = writeln!(o, "  Layers:");
    for (layer, hash) in layer_hashes(m) {
        let _ = writeln!(o, "    {layer:<17} {hash}");
    }
    o
}
