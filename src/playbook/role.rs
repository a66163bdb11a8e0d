//! Roles: `roles/<r>/{tasks,handlers,defaults,vars,meta}/main.yml`, `templates/`, `files/`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) defaults: Map<String, Value>,
    pub(crate) vars: Map<String, Value>,
    /// Parameters given where the role is used (`{role: x, vars: {...}}` or extra keys).
    pub(crate) params: Map<String, Value>,
}

impl Role {
    /// The name without a collection's namespace (Ansible's `role_name`,
    /// `role : task` forms); a Galaxy-style `user.role` folder keeps its dots.
    pub(crate) fn short_name(&self) -> &str {
        match collection_role_name(&self.path) {
            Some(_) => self.name.rsplit('.').next().unwrap_or(&self.name),
            None => &self.name,
        }
    }
}

/// A collection's role is named by its FQCN (`ns.col.role`), as Ansible
/// shows and matches it: `.../ansible_collections/NS/COL/roles/ROLE`.
pub(crate) fn collection_role_name(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [.., top, ns, col, roles, role] if top == "ansible_collections" && roles == "roles" => {
            Some(format!("{ns}.{col}.{role}"))
        }
        _ => None,
    }
}
