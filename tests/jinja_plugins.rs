//! Every builtin filter, test and lookup of the installed ansible-core
//! (`ansible-doc -t filter|test|lookup -l -j`, the `ansible.builtin.`
//! ones), asked of berth as a user meets it: one playbook per kind, one
//! debug task per plugin rendering a call that is valid in Ansible. What
//! berth does not support is listed, with its error, in the reviewed golden
//! `tests/golden/jinja_plugins.txt`; each such error must name the plugin
//! and say why (never minijinja's bare "unknown filter"). A plugin that
//! becomes supported, or a new one in ansible-core, changes the golden.
//!
//! `BERTH_BLESS=1 cargo test --test jinja_plugins` rewrites the golden.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The `ansible.builtin` plugins of a kind, without their prefix.
fn ansible_names(kind: &str) -> Vec<String> {
    let out = Command::new("ansible-doc")
        .args(["-t", kind, "-l", "-j"])
        .output()
        .expect("ansible-doc runs");
    assert!(
        out.status.success(),
        "ansible-doc -t {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("ansible-doc -j prints JSON");
    let mut names: Vec<String> = doc
        .as_object()
        .expect("a mapping of plugins")
        .keys()
        .filter_map(|k| k.strip_prefix("ansible.builtin."))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// A call of the filter that Ansible renders without an error.
fn filter_probe(name: &str) -> String {
    let call = match name {
        "abs" => "-3 | abs",
        "attr" => "'abc' | attr('nope') is undefined",
        "b64decode" => "'aGk=' | b64decode",
        "b64encode" => "'hi' | b64encode",
        "basename" => "'/a/b.txt' | basename",
        "batch" => "[1, 2, 3] | batch(2) | list",
        "bool" => "'yes' | bool",
        "capitalize" => "'abc' | capitalize",
        "center" => "'abc' | center(9)",
        "checksum" | "md5" | "sha1" => return format!("{{{{ 'abc' | {name} }}}}"),
        "combinations" => "[1, 2, 3] | combinations(2) | list",
        "combine" => "{'a': 1} | combine({'b': 2})",
        "comment" => "'x' | comment",
        "commonpath" => "['/a/b/c', '/a/b/d'] | commonpath",
        "count" | "length" => return format!("{{{{ [1, 2] | {name} }}}}"),
        "d" | "default" => return format!("{{{{ probe_nope | {name}('x') }}}}"),
        "dict2items" => "{'a': 1} | dict2items",
        "dictsort" => "{'b': 1, 'a': 2} | dictsort",
        "difference" => "[1, 2] | difference([2])",
        "dirname" => "'/a/b.txt' | dirname",
        "e" | "escape" | "forceescape" => return format!("{{{{ '<a>' | {name} }}}}"),
        "expanduser" => "'~/x' | expanduser is string",
        "expandvars" => "'$BERTH_PROBE_VAR/x' | expandvars",
        "extract" => "0 | extract(['a'])",
        "fileglob" => "(playbook_dir ~ '/*.csv') | fileglob | map('basename') | list",
        "filesizeformat" => "1000000 | filesizeformat",
        "first" => "[1, 2] | first",
        "flatten" => "[1, [2]] | flatten",
        "float" => "'1.5' | float",
        "format" => "'%s-%d' | format('a', 1)",
        "from_json" => "'{\"a\": 1}' | from_json",
        "from_yaml" => "'a: 1' | from_yaml",
        "from_yaml_all" => "'a: 1' | from_yaml_all | list",
        "groupby" => "[{'k': 1}] | groupby('k')",
        "hash" => "'abc' | hash('md5')",
        "human_readable" => "1024 | human_readable",
        "human_to_bytes" => "'1K' | human_to_bytes",
        "indent" => "'a' | indent(2)",
        "int" => "'3' | int",
        "intersect" => "[1, 2] | intersect([2])",
        "items" => "{'a': 1} | items | list",
        "items2dict" => "[{'key': 'a', 'value': 1}] | items2dict",
        "join" => "['a', 'b'] | join(',')",
        "last" => "[1, 2] | last",
        "list" => "'ab' | list",
        "log" => "8 | log(2)",
        "lower" => "'AB' | lower",
        "mandatory" => "1 | mandatory",
        "map" => "['a'] | map('upper') | list",
        "max" => "[1, 2] | max",
        "min" => "[1, 2] | min",
        "normpath" => "'/a/./b/../c' | normpath",
        "password_hash" => "'pw' | password_hash('sha512', 'saltsalt')",
        "path_join" => "['/a', 'b'] | path_join",
        "permutations" => "[1, 2] | permutations | list",
        "pow" => "2 | pow(3)",
        "pprint" => "{'a': 1} | pprint",
        "product" => "[1, 2] | product(['a']) | list",
        "quote" => "'a b' | quote",
        "random" | "shuffle" => return format!("{{{{ [1] | {name} }}}}"),
        "realpath" => "'/' | realpath",
        "regex_escape" => "'a.b' | regex_escape",
        "regex_findall" => "'a1b2' | regex_findall('[0-9]')",
        "regex_replace" => "'abc' | regex_replace('b', 'x')",
        "regex_search" => "'abc' | regex_search('b')",
        "reject" => "[1, 2] | reject('odd') | list",
        "rejectattr" => "[{'a': true}] | rejectattr('a') | list",
        "rekey_on_member" => "[{'n': 'x'}] | rekey_on_member('n')",
        "relpath" => "'/a/b' | relpath('/a')",
        "replace" => "'abc' | replace('b', 'x')",
        "reverse" => "[1, 2] | reverse | list",
        "root" => "9 | root",
        "round" => "1.26 | round(1)",
        "safe" => "'<a>' | safe",
        "select" => "[1, 2] | select('odd') | list",
        "selectattr" => "[{'a': true}] | selectattr('a') | list",
        "slice" => "[1, 2, 3] | slice(2) | list",
        "sort" => "[2, 1] | sort",
        "split" => "'a,b' | split(',')",
        "splitext" => "'a.txt' | splitext",
        "strftime" => "'%Y' | strftime(0, utc=true)",
        "string" => "1 | string",
        "striptags" => "'<b>x</b>' | striptags",
        "subelements" => "[{'l': [1]}] | subelements('l')",
        "sum" => "[1, 2] | sum",
        "symmetric_difference" => "[1, 2] | symmetric_difference([2, 3])",
        "ternary" => "true | ternary('y', 'n')",
        "title" => "'ab cd' | title",
        "to_datetime" => "('2020-01-02 03:04:05' | to_datetime).year",
        "to_json" | "to_nice_json" | "to_yaml" | "to_nice_yaml" | "tojson" => {
            return format!("{{{{ {{'a': 1}} | {name} }}}}")
        }
        "to_uuid" => "'x' | to_uuid",
        "trim" => "' a ' | trim",
        "truncate" => "'foo bar baz qux' | truncate(9)",
        "type_debug" => "1 | type_debug",
        "union" => "[1] | union([2])",
        "unique" => "[1, 1] | unique",
        "unvault" => "'plain' | unvault('secret')",
        "upper" => "'a' | upper",
        "urldecode" => "'a%20b+c' | urldecode",
        "urlencode" => "'a b' | urlencode",
        "urlize" => "'see http://x.org' | urlize",
        "urlsplit" => "'http://u@h:8/p?q#f' | urlsplit('hostname')",
        "vault" => "'x' | vault('secret')",
        "win_basename" => "'C:/a/b.txt' | win_basename",
        "win_dirname" => "'C:/a/b.txt' | win_dirname",
        "win_splitdrive" => "'C:/a/b.txt' | win_splitdrive",
        "wordcount" => "'a b c' | wordcount",
        "wordwrap" => "'aaa bbb' | wordwrap(3)",
        "xmlattr" => "{'a': 1} | xmlattr",
        "zip" => "[1, 2] | zip(['a', 'b']) | list",
        "zip_longest" => "[1, 2] | zip_longest(['a']) | list",
        other => return format!("{{{{ 'x' | {other} }}}}"),
    };
    format!("{{{{ {call} }}}}")
}

/// A use of the test that Ansible evaluates without an error.
fn test_probe(name: &str) -> String {
    let call = match name {
        "abs" | "is_abs" => "'/a' is @",
        "all" | "any" => "[true] is @",
        "boolean" | "true" => "true is @",
        "false" => "false is @",
        "callable" => "lookup is @",
        "change" | "changed" | "failed" | "failure" | "finished" | "reachable" | "skip"
        | "skipped" | "started" | "succeeded" | "success" | "successful" | "timedout"
        | "unreachable" => "probe_result is @",
        "contains" => "[1] is @(1)",
        "defined" => "1 is @",
        "undefined" => "probe_nope is @",
        "directory" | "is_dir" | "exists" | "link" | "is_link" | "link_exists" | "mount"
        | "is_mount" => "'/' is @",
        "file" | "is_file" | "vaulted_file" => "(playbook_dir ~ '/plain.txt') is @",
        "same_file" | "is_same_file" => "'/' is @('/')",
        "divisibleby" => "4 is @(2)",
        "eq" | "equalto" | "ge" | "le" => "1 is @(1)",
        "gt" | "greaterthan" => "2 is @(1)",
        "lt" | "lessthan" => "1 is @(2)",
        "ne" => "1 is @(2)",
        "escaped" | "lower" | "string" => "'a' is @",
        "upper" => "'A' is @",
        "even" => "2 is @",
        "odd" => "1 is @",
        "filter" => "'upper' is @",
        "test" => "'defined' is @",
        "float" => "1.5 is @",
        "integer" | "number" => "1 is @",
        "nan" | "isnan" => "1.0 is @",
        "in" => "1 is @([1])",
        "subset" | "issubset" => "[1] is @([1, 2])",
        "superset" | "issuperset" => "[1, 2] is @([1])",
        "iterable" | "sequence" => "[1] is @",
        "mapping" => "{} is @",
        "match" | "regex" | "search" => "'ab' is @('a')",
        "none" => "none is @",
        "sameas" => "none is @(none)",
        "truthy" => "'x' is @",
        "falsy" => "'' is @",
        "uri" | "url" => "'http://x.org/' is @",
        "urn" => "'urn:isbn:1' is @",
        "vault_encrypted" => "'x' is @",
        "version" | "version_compare" => "'1.2' is @('1.1', '>')",
        _ => "'x' is @",
    };
    format!("{{{{ {} }}}}", call.replace('@', name))
}

/// A call of the lookup that Ansible answers without an error, with the
/// files of `fixtures` beside the playbook and a server on `port`.
fn lookup_probe(name: &str, port: u16) -> String {
    let call = match name {
        "config" => "lookup('config', 'DEFAULT_FORKS')".to_string(),
        "csvfile" => "lookup('csvfile', 'alice file=data.csv delimiter=,')".into(),
        "dict" => "lookup('dict', {'a': 1})".into(),
        "env" => "lookup('env', 'HOME')".into(),
        "file" | "unvault" => format!("lookup('{name}', 'plain.txt')"),
        "fileglob" => "lookup('fileglob', '*.csv')".into(),
        "first_found" => "lookup('first_found', ['nope', 'plain.txt'])".into(),
        "indexed_items" | "items" | "list" => format!("lookup('{name}', ['a'])"),
        "ini" => "lookup('ini', 'user section=s file=users.ini')".into(),
        "inventory_hostnames" => "lookup('inventory_hostnames', 'all')".into(),
        "lines" | "pipe" => format!("lookup('{name}', 'echo a')"),
        "nested" | "together" => format!("lookup('{name}', [1], ['a'])"),
        "password" => "lookup('password', '/dev/null')".into(),
        "random_choice" => "lookup('random_choice', 'a')".into(),
        "sequence" => "lookup('sequence', 'count=2')".into(),
        "subelements" => "lookup('subelements', [{'l': [1]}], 'l')".into(),
        "template" => "lookup('template', 't.j2')".into(),
        "url" => format!("lookup('url', 'http://127.0.0.1:{port}/')"),
        "varnames" => "lookup('varnames', '^probe_')".into(),
        "vars" => "lookup('vars', 'probe_var')".into(),
        other => format!("lookup('{other}', 'x')"),
    };
    format!("{{{{ {call} }}}}")
}

fn fixtures(dir: &Path) {
    let w = |n: &str, t: &str| std::fs::write(dir.join(n), t).unwrap();
    w("data.csv", "alice,1\nbob,2\n");
    w("users.ini", "[s]\nuser = joe\n");
    w("plain.txt", "plain text\n");
    w("t.j2", "hello {{ probe_var }}\n");
}

/// A server on the loopback that answers `n` requests with a line of text.
fn serve(n: usize) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        for _ in 0..n {
            // Bounded: a request that never comes ends the server.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let accepted = loop {
                match listener.accept() {
                    Ok(conn) => break Some(conn),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(_) => break None,
                }
            };
            let Some((mut s, _)) = accepted else {
                break;
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n",
            );
        }
    });
    (port, handle)
}

/// The first line of berth's error, without the task framing and the
/// temporary folder.
fn core_message(msg: &str, dir: &Path) -> String {
    let msg = msg.split("\n\nThe error appears").next().unwrap_or(msg);
    let msg = msg
        .rsplit_once("Error while resolving value for 'msg': ")
        .map_or(msg, |(_, m)| m);
    let msg = msg
        .strip_prefix("Error rendering template: ")
        .unwrap_or(msg);
    let msg = msg.split(" (line 1 of the template)").next().unwrap_or(msg);
    msg.replace(&dir.to_string_lossy().into_owned(), "<dir>")
        .replace('\n', "\\n")
}

/// What berth answers for each probe: `None` when it rendered, else its error.
fn berth_answers(
    dir: &Path,
    kind: &str,
    probes: &[(String, String)],
) -> BTreeMap<String, Option<String>> {
    let tasks: Vec<Value> = probes
        .iter()
        .map(|(name, expr)| {
            json!({"name": format!("probe {name}"), "debug": {"msg": expr}, "ignore_errors": true})
        })
        .collect();
    let play = json!([{
        "hosts": "localhost",
        "gather_facts": false,
        "vars": {
            "probe_var": "v",
            "probe_result": {"changed": true, "failed": false, "skipped": false, "unreachable": false, "timedout": {"period": 5}, "finished": 1, "started": 1},
        },
        "tasks": tasks,
    }]);
    let file = format!("{kind}.yml");
    std::fs::write(
        dir.join(&file),
        serde_json::to_string_pretty(&play).unwrap(),
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("BERTH_PROBE_VAR", "probe")
        .args(["run", &file, "--json"])
        .output()
        .unwrap();
    let mut answers = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if e["event"] != "host_result" {
            continue;
        }
        let Some(name) = e["task"].as_str().and_then(|t| t.strip_prefix("probe ")) else {
            continue;
        };
        let failed = e["result"]["failed"].as_bool().unwrap_or(false);
        let msg = e["result"]["msg"].as_str().unwrap_or_default();
        answers.insert(name.to_string(), failed.then(|| core_message(msg, dir)));
    }
    answers
}

#[test]
fn builtin_plugins_match_ansible_doc() {
    if !have("ansible-doc") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs ansible-core: ansible-doc is missing"
        );
        eprintln!("ansible-doc not installed: plugin comparison not run");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fixtures(tmp.path());
    let (port, server) = serve(1);
    let mut report = String::from(
        "# ansible-core's ansible.builtin filters, tests and lookups (ansible-doc -t KIND -l)\n# that berth refuses, each with berth's error. Reviewed; BERTH_BLESS=1 rewrites it.\n",
    );
    let mut generic = Vec::new();
    for kind in ["filter", "test", "lookup"] {
        let names = ansible_names(kind);
        assert!(names.len() > 20, "{kind}: {names:?}");
        let probes: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                let expr = match kind {
                    "filter" => filter_probe(n),
                    "test" => test_probe(n),
                    _ => lookup_probe(n, port),
                };
                (n.clone(), expr)
            })
            .collect();
        let answers = berth_answers(tmp.path(), kind, &probes);
        let refused: Vec<(&String, &String)> = names
            .iter()
            .map(|n| {
                let answer = answers
                    .get(n)
                    .unwrap_or_else(|| panic!("no result for the {kind} {n}"));
                (n, answer)
            })
            .filter_map(|(n, a)| a.as_ref().map(|m| (n, m)))
            .collect();
        report.push_str(&format!(
            "\n{kind}: {} listed, {} supported\n",
            names.len(),
            names.len() - refused.len()
        ));
        for (name, msg) in refused {
            let lower = msg.to_lowercase();
            if lower.contains("unknown filter")
                || lower.contains("unknown test")
                || lower.contains("not found (berth supports")
                || !msg.contains(name.as_str())
            {
                generic.push(format!("{kind} {name}: {msg}"));
            }
            report.push_str(&format!("{kind} {name}: {msg}\n"));
        }
    }
    server.join().unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/jinja_plugins.txt");
    if std::env::var_os("BERTH_BLESS").is_some() {
        std::fs::write(&golden, &report).unwrap();
    }
    assert!(
        generic.is_empty(),
        "refused without an error naming the plugin and why:\n{}",
        generic.join("\n")
    );
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with BERTH_BLESS=1 and review it",
            golden.display()
        )
    });
    pretty_assertions::assert_eq!(
        report,
        want,
        "berth's support of ansible.builtin plugins changed; review and rerun with BERTH_BLESS=1"
    );
}
