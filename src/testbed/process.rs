//! Detached child processes: started in their own session with output to a
//! log file, remembered by pid *and* start time so that a recycled pid is
//! never mistaken for ours.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A process berth started and left running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Process {
    pub(crate) pid: i32,
    /// Start time in clock ticks since boot (field 22 of /proc/PID/stat).
    pub(crate) start: u64,
}

impl Process {
    /// Start `cmd` detached (new session, stdin from /dev/null, both output
    /// streams appended to `log`). The child is not waited for.
    pub(crate) fn spawn_detached(cmd: &mut Command, log: &Path) -> Result<Process, String> {
        let out = open_log(log)?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: setsid is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        let pid = child.id() as i32;
        // The Child handle is dropped without waiting: the process outlives us
        // and is reaped by whoever inherits it.
        std::mem::forget(child);
        let start = start_time(pid).ok_or_else(|| {
            format!(
                "process {pid} vanished right after start (see {})",
                log.display()
            )
        })?;
        Ok(Process { pid, start })
    }

    /// True while the process exists, is not a zombie and is the one we started.
    pub(crate) fn alive(&self) -> bool {
        match stat_fields(self.pid) {
            Some((state, start)) => start == self.start && state != 'Z' && state != 'X',
            None => false,
        }
    }

    pub(crate) fn signal(&self, sig: i32) {
        if self.alive() {
            // SAFETY: plain syscall on a pid we verified to be ours.
            unsafe {
                libc::kill(self.pid, sig);
            }
        }
        reap(self.pid);
    }

    /// Wait until the process is gone; true if it went within `timeout`.
    pub(crate) fn wait_gone(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            reap(self.pid);
            if !self.alive() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; waits until the process is gone.
    pub(crate) fn stop(&self, grace: Duration) {
        self.signal(libc::SIGTERM);
        if !self.wait_gone(grace) {
            self.signal(libc::SIGKILL);
            self.wait_gone(Duration::from_secs(10));
        }
    }

    /// Direct children of this process.
    pub(crate) fn children(&self) -> Vec<Process> {
        let mut out = Vec::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return out;
        };
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            for pid in text
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                if let Some(start) = start_time(pid) {
                    out.push(Process { pid, start });
                }
            }
        }
        out
    }
}

/// Reap `pid` if it is our own exited child (no-op otherwise).
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: WNOHANG never blocks; an unrelated pid just yields ECHILD.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

fn open_log(log: &Path) -> Result<File, String> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))
}

pub(crate) fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid).map(|(_, start)| start)
}

/// (state, starttime) from /proc/PID/stat. The command name may contain
/// spaces and parentheses, so fields are counted after the last `)`.
fn stat_fields(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); starttime is field 22.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Run a command to completion; Err carries its stderr (or the spawn error).
pub(crate) fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut msg = format!("{:?} failed ({})", cmd, out.status);
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.trim().is_empty() {
            msg.push_str(": ");
            msg.push_str(err.trim());
        }
        Err(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_process_is_tracked_and_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        let p = Process::spawn_detached(Command::new("sleep").arg("30"), &log).unwrap();
        assert!(p.alive());
        // A different start time means a different process, even with the same pid.
        assert!(!Process {
            pid: p.pid,
            start: p.start + 1
        }
        .alive());
        p.stop(Duration::from_secs(2));
        assert!(!p.alive());
    }

    #[test]
    fn run_reports_stderr_of_failures() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        assert!(err.contains("boom"), "{err}");
        assert_eq!(
            run(Command::new("sh").args(["-c", "echo hi"])).unwrap(),
            "hi\n"
        );
    }
}
