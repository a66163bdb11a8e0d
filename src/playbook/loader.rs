//! Loads playbooks, task files and roles from YAML into the model, with
//! static imports (`import_playbook`, `import_tasks`, `import_role`, `roles:`)
//! expanded at load time and every error naming `file:line` and a fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::play::{Play, Playbook};
use super::role::Role;
use super::task::{Block, Item, Keywords, Task, TASK_KEYWORDS};
use crate::diagnostic::{Diagnostic, Span};
use crate::modules;
use crate::yaml::{self, Node, NodeKind};

const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "vars_prompt",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "strategy",
    "tags",
    "environment",
    "check_mode",
    "diff",
    "remote_user",
    "connection",
    "force_handlers",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "order",
    "run_once",
    "throttle",
    "timeout",
    "collections",
    "module_defaults",
    "debugger",
    "fact_path",
    "port",
];

/// A role's loaded content.
#[derive(Debug, Clone)]
pub(crate) struct RoleContent {
    pub(crate) role: Arc<Role>,
    pub(crate) tasks: Vec<Item>,
    pub(crate) handlers: Vec<Item>,
    /// Its meta dependencies, all levels, in the order they run.
    pub(crate) deps: Vec<Arc<Role>>,
}

/// Loads playbook files. Shared by the runner for dynamic includes (cached).
#[derive(Debug, Default)]
pub(crate) struct Loader {
    pub(crate) playbook_dir: PathBuf,
    /// Extra role folders (ansible.cfg `roles_path`), searched after the playbook's.
    pub(crate) roles_path: Vec<PathBuf>,
    /// Collection folders (ansible.cfg `collections_path`, ANSIBLE_COLLECTIONS_PATH),
    /// searched after the playbook's own `collections/` for `ns.col.role` roles.
    pub(crate) collections_path: Vec<PathBuf>,
    /// `-e` variables: what an `import_playbook` name may be templated with (besides its own vars).
    pub(crate) extra_vars: Map<String, Value>,
    /// While a play loads: the variables its static imports may be templated
    /// with (the import_playbook entries' vars, then the play's own).
    static_vars: Mutex<Vec<Map<String, Value>>>,
    /// While a play's `roles:` load: the roles (folder and parameters)
    /// already in the play. A role there runs once, unless its meta says
    /// `allow_duplicates: true` or it is given other parameters.
    play_roles: Mutex<Option<Vec<(PathBuf, Map<String, Value>)>>>,
    cache: Mutex<HashMap<PathBuf, Arc<Node>>>,
}

type Result<T> = std::result::Result<T, Diagnostic>;

/// The files of a role a play or task asks for instead of each folder's
/// main (`tasks_from`, `handlers_from`, `vars_from`, `defaults_from`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RoleFrom {
    pub(crate) tasks: Option<String>,
    pub(crate) handlers: Option<String>,
    pub(crate) vars: Option<String>,
    pub(crate) defaults: Option<String>,
}

impl RoleFrom {
    /// From a role entry's or include_role's arguments.
    pub(crate) fn from_args(get: impl Fn(&str) -> Option<String>) -> RoleFrom {
        RoleFrom {
            tasks: get("tasks_from"),
            handlers: get("handlers_from"),
            vars: get("vars_from"),
            defaults: get("defaults_from"),
        }
    }
}

/// The file names Ansible tries for `NAME` in a role folder: as given when
/// it has an extension, else NAME.yml, NAME.yaml, NAME.json and NAME.
fn role_file_names(name: &str) -> Vec<String> {
    if name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".json") {
        vec![name.to_string()]
    } else {
        vec![
            format!("{name}.yml"),
            format!("{name}.yaml"),
            format!("{name}.json"),
            name.to_string(),
        ]
    }
}

fn err(
    code: &'static str,
    file: &Path,
    line: usize,
    msg: impl Into<String>,
    hint: impl Into<String>,
) -> Diagnostic {
    let source = std::fs::read_to_string(file).ok();
    Diagnostic::error(code, msg)
        .at(Span::line(file, line), source.as_deref())
        .hint(hint)
}

impl Loader {
    pub(crate) fn new(playbook_dir: &Path) -> Loader {
        Loader {
            playbook_dir: playbook_dir.to_path_buf(),
            roles_path: Vec::new(),
            collections_path: Vec::new(),
            extra_vars: Map::new(),
            static_vars: Mutex::new(Vec::new()),
            play_roles: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn read(&self, path: &Path) -> Result<Arc<Node>> {
        if let Some(n) = self.cache.lock().expect("loader cache").get(path) {
            return Ok(n.clone());
        }
        let node = Arc::new(yaml::load_file(path)?);
        self.cache
            .lock()
            .expect("loader cache")
            .insert(path.to_path_buf(), node.clone());
        Ok(node)
    }

    #[cfg(test)]
    pub(crate) fn load_playbook(path: &Path) -> Result<Playbook> {
        Loader::load_playbook_with(path, &[], &[], &Map::new())
    }

    /// Load a playbook, also searching `roles_path` for roles; `extra_vars`
    /// (`-e`) are what imported playbook names may be templated with.
    pub(crate) fn load_playbook_with(
        path: &Path,
        roles_path: &[PathBuf],
        collections_path: &[PathBuf],
        extra_vars: &Map<String, Value>,
    ) -> Result<Playbook> {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let mut loader = Loader::new(&dir);
        loader.roles_path = roles_path.to_vec();
        loader.collections_path = collections_path.to_vec();
        loader.extra_vars = extra_vars.clone();
        let plays = loader.load_plays(path, 0)?;
        Ok(Playbook { dir, plays })
    }

    fn load_plays(&self, path: &Path, depth: usize) -> Result<Vec<Play>> {
        if depth > 16 {
            return Err(err(
                "B0721",
                path,
                1,
                "import_playbook nests too deep (cycle?)",
                "remove the import cycle",
            ));
        }
        let node = self.read(path)?;
        let file = Arc::new(path.to_path_buf());
        let entries = match &node.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Scalar(Value::Null) => return Ok(Vec::new()),
            _ => {
                return Err(err(
                    "B0722",
                    path,
                    node.line,
                    "a playbook must be a list of plays",
                    "start each play with `- hosts: ...`",
                ))
            }
        };
        let mut plays = Vec::new();
        for entry in entries {
            let import = [
                "import_playbook",
                "ansible.builtin.import_playbook",
                "ansible.legacy.import_playbook",
            ]
            .iter()
            .find_map(|k| entry.get(k));
            if let Some(target) = import {
                plays.extend(self.import_playbook(path, entry, target, depth)?);
                continue;
            }
            plays.push(self.load_play(entry, &file)?);
        }
        Ok(plays)
    }

    /// `- import_playbook: NAME` with its `vars`, `when` and `tags`, as Ansible
    /// applies them: NAME templated with the entry's vars and `-e`; the vars
    /// override each imported play's; the conditions guard every task (and
    /// fact gathering); the tags are added to each play.
    fn import_playbook(
        &self,
        path: &Path,
        entry: &Node,
        target: &Node,
        depth: usize,
    ) -> Result<Vec<Play>> {
        for (k, v) in entry.as_map().into_iter().flatten() {
            if !matches!(
                k.as_str(),
                "import_playbook"
                    | "ansible.builtin.import_playbook"
                    | "ansible.legacy.import_playbook"
                    | "name"
                    | "vars"
                    | "when"
                    | "tags"
            ) {
                return Err(err(
                    "B0723",
                    path,
                    v.pos(),
                    format!("`{k}` is not valid on import_playbook"),
                    "import_playbook takes name, vars, when and tags",
                ));
            }
        }
        let raw = target.as_str().ok_or_else(|| {
            err(
                "B0723",
                path,
                entry.line,
                "import_playbook takes a file name",
                "write `- import_playbook: other.yml`",
            )
        })?;
        let file = Arc::new(path.to_path_buf());
        let vars = match entry.get("vars") {
            None => Map::new(),
            Some(v) => as_vars(v, &file, "vars")?,
        };
        let name =
            if raw.contains("{{") || raw.contains("{%") {
                let mut ctx = self.extra_vars.clone();
                for (k, v) in &vars {
                    ctx.entry(k.clone()).or_insert(v.clone());
                }
                let templar = crate::playbook::templar::Templar::new();
                match templar.render_str(
                    raw,
                    &crate::playbook::templar::Templar::context_shared(Arc::new(ctx)),
                ) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => return Err(err(
                        "B0723",
                        path,
                        target.pos(),
                        format!(
                            "cannot template the imported playbook's name `{raw}`: {}",
                            e.message
                        ),
                        "an import_playbook name may use its own `vars:` and `-e` variables only",
                    )),
                }
            } else {
                raw.to_string()
            };
        let keywords = parse_keywords(entry, &file)?;
        let sub = path.parent().unwrap_or(Path::new(".")).join(&name);
        self.static_vars
            .lock()
            .expect("static vars")
            .push(vars.clone());
        let loaded = self.load_plays(&sub, depth + 1);
        self.static_vars.lock().expect("static vars").pop();
        let mut plays = loaded?;
        for p in &mut plays {
            for (k, v) in &vars {
                p.vars.insert(k.clone(), v.clone());
            }
            let mut when = keywords.when.clone();
            when.append(&mut p.keywords.when);
            p.keywords.when = when;
            for t in &keywords.tags {
                if !p.keywords.tags.contains(t) {
                    p.keywords.tags.push(t.clone());
                }
            }
        }
        Ok(plays)
    }

    fn load_play(&self, node: &Node, file: &Arc<PathBuf>) -> Result<Play> {
        // The play's vars (under any import_playbook vars) for its static imports' names.
        let play_vars = match node.get("vars") {
            Some(v) => as_vars(v, file, "vars").unwrap_or_default(),
            None => Map::new(),
        };
        self.static_vars
            .lock()
            .expect("static vars")
            .insert(0, play_vars);
        let loaded = self.load_play_inner(node, file);
        self.static_vars.lock().expect("static vars").remove(0);
        loaded
    }

    /// A static import's name (`import_tasks`, `import_role`), templated as
    /// Ansible does at load time: with task vars, the play's and
    /// import_playbook's vars, and `-e`.
    fn static_name(
        &self,
        raw: &str,
        task_vars: &Map<String, Value>,
        file: &Path,
        line: usize,
    ) -> Result<String> {
        if !(raw.contains("{{") || raw.contains("{%")) {
            return Ok(raw.to_string());
        }
        let mut ctx = Map::new();
        for layer in self.static_vars.lock().expect("static vars").iter() {
            ctx.extend(layer.clone());
        }
        ctx.extend(task_vars.clone());
        ctx.extend(self.extra_vars.clone());
        let templar = crate::playbook::templar::Templar::new();
        match templar.render_str(raw, &crate::playbook::templar::Templar::context_shared(Arc::new(ctx))) {
            Ok(Value::String(s)) => Ok(s),
            Ok(other) => Ok(other.to_string()),
            Err(e) => Err(err(
                "B0733",
                file,
                line,
                format!("cannot template the imported name `{raw}`: {}", e.message),
                "a static import's name may use the play's vars, import_playbook vars, the task's vars and -e; use include_tasks/include_role for names known only at run time",
            )),
        }
    }

    fn load_play_inner(&self, node: &Node, file: &Arc<PathBuf>) -> Result<Play> {
        let map = node.as_map().ok_or_else(|| {
            err(
                "B0722",
                file,
                node.line,
                format!("a play must be a mapping, found {}", node.type_name()),
                "start each play with `- hosts: ...`",
            )
        })?;
        for (k, v) in map {
            if !PLAY_KEYWORDS.contains(&k.as_str()) {
                let hint = match suggest(k, PLAY_KEYWORDS) {
                    Some(s) => format!("did you mean `{s}`? tasks go under `tasks:`"),
                    None => "tasks go under `tasks:`; see the play keywords in the Ansible docs"
                        .to_string(),
                };
                return Err(err(
                    "B0724",
                    file,
                    v.pos(),
                    format!("`{k}` is not a valid play keyword"),
                    hint,
                ));
            }
        }
        let hosts = match node.get("hosts") {
            Some(h) => match &h.kind {
                NodeKind::Scalar(Value::String(s)) => s.clone(),
                NodeKind::Seq(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(":"),
                _ => {
                    return Err(err(
                        "B0725",
                        file,
                        h.pos(),
                        "`hosts` must be a pattern string or a list",
                        "write `hosts: web` or `hosts: [web, db]`",
                    ))
                }
            },
            None => {
                return Err(err(
                    "B0725",
                    file,
                    node.line,
                    "this play has no `hosts`",
                    "add `hosts: all` (or a group name) to the play",
                ))
            }
        };
        let mut keywords = parse_keywords(node, file)?;
        // Play vars have their own precedence level; they are not task vars.
        keywords.vars = Map::new();
        let mut handlers = Vec::new();
        let mut roles = Vec::new();
        let mut role_tasks = Vec::new();
        if let Some(r) = node.get("roles") {
            let list = r.as_seq().ok_or_else(|| {
                err(
                    "B0726",
                    file,
                    r.pos(),
                    "`roles` must be a list",
                    "write `roles: [name]` or a list of `- role: name`",
                )
            })?;
            *self.play_roles.lock().expect("play roles") = Some(Vec::new());
            let loaded: Result<Vec<(&Node, RoleContent)>> = list
                .iter()
                .map(|entry| Ok((entry, self.load_role_ref(entry, file, None)?)))
                .collect();
            *self.play_roles.lock().expect("play roles") = None;
            for (entry, content) in loaded? {
                // A play's roles export their vars to the whole play, dependencies first (Ansible's public roles).
                roles.extend(content.deps.iter().cloned());
                roles.push(content.role.clone());
                let (block, hs) = role_block(content, entry, file)?;
                role_tasks.push(block);
                handlers.extend(hs);
            }
        }
        let mut section = |key: &str| -> Result<Vec<Item>> {
            match node.get(key) {
                None => Ok(Vec::new()),
                Some(n) => self.parse_items(n, file, None, &mut handlers, &mut roles),
            }
        };
        let pre_tasks = section("pre_tasks")?;
        let mut tasks = section("tasks")?;
        let post_tasks = section("post_tasks")?;
        let play_handlers = match node.get("handlers") {
            None => Vec::new(),
            Some(n) => self.parse_handler_items(n, file, None, &mut handlers, &mut roles)?,
        };
        role_tasks.append(&mut tasks);
        // Play handlers come after role handlers in Ansible's lookup order? No: play handlers are
        // listed first; both are searched by name and run in definition order.
        let mut all_handlers = play_handlers;
        all_handlers.extend(handlers);
        let serial = match node.get("serial") {
            None => Vec::new(),
            Some(s) => match s.to_value() {
                Value::Array(a) => a,
                Value::Null => Vec::new(),
                v => vec![v],
            },
        };
        let max_fail_percentage = match node.get("max_fail_percentage").map(Node::to_value) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => Some(s.trim_end_matches('%').parse().map_err(|_| {
                err(
                    "B0727",
                    file,
                    node.line,
                    "max_fail_percentage must be a number",
                    "write `max_fail_percentage: 25`",
                )
            })?),
            Some(_) => {
                return Err(err(
                    "B0727",
                    file,
                    node.line,
                    "max_fail_percentage must be a number",
                    "write `max_fail_percentage: 25`",
                ))
            }
        };
        let vars = match node.get("vars") {
            None => Map::new(),
            Some(v) => as_vars(v, file, "vars")?,
        };
        let vars_files = match node.get("vars_files").map(Node::to_value) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(v) => vec![v],
        };
        let vars_prompt = match node.get("vars_prompt") {
            None => Vec::new(),
            Some(n) => match n.to_value() {
                Value::Array(items) if items.iter().all(|i| i.get("name").and_then(Value::as_str).is_some()) => items,
                Value::Null => Vec::new(),
                _ => {
                    return Err(err(
                        "B0747",
                        file,
                        n.pos(),
                        "`vars_prompt` must be a list of prompts with a `name`",
                        "write `vars_prompt:\n  - name: version\n    prompt: Which version?\n    private: false`",
                    ))
                }
            },
        };
        let bool_kw = |k: &str, default: bool| -> Result<bool> {
            match node.get(k) {
                None => Ok(default),
                Some(v) => crate::modules::args::to_bool(&v.to_value()).ok_or_else(|| {
                    err(
                        "B0728",
                        file,
                        v.pos(),
                        format!("`{k}` must be a boolean"),
                        format!("write `{k}: true` or `{k}: false`"),
                    )
                }),
            }
        };
        Ok(Play {
            name: node
                .get("name")
                .and_then(Node::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| hosts.clone()),
            hosts,
            vars,
            vars_files,
            vars_prompt,
            pre_tasks,
            tasks: role_tasks,
            post_tasks,
            handlers: all_handlers,
            roles,
            serial,
            max_fail_percentage,
            any_errors_fatal: bool_kw("any_errors_fatal", false)?,
            gather_facts: match node.get("gather_facts") {
                None => None,
                Some(_) => Some(bool_kw("gather_facts", true)?),
            },
            strategy: node
                .get("strategy")
                .and_then(Node::as_str)
                .map(str::to_string),
            force_handlers: match node.get("force_handlers") {
                None => None,
                Some(_) => Some(bool_kw("force_handlers", false)?),
            },
            keywords,
            file: file.clone(),
            line: node.line,
        })
    }

    /// Parse a task list (sequence of tasks/blocks).
    /// Parse a handlers list (or a file a handler includes or imports):
    /// blocks and roles are refused in it, at any depth of imports.
    pub(crate) fn parse_handler_items(
        &self,
        node: &Node,
        file: &Arc<PathBuf>,
        role: Option<&Arc<Role>>,
        handlers: &mut Vec<Item>,
        roles: &mut Vec<Arc<Role>>,
    ) -> Result<Vec<Item>> {
        let was = IN_HANDLERS.with(|f| f.replace(true));
        let parsed = self.parse_items(node, file, role, handlers, roles);
        IN_HANDLERS.with(|f| f.set(was));
        parsed
    }

    pub(crate) fn parse_items(
        &self,
        node: &Node,
        file: &Arc<PathBuf>,
        role: Option<&Arc<Role>>,
        handlers: &mut Vec<Item>,
        roles: &mut Vec<Arc<Role>>,
    ) -> Result<Vec<Item>> {
        if node.is_null() {
            return Ok(Vec::new());
        }
        if IN_HANDLERS.with(|f| f.get()) {
            refuse_in_handlers(node, file)?;
        }
        let list = node.as_seq().ok_or_else(|| {
            err(
                "B0730",
                file,
                node.line,
                format!("expected a list of tasks, found {}", node.type_name()),
                "start every task with `- name: ...`",
            )
        })?;
        let mut out = Vec::with_capacity(list.len());
        for entry in list {
            out.push(self.parse_item(entry, file, role, handlers, roles)?);
        }
        Ok(out)
    }

    fn parse_item(
        &self,
        node: &Node,
        file: &Arc<PathBuf>,
        role: Option<&Arc<Role>>,
        handlers: &mut Vec<Item>,
        roles: &mut Vec<Arc<Role>>,
    ) -> Result<Item> {
        let map = node.as_map().ok_or_else(|| {
            err(
                "B0731",
                file,
                node.line,
                format!("a task must be a mapping, found {}", node.type_name()),
                "write `- name: ...` followed by one module, e.g. `copy:`",
            )
        })?;
        if node.get("block").is_some() {
            for (k, v) in map {
                if !TASK_KEYWORDS.contains(&k.as_str())
                    || matches!(k.as_str(), "loop" | "register" | "async" | "poll")
                {
                    return Err(err("B0732", file, v.pos(), format!("`{k}` is not valid on a block"), "blocks take block/rescue/always and task keywords such as when, become, tags, vars"));
                }
            }
            let keywords = parse_keywords(node, file)?;
            let mut part = |k: &str| -> Result<Vec<Item>> {
                match node.get(k) {
                    None => Ok(Vec::new()),
                    Some(n) => self.parse_items(n, file, role, handlers, roles),
                }
            };
            let (mut block, mut rescue, mut always) =
                (part("block")?, part("rescue")?, part("always")?);
            // `notify` on a block: every task in it that names none notifies these.
            let notify: Vec<String> = match node.get("notify").map(Node::to_value) {
                Some(Value::String(s)) => vec![s],
                Some(Value::Array(a)) => a
                    .into_iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if !notify.is_empty() {
                for items in [&mut block, &mut rescue, &mut always] {
                    inherit_notify(items, &notify);
                }
            }
            return Ok(Item::block(Block {
                block,
                rescue,
                always,
                keywords,
                file: file.clone(),
                line: node.line,
            }));
        }
        let task = self.parse_task(node, file, role)?;
        let short = modules::short_name(&task.action).to_string();
        match short.as_str() {
            "import_tasks" => {
                let target = free_arg(&task, "file").ok_or_else(|| {
                    err(
                        "B0733",
                        file,
                        node.line,
                        "import_tasks needs a file name",
                        "write `import_tasks: other.yml`",
                    )
                })?;
                let target = self.static_name(&target, &task.keywords.vars, file, node.line)?;
                let path = self.resolve_tasks_file(&target, file, role).ok_or_else(|| {
                    err("B0734", file, node.line, format!("cannot find tasks file `{target}`"), "paths are relative to the including file (or the role's tasks/ folder)")
                })?;
                let sub_file = Arc::new(path.clone());
                let sub = self.read(&path)?;
                let items = self.parse_items(&sub, &sub_file, role, handlers, roles)?;
                Ok(Item::block(Block {
                    block: items,
                    rescue: Vec::new(),
                    always: Vec::new(),
                    keywords: task.keywords.clone(),
                    file: file.clone(),
                    line: node.line,
                }))
            }
            "import_role" => {
                let content = self.load_role_from_task(&task, file, node.line)?;
                // A play's roles export their vars to the whole play, dependencies first (Ansible's public roles).
                roles.extend(content.deps.iter().cloned());
                roles.push(content.role.clone());
                let mut role_handlers = content.handlers;
                give_vars(&mut role_handlers, &task.keywords.vars);
                handlers.extend(role_handlers);
                Ok(Item::block(Block {
                    block: content.tasks,
                    rescue: Vec::new(),
                    always: Vec::new(),
                    keywords: task.keywords.clone(),
                    file: file.clone(),
                    line: node.line,
                }))
            }
            _ => Ok(Item::Task(Box::new(task))),
        }
    }

    pub(crate) fn parse_task(
        &self,
        node: &Node,
        file: &Arc<PathBuf>,
        role: Option<&Arc<Role>>,
    ) -> Result<Task> {
        let map = node.as_map().expect("checked by caller");
        let mut module: Option<(String, &Node)> = None;
        let mut loop_: Option<Value> = None;
        let mut loop_with: Option<String> = None;
        for (k, v) in map {
            if TASK_KEYWORDS.contains(&k.as_str()) {
                continue;
            }
            if let Some(lookup) = k.strip_prefix("with_") {
                loop_ = Some(v.to_value());
                loop_with = Some(lookup.to_string());
                continue;
            }
            if let Some((prev, _)) = &module {
                return Err(err(
                    "B0735",
                    file,
                    v.pos(),
                    format!("this task has two modules: `{prev}` and `{k}`"),
                    format!("a task runs one module; if `{k}` is meant as a task keyword, check its spelling{}", suggest(k, TASK_KEYWORDS).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()),
                ));
            }
            module = Some((k.clone(), v));
        }
        let (action, args) = match module {
            Some((name, v)) => (name.clone(), module_args(&name, v, file)?),
            None => match node.get("action").or_else(|| node.get("local_action")) {
                Some(a) => parse_action(a, file)?,
                None => {
                    return Err(err(
                        "B0736",
                        file,
                        node.line,
                        "this task has no module",
                        "add a module such as `command:`, `copy:` or `debug:` (misspelled module names show up here too)",
                    ))
                }
            },
        };
        let mut args = args;
        if let Some(extra) = node.get("args") {
            match extra.to_value() {
                Value::Object(m) => args.extend(m),
                Value::Null => {}
                // `args: "{{ some_dict }}"`: a mapping at run time, merged under the task's own.
                Value::String(t) if modules::free_form::is_whole_template(&t) => {
                    args.insert(VARIABLE_PARAMS.into(), Value::String(t));
                }
                _ => {
                    return Err(err(
                        "B0737",
                        file,
                        extra.pos(),
                        "`args` must be a mapping",
                        "write `args:` followed by `key: value` lines",
                    ))
                }
            }
        }
        // Only Ansible's internal flags start with `_ansible_` (free-form
        // modules aside, whose arguments are a command line).
        if !matches!(
            modules::short_name(&action),
            "command" | "raw" | "script" | "shell"
        ) {
            if let Some(k) = args.keys().find(|k| k.starts_with("_ansible_")) {
                return Err(err(
                    "B0749",
                    file,
                    node.line,
                    format!("Invalid parameter specified beginning with keyword '_ansible_' for action '{action}': '{k}'. The prefix '_ansible_' is reserved for internal use only."),
                    "rename it so it does not begin with `_ansible_`",
                ));
            }
        }
        let mut keywords = parse_keywords(node, file)?;
        if node.get("local_action").is_some() {
            keywords.delegate_to = Some(Value::String("localhost".into()));
        }
        if loop_.is_none() {
            loop_ = node.get("loop").map(Node::to_value);
        }
        let list = |k: &str| -> Vec<Value> {
            match node.get(k).map(Node::to_value) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a,
                Some(v) => vec![v],
            }
        };
        let strings = |k: &str| -> Vec<String> {
            list(k)
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect()
        };
        let loop_control = match node.get("loop_control").map(Node::to_value) {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => Map::new(),
            Some(_) => {
                return Err(err(
                    "B0738",
                    file,
                    node.line,
                    "`loop_control` must be a mapping",
                    "write `loop_control: {loop_var: item}`",
                ))
            }
        };
        let register = match node.get("register") {
            None => None,
            Some(r) => Some(
                r.as_str()
                    .filter(|s| is_identifier(s))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        err(
                            "B0739",
                            file,
                            r.pos(),
                            "`register` must be a variable name",
                            "write `register: result` (letters, digits, underscores)",
                        )
                    })?,
            ),
        };
        Ok(Task {
            name: node.get("name").map(|n| match n.to_value() {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            action,
            args,
            keywords,
            loop_,
            loop_with,
            loop_control,
            register,
            notify: strings("notify"),
            listen: strings("listen"),
            changed_when: list("changed_when"),
            failed_when: list("failed_when"),
            until: list("until"),
            retries: node.get("retries").map(Node::to_value),
            delay: node.get("delay").map(Node::to_value),
            async_: node.get("async").map(Node::to_value),
            poll: node.get("poll").map(Node::to_value),
            file: file.clone(),
            line: node.line,
            role: role.cloned(),
        })
    }

    /// Resolve a tasks file like Ansible: role `tasks/`, the including file's folder, the playbook folder.
    pub(crate) fn resolve_tasks_file(
        &self,
        name: &str,
        from: &Path,
        role: Option<&Arc<Role>>,
    ) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        let mut candidates = Vec::new();
        if let Some(r) = role {
            candidates.push(r.path.join("tasks").join(name));
            candidates.push(r.path.join(name));
        }
        if let Some(dir) = from.parent() {
            candidates.push(dir.join(name));
        }
        candidates.push(self.playbook_dir.join(name));
        candidates.into_iter().find(|c| c.is_file())
    }

    /// Find a role folder: `<playbook>/roles/<r>`, `<playbook>/../roles/<r>`, `<playbook>/<r>`, ANSIBLE_ROLES_PATH.
    pub(crate) fn find_role(&self, name: &str) -> Option<PathBuf> {
        let mut candidates = vec![
            self.playbook_dir.join("roles").join(name),
            self.playbook_dir.join("..").join("roles").join(name),
            self.playbook_dir.join(name),
        ];
        for p in &self.roles_path {
            candidates.push(p.join(name));
        }
        if let Ok(paths) = std::env::var("ANSIBLE_ROLES_PATH") {
            for p in paths.split(':').filter(|p| !p.is_empty()) {
                candidates.push(Path::new(p).join(name));
            }
        }
        if Path::new(name).is_absolute() {
            candidates.insert(0, PathBuf::from(name));
        }
        // `ns.col.role`: a role of an installed collection (Ansible looks
        // beside the playbook first, then the collections path).
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && !p.contains('/')) {
            let roots = std::iter::once(self.playbook_dir.join("collections"))
                .chain(self.collections_path.iter().cloned());
            for root in roots {
                let root = if root.ends_with("ansible_collections") {
                    root
                } else {
                    root.join("ansible_collections")
                };
                candidates.push(
                    root.join(parts[0])
                        .join(parts[1])
                        .join("roles")
                        .join(parts[2]),
                );
            }
        }
        candidates
            .into_iter()
            .find(|c| c.is_dir())
            .map(|c| normalize(&c))
    }

    fn load_role_ref(
        &self,
        entry: &Node,
        file: &Arc<PathBuf>,
        _parent: Option<&str>,
    ) -> Result<RoleContent> {
        let (name, params, from) = match &entry.kind {
            NodeKind::Scalar(Value::String(s)) => (s.clone(), Map::new(), RoleFrom::default()),
            NodeKind::Map(_) => {
                let name = entry
                    .get("role")
                    .or_else(|| entry.get("name"))
                    .and_then(Node::as_str)
                    .ok_or_else(|| {
                        err(
                            "B0740",
                            file,
                            entry.line,
                            "a role entry needs `role: NAME`",
                            "write `- role: name` or just `- name`",
                        )
                    })?;
                let mut params = Map::new();
                if let Value::Object(m) = entry.to_value() {
                    for (k, v) in m {
                        match k.as_str() {
                            "role" | "name" | "tags" | "when" | "become" | "become_user"
                            | "tasks_from" | "handlers_from" | "defaults_from" | "vars_from"
                            | "environment" | "delegate_to" | "ignore_errors" | "no_log"
                            | "check_mode" | "diff" => {}
                            "vars" => {
                                if let Value::Object(vm) = v {
                                    params.extend(vm);
                                }
                            }
                            _ => {
                                params.insert(k, v);
                            }
                        }
                    }
                }
                (
                    name.to_string(),
                    params,
                    RoleFrom::from_args(|k| {
                        entry.get(k).and_then(Node::as_str).map(str::to_string)
                    }),
                )
            }
            _ => {
                return Err(err(
                    "B0740",
                    file,
                    entry.line,
                    "a role entry must be a name or a mapping",
                    "write `- role: name`",
                ))
            }
        };
        let name = self.static_name(&name, &Map::new(), file, entry.line)?;
        self.load_role(&name, params, &from, file, entry.line, 0)
    }

    fn load_role_from_task(
        &self,
        task: &Task,
        file: &Arc<PathBuf>,
        line: usize,
    ) -> Result<RoleContent> {
        let name = task
            .args
            .get("name")
            .or_else(|| task.args.get("role"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                err(
                    "B0740",
                    file,
                    line,
                    format!("{} needs `name: ROLE`", modules::short_name(&task.action)),
                    "write `import_role: {name: myrole}`",
                )
            })?;
        let name = self.static_name(name, &task.keywords.vars, file, line)?;
        let mut from = RoleFrom::default();
        for (key, slot) in [
            ("tasks_from", &mut from.tasks),
            ("handlers_from", &mut from.handlers),
            ("vars_from", &mut from.vars),
            ("defaults_from", &mut from.defaults),
        ] {
            if let Some(t) = task.args.get(key).and_then(Value::as_str) {
                *slot = Some(self.static_name(t, &task.keywords.vars, file, line)?);
            }
        }
        self.load_role(&name, Map::new(), &from, file, line, 0)
    }

    /// Load a role with its meta dependencies (their tasks first).
    pub(crate) fn load_role(
        &self,
        name: &str,
        params: Map<String, Value>,
        from: &RoleFrom,
        file: &Path,
        line: usize,
        depth: usize,
    ) -> Result<RoleContent> {
        if depth > 16 {
            return Err(err(
                "B0741",
                file,
                line,
                format!("role dependencies of `{name}` nest too deep (cycle?)"),
                "remove the dependency cycle in meta/main.yml",
            ));
        }
        let path = self.find_role(name).ok_or_else(|| {
            err("B0742", file, line, format!("role `{name}` was not found"), format!("create roles/{name}/tasks/main.yml next to the playbook (or above it), or fix the name"))
        })?;
        // A folder's file: main, or the one asked for (which must exist).
        let role_file = |sub: &str, asked: &Option<String>| -> Result<Option<PathBuf>> {
            let names = match asked {
                Some(n) => role_file_names(n),
                None => vec![
                    "main.yml".into(),
                    "main.yaml".into(),
                    "main.json".into(),
                    "main".into(),
                ],
            };
            match (
                names
                    .iter()
                    .map(|n| path.join(sub).join(n))
                    .find(|p| p.is_file()),
                asked,
            ) {
                (Some(p), _) => Ok(Some(p)),
                (None, Some(n)) => Err(err(
                    "B0743",
                    file,
                    line,
                    format!("Could not find specified file in role: {sub}/{n}"),
                    format!("create {sub}/{n}.yml in role `{name}` or fix {sub}_from"),
                )),
                (None, None) => Ok(None),
            }
        };
        let read_vars = |sub: &str, asked: &Option<String>| -> Result<Map<String, Value>> {
            let Some(p) = role_file(sub, asked)? else {
                return Ok(Map::new());
            };
            let n = self.read(&p)?;
            let f = Arc::new(p.clone());
            match &n.kind {
                NodeKind::Scalar(Value::Null) => Ok(Map::new()),
                _ => as_vars(&n, &f, sub),
            }
        };
        let meta = path.join("meta").join("main.yml");
        let meta_node = if meta.is_file() {
            Some(self.read(&meta)?)
        } else {
            None
        };
        let allow_duplicates = meta_node
            .as_ref()
            .and_then(|m| m.get("allow_duplicates"))
            .is_some_and(|n| crate::modules::args::to_bool(&n.to_value()).unwrap_or(false));
        let duplicate = match self.play_roles.lock().expect("play roles").as_mut() {
            Some(seen) if !allow_duplicates => {
                let key = (path.clone(), params.clone());
                let dup = seen.contains(&key);
                if !dup {
                    seen.push(key);
                }
                dup
            }
            _ => false,
        };
        let role = Arc::new(Role {
            name: crate::playbook::role::collection_role_name(&path).unwrap_or_else(|| {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| name.to_string())
            }),
            defaults: read_vars("defaults", &from.defaults)?,
            vars: read_vars("vars", &from.vars)?,
            params,
            path: path.clone(),
        });
        if duplicate {
            // Already in this play with these parameters: it does not run again.
            return Ok(RoleContent {
                role,
                tasks: Vec::new(),
                handlers: Vec::new(),
                deps: Vec::new(),
            });
        }
        let mut tasks = Vec::new();
        let mut handlers = Vec::new();
        let mut roles_seen = Vec::new();
        let mut dep_roles = Vec::new();
        // meta dependencies
        if let Some(m) = meta_node {
            if let Some(deps) = m.get("dependencies").and_then(Node::as_seq) {
                let meta_file = Arc::new(meta.clone());
                for d in deps {
                    let (dname, dparams) = match &d.kind {
                        NodeKind::Scalar(Value::String(s)) => (s.clone(), Map::new()),
                        NodeKind::Map(_) => {
                            let n = d
                                .get("role")
                                .or_else(|| d.get("name"))
                                .and_then(Node::as_str)
                                .ok_or_else(|| {
                                    err(
                                        "B0740",
                                        &meta_file,
                                        d.line,
                                        "a dependency needs `role: NAME`",
                                        "write `- role: name`",
                                    )
                                })?;
                            let mut p = Map::new();
                            if let Value::Object(m) = d.to_value() {
                                for (k, v) in m {
                                    if k == "vars" {
                                        if let Value::Object(vm) = v {
                                            p.extend(vm);
                                        }
                                    } else if k != "role" && k != "name" {
                                        p.insert(k, v);
                                    }
                                }
                            }
                            (n.to_string(), p)
                        }
                        _ => continue,
                    };
                    // A dependency sees its parent's params, under its own (Ansible's get_role_params).
                    let mut inherited = role.params.clone();
                    inherited.extend(dparams);
                    let dep = self.load_role(
                        &dname,
                        inherited,
                        &RoleFrom::default(),
                        &meta,
                        d.line,
                        depth + 1,
                    )?;
                    dep_roles.extend(dep.deps.iter().cloned());
                    dep_roles.push(dep.role.clone());
                    let (block, hs) = role_block_plain(dep);
                    tasks.push(block);
                    handlers.extend(hs);
                }
            }
        }
        if let Some(tpath) = role_file("tasks", &from.tasks)? {
            let n = self.read(&tpath)?;
            let f = Arc::new(tpath.clone());
            tasks.extend(self.parse_items(&n, &f, Some(&role), &mut handlers, &mut roles_seen)?);
        }
        if let Some(hpath) = role_file("handlers", &from.handlers)? {
            let n = self.read(&hpath)?;
            let f = Arc::new(hpath.clone());
            let mut nested = Vec::new();
            handlers.extend(self.parse_handler_items(
                &n,
                &f,
                Some(&role),
                &mut nested,
                &mut roles_seen,
            )?);
            handlers.extend(nested);
        }
        Ok(RoleContent {
            role,
            tasks,
            handlers,
            deps: dep_roles,
        })
    }
}

fn inherit_notify(items: &mut [Item], notify: &[String]) {
    for item in items {
        match item {
            Item::Task(t) if t.notify.is_empty() => t.notify = notify.to_vec(),
            Item::Task(_) => {}
            Item::Block(b) => {
                for part in [&mut b.block, &mut b.rescue, &mut b.always] {
                    inherit_notify(part, notify);
                }
            }
        }
    }
}

/// Wrap a play-level role into a block carrying the role entry's keywords (tags, when, become...).
fn role_block(
    content: RoleContent,
    entry: &Node,
    file: &Arc<PathBuf>,
) -> Result<(Item, Vec<Item>)> {
    let keywords = match &entry.kind {
        NodeKind::Map(_) => {
            let mut k = parse_keywords(entry, file)?;
            k.vars = Map::new(); // role vars are params, handled on the role
            k
        }
        _ => Keywords::default(),
    };
    let (mut item, handlers) = role_block_plain(content);
    if let Item::Block(b) = &mut item {
        b.keywords = keywords;
        b.line = entry.line;
        b.file = file.clone();
    }
    Ok((item, handlers))
}

fn role_block_plain(content: RoleContent) -> (Item, Vec<Item>) {
    let file = Arc::new(content.role.path.join("tasks").join("main.yml"));
    (
        Item::block(Block {
            block: content.tasks,
            rescue: Vec::new(),
            always: Vec::new(),
            keywords: Keywords::default(),
            file,
            line: 1,
        }),
        content.handlers,
    )
}

thread_local! {
    /// Set while a handlers list (and what it imports) is parsed.
    static IN_HANDLERS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What ansible-core refuses in a handlers list when it parses it: a block,
/// include_role or import_role.
fn refuse_in_handlers(list: &Node, file: &Arc<PathBuf>) -> Result<()> {
    for entry in list.as_seq().into_iter().flatten() {
        let refused = if entry.get("block").is_some() {
            Some("Using a block as a handler is not supported.".to_string())
        } else {
            ["include_role", "import_role"].iter().find_map(|a| {
                ["", "ansible.builtin.", "ansible.legacy."]
                    .iter()
                    .map(|p| format!("{p}{a}"))
                    .find(|k| entry.get(k).is_some())
                    .map(|k| format!("Using '{k}' as a handler is not supported."))
            })
        };
        if let Some(msg) = refused {
            return Err(err(
                "B0750",
                file,
                entry.line,
                msg,
                "make the handler an include_tasks of a file holding the tasks",
            ));
        }
    }
    Ok(())
}

/// The vars of the task that imported or included a role reach its
/// handlers as they reach its tasks (a handler's own vars win).
pub(crate) fn give_vars(items: &mut [Item], vars: &Map<String, Value>) {
    if vars.is_empty() {
        return;
    }
    for item in items {
        match item {
            Item::Task(t) => {
                for (k, v) in vars {
                    t.keywords
                        .vars
                        .entry(k.clone())
                        .or_insert_with(|| v.clone());
                }
            }
            Item::Block(b) => {
                give_vars(&mut b.block, vars);
                give_vars(&mut b.rescue, vars);
                give_vars(&mut b.always, vars);
            }
        }
    }
}

fn free_arg(task: &Task, key: &str) -> Option<String> {
    task.args
        .get(key)
        .or_else(|| task.args.get("_raw_params"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The argument key holding a task's arguments given as one template.
pub(crate) const VARIABLE_PARAMS: &str = "_variable_params";

fn module_args(name: &str, v: &Node, file: &Path) -> Result<Map<String, Value>> {
    match v.to_value() {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        // `assert: "{{ item }}"`: the arguments come whole from a template
        // (a mapping, at run time), as Ansible allows for modules without free form.
        Value::String(s)
            if modules::free_form::is_whole_template(&s)
                && !modules::free_form::takes_free_form(name) =>
        {
            let mut m = Map::new();
            m.insert(VARIABLE_PARAMS.into(), Value::String(s));
            Ok(m)
        }
        Value::String(s) => Ok(modules::free_form::split_free_form(name, &s)),
        other @ (Value::Number(_) | Value::Bool(_)) => {
            let mut m = Map::new();
            m.insert(
                "_raw_params".into(),
                Value::String(match other {
                    Value::Bool(b) => {
                        if b {
                            "True".into()
                        } else {
                            "False".into()
                        }
                    }
                    o => o.to_string(),
                }),
            );
            Ok(m)
        }
        Value::Array(_) => Err(err(
            "B0744",
            file,
            v.pos(),
            format!("arguments of `{name}` must be a mapping or a string, found a list"),
            "write the module's arguments as `key: value` lines under it",
        )),
    }
}

fn parse_action(a: &Node, file: &Path) -> Result<(String, Map<String, Value>)> {
    match a.to_value() {
        Value::String(s) => {
            let s = s.trim();
            // A templated module name (`action: "{{ pkg_mgr }} name=x"`) is
            // one word up to its closing `}}`, chosen at run time.
            let (name, rest) = match s.strip_prefix("{{").and_then(|r| r.find("}}")) {
                Some(end) => (&s[..end + 4], s[end + 4..].trim_start()),
                None => s.split_once(char::is_whitespace).unwrap_or((s, "")),
            };
            Ok((
                name.to_string(),
                modules::free_form::split_free_form(name, rest),
            ))
        }
        Value::Object(mut m) => {
            let name = m
                .remove("module")
                .and_then(|v| v.as_str().map(str::to_string))
                .ok_or_else(|| {
                    err(
                        "B0745",
                        file,
                        a.line,
                        "`action` as a mapping needs `module:`",
                        "write `action: {module: copy, src: a, dest: b}`",
                    )
                })?;
            Ok((name, m))
        }
        _ => Err(err(
            "B0745",
            file,
            a.line,
            "`action` must be a string or a mapping",
            "write `action: copy src=a dest=b`",
        )),
    }
}

pub(crate) fn parse_keywords(node: &Node, file: &Path) -> Result<Keywords> {
    let get = |k: &str| node.get(k).map(Node::to_value);
    let list = |k: &str| -> Vec<Value> {
        match get(k) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(v) => vec![v],
        }
    };
    let tags: Vec<String> = list("tags")
        .into_iter()
        .flat_map(|v| match v {
            Value::String(s) => s
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>(),
            other => vec![other.to_string()],
        })
        .collect();
    let vars = match node.get("vars") {
        None => Map::new(),
        Some(v) => as_vars(v, file, "vars")?,
    };
    let environment = list("environment");
    let mut module_defaults = Vec::new();
    for d in list("module_defaults") {
        match d {
            Value::Object(m) => module_defaults.push(m),
            _ => {
                return Err(err("B0748", file, node.get("module_defaults").map(Node::pos).unwrap_or(node.line), "`module_defaults` must be a mapping (or a list of mappings) of module names to arguments", "write `module_defaults:\n  ansible.builtin.service:\n    enabled: true`"))
            }
        }
    }
    Ok(Keywords {
        when: list("when"),
        tags,
        become_: get("become"),
        become_user: get("become_user"),
        ignore_errors: get("ignore_errors"),
        ignore_unreachable: get("ignore_unreachable"),
        no_log: get("no_log"),
        run_once: get("run_once"),
        delegate_to: get("delegate_to"),
        environment,
        check_mode: get("check_mode"),
        diff: get("diff"),
        any_errors_fatal: get("any_errors_fatal"),
        vars,
        remote_user: get("remote_user"),
        module_defaults,
    })
}

fn as_vars(v: &Node, file: &Path, what: &str) -> Result<Map<String, Value>> {
    match v.to_value() {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            // Old-style list of single-key mappings.
            let mut m = Map::new();
            for i in items {
                if let Value::Object(o) = i {
                    m.extend(o);
                }
            }
            Ok(m)
        }
        _ => Err(err(
            "B0746",
            file,
            v.pos(),
            format!("`{what}` must be a mapping of variables"),
            "write `name: value` pairs",
        )),
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // Rank by edit distance, then by how many letters differ regardless of order
    // (so `taks` suggests `tasks` rather than `tags`).
    let letters = |s: &str| {
        let mut v: Vec<char> = s.chars().collect();
        v.sort_unstable();
        v
    };
    let mine = letters(word);
    let letter_diff = |c: &str| {
        let theirs = letters(c);
        let common = mine.iter().filter(|ch| theirs.contains(ch)).count();
        mine.len() + theirs.len() - 2 * common
    };
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), letter_diff(c), *c))
        .filter(|(d, _, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, _, c)| c)
}

fn normalize(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
    }

    #[test]
    fn collection_roles_load_by_fqcn_and_galaxy_names_keep_their_dots() {
        let d = tempfile::tempdir().unwrap();
        let extra = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                (
                    "site.yml",
                    "- hosts: all\n  roles:\n    - ns.col.web\n    - other.col.db\n    - geerling.nginx\n",
                ),
                ("collections/ansible_collections/ns/col/roles/web/tasks/main.yml", "- debug: msg=web\n"),
                ("roles/geerling.nginx/tasks/main.yml", "- debug: msg=nginx\n"),
            ],
        );
        write(
            extra.path(),
            &[(
                "ansible_collections/other/col/roles/db/tasks/main.yml",
                "- debug: msg=db\n",
            )],
        );
        let pb = Loader::load_playbook_with(
            &d.path().join("site.yml"),
            &[],
            &[extra.path().to_path_buf()],
            &Map::new(),
        )
        .unwrap();
        let names: Vec<(&str, &str)> = pb.plays[0]
            .roles
            .iter()
            .map(|r| (r.name.as_str(), r.short_name()))
            .collect();
        assert_eq!(
            names,
            [
                ("ns.col.web", "web"),
                ("other.col.db", "db"),
                ("geerling.nginx", "geerling.nginx")
            ]
        );
        // Not installed anywhere: the usual error.
        write(
            d.path(),
            &[("bad.yml", "- hosts: all\n  roles:\n    - ns.col.nope\n")],
        );
        let e = Loader::load_playbook(&d.path().join("bad.yml")).unwrap_err();
        assert!(
            e.to_string().contains("role `ns.col.nope` was not found"),
            "{e}"
        );
    }

    #[test]
    fn handlers_may_not_be_blocks_or_roles_even_through_imports() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                "- block:\n    - debug: msg=x\n",
                "Using a block as a handler is not supported.",
            ),
            (
                "- name: h\n  include_role: {name: r}\n",
                "Using 'include_role' as a handler is not supported.",
            ),
            (
                "- name: h\n  ansible.builtin.import_role: {name: r}\n",
                "Using 'ansible.builtin.import_role' as a handler is not supported.",
            ),
            (
                "- name: h\n  import_tasks: blocky.yml\n",
                "Using a block as a handler is not supported.",
            ),
        ];
        write(
            d.path(),
            &[("blocky.yml", "- block:\n    - debug: msg=x\n")],
        );
        for (handlers, want) in cases {
            let body = format!(
                "- hosts: all\n  handlers:\n{}",
                handlers
                    .lines()
                    .map(|l| format!("    {l}\n"))
                    .collect::<String>()
            );
            write(d.path(), &[("site.yml", &body)]);
            let e = Loader::load_playbook(&d.path().join("site.yml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("B0750") && e.contains(want), "{handlers}: {e}");
        }
        // include_tasks and import_tasks of plain tasks are fine, and a block among tasks too.
        write(d.path(), &[("plain.yml", "- debug: msg=x\n"), ("site.yml", "- hosts: all\n  tasks:\n    - block:\n        - debug: msg=y\n  handlers:\n    - name: h\n      import_tasks: plain.yml\n")]);
        assert!(Loader::load_playbook(&d.path().join("site.yml")).is_ok());
    }

    #[test]
    fn loads_plays_roles_blocks_and_imports() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                (
                    "site.yml",
                    "- hosts: all\n  gather_facts: no\n  roles:\n    - role: web\n      tags: [w]\n  tasks:\n    - import_tasks: extra.yml\n      when: x\n    - block:\n        - command: echo hi chdir=/tmp\n      rescue:\n        - debug: msg=r\n  handlers:\n    - name: h\n      debug: msg=h\n",
                ),
                ("extra.yml", "- name: e\n  copy: content=x dest=/tmp/x\n"),
                ("roles/web/tasks/main.yml", "- name: t\n  ansible.builtin.file:\n    path: /tmp/y\n    state: directory\n"),
                ("roles/web/handlers/main.yml", "- name: restart web\n  debug: msg=restart\n"),
                ("roles/web/defaults/main.yml", "port: 80\n"),
                ("roles/web/meta/main.yml", "dependencies:\n  - role: base\n"),
                ("roles/base/tasks/main.yml", "- name: base\n  ping:\n"),
            ],
        );
        let pb = Loader::load_playbook(&d.path().join("site.yml")).unwrap();
        let play = &pb.plays[0];
        assert_eq!(play.gather_facts, Some(false));
        assert_eq!(play.handlers.len(), 2);
        // A play's roles with their dependencies first (their vars are exported in this order).
        assert_eq!(
            play.roles
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["base", "web"]
        );
        assert_eq!(play.roles[1].defaults["port"], serde_json::json!(80));
        // role block, import block, user block
        assert_eq!(play.tasks.len(), 3);
        match &play.tasks[0] {
            Item::Block(b) => {
                assert_eq!(b.keywords.tags, vec!["w"]);
                assert_eq!(b.block.len(), 2); // dependency block + the role task
            }
            _ => panic!("role block expected"),
        }
        match &play.tasks[2] {
            Item::Block(b) => match &b.block[0] {
                Item::Task(t) => {
                    assert_eq!(t.args["chdir"], serde_json::json!("/tmp"));
                    assert_eq!(t.args["_raw_params"], serde_json::json!("echo hi"));
                    assert_eq!(t.line, 10);
                }
                _ => panic!(),
            },
            _ => panic!(),
        }
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[("p.yml", "- hosts: all\n  taks:\n    - ping:\n")],
        );
        let e = Loader::load_playbook(&d.path().join("p.yml")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("p.yml:2") || text.contains("p.yml:3"),
            "{text}"
        );
        assert!(text.contains("did you mean `tasks`"), "{text}");

        write(
            d.path(),
            &[(
                "q.yml",
                "- hosts: all\n  tasks:\n    - name: two\n      copy: {}\n      fle: {}\n",
            )],
        );
        let e = Loader::load_playbook(&d.path().join("q.yml")).unwrap_err();
        assert_eq!(e.code, "B0735");

        write(d.path(), &[("r.yml", "- hosts: all\n  roles: [nope]\n")]);
        let e = Loader::load_playbook(&d.path().join("r.yml")).unwrap_err();
        assert!(e.to_string().contains("role `nope` was not found"));

        // `_ansible_` names are Ansible's internal flags (its own error); a
        // command line may still say them.
        write(d.path(), &[("s.yml", "- hosts: all\n  tasks:\n    - name: reserved\n      set_fact:\n        _ansible_foo: bar\n")]);
        let e = Loader::load_playbook(&d.path().join("s.yml")).unwrap_err();
        assert_eq!(e.code, "B0749");
        assert!(e.to_string().contains("s.yml:3"), "{e}");
        assert!(e.to_string().contains("Invalid parameter specified beginning with keyword '_ansible_' for action 'set_fact': '_ansible_foo'. The prefix '_ansible_' is reserved for internal use only."), "{e}");
        write(
            d.path(),
            &[(
                "t.yml",
                "- hosts: all\n  tasks:\n    - shell: echo _ansible_x=1\n",
            )],
        );
        assert!(Loader::load_playbook(&d.path().join("t.yml")).is_ok());
    }
}
