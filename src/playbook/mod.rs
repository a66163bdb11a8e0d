//! The Ansible model: inventory, plays, roles, tasks, variables and templating.

pub(crate) mod clock;
pub(crate) mod collection_filters;
pub(crate) mod datetime;
pub(crate) mod filters;
pub(crate) mod inventory;
pub(crate) mod jinja_tests;
pub(crate) mod literals;
pub(crate) mod loader;
pub(crate) mod lookup_files;
pub(crate) mod lookup_url;
pub(crate) mod lookups;
pub(crate) mod path_filters;
pub(crate) mod play;
pub(crate) mod pprint;
pub(crate) mod py_random;
pub(crate) mod pyargs;
pub(crate) mod role;
pub(crate) mod task;
pub(crate) mod templar;
pub(crate) mod text_filters;
pub(crate) mod urls;
pub(crate) mod vault;
pub(crate) mod with_loops;
