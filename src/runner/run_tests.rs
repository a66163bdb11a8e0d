//! End-to-end runner tests: real playbooks through `execute`, on the local
//! connection and on a fleet of real OpenSSH sshd processes (no SSH mocks).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::options::{RunOptions, Strategy};
use super::sink::JsonSink;
use super::{execute, Invocation};
use crate::connection::known_hosts::HostKeyChecking;
use crate::testbed::sshd_fleet::SshdFleet;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Run {
    code: i32,
    events: Vec<Value>,
}

impl Run {
    fn recap(&self) -> &Value {
        let last = self.events.last().expect("events");
        assert_eq!(last["event"], "recap", "last event must be the recap");
        &last["hosts"]
    }

    fn stat(&self, host: &str, key: &str) -> u64 {
        self.recap()[host][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} for {host} in {}", self.recap()))
    }

    fn changed_pairs(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["status"] == "changed")
            .map(|e| {
                (
                    e["host"].as_str().unwrap().to_string(),
                    e["task"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn results(&self, task: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| {
                (e["event"] == "host_result" || e["event"] == "handler") && e["task"] == task
            })
            .collect()
    }

    fn dump(&self) -> String {
        self.events
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

fn run_with(
    dir: &Path,
    playbook: &str,
    inventory: &Path,
    opts: RunOptions,
    extra: &[(&str, Value)],
) -> Run {
    let buf = Buf::default();
    let mut extra_vars = serde_json::Map::new();
    for (k, v) in extra {
        extra_vars.insert(k.to_string(), v.clone());
    }
    let code = execute(
        Invocation {
            playbook: dir.join(playbook),
            inventory: vec![inventory.to_path_buf()],
            extra_vars,
            opts,
        },
        Box::new(JsonSink::new(Box::new(buf.clone()))),
    );
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad json line {l}: {e}")))
        .collect();
    Run { code, events }
}

const LOCAL_INV: &str = "all:\n  hosts:\n    l1: {ansible_connection: local, n: 1}\n    l2: {ansible_connection: local, n: 2}\n";

/// Run a playbook on two local hosts.
fn local(files: &[(&str, &str)], opts: RunOptions) -> (tempfile::TempDir, Run) {
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), files);
    write_files(d.path(), &[("inv.yml", LOCAL_INV)]);
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        opts,
        &[("tmp", Value::String(d.path().display().to_string()))],
    );
    (d, r)
}

fn ok_local(body: &str) -> Run {
    let (_d, r) = local(&[("site.yml", body)], RunOptions::default());
    assert_eq!(r.code, 0, "{}", r.dump());
    r
}

// ---------------------------------------------------------------- keywords

#[test]
fn when_register_changed_when_failed_when() {
    let r = ok_local(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo hello {{ n }}
      register: out
      changed_when: out.stdout.endswith('1')
    - assert: {that: ["out.stdout == 'hello ' ~ n", "out.rc == 0", "out.stdout_lines | length == 1"]}
    - name: only on l2
      command: "false"
      failed_when: false
      when: n == 2
      register: f
    - assert: {that: "f is skipped"}
      when: n == 1
    - assert: {that: ["f.rc == 1", "f is not failed"]}
      when: n == 2
"#,
    );
    assert_eq!(r.stat("l1", "changed"), 1);
    assert_eq!(r.stat("l2", "changed"), 1); // the `false` command reports changed
    assert_eq!(r.stat("l1", "skipped"), 2);
    assert_eq!(r.stat("l2", "skipped"), 1);
}

#[test]
fn loops_with_items_loop_control_and_register() {
    let r = ok_local(
        r#"
- hosts: l1
  gather_facts: false
  vars:
    users: [{name: a, uid: 1}, {name: b, uid: 2}]
  tasks:
    - debug: msg="{{ u.name }}-{{ idx }}"
      loop: "{{ users }}"
      loop_control: {loop_var: u, index_var: idx, label: "{{ u.name }}"}
      register: res
    - assert:
        that:
          - res.results | length == 2
          - res.results[1].msg == 'b-1'
          - res.results[0].u.uid == 1
    - set_fact: {acc: "{{ (acc | default([])) + [item] }}"}
      with_items: [[1, 2], 3]
    - assert: {that: "acc == [1, 2, 3]"}
    - debug: msg="{{ item.key }}={{ item.value }}"
      with_dict: {x: 1}
      register: d
    - assert: {that: "d.results[0].msg == 'x=1'"}
    - command: echo {{ item }}
      loop: [1, 2, 3]
      when: item != 2
      register: c
    - assert: {that: ["c.results[1] is skipped", "c.results[2].stdout == '3'"]}
"#,
    );
    assert_eq!(r.stat("l1", "failed"), 0);
}

#[test]
fn notify_handlers_once_and_flush() {
    let r = ok_local(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: "true"
      notify: [h1, topic]
    - command: "true"
      notify: h1
    - meta: flush_handlers
    - assert: {that: "ran | default(0) | int == 1"}
    - debug: msg=unchanged
      notify: h1
  handlers:
    - name: h1
      set_fact: {ran: "{{ (ran | default(0) | int) + 1 }}"}
    - name: other
      listen: topic
      debug: msg=listened
"#,
    );
    assert_eq!(r.results("h1").len(), 2, "one run per host: {}", r.dump());
    assert_eq!(r.results("other").len(), 2);
}

#[test]
fn unknown_handler_is_an_error() {
    let (_d, r) = local(&[("site.yml", "- hosts: l1\n  gather_facts: false\n  tasks:\n    - command: 'true'\n      notify: nope\n")], RunOptions::default());
    assert_eq!(r.code, 2);
    assert!(
        r.dump()
            .contains("The requested handler 'nope' was not found"),
        "{}",
        r.dump()
    );
}

#[test]
fn tags_and_skip_tags() {
    let pb = "- hosts: l1\n  gather_facts: false\n  tasks:\n    - {command: 'true', tags: [a]}\n    - {command: 'true', tags: [b]}\n    - {command: 'true', tags: [always]}\n    - {command: 'true', tags: [never, c]}\n";
    let (_d, r) = local(
        &[("site.yml", pb)],
        RunOptions {
            tags: vec!["a".into()],
            ..RunOptions::default()
        },
    );
    assert_eq!(r.stat("l1", "changed"), 2);
    let (_d, r) = local(
        &[("site.yml", pb)],
        RunOptions {
            skip_tags: vec!["a".into()],
            ..RunOptions::default()
        },
    );
    assert_eq!(r.stat("l1", "changed"), 2);
    let (_d, r) = local(&[("site.yml", pb)], RunOptions::default());
    assert_eq!(r.stat("l1", "changed"), 3);
    let (_d, r) = local(
        &[("site.yml", pb)],
        RunOptions {
            tags: vec!["c".into()],
            ..RunOptions::default()
        },
    );
    assert_eq!(r.stat("l1", "changed"), 2);
}

#[test]
fn ignore_errors_counts_ignored() {
    let (_d, r) = local(
        &[("site.yml", "- hosts: l1\n  gather_facts: false\n  tasks:\n    - command: 'false'\n      ignore_errors: true\n    - debug: msg=after\n")],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.stat("l1", "ignored"), 1);
    assert_eq!(r.stat("l1", "ok"), 2);
    assert_eq!(r.stat("l1", "failed"), 0);
}

#[test]
fn block_rescue_always() {
    let (_d, r) = local(
        &[(
            "site.yml",
            r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: fails on l1
          command: "false"
          when: n == 1
        - set_fact: {after_fail: true}
      rescue:
        - set_fact: {rescued: true}
        - assert:
            that:
              - ansible_failed_task.name == 'fails on l1'
              - ansible_failed_result.rc == 1
              - ansible_failed_result.cmd == ['false']
      always:
        - set_fact: {always_ran: true}
    - assert:
        that:
          - always_ran
          - (n == 1 and rescued is defined and after_fail is not defined) or (n == 2 and rescued is not defined and after_fail)
    - block:
        - command: "false"
          when: n == 2
      always:
        - debug: msg=cleanup
"#,
        )],
        RunOptions::default(),
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    assert_eq!(r.stat("l1", "rescued"), 1);
    assert_eq!(r.stat("l1", "failed"), 0);
    assert_eq!(r.stat("l2", "failed"), 1);
    assert_eq!(
        r.results("debug").len(),
        2,
        "always runs on the failed host too"
    );
}

#[test]
fn includes_imports_and_roles() {
    let (_d, r) = local(
        &[
            (
                "site.yml",
                r#"
- hosts: l1
  gather_facts: false
  roles:
    - role: web
      vars: {port: 8080}
    - {role: parent, who_calls: play, kept: play}
  tasks:
    - import_tasks: static.yml
    - include_tasks: "{{ 'dyn' }}.yml"
      vars: {who: dyn}
    - include_tasks: loop.yml
      loop: [1, 2]
      loop_control: {index_var: idx}
    - include_role: {name: web, tasks_from: extra}
    - import_role: {name: web, tasks_from: extra}
    - include_vars: vars/more.yml
    - assert:
        that:
          - static_done
          - dyn_done == 'dyn'
          - looped == 2
          - extra_done
          - more == 'yes'
          - web_port == 8080
          - exported == 'parent'
          - only_child == 'yes'
"#,
            ),
            ("static.yml", "- set_fact: {static_done: true}\n"),
            ("dyn.yml", "- set_fact: {dyn_done: '{{ who }}'}\n"),
            (
                "loop.yml",
                "- set_fact: {looped: '{{ item }}'}\n- assert: {that: [idx == item - 1]}\n",
            ),
            ("vars/more.yml", "more: 'yes'\n"),
            (
                "roles/web/tasks/main.yml",
                "- set_fact: {web_port: '{{ port }}'}\n- debug: msg={{ role_name }}\n",
            ),
            (
                "roles/web/tasks/extra.yml",
                "- set_fact: {extra_done: true}\n",
            ),
            ("roles/web/defaults/main.yml", "port: 80\n"),
            // A dependency sees its parent's params under its own.
            (
                "roles/parent/meta/main.yml",
                "dependencies:\n  - {role: child, who_calls: parent}\n",
            ),
            (
                "roles/parent/tasks/main.yml",
                "- assert: {that: [who_calls == 'play']}\n",
            ),
            (
                "roles/child/tasks/main.yml",
                "- assert: {that: [who_calls == 'parent', kept == 'play']}\n",
            ),
            // The play sees its roles' vars, dependencies' first (Ansible's public roles).
            (
                "roles/child/vars/main.yml",
                "exported: child\nonly_child: 'yes'\n",
            ),
            ("roles/parent/vars/main.yml", "exported: parent\n"),
        ],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(
        (
            r.results("child : assert").len(),
            r.results("parent : assert").len()
        ),
        (1, 1),
        "{}",
        r.dump()
    );
}

#[test]
fn role_filter_runs_one_role() {
    let files: &[(&str, &str)] = &[
        ("site.yml", "- hosts: l1\n  gather_facts: false\n  roles: [a, b]\n  tasks:\n    - command: 'true'\n"),
        ("roles/a/tasks/main.yml", "- command: 'true'\n  notify: ha\n"),
        ("roles/a/handlers/main.yml", "- name: ha\n  command: 'true'\n"),
        ("roles/b/tasks/main.yml", "- command: 'true'\n"),
    ];
    let (_d, r) = local(
        files,
        RunOptions {
            role: Some("a".into()),
            ..RunOptions::default()
        },
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(
        r.stat("l1", "changed"),
        2,
        "role a's task and its handler: {}",
        r.dump()
    );
}

#[test]
fn run_once_delegate_to_environment_no_log() {
    let r = ok_local(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo once
      run_once: true
      register: o
    - assert: {that: "o.stdout == 'once'"}
    - shell: echo $GREETING
      environment: {GREETING: hi}
      register: e
    - assert: {that: "e.stdout == 'hi'"}
    - command: hostname
      delegate_to: localhost
      register: dl
    - assert: {that: "dl.rc == 0"}
    - command: echo secret
      no_log: true
      register: s
"#,
    );
    assert_eq!(
        r.results("command")
            .iter()
            .filter(|e| e["result"].get("censored").is_some())
            .count(),
        2
    );
    assert!(
        !r.dump().contains("secret\""),
        "no_log output must not show the value"
    );
    let once: Vec<_> = r
        .events
        .iter()
        .filter(|e| e["event"] == "host_result" && e["result"]["stdout"] == "once")
        .collect();
    assert_eq!(once.len(), 1);
}

#[test]
fn check_mode_keyword_and_diff() {
    let (d, r) = local(
        &[(
            "site.yml",
            r#"
- hosts: l1
  gather_facts: false
  tasks:
    - copy: {content: "a\n", dest: "{{ tmp }}/forced.txt"}
      check_mode: false
    - copy: {content: "b\n", dest: "{{ tmp }}/checked.txt"}
      check_mode: true
      register: checked
    - assert: {that: "ansible_check_mode == false"}
    - assert:
        that:
          - checked.diff[0].after == 'b\n'
          - checked.diff[0].before == ''
          - checked is changed
    - copy: {content: "a\n", dest: "{{ tmp }}/forced.txt"}
      diff: false
      register: quiet
    - assert: {that: [quiet.diff is undefined]}
"#,
        )],
        RunOptions {
            diff: true,
            ..RunOptions::default()
        },
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert!(d.path().join("forced.txt").exists());
    assert!(!d.path().join("checked.txt").exists());
    let diffs: Vec<_> = r
        .events
        .iter()
        .filter(|e| e["diff"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert!(
        !diffs.is_empty(),
        "diff mode reports before/after: {}",
        r.dump()
    );
}

#[test]
fn become_runs_through_sudo() {
    if which("sudo").is_none() {
        panic!("sudo is required for this test (.ci/run installs it)");
    }
    let r = ok_local(
        r#"
- hosts: l1
  gather_facts: false
  tasks:
    - command: id -un
      become: true
      become_user: nobody
      register: who
    - assert: {that: "who.stdout == 'nobody'"}
"#,
    );
    assert_eq!(r.stat("l1", "failed"), 0);
}

#[test]
fn undefined_variable_names_variable_task_and_line() {
    let (_d, r) = local(&[("site.yml", "- hosts: l1\n  gather_facts: false\n  tasks:\n    - name: uses it\n      debug: msg={{ nope }}\n")], RunOptions::default());
    assert_eq!(r.code, 2);
    let msg = r.results("uses it")[0]["result"]["msg"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("'nope' is undefined"), "{msg}");
    assert!(msg.contains("site.yml': line 4"), "{msg}");
}

#[test]
fn facts_under_both_names() {
    ok_local("- hosts: l1\n  tasks:\n    - assert:\n        that:\n          - ansible_facts.os_family == ansible_os_family\n          - ansible_facts.distribution == 'Debian'\n          - ansible_processor_vcpus > 0\n          - ansible_facts.service_mgr is string\n");
    // Before anything gathers, `ansible_facts` is an empty mapping, as in Ansible.
    ok_local("- hosts: l1\n  gather_facts: false\n  tasks:\n    - assert:\n        that:\n          - ansible_facts == {}\n          - ansible_facts.distribution is undefined\n          - \"'ansible_facts' in vars\"\n    - setup:\n    - assert:\n        that:\n          - ansible_facts.distribution == ansible_distribution\n");
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|p| p.exists())
    })
}

// ---------------------------------------------------------------- fleet

struct Fleet {
    _dir: tempfile::TempDir,
    fleet: SshdFleet,
    inventory: PathBuf,
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fleet = SshdFleet::start(&dir.path().join("fleet"), 5).expect("start sshd fleet");
        let inventory = dir.path().join("fleet.yml");
        fleet.write_inventory(&inventory).unwrap();
        Fleet {
            _dir: dir,
            fleet,
            inventory,
        }
    })
}

fn fleet_opts() -> RunOptions {
    RunOptions {
        host_key_checking: HostKeyChecking::Strict,
        ..RunOptions::default()
    }
}

const FLEET_PLAY: &str = r#"
- hosts: fleet
  gather_facts: false
  vars:
    root: "{{ base }}/{{ inventory_hostname }}"
  tasks:
    - file: {path: "{{ root }}/etc", state: directory, mode: "0755"}
    - template: {src: app.conf.j2, dest: "{{ root }}/etc/app.conf"}
      notify: reload
    - copy: {content: "id={{ inventory_hostname }}\n", dest: "{{ root }}/id"}
    - lineinfile: {path: "{{ root }}/etc/extra.conf", line: "extra=1", create: true}
  handlers:
    - name: reload
      command: touch {{ root }}/reloaded
"#;

#[test]
fn fleet_run_is_idempotent_and_fires_handlers_once() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("site.yml", FLEET_PLAY), ("templates/app.conf.j2", "name={{ inventory_hostname }}\nport={{ 8000 + (inventory_hostname[-1:] | int) }}\n")]);
    let base = Value::String(d.path().join("hosts").display().to_string());
    let first = run_with(
        d.path(),
        "site.yml",
        &f.inventory,
        fleet_opts(),
        &[("base", base.clone())],
    );
    assert_eq!(first.code, 0, "{}", first.dump());
    for h in f.fleet.hosts() {
        assert_eq!(first.stat(&h.name, "changed"), 5, "{}", first.dump());
        let conf =
            std::fs::read_to_string(d.path().join("hosts").join(&h.name).join("etc/app.conf"))
                .unwrap();
        assert!(conf.starts_with(&format!("name={}\n", h.name)), "{conf}");
    }
    assert_eq!(first.results("reload").len(), 5);
    let second = run_with(
        d.path(),
        "site.yml",
        &f.inventory,
        fleet_opts(),
        &[("base", base)],
    );
    assert_eq!(second.code, 0);
    for h in f.fleet.hosts() {
        assert_eq!(second.stat(&h.name, "changed"), 0, "{}", second.dump());
        assert_eq!(second.stat(&h.name, "ok"), 4);
    }
    assert!(second.results("reload").is_empty());
}

/// A deterministic generator of host-state mutations.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn check_mode_predicts_the_real_run() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[
            ("site.yml", FLEET_PLAY),
            ("templates/app.conf.j2", "name={{ inventory_hostname }}\n"),
        ],
    );
    let base_dir = d.path().join("hosts");
    let base = Value::String(base_dir.display().to_string());
    // Start from a converged fleet, then change files under it at random. (Check mode
    // cannot know about directories an earlier task would create; Ansible's cannot either.)
    let first = run_with(
        d.path(),
        "site.yml",
        &f.inventory,
        fleet_opts(),
        &[("base", base.clone())],
    );
    assert_eq!(first.code, 0, "{}", first.dump());
    let mut rng = Lcg(7);
    for round in 0..8 {
        // Mutate the hosts' state at random: delete, rewrite or edit files.
        for h in f.fleet.hosts() {
            let root = base_dir.join(&h.name);
            match rng.next() % 5 {
                0 => drop(std::fs::remove_file(root.join("id"))),
                1 => drop(std::fs::write(root.join("id"), "tampered\n")),
                2 => drop(std::fs::write(root.join("etc/extra.conf"), "other=2\n")),
                3 => drop(std::fs::remove_file(root.join("etc/app.conf"))),
                _ => {}
            }
        }
        let predicted = run_with(
            d.path(),
            "site.yml",
            &f.inventory,
            RunOptions {
                check: true,
                ..fleet_opts()
            },
            &[("base", base.clone())],
        );
        let real = run_with(
            d.path(),
            "site.yml",
            &f.inventory,
            fleet_opts(),
            &[("base", base.clone())],
        );
        let strip = |v: Vec<(String, String)>| {
            v.into_iter()
                .filter(|(_, t)| t != "reload")
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(predicted.changed_pairs()),
            strip(real.changed_pairs()),
            "round {round}: check mode must predict the real run\n{}",
            predicted.dump()
        );
        let after = run_with(
            d.path(),
            "site.yml",
            &f.inventory,
            RunOptions {
                check: true,
                ..fleet_opts()
            },
            &[("base", base.clone())],
        );
        assert!(after.changed_pairs().is_empty(), "round {round}");
    }
}

#[test]
fn a_failing_host_does_not_stop_the_others() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("site.yml", "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - command: 'true'\n      failed_when: inventory_hostname == 'host02'\n    - command: 'true'\n")]);
    let r = run_with(d.path(), "site.yml", &f.inventory, fleet_opts(), &[]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stat("host02", "failed"), 1);
    assert_eq!(r.stat("host02", "ok"), 0);
    assert_eq!(r.stat("host01", "changed"), 2);
    assert_eq!(r.stat("host05", "ok"), 2);
}

/// A task's own connection variables reach another target for that task
/// only: here a port where nothing listens, then the host's own again.
#[test]
fn task_connection_vars_get_their_own_session() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[(
            "site.yml",
            "- hosts: host01\n  gather_facts: false\n  tasks:\n    - command: 'true'\n    - command: 'true'\n      vars: {ansible_port: 1}\n      ignore_unreachable: true\n      register: away\n    - command: 'true'\n    - assert: {that: [away is unreachable]}\n",
        )],
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &f.inventory,
        RunOptions {
            timeout: 3,
            ..fleet_opts()
        },
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.stat("host01", "changed"), 2, "{}", r.dump());
    assert_eq!(r.stat("host01", "unreachable"), 0, "{}", r.dump());
    assert_eq!(r.stat("host01", "ignored"), 1, "{}", r.dump());
}

/// Notifying a handler nobody defined fails the task, unless
/// error_on_missing_handler is off: then it is a warning on the result.
#[test]
fn missing_handlers_fail_or_warn() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[(
            "site.yml",
            "- hosts: host01\n  gather_facts: false\n  tasks:\n    - command: 'true'\n      notify: nowhere\n",
        )],
    );
    let run = |error_on_missing_handler| {
        run_with(
            d.path(),
            "site.yml",
            &f.inventory,
            RunOptions {
                error_on_missing_handler,
                ..fleet_opts()
            },
            &[],
        )
    };
    let strict = run(true);
    assert_eq!(strict.code, 2, "{}", strict.dump());
    assert!(strict
        .dump()
        .contains("The requested handler 'nowhere' was not found"));
    let lax = run(false);
    assert_eq!(lax.code, 0, "{}", lax.dump());
    assert_eq!(lax.stat("host01", "changed"), 1);
    assert!(
        lax.events.iter().any(|e| e["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with("The requested handler 'nowhere' was not found"))),
        "{}",
        lax.dump()
    );
}

/// `notify: "{{ list }}"` notifies each handler it names, and the vars of
/// an import_role reach the role's handlers as they reach its tasks.
#[test]
fn templated_notify_lists_and_import_role_vars_in_handlers() {
    let (_d, r) = local(
        &[
            (
                "site.yml",
                "- hosts: all\n  gather_facts: false\n  vars:\n    names: [one, two]\n  handlers:\n    - name: one\n      set_fact: {got_one: true}\n    - set_fact: {got_two: true}\n      listen: two\n  tasks:\n    - import_role:\n        name: r\n      vars:\n        skip: true\n    - command: 'true'\n      notify: \"{{ names }}\"\n    - meta: flush_handlers\n    - assert: {that: [got_one, got_two, r_handler is undefined]}\n",
            ),
            ("roles/r/tasks/main.yml", "- command: 'true'\n  notify: rh\n"),
            ("roles/r/handlers/main.yml", "- name: rh\n  set_fact: {r_handler: true}\n  when: not skip\n"),
        ],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.stat("l1", "failed"), 0, "{}", r.dump());
}

/// `with_<lookup>` for every lookup berth has is `query(lookup, *terms)`.
#[test]
fn with_any_known_lookup_loops_over_its_query() {
    let (_d, r) = local(
        &[
            (
                "site.yml",
                "- hosts: l1\n  gather_facts: false\n  tasks:\n    - set_fact: {found: \"{{ found | default([]) + [item | basename] }}\"}\n      with_first_found:\n        - missing.yml\n        - extra.yml\n    - set_fact: {homes: \"{{ homes | default([]) + [item] }}\"}\n      with_env: [HOME]\n    - assert: {that: [\"found == ['extra.yml']\", \"homes | length == 1\", \"homes[0] | length > 0\"]}\n",
            ),
            ("extra.yml", "- debug: msg=x\n"),
        ],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
}

/// With force_handlers, a handler's include_tasks runs its tasks on the
/// host that failed; without, the handler does not run there at all.
#[test]
fn forced_handlers_run_their_included_tasks_on_failed_hosts() {
    let files = [
        (
            "site.yml",
            "- hosts: l1\n  gather_facts: false\n  tasks:\n    - command: 'true'\n      notify: h\n    - fail: msg=boom\n  handlers:\n    - name: h\n      include_tasks: inc.yml\n",
        ),
        ("inc.yml", "- command: 'true'\n"),
    ];
    let (_d, forced) = local(
        &files,
        RunOptions {
            force_handlers: true,
            ..RunOptions::default()
        },
    );
    assert_eq!(forced.stat("l1", "changed"), 2, "{}", forced.dump());
    let (_d, plain) = local(&files, RunOptions::default());
    assert_eq!(plain.stat("l1", "changed"), 1, "{}", plain.dump());
}

/// `meta: flush_handlers` flushes only where its `when` holds.
#[test]
fn flush_handlers_obeys_when_per_host() {
    let (_d, r) = local(
        &[(
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n      notify: h\n    - meta: flush_handlers\n      when: n == 1\n    - assert: {that: [\"(flushed | default(false)) == (n == 1)\"]}\n  handlers:\n    - name: h\n      set_fact: {flushed: true}\n",
        )],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
}

/// meta clear_host_errors, clear_facts and reset_connection obey `when`.
#[test]
fn meta_actions_obey_when() {
    let (_d, r) = local(
        &[(
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - set_fact: {kept: true, cacheable: true}\n    - fail:\n      when: n == 1\n    - meta: clear_host_errors\n      when: false\n    - meta: clear_facts\n      when: false\n    - assert: {that: [kept is defined]}\n",
        )],
        RunOptions::default(),
    );
    assert_eq!(r.stat("l1", "failed"), 1, "{}", r.dump());
    assert_eq!(r.stat("l1", "ok"), 1, "{}", r.dump());
    assert_eq!(r.stat("l2", "ok"), 2, "{}", r.dump());
}

/// A handler failing in a block's flush_handlers is the block's failure:
/// its rescue sees ansible_failed_task and the failure counts as rescued.
#[test]
fn handler_failures_in_a_flush_are_rescued() {
    let (_d, r) = local(
        &[(
            "site.yml",
            "- hosts: l1\n  gather_facts: false\n  tasks:\n    - block:\n        - command: 'true'\n          notify: h1\n        - meta: flush_handlers\n      rescue:\n        - assert: {that: [\"ansible_failed_task.name == 'h1'\"]}\n  handlers:\n    - name: h1\n      fail:\n",
        )],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.stat("l1", "rescued"), 1, "{}", r.dump());
}

#[test]
fn unreachable_host_gives_exit_4() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    let mut inv = std::fs::read_to_string(&f.inventory).unwrap();
    // A host on a port where nothing listens.
    inv = inv.replacen(
        "hosts:\n",
        "hosts:\n        ghost:\n          ansible_host: 127.0.0.1\n          ansible_port: 1\n",
        1,
    );
    write_files(
        d.path(),
        &[
            ("inv.yml", &inv),
            (
                "site.yml",
                "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
            ),
        ],
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        RunOptions {
            timeout: 3,
            ..fleet_opts()
        },
        &[],
    );
    assert_eq!(r.code, 4, "{}", r.dump());
    assert_eq!(r.stat("ghost", "unreachable"), 1);
    assert_eq!(r.stat("host01", "changed"), 1);
}

#[test]
fn a_changed_host_key_mid_fleet_fails_that_host_only_with_the_fix() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    // host03 recorded with host04's key: a reinstalled (or impersonated) host.
    let known = std::fs::read_to_string(f.fleet.known_hosts()).unwrap();
    let (h3, h4) = (&f.fleet.hosts()[2], &f.fleet.hosts()[3]);
    let line = |h: &crate::testbed::sshd_fleet::FleetHost| {
        known
            .lines()
            .find(|l| l.starts_with(&format!("[{}]:{} ", h.addr, h.port)))
            .unwrap()
            .to_owned()
    };
    let (l3, l4) = (line(h3), line(h4));
    let forged = known.replace(
        &l3,
        &format!(
            "[{}]:{} {}",
            h3.addr,
            h3.port,
            l4.split_once(' ').unwrap().1
        ),
    );
    let kh = d.path().join("known_hosts");
    std::fs::write(&kh, forged).unwrap();
    let inv = std::fs::read_to_string(&f.inventory).unwrap().replace(
        &f.fleet.known_hosts().display().to_string(),
        &kh.display().to_string(),
    );
    write_files(
        d.path(),
        &[
            ("inv.yml", &inv),
            (
                "site.yml",
                "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
            ),
        ],
    );
    for policy in [HostKeyChecking::Strict, HostKeyChecking::AcceptNew] {
        let r = run_with(
            d.path(),
            "site.yml",
            &d.path().join("inv.yml"),
            RunOptions {
                host_key_checking: policy,
                ..fleet_opts()
            },
            &[],
        );
        assert_eq!(r.code, 4, "{}", r.dump());
        assert_eq!(r.stat(&h3.name, "unreachable"), 1, "{}", r.dump());
        let msg = r
            .events
            .iter()
            .find(|e| e["host"] == h3.name.as_str() && e["status"] == "unreachable")
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("REMOTE HOST KEY CHANGED") && msg.contains("ssh-keygen -R"),
            "{msg}"
        );
        for h in f.fleet.hosts().iter().filter(|h| h.name != h3.name) {
            assert_eq!(r.stat(&h.name, "changed"), 1, "{}: {}", h.name, r.dump());
        }
        // Nothing was written over the recorded key.
        assert!(std::fs::read_to_string(&kh).unwrap().contains(&format!(
            "[{}]:{} {}",
            h3.addr,
            h3.port,
            l4.split_once(' ').unwrap().1
        )));
    }
}

#[test]
fn serial_and_max_fail_percentage_stop_when_exceeded() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    // Batches of 2: host01+host02, host03+host04, host05. host03 fails: 50% > 40% stops the play.
    write_files(
        d.path(),
        &[(
            "site.yml",
            "- hosts: fleet\n  gather_facts: false\n  serial: 2\n  max_fail_percentage: 40\n  tasks:\n    - command: 'true'\n      failed_when: inventory_hostname == 'host03'\n    - command: 'true'\n",
        )],
    );
    let r = run_with(d.path(), "site.yml", &f.inventory, fleet_opts(), &[]);
    assert_eq!(r.code, 2, "{}", r.dump());
    assert_eq!(r.stat("host01", "changed"), 2);
    assert_eq!(
        r.stat("host04", "changed"),
        1,
        "the second task does not run after the budget is exceeded"
    );
    assert!(
        r.recap().get("host05").is_none(),
        "the third batch never starts: {}",
        r.dump()
    );
    // Exactly at the budget does not stop: 50% failures with max 50.
    write_files(d.path(), &[("site.yml", "- hosts: fleet\n  gather_facts: false\n  serial: 2\n  max_fail_percentage: 50\n  tasks:\n    - command: 'true'\n      failed_when: inventory_hostname == 'host03'\n")]);
    let r = run_with(d.path(), "site.yml", &f.inventory, fleet_opts(), &[]);
    assert_eq!(r.stat("host05", "changed"), 1, "{}", r.dump());
}

#[test]
fn host_pinned_strategy_gives_the_same_recap() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[("site.yml", FLEET_PLAY), ("templates/app.conf.j2", "x\n")],
    );
    let base = Value::String(d.path().join("hosts").display().to_string());
    let a = run_with(
        d.path(),
        "site.yml",
        &f.inventory,
        RunOptions {
            strategy: Some(Strategy::HostPinned),
            ..fleet_opts()
        },
        &[("base", base.clone())],
    );
    assert_eq!(a.code, 0, "{}", a.dump());
    for h in f.fleet.hosts() {
        assert_eq!(a.stat(&h.name, "changed"), 5);
    }
}

#[test]
fn changed_host_key_is_refused() {
    let f = fleet();
    let d = tempfile::tempdir().unwrap();
    let h = &f.fleet.hosts()[0];
    // A known_hosts that pins a different key for host01's address.
    let other = d.path().join("other");
    std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let kh = d.path().join("known_hosts");
    let key_part: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        &kh,
        format!("[{}]:{} {}\n", h.addr, h.port, key_part.join(" ")),
    )
    .unwrap();
    write_files(
        d.path(),
        &[(
            "site.yml",
            "- hosts: host01\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
        )],
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &f.inventory,
        RunOptions {
            known_hosts: Some(kh),
            host_key_checking_explicit: true,
            ..fleet_opts()
        },
        &[],
    );
    assert_eq!(r.code, 4, "{}", r.dump());
    assert!(r.dump().to_lowercase().contains("changed"), "{}", r.dump());
}

#[test]
fn until_retries_and_delay() {
    let (d, r) = local(
        &[(
            "site.yml",
            r#"
- hosts: l1
  gather_facts: false
  tasks:
    - shell: "n=$(cat {{ tmp }}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ tmp }}/count; echo $n"
      register: c
      until: c.stdout | int >= 3
      retries: 5
      delay: 0
    - assert: {that: ["c.attempts == 3", "c.stdout == '3'"]}
    - command: "false"
      register: never
      until: never.rc == 0
      retries: 2
      delay: 0
      ignore_errors: true
    - assert: {that: ["never is failed", "never.attempts == 2"]}
    - shell: 'true'
      register: fw
      failed_when: true
      until: fw is failed
      retries: 2
      delay: 0
      ignore_errors: true
    - shell: 'true'
      register: fw2
      failed_when: true
      until: fw2 is successful
      retries: 2
      delay: 0
      ignore_errors: true
    - assert: {that: ["fw is failed", "fw.attempts == 1", "fw2 is failed", "fw2.attempts == 2"]}
    - shell: 'true'
      register: seen
      until: false
      retries: 2
      delay: 0
      failed_when: seen.attempts > 6
    - assert: {that: ["seen.failed_when_result == false", "seen.attempts == 2"]}
"#,
        )],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(
        std::fs::read_to_string(d.path().join("count")).unwrap(),
        "3\n"
    );
}

#[test]
fn any_errors_fatal_stops_every_host() {
    let (_d, r) = local(
        &[("site.yml", "- hosts: all\n  gather_facts: false\n  any_errors_fatal: true\n  tasks:\n    - command: 'true'\n      failed_when: n == 1\n    - command: 'true'\n")],
        RunOptions::default(),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.stat("l1", "failed"), 1);
    assert_eq!(
        r.stat("l2", "changed"),
        1,
        "l2 must not run the second task: {}",
        r.dump()
    );
    // A fatal failure inside a block (here in its rescue) still runs the block's always, then the play ends.
    let (_d, r) = local(
        &[("site.yml", "- hosts: l1\n  gather_facts: false\n  any_errors_fatal: true\n  tasks:\n    - block:\n        - command: 'false'\n      rescue:\n        - command: 'false'\n        - debug: msg=never-rescue\n      always:\n        - debug: msg=always-ran\n    - debug: msg=never-after\n")],
        RunOptions::default(),
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    let dump = r.dump();
    assert!(
        dump.contains("always-ran")
            && !dump.contains("never-rescue")
            && !dump.contains("never-after"),
        "{dump}"
    );
    // force_handlers: a notified handler still runs after a fatal failure.
    let (_d, r) = local(
        &[("site.yml", "- hosts: l1\n  gather_facts: false\n  any_errors_fatal: true\n  force_handlers: true\n  tasks:\n    - command: 'true'\n      notify: h\n    - fail:\n  handlers:\n    - name: h\n      debug: msg=handler-ran\n")],
        RunOptions::default(),
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    assert!(r.dump().contains("handler-ran"), "{}", r.dump());
}

#[test]
fn variable_precedence_follows_ansible() {
    let (_d, r) = local(
        &[
            (
                "site.yml",
                r#"
- hosts: l1
  gather_facts: false
  vars: {p_play: play, p_inv_vs_play: play, p_play_vs_rolevars: play}
  vars_files: [vf.yml]
  roles: [r]
  tasks:
    - assert:
        that:
          - p_play == 'play'
          - p_inv_vs_play == 'play'
          - p_vf == 'vars_file'
          - p_play_vs_rolevars == 'role_vars'
          - p_default == 'role_default'
          - p_inv_only == 'inventory'
    - set_fact: {p_play: fact}
    - assert: {that: "p_play == 'fact'"}
    - debug: msg="{{ p_task }}"
      vars: {p_task: task}
      register: t
    - assert: {that: "t.msg == 'task'"}
"#,
            ),
            ("vf.yml", "p_vf: vars_file\n"),
            (
                "roles/r/defaults/main.yml",
                "p_default: role_default\np_inv_only: role_default\np_play: role_default\n",
            ),
            ("roles/r/vars/main.yml", "p_play_vs_rolevars: role_vars\n"),
            ("roles/r/tasks/main.yml", "- debug: msg=role\n"),
            (
                "group_vars/all.yml",
                "p_inv_only: inventory\np_inv_vs_play: inventory\np_extra: inventory\n",
            ),
        ],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.stat("l1", "failed"), 0);
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[
            ("inv.yml", LOCAL_INV),
            ("site.yml", "- hosts: l1\n  gather_facts: false\n  vars: {p_extra: play}\n  tasks:\n    - set_fact: {p_extra: fact}\n    - assert: {that: \"p_extra == 'extra'\"}\n"),
        ],
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        RunOptions::default(),
        &[("p_extra", Value::String("extra".into()))],
    );
    assert_eq!(r.code, 0, "extra vars win over everything: {}", r.dump());
}

#[test]
fn async_jobs_poll_and_async_status() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_string_lossy().into_owned();
    let (_d, r) = local(
        &[(
            "site.yml",
            &r#"
- hosts: l1
  gather_facts: false
  environment: {HOME: "@HOME@"}
  tasks:
    - name: fire and forget
      shell: sleep 1; echo late > "$HOME/late"
      async: 20
      poll: 0
      register: job
    - assert:
        that:
          - job is changed
          - job is started
          - job is not finished
          - job.ansible_job_id is match('^j[0-9]+$')
          - job.results_file == "@HOME@/.ansible_async/" ~ job.ansible_job_id
    - name: wait for it
      async_status: {jid: "{{ job.ansible_job_id }}"}
      register: st
      until: st is finished
      retries: 30
      delay: 0.2
    - assert:
        that:
          - st.rc == 0
          - st is changed
          - st.attempts > 1
          - lookup('file', '@HOME@/late') == 'late'
    - async_status: {jid: "{{ job.ansible_job_id }}", mode: cleanup}
    - name: polled
      command: echo polled
      async: 10
      poll: 1
      register: polled
    - assert:
        that:
          - polled.stdout == 'polled'
          - polled is finished
          - polled.ansible_job_id is defined
    - name: too slow
      shell: sleep 5
      async: 1
      poll: 1
      register: slow
      ignore_errors: true
    - assert:
        that:
          - slow is failed
          - slow.msg == 'async task did not complete within the requested time - 1s'
    - name: no async for script
      script: /bin/true
      async: 2
      register: scripted
      ignore_errors: true
    - assert:
        that:
          - scripted.msg == 'This action (script) does not support async.'
"#
            .replace("@HOME@", &h),
        )],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.stat("l1", "ignored"), 2, "{}", r.dump());
    let left: Vec<_> = std::fs::read_dir(home.path().join(".ansible_async"))
        .unwrap()
        .collect();
    assert!(
        left.len() == 1,
        "the polled job cleans up after itself; the slow one's record stays: {left:?}"
    );
}

#[test]
fn import_playbook_templated_with_vars_when_and_tags() {
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[
            ("inv.yml", LOCAL_INV),
            (
                "site.yml",
                r#"
- import_playbook: "{{ pb }}"
- import_playbook: "{{ own }}"
  vars:
    own: second.yml
    from_import: imported
- ansible.legacy.import_playbook: skipped.yml
  when: false
- import_playbook: tagged.yml
  tags: [special]
"#,
            ),
            ("first.yml", "- hosts: l1\n  gather_facts: false\n  tasks:\n    - debug: msg=first\n"),
            ("second.yml", "- hosts: l1\n  gather_facts: false\n  vars:\n    from_import: own\n  tasks:\n    - assert: {that: [from_import == 'imported']}\n"),
            ("skipped.yml", "- hosts: l1\n  tasks:\n    - fail: msg=never\n"),
            ("tagged.yml", "- hosts: l1\n  gather_facts: false\n  tasks:\n    - debug: msg=tagged\n"),
        ],
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        RunOptions::default(),
        &[("pb", Value::String("first.yml".into()))],
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.results("debug").len(), 2, "{}", r.dump());
    assert_eq!(
        r.stat("l1", "skipped"),
        2,
        "the false import skips its gathering and its task: {}",
        r.dump()
    );
    let only = RunOptions {
        tags: vec!["special".into()],
        ..RunOptions::default()
    };
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        only,
        &[("pb", Value::String("first.yml".into()))],
    );
    assert_eq!(
        r.results("debug").len(),
        1,
        "only the tagged import runs: {}",
        r.dump()
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        RunOptions::default(),
        &[],
    );
    assert_eq!(
        r.code,
        1,
        "an undefined name is an error before anything runs: {}",
        r.dump()
    );
}

#[test]
fn arguments_given_as_one_template() {
    ok_local(
        r#"
- hosts: l1
  gather_facts: false
  vars:
    a_var: one
    checks: {that: "a_var == 'one'"}
  tasks:
    - assert: "{{ item }}"
      loop:
        - {that: "1 == 1"}
        - {that: ["a_var == 'one'", true]}
    - assert: "{{ checks }}"
    - name: mixed with args
      assert: "{{ checks }}"
      args:
        fail_msg: never shown
    - debug: "msg={{ a_var }}"
      register: d
    - assert: {that: ["d.msg == 'one'", "now(fmt='%Y') | int > 2000"]}
"#,
    );
    ok_local(
        r#"
- hosts: l1
  gather_facts: false
  vars:
    debug_args: {msg: from args}
    clash: {var: a_var}
  tasks:
    - debug:
      args: "{{ debug_args }}"
      register: d
    - debug: {msg: mine}
      args: "{{ clash }}"
      register: both
      ignore_errors: true
    - debug:
      args: "{{ 'not a mapping' }}"
      register: bad
      ignore_errors: true
    - assert: {that: ["d.msg == 'from args'", "both is failed", "bad is failed"]}
"#,
    );
    let (_d, r) = local(
        &[(
            "site.yml",
            "- hosts: l1\n  gather_facts: false\n  tasks:\n    - assert: \"{{ 'text' }}\"\n",
        )],
        RunOptions::default(),
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    assert!(r.dump().contains("Finalization of task args for 'ansible.builtin.assert' failed: Task args must resolve to a 'dict' not 'str'."), "{}", r.dump());
}

#[test]
fn unsafe_text_is_never_templated() {
    ok_local(
        r#"
- hosts: l1
  gather_facts: false
  vars:
    raw_text: !unsafe "{{ not templated }}"
    debug_me: x
  tasks:
    - debug: {var: !unsafe debug_me}
      ignore_errors: true
      register: d
    - assert: {that: ["d is failed", "d.msg is contains 'untrusted template or expression'"]}
    - copy: {content: !unsafe "{{ literal }}\n", dest: "{{ tmp }}/unsafe.txt"}
    - assert:
        that:
          - lookup('file', tmp ~ '/unsafe.txt') == '{' ~ '{ literal }' ~ '}'
          - raw_text == '{' ~ '{ not templated }' ~ '}'
    - assert: {that: !unsafe "1 == 1"}
      ignore_errors: true
      register: a
    - assert: {that: ["a.msg == 'Conditional is marked as unsafe, and cannot be evaluated.' or a.msg.startswith('Conditional is marked as unsafe')"]}
"#,
    );
}

#[test]
fn module_defaults_of_the_service_manager_apply_to_service() {
    // service hands its task to the host's manager module (ansible_service_mgr,
    // a fact; set here), whose module_defaults apply (check mode: nothing runs).
    let (_d, r) = local(
        &[("site.yml", "- hosts: l1\n  gather_facts: false\n  vars: {ansible_service_mgr: systemd}\n  tasks:\n    - service:\n      check_mode: true\n      register: s\n      ignore_errors: true\n      module_defaults:\n        systemd: {name: berth-no-such-unit, enabled: true}\n    - assert: {that: [\"s.msg is not defined or 'missing required arguments' not in s.msg\"]}\n")],
        RunOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.dump());
}

#[test]
fn module_defaults_fill_arguments_inner_levels_win() {
    ok_local(
        r#"
- hosts: l1
  gather_facts: false
  module_defaults:
    ansible.builtin.copy: {dest: "{{ tmp }}/play.txt", content: "play\n"}
    debug: {msg: from play}
  tasks:
    - copy: {}
    - block:
        - copy: {content: "block\n"}
        - debug:
          register: d
          module_defaults:
            ansible.legacy.debug: {msg: from task}
      module_defaults:
        - copy: {dest: "{{ tmp }}/block.txt"}
    - assert:
        that:
          - lookup('file', tmp ~ '/play.txt') == 'play'
          - lookup('file', tmp ~ '/block.txt') == 'block'
          - d.msg == 'from task'
"#,
    );
}

#[test]
fn static_import_names_are_templated_at_load_time() {
    let d = tempfile::tempdir().unwrap();
    write_files(
        d.path(),
        &[
            ("inv.yml", LOCAL_INV),
            (
                "site.yml",
                "- import_playbook: inner.yml\n  vars:\n    role_from_import: r1\n",
            ),
            (
                "inner.yml",
                r#"
- hosts: l1
  gather_facts: false
  vars:
    play_tasks: t1.yml
  roles:
    - role: "{{ role_from_import }}"
  tasks:
    - import_tasks: "{{ play_tasks }}"
    - import_tasks: "{{ task_tasks }}"
      vars:
        task_tasks: t2.yml
    - import_role:
        name: "{{ extra_role }}"
"#,
            ),
            ("t1.yml", "- set_fact: {t1: true}\n"),
            (
                "t2.yml",
                "- set_fact: {t2: true}\n- assert: {that: [t1, t2, r1]}\n",
            ),
            ("roles/r1/tasks/main.yml", "- set_fact: {r1: true}\n"),
            ("roles/r2/tasks/main.yml", "- set_fact: {r2: true}\n"),
        ],
    );
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        RunOptions::default(),
        &[("extra_role", Value::String("r2".into()))],
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.results("r2 : set_fact").len(), 1, "{}", r.dump());
    let r = run_with(
        d.path(),
        "site.yml",
        &d.path().join("inv.yml"),
        RunOptions::default(),
        &[],
    );
    assert_eq!(
        r.code,
        1,
        "an undefined import name is an error before anything runs: {}",
        r.dump()
    );
}

#[test]
fn with_nested_together_and_subelements_loops() {
    ok_local(
        r#"
- hosts: l1
  gather_facts: false
  vars:
    users: [{name: a, keys: [k1, k2]}, {name: b, keys: [k3]}]
  tasks:
    - set_fact: {pairs: "{{ pairs | default([]) + [item[0] ~ item[1]] }}"}
      with_nested: [[1, 2], [x, y]]
    - set_fact: {zipped: "{{ zipped | default([]) + [item] }}"}
      with_together: [[1, 2], [a]]
    - set_fact: {keys: "{{ keys | default([]) + [item.0.name ~ ':' ~ item.1] }}"}
      with_subelements: [ "{{ users }}", keys ]
    - assert:
        that:
          - pairs == ['1x', '1y', '2x', '2y']
          - zipped == [[1, 'a'], [2, none]]
          - keys == ['a:k1', 'a:k2', 'b:k3']
"#,
    );
}

#[test]
fn debug_and_argument_failures_as_ansible_2_19_reports_them() {
    ok_local(
        r#"
- hosts: l1
  gather_facts: false
  vars:
    k1: v1
  tasks:
    - debug: {msg: "{{ 5 / 0 }}"}
      register: div
      ignore_errors: true
    - debug: {msg: "a {{ nope }} b"}
      register: undef
      ignore_errors: true
    - debug: {var: '{{ "k1" }}'}
      register: made
      ignore_errors: true
    - debug: {var: '{{ item }}'}
      loop: [k1]
      register: indirect
    - set_fact:
        ansible_facts: {nonfact: 1}
    - debug: {var: ansible_facts}
      register: shown
    - assert:
        that:
          - div is failed
          - "'division by zero' in div.msg"
          - div.exception is defined
          - undef.msg is search("Finalization of task args for 'ansible.builtin.debug' failed. Error while resolving value for 'msg'. 'nope' is undefined")
          - made is failed and made.msg is contains 'untrusted template or expression'
          - indirect.results[0].k1 == 'v1'
          - shown._ansible_verbose_always is undefined
          - shown.failed == false
          - nonfact is not defined
"#,
    );
}

#[test]
fn fact_cache_keeps_cacheable_facts_between_runs_and_flushes() {
    let d = tempfile::tempdir().unwrap();
    let cache = super::fact_cache::FactCache {
        dir: d.path().join("cache"),
        prefix: "prefix_".into(),
        timeout: 0,
    };
    write_files(d.path(), &[("inv.yml", LOCAL_INV)]);
    write_files(
        d.path(),
        &[
            (
                "one.yml",
                "- hosts: l1\n  tasks:\n    - set_fact: {kept: 'from run one', cacheable: true}\n    - set_fact: {dropped: 'not cached'}\n",
            ),
            (
                "two.yml",
                "- hosts: l1\n  gather_facts: false\n  vars: {kept: 'play vars lose to nothing here'}\n  tasks:\n    - assert:\n        that:\n          - ansible_facts.kept == 'from run one'\n          - dropped is undefined\n          - ansible_facts.distribution is defined\n",
            ),
            ("three.yml", "- hosts: l1\n  gather_facts: false\n  tasks:\n    - assert:\n        that:\n          - ansible_facts.kept is undefined\n          - ansible_facts == {}\n"),
        ],
    );
    let opts = RunOptions {
        fact_cache: Some(cache.clone()),
        ..RunOptions::default()
    };
    let r = run_with(
        d.path(),
        "one.yml",
        &d.path().join("inv.yml"),
        opts.clone(),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    let stored = cache.load("l1").expect("l1 cached");
    assert_eq!(stored["kept"], "from run one");
    assert!(!stored.contains_key("dropped"));
    assert_eq!(stored["_ansible_facts_gathered"], true);
    assert!(cache.load("l2").is_none(), "l2 was not in the play");
    let r = run_with(
        d.path(),
        "two.yml",
        &d.path().join("inv.yml"),
        opts.clone(),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    // gathering = smart: a host the cache knows is not gathered again.
    let smart = RunOptions {
        gather_smart: true,
        ..opts.clone()
    };
    let r = run_with(d.path(), "one.yml", &d.path().join("inv.yml"), smart, &[]);
    assert_eq!(r.code, 0, "{}", r.dump());
    assert!(r.results("Gathering Facts").is_empty(), "{}", r.dump());
    let flushed = RunOptions {
        flush_cache: true,
        ..opts
    };
    let r = run_with(
        d.path(),
        "three.yml",
        &d.path().join("inv.yml"),
        flushed,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert!(cache.load("l1").is_none());
}

#[test]
fn templated_tags_are_rendered_before_filtering() {
    let body = "- hosts: l1\n  gather_facts: false\n  vars: {the_tags: [tag3, other], one: tag3, csv: 'a,tag3'}\n  tasks:\n    - name: templated\n      debug: {msg: ran}\n      tags: \"{{ the_tags }}\"\n    - name: one\n      debug: {msg: ran}\n      tags: \"{{ one }}\"\n    - name: csv\n      debug: {msg: ran}\n      tags: \"{{ csv }}\"\n    - name: plain\n      debug: {msg: ran}\n      tags: tag1\n";
    let (_d, r) = local(
        &[("site.yml", body)],
        RunOptions {
            tags: vec!["tag3".into()],
            ..RunOptions::default()
        },
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.results("templated").len(), 1, "{}", r.dump());
    assert_eq!(r.results("one").len(), 1, "{}", r.dump());
    // A string is one tag, commas and all (Ansible splits only the written text).
    assert!(r.results("csv").is_empty(), "{}", r.dump());
    assert!(r.results("plain").is_empty(), "{}", r.dump());
}

#[test]
fn roles_take_tasks_handlers_vars_and_defaults_from_other_files() {
    let files = [
        ("roles/web/tasks/main.yml", "- debug: {msg: main}\n"),
        ("roles/web/tasks/alt.yml", "- {name: alt task, command: echo, notify: alt handler}\n- assert: {that: [from_vars == 'alt vars', from_defaults == 'alt defaults']}\n"),
        ("roles/web/handlers/main.yml", "- {name: alt handler, set_fact: {which: main}}\n"),
        ("roles/web/handlers/alternate.yml", "- {name: alt handler, set_fact: {which: alternate}}\n"),
        ("roles/web/vars/alt.yml", "from_vars: alt vars\n"),
        ("roles/web/defaults/other.yml", "from_defaults: alt defaults\n"),
        (
            "site.yml",
            "- hosts: l1\n  gather_facts: false\n  tasks:\n    - include_role: {name: web, tasks_from: alt, handlers_from: alternate.yml, vars_from: alt, defaults_from: other}\n    - meta: flush_handlers\n    - assert: {that: [\"which == 'alternate'\"]}\n- hosts: l1\n  gather_facts: false\n  tasks:\n    - import_role: {name: web, tasks_from: alt, handlers_from: alternate, vars_from: alt.yml, defaults_from: other}\n    - meta: flush_handlers\n    - assert: {that: [\"which == 'alternate'\"]}\n",
        ),
    ];
    let (_d, r) = local(&files, RunOptions::default());
    assert_eq!(r.code, 0, "{}", r.dump());
    // A file asked for that is not there is an error naming it.
    let (_d, r) = local(
        &[("roles/web/tasks/main.yml", "- debug: {msg: main}\n"), ("site.yml", "- hosts: l1\n  gather_facts: false\n  roles:\n    - {role: web, handlers_from: nope}\n")],
        RunOptions::default(),
    );
    assert_ne!(r.code, 0);
}

#[test]
fn a_templated_action_names_its_module_at_run_time() {
    let r = ok_local("- hosts: l1\n  gather_facts: false\n  vars: {m: ansible.builtin.set_fact, n: debug}\n  tasks:\n    - action: \"{{ m }}\"\n      args: {picked: yes}\n    - action: \"{{ n }} msg=hello\"\n      register: d\n    - assert: {that: [picked, \"d.msg == 'hello'\"]}\n");
    assert_eq!(r.stat("l1", "failed"), 0);
}

#[test]
fn force_handlers_from_the_command_line_unless_the_play_says_otherwise() {
    let play = |force: &str| {
        format!("- hosts: l1\n  gather_facts: false\n{force}  tasks:\n    - command: 'true'\n      notify: h\n    - fail:\n  handlers:\n    - name: h\n      debug: msg=handler-ran\n")
    };
    let forced = RunOptions {
        force_handlers: true,
        ..RunOptions::default()
    };
    let (_d, r) = local(&[("site.yml", &play(""))], forced.clone());
    assert_eq!(r.results("h").len(), 1, "{}", r.dump());
    let (_d, r) = local(&[("site.yml", &play("  force_handlers: false\n"))], forced);
    assert!(r.results("h").is_empty(), "{}", r.dump());
    let (_d, r) = local(&[("site.yml", &play(""))], RunOptions::default());
    assert!(r.results("h").is_empty(), "{}", r.dump());
}
