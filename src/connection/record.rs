//! An audit trail of every command sent to a host: with `BERTH_RECORD=FILE`
//! each exec appends one JSON line `{"host", "origin", "command"}` to FILE.
//! The origin says who sent it: `task FILE:LINE NAME` for a task of a
//! playbook (set by the executor around the module), `read WHAT` for the
//! deploy driver's own reads, `other` for anything else. Tests use it to
//! prove that what changes a host comes from the committed playbooks.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

thread_local! {
    static ORIGIN: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn file() -> Option<&'static Mutex<std::fs::File>> {
    FILE.get_or_init(|| {
        let path = std::env::var_os("BERTH_RECORD")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Runs `f` with `origin` as the origin of its commands, unless an outer
/// caller already named one.
pub(crate) fn with_origin<T>(origin: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    if file().is_none() || ORIGIN.with(|o| o.borrow().is_some()) {
        return f();
    }
    ORIGIN.with(|o| *o.borrow_mut() = Some(origin()));
    let out = f();
    ORIGIN.with(|o| *o.borrow_mut() = None);
    out
}

/// Records one command for `host` (when recording).
pub(crate) fn command(host: &str, command: &str) {
    let Some(f) = file() else { return };
    let origin = ORIGIN
        .with(|o| o.borrow().clone())
        .unwrap_or_else(|| "other".into());
    let line = serde_json::json!({"host": host, "origin": origin, "command": command});
    let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
    let _ = writeln!(f, "{line}");
}
