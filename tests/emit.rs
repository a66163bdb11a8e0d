//! The committed compiled output of `examples/` as Ansible itself reads it:
//! `ansible-playbook --syntax-check` on every playbook and `ansible-inventory`
//! on every inventory (ansible-core must be installed).

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("playbooks").is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 2,
        "examples/ holds at least two compiled apps"
    );
    dirs
}

/// The example's environments: one inventory each.
fn envs(example: &Path) -> Vec<String> {
    let mut envs: Vec<String> = std::fs::read_dir(example.join("inventory"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    envs.sort();
    envs
}

/// Every playbook of an environment: `<env>.yml` and `<env>.<what>.yml`.
fn playbooks(example: &Path, env: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(example.join("playbooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n == &format!("{env}.yml") || (n.starts_with(&format!("{env}.")) && n.ends_with(".yml"))
        })
        .map(|n| format!("playbooks/{n}"))
        .collect();
    files.sort();
    files
}

fn ansible(tool: &str, example: &Path) -> Command {
    let mut cmd = Command::new(tool);
    let tmp = std::env::temp_dir().join(format!("berth-emit-test-{}", std::process::id()));
    cmd.current_dir(example)
        .env("ANSIBLE_HOME", tmp.join("home"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.join("tmp"));
    cmd
}

#[test]
fn example_playbooks_pass_ansible_syntax_check() {
    for example in examples() {
        for env in envs(&example) {
            let books = playbooks(&example, &env);
            assert!(books.len() >= 6, "{}/{env}: {books:?}", example.display());
            let out = ansible("ansible-playbook", &example)
                .args(["--syntax-check", "-i", &format!("inventory/{env}.yml")])
                .args(&books)
                .output()
                .expect("ansible-playbook is installed (ansible-core)");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{}/{env}: {}{stderr}",
                example.display(),
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(
                !stderr.contains("WARNING"),
                "{}/{env}: {stderr}",
                example.display()
            );
        }
    }
}

#[test]
fn example_inventories_resolve_hosts_and_connection_vars() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let out = ansible("ansible-inventory", &shop)
        .args(["-i", "inventory/fleet.yml", "--list"])
        .output()
        .expect("ansible-inventory is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        inv["shop_fleet"]["hosts"],
        serde_json::json!(["198.51.100.11", "198.51.100.12", "198.51.100.13"])
    );
    let third = &inv["_meta"]["hostvars"]["198.51.100.13"];
    assert_eq!(third["ansible_port"], 2222);
    assert_eq!(third["ansible_user"], "deploy");
    assert_eq!(third["ansible_host"], "198.51.100.13");
}
