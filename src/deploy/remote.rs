//! One deploy target: a connection (SSH or local) plus the host's name, with
//! helpers that turn a failed script into a readable error.

use crate::connection::local::LocalConnection;
use crate::connection::ssh::{SshConnection, SshOptions};
use crate::connection::{Connection, ExecOutput};

pub(crate) struct Remote {
    /// How messages name the host (`root@10.0.0.5`).
    pub(crate) name: String,
    conn: Box<dyn Connection>,
    /// Scripts run through `sudo -n` (an SSH user other than root).
    sudo: bool,
}

impl Remote {
    pub(crate) fn ssh(opts: &SshOptions) -> Result<Remote, String> {
        let conn = SshConnection::connect(opts).map_err(|e| e.to_string())?;
        Ok(Remote {
            name: format!("{}@{}", opts.user, opts.host),
            conn: Box::new(conn),
            sudo: opts.user != "root",
        })
    }

    pub(crate) fn local(name: impl Into<String>) -> Remote {
        Remote {
            name: name.into(),
            conn: Box::new(LocalConnection::new()),
            sudo: false,
        }
    }

    /// Runs a POSIX sh script; a connection failure is an error, a non-zero exit is not.
    pub(crate) fn exec(
        &mut self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, String> {
        let wrapped;
        let script = if self.sudo {
            wrapped = as_root(script);
            wrapped.as_str()
        } else {
            script
        };
        self.conn
            .exec(script, stdin)
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// Runs a script that must succeed; returns its stdout. (The deploy
    /// driver's own commands are reads: the audit trail names them.)
    pub(crate) fn run(
        &mut self,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<String, String> {
        let out = crate::connection::record::with_origin(
            || format!("read {what}"),
            || self.exec(script, stdin),
        )?;
        if out.success() {
            Ok(out.stdout_str())
        } else {
            let err = out.stderr_str();
            let err = err.trim();
            Err(format!(
                "{}: {what} failed (exit {}){}",
                self.name,
                out.rc,
                if err.is_empty() {
                    String::new()
                } else {
                    format!(": {err}")
                }
            ))
        }
    }
}

/// The host side manages /opt/tova, systemd and Caddy: as another SSH user,
/// a script runs through passwordless sudo (like the playbook's `become`).
pub(crate) fn as_root(script: &str) -> String {
    format!("sudo -n /bin/sh -c {}", q(script))
}

/// Single-quotes a value for sh.
pub(crate) fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_run_as_root_through_sudo_unchanged() {
        let script = "set -eu\necho 'it''s' \"$HOME\"\n";
        let wrapped = as_root(script);
        let arg = wrapped
            .strip_prefix("sudo -n /bin/sh -c ")
            .expect("sudo prefix");
        // Undo the quoting with sh itself: the script survives byte for byte.
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {arg}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), script);
    }
}
