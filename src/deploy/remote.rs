//! One deploy target: a connection (SSH or local) plus the host's name, with
//! helpers that turn a failed script into a readable error.

use crate::connection::local::LocalConnection;
use crate::connection::ssh::{SshConnection, SshOptions};
use crate::connection::{Connection, ExecOutput};

pub(crate) struct Remote {
    /// How messages name the host (`root@10.0.0.5`).
    pub(crate) name: String,
    conn: Box<dyn Connection>,
}

impl Remote {
    pub(crate) fn ssh(opts: &SshOptions) -> Result<Remote, String> {
        let conn = SshConnection::connect(opts).map_err(|e| e.to_string())?;
        Ok(Remote { name: format!("{}@{}", opts.user, opts.host), conn: Box::new(conn) })
    }

    pub(crate) fn local(name: impl Into<String>) -> Remote {
        Remote { name: name.into(), conn: Box::new(LocalConnection::new()) }
    }

    /// Runs a POSIX sh script; a connection failure is an error, a non-zero exit is not.
    pub(crate) fn exec(&mut self, script: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, String> {
        self.conn.exec(script, stdin).map_err(|e| format!("{}: {e}", self.name))
    }

    /// Runs a script that must succeed; returns its stdout.
    pub(crate) fn run(&mut self, what: &str, script: &str, stdin: Option<&[u8]>) -> Result<String, String> {
        let out = self.exec(script, stdin)?;
        if out.success() {
            Ok(out.stdout_str())
        } else {
            let err = out.stderr_str();
            let err = err.trim();
            Err(format!("{}: {what} failed (exit {}){}", self.name, out.rc, if err.is_empty() { String::new() } else { format!(": {err}") }))
        }
    }
}

/// Single-quotes a value for sh.
pub(crate) fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
