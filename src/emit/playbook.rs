//! `playbooks/<env>.yml`: one play on the env's inventory group, every
//! app-specific value in `vars:` (sorted), roles in layer order each tagged
//! with its name. Optional features only add vars when present, so adding
//! postgres to an app adds postgres vars and nothing else moves.

use serde_json::{json, Map, Value};

use crate::emit::inventory::group_name;
use crate::emit::roles::LAYERS;
use crate::manifest::model::{AppKind, Batch, Manifest, Runtime, Tls};

/// First port of the default `tova_ports`; the deploy workflow overrides the
/// list with `-e` from the host registry.
pub(crate) const FIRST_PORT: u32 = 3000;

/// The server entry when the deploy block declares none.
pub(crate) const DEFAULT_START: &str = "app.server.js";

/// The playbook's YAML body (without the header).
pub(crate) fn playbook_yaml(m: &Manifest) -> String {
    let mut play = Map::new();
    play.insert("name".into(), json!(format!("Provision {} ({})", m.app, m.env)));
    play.insert("hosts".into(), json!(group_name(m)));
    play.insert("gather_facts".into(), json!(false));
    play.insert("become".into(), json!(true));
    if let Some(batch) = m.rolling {
        play.insert(
            "serial".into(),
            match batch {
                Batch::Count(n) => json!(n),
                Batch::Percent(p) => json!(format!("{p}%")),
            },
        );
    }
    if let Some(percent) = m.max_fail_percent {
        play.insert("max_fail_percentage".into(), json!(percent));
    }
    play.insert("vars".into(), Value::Object(vars(m)));
    let roles: Vec<Value> = roles_for(m).into_iter().map(|r| json!({"role": format!("../roles/{r}"), "tags": [r]})).collect();
    play.insert("roles".into(), Value::Array(roles));
    crate::emit::yaml_out::to_yaml(&Value::Array(vec![Value::Object(play)]))
}

/// Roles the app needs, in layer order: `databases` only when it has one;
/// a static app has no databases, secrets or services.
pub(crate) fn roles_for(m: &Manifest) -> Vec<&'static str> {
    let db = &m.databases;
    let has_db = db.postgres.is_some() || db.redis.is_some() || db.sqlite.is_some();
    let server = m.kind == AppKind::Server;
    LAYERS
        .into_iter()
        .filter(|r| match *r {
            "databases" => server && has_db,
            "secrets" | "services" => server,
            _ => true,
        })
        .collect()
}

/// The app paths as one anchored regular expression for Caddy's
/// `path_regexp`: `:param` is one segment, `*`/`*name` the rest. Literal
/// characters that mean something in a regex are written as a one-character
/// class (`[.]`), so the Caddyfile token needs neither quotes nor backslashes.
pub(crate) fn paths_regex(paths: &[String]) -> String {
    let alternatives: Vec<String> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .map(|seg| {
                    if seg.starts_with('*') {
                        ".*".to_owned()
                    } else if seg.starts_with(':') {
                        "[^/]+".to_owned()
                    } else {
                        seg.chars().map(|c| if ".+()$".contains(c) { format!("[{c}]") } else { c.to_string() }).collect()
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

/// Every app-specific value the roles read, sorted by name.
pub(crate) fn vars(m: &Manifest) -> Map<String, Value> {
    let mut v: Vec<(&str, Value)> = vec![
        ("tova_app", json!(m.app)),
        ("tova_env", json!(m.env)),
        ("tova_domain", json!(m.domain)),
        (
            "tova_tls",
            json!(match m.tls {
                Tls::Auto => "auto",
                Tls::Internal => "internal",
                Tls::Off => "off",
            }),
        ),
        ("tova_instances", json!(m.instances)),
        (
            "tova_ports",
            match m.kind {
                AppKind::Server => json!((0..m.instances.max(1)).map(|i| FIRST_PORT + i).collect::<Vec<_>>()),
                AppKind::Static => json!([]),
            },
        ),
        ("tova_memory_max", json!(m.memory_bytes)),
        ("tova_branch", json!(m.branch)),
        ("tova_health_path", json!(m.health.path)),
        ("tova_health_interval", json!(m.health.interval_secs)),
        ("tova_health_timeout", json!(m.health.timeout_secs)),
        ("tova_restart_on_failure", json!(m.restart_on_failure)),
        ("tova_keep_releases", json!(m.keep_releases)),
        ("tova_bundle", json!(m.bundle)),
        ("tova_start", json!(m.start.as_deref().unwrap_or(DEFAULT_START))),
        ("tova_module_retention_secs", json!(m.module_retention_secs)),
        ("tova_static_files", json!(m.proxy.static_files)),
        ("tova_app_server", json!(m.kind == AppKind::Server)),
        ("tova_document", json!(m.proxy.document)),
        ("tova_asset_prefix", json!(m.proxy.asset_prefix)),
    ];
    if !m.proxy.app_paths.is_empty() {
        v.push(("tova_app_paths", json!(m.proxy.app_paths)));
        v.push(("tova_app_paths_regex", json!(paths_regex(&m.proxy.app_paths))));
    }
    match &m.runtime {
        Runtime::Bun { url } => {
            v.push(("tova_runtime", json!("bun")));
            v.push(("tova_bun_url", json!(url)));
        }
        Runtime::Node => v.push(("tova_runtime", json!("node"))),
        Runtime::None => v.push(("tova_runtime", json!("none"))),
    }
    if let Some(build) = &m.build {
        v.push(("tova_build", json!(build)));
    }
    if !m.env_vars.is_empty() {
        let mut sorted: Vec<(&String, &String)> = m.env_vars.iter().collect();
        sorted.sort();
        let map: Map<String, Value> = sorted.into_iter().map(|(k, val)| (k.clone(), json!(val))).collect();
        v.push(("tova_env_vars", Value::Object(map)));
    }
    if let Some(pg) = &m.databases.postgres {
        v.push(("tova_postgres_db", json!(pg.name)));
        v.push(("tova_postgres_user", json!(pg.user)));
        v.push(("tova_postgres_port", json!(pg.port)));
        v.push(("tova_postgres_url_env", json!(pg.url_env)));
    }
    if let Some(redis) = &m.databases.redis {
        v.push(("tova_redis_prefix", json!(redis.prefix)));
        v.push(("tova_redis_url_env", json!(redis.url_env)));
        if let Some(max) = &redis.maxmemory {
            v.push(("tova_redis_maxmemory", json!(max)));
        }
    }
    if let Some(sqlite) = &m.databases.sqlite {
        v.push(("tova_sqlite_path", json!(normalize_rel(&sqlite.path))));
    }
    let lists = [
        ("tova_ws_paths", &m.proxy.websocket_paths),
        ("tova_sse_paths", &m.proxy.sse_paths),
        ("tova_cors_origins", &m.proxy.cors_origins),
        ("tova_secrets_required", &m.secrets.required),
        ("tova_secrets_auto", &m.secrets.auto),
    ];
    for (name, list) in lists {
        if !list.is_empty() {
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            v.push((name, json!(sorted)));
        }
    }
    if !m.data_files.is_empty() {
        v.push(("tova_data_files", data_files(m)));
    }
    if m.kind == AppKind::Static {
        // Nothing runs: the app server's settings would only be noise.
        const SERVER_VARS: &[&str] = &[
            "tova_health_interval", "tova_health_path", "tova_health_timeout", "tova_instances", "tova_memory_max",
            "tova_ports", "tova_restart_on_failure", "tova_start",
        ];
        v.retain(|(k, _)| !SERVER_VARS.contains(k));
    }
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.into_iter().map(|(k, val)| (k.to_string(), val)).collect()
}

/// Data files as `{name, src, dest}`: `src` relative to the project root,
/// `dest` the same path inside the app's data dir (the app's working
/// directory), so the app reads them where it read them in the project.
fn data_files(m: &Manifest) -> Value {
    let mut files: Vec<(String, String)> = m.data_files.iter().map(|f| (f.name.clone(), normalize_rel(&f.path))).collect();
    files.sort();
    files.dedup();
    let items: Vec<Value> = files.iter().map(|(name, path)| json!({"name": name, "src": path, "dest": path})).collect();
    Value::Array(items)
}

/// A project-relative path without `./` segments or a leading `/`.
fn normalize_rel(path: &str) -> String {
    path.split('/').filter(|s| !s.is_empty() && *s != ".").collect::<Vec<_>>().join("/")
}
