//! Connections: how commands reach a host. One connection per host, used by
//! one thread at a time, reused for every task of a run.

pub(crate) mod known_hosts;
pub(crate) mod local;
pub(crate) mod record;
pub(crate) mod ssh;
pub(crate) mod trace;

use std::fmt;

/// What a command left behind: exit code, both streams as raw bytes, and the
/// signal name when the process was killed by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExecOutput {
    pub(crate) rc: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) signal: Option<String>,
}

impl ExecOutput {
    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub(crate) fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub(crate) fn success(&self) -> bool {
        self.rc == 0 && self.signal.is_none()
    }
}

/// A connection-level failure. `Unreachable` makes the host drop out of the
/// play as UNREACHABLE (exit code 4), like Ansible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnError {
    Unreachable(String),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Unreachable(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for ConnError {}

/// A way to run shell commands on one host. Commands are POSIX `sh` scripts;
/// `stdin` (when given) is written to the command's standard input and closed.
pub(crate) trait Connection: Send {
    fn exec(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError>;

    /// Close the connection (best effort).
    fn close(&mut self) {}
}
