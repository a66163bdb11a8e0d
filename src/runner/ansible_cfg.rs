//! `ansible.cfg`: the settings berth honours from the file ansible-playbook
//! would read (`$ANSIBLE_CONFIG`, `./ansible.cfg`, `~/.ansible.cfg`), so a
//! project that runs under Ansible runs the same way under berth.

use std::path::{Path, PathBuf};

/// The settings berth uses; command-line options win over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AnsibleCfg {
    pub(crate) path: Option<PathBuf>,
    pub(crate) inventory: Vec<PathBuf>,
    pub(crate) roles_path: Vec<PathBuf>,
    /// `collections_path` (or the older `collections_paths`).
    pub(crate) collections_path: Option<Vec<PathBuf>>,
    pub(crate) forks: Option<usize>,
    pub(crate) remote_user: Option<String>,
    pub(crate) private_key_file: Option<PathBuf>,
    pub(crate) host_key_checking: Option<bool>,
    pub(crate) timeout: Option<u64>,
    /// `gathering`: implicit, explicit (plays without `gather_facts` do
    /// not gather) or smart (hosts whose facts are known are not gathered again).
    pub(crate) gathering: Option<String>,
    /// `fact_caching` (the cache plugin) and its `_connection`, `_prefix`, `_timeout`.
    pub(crate) fact_caching: Option<String>,
    pub(crate) fact_caching_connection: Option<String>,
    pub(crate) fact_caching_prefix: Option<String>,
    pub(crate) fact_caching_timeout: Option<String>,
    /// `error_on_missing_handler`.
    pub(crate) error_on_missing_handler: Option<bool>,
    /// `force_handlers` (the default of plays that do not set it).
    pub(crate) force_handlers: Option<bool>,
    pub(crate) r#become: Option<bool>,
    pub(crate) become_user: Option<String>,
}

/// The config file ansible-playbook would use, if any.
pub(crate) fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ANSIBLE_CONFIG").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let local = PathBuf::from("ansible.cfg");
    if local.is_file() {
        return Some(local);
    }
    let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".ansible.cfg"))?;
    home.is_file().then_some(home)
}

pub(crate) fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "1" | "on" | "y" | "t"
    )
}

fn expand(v: &str, base: &Path) -> PathBuf {
    let v = v.trim();
    let p = match (v.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(v),
    };
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// Parse an ansible.cfg text (INI). Relative paths resolve from `base`, the file's folder.
pub(crate) fn parse(text: &str, base: &Path) -> AnsibleCfg {
    let mut cfg = AnsibleCfg::default();
    let mut section = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_ascii_lowercase();
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        // Inline comments after a value (`forks = 20 ; note`).
        let v = v
            .split(" ;")
            .next()
            .unwrap_or(v)
            .split(" #")
            .next()
            .unwrap_or(v)
            .trim();
        match (section.as_str(), k.as_str()) {
            ("defaults", "inventory" | "hostfile") => {
                cfg.inventory = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| expand(s, base))
                    .collect()
            }
            ("defaults", "roles_path") => {
                cfg.roles_path = v
                    .split(':')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| expand(s, base))
                    .collect()
            }
            ("defaults", "collections_path" | "collections_paths") => {
                cfg.collections_path = Some(
                    v.split(':')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| expand(s, base))
                        .collect(),
                )
            }
            ("defaults", "error_on_missing_handler") => {
                cfg.error_on_missing_handler = Some(truthy(v))
            }
            ("defaults", "forks") => cfg.forks = v.parse().ok(),
            ("defaults", "remote_user") => cfg.remote_user = Some(v.to_string()),
            ("defaults", "private_key_file") => cfg.private_key_file = Some(expand(v, base)),
            ("defaults", "host_key_checking") => cfg.host_key_checking = Some(truthy(v)),
            ("defaults", "timeout") => cfg.timeout = v.parse().ok(),
            ("defaults", "gathering") => cfg.gathering = Some(v.to_ascii_lowercase()),
            ("defaults", "fact_caching") => cfg.fact_caching = Some(v.to_string()),
            ("defaults", "fact_caching_connection") => {
                cfg.fact_caching_connection = Some(v.to_string())
            }
            ("defaults", "fact_caching_prefix") => cfg.fact_caching_prefix = Some(v.to_string()),
            ("defaults", "fact_caching_timeout") => cfg.fact_caching_timeout = Some(v.to_string()),
            ("defaults", "force_handlers") => cfg.force_handlers = Some(truthy(v)),
            ("privilege_escalation", "become") => cfg.r#become = Some(truthy(v)),
            ("privilege_escalation", "become_user") => cfg.become_user = Some(v.to_string()),
            _ => {}
        }
    }
    cfg
}

/// Load the config ansible-playbook would read (empty when there is none).
pub(crate) fn load() -> AnsibleCfg {
    let Some(path) = find() else {
        return AnsibleCfg::default();
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return AnsibleCfg::default();
    };
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cfg = parse(&text, &base);
    cfg.path = Some(path);
    cfg
}

/// Where collections are looked for after the playbook's own `collections/`:
/// ANSIBLE_COLLECTIONS_PATH (colon separated), else ansible.cfg, else
/// Ansible's default `~/.ansible/collections:/usr/share/ansible/collections`.
pub(crate) fn collections_path(env_value: Option<String>, cfg: &AnsibleCfg) -> Vec<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let tilde = |s: &str| match s.strip_prefix("~/") {
        Some(rest) if !home.is_empty() => Path::new(&home).join(rest),
        _ => PathBuf::from(s),
    };
    if let Some(v) = env_value.filter(|v| !v.is_empty()) {
        return v.split(':').filter(|s| !s.is_empty()).map(tilde).collect();
    }
    if let Some(paths) = &cfg.collections_path {
        return paths.clone();
    }
    vec![
        tilde("~/.ansible/collections"),
        PathBuf::from("/usr/share/ansible/collections"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_settings_berth_honours() {
        let cfg = parse(
            "[defaults]\ninventory = hosts.yml\nroles_path = roles:/etc/roles\nforks=30 ; comment\nremote_user = deploy\nhost_key_checking = False\ngathering = explicit\ntimeout = 5\n[privilege_escalation]\nbecome = True\nbecome_user = app\n[ssh_connection]\npipelining = True\n",
            Path::new("/p"),
        );
        assert_eq!(cfg.inventory, vec![PathBuf::from("/p/hosts.yml")]);
        assert_eq!(
            cfg.roles_path,
            vec![PathBuf::from("/p/roles"), PathBuf::from("/etc/roles")]
        );
        assert_eq!(cfg.forks, Some(30));
        assert_eq!(cfg.remote_user.as_deref(), Some("deploy"));
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.gathering.as_deref(), Some("explicit"));
        assert_eq!(cfg.timeout, Some(5));
        assert_eq!(cfg.r#become, Some(true));
        assert_eq!(cfg.become_user.as_deref(), Some("app"));
    }
}
