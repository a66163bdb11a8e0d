//! The Ansible model: inventory, plays, roles, tasks, variables and templating.

pub(crate) mod filters;
pub(crate) mod jinja_tests;
pub(crate) mod lookups;
pub(crate) mod templar;
