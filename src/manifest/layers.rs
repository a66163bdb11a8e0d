//! Per-layer fingerprints: a sha1 over a canonical JSON of exactly the fields a
//! provisioning layer depends on. Deploy compares them with the last release's
//! to skip layers whose inputs did not change.

use indexmap::IndexMap;
use serde_json::json;
use sha1::{Digest, Sha1};

use super::model::Manifest;

/// Layer names in provisioning order.
pub(crate) const LAYERS: &[&str] = &[
    "system",
    "databases",
    "app",
    "secrets",
    "proxy",
    "services",
    "module_retention",
];

/// The canonical input of each layer (keys in a fixed order, compact JSON).
pub(crate) fn layer_inputs(m: &Manifest) -> IndexMap<&'static str, serde_json::Value> {
    let mut out = IndexMap::new();
    out.insert(
        "system",
        json!({ "runtime": m.runtime, "tls": m.tls, "databases": {
            "postgres": m.databases.postgres.is_some(),
            "redis": m.databases.redis.is_some(),
            "sqlite": m.databases.sqlite.is_some(),
        }}),
    );
    out.insert(
        "databases",
        json!({ "app": m.app, "databases": m.databases }),
    );
    out.insert(
        "app",
        json!({
            "app": m.app, "bundle": m.bundle, "build": m.build, "start": m.start,
            "data_files": m.data_files, "keep_releases": m.keep_releases,
        }),
    );
    out.insert("secrets", json!({ "app": m.app, "secrets": m.secrets }));
    out.insert(
        "proxy",
        json!({
            "app": m.app, "domain": m.domain, "tls": m.tls, "instances": m.instances,
            "health": m.health, "proxy": m.proxy,
        }),
    );
    out.insert("services", json!({
        "app": m.app, "runtime": m.runtime, "instances": m.instances, "memory_bytes": m.memory_bytes,
        "restart_on_failure": m.restart_on_failure, "health": m.health, "start": m.start,
        // By name: the order they are declared in moves nothing on a host.
        "env_vars": m.env_vars.iter().collect::<std::collections::BTreeMap<_, _>>(), "databases": {
            "postgres": m.databases.postgres.is_some(),
            "redis": m.databases.redis.is_some(),
        },
    }));
    out.insert(
        "module_retention",
        json!({ "app": m.app, "module_retention_secs": m.module_retention_secs }),
    );
    debug_assert!(out.keys().eq(LAYERS.iter()));
    out
}

pub(crate) fn layer_hashes(m: &Manifest) -> IndexMap<&'static str, String> {
    layer_inputs(m)
        .into_iter()
        .map(|(layer, value)| {
            let canonical = serde_json::to_string(&value).expect("manifest values serialize");
            let digest = Sha1::digest(canonical.as_bytes());
            (layer, digest.iter().map(|b| format!("{b:02x}")).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::project::compile;
    use std::path::PathBuf;

    fn manifest(src: &str) -> Manifest {
        let mut d = Vec::new();
        let p = compile(
            "shop",
            vec![(PathBuf::from("app.tova"), src.to_owned())],
            &|_| true,
            &mut d,
        )
        .unwrap();
        // berth settings written in the block (runtime, module_retention) only warn.
        assert!(d.iter().all(|d| d.code == "B0126"), "{d:?}");
        p.manifests.into_values().next().unwrap()
    }

    const BASE: &str = "server { route GET \"/healthz\" => fn() { \"ok\" } }\ndeploy \"prod\" {\n  server: \"h\"\n  domain: \"a.com\"\n";

    fn changed(extra_a: &str, extra_b: &str) -> Vec<&'static str> {
        let a = layer_hashes(&manifest(&format!("{BASE}{extra_a}}}\n")));
        let b = layer_hashes(&manifest(&format!("{BASE}{extra_b}}}\n")));
        LAYERS.iter().copied().filter(|l| a[l] != b[l]).collect()
    }

    #[test]
    fn each_change_touches_only_its_layers() {
        assert_eq!(changed("", ""), Vec::<&str>::new());
        assert_eq!(changed("", "memory: \"1gb\"\n"), vec!["services"]);
        assert_eq!(
            changed("", "module_retention: \"30d\"\n"),
            vec!["module_retention"]
        );
        assert_eq!(changed("", "keep_releases: 3\n"), vec!["app"]);
        assert_eq!(changed("", "instances: 3\n"), vec!["proxy", "services"]);
        assert_eq!(
            changed("", "db { redis { } }\n"),
            vec!["system", "databases", "secrets", "services"]
        );
        assert_eq!(
            changed("", "runtime: \"node\"\n"),
            vec!["system", "services"]
        );
        // Servers and branch do not change what is provisioned.
        assert_eq!(changed("", "branch: \"develop\"\n"), Vec::<&str>::new());
    }

    #[test]
    fn hashes_are_sha1_hex_in_layer_order() {
        let h = layer_hashes(&manifest(&format!("{BASE}}}\n")));
        assert_eq!(h.keys().copied().collect::<Vec<_>>(), LAYERS);
        assert!(h
            .values()
            .all(|v| v.len() == 40 && v.chars().all(|c| c.is_ascii_hexdigit())));
    }
}
