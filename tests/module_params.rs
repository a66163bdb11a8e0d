//! Every module berth has, against the parameter spec of the installed
//! ansible-core (`ansible-doc -j`): berth accepts no parameter Ansible does
//! not have, and each Ansible parameter berth does not take is refused by
//! name ("Unsupported parameters for (M) module: P") and listed in the
//! reviewed golden `tests/golden/module_params.txt`. A parameter that
//! becomes supported, or a new gap, changes the golden.
//!
//! What berth accepts is asked of berth itself, as a user meets it: one task
//! per module with an unknown parameter, whose refusal lists the supported
//! ones. `BERTH_BLESS=1 cargo test --test module_params` rewrites the golden.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_berth");
const PROBE: &str = "zzz_berth_probe";

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Ansible's options and aliases per module.
fn ansible_spec(modules: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut cmd = Command::new("ansible-doc");
    cmd.arg("-j")
        .args(modules.iter().map(|m| format!("ansible.builtin.{m}")));
    let out = cmd.output().expect("ansible-doc runs");
    assert!(
        out.status.success(),
        "ansible-doc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("ansible-doc -j prints JSON");
    let mut spec = BTreeMap::new();
    for m in modules {
        let options = doc[format!("ansible.builtin.{m}")]["doc"]["options"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut names = BTreeSet::new();
        for (name, o) in &options {
            names.insert(name.clone());
            for a in o["aliases"].as_array().into_iter().flatten() {
                names.insert(a.as_str().unwrap_or_default().to_string());
            }
        }
        spec.insert(m.clone(), names);
    }
    spec
}

/// What berth accepts per module, from its refusal of an unknown parameter.
fn berth_accepts(dir: &Path, modules: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut play = String::from("- hosts: localhost\n  gather_facts: false\n  tasks:\n");
    for m in modules {
        // Action plugins that check their own required arguments before the
        // parameter spec (as Ansible's do) get harmless ones.
        let required = match m.as_str() {
            "assemble" => ", src: /nonexistent/berth-probe, dest: /nonexistent/berth-probe",
            _ => "",
        };
        play.push_str(&format!("    - name: probe {m}\n      ansible.builtin.{m}: {{{PROBE}: 1{required}}}\n      ignore_errors: true\n"));
    }
    std::fs::write(dir.join("probe.yml"), play).unwrap();
    std::fs::write(dir.join("inv.ini"), "localhost ansible_connection=local\n").unwrap();
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["run", "probe.yml", "-i", "inv.ini", "--json"])
        .output()
        .unwrap();
    let mut accepted = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(m) = e["task"].as_str().and_then(|t| t.strip_prefix("probe ")) else {
            continue;
        };
        if e["event"] != "host_result" {
            continue;
        }
        let msg = e["result"]["msg"].as_str().unwrap_or_default();
        // The module names itself (systemd_service answers as systemd, its other name).
        let marker = format!(" module: {PROBE}. Supported parameters include: ");
        let list = msg
            .strip_prefix("Unsupported parameters for (")
            .and_then(|rest| rest.split_once(&marker))
            .map(|(_, list)| list)
            .unwrap_or_else(|| {
                panic!(
                    "{m} does not refuse an unknown parameter by name: {}",
                    e["result"]
                )
            });
        let names = list
            .trim_end_matches('.')
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        accepted.insert(m.to_string(), names);
    }
    accepted
}

#[test]
fn module_parameters_match_ansible_doc() {
    if !have("ansible-doc") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs ansible-core: ansible-doc is missing"
        );
        eprintln!("ansible-doc not installed: parameter comparison not run");
        return;
    }
    let out = Command::new(BIN).arg("modules").output().unwrap();
    assert!(out.status.success());
    // Modules with a parameter spec of their own (set_fact takes any name;
    // package hands its arguments to the host's manager module, apt here, as
    // Ansible's does; the runner's own actions have no module arguments to refuse).
    let skip = [
        "set_fact",
        "package",
        "setup",
        "gather_facts",
        "ping",
        "meta",
        "import_playbook",
        "import_role",
        "import_tasks",
        "include_role",
        "include_tasks",
    ];
    let modules: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("ansible.builtin.").to_string())
        .filter(|m| !skip.contains(&m.as_str()))
        .collect();
    assert!(modules.len() > 30, "{modules:?}");
    let spec = ansible_spec(&modules);
    let tmp = tempfile::tempdir().unwrap();
    let accepted = berth_accepts(tmp.path(), &modules);
    let mut report = String::new();
    for m in &modules {
        let ours = accepted
            .get(m)
            .unwrap_or_else(|| panic!("no probe result for {m}"));
        let theirs = &spec[m];
        // `_raw_params` is the free form (`free_form` in the docs); `_` names are internal, as in Ansible.
        // Parameters the module's argument spec has but its documentation omits.
        let undocumented: &[&str] = match m.as_str() {
            "command" => &["executable"], // accepted and ignored with a warning (command.py)
            "shell" => &["strip_empty_ends"], // shell runs the command module, whose spec has it
            _ => &[],
        };
        let extra: Vec<&String> = ours
            .iter()
            .filter(|p| {
                !theirs.contains(*p) && !p.starts_with('_') && !undocumented.contains(&p.as_str())
            })
            .collect();
        assert!(
            extra.is_empty(),
            "{m}: berth accepts parameters ansible-core does not have: {extra:?}"
        );
        let missing: Vec<&str> = theirs
            .iter()
            .filter(|p| !ours.contains(*p) && !matches!(p.as_str(), "free_form" | "free-form"))
            .map(String::as_str)
            .collect();
        report.push_str(&format!(
            "{m}: {}\n",
            if missing.is_empty() {
                "all".to_string()
            } else {
                format!("refuses {}", missing.join(", "))
            }
        ));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/module_params.txt");
    if std::env::var_os("BERTH_BLESS").is_some() {
        std::fs::write(&golden, &report).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with BERTH_BLESS=1 and review it",
            golden.display()
        )
    });
    pretty_assertions::assert_eq!(
        report,
        want,
        "the parameters berth refuses changed: review, then BERTH_BLESS=1"
    );
}
