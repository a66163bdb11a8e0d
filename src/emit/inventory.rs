//! `inventory/<env>.yml`: the env's servers under one group named after the
//! app and env (`shop_prod`), each with `ansible_host`/`ansible_user`/`ansible_port`.

use serde_json::{json, Map, Value};

use crate::manifest::model::Manifest;

/// The inventory group of an app's env: `[a-z0-9_]`, as Ansible wants group names.
pub(crate) fn group_name(m: &Manifest) -> String {
    let raw = format!("{}_{}", m.app, m.env);
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The inventory's YAML body (without the header). Servers keep their
/// declared order (the rollout order of a fleet); two entries for the same
/// host get distinct inventory names (`host_port`).
pub(crate) fn inventory_yaml(m: &Manifest) -> String {
    let mut hosts = Map::new();
    for server in &m.servers {
        let mut vars = Map::new();
        vars.insert("ansible_host".into(), json!(server.host));
        if let Some(user) = &server.user {
            vars.insert("ansible_user".into(), json!(user));
        }
        vars.insert("ansible_port".into(), json!(server.port.unwrap_or(22)));
        let mut name = server.host.clone();
        if hosts.contains_key(&name) {
            name = format!("{}_{}", server.host, server.port.unwrap_or(22));
        }
        hosts.insert(name, Value::Object(vars));
    }
    let mut group = Map::new();
    group.insert("hosts".into(), Value::Object(hosts));
    let mut children = Map::new();
    children.insert(group_name(m), Value::Object(group));
    let doc = json!({"all": {"children": Value::Object(children)}});
    crate::emit::yaml_out::to_yaml(&doc)
}
