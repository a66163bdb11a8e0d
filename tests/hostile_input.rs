//! Hostile input, as a table: host names, variables, file names and values
//! with spaces, quotes, newlines, `$()`, backticks and non-UTF-8 bytes; YAML
//! bombs, deep nesting and huge files; deploy blocks naming such things.
//! Each case is handled as data or refused with a clear error naming the
//! file: never a panic (exit 101), a hang, or a command that runs.
//!
//! Every case plants a canary: a command that would create `PWNED` in the
//! case's directory if any text of the input were ever run by a shell.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

fn write(dir: &Path, name: &str, body: impl AsRef<[u8]>) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// What a case must end as.
#[derive(Debug)]
enum Want {
    /// Exit 0 and stdout contains the text (the input came through as data).
    Data(&'static str),
    /// Exit 1, 2 or 4 (unreachable) and the output contains each text (the
    /// error, the file).
    Refused(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    /// Writes the files into the case's directory; returns berth's arguments.
    setup: fn(&Path) -> Vec<String>,
    want: Want,
}

const LOCAL: &str = "all:\n  hosts:\n    web: {ansible_connection: local}\n";

fn play(tasks: &str) -> String {
    format!("- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
}

fn run_args(dir: &Path) -> Vec<String> {
    vec![
        "run".into(),
        dir.join("site.yml").display().to_string(),
        "-i".into(),
        dir.join("inv.yml").display().to_string(),
    ]
}

/// A canary that creates PWNED in `dir` if a shell ever runs it.
fn canary(dir: &Path) -> String {
    format!("$(touch {}/PWNED)", dir.display())
}

fn tova_project(dir: &Path, deploy: &str) {
    write(dir, "tova.toml", "[project]\nname = \"hostile\"\nversion = \"0.1.0\"\nentry = \"src\"\n\n[build]\noutput = \".tova-out\"\n");
    write(dir, "src/app.tova", format!("server {{\n  route GET \"/healthz\" => fn() {{ \"ok\" }}\n}}\n\ndeploy \"prod\" {{\n{deploy}}}\n"));
}

fn compile_args(dir: &Path) -> Vec<String> {
    vec![
        "compile".into(),
        dir.display().to_string(),
        "--out".into(),
        dir.join("out").display().to_string(),
    ]
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "$() in a variable given to the command module",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                write(d, "site.yml", play(&format!("    - command: echo {{{{ v }}}}\n      vars:\n        v: '{}'\n      register: r\n    - debug: var=r.stdout\n", canary(d))));
                run_args(d)
            },
            want: Want::Data("$(touch"),
        },
        Case {
            name: "backticks in an extra var (JSON), through the command module's argv",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                write(d, "site.yml", play("    - command:\n        argv: [echo, '{{ v }}']\n      register: r\n    - debug: var=r.stdout\n"));
                let mut a = run_args(d);
                a.extend([
                    "-e".into(),
                    serde_json::json!({ "v": format!("`touch {}/PWNED`", d.display()) })
                        .to_string(),
                ]);
                a
            },
            want: Want::Data("`touch"),
        },
        Case {
            name: "quotes, spaces and $() in a value quoted for the shell module",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                let v = format!("it's \"quoted\" {} `x` ; true", canary(d));
                write(d, "vars.json", serde_json::json!({ "v": v }).to_string());
                write(d, "site.yml", play("    - shell: printf '%s' {{ v | quote }}\n      register: r\n    - debug: var=r.stdout\n"));
                let mut a = run_args(d);
                a.extend(["-e".into(), format!("@{}", d.join("vars.json").display())]);
                a
            },
            want: Want::Data("it's \\\"quoted\\\""),
        },
        Case {
            name: "a file name with spaces, quotes, a newline and $()",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                let name = format!("a b 'c' \"d\"\\n{}", canary(d).replace('/', "_"));
                write(
                    d,
                    "site.yml",
                    play(&format!(
                        "    - copy:\n        content: hello\n        dest: \"{}/{}\"\n    - stat:\n        path: \"{}/{}\"\n      register: s\n    - debug: var=s.stat.exists\n",
                        d.display(),
                        name.replace('"', "\\\""),
                        d.display(),
                        name.replace('"', "\\\"")
                    )),
                );
                run_args(d)
            },
            want: Want::Data("\"s.stat.exists\": true"),
        },
        Case {
            name: "a host name that is a shell command (local connection)",
            setup: |d| {
                write(
                    d,
                    "inv.yml",
                    format!(
                        "all:\n  hosts:\n    \"{}; echo\":\n      ansible_connection: local\n",
                        canary(d)
                    ),
                );
                write(
                    d,
                    "site.yml",
                    play("    - debug: msg={{ inventory_hostname }}\n"),
                );
                run_args(d)
            },
            want: Want::Data("$(touch"),
        },
        Case {
            name: "a host name that is a shell command (ssh): unreachable, that host only",
            setup: |d| {
                write(
                    d,
                    "inv.yml",
                    format!(
                        "all:\n  hosts:\n    \"{}\": {{}}\n    ok: {{ansible_connection: local}}\n",
                        canary(d)
                    ),
                );
                write(d, "site.yml", play("    - ping:\n"));
                let mut a = run_args(d);
                a.extend(["--timeout".into(), "3".into()]);
                a
            },
            want: Want::Refused(&["unreachable=1", "ok                         : ok=1"]),
        },
        Case {
            name: "a host name with a newline in an INI inventory",
            setup: |d| {
                write(d, "inv.ini", "[web]\nalpha ansible_connection=local\n\"beta\nrm -rf /\" ansible_connection=local\n");
                write(
                    d,
                    "site.yml",
                    play("    - debug: msg={{ inventory_hostname }}\n"),
                );
                vec![
                    "run".into(),
                    d.join("site.yml").display().to_string(),
                    "-i".into(),
                    d.join("inv.ini").display().to_string(),
                ]
            },
            want: Want::Refused(&["inv.ini:"]),
        },
        Case {
            name: "non-UTF-8 bytes in a playbook",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                write(
                    d,
                    "site.yml",
                    b"- hosts: all\n  tasks:\n    - debug: msg=\xff\xfe\n".as_slice(),
                );
                run_args(d)
            },
            want: Want::Refused(&["site.yml", "UTF-8"]),
        },
        Case {
            name: "non-UTF-8 bytes in a template",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                write(d, "t.j2", b"hello \xff\n".as_slice());
                write(
                    d,
                    "site.yml",
                    play(&format!(
                        "    - template:\n        src: t.j2\n        dest: {}/out.txt\n",
                        d.display()
                    )),
                );
                run_args(d)
            },
            want: Want::Refused(&["t.j2", "UTF-8"]),
        },
        Case {
            name: "a YAML bomb (a billion values by aliases)",
            setup: |d| {
                let mut bomb = String::from(
                    "- hosts: all\n  vars:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
                );
                for i in 1..10 {
                    let p = i - 1;
                    bomb.push_str(&format!("    a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
                }
                bomb.push_str("  tasks:\n    - debug: msg=hi\n");
                write(d, "inv.yml", LOCAL);
                write(d, "site.yml", bomb);
                run_args(d)
            },
            want: Want::Refused(&["B0701", "site.yml:", "more than 1000000 values"]),
        },
        Case {
            name: "nesting 100000 levels deep",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                write(
                    d,
                    "site.yml",
                    format!(
                        "- hosts: all\n  vars:\n    deep: {}{}\n  tasks: []\n",
                        "[".repeat(100_000),
                        "]".repeat(100_000)
                    ),
                );
                run_args(d)
            },
            want: Want::Refused(&["B0701", "site.yml:", "nested more than 256 levels deep"]),
        },
        Case {
            name: "a 40 MB vars file (200000 entries) is data",
            setup: |d| {
                write(d, "inv.yml", LOCAL);
                let mut big = String::with_capacity(41 << 20);
                for i in 0..200_000 {
                    big.push_str(&format!("k{i}: \"{}\"\n", "v".repeat(200)));
                }
                write(d, "big.yml", big);
                write(d, "site.yml", "- hosts: all\n  gather_facts: false\n  vars_files: [big.yml]\n  tasks:\n    - debug: msg={{ k199999 | length }}\n");
                run_args(d)
            },
            want: Want::Data("\"msg\": 200"),
        },
        Case {
            name: "a deploy block whose server is a shell command",
            setup: |d| {
                tova_project(
                    d,
                    &format!(
                        "  server: \"root@{}\"\n  domain: \"x.example.com\"\n",
                        canary(d)
                    ),
                );
                compile_args(d)
            },
            want: Want::Refused(&["app.tova:6", "server"]),
        },
        Case {
            name: "a deploy block whose domain has a space and a quote",
            setup: |d| {
                tova_project(
                    d,
                    "  server: \"root@203.0.113.10\"\n  domain: \"x.example.com\\\" evil\"\n",
                );
                compile_args(d)
            },
            want: Want::Refused(&["app.tova:7", "domain"]),
        },
        Case {
            name: "non-UTF-8 bytes in a .tova file",
            setup: |d| {
                tova_project(
                    d,
                    "  server: \"root@203.0.113.10\"\n  domain: \"x.example.com\"\n",
                );
                let mut src = std::fs::read(d.join("src/app.tova")).unwrap();
                src.extend_from_slice(b"\n// \xff\xfe\n");
                write(d, "src/app.tova", src);
                compile_args(d)
            },
            want: Want::Refused(&["app.tova", "UTF-8"]),
        },
        Case {
            name: "non-UTF-8 bytes in tova.toml",
            setup: |d| {
                tova_project(
                    d,
                    "  server: \"root@203.0.113.10\"\n  domain: \"x.example.com\"\n",
                );
                write(d, "tova.toml", b"[project]\nname = \"\xff\"\n".as_slice());
                compile_args(d)
            },
            want: Want::Refused(&["tova.toml", "UTF-8"]),
        },
        Case {
            name: "an env value with $() and quotes in a deploy block's env",
            setup: |d| {
                tova_project(d, &format!("  server: \"root@203.0.113.10\"\n  domain: \"x.example.com\"\n  env {{\n    GREETING: \"it's \\\"{}\\\" `x`\"\n  }}\n", canary(d)));
                compile_args(d)
            },
            want: Want::Data(""),
        },
    ]
}

#[test]
fn every_hostile_input_is_data_or_a_clear_error() {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let args = (case.setup)(d);
        let started = Instant::now();
        let mut child = berth()
            .args(&args)
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a hang is a failure, not a stuck suite.
        let deadline = Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        let took = started.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = status.and_then(|s| s.code());
        // The canary's file, or (where `/` was taken out of it) its name made
        // of the path with `_`: either means a shell ran the input.
        let pwned = d.join("PWNED").exists()
            || std::fs::read_dir(d).unwrap().flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with('_') && n.ends_with("PWNED")
            });
        let verdict = match (&case.want, code) {
            _ if status.is_none() => Err(format!("hung past {deadline:?}")),
            _ if pwned => Err("a command in the input ran".to_string()),
            (_, Some(101)) => Err("panicked".to_string()),
            (Want::Data(s), Some(0)) if text.contains(s) => Ok("handled as data".to_string()),
            (Want::Refused(needles), Some(1 | 2 | 4))
                if needles.iter().all(|n| text.contains(n)) =>
            {
                Ok(format!(
                    "refused: {}",
                    text.lines()
                        .find(|l| l.contains("error")
                            || l.contains("unreachable")
                            || l.contains("fatal"))
                        .unwrap_or("")
                        .trim()
                ))
            }
            (w, c) => Err(format!("wanted {w:?}, got exit {c:?}")),
        };
        match verdict {
            Ok(v) => table.push(format!(
                "{:<72} {:>6.2}s  {v}",
                case.name,
                took.as_secs_f64()
            )),
            Err(e) => {
                table.push(format!(
                    "{:<72} {:>6.2}s  FAILED: {e}",
                    case.name,
                    took.as_secs_f64()
                ));
                failures.push(format!("{}: {e}\n{text}", case.name));
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
