//! `shell`: like `command`, but the string runs through a shell
//! (`/bin/sh -c`, or `executable`), so pipes, redirections and variables work.

use serde_json::{Map, Value};

use super::{command, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    command::run_command(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys_test_support::{s, SysHarness};
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    #[allow(clippy::type_complexity)]
    fn fixture_table() {
        let h0 = SysHarness::new();
        let dir = h0.path().to_string_lossy().to_string();
        std::fs::write(h0.path().join("f"), "1\n2\n3\n").unwrap();
        // (args, check, changed, failed, rc, stdout, msg)
        let cases: Vec<(Value, bool, bool, bool, &str, &str, &str)> = vec![
            (
                json!({"_raw_params": "echo a | tr a b"}),
                false,
                true,
                false,
                "0",
                "b",
                "",
            ),
            (
                json!({"_raw_params": "wc -l < f", "chdir": dir}),
                false,
                true,
                false,
                "0",
                "3",
                "",
            ),
            (
                json!({"cmd": "echo $0", "executable": "/bin/bash"}),
                false,
                true,
                false,
                "0",
                "/bin/bash",
                "",
            ),
            (
                json!({"_raw_params": "echo out; echo err >&2; exit 4"}),
                false,
                true,
                true,
                "4",
                "out",
                "non-zero return code",
            ),
            (
                json!({"_raw_params": "read x; echo got:$x", "stdin": "v"}),
                false,
                true,
                false,
                "0",
                "got:v",
                "",
            ),
            (
                json!({"_raw_params": "touch x"}),
                true,
                false,
                false,
                "0",
                "",
                "Command would have run if not in check mode",
            ),
            (
                json!({"_raw_params": "echo x", "executable": "/nonexistent/sh"}),
                false,
                false,
                true,
                "2",
                "",
                "Error executing command.",
            ),
            (
                json!({"_raw_params": "echo x", "expand_argument_vars": true}),
                false,
                false,
                true,
                "",
                "",
                "Unsupported parameters for (shell) module: expand_argument_vars",
            ),
        ];
        for (args, check, changed, failed, rc, stdout, msg) in cases {
            let mut h = SysHarness::new();
            h.check_mode = check;
            let out = h.run(run, args.clone());
            assert_eq!(
                (
                    out.is_changed(),
                    out.is_failed(),
                    s(&out, "rc"),
                    s(&out, "stdout"),
                    s(&out, "msg")
                ),
                (
                    changed,
                    failed,
                    rc.to_string(),
                    stdout.to_string(),
                    msg.to_string()
                ),
                "{args}"
            );
        }
    }

    /// `chdir` through a symlink lands in the real directory, as Python's
    /// os.chdir does: `$PWD` is the physical path.
    #[test]
    fn chdir_is_physical() {
        let mut h = SysHarness::new();
        let real = h.path().join("www_root");
        std::fs::create_dir_all(real.join("site")).unwrap();
        std::os::unix::fs::symlink(&real, h.path().join("www")).unwrap();
        let out = h.run(run, json!({"_raw_params": "dirname \"$PWD\"", "chdir": h.path().join("www/site").to_string_lossy()}));
        assert_eq!(
            out.result["stdout"],
            json!(real.canonicalize().unwrap().to_string_lossy())
        );
    }

    #[test]
    fn cmd_is_the_string() {
        let mut h = SysHarness::new();
        let out = h.run(run, json!({"_raw_params": "echo 1 && echo 2"}));
        assert_eq!(out.result["cmd"], json!("echo 1 && echo 2"));
        assert_eq!(out.result["stdout_lines"], json!(["1", "2"]));
    }
}
