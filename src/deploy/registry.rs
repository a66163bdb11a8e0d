//! The host's port registry (seed 003 §5) as `--list` reads it. Ports are
//! allocated by the deploy script of the role app (`tova ports`), under a
//! host-wide flock; each app owns `registry/<app>.*` and `registry.json` is
//! regenerated from them.

use serde_json::Value;

use super::layout::Layout;
use super::remote::{q, Remote};

/// First port handed out.
pub(crate) const FIRST_PORT: u16 = 3000;

/// The host's `registry.json` (an empty registry when there is none).
pub(crate) fn read(remote: &mut Remote, layout: &Layout) -> Result<Value, String> {
    let out = remote.run(
        "reading the registry",
        &format!("cat {}/registry.json 2>/dev/null || true", q(&layout.root)),
        None,
    )?;
    if out.trim().is_empty() {
        return Ok(serde_json::json!({"apps": {}, "next_port": FIRST_PORT}));
    }
    serde_json::from_str(&out).map_err(|e| {
        format!(
            "{}: {}/registry.json is not valid JSON: {e}",
            remote.name, layout.root
        )
    })
}
