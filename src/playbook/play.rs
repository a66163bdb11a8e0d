//! Plays and playbooks.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::role::Role;
use super::task::{Item, Keywords};

#[derive(Debug, Clone)]
pub(crate) struct Play {
    pub(crate) name: String,
    pub(crate) hosts: String,
    pub(crate) vars: Map<String, Value>,
    pub(crate) vars_files: Vec<Value>,
    /// `vars_prompt` entries (`name`, `prompt`, `private`, `default`).
    pub(crate) vars_prompt: Vec<Value>,
    pub(crate) pre_tasks: Vec<Item>,
    /// Role tasks first, then the play's `tasks`.
    pub(crate) tasks: Vec<Item>,
    pub(crate) post_tasks: Vec<Item>,
    pub(crate) handlers: Vec<Item>,
    pub(crate) roles: Vec<Arc<Role>>,
    pub(crate) serial: Vec<Value>,
    pub(crate) max_fail_percentage: Option<f64>,
    pub(crate) any_errors_fatal: bool,
    /// `gather_facts:` when the play sets it (else ansible.cfg `gathering` decides).
    pub(crate) gather_facts: Option<bool>,
    pub(crate) strategy: Option<String>,
    /// `force_handlers:` as the play says it (unset: --force-handlers decides).
    pub(crate) force_handlers: Option<bool>,
    pub(crate) keywords: Keywords,
    pub(crate) file: Arc<PathBuf>,
    pub(crate) line: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Playbook {
    pub(crate) dir: PathBuf,
    pub(crate) plays: Vec<Play>,
}
