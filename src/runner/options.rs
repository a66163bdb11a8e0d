//! Resolved run options (from the command line or from `berth deploy`).

use std::path::PathBuf;

use crate::connection::known_hosts::HostKeyChecking;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Linear,
    HostPinned,
}

#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub(crate) check: bool,
    pub(crate) diff: bool,
    pub(crate) forks: Option<usize>,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) tags: Vec<String>,
    pub(crate) skip_tags: Vec<String>,
    pub(crate) role: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) private_key: Option<PathBuf>,
    pub(crate) known_hosts: Option<PathBuf>,
    pub(crate) host_key_checking: HostKeyChecking,
    /// True when --host-key-checking was given (it then overrides inventory ssh args).
    pub(crate) host_key_checking_explicit: bool,
    /// Connect timeout in seconds.
    pub(crate) timeout: u64,
    pub(crate) verbose: u8,
    /// Plays without `gather_facts:` gather facts (ansible.cfg `gathering = explicit` turns this off).
    pub(crate) gather_by_default: bool,
    /// `gathering = smart`: hosts whose facts are known (gathered earlier in
    /// the run, or from the fact cache) are not gathered again.
    pub(crate) gather_smart: bool,
    /// The persistent fact cache (jsonfile), when configured.
    pub(crate) fact_cache: Option<super::fact_cache::FactCache>,
    /// `--flush-cache`: forget the inventory's cached facts first.
    pub(crate) flush_cache: bool,
    /// `--force-handlers`: plays that do not say otherwise run notified
    /// handlers even on hosts that failed.
    pub(crate) force_handlers: bool,
    /// ansible.cfg `[privilege_escalation] become` / `become_user`: the default for tasks that say nothing.
    pub(crate) become_default: Option<(bool, Option<String>)>,
    /// Extra role folders (ansible.cfg `roles_path`).
    pub(crate) roles_path: Vec<PathBuf>,
    /// Collection folders (ANSIBLE_COLLECTIONS_PATH, else ansible.cfg, else Ansible's defaults).
    pub(crate) collections_path: Vec<PathBuf>,
    /// Notifying a handler that does not exist fails the task (Ansible's
    /// ERROR_ON_MISSING_HANDLER); off, it is a warning.
    pub(crate) error_on_missing_handler: bool,
    /// `--profile`: a timing summary at the end.
    pub(crate) profile: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: None,
            strategy: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            role: None,
            limit: None,
            user: None,
            private_key: None,
            known_hosts: None,
            host_key_checking: HostKeyChecking::AcceptNew,
            host_key_checking_explicit: false,
            timeout: 10,
            verbose: 0,
            gather_by_default: true,
            gather_smart: false,
            fact_cache: None,
            flush_cache: false,
            force_handlers: false,
            become_default: None,
            roles_path: Vec::new(),
            collections_path: Vec::new(),
            error_on_missing_handler: true,
            profile: false,
        }
    }
}

impl RunOptions {
    /// Should a task with these (inherited) tags run? Ansible's rules,
    /// including the special tags `always`, `never`, `all`, `tagged`, `untagged`.
    pub(crate) fn tags_allow(&self, task_tags: &[String]) -> bool {
        // As ansible-core's Taggable.evaluate_tags: a task without tags is
        // tagged `untagged`; no --tags means `all`.
        let untagged = vec!["untagged".to_string()];
        let tags: &[String] = if task_tags.is_empty() {
            &untagged
        } else {
            task_tags
        };
        let has = |t: &str| tags.iter().any(|x| x == t);
        let is_untagged = task_tags.is_empty();
        let all = ["all".to_string()];
        let only: &[String] = if self.tags.is_empty() {
            &all
        } else {
            &self.tags
        };
        let asks = |t: &str| only.iter().any(|x| x == t);
        let mut run = has("always")
            || (asks("all") && !has("never"))
            || tags.iter().any(|t| asks(t))
            || (asks("tagged") && !is_untagged && !has("never"));
        if run && !self.skip_tags.is_empty() {
            let skips = |t: &str| self.skip_tags.iter().any(|x| x == t);
            if skips("all") {
                if !has("always") || skips("always") {
                    run = false;
                }
            } else if tags.iter().any(|t| skips(t)) || (skips("tagged") && !is_untagged) {
                run = false;
            }
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(tags: &[&str], skip: &[&str]) -> RunOptions {
        RunOptions {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            skip_tags: skip.iter().map(|s| s.to_string()).collect(),
            ..RunOptions::default()
        }
    }

    fn t(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ansible_tag_rules() {
        let cases: &[(&[&str], &[&str], &[&str], bool)] = &[
            (&[], &[], &[], true),
            (&[], &[], &["never"], false),
            (&["web"], &[], &["web"], true),
            (&["web"], &[], &["db"], false),
            (&["web"], &[], &[], false),
            (&["web"], &[], &["always"], true),
            (&["web"], &["always"], &["always"], false),
            (&[], &["db"], &["db", "x"], false),
            (&["tagged"], &[], &["x"], true),
            (&["untagged"], &[], &[], true),
            (&["never"], &[], &["never"], true),
            (&["debug"], &[], &["never", "debug"], true),
            // `tagged` never brings in a `never` task; `all` in --skip-tags keeps `always`.
            (&["tagged"], &[], &["never", "donever"], false),
            (&["tagged"], &[], &[], false),
            (&["untagged"], &[], &["x"], false),
            (&[], &["all"], &["always"], true),
            (&[], &["all", "always"], &["always"], false),
            (&[], &["all"], &["x"], false),
            (&[], &["tagged"], &["x"], false),
            (&[], &["tagged"], &[], true),
            (&[], &["untagged"], &[], false),
        ];
        for (tags, skip, task, want) in cases {
            assert_eq!(
                o(tags, skip).tags_allow(&t(task)),
                *want,
                "tags={tags:?} skip={skip:?} task={task:?}"
            );
        }
    }
}
