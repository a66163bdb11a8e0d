//! `berth run` as a user sees it: exact human output, exit codes, JSON lines.

use std::path::Path;
use std::process::Command;

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

const INV: &str = "all:\n  hosts:\n    alpha: {ansible_connection: local}\n    beta: {ansible_connection: local}\n";

#[test]
fn human_output_matches_ansible_layout() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(
        d.path(),
        "site.yml",
        "- name: demo\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: say\n      debug: msg=hi\n      when: inventory_hostname == 'alpha'\n    - name: touch\n      command: 'true'\n      changed_when: false\n",
    );
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let want = "
PLAY [demo] ********************************************************************

TASK [say] *********************************************************************
ok: [alpha] => {
    \"msg\": \"hi\"
}
skipping: [beta]

TASK [touch] *******************************************************************
ok: [alpha]
ok: [beta]

PLAY RECAP *********************************************************************
alpha                      : ok=2    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   
beta                       : ok=1    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0   

";
    pretty_assertions::assert_eq!(stdout, want);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn json_lines_end_with_the_recap() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(d.path(), "site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'false'\n      when: inventory_hostname == 'beta'\n");
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml", "--json"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("event").is_some(), "{line}");
    }
    assert_eq!(
        stdout.lines().last().unwrap(),
        r#"{"event":"recap","hosts":{"alpha":{"ok":0,"changed":0,"unreachable":0,"failed":0,"skipped":1,"rescued":0,"ignored":0},"beta":{"ok":0,"changed":0,"unreachable":0,"failed":1,"skipped":0,"rescued":0,"ignored":0}}}"#
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn errors_before_running_exit_1_with_location_and_fix() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(
        d.path(),
        "site.yml",
        "- hosts: all\n  tasks:\n    - name: x\n      copy: {}\n      shel: echo\n",
    );
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error[B0735]: this task has two modules: `copy` and `shel`"),
        "{stderr}"
    );
    assert!(stderr.contains("site.yml:5"), "{stderr}");
    assert!(stderr.contains("= help:"), "{stderr}");

    let out = berth()
        .args(["run", "missing.yml", "-i", "inv.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // Without an inventory only the implicit localhost exists, like ansible-playbook.
    write(
        d.path(),
        "local.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    let out = berth()
        .args(["run", "local.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("only implicit localhost is available"));
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml", "--strategy", "fast"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn extra_vars_forms() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(d.path(), "vars.yml", "b: 2\n");
    write(d.path(), "site.yml", "- hosts: alpha\n  gather_facts: false\n  vars: {a: 0}\n  tasks:\n    - assert: {that: [\"a == '1'\", 'b == 2', 'c.d == 3']}\n");
    let out = berth()
        .args([
            "run",
            "site.yml",
            "-i",
            "inv.yml",
            "-e",
            "a=1",
            "-e",
            "@vars.yml",
            "-e",
            r#"{"c": {"d": 3}}"#,
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn syntax_check_list_hosts_and_list_tasks() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(d.path(), "site.yml", "- name: web\n  hosts: all\n  tasks:\n    - name: one\n      command: 'true'\n      tags: [a]\n    - block:\n        - name: two\n          debug: msg=x\n      tags: [b]\n");
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml", "--syntax-check"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "\nplaybook: site.yml\n"
    );
    let out = berth()
        .args([
            "run",
            "site.yml",
            "-i",
            "inv.yml",
            "--list-hosts",
            "--limit",
            "beta",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("hosts (1):\n      beta\n"), "{text}");
    let out = berth()
        .args([
            "run",
            "site.yml",
            "-i",
            "inv.yml",
            "--list-tasks",
            "--tags",
            "b",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("two\tTAGS: [b]"), "{text}");
    assert!(!text.contains("one\t"), "{text}");
    write(
        d.path(),
        "bad.yml",
        "- hosts: all\n  tasks:\n    - nothing: here\n      also: here\n",
    );
    let out = berth()
        .args(["run", "bad.yml", "-i", "inv.yml", "--syntax-check"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn ansible_cfg_supplies_inventory_gathering_and_roles_path() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "hosts.yml", INV);
    write(
        d.path(),
        "ansible.cfg",
        "[defaults]\ninventory = hosts.yml\ngathering = explicit\nroles_path = shared_roles\n",
    );
    write(
        d.path(),
        "shared_roles/hello/tasks/main.yml",
        "- debug: msg=from-shared-roles\n",
    );
    write(d.path(), "site.yml", "- hosts: all\n  roles: [hello]\n  tasks:\n    - assert: {that: 'ansible_facts is not defined or ansible_facts == {}'}\n");
    let out = berth()
        .args(["run", "site.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("Gathering Facts"), "{stdout}");
    assert!(stdout.contains("TASK [hello : debug]"), "{stdout}");
    assert!(
        stdout.contains("alpha") && stdout.contains("beta"),
        "{stdout}"
    );
}

#[test]
fn vars_prompt_takes_extra_vars_then_defaults_without_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(d.path(), "site.yml", "- hosts: alpha\n  gather_facts: false\n  vars_prompt:\n    - name: color\n      prompt: Color?\n      default: blue\n    - name: size\n      prompt: Size?\n  tasks:\n    - assert: {that: [\"color == 'blue'\", \"size == 'L'\"]}\n");
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml", "-e", "size=L"])
        .current_dir(d.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml"])
        .current_dir(d.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pass it with -e size=VALUE"));
}

#[test]
fn very_verbose_names_the_playbook_and_counts_its_plays() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.yml", INV);
    write(
        d.path(),
        "other.yml",
        "- hosts: alpha\n  gather_facts: false\n  tasks: []\n",
    );
    write(
        d.path(),
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks: []\n- import_playbook: other.yml\n",
    );
    let out = berth()
        .args(["-vv", "run", "site.yml", "-i", "inv.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("PLAYBOOK: site.yml ***"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "2 plays in site.yml"),
        "{stdout}"
    );
    let out = berth()
        .args(["run", "site.yml", "-i", "inv.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        !String::from_utf8(out.stdout).unwrap().contains("plays in"),
        "only with -vv, as ansible-playbook"
    );
}

/// Completions and man pages come from the parser's own definitions.
#[test]
fn completions_and_man_pages() {
    for (shell, marker) in [
        ("bash", "_berth()"),
        ("zsh", "#compdef berth"),
        ("fish", "complete -c berth"),
    ] {
        let out = berth().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        for sub in ["run", "deploy", "testbed", "compile"] {
            assert!(text.contains(sub), "{shell} completes {sub}");
        }
    }
    let bad = berth().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1), "a usage error exits 1");
    assert_eq!(
        berth().arg("--version").output().unwrap().status.code(),
        Some(0)
    );

    let page = berth().arg("man").output().unwrap();
    assert!(page.status.success());
    let text = String::from_utf8(page.stdout).unwrap();
    assert!(text.contains(".TH berth 1"), "{text}");
    let d = tempfile::tempdir().unwrap();
    let out = berth()
        .arg("man")
        .arg(d.path().join("man1"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = std::fs::read_to_string(d.path().join("man1/berth-run.1")).unwrap();
    assert!(run.contains(".TH berth-run 1"), "{run}");
    assert!(
        run.contains("inventory"),
        "berth-run(1) documents its options"
    );
}

/// -vvv shows each command sent to a host with its exit code and duration;
/// a no_log task's commands are hidden, and -v shows none of them.
#[test]
fn vvv_traces_commands_and_honours_no_log() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "inv.ini", "localhost ansible_connection=local\n");
    write(
        d.path(),
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo shown-marker\n    - shell: echo hidden-marker\n      no_log: true\n",
    );
    let run = |v: &str| {
        let out = berth()
            .args(["run", v, "-i", "inv.ini", "site.yml"])
            .current_dir(d.path())
            .env_remove("BERTH_LOG")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let vvv = run("-vvv");
    let execs: Vec<&str> = vvv
        .lines()
        .filter(|l| l.contains("<localhost> EXEC rc=0 "))
        .collect();
    assert!(execs.len() >= 2, "{vvv}");
    assert!(vvv.contains("echo shown-marker"), "{vvv}");
    assert!(
        execs
            .iter()
            .any(|l| l.ends_with(": (command hidden: no_log)")),
        "{vvv}"
    );
    assert!(!vvv.contains("hidden-marker"), "{vvv}");
    assert!(
        !vvv.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
    assert!(!run("-v").contains(" EXEC "));
}

/// --profile (or ANSIBLE_CALLBACKS_ENABLED=profile_tasks) lists the slowest
/// tasks and each host's total after the recap; with --json it is the line
/// before the recap.
#[test]
fn profile_lists_where_the_time_went() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "inv.ini",
        "alpha ansible_connection=local\nbeta ansible_connection=local\n",
    );
    write(
        d.path(),
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: quick\n      command: 'true'\n    - name: nap\n      command: sleep 0.4\n      when: inventory_hostname == 'beta'\n",
    );
    let out = berth()
        .args(["run", "--profile", "-i", "inv.ini", "site.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let summary = text
        .split_once(&format!("{}\n", "=".repeat(79)))
        .expect("a summary")
        .1;
    let lines: Vec<&str> = summary.lines().collect();
    assert!(lines[0].starts_with("nap (site.yml:6) ---"), "{summary}");
    assert!(lines[1].starts_with("quick (site.yml:4) ---"), "{summary}");
    assert!(lines[2].starts_with("2 tasks in "), "{summary}");
    assert!(
        lines[3].starts_with("alpha") && lines[3].ends_with(" in 2 tasks"),
        "{summary}"
    );
    let json = berth()
        .args(["run", "--json", "-i", "inv.ini", "site.yml"])
        .env("ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.profile_tasks")
        .current_dir(d.path())
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let timing = &lines[lines.len() - 2];
    assert_eq!(timing["event"], "timing");
    assert_eq!(timing["tasks"][0]["task"], "nap");
    assert!(timing["tasks"][0]["hosts"]["beta"].as_f64().unwrap() >= 0.4);
    assert_eq!(lines.last().unwrap()["event"], "recap");
    let plain = berth()
        .args(["run", "-i", "inv.ini", "site.yml"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(!String::from_utf8(plain.stdout)
        .unwrap()
        .contains("tasks in "));
}
