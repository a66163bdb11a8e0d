//! Roles: `roles/<r>/{tasks,handlers,defaults,vars,meta}/main.yml`, `templates/`, `files/`.

use std::path::PathBuf;

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
