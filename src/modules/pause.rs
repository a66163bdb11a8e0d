//! `pause`: wait on the controller for a duration, or for the user when
//! stdin is a terminal.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::{ModuleContext, ModuleOutcome};

/// Local time as Python's `str(datetime.now())`: `2026-11-22 02:19:40.123456`.
pub(crate) fn local_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r only writes into the `tm` we own.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros()
    )
}

/// Python's `str(round(x, 2))` for a non-negative float.
fn py_round2(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    let s = format!("{r}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

pub(crate) fn run(
    _ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let a = Args::new("pause", args);
    if let Err(e) = a.check_known(&["minutes", "seconds", "prompt", "echo"]) {
        return Ok(ModuleOutcome::failed(e));
    }
    if a.get("minutes").is_some() && a.get("seconds").is_some() {
        return Ok(ModuleOutcome::failed(
            "parameters are mutually exclusive: minutes|seconds",
        ));
    }
    let echo = match a.bool("echo", true) {
        Ok(b) => b,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let (unit, raw) = match (a.get("minutes"), a.get("seconds")) {
        (Some(m), _) => ("minutes", Some(m)),
        (None, Some(s)) => ("seconds", Some(s)),
        (None, None) => ("seconds", None),
    };
    let mut seconds: Option<u64> = None;
    if let Some(v) = raw {
        let parsed = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n >= 0 => {
                seconds = Some(if unit == "minutes" {
                    n as u64 * 60
                } else {
                    n as u64
                })
            }
            _ => {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                return Ok(ModuleOutcome::failed(format!(
                    "non-integer value given for prompt duration:\n{shown}"
                )));
            }
        }
    }
    let prompt = match a.str("prompt") {
        Ok(p) => p,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let mut user_input = String::new();
    let tty = stdin_is_tty();
    match seconds {
        Some(n) => {
            if tty {
                if let Some(p) = &prompt {
                    println!("[pause]\n{p}");
                }
            }
            std::thread::sleep(Duration::from_secs(n));
        }
        None if tty => {
            let text = prompt
                .clone()
                .unwrap_or_else(|| "Press enter to continue, Ctrl+C to interrupt".into());
            print!("[pause]\n{text}:\n");
            let _ = std::io::stdout().flush();
            user_input = if echo {
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                rpassword::read_password().unwrap_or_default()
            };
        }
        // Not interactive and no duration: nothing to wait for.
        None => {}
    }
    let elapsed = start.elapsed();
    let stop_wall = SystemTime::now();
    let shown = if unit == "minutes" {
        elapsed.as_secs_f64() / 60.0
    } else {
        elapsed.as_secs_f64()
    };
    Ok(ModuleOutcome::ok()
        .with("rc", 0)
        .with("stderr", "")
        .with("stdout", format!("Paused for {} {unit}", py_round2(shown)))
        .with("start", local_timestamp(start_wall))
        .with("stop", local_timestamp(stop_wall))
        .with("delta", elapsed.as_secs())
        .with("user_input", user_input)
        .with("echo", echo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::NetHarness;
    use regex::Regex;
    use serde_json::json;

    #[test]
    fn fixture_table() {
        let mut h = NetHarness::new(json!({}));
        // (args, unit, minimum wait in ms); the reported duration is the
        // measured one, rounded to 2 places like Ansible.
        let cases = vec![
            (json!({"seconds": 1}), "seconds", 1000u128),
            (json!({"seconds": "0"}), "seconds", 0),
            (
                json!({"minutes": 0, "prompt": "ignored when not a tty"}),
                "minutes",
                0,
            ),
        ];
        let shown = Regex::new(r"^Paused for (\d+\.\d{1,2}) (seconds|minutes)$").unwrap();
        for (args, unit, min_ms) in cases {
            let t = Instant::now();
            let out = h.run(run, args.clone());
            assert!(t.elapsed().as_millis() >= min_ms, "args {args}");
            assert!(t.elapsed().as_millis() < min_ms + 3000, "args {args}");
            assert!(!out.is_failed(), "{:?}", out.result);
            let stdout = out.result["stdout"].as_str().unwrap();
            let c = shown
                .captures(stdout)
                .unwrap_or_else(|| panic!("stdout {stdout}"));
            let value: f64 = c[1].parse().unwrap();
            let secs = if unit == "minutes" {
                value * 60.0
            } else {
                value
            };
            assert_eq!(&c[2], unit);
            assert!(
                secs * 1000.0 >= min_ms as f64 && secs * 1000.0 < min_ms as f64 + 3000.0,
                "{stdout}"
            );
            assert_eq!(out.result["delta"], json!((min_ms / 1000) as u64));
            assert_eq!(out.result["user_input"], "");
            assert_eq!(out.result["changed"], false);
            let start = out.result["start"].as_str().unwrap();
            assert_eq!(start.len(), "2026-11-22 02:19:40.123456".len());
            assert!(out.result["stop"].as_str().unwrap() >= start);
        }
        let bad = h.run(run, json!({"seconds": "soon"}));
        assert_eq!(
            bad.result["msg"],
            "non-integer value given for prompt duration:\nsoon"
        );
        let both = h.run(run, json!({"seconds": 1, "minutes": 1}));
        assert_eq!(
            both.result["msg"],
            "parameters are mutually exclusive: minutes|seconds"
        );
    }

    #[test]
    fn rounding_like_python() {
        assert_eq!(py_round2(1.0004), "1.0");
        assert_eq!(py_round2(0.016666), "0.02");
        assert_eq!(py_round2(12.5), "12.5");
    }
}
