//! The runner: plays, strategies, serial batches, handlers, recap.

pub(crate) mod ansible_cfg;
pub(crate) mod connect;
pub(crate) mod executor;
pub(crate) mod fact_cache;
pub(crate) mod facts;
pub(crate) mod options;
pub(crate) mod play_runner;
pub(crate) mod sink;
pub(crate) mod state;
pub(crate) mod stats;
pub(crate) mod timing;
pub(crate) mod vars;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::playbook::inventory::Inventory;
use crate::playbook::loader::Loader;
use crate::playbook::templar::Templar;
use options::{RunOptions, Strategy};
use sink::{HumanSink, JsonSink, Sink};
use state::{HostRuntime, RunState};
use vars::{HostData, HostVarsTable};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The playbook to run.
    pub(crate) playbook: PathBuf,
    /// Inventory file(s) or directories (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub(crate) inventory: Vec<PathBuf>,
    /// Further limit the hosts with a pattern.
    #[arg(short = 'l', long)]
    pub(crate) limit: Option<String>,
    /// Only run tasks tagged with these tags.
    #[arg(short = 't', long, value_delimiter = ',')]
    pub(crate) tags: Vec<String>,
    /// Skip tasks tagged with these tags.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub(crate) skip_tags: Vec<String>,
    /// Run only this role's tasks and handlers.
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Predict changes without making them.
    #[arg(short = 'C', long)]
    pub(crate) check: bool,
    /// Show file differences.
    #[arg(short = 'D', long)]
    pub(crate) diff: bool,
    /// Parallel hosts (default: min(hosts, 50)).
    #[arg(short = 'f', long)]
    pub(crate) forks: Option<usize>,
    /// linear (lockstep per task) or host_pinned (each host runs on its own).
    #[arg(long)]
    pub(crate) strategy: Option<String>,
    /// Extra variables: KEY=VALUE or @file.yml (repeatable; highest precedence).
    #[arg(short = 'e', long = "extra-vars")]
    pub(crate) extra_vars: Vec<String>,
    /// Remote user.
    #[arg(short = 'u', long)]
    pub(crate) user: Option<String>,
    /// Private key file.
    #[arg(long = "private-key", alias = "key-file")]
    pub(crate) private_key: Option<PathBuf>,
    /// known_hosts file (default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts")]
    pub(crate) known_hosts: Option<PathBuf>,
    /// strict, accept-new (default) or off.
    #[arg(long = "host-key-checking")]
    pub(crate) host_key_checking: Option<String>,
    /// Run tasks with privilege escalation (sudo) unless they say otherwise.
    #[arg(short = 'b', long = "become")]
    pub(crate) r#become: bool,
    /// The user to become (default root).
    #[arg(long = "become-user")]
    pub(crate) become_user: Option<String>,
    /// Ask for the privilege escalation (sudo) password, without echo.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub(crate) ask_become_pass: bool,
    /// Connection timeout in seconds.
    #[arg(short = 'T', long)]
    pub(crate) timeout: Option<u64>,
    /// One JSON object per line instead of human output.
    #[arg(long)]
    pub(crate) json: bool,
    /// Only check the playbook (and inventory) for errors; run nothing.
    #[arg(long = "syntax-check")]
    pub(crate) syntax_check: bool,
    /// List each play's hosts; run nothing.
    #[arg(long = "list-hosts")]
    pub(crate) list_hosts: bool,
    /// List each play's tasks (after tag and role filters); run nothing.
    #[arg(long = "list-tasks")]
    pub(crate) list_tasks: bool,
    /// Clear the fact cache for every host in the inventory first.
    #[arg(long = "flush-cache")]
    pub(crate) flush_cache: bool,
    /// Run notified handlers even on hosts where a task failed (plays that set
    /// force_handlers decide for themselves).
    #[arg(long = "force-handlers")]
    pub(crate) force_handlers: bool,
    /// At the end, where the time went: the slowest tasks and each host's
    /// total (Ansible's profile_tasks callback; also on when
    /// ANSIBLE_CALLBACKS_ENABLED names profile_tasks).
    #[arg(long)]
    pub(crate) profile: bool,
}

/// An error before anything ran: printed with its location and fix, exit 1.
fn early_error(d: &Diagnostic) -> i32 {
    eprint!("{d}");
    1
}

fn usage_error(msg: &str, hint: &str) -> i32 {
    eprintln!("error: {msg}\n  = help: {hint}");
    1
}

/// Parse `-e KEY=VALUE`, `-e @file.yml` and `-e '{"json": 1}'` like ansible-playbook.
pub(crate) fn parse_extra_vars(items: &[String]) -> Result<Map<String, Value>, Diagnostic> {
    let mut vars = Map::new();
    for item in items {
        let item = item.trim();
        if let Some(file) = item.strip_prefix('@') {
            match crate::yaml::load_file(Path::new(file))?.to_value() {
                Value::Object(m) => vars.extend(m),
                Value::Null => {}
                _ => {
                    return Err(Diagnostic::error(
                        "B0761",
                        format!("extra vars file {file} must hold a mapping"),
                    )
                    .hint("write `name: value` pairs at the top level"))
                }
            }
        } else if item.starts_with('{') {
            match crate::yaml::load_value(item, Path::new("<extra vars>"))? {
                Value::Object(m) => vars.extend(m),
                _ => {
                    return Err(Diagnostic::error("B0761", "extra vars must be a mapping")
                        .hint("write -e '{\"key\": \"value\"}'"))
                }
            }
        } else {
            for (k, v) in crate::modules::free_form::split_free_form("set_fact", item) {
                if k == "_raw_params" {
                    return Err(Diagnostic::error(
                        "B0761",
                        format!("cannot read extra vars `{item}`"),
                    )
                    .hint("use -e KEY=VALUE, -e @file.yml or -e '{\"key\": 1}'"));
                }
                vars.insert(k, v);
            }
        }
    }
    Ok(vars)
}

/// Everything `berth run` needs, also used by `berth deploy`.
pub(crate) struct Invocation {
    pub(crate) playbook: PathBuf,
    pub(crate) inventory: Vec<PathBuf>,
    pub(crate) extra_vars: Map<String, Value>,
    pub(crate) opts: RunOptions,
}

/// Run a playbook; returns the exit code.
pub(crate) fn execute(inv: Invocation, sink: Box<dyn Sink>) -> i32 {
    let playbook = match Loader::load_playbook_with(
        &inv.playbook,
        &inv.opts.roles_path,
        &inv.opts.collections_path,
        &inv.extra_vars,
    ) {
        Ok(p) => p,
        Err(d) => return early_error(&d),
    };
    if inv.inventory.is_empty() {
        eprintln!("[WARNING]: No inventory was parsed (use -i inventory.yml), only implicit localhost is available");
    }
    let inventory = match Inventory::load(&inv.inventory, Some(&playbook.dir)) {
        Ok(i) => i,
        Err(d) => return early_error(&d),
    };
    let templar = Arc::new(Templar::new());
    let mut hosts = IndexMap::new();
    let mut data = IndexMap::new();
    for (name, h) in &inventory.hosts {
        let d = Arc::new(HostData::new(name, h.vars.clone()));
        if let Some(cache) = &inv.opts.fact_cache {
            if inv.opts.flush_cache {
                if let Err(e) = cache.flush(name) {
                    return usage_error(
                        &format!(
                            "cannot flush the fact cache of {name} in {}: {e}",
                            cache.dir.display()
                        ),
                        "check the fact cache folder's permissions",
                    );
                }
            } else if let Some(facts) = cache.load(name) {
                d.merge_facts(&facts);
            }
        }
        data.insert(name.clone(), d.clone());
        hosts.insert(name.clone(), Arc::new(HostRuntime::new(d)));
    }
    let mut local_vars = Map::new();
    local_vars.insert("ansible_connection".into(), Value::String("local".into()));
    let localhost = Arc::new(HostRuntime::new(Arc::new(HostData::new(
        "localhost",
        local_vars,
    ))));
    let forks = inv
        .opts
        .forks
        .unwrap_or_else(|| hosts.len().clamp(1, 50))
        .max(1);
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(forks)
        .thread_name(|i| format!("berth-fork-{i}"))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            return usage_error(
                &format!("cannot start {forks} worker threads: {e}"),
                "lower --forks",
            )
        }
    };
    let groups = Arc::new(inventory.groups_var());
    let hostvars = Arc::new(HostVarsTable {
        hosts: data,
        shared: Vec::new(),
        templar: templar.clone(),
    });
    let mut loader = Loader::new(&playbook.dir);
    loader.roles_path = inv.opts.roles_path.clone();
    loader.collections_path = inv.opts.collections_path.clone();
    let run = RunState {
        opts: inv.opts,
        inventory,
        templar,
        loader,
        playbook_dir: playbook.dir.clone(),
        sink,
        extra_vars: Arc::new(inv.extra_vars),
        hosts,
        localhost,
        hostvars,
        stats: Mutex::new(IndexMap::new()),
        groups,
        pool,
        inventory_paths: inv.inventory,
        timings: Mutex::new(Vec::new()),
    };
    if run.opts.verbose >= 2 {
        // What ansible-playbook -vv prints first (its own targets count these lines).
        let name = inv
            .playbook
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        run.sink
            .message(&sink::banner(&format!("PLAYBOOK: {name}")));
        run.sink.message(&format!(
            "{} plays in {}",
            playbook.plays.len(),
            inv.playbook.display()
        ));
    }
    play_runner::run_playbook(&run, &playbook)
}

pub(crate) fn options_from_args(args: &RunArgs, verbose: u8) -> Result<RunOptions, String> {
    let cfg = ansible_cfg::load();
    let strategy = match args.strategy.as_deref() {
        None => None,
        Some("linear") => Some(Strategy::Linear),
        Some("host_pinned" | "free") => Some(Strategy::HostPinned),
        Some(other) => {
            return Err(format!(
                "--strategy must be linear or host_pinned, not `{other}`"
            ))
        }
    };
    let host_key_checking = match &args.host_key_checking {
        Some(s) => connect::parse_host_key_checking(s)?,
        None => match std::env::var("ANSIBLE_HOST_KEY_CHECKING").ok().as_deref() {
            Some("False" | "false" | "0" | "no") => {
                crate::connection::known_hosts::HostKeyChecking::Off
            }
            _ if cfg.host_key_checking == Some(false) => {
                crate::connection::known_hosts::HostKeyChecking::Off
            }
            _ => crate::connection::known_hosts::HostKeyChecking::AcceptNew,
        },
    };
    if args.forks == Some(0) {
        return Err("--forks must be at least 1".into());
    }
    let env = |k: &str| std::env::var(k).ok();
    let gathering = env("ANSIBLE_GATHERING")
        .filter(|v| !v.is_empty())
        .map(|v| v.to_ascii_lowercase())
        .or(cfg.gathering.clone());
    let gathering = gathering.as_deref().unwrap_or("implicit");
    if !matches!(gathering, "implicit" | "explicit" | "smart") {
        return Err(format!("gathering must be implicit, explicit or smart, not `{gathering}` (ANSIBLE_GATHERING or ansible.cfg [defaults] gathering)"));
    }
    let fact_cache = fact_cache::configured(&cfg, &env)?;
    Ok(RunOptions {
        check: args.check,
        diff: args.diff,
        forks: args.forks.or(cfg.forks),
        strategy,
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        role: args.role.clone(),
        limit: args.limit.clone(),
        user: args.user.clone().or(cfg.remote_user.clone()),
        private_key: args.private_key.clone().or(cfg.private_key_file.clone()),
        known_hosts: args.known_hosts.clone(),
        host_key_checking,
        host_key_checking_explicit: args.host_key_checking.is_some(),
        timeout: args.timeout.or(cfg.timeout).unwrap_or(10),
        verbose,
        gather_by_default: gathering != "explicit",
        gather_smart: gathering == "smart",
        fact_cache,
        flush_cache: args.flush_cache,
        // --force-handlers, else ANSIBLE_FORCE_HANDLERS, else ansible.cfg.
        force_handlers: args.force_handlers
            || match env("ANSIBLE_FORCE_HANDLERS").filter(|v| !v.is_empty()) {
                Some(v) => ansible_cfg::truthy(&v),
                None => cfg.force_handlers.unwrap_or(false),
            },
        // -b / --become-user, else ANSIBLE_BECOME(_USER), else ansible.cfg.
        become_default: {
            let on = if args.r#become {
                Some(true)
            } else {
                env("ANSIBLE_BECOME")
                    .filter(|v| !v.is_empty())
                    .map(|v| ansible_cfg::truthy(&v))
                    .or(cfg.r#become)
            };
            let user = args
                .become_user
                .clone()
                .or_else(|| env("ANSIBLE_BECOME_USER").filter(|v| !v.is_empty()))
                .or(cfg.become_user.clone());
            match (on, user) {
                (None, None) => None,
                (on, user) => Some((on.unwrap_or(false), user)),
            }
        },
        roles_path: cfg.roles_path.clone(),
        profile: args.profile
            || ["ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CALLBACK_WHITELIST"]
                .iter()
                .any(|k| {
                    env(k).is_some_and(|v| {
                        v.split(',').any(|c| {
                            matches!(c.trim(), "profile_tasks" | "ansible.posix.profile_tasks")
                        })
                    })
                }),
        error_on_missing_handler: match env("ANSIBLE_ERROR_ON_MISSING_HANDLER")
            .filter(|v| !v.is_empty())
        {
            Some(v) => ansible_cfg::truthy(&v),
            None => cfg.error_on_missing_handler.unwrap_or(true),
        },
        collections_path: ansible_cfg::collections_path(
            env("ANSIBLE_COLLECTIONS_PATH").or_else(|| env("ANSIBLE_COLLECTIONS_PATHS")),
            &cfg,
        ),
    })
}

/// `--syntax-check`, `--list-hosts`, `--list-tasks`: load everything, print, run nothing.
fn inspect(args: &RunArgs, opts: &RunOptions) -> i32 {
    let extra = parse_extra_vars(&args.extra_vars).unwrap_or_default();
    let templar = Templar::new();
    let playbook = match Loader::load_playbook_with(
        &args.playbook,
        &opts.roles_path,
        &opts.collections_path,
        &extra,
    ) {
        Ok(p) => p,
        Err(d) => return early_error(&d),
    };
    let paths = if args.inventory.is_empty() {
        ansible_cfg::load().inventory
    } else {
        args.inventory.clone()
    };
    let inventory = match Inventory::load(&paths, Some(&playbook.dir)) {
        Ok(i) => i,
        Err(d) => return early_error(&d),
    };
    let mut out = format!("\nplaybook: {}\n", args.playbook.display());
    if args.syntax_check {
        print!("{out}");
        return 0;
    }
    for (i, play) in playbook.plays.iter().enumerate() {
        out.push_str(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]\n",
            i + 1,
            play.hosts,
            play.name,
            play.keywords.tags.join(", ")
        ));
        if args.list_hosts {
            let mut hosts = inventory.select(&play.hosts).unwrap_or_default();
            if let Some(limit) = &opts.limit {
                let allowed = inventory.select(limit).unwrap_or_default();
                hosts.retain(|h| allowed.contains(h));
            }
            out.push_str(&format!(
                "    pattern: ['{}']\n    hosts ({}):\n",
                play.hosts,
                hosts.len()
            ));
            for h in hosts {
                out.push_str(&format!("      {h}\n"));
            }
        }
        if args.list_tasks {
            out.push_str("    tasks:\n");
            let mut lines = Vec::new();
            // Templated tags render from the play's variables and the extra vars only.
            let mut vars = play.vars.clone();
            vars.extend(extra.clone());
            let render = |tags: &[String]| templar.render_tags(tags, &vars);
            for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
                list_tasks(section, &play.keywords.tags, opts, &render, &mut lines);
            }
            for l in lines {
                out.push_str(&format!("      {l}\n"));
            }
        }
    }
    print!("{out}");
    0
}

fn list_tasks(
    items: &[crate::playbook::task::Item],
    parent_tags: &[String],
    opts: &RunOptions,
    render: &dyn Fn(&[String]) -> Vec<String>,
    out: &mut Vec<String>,
) {
    use crate::playbook::task::Item;
    for item in items {
        match item {
            Item::Task(t) => {
                let mut tags: Vec<String> = parent_tags.to_vec();
                for tag in render(&t.keywords.tags) {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                let role_ok = opts
                    .role
                    .as_ref()
                    .is_none_or(|r| t.role.as_ref().is_some_and(|x| &x.name == r));
                if opts.tags_allow(&tags) && role_ok {
                    // ansible-playbook lists a task's tags sorted.
                    let mut shown = tags.clone();
                    shown.sort();
                    out.push(format!(
                        "{}\tTAGS: [{}]",
                        t.display_name(),
                        shown.join(", ")
                    ));
                }
            }
            Item::Block(b) => {
                let mut tags: Vec<String> = parent_tags.to_vec();
                for tag in render(&b.keywords.tags) {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                for part in [&b.block, &b.rescue, &b.always] {
                    list_tasks(part, &tags, opts, render, out);
                }
            }
        }
    }
}

pub(crate) fn main(args: RunArgs, verbose: u8) -> i32 {
    let opts = match options_from_args(&args, verbose) {
        Ok(o) => o,
        Err(e) => return usage_error(&e, "see `berth run --help`"),
    };
    if args.syntax_check || args.list_hosts || args.list_tasks {
        return inspect(&args, &opts);
    }
    // ansible.cfg `inventory` when no -i is given, like ansible-playbook.
    let inventory = if args.inventory.is_empty() {
        ansible_cfg::load().inventory
    } else {
        args.inventory.clone()
    };
    let mut extra_vars = match parse_extra_vars(&args.extra_vars) {
        Ok(v) => v,
        Err(d) => return early_error(&d),
    };
    if args.ask_become_pass {
        match rpassword::prompt_password("BECOME password: ") {
            // Like ansible-playbook: the answer becomes ansible_become_password for every host.
            Ok(pw) => {
                extra_vars.insert("ansible_become_password".into(), Value::String(pw));
            }
            Err(e) => {
                return usage_error(
                    &format!("cannot read the become password: {e}"),
                    "run on a terminal or set ansible_become_password in a vars file",
                )
            }
        }
    }
    let sink: Box<dyn Sink> = if args.json {
        Box::new(JsonSink::new(Box::new(std::io::stdout())))
    } else {
        let human = HumanSink::new(Box::new(std::io::stdout()), verbose, args.diff);
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Box::new(human.with_progress())
        } else {
            Box::new(human)
        }
    };
    execute(
        Invocation {
            playbook: args.playbook,
            inventory,
            extra_vars,
            opts,
        },
        sink,
    )
}
#[cfg(test)]
mod run_tests;
