//! `ansible_connection: local`: commands run on the controller through `/bin/sh -c`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use super::{ConnError, Connection, ExecOutput};

#[derive(Debug, Default)]
pub(crate) struct LocalConnection;

impl LocalConnection {
    pub(crate) fn new() -> LocalConnection {
        LocalConnection
    }
}

impl Connection for LocalConnection {
    fn exec(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        let started = std::time::Instant::now();
        let result = self.exec_once(command, stdin);
        super::trace::exec(
            "localhost",
            command,
            stdin.map_or(0, <[u8]>::len),
            started.elapsed(),
            &result,
        );
        result
    }
}

impl LocalConnection {
    fn exec_once(&mut self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, ConnError> {
        super::record::command("localhost", command);
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ConnError::Unreachable(format!("cannot start /bin/sh: {e}")))?;
        // Write stdin and drain both streams on their own threads so that no
        // pipe buffer can fill up and block the child.
        let writer = stdin.map(|data| {
            let mut pipe = child.stdin.take().expect("piped stdin");
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            })
        });
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            buf
        });
        let mut stdout = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_end(&mut stdout);
        }
        let stderr = err_reader.join().unwrap_or_default();
        if let Some(w) = writer {
            let _ = w.join();
        }
        let status = child
            .wait()
            .map_err(|e| ConnError::Unreachable(format!("waiting for /bin/sh: {e}")))?;
        use std::os::unix::process::ExitStatusExt;
        let (rc, signal) = match (status.code(), status.signal()) {
            (Some(code), _) => (code, None),
            (None, Some(sig)) => (128 + sig, Some(signal_name(sig))),
            (None, None) => (-1, None),
        };
        Ok(ExecOutput {
            rc,
            stdout,
            stderr,
            signal,
        })
    }
}

/// The conventional name of a POSIX signal number (`KILL` for 9, ...).
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        6 => "ABRT",
        9 => "KILL",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_command_and_captures_streams() {
        let mut c = LocalConnection::new();
        let out = c.exec("echo out; echo err >&2; exit 3", None).unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn large_output_on_both_streams_does_not_hang() {
        let mut c = LocalConnection::new();
        let out = c
            .exec(
                "head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2",
                None,
            )
            .unwrap();
        assert_eq!(out.stdout.len(), 5_000_000);
        assert_eq!(out.stderr.len(), 5_000_000);
    }

    #[test]
    fn stdin_is_delivered_and_signals_reported() {
        let mut c = LocalConnection::new();
        let out = c.exec("cat", Some(b"hello")).unwrap();
        assert_eq!(out.stdout, b"hello");
        let out = c.exec("kill -9 $$", None).unwrap();
        assert_eq!(out.signal.as_deref(), Some("KILL"));
    }
}
