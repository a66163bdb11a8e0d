//! `wait_for`: wait on the target for a port, a file, a string in either,
//! or for connections to drain. One bash script with a loop bounded by
//! `timeout`; TCP through bash's `/dev/tcp`.

use base64::Engine;
use regex::Regex;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::net_perms::{parse_stat, stat_script};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "host",
    "port",
    "path",
    "state",
    "delay",
    "timeout",
    "connect_timeout",
    "sleep",
    "search_regex",
    "exclude_hosts",
    "active_connection_states",
    "msg",
];

/// /proc/net/tcp state codes.
const TCP_STATES: &[(&str, &str)] = &[
    ("ESTABLISHED", "01"),
    ("SYN_SENT", "02"),
    ("SYN_RECV", "03"),
    ("FIN_WAIT1", "04"),
    ("FIN_WAIT2", "05"),
    ("TIME_WAIT", "06"),
    ("CLOSE", "07"),
    ("CLOSE_WAIT", "08"),
    ("LAST_ACK", "09"),
    ("LISTEN", "0A"),
    ("CLOSING", "0B"),
];

struct Plan {
    host: String,
    port: Option<i64>,
    path: Option<String>,
    state: String,
    delay: i64,
    timeout: i64,
    connect_timeout: i64,
    sleep: i64,
    search_regex: Option<String>,
    exclude_hex: Vec<String>,
    states_hex: Vec<String>,
    msg: Option<String>,
}

/// An IPv4 address as /proc/net/tcp and tcp6 (v4-mapped) show it.
fn ipv4_hex(ip: &str) -> Option<[String; 2]> {
    let octets: Vec<u8> = ip
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    if octets.len() != 4 {
        return None;
    }
    let v4 = format!(
        "{:02X}{:02X}{:02X}{:02X}",
        octets[3], octets[2], octets[1], octets[0]
    );
    Some([v4.clone(), format!("0000000000000000FFFF0000{v4}")])
}

fn plan(args: &Map<String, Value>) -> Result<Plan, String> {
    let a = Args::new("wait_for", args);
    a.check_known(KNOWN)?;
    let state = a
        .choice(
            "state",
            &["absent", "drained", "present", "started", "stopped"],
            Some("started"),
        )?
        .unwrap_or_default();
    let port = a.int("port")?;
    let path = a.str("path")?;
    if port.is_some() && path.is_some() {
        return Err("port and path parameter can not both be passed to wait_for".into());
    }
    if path.is_some() && state == "stopped" {
        return Err(
            "state=stopped should only be used for checking a port in the wait_for module".into(),
        );
    }
    if path.is_some() && state == "drained" {
        return Err(
            "state=drained should only be used for checking a port in the wait_for module".into(),
        );
    }
    if a.get("exclude_hosts").is_some() && state != "drained" {
        return Err("exclude_hosts should only be with state=drained".into());
    }
    let search_regex = a.str("search_regex")?;
    if let Some(re) = &search_regex {
        // Python regexes that Rust's engine lacks (look-around, back
        // references) still run through grep -P on the target.
        if let Err(e) = Regex::new(re) {
            let text = e.to_string();
            if !text.contains("not supported") {
                return Err(format!(
                    "Invalid regular expression: {}",
                    text.lines().last().unwrap_or(&text).trim()
                ));
            }
        }
    }
    let mut exclude_hex = Vec::new();
    for h in a.list("exclude_hosts")? {
        let hex =
            ipv4_hex(&h).ok_or_else(|| format!("exclude_hosts: '{h}' is not an IPv4 address"))?;
        exclude_hex.extend(hex);
    }
    let mut states = a.list("active_connection_states")?;
    if a.get("active_connection_states").is_none() {
        states = [
            "ESTABLISHED",
            "FIN_WAIT1",
            "FIN_WAIT2",
            "SYN_RECV",
            "SYN_SENT",
            "TIME_WAIT",
        ]
        .map(String::from)
        .to_vec();
    }
    let states_hex = states
        .iter()
        .map(|s| {
            TCP_STATES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(s))
                .map(|(_, c)| c.to_string())
                .ok_or_else(|| format!("unknown active_connection_state ({s}) defined"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Plan {
        host: a.str("host")?.unwrap_or_else(|| "127.0.0.1".into()),
        port,
        path,
        state,
        delay: a.int("delay")?.unwrap_or(0).max(0),
        timeout: a.int("timeout")?.unwrap_or(300).max(0),
        connect_timeout: a.int("connect_timeout")?.unwrap_or(5).max(1),
        sleep: a.int("sleep")?.unwrap_or(1).max(0),
        search_regex,
        exclude_hex,
        states_hex,
        msg: a.str("msg")?,
    })
}

/// The bash program. It prints `WAITFOR <ok|timeout> <elapsed seconds>` and,
/// after a regex match, `DATA <base64 of what matched against>`.
fn script(p: &Plan) -> String {
    let mut s = format!(
        "export LC_ALL=C\n\
         host={host}; port={port}; path={path}; re={re}; ct={ct}; nap={nap}\n\
         now() {{ local t=${{EPOCHREALTIME:-}}; t=${{t/[.,]/}}; if [ -n \"$t\" ]; then echo $((10#$t / 1000)); else echo $(( $(date +%s%N) / 1000000 )); fi; }}\n\
         start=$(now); deadline=$((start + {timeout} * 1000))\n\
         if echo x | grep -qP x 2>/dev/null; then g='grep -qP'; else g='grep -qE'; fi\n\
         left() {{ local l=$(( (deadline - $(now) + 999) / 1000 )); [ $l -lt 1 ] && l=1; echo $l; }}\n\
         finish() {{ echo \"WAITFOR $1 $(( ($(now) - start) / 1000 ))\"; exit 0; }}\n\
         [ {delay} -gt 0 ] && sleep {delay}\n",
        host = quote(&p.host),
        port = p.port.map(|n| n.to_string()).unwrap_or_default(),
        path = quote(p.path.as_deref().unwrap_or("")),
        re = quote(p.search_regex.as_deref().unwrap_or("")),
        ct = p.connect_timeout,
        nap = p.sleep,
        timeout = p.timeout,
        delay = p.delay,
    );
    let connect = "_c=$(left); [ $_c -gt $ct ] && _c=$ct; timeout $_c bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' _ \"$host\" \"$port\" 2>/dev/null";
    let probe = match (p.port.is_some(), p.path.is_some(), p.state.as_str()) {
        (false, false, "drained") | (true, _, "drained") => {
            let port_hex = format!("{:04X}", p.port.unwrap_or(0));
            let local: Vec<String> = match p.host.as_str() {
                "0.0.0.0" | "::" => Vec::new(),
                h => ipv4_hex(h).map(|x| x.to_vec()).unwrap_or_default(),
            };
            format!(
                "probe() {{ awk -v port={port_hex} -v states={states} -v excl={excl} -v local={local} '\n\
                   BEGIN {{ n = 0; split(states, st, \",\"); split(excl, ex, \",\"); split(local, lo, \",\"); for (i in st) S[st[i]] = 1; for (i in ex) E[ex[i]] = 1; for (i in lo) L[lo[i]] = 1 }}\n\
                   FNR > 1 {{ split($2, la, \":\"); split($3, ra, \":\"); if (la[2] != port || !($4 in S) || (ra[1] in E)) next;\n\
                     if (local != \"\" && !(la[1] in L) && la[1] !~ /^0+$/) next; n++ }}\n\
                   END {{ exit (n > 0) }}' /proc/net/tcp /proc/net/tcp6 2>/dev/null; }}\n",
                states = quote(&p.states_hex.join(",")),
                excl = quote(&p.exclude_hex.join(",")),
                local = quote(&local.join(",")),
            )
        }
        (true, _, "stopped" | "absent") => format!("probe() {{ ! {{ {connect}; }}; }}\n"),
        (true, _, _) if p.search_regex.is_some() => "probe() {\n\
               local f pid; f=$(mktemp)\n\
               timeout $(left) bash -c 'exec 3<>\"/dev/tcp/$1/$2\" || exit 1; cat <&3' _ \"$host\" \"$port\" > \"$f\" 2>/dev/null & pid=$!\n\
               while :; do\n\
                 if $g -- \"$re\" \"$f\"; then kill $pid 2>/dev/null; wait $pid 2>/dev/null; printf 'DATA %s\\n' \"$(base64 -w0 < \"$f\")\"; rm -f \"$f\"; return 0; fi\n\
                 kill -0 $pid 2>/dev/null || break\n\
                 [ $(now) -ge $deadline ] && break\n\
                 sleep 0.1\n\
               done\n\
               if $g -- \"$re\" \"$f\"; then printf 'DATA %s\\n' \"$(base64 -w0 < \"$f\")\"; rm -f \"$f\"; return 0; fi\n\
               kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f \"$f\"; return 1\n\
             }\n".to_string(),
        (true, _, _) => format!("probe() {{ {connect}; }}\n"),
        (false, true, "absent") => "probe() { [ ! -e \"$path\" ]; }\n".to_string(),
        (false, true, _) if p.search_regex.is_some() => {
            "probe() { [ -e \"$path\" ] && [ -r \"$path\" ] && $g -- \"$re\" \"$path\" && printf 'DATA %s\\n' \"$(base64 -w0 < \"$path\")\"; }\n".to_string()
        }
        (false, true, _) => "probe() { [ -e \"$path\" ]; }\n".to_string(),
        (false, false, _) => format!("sleep {}\nfinish ok\n", p.timeout),
    };
    s.push_str(&probe);
    s.push_str(
        "while :; do\n\
           if probe; then finish ok; fi\n\
           [ $(now) -ge $deadline ] && finish timeout\n\
           _r=$(( deadline - $(now) )); if [ $_r -lt $((nap * 1000)) ]; then sleep $(( _r / 1000 )).$(printf '%03d' $(( _r % 1000 ))); else sleep $nap; fi\n\
         done\n",
    );
    s
}

/// The loop's `finish` also reports the file facts of `path` when it exists.
fn with_path_stat(p: &Plan, script: String) -> String {
    if p.path.is_none() {
        return script;
    }
    script.replace(
        "finish() { echo",
        &format!(
            "finish() {{ {} echo",
            stat_script("path").trim_end().to_string() + ";"
        ),
    )
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let p = match plan(args) {
        Ok(p) => p,
        Err(e) => return Ok(ModuleOutcome::failed(e).with("elapsed", 0)),
    };
    let cmd = format!(
        "command -v bash >/dev/null 2>&1 || {{ echo 'wait_for needs bash on the target' >&2; exit 127; }}; bash -c {}",
        quote(&with_path_stat(&p, script(&p)))
    );
    let out = ctx.exec(&cmd, None)?;
    let stdout = out.stdout_str();
    let Some(line) = stdout.lines().find(|l| l.starts_with("WAITFOR ")) else {
        return Ok(ModuleOutcome::failed(format!(
            "wait_for could not run on the target: {}",
            out.stderr_str().trim()
        )));
    };
    let mut parts = line.split(' ').skip(1);
    let status = parts.next().unwrap_or("");
    let elapsed: u64 = parts.next().and_then(|e| e.parse().ok()).unwrap_or(0);
    let where_ = |p: &Plan| match (&p.port, &p.path) {
        (Some(port), _) => format!("{}:{port}", p.host),
        (None, Some(path)) => path.clone(),
        _ => String::new(),
    };
    if status != "ok" {
        let default = match (p.port.is_some(), p.state.as_str(), &p.search_regex) {
            (_, "drained", _) => format!("Timeout when waiting for {} to drain", where_(&p)),
            (true, "stopped" | "absent", _) => {
                format!("Timeout when waiting for {} to stop.", where_(&p))
            }
            (false, "absent", _) => {
                format!("Timeout when waiting for {} to be absent.", where_(&p))
            }
            (_, _, Some(re)) => format!(
                "Timeout when waiting for search string {re} in {}",
                where_(&p)
            ),
            (true, _, None) => format!("Timeout when waiting for {}", where_(&p)),
            (false, _, None) => format!("Timeout when waiting for file {}", where_(&p)),
        };
        return Ok(ModuleOutcome::failed(p.msg.clone().unwrap_or(default)).with("elapsed", elapsed));
    }
    let port = p.port.map(Value::from).unwrap_or(Value::Null);
    let path = p.path.clone().map(Value::from).unwrap_or(Value::Null);
    let mut o = ModuleOutcome::ok()
        .with("state", p.state.as_str())
        .with("port", port)
        .with("path", path);
    let mut groups = Vec::new();
    let mut named = Map::new();
    {
        if let (Some(re), Some(data)) = (
            &p.search_regex,
            stdout.lines().find_map(|l| l.strip_prefix("DATA ")),
        ) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(rx) = Regex::new(&format!("(?m){re}")) {
                if let Some(c) = rx.captures(&text) {
                    groups = c
                        .iter()
                        .skip(1)
                        .map(|m| m.map(|m| Value::from(m.as_str())).unwrap_or(Value::Null))
                        .collect();
                    for name in rx.capture_names().flatten() {
                        named.insert(
                            name.to_string(),
                            c.name(name)
                                .map(|m| Value::from(m.as_str()))
                                .unwrap_or(Value::Null),
                        );
                    }
                }
            }
        }
    }
    o = o
        .with(
            "search_regex",
            p.search_regex
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
        )
        .with("match_groups", Value::Array(groups))
        .with("match_groupdict", Value::Object(named));
    // Like Ansible's exit_json: a `path` that exists adds its file facts.
    if let Some(st) = parse_stat(&stdout) {
        o.result.extend(st);
    }
    Ok(o.with("elapsed", elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::{closed_port, NetHarness, TcpBanner};
    use serde_json::json;
    use std::time::{Duration, Instant};

    #[test]
    fn fixture_table() {
        let banner = TcpBanner::start("SSH-2.0-OpenSSH_9.2 berth\r\n");
        let closed = closed_port();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("app.log");
        std::fs::write(&file, "booting\nlistening on port 8080 (pid 42)\n").unwrap();
        let f = file.to_str().unwrap();
        let missing = tmp.path().join("missing").to_str().unwrap().to_string();
        let mut h = NetHarness::new(json!({}));
        let bp = banner.port;
        // (args, expected subset of the result, max seconds the run may take)
        let cases: Vec<(Value, Value, u64)> = vec![
            (
                json!({"port": bp, "timeout": 5}),
                json!({"changed": false, "state": "started", "port": bp, "path": null,
                       "match_groups": [], "match_groupdict": {}}),
                3,
            ),
            (
                json!({"port": bp, "search_regex": "OpenSSH_([0-9.]+)", "timeout": 5}),
                json!({"match_groups": ["9.2"], "search_regex": "OpenSSH_([0-9.]+)"}),
                3,
            ),
            (
                json!({"port": closed, "timeout": 1, "sleep": 1}),
                json!({"failed": true, "msg": format!("Timeout when waiting for 127.0.0.1:{closed}")}),
                4,
            ),
            (
                json!({"port": bp, "search_regex": "nginx", "timeout": 1}),
                json!({"failed": true, "msg": format!("Timeout when waiting for search string nginx in 127.0.0.1:{bp}")}),
                4,
            ),
            (
                json!({"port": closed, "state": "stopped", "timeout": 5}),
                json!({"changed": false, "state": "stopped", "port": closed}),
                3,
            ),
            (
                json!({"port": bp, "state": "stopped", "timeout": 1}),
                json!({"failed": true, "msg": format!("Timeout when waiting for 127.0.0.1:{bp} to stop.")}),
                4,
            ),
            (
                json!({"path": f, "search_regex": "port (?P<port>[0-9]+) \\(pid ([0-9]+)\\)", "timeout": 5}),
                // Like Ansible, the file's facts are added (and `state` becomes "file").
                json!({"state": "file", "size": 40, "path": f, "port": null, "match_groups": ["8080", "42"], "match_groupdict": {"port": "8080"}}),
                3,
            ),
            (
                json!({"path": missing, "state": "absent", "timeout": 5}),
                json!({"changed": false, "state": "absent", "path": missing}),
                3,
            ),
            (
                json!({"path": missing, "timeout": 1, "msg": "the app never wrote its file"}),
                json!({"failed": true, "msg": "the app never wrote its file"}),
                4,
            ),
            (
                json!({"path": f, "state": "absent", "timeout": 1}),
                json!({"failed": true, "msg": format!("Timeout when waiting for {f} to be absent.")}),
                4,
            ),
            (
                json!({"path": f, "search_regex": "crashed", "timeout": 1}),
                json!({"failed": true, "msg": format!("Timeout when waiting for search string crashed in {f}")}),
                4,
            ),
            (
                json!({"port": 1, "path": "/x"}),
                json!({"failed": true, "msg": "port and path parameter can not both be passed to wait_for", "elapsed": 0}),
                1,
            ),
            (
                json!({"path": "/x", "state": "stopped"}),
                json!({"failed": true, "msg": "state=stopped should only be used for checking a port in the wait_for module"}),
                1,
            ),
            (
                json!({"port": 1, "exclude_hosts": ["10.0.0.1"]}),
                json!({"failed": true, "msg": "exclude_hosts should only be with state=drained"}),
                1,
            ),
            (
                json!({"port": closed, "state": "drained", "timeout": 5}),
                json!({"changed": false, "state": "drained", "port": closed}),
                3,
            ),
            (
                json!({"timeout": 1}),
                json!({"changed": false, "state": "started", "port": null, "path": null, "search_regex": null,
                       "match_groups": [], "match_groupdict": {}}),
                3,
            ),
        ];
        for (args, want, max_secs) in cases {
            let t = Instant::now();
            let got = h.run(run, args.clone());
            // Bounded by `timeout` (with slack for a loaded machine), and
            // `elapsed` is whole seconds like Ansible's.
            assert!(
                t.elapsed() < Duration::from_secs(max_secs * 2),
                "args {args} took {:?}",
                t.elapsed()
            );
            let timeout = args.get("timeout").and_then(Value::as_u64);
            let elapsed = got.result["elapsed"].as_u64().unwrap();
            if let Some(limit) = timeout {
                assert!(elapsed <= limit + 2, "args {args}: elapsed {elapsed}");
                if got.is_failed() && got.result["msg"].as_str().unwrap().starts_with("Timeout") {
                    assert!(elapsed >= limit, "args {args}: elapsed {elapsed}");
                }
            }
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(
                    got.result.get(k),
                    Some(v),
                    "key {k} for args {args}: {:?}",
                    got.result
                );
            }
        }
    }

    #[test]
    fn waits_for_a_file_that_appears_later_and_a_port_that_opens_later() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("ready");
        let f2 = file.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            std::fs::write(&f2, "ready=yes\n").unwrap();
        });
        let mut h = NetHarness::new(json!({}));
        let got = h.run(run, json!({"path": file.to_str().unwrap(), "search_regex": "ready=(\\w+)", "timeout": 10, "sleep": 1}));
        writer.join().unwrap();
        assert_eq!(
            got.result["match_groups"],
            json!(["yes"]),
            "{:?}",
            got.result
        );
        let e = got.result["elapsed"].as_u64().unwrap();
        assert!((1..=5).contains(&e), "elapsed {e}");

        let port = closed_port();
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            let _ = l.accept();
            std::thread::sleep(Duration::from_millis(200));
        });
        let got = h.run(run, json!({"port": port, "timeout": 10, "delay": 1}));
        opener.join().unwrap();
        assert!(!got.is_failed(), "{:?}", got.result);
        assert!(got.result["elapsed"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn drained_waits_while_connections_are_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let mut h = NetHarness::new(json!({}));
        let busy = h.run(run, json!({"port": port, "state": "drained", "timeout": 1}));
        assert_eq!(
            busy.result["msg"],
            format!("Timeout when waiting for 127.0.0.1:{port} to drain")
        );
        let excluded = h.run(
            run,
            json!({"port": port, "state": "drained", "timeout": 1, "exclude_hosts": ["127.0.0.1"]}),
        );
        assert!(!excluded.is_failed(), "{:?}", excluded.result);
        drop(client);
        drop(server_side);
        drop(listener);
        // Closed sockets linger in TIME_WAIT; without that state the port counts as drained.
        let drained = h.run(run, json!({"port": port, "state": "drained", "timeout": 3,
                                        "active_connection_states": ["ESTABLISHED", "SYN_RECV", "SYN_SENT"]}));
        assert!(!drained.is_failed(), "{:?}", drained.result);
    }

    #[test]
    fn regex_validation_like_python() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("log");
        std::fs::write(&file, "listening on port 8080\n").unwrap();
        let f = file.to_str().unwrap();
        let mut h = NetHarness::new(json!({}));
        let bad = h.run(run, json!({"path": f, "search_regex": "(unclosed"}));
        assert!(
            bad.result["msg"]
                .as_str()
                .unwrap()
                .starts_with("Invalid regular expression:"),
            "{:?}",
            bad.result
        );
        // Look-ahead is valid in Python; grep -P evaluates it on the target.
        let ahead = h.run(
            run,
            json!({"path": f, "search_regex": "port (?=8080)", "timeout": 3}),
        );
        assert!(!ahead.is_failed(), "{:?}", ahead.result);
        let miss = h.run(
            run,
            json!({"path": f, "search_regex": "port (?=9090)", "timeout": 1}),
        );
        assert!(miss.is_failed());
    }

    #[test]
    fn proc_hex_addresses() {
        assert_eq!(ipv4_hex("127.0.0.1").unwrap()[0], "0100007F");
        assert_eq!(
            ipv4_hex("10.1.2.3").unwrap()[1],
            "0000000000000000FFFF00000302010A"
        );
        assert!(ipv4_hex("host").is_none());
    }
}
