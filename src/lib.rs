//! berth: an agentless, Ansible-compatible playbook compiler and parallel runner.
//!
//! Phases are rooms: `lang` (Tova front end) → `manifest` (inference) → `emit`
//! (roles/playbooks) → `playbook` (Ansible model + templating) → `runner`
//! (strategies, batches, handlers, recap) → `modules` (one file each) →
//! `connection` (ssh2, local). The runner never sees the Tova AST.

// A `Diagnostic` (code, file, line, snippet, fix) is the error of the
// compile and load phases: built once per failure, returned up a few
// frames; boxing it would only move the allocation.
#![allow(clippy::result_large_err)]

pub(crate) mod cli;
pub(crate) mod connection;
pub(crate) mod deploy;
pub(crate) mod diagnostic;
pub(crate) mod emit;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod lang;
pub(crate) mod manifest;
pub(crate) mod modules;
pub(crate) mod playbook;
pub(crate) mod random;
pub(crate) mod runner;
pub(crate) mod testbed;
pub(crate) mod yaml;

/// Entry point shared by the binary: parses arguments, runs, returns the exit code.
pub fn run() -> i32 {
    cli::main()
}
