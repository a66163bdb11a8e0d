//! The fact cache: Ansible's `memory` (facts live for the run, the default)
//! and `jsonfile` plugins. With `jsonfile`, each host's facts are one JSON
//! file, `<connection>/<prefix><host>`, written as Ansible's plugin writes it,
//! so facts gathered (or `set_fact: cacheable=true`) by one run, by berth or
//! by ansible-playbook, are there for the next until they expire.
//!
//! Configured as Ansible configures it: `ANSIBLE_CACHE_PLUGIN`,
//! `ANSIBLE_CACHE_PLUGIN_CONNECTION`, `ANSIBLE_CACHE_PLUGIN_PREFIX`,
//! `ANSIBLE_CACHE_PLUGIN_TIMEOUT`, or ansible.cfg `[defaults] fact_caching*`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::ansible_cfg::AnsibleCfg;
use crate::playbook::templar::unmark_unsafe;

/// A persistent (jsonfile) fact cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FactCache {
    pub(crate) dir: PathBuf,
    pub(crate) prefix: String,
    /// Seconds a host's facts stay valid; 0 keeps them for ever (Ansible's default: a day).
    pub(crate) timeout: u64,
}

/// The cache the settings ask for: `None` for `memory`.
pub(crate) fn configured(
    cfg: &AnsibleCfg,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<FactCache>, String> {
    let pick = |var: &str, from_cfg: &Option<String>| {
        env(var)
            .filter(|v| !v.is_empty())
            .or_else(|| from_cfg.clone())
    };
    let plugin = pick("ANSIBLE_CACHE_PLUGIN", &cfg.fact_caching).unwrap_or_else(|| "memory".into());
    match plugin.strip_prefix("ansible.builtin.").unwrap_or(&plugin) {
        "memory" => return Ok(None),
        "jsonfile" => {}
        other => {
            return Err(format!(
                "fact cache plugin `{other}` is not one berth has: set ANSIBLE_CACHE_PLUGIN (or ansible.cfg fact_caching) to memory or jsonfile"
            ))
        }
    }
    let Some(dir) = pick(
        "ANSIBLE_CACHE_PLUGIN_CONNECTION",
        &cfg.fact_caching_connection,
    ) else {
        return Err("error, 'jsonfile' cache plugin requires the 'fact_caching_connection' config option to be set (to a writeable directory path)".into());
    };
    let dir = match (dir.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(dir),
    };
    let prefix = pick("ANSIBLE_CACHE_PLUGIN_PREFIX", &cfg.fact_caching_prefix)
        .unwrap_or_else(|| "ansible_facts".into());
    let timeout = match pick("ANSIBLE_CACHE_PLUGIN_TIMEOUT", &cfg.fact_caching_timeout) {
        None => 86400,
        Some(t) => t
            .trim()
            .parse()
            .map_err(|_| format!("fact cache timeout must be a number of seconds, not `{t}`"))?,
    };
    Ok(Some(FactCache {
        dir,
        prefix,
        timeout,
    }))
}

impl FactCache {
    fn file(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{}{host}", self.prefix))
    }

    /// A host's cached facts, unless missing, expired or unreadable.
    pub(crate) fn load(&self, host: &str) -> Option<Map<String, Value>> {
        let path = self.file(host);
        let meta = std::fs::metadata(&path).ok()?;
        if self.timeout > 0 {
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            if age > Duration::from_secs(self.timeout) {
                return None;
            }
        }
        match serde_json::from_slice(&std::fs::read(&path).ok()?) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    }

    /// Write a host's facts (without the `ansible_facts` namespace, which is
    /// rebuilt from them), atomically.
    pub(crate) fn store(&self, host: &str, facts: &Map<String, Value>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let plain: Map<String, Value> = facts
            .iter()
            .filter(|(k, _)| *k != "ansible_facts")
            .map(|(k, v)| (k.clone(), unmark_unsafe(v)))
            .collect();
        let mut sorted: Vec<_> = plain.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let text = serde_json::to_string_pretty(&Value::Object(sorted.into_iter().collect()))
            .unwrap_or_default();
        let path = self.file(host);
        let tmp = self
            .dir
            .join(format!(".{}{host}.{}.tmp", self.prefix, std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }

    /// Forget a host (`--flush-cache`, `meta: clear_facts`).
    pub(crate) fn flush(&self, host: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.file(host)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::templar::UNSAFE_KEY;
    use serde_json::json;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn settings_as_ansible_reads_them() {
        let none = AnsibleCfg::default();
        assert_eq!(configured(&none, &env_of(&[])), Ok(None));
        assert_eq!(
            configured(&none, &env_of(&[("ANSIBLE_CACHE_PLUGIN", "memory")])),
            Ok(None)
        );
        assert_eq!(
            configured(
                &none,
                &env_of(&[
                    ("ANSIBLE_CACHE_PLUGIN", "jsonfile"),
                    ("ANSIBLE_CACHE_PLUGIN_CONNECTION", "/c"),
                    ("ANSIBLE_CACHE_PLUGIN_PREFIX", "p_")
                ])
            ),
            Ok(Some(FactCache {
                dir: "/c".into(),
                prefix: "p_".into(),
                timeout: 86400
            }))
        );
        let cfg = AnsibleCfg {
            fact_caching: Some("ansible.builtin.jsonfile".into()),
            fact_caching_connection: Some("/cfg".into()),
            fact_caching_timeout: Some("0".into()),
            ..AnsibleCfg::default()
        };
        assert_eq!(
            configured(&cfg, &env_of(&[])),
            Ok(Some(FactCache {
                dir: "/cfg".into(),
                prefix: "ansible_facts".into(),
                timeout: 0
            }))
        );
        // The environment wins over the file, as in Ansible.
        assert_eq!(
            configured(
                &cfg,
                &env_of(&[("ANSIBLE_CACHE_PLUGIN_CONNECTION", "/env")])
            )
            .unwrap()
            .unwrap()
            .dir,
            PathBuf::from("/env")
        );
        assert!(
            configured(&none, &env_of(&[("ANSIBLE_CACHE_PLUGIN", "jsonfile")]))
                .unwrap_err()
                .contains("fact_caching_connection")
        );
        assert!(
            configured(&none, &env_of(&[("ANSIBLE_CACHE_PLUGIN", "redis")]))
                .unwrap_err()
                .contains("`redis`")
        );
        let bad = AnsibleCfg {
            fact_caching_timeout: Some("soon".into()),
            ..cfg
        };
        assert!(configured(&bad, &env_of(&[]))
            .unwrap_err()
            .contains("`soon`"));
    }

    #[test]
    fn stores_loads_expires_and_flushes() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = FactCache {
            dir: tmp.path().join("facts"),
            prefix: "prefix_".into(),
            timeout: 0,
        };
        assert_eq!(cache.load("h1"), None);
        let facts = json!({"ansible_facts": {"os_family": {UNSAFE_KEY: "Debian"}}, "ansible_os_family": {UNSAFE_KEY: "Debian"}, "n": [1, {UNSAFE_KEY: "x"}]});
        cache.store("h1", facts.as_object().unwrap()).unwrap();
        let names: Vec<_> = std::fs::read_dir(&cache.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["prefix_h1"]);
        assert_eq!(
            Value::Object(cache.load("h1").unwrap()),
            json!({"ansible_os_family": "Debian", "n": [1, "x"]})
        );
        // Expired entries read as missing.
        let short = FactCache {
            timeout: 1,
            ..cache.clone()
        };
        let old = SystemTime::now() - Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(cache.dir.join("prefix_h1"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(short.load("h1"), None);
        assert!(cache.load("h1").is_some());
        cache.flush("h1").unwrap();
        cache.flush("h1").unwrap();
        assert_eq!(cache.load("h1"), None);
    }
}
