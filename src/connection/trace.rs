//! What `-vvv` shows of the connection: every command sent to a host with
//! its exit code and duration, and at `-vvvv` how each connection was made.
//! The lines go through `tracing` (so `BERTH_LOG` filters them); a task with
//! `no_log` has its commands shown as hidden, at every level.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::{ConnError, ExecOutput};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

thread_local! {
    static NO_LOG: Cell<bool> = const { Cell::new(false) };
}

/// The run's `-v` count.
pub(crate) fn set_verbosity(v: u8) {
    VERBOSITY.store(v, Ordering::Relaxed);
}

fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// While alive, the commands this thread sends are not shown (`no_log`).
pub(crate) struct NoLog(bool);

impl NoLog {
    pub(crate) fn set(on: bool) -> NoLog {
        NoLog(NO_LOG.with(|c| c.replace(on)))
    }
}

impl Drop for NoLog {
    fn drop(&mut self) {
        NO_LOG.with(|c| c.set(self.0));
    }
}

/// One line per command: `<host> EXEC rc=0 12ms (stdin 40 B): COMMAND`.
pub(crate) fn exec(
    host: &str,
    command: &str,
    stdin: usize,
    took: Duration,
    result: &Result<ExecOutput, ConnError>,
) {
    if verbosity() < 3 {
        return;
    }
    let outcome = match result {
        Ok(out) => match &out.signal {
            Some(sig) => format!("killed by SIG{sig}"),
            None => format!("rc={}", out.rc),
        },
        Err(e) => format!("failed: {e}"),
    };
    let shown = if NO_LOG.with(Cell::get) {
        "(command hidden: no_log)".to_string()
    } else {
        command.trim_end().to_string()
    };
    let input = if stdin > 0 {
        format!(" (stdin {stdin} B)")
    } else {
        String::new()
    };
    tracing::trace!("<{host}> EXEC {outcome} {}{input}: {shown}", millis(took));
}

/// At `-vvvv`: how a connection was made (`details` is only built then).
pub(crate) fn connected(host: &str, details: impl FnOnce() -> String, took: Duration) {
    if verbosity() >= 4 {
        tracing::trace!("<{host}> CONNECTED in {}: {}", millis(took), details());
    } else if verbosity() >= 3 {
        tracing::trace!("<{host}> CONNECTED in {}", millis(took));
    }
}

fn millis(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_log_nests_and_restores() {
        assert!(!NO_LOG.with(Cell::get));
        {
            let _outer = NoLog::set(true);
            {
                let _inner = NoLog::set(false);
                assert!(!NO_LOG.with(Cell::get));
            }
            assert!(NO_LOG.with(Cell::get));
        }
        assert!(!NO_LOG.with(Cell::get));
        assert_eq!(millis(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(millis(Duration::from_millis(250)), "250ms");
    }
}
