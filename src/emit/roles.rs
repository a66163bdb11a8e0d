//! The seven generic roles, in layer order. Their source is the top-level
//! `roles/` folder, plain Ansible files that `berth compile` writes into a
//! project byte for byte.

/// Roles in provisioning layer order (seed 003 §3, plus `/c/*` retention).
pub(crate) const LAYERS: [&str; 7] = [
    "system",
    "databases",
    "app",
    "secrets",
    "proxy",
    "services",
    "module_retention",
];

/// Every role file: path under `roles/` and its source.
pub(crate) const ROLE_FILES: &[(&str, &str)] = &[
    (
        "app/handlers/main.yml",
        include_str!("../../roles/app/handlers/main.yml"),
    ),
    (
        "app/tasks/env.yml",
        include_str!("../../roles/app/tasks/env.yml"),
    ),
    (
        "app/tasks/finish.yml",
        include_str!("../../roles/app/tasks/finish.yml"),
    ),
    (
        "app/tasks/git.yml",
        include_str!("../../roles/app/tasks/git.yml"),
    ),
    (
        "app/tasks/main.yml",
        include_str!("../../roles/app/tasks/main.yml"),
    ),
    (
        "app/tasks/ports.yml",
        include_str!("../../roles/app/tasks/ports.yml"),
    ),
    (
        "app/tasks/prepare.yml",
        include_str!("../../roles/app/tasks/prepare.yml"),
    ),
    (
        "app/tasks/release.yml",
        include_str!("../../roles/app/tasks/release.yml"),
    ),
    (
        "app/tasks/remove.yml",
        include_str!("../../roles/app/tasks/remove.yml"),
    ),
    (
        "app/tasks/rollback.yml",
        include_str!("../../roles/app/tasks/rollback.yml"),
    ),
    (
        "app/tasks/script.yml",
        include_str!("../../roles/app/tasks/script.yml"),
    ),
    (
        "app/tasks/unlock.yml",
        include_str!("../../roles/app/tasks/unlock.yml"),
    ),
    (
        "app/templates/post-receive.j2",
        include_str!("../../roles/app/templates/post-receive.j2"),
    ),
    (
        "app/templates/pre-receive.j2",
        include_str!("../../roles/app/templates/pre-receive.j2"),
    ),
    (
        "app/templates/tova.sh.j2",
        include_str!("../../roles/app/templates/tova.sh.j2"),
    ),
    (
        "databases/handlers/main.yml",
        include_str!("../../roles/databases/handlers/main.yml"),
    ),
    (
        "databases/tasks/main.yml",
        include_str!("../../roles/databases/tasks/main.yml"),
    ),
    (
        "databases/tasks/postgres.yml",
        include_str!("../../roles/databases/tasks/postgres.yml"),
    ),
    (
        "databases/tasks/redis.yml",
        include_str!("../../roles/databases/tasks/redis.yml"),
    ),
    (
        "databases/tasks/sqlite.yml",
        include_str!("../../roles/databases/tasks/sqlite.yml"),
    ),
    (
        "module_retention/tasks/main.yml",
        include_str!("../../roles/module_retention/tasks/main.yml"),
    ),
    (
        "module_retention/tasks/prune.yml",
        include_str!("../../roles/module_retention/tasks/prune.yml"),
    ),
    (
        "proxy/handlers/main.yml",
        include_str!("../../roles/proxy/handlers/main.yml"),
    ),
    (
        "proxy/tasks/main.yml",
        include_str!("../../roles/proxy/tasks/main.yml"),
    ),
    (
        "proxy/templates/app.caddy.j2",
        include_str!("../../roles/proxy/templates/app.caddy.j2"),
    ),
    (
        "secrets/tasks/main.yml",
        include_str!("../../roles/secrets/tasks/main.yml"),
    ),
    (
        "secrets/templates/env.j2",
        include_str!("../../roles/secrets/templates/env.j2"),
    ),
    (
        "services/handlers/main.yml",
        include_str!("../../roles/services/handlers/main.yml"),
    ),
    (
        "services/tasks/main.yml",
        include_str!("../../roles/services/tasks/main.yml"),
    ),
    (
        "services/tasks/rollout.yml",
        include_str!("../../roles/services/tasks/rollout.yml"),
    ),
    (
        "services/templates/app@.service.j2",
        include_str!("../../roles/services/templates/app@.service.j2"),
    ),
    (
        "services/templates/health.service.j2",
        include_str!("../../roles/services/templates/health.service.j2"),
    ),
    (
        "services/templates/health.sh.j2",
        include_str!("../../roles/services/templates/health.sh.j2"),
    ),
    (
        "services/templates/health.timer.j2",
        include_str!("../../roles/services/templates/health.timer.j2"),
    ),
    (
        "system/handlers/main.yml",
        include_str!("../../roles/system/handlers/main.yml"),
    ),
    (
        "system/tasks/main.yml",
        include_str!("../../roles/system/tasks/main.yml"),
    ),
    (
        "system/templates/Caddyfile.j2",
        include_str!("../../roles/system/templates/Caddyfile.j2"),
    ),
    (
        "system/vars/main.yml",
        include_str!("../../roles/system/vars/main.yml"),
    ),
];

/// The header of every generated file, in the comment syntax of its kind.
/// Jinja templates get a Jinja comment that trims itself, so rendered
/// files start with their own first line (a shebang stays first).
pub(crate) fn header(path: &str) -> String {
    const TEXT: &str = "Generated by `berth compile` from the project's .tova files; do not edit.";
    if path.ends_with(".j2") {
        format!("{{# {TEXT} -#}}\n")
    } else {
        format!("# {TEXT}\n# Change the .tova files and run `berth compile` again.\n")
    }
}

/// The role files as they are written: `roles/<role>/...` → bytes. They
/// carry their own header (the top-level `roles/` folder is their source).
pub(crate) fn role_files() -> Vec<(String, Vec<u8>)> {
    ROLE_FILES
        .iter()
        .map(|(rel, source)| (format!("roles/{rel}"), source.as_bytes().to_vec()))
        .collect()
}

/// The fingerprint of a role's files, for the layer hashes: a change to a
/// role (a new berth) runs its layer again.
pub(crate) fn role_digest(role: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    for (rel, source) in ROLE_FILES
        .iter()
        .filter(|(rel, _)| rel.starts_with(&format!("{role}/")))
    {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(source.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_has_tasks_and_every_file_is_listed() {
        for role in LAYERS {
            assert!(
                ROLE_FILES
                    .iter()
                    .any(|(p, _)| *p == format!("{role}/tasks/main.yml")),
                "{role}"
            );
        }
        // The embedded list matches the source tree, so no role file is forgotten.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("roles");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    on_disk.push(
                        path.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        on_disk.sort();
        let listed: Vec<String> = ROLE_FILES.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(listed, on_disk);
    }

    /// Every role file starts with the header that says where it comes from.
    #[test]
    fn every_role_file_says_it_is_generated() {
        for (path, source) in ROLE_FILES {
            let role = path.split('/').next().unwrap();
            let first = source.lines().next().unwrap_or("");
            let text = format!("berth role {role}, written into the project by `berth compile`");
            assert!(first.contains(&text), "{path}: {first}");
            if path.ends_with(".yml") {
                let _: serde_json::Value =
                    serde_yaml::from_str(source).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
    }
}
