//! The compiled playbooks of one environment, all plain Ansible
//! (ansible.builtin only) and all reading one vars file:
//!
//! | file | what it does |
//! |---|---|
//! | `playbooks/vars/<env>.yml` | every app-specific value (sorted) |
//! | `playbooks/<env>.yml` | the deploy: a check of the whole fleet, the provisioning layers and the rollout (in `rolling` batches), pruning of client files |
//! | `playbooks/<env>.rollback.yml` | current back to an earlier release |
//! | `playbooks/<env>.remove.yml` | the app leaves its hosts, data archived |
//! | `playbooks/<env>.prune-modules.yml` | client files past `module_retention` |
//! | `playbooks/<env>.env.yml` | one value of `.env.production` set |
//! | `playbooks/<env>.unlock.yml` | the deploy lock a stopped run left, given back (`-e tova_run_id=ID`) |
//! | `playbooks/<env>.git.yml` | a bare repository whose hooks deploy pushes |
//!
//! Each provisioning layer is its role imported with the layer's name as
//! tag, so a run can skip layers whose inputs did not change; the release
//! steps carry the tag `release`. Optional features only add vars when
//! present, so adding postgres to an app adds postgres vars and nothing
//! else moves.

use serde_json::{json, Map, Value};

use crate::emit::inventory::group_name;
use crate::emit::roles::LAYERS;
use crate::manifest::model::{AppKind, Batch, Manifest, Runtime, Tls};

/// Where berth keeps its apps on a host (seed 003 §3); one variable.
pub(crate) const ROOT: &str = "/opt/tova";

/// The playbooks of an environment: (path under the output, YAML body).
pub(crate) fn playbooks(m: &Manifest, project_dir: &str) -> Vec<(String, String)> {
    let env = &m.env;
    let y = |plays: Vec<Value>| crate::emit::yaml_out::to_yaml(&Value::Array(plays));
    let one = |name: String, rolling: bool, tasks: Vec<Value>| {
        y(vec![Value::Object(play(m, &name, rolling, tasks))])
    };
    let app = &m.app;
    let mut out = vec![
        (
            format!("playbooks/vars/{env}.yml"),
            crate::emit::yaml_out::to_yaml(&Value::Object(vars_file(m, project_dir))),
        ),
        (format!("playbooks/{env}.yml"), y(deploy_plays(m))),
        (
            format!("playbooks/{env}.rollback.yml"),
            one(
                format!("Roll back {app} ({env})"),
                true,
                vec![
                    script_task(),
                    ports_task(),
                    role_task("Roll back", "app", Some("rollback"), &[]),
                ],
            ),
        ),
        (
            format!("playbooks/{env}.remove.yml"),
            one(
                format!("Remove {app} ({env}), archiving its data"),
                false,
                vec![
                    script_task(),
                    role_task("Remove the app", "app", Some("remove"), &[]),
                ],
            ),
        ),
        (
            format!("playbooks/{env}.prune-modules.yml"),
            one(
                format!("Prune client files of {app} ({env}) past module_retention"),
                false,
                vec![script_task(), prune_task()],
            ),
        ),
        (
            format!("playbooks/{env}.unlock.yml"),
            y(vec![Value::Object(unlock_play(m))]),
        ),
        (
            format!("playbooks/{env}.git.yml"),
            one(
                format!("Deploy {app} ({env}) on git push"),
                false,
                vec![
                    script_task(),
                    role_task("Set up the repository", "app", Some("git"), &[]),
                ],
            ),
        ),
    ];
    if m.kind == AppKind::Server {
        // A static app has no process and so no `.env.production`.
        out.push((
            format!("playbooks/{env}.env.yml"),
            one(
                format!("Set a value in .env.production of {app} ({env})"),
                true,
                vec![
                    script_task(),
                    ports_task(),
                    role_task("Set the value", "app", Some("env"), &[]),
                ],
            ),
        ));
    }
    out
}

/// The deploy: first every host at once (nothing changes unless the whole
/// fleet can take the release), then the layers and the rollout per
/// `rolling` batch, then pruning over the fleet.
fn deploy_plays(m: &Manifest) -> Vec<Value> {
    let env = &m.env;
    let mut check = play(
        m,
        &format!("Check {} ({env}) on every host before any change", m.app),
        false,
        vec![role_task(
            "Read the bundle and the hosts",
            "app",
            Some("prepare"),
            &["always"],
        )],
    );
    check.insert("any_errors_fatal".into(), json!(true));
    let tasks = check.remove("tasks").expect("tasks");
    check.insert("tasks".into(), tasks);
    let mut tasks = vec![ports_task()];
    let roles = roles_for(m);
    for layer in ["system", "databases", "app"] {
        if roles.contains(&layer) {
            tasks.push(role_task(layer_title(layer), layer, None, &[layer]));
        }
    }
    tasks.push(role_task(
        "Upload the release",
        "app",
        Some("release"),
        &["release"],
    ));
    for layer in ["secrets", "proxy", "services", "module_retention"] {
        if roles.contains(&layer) {
            tasks.push(role_task(layer_title(layer), layer, None, &[layer]));
        }
    }
    tasks.push(json!({"name": "Apply configuration changes before the rollout", "ansible.builtin.meta": "flush_handlers"}));
    tasks.push(role_task(
        "Roll out the release",
        "services",
        Some("rollout"),
        &["release"],
    ));
    tasks.push(role_task(
        "Finish the release",
        "app",
        Some("finish"),
        &["release"],
    ));
    // Each host gives the deploy lock back as its deploy ends, finished or
    // failed. (A run that stops early leaves it on the hosts it never
    // reached: `berth deploy` then runs `<env>.unlock.yml`.)
    tasks.push(unlock_task());
    let deploy_block = json!({
        "name": "Deploy the release",
        "block": tasks,
        "rescue": [
            unlock_task(),
            {
                "name": "Fail the host with the reason its deploy failed",
                "ansible.builtin.fail": {"msg": "{{ (ansible_failed_result.stderr | default('')) or (ansible_failed_result.msg | default('the deploy failed')) }}"},
                "tags": ["always"],
            },
        ],
    });
    let deploy = play(
        m,
        &format!("Deploy {} ({env})", m.app),
        true,
        vec![deploy_block],
    );
    let prune = play(
        m,
        &format!(
            "Prune client files of {} ({env}) past module_retention",
            m.app
        ),
        false,
        vec![prune_task()],
    );
    vec![
        Value::Object(check),
        Value::Object(deploy),
        Value::Object(prune),
    ]
}

fn layer_title(layer: &str) -> &'static str {
    match layer {
        "system" => "Provision the system",
        "databases" => "Provision the databases",
        "app" => "Lay out the app",
        "secrets" => "Check the secrets",
        "proxy" => "Configure the proxy",
        "services" => "Install the services",
        _ => "Keep versioned client files",
    }
}

/// One play on the env's group; `rolling` plays take `serial` and
/// `max_fail_percentage` from the deploy block.
fn play(m: &Manifest, name: &str, rolling: bool, tasks: Vec<Value>) -> Map<String, Value> {
    let mut play = Map::new();
    play.insert("name".into(), json!(name));
    play.insert("hosts".into(), json!(group_name(m)));
    play.insert("gather_facts".into(), json!(false));
    play.insert("become".into(), json!(true));
    if rolling {
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
    }
    play.insert("vars_files".into(), json!([format!("vars/{}.yml", m.env)]));
    play.insert("tasks".into(), Value::Array(tasks));
    play
}

fn role_task(name: &str, role: &str, tasks_from: Option<&str>, tags: &[&str]) -> Value {
    let mut import = Map::new();
    import.insert("name".into(), json!(role));
    if let Some(t) = tasks_from {
        import.insert("tasks_from".into(), json!(format!("{t}.yml")));
    }
    let mut task = Map::new();
    task.insert("name".into(), json!(name));
    task.insert("ansible.builtin.import_role".into(), Value::Object(import));
    if !tags.is_empty() {
        task.insert("tags".into(), json!(tags));
    }
    Value::Object(task)
}

/// The host side of the deploy, installed first by every playbook.
fn script_task() -> Value {
    role_task(
        "Install the deploy script",
        "app",
        Some("script"),
        &["always"],
    )
}

/// The app's ports, before anything that needs them (tag `always`: a run
/// limited to some layers still has them).
fn ports_task() -> Value {
    role_task("Read the app's ports", "app", Some("ports"), &["always"])
}

fn unlock_task() -> Value {
    role_task(
        "Give the deploy lock back",
        "app",
        Some("unlock"),
        &["always"],
    )
}

/// Gives back the deploy lock a run took (`-e tova_run_id=ID`) on every
/// host it still holds, for a run that stopped before its hosts did.
fn unlock_play(m: &Manifest) -> Map<String, Value> {
    let mut p = play(
        m,
        &format!(
            "Give back the deploy lock of {} ({}) a stopped run left",
            m.app, m.env
        ),
        false,
        vec![unlock_task()],
    );
    let tasks = p.remove("tasks").expect("tasks");
    p.insert("vars".into(), json!({"app_run_id": "{{ tova_run_id }}"}));
    p.insert("tasks".into(), tasks);
    p
}

/// Tagged `release`, not `module_retention`: a deploy that skips the
/// unchanged provisioning layers still prunes after its rollout.
fn prune_task() -> Value {
    role_task(
        "Prune client files",
        "module_retention",
        Some("prune"),
        &["release"],
    )
}

/// The vars file's body: the manifest's values, where things live on the
/// host (`tova_root` is the one root), the controller paths (`tova_project_dir`
/// relative to the playbooks) and the layers' fingerprints.
pub(crate) fn vars_file(m: &Manifest, project_dir: &str) -> Map<String, Value> {
    let mut v = vars(m);
    v.insert("tova_root".into(), json!(ROOT));
    v.insert(
        "tova_app_dir".into(),
        json!("{{ tova_root }}/apps/{{ tova_app }}"),
    );
    v.insert("tova_bin".into(), json!("{{ tova_app_dir }}/bin/tova"));
    v.insert("tova_project_dir".into(), json!(project_dir));
    v.insert(
        "tova_bundle_dir".into(),
        json!("{{ tova_project_dir }}/{{ tova_bundle }}"),
    );
    let layers: Map<String, Value> = crate::emit::layers::layer_hashes(m)
        .into_iter()
        .map(|(k, h)| (k.to_string(), json!(h)))
        .collect();
    v.insert("tova_layers".into(), Value::Object(layers));
    let mut sorted: Vec<(String, Value)> = v.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().collect()
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
                        seg.chars()
                            .map(|c| {
                                if ".+()$".contains(c) {
                                    format!("[{c}]")
                                } else {
                                    c.to_string()
                                }
                            })
                            .collect()
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
        ("tova_memory_max", json!(m.memory_bytes)),
        ("tova_branch", json!(m.branch)),
        ("tova_health_path", json!(m.health.path)),
        ("tova_health_interval", json!(m.health.interval_secs)),
        ("tova_health_timeout", json!(m.health.timeout_secs)),
        ("tova_restart_on_failure", json!(m.restart_on_failure)),
        ("tova_keep_releases", json!(m.keep_releases)),
        ("tova_bundle", json!(m.bundle)),
        ("tova_module_retention_secs", json!(m.module_retention_secs)),
        ("tova_static_files", json!(m.proxy.static_files)),
        ("tova_app_server", json!(m.kind == AppKind::Server)),
        ("tova_document", json!(m.proxy.document)),
        ("tova_asset_prefix", json!(m.proxy.asset_prefix)),
    ];
    if !m.proxy.app_paths.is_empty() {
        v.push(("tova_app_paths", json!(m.proxy.app_paths)));
        v.push((
            "tova_app_paths_regex",
            json!(paths_regex(&m.proxy.app_paths)),
        ));
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
    if let Some(start) = &m.start {
        // The server entry; without it the deploy takes Tova's first name in the bundle.
        v.push(("tova_start_setting", json!(start)));
    }
    if !m.env_vars.is_empty() {
        let mut sorted: Vec<(&String, &String)> = m.env_vars.iter().collect();
        sorted.sort();
        let map: Map<String, Value> = sorted
            .into_iter()
            .map(|(k, val)| (k.clone(), json!(val)))
            .collect();
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
        // (tova_health_timeout stays: the check through Caddy uses it.)
        const SERVER_VARS: &[&str] = &[
            "tova_health_interval",
            "tova_health_path",
            "tova_instances",
            "tova_memory_max",
            "tova_restart_on_failure",
            "tova_start_setting",
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
    let mut files: Vec<(String, String)> = m
        .data_files
        .iter()
        .map(|f| (f.name.clone(), normalize_rel(&f.path)))
        .collect();
    files.sort();
    files.dedup();
    let items: Vec<Value> = files
        .iter()
        .map(|(name, path)| json!({"name": name, "src": path, "dest": path}))
        .collect();
    Value::Array(items)
}

/// A project-relative path without `./` segments or a leading `/`.
fn normalize_rel(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}
