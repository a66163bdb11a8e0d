//! Running one of the environment's committed playbooks for a deploy
//! command (`playbooks/<env>.yml`, `<env>.rollback.yml`, ...): the runner
//! executes exactly the reviewed files, reports through the deploy sink and
//! leaves each host's outcome. Values given to the run (secrets, the value
//! of `env set`) travel in memory as extra vars: never on a command line,
//! in a file or in a log.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::runner::options::RunOptions;

use super::target::{ConnectOpts, Target};
use super::ui::{DeploySink, RunReport, Ui};
use super::workflow::Loaded;

/// Which playbook of the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Deploy,
    Rollback,
    Remove,
    PruneModules,
    Env,
    Git,
    Unlock,
}

impl Which {
    pub(crate) fn file(self, env: &str) -> String {
        match self {
            Which::Deploy => format!("{env}.yml"),
            Which::Rollback => format!("{env}.rollback.yml"),
            Which::Remove => format!("{env}.remove.yml"),
            Which::PruneModules => format!("{env}.prune-modules.yml"),
            Which::Env => format!("{env}.env.yml"),
            Which::Git => format!("{env}.git.yml"),
            Which::Unlock => format!("{env}.unlock.yml"),
        }
    }
}

/// One run: the hosts it is limited to, the layers it skips, its extra vars.
pub(crate) struct Run<'a> {
    pub(crate) loaded: &'a Loaded,
    pub(crate) connect: &'a ConnectOpts,
    pub(crate) which: Which,
    pub(crate) targets: &'a [Target],
    pub(crate) skip_tags: Vec<String>,
    pub(crate) extra: Map<String, Value>,
    pub(crate) verbose: u8,
    pub(crate) ui: Arc<Ui>,
}

/// Extra vars every run gets: where berth's apps live on the hosts (when
/// not the default), the controller's clock for the store (`BERTH_NOW`, for
/// tests), and a local connection for the git hook on the server.
pub(crate) fn base_vars(c: &ConnectOpts) -> Map<String, Value> {
    let mut extra = Map::new();
    if c.layout.root != crate::emit::playbook::ROOT {
        extra.insert("tova_root".into(), json!(c.layout.root));
    }
    if let Some(t) = std::env::var("BERTH_NOW")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        extra.insert("tova_now".into(), json!(t));
    }
    if c.local {
        extra.insert("ansible_connection".into(), json!("local"));
    }
    extra
}

/// Runs the playbook; the runner's exit code and what each host reported.
pub(crate) fn run(r: Run<'_>) -> (i32, RunReport) {
    let m = &r.loaded.manifest;
    let c = r.connect;
    let fleet = m.servers.len() > 1;
    let prefixes: BTreeMap<String, String> = r
        .targets
        .iter()
        .map(|t| {
            (
                t.inventory_name.clone(),
                if fleet {
                    format!("[{}]", t.label)
                } else {
                    String::new()
                },
            )
        })
        .collect();
    let opts = RunOptions {
        limit: Some(
            r.targets
                .iter()
                .map(|t| t.inventory_name.clone())
                .collect::<Vec<_>>()
                .join(":"),
        ),
        skip_tags: r.skip_tags,
        private_key: c.private_key.clone(),
        known_hosts: c.known_hosts.clone(),
        host_key_checking: c.host_key_checking,
        host_key_checking_explicit: true,
        timeout: c.timeout_secs,
        verbose: r.verbose,
        // The project's roles, whatever folder berth runs from.
        roles_path: vec![r.loaded.dir.join("roles")],
        ..RunOptions::default()
    };
    let mut extra = base_vars(c);
    extra.extend(r.extra);
    let (sink, report) = DeploySink::new(r.ui.clone(), prefixes, r.verbose);
    let inv = crate::runner::Invocation {
        playbook: r.loaded.dir.join("playbooks").join(r.which.file(&m.env)),
        inventory: vec![r
            .loaded
            .dir
            .join("inventory")
            .join(format!("{}.yml", m.env))],
        extra_vars: extra,
        opts,
    };
    let code = crate::runner::execute(inv, Box::new(sink));
    let report = report.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (code, report)
}
