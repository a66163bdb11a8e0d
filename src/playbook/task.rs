//! Tasks, blocks and their keywords, as loaded from YAML (untemplated).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::role::Role;

/// Task and block keywords (everything that is not the module).
pub(crate) const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "local_action",
    "args",
    "when",
    "loop",
    "loop_control",
    "register",
    "notify",
    "tags",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "no_log",
    "run_once",
    "delegate_to",
    "delegate_facts",
    "environment",
    "check_mode",
    "diff",
    "vars",
    "until",
    "retries",
    "delay",
    "listen",
    "any_errors_fatal",
    "connection",
    "remote_user",
    "timeout",
    "throttle",
    "collections",
    "module_defaults",
    "debugger",
    "block",
    "rescue",
    "always",
    "become_exe",
    "port",
    "async",
    "poll",
];

/// Keywords shared by tasks and blocks (blocks pass theirs down to their tasks).
#[derive(Debug, Clone, Default)]
pub(crate) struct Keywords {
    pub(crate) when: Vec<Value>,
    pub(crate) tags: Vec<String>,
    pub(crate) become_: Option<Value>,
    pub(crate) become_user: Option<Value>,
    pub(crate) ignore_errors: Option<Value>,
    pub(crate) ignore_unreachable: Option<Value>,
    pub(crate) no_log: Option<Value>,
    pub(crate) run_once: Option<Value>,
    pub(crate) delegate_to: Option<Value>,
    pub(crate) environment: Vec<Value>,
    pub(crate) check_mode: Option<Value>,
    pub(crate) diff: Option<Value>,
    pub(crate) any_errors_fatal: Option<Value>,
    pub(crate) vars: Map<String, Value>,
    pub(crate) remote_user: Option<Value>,
    /// `module_defaults` mappings, outermost first (a task's own last).
    pub(crate) module_defaults: Vec<Map<String, Value>>,
}

impl Keywords {
    /// Keywords of a child under this parent: lists accumulate, scalars are inherited when unset.
    pub(crate) fn inherit(&self, parent: &Keywords) -> Keywords {
        let mut k = self.clone();
        let mut when = parent.when.clone();
        when.extend(self.when.iter().cloned());
        k.when = when;
        let mut tags = parent.tags.clone();
        for t in &self.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        k.tags = tags;
        let mut env = parent.environment.clone();
        env.extend(self.environment.iter().cloned());
        k.environment = env;
        let mut defaults = parent.module_defaults.clone();
        defaults.extend(self.module_defaults.iter().cloned());
        k.module_defaults = defaults;
        let mut vars = parent.vars.clone();
        for (a, b) in &self.vars {
            vars.insert(a.clone(), b.clone());
        }
        k.vars = vars;
        macro_rules! inherit {
            ($($f:ident),*) => { $( if k.$f.is_none() { k.$f = parent.$f.clone(); } )* };
        }
        inherit!(
            become_,
            become_user,
            ignore_errors,
            ignore_unreachable,
            no_log,
            run_once,
            delegate_to,
            check_mode,
            diff,
            any_errors_fatal,
            remote_user
        );
        k
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) name: Option<String>,
    /// Module name as written (`ansible.builtin.copy` or `copy`).
    pub(crate) action: String,
    /// Module arguments, untemplated (free-form text under `_raw_params`).
    pub(crate) args: Map<String, Value>,
    pub(crate) keywords: Keywords,
    pub(crate) loop_: Option<Value>,
    /// `with_<lookup>` name when the loop came from `with_*`.
    pub(crate) loop_with: Option<String>,
    pub(crate) loop_control: Map<String, Value>,
    pub(crate) register: Option<String>,
    pub(crate) notify: Vec<String>,
    pub(crate) listen: Vec<String>,
    pub(crate) changed_when: Vec<Value>,
    pub(crate) failed_when: Vec<Value>,
    pub(crate) until: Vec<Value>,
    pub(crate) retries: Option<Value>,
    pub(crate) delay: Option<Value>,
    /// `async`: the time limit in seconds of a task run in the background; `poll`: seconds between checks (0: do not wait).
    pub(crate) async_: Option<Value>,
    pub(crate) poll: Option<Value>,
    pub(crate) file: Arc<PathBuf>,
    pub(crate) line: usize,
    pub(crate) role: Option<Arc<Role>>,
}

impl Task {
    /// A task of `action` with no arguments or keywords, at `file:line`
    /// (the implicit fact gathering, fixtures).
    pub(crate) fn bare(action: &str, file: Arc<PathBuf>, line: usize) -> Task {
        Task {
            name: None,
            action: action.to_string(),
            args: Map::new(),
            keywords: Keywords::default(),
            loop_: None,
            loop_with: None,
            loop_control: Map::new(),
            register: None,
            notify: Vec::new(),
            listen: Vec::new(),
            changed_when: Vec::new(),
            failed_when: Vec::new(),
            until: Vec::new(),
            retries: None,
            delay: None,
            async_: None,
            poll: None,
            file,
            line,
            role: None,
        }
    }

    /// The name shown in output: `role : name`, or the module name.
    pub(crate) fn display_name(&self) -> String {
        let base = self.name.clone().unwrap_or_else(|| self.action.clone());
        match &self.role {
            Some(r) => format!("{} : {}", r.name, base),
            None => base,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) block: Vec<Item>,
    pub(crate) rescue: Vec<Item>,
    pub(crate) always: Vec<Item>,
    pub(crate) keywords: Keywords,
    pub(crate) file: Arc<PathBuf>,
    pub(crate) line: usize,
}

/// An entry of a task list.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Task(Box<Task>),
    Block(Box<Block>),
}

impl Item {
    pub(crate) fn block(b: Block) -> Item {
        Item::Block(Box::new(b))
    }
}
