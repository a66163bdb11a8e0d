//! Recap counters, counted exactly as ansible-playbook counts them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct HostStats {
    pub(crate) ok: u32,
    pub(crate) changed: u32,
    pub(crate) unreachable: u32,
    pub(crate) failed: u32,
    pub(crate) skipped: u32,
    pub(crate) rescued: u32,
    pub(crate) ignored: u32,
}

/// How one task ended on one host, as far as the recap is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok {
        changed: bool,
    },
    Skipped,
    /// Failed; `rescued` when a block's rescue section will handle it.
    Failed {
        rescued: bool,
    },
    /// Failed but `ignore_errors` (or unreachable with `ignore_unreachable`).
    Ignored {
        changed: bool,
    },
    Unreachable,
}

impl HostStats {
    /// Apply one task result (Ansible's `_process_pending_results` counting).
    pub(crate) fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok { changed } => {
                self.ok += 1;
                if changed {
                    self.changed += 1;
                }
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed { rescued: true } => self.rescued += 1,
            Outcome::Failed { rescued: false } => self.failed += 1,
            Outcome::Ignored { changed } => {
                self.ok += 1;
                self.ignored += 1;
                if changed {
                    self.changed += 1;
                }
            }
            Outcome::Unreachable => self.unreachable += 1,
        }
    }
}
