//! The Ansible model: inventory, plays, roles, tasks, variables and templating.

pub(crate) mod templar;
pub(crate) mod inventory;
