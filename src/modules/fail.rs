//! `fail`: fail the task with a message.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::{ModuleContext, ModuleOutcome};

pub(crate) fn run(
    _ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("fail", args);
    if let Err(e) = a.check_known(&["msg"]) {
        return Ok(ModuleOutcome::failed(e));
    }
    let mut out = ModuleOutcome::failed("");
    let msg = a
        .get("msg")
        .cloned()
        .unwrap_or_else(|| Value::String("Failed as requested from task".into()));
    out.result.insert("msg".into(), msg);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::NetHarness;
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let mut h = NetHarness::new(json!({}));
        let cases = vec![
            (
                json!({}),
                json!({"changed": false, "failed": true, "msg": "Failed as requested from task"}),
            ),
            (
                json!({"msg": "boom"}),
                json!({"changed": false, "failed": true, "msg": "boom"}),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(Value::Object(h.run(run, args).result), want);
        }
        let bad = h.run(run, json!({"message": "x"}));
        assert_eq!(
            bad.result["msg"],
            "Unsupported parameters for (fail) module: message. Supported parameters include: msg."
        );
    }
}
