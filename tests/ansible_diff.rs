//! Differential tests: the same playbook, the same hosts, run by
//! `ansible-playbook` and by `berth run`; the PLAY RECAP lines (and the exit
//! codes) must be identical. ansible-core must be installed (test.sh does).

use std::path::Path;
use std::process::Command;

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn recap(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter(|l| l.contains(" : ok="))
        .map(|l| l.trim_end().to_string())
        .collect();
    lines.sort();
    lines
}

/// Run one playbook with both tools; compare recaps and exit codes.
fn same_recap(files: &[(&str, &str)]) {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in files {
        write(d.path(), name, body);
    }
    let ansible = Command::new("ansible-playbook")
        .args(["-i", "inv.yml", "site.yml"])
        .current_dir(d.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .output()
        .expect("ansible-playbook must be installed (test.sh installs ansible-core)");
    let berth = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["run", "site.yml", "-i", "inv.yml", "--timeout", "3"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let (a, b) = (
        String::from_utf8_lossy(&ansible.stdout).into_owned(),
        String::from_utf8_lossy(&berth.stdout).into_owned(),
    );
    let (ra, rb) = (recap(&a), recap(&b));
    assert!(
        !ra.is_empty(),
        "ansible printed no recap:\n{a}\n{}",
        String::from_utf8_lossy(&ansible.stderr)
    );
    pretty_assertions::assert_eq!(
        ra,
        rb,
        "\n--- ansible-playbook ---\n{a}\n--- berth ---\n{b}"
    );
    assert_eq!(
        ansible.status.code(),
        berth.status.code(),
        "exit codes differ\n--- ansible ---\n{a}\n--- berth ---\n{b}"
    );
}

const INV: &str = "all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n  hosts:\n    one: {n: 1}\n    two: {n: 2}\n    three: {n: 3}\n";

#[test]
fn counters_for_ok_changed_skipped_ignored_and_loops() {
    same_recap(&[
        ("inv.yml", INV),
        (
            "site.yml",
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg=hello
    - command: "true"
    - command: "true"
      changed_when: false
    - debug: msg=skip-me
      when: n == 2
    - command: echo {{ item }}
      loop: [1, 2, 3]
      when: item != n
    - debug: msg="{{ item }}"
      loop: [1, 2]
      when: n == 99
    - command: "false"
      ignore_errors: true
    - set_fact: {x: 1}
    - command: "true"
      notify: h
  handlers:
    - name: h
      debug: msg=handled
"#,
        ),
    ]);
}

#[test]
fn counters_for_failures_rescue_and_always() {
    same_recap(&[
        ("inv.yml", INV),
        (
            "site.yml",
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - command: "false"
          when: n == 1
        - debug: msg=in-block
      rescue:
        - debug: msg=rescued
      always:
        - debug: msg=always
    - command: "false"
      when: n == 2
    - debug: msg=after
    - block:
        - fail: msg=boom
          when: n == 3
      always:
        - debug: msg=cleanup
    - debug: msg=end
"#,
        ),
    ]);
}

#[test]
fn counters_for_facts_includes_and_unreachable() {
    same_recap(&[
        ("inv.yml", "all:\n  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n  hosts:\n    one: {ansible_connection: local}\n    ghost: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_user: nobody}\n"),
        ("more.yml", "- debug: msg=included\n- command: 'true'\n"),
        (
            "site.yml",
            r#"
- hosts: all
  tasks:
    - include_tasks: more.yml
    - debug: msg=done
"#,
        ),
    ]);
}

#[test]
fn counters_for_serial_and_max_fail_percentage() {
    same_recap(&[
        ("inv.yml", INV),
        (
            "site.yml",
            r#"
- hosts: all
  gather_facts: false
  serial: 1
  max_fail_percentage: 0
  tasks:
    - command: "true"
    - fail: msg=stop
      when: n == 2
    - debug: msg=next
"#,
        ),
    ]);
}

/// What the deploy playbooks lean on: a run_once set_fact and register
/// reach every host, later plays read registered results through hostvars,
/// and a serial batch that fails whole (after a rescue that fails again)
/// ends the playbook: the next batch and the next play never run.
#[test]
fn run_once_facts_cross_plays_and_a_failed_batch_ends_the_playbook() {
    same_recap(&[
        ("inv.yml", INV),
        (
            "site.yml",
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo shared
      run_once: true
      register: r1
    - set_fact:
        f1: "{{ r1.stdout }}!"
      run_once: true
    - assert:
        that:
          - f1 == 'shared!'
          - r1.stdout == 'shared'
    - command:
        cmd: cat
        stdin: "{% set ns = namespace(s='') %}{% for h in ansible_play_hosts %}{% set ns.s = ns.s ~ h %}{% endfor %}{{ ns.s }}"
      register: r2
      changed_when: false
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - assert:
        that:
          - hostvars['two'].r2.stdout == 'onetwothree'
    - block:
        - command: "false"
          when: n == 2
      rescue:
        - debug: msg=rescued
        - fail: msg="deploy failed on {{ inventory_hostname }}"
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg=never
"#,
        ),
    ]);
}
