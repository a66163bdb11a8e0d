//! The Ansible model: inventory, plays, roles, tasks, variables and templating.

pub(crate) mod clock;
pub(crate) mod filters;
pub(crate) mod inventory;
pub(crate) mod jinja_tests;
pub(crate) mod literals;
pub(crate) mod loader;
pub(crate) mod lookups;
pub(crate) mod play;
pub(crate) mod role;
pub(crate) mod task;
pub(crate) mod templar;
pub(crate) mod with_loops;
