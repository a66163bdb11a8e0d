//! Run-wide and play-wide state: hosts with their connections, variable
//! layers in Ansible's precedence order, recap counters.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use super::connect::{self, Target};
use super::options::RunOptions;
use super::sink::Sink;
use super::stats::{HostStats, Outcome};
use super::vars::{HostData, HostVarsTable, Layer, Scope};
use crate::connection::Connection;
use crate::playbook::inventory::Inventory;
use crate::playbook::loader::Loader;
use crate::playbook::play::Play;
use crate::playbook::task::{Item, Keywords, Task};
use crate::playbook::templar::{Templar, OMIT};

/// A host during the run.
pub(crate) struct Session {
    pub(crate) target: Target,
    pub(crate) conn: Box<dyn Connection>,
}

pub(crate) struct HostRuntime {
    pub(crate) data: Arc<HostData>,
    /// The open session and the target it reaches: a task whose connection
    /// variables (ansible_user, remote_user, ...) name another target gets
    /// its own session, as Ansible opens a connection per task's settings.
    pub(crate) conn: Mutex<Option<Session>>,
    pub(crate) status: Mutex<HostStatus>,
    /// Handler names (and listen topics) notified and not yet run.
    pub(crate) notified: Mutex<IndexSet<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HostStatus {
    pub(crate) failed: bool,
    pub(crate) unreachable: bool,
    /// `meta: end_host` or the play ended for this host.
    pub(crate) ended: bool,
    /// How many times `meta: clear_host_errors` ran: a block's `always`
    /// does not bring back a failure cleared inside it.
    pub(crate) errors_cleared: u32,
}

impl HostStatus {
    pub(crate) fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }

    /// Whether the host takes part in what runs now: active, or failed
    /// while handlers run with force_handlers.
    pub(crate) fn takes_part(&self, forcing_handlers: bool) -> bool {
        self.active() || (forcing_handlers && !self.unreachable && !self.ended)
    }
}

impl HostRuntime {
    pub(crate) fn new(data: Arc<HostData>) -> HostRuntime {
        HostRuntime {
            data,
            conn: Mutex::new(None),
            status: Mutex::new(HostStatus::default()),
            notified: Mutex::new(IndexSet::new()),
        }
    }

    pub(crate) fn status(&self) -> HostStatus {
        *self.status.lock().expect("host status")
    }

    pub(crate) fn set_status(&self, f: impl FnOnce(&mut HostStatus)) {
        f(&mut self.status.lock().expect("host status"));
    }
}

pub(crate) struct RunState {
    pub(crate) opts: RunOptions,
    pub(crate) inventory: Inventory,
    pub(crate) templar: Arc<Templar>,
    pub(crate) loader: Loader,
    pub(crate) playbook_dir: PathBuf,
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) extra_vars: Arc<Map<String, Value>>,
    pub(crate) hosts: IndexMap<String, Arc<HostRuntime>>,
    /// The implicit localhost (for `delegate_to: localhost` when not in the inventory).
    pub(crate) localhost: Arc<HostRuntime>,
    pub(crate) hostvars: Arc<HostVarsTable>,
    pub(crate) stats: Mutex<IndexMap<String, HostStats>>,
    pub(crate) groups: Arc<Map<String, Value>>,
    pub(crate) pool: rayon::ThreadPool,
    pub(crate) inventory_paths: Vec<PathBuf>,
    /// Each task's wall time and its hosts' times, in run order (`--profile`).
    pub(crate) timings: Mutex<Vec<super::timing::TaskTiming>>,
}

impl RunState {
    pub(crate) fn record(&self, host: &str, outcome: Outcome) {
        self.stats
            .lock()
            .expect("stats")
            .entry(host.to_string())
            .or_default()
            .record(outcome);
    }

    /// Make sure a host appears in the recap even when every task skipped it.
    pub(crate) fn touch(&self, host: &str) {
        self.stats
            .lock()
            .expect("stats")
            .entry(host.to_string())
            .or_default();
    }

    pub(crate) fn host(&self, name: &str) -> Arc<HostRuntime> {
        self.hosts
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.localhost.clone())
    }

    /// Where a host's own variables say to connect (delegation and
    /// controller-side work use this; tasks resolve theirs from their scope).
    pub(crate) fn default_target(&self, host: &HostRuntime) -> Result<Target, String> {
        let scope = Arc::new(Scope::new(
            vec![
                Layer::Static(self.extra_vars.clone()),
                Layer::HostVars(host.data.clone()),
                Layer::HostFacts(host.data.clone()),
                Layer::HostInventory(host.data.clone()),
                Layer::Static(Arc::new(magic_for(&host.data.name, &self.inventory))),
            ],
            self.templar.clone(),
            Some(self.hostvars.clone()),
        ));
        let ctx = minijinja::Value::from_dyn_object(scope.clone());
        let templar = self.templar.clone();
        let get = move |k: &str| -> Option<Value> {
            let raw = scope.raw(k)?;
            templar.render_value(&raw, &ctx).ok()
        };
        connect::resolve(&host.data.name, &get, &self.opts, None)
    }
}

/// Per-host magic variables that do not depend on the play.
pub(crate) fn magic_for(name: &str, inventory: &Inventory) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("inventory_hostname".into(), Value::String(name.to_string()));
    m.insert(
        "inventory_hostname_short".into(),
        Value::String(name.split('.').next().unwrap_or(name).to_string()),
    );
    let groups = inventory
        .hosts
        .get(name)
        .map(|h| h.groups.clone())
        .unwrap_or_default();
    m.insert(
        "group_names".into(),
        Value::Array(
            groups
                .into_iter()
                .filter(|g| g != "ungrouped")
                .map(Value::String)
                .collect(),
        ),
    );
    m
}

/// Play-wide state: variable layers shared by every host, handlers.
pub(crate) struct PlayState {
    pub(crate) play: Play,
    pub(crate) play_vars: Arc<Map<String, Value>>,
    pub(crate) vars_files: Arc<Map<String, Value>>,
    pub(crate) role_defaults: Arc<Map<String, Value>>,
    pub(crate) role_vars: Arc<Map<String, Value>>,
    /// play_hosts, ansible_play_batch, groups, playbook_dir, ansible_check_mode, ...
    pub(crate) shared: Arc<Map<String, Value>>,
    /// Per-host magic variables (inventory_hostname, group_names).
    pub(crate) host_magic: IndexMap<String, Arc<Map<String, Value>>>,
    /// Handlers, including those of roles included at run time.
    pub(crate) handlers: Mutex<Vec<Item>>,
    /// Handlers (file:line) already warned unusable: a name that does not
    /// template and no listen topic.
    pub(crate) unusable_handlers: Mutex<IndexSet<String>>,
    pub(crate) strategy: super::options::Strategy,
    /// `ansible_play_hosts` (the play's hosts still active) and
    /// `ansible_play_batch` (the current batch's), updated as hosts fail.
    pub(crate) live_hosts: std::sync::RwLock<Arc<Map<String, Value>>>,
}

impl PlayState {
    pub(crate) fn new(
        run: &RunState,
        play: Play,
        play_vars: Map<String, Value>,
        vars_files: Map<String, Value>,
        strategy: super::options::Strategy,
        hosts: &[String],
    ) -> PlayState {
        let mut role_defaults = Map::new();
        let mut role_vars = Map::new();
        for r in &play.roles {
            role_defaults.extend(r.defaults.clone());
            role_vars.extend(r.vars.clone());
        }
        let mut shared = Map::new();
        shared.insert("groups".into(), Value::Object((*run.groups).clone()));
        let hosts_v = Value::Array(hosts.iter().cloned().map(Value::String).collect());
        shared.insert("ansible_play_hosts_all".into(), hosts_v);
        shared.insert("ansible_play_name".into(), Value::String(play.name.clone()));
        shared.insert("playbook_dir".into(), Value::String(abs(&run.playbook_dir)));
        shared.insert("ansible_check_mode".into(), Value::Bool(run.opts.check));
        shared.insert("ansible_diff_mode".into(), Value::Bool(run.opts.diff));
        shared.insert(
            "ansible_forks".into(),
            Value::from(run.pool.current_num_threads()),
        );
        shared.insert("ansible_verbosity".into(), Value::from(run.opts.verbose));
        shared.insert(
            "ansible_run_tags".into(),
            Value::Array(if run.opts.tags.is_empty() {
                vec![Value::String("all".into())]
            } else {
                run.opts.tags.iter().cloned().map(Value::String).collect()
            }),
        );
        shared.insert(
            "ansible_skip_tags".into(),
            Value::Array(
                run.opts
                    .skip_tags
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            ),
        );
        shared.insert("ansible_version".into(), serde_json::json!({"full": "2.19.0", "major": 2, "minor": 19, "revision": 0, "string": "2.19.0"}));
        shared.insert("omit".into(), Value::String(OMIT.into()));
        if let Some(inv) = run.inventory_file() {
            shared.insert("inventory_file".into(), Value::String(inv.clone()));
            shared.insert(
                "inventory_dir".into(),
                Value::String(
                    std::path::Path::new(&inv)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
            );
        }
        let host_magic = run
            .hosts
            .keys()
            .map(|h| (h.clone(), Arc::new(magic_for(h, &run.inventory))))
            .collect();
        let handlers = Mutex::new(play.handlers.clone());
        PlayState {
            play,
            play_vars: Arc::new(play_vars),
            vars_files: Arc::new(vars_files),
            role_defaults: Arc::new(role_defaults),
            role_vars: Arc::new(role_vars),
            shared: Arc::new(shared),
            host_magic,
            handlers,
            unusable_handlers: Mutex::new(IndexSet::new()),
            strategy,
            live_hosts: std::sync::RwLock::new(Arc::new(live_hosts_map(hosts, hosts))),
        }
    }

    /// Sets `ansible_play_hosts` and `ansible_play_batch` (and the old
    /// `play_hosts`) from the hosts still active.
    pub(crate) fn set_live_hosts(&self, play_hosts: &[String], batch: &[String]) {
        *self.live_hosts.write().expect("live hosts") = Arc::new(live_hosts_map(play_hosts, batch));
    }

    /// The variable scope of a task on a host, highest precedence first.
    pub(crate) fn scope(
        &self,
        run: &RunState,
        host: &Arc<HostRuntime>,
        task: &Task,
        kw: &Keywords,
        extra: &[Layer],
        item: Option<Layer>,
    ) -> Arc<Scope> {
        self.scope_with(run, host, task, kw, extra, item.into_iter().collect())
    }

    pub(crate) fn scope_with(
        &self,
        run: &RunState,
        host: &Arc<HostRuntime>,
        task: &Task,
        kw: &Keywords,
        extra: &[Layer],
        top: Vec<Layer>,
    ) -> Arc<Scope> {
        let mut layers: Vec<Layer> = top;
        let mut task_magic = Map::new();
        if let Some(role) = &task.role {
            task_magic.insert(
                "role_path".into(),
                Value::String(role.path.to_string_lossy().into_owned()),
            );
            // role_name is the short name; ansible_role_name a collection role's FQCN.
            task_magic.insert(
                "role_name".into(),
                Value::String(role.short_name().to_string()),
            );
            task_magic.insert("ansible_role_name".into(), Value::String(role.name.clone()));
        }
        // Where the task's relative files are looked for (role, task file, playbook).
        let search: Vec<Value> = self
            .search_paths(run, task)
            .into_iter()
            .map(|p| Value::String(p.to_string_lossy().into_owned()))
            .collect();
        task_magic.insert("ansible_search_path".into(), Value::Array(search));
        layers.push(Layer::Static(Arc::new(task_magic)));
        if let Some(m) = self.host_magic.get(&host.data.name) {
            layers.push(Layer::Static(m.clone()));
        } else {
            layers.push(Layer::Static(Arc::new(magic_for(
                &host.data.name,
                &run.inventory,
            ))));
        }
        layers.push(Layer::Static(run.extra_vars.clone()));
        layers.extend(extra.iter().cloned());
        if let Some(role) = &task.role {
            if !role.params.is_empty() {
                layers.push(Layer::Static(Arc::new(role.params.clone())));
            }
        }
        layers.push(Layer::HostVars(host.data.clone()));
        if !kw.vars.is_empty() {
            layers.push(Layer::Static(Arc::new(kw.vars.clone())));
        }
        if let Some(role) = &task.role {
            if !role.vars.is_empty() {
                layers.push(Layer::Static(Arc::new(role.vars.clone())));
            }
        }
        layers.push(Layer::Static(self.role_vars.clone()));
        layers.push(Layer::Static(self.vars_files.clone()));
        layers.push(Layer::Static(self.play_vars.clone()));
        layers.push(Layer::HostFacts(host.data.clone()));
        layers.push(Layer::HostInventory(host.data.clone()));
        if let Some(role) = &task.role {
            if !role.defaults.is_empty() {
                layers.push(Layer::Static(Arc::new(role.defaults.clone())));
            }
        }
        layers.push(Layer::Static(self.role_defaults.clone()));
        layers.push(Layer::Static(
            self.live_hosts.read().expect("live hosts").clone(),
        ));
        layers.push(Layer::Static(self.shared.clone()));
        // The connection's address, defined for the task even when the
        // inventory names none (Ansible's task vars carry it; hostvars do not).
        let mut conn = Map::new();
        conn.insert("ansible_host".into(), Value::String(host.data.name.clone()));
        layers.push(Layer::Static(Arc::new(conn)));
        Arc::new(Scope::new(
            layers,
            run.templar.clone(),
            Some(run.hostvars.clone()),
        ))
    }

    /// Controller folders searched for a task's `src` files (role first).
    pub(crate) fn search_paths(&self, run: &RunState, task: &Task) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(role) = &task.role {
            paths.push(role.path.clone());
        }
        if let Some(dir) = task.file.parent() {
            paths.push(dir.to_path_buf());
        }
        paths.push(run.playbook_dir.clone());
        paths
    }
}

fn live_hosts_map(play_hosts: &[String], batch: &[String]) -> Map<String, Value> {
    let list = |h: &[String]| Value::Array(h.iter().cloned().map(Value::String).collect());
    let mut m = Map::new();
    m.insert("ansible_play_hosts".into(), list(play_hosts));
    m.insert("play_hosts".into(), list(batch));
    m.insert("ansible_play_batch".into(), list(batch));
    m
}

fn abs(p: &std::path::Path) -> String {
    p.canonicalize()
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

impl RunState {
    pub(crate) fn inventory_file(&self) -> Option<String> {
        self.inventory_paths.first().map(|p| abs(p))
    }
}
