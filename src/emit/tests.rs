//! Emitter tests: golden files per inference rule (exact bytes), determinism,
//! small diffs, `--check`, and the rendered role templates checked by the
//! tools that read them on a host (Caddy, ansible-playbook).
//!
//! Golden files live in `tests/golden/emit/<case>/`; `BERTH_BLESS=1 cargo test
//! --lib emit` rewrites them after a reviewed change.

use std::path::{Path, PathBuf};
use std::process::Command;

use indexmap::IndexMap;
use pretty_assertions::assert_eq;
use serde_json::Value;

use super::*;
use crate::manifest::model::*;

/// The compiled output as in a project's own folder.
fn compile(manifests: &[Manifest]) -> Result<Writer, Vec<Diagnostic>> {
    super::compile(manifests, PROJECT_DIR)
}
use crate::playbook::templar::Templar;

const BUN_URL: &str = "https://registry.example/bun/bun-linux-x64-1.1.38";

/// `server { }` and a minimal deploy block, with the defaults of seed 003 §1.
pub(crate) fn minimal() -> Manifest {
    Manifest {
        app: "notes".into(),
        env: "prod".into(),
        servers: vec![SshTarget {
            user: Some("root".into()),
            host: "203.0.113.10".into(),
            port: None,
        }],
        domain: "notes.example.com".into(),
        tls: Tls::Auto,
        kind: AppKind::Server,
        instances: 1,
        memory_bytes: 512 * 1024 * 1024,
        branch: "main".into(),
        health: Health {
            path: "/healthz".into(),
            interval_secs: 30,
            timeout_secs: 5,
        },
        restart_on_failure: true,
        keep_releases: 5,
        rolling: None,
        max_fail_percent: None,
        runtime: Runtime::Bun {
            url: BUN_URL.into(),
        },
        bundle: ".tova-out".into(),
        build: None,
        start: None,
        env_vars: IndexMap::new(),
        databases: Databases::default(),
        proxy: Proxy {
            asset_prefix: "/.tova-out/".into(),
            app_paths: vec!["/healthz".into(), "/rpc/*".into()],
            ..Proxy::default()
        },
        secrets: Secrets::default(),
        data_files: Vec::new(),
        module_retention_secs: 7 * 24 * 3600,
    }
}

fn postgres(m: &mut Manifest) {
    m.databases.postgres = Some(Postgres {
        name: format!("{}_db", m.app),
        user: format!("tova_{}", m.app),
        port: 5432,
        url_env: "DATABASE_URL".into(),
    });
    m.secrets.auto.push("DATABASE_URL".into());
}

fn redis(m: &mut Manifest) {
    m.databases.redis = Some(Redis {
        prefix: format!("{}:", m.app),
        maxmemory: Some("256mb".into()),
        url_env: "REDIS_URL".into(),
    });
    m.secrets.auto.push("REDIS_URL".into());
}

/// One case per inference rule (seed 003 §2), plus deploy-block variations.
fn cases() -> Vec<(&'static str, Manifest)> {
    let mut out = vec![("minimal", minimal())];
    let mut add = |name: &'static str, f: &dyn Fn(&mut Manifest)| {
        let mut m = minimal();
        f(&mut m);
        out.push((name, m));
    };
    add("sqlite", &|m| {
        m.databases.sqlite = Some(Sqlite {
            path: "./notes.db".into(),
        })
    });
    add("postgres", &postgres);
    add("redis", &redis);
    add("browser", &|m| {
        m.proxy.static_files = true;
        m.proxy.document = true;
        m.proxy.app_paths = vec![
            "/api/message".into(),
            "/docs".into(),
            "/healthz".into(),
            "/openapi.json".into(),
            "/rpc/*".into(),
            "/users/:id".into(),
        ];
    });
    add("static", &|m| {
        m.kind = AppKind::Static;
        m.runtime = Runtime::None;
        m.proxy = Proxy {
            static_files: true,
            document: true,
            asset_prefix: "/docs/.tova-out/".into(),
            ..Proxy::default()
        };
    });
    add("jwt", &|m| m.secrets.required = vec!["JWT_SECRET".into()]);
    add("cors", &|m| {
        m.proxy.cors_origins = vec![
            "https://app.example.com".into(),
            "https://admin.example.com".into(),
        ]
    });
    add("websocket", &|m| {
        m.proxy.websocket_paths = vec!["/ws".into()]
    });
    add("sse", &|m| m.proxy.sse_paths = vec!["/events".into()]);
    add("tls_internal", &|m| m.tls = Tls::Internal);
    add("tls_off", &|m| m.tls = Tls::Off);
    add("instances", &|m| m.instances = 3);
    add("data", &|m| {
        m.data_files = vec![DataFile {
            name: "products".into(),
            path: "data/products.csv".into(),
        }];
    });
    add("env_node", &|m| {
        m.runtime = Runtime::Node;
        m.start = Some("server/main.js".into());
        m.build = Some("npm run build".into());
        m.env_vars.insert("NODE_ENV".into(), "production".into());
        m.env_vars
            .insert("GREETING".into(), "say \"hi\" \\ bye".into());
    });
    add("fleet", &|m| {
        m.servers = vec![
            SshTarget {
                user: Some("deploy".into()),
                host: "198.51.100.11".into(),
                port: Some(2222),
            },
            SshTarget {
                user: None,
                host: "web2.example.com".into(),
                port: None,
            },
            SshTarget {
                user: Some("deploy".into()),
                host: "198.51.100.11".into(),
                port: Some(2223),
            },
        ];
        m.rolling = Some(Batch::Count(1));
        m.max_fail_percent = Some(34);
    });
    add("rolling_percent", &|m| m.rolling = Some(Batch::Percent(25)));
    out
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/emit")
}

/// The app-specific files of one manifest: playbook, inventory, and the role
/// templates rendered with the playbook's vars by berth's templar.
fn case_outputs(m: &Manifest) -> Vec<(String, String)> {
    let files = compile(std::slice::from_ref(m)).unwrap();
    let text = |p: &str| String::from_utf8(files.files[p].clone()).unwrap();
    let mut out = vec![
        (
            "playbook.yml".to_string(),
            text(&format!("playbooks/{}.yml", m.env)),
        ),
        (
            "vars.yml".to_string(),
            text(&format!("playbooks/vars/{}.yml", m.env)),
        ),
        (
            "inventory.yml".to_string(),
            text(&format!("inventory/{}.yml", m.env)),
        ),
    ];
    let roles = playbook::roles_for(m);
    for (name, template) in [
        ("app.caddy", "roles/proxy/templates/app.caddy.j2"),
        ("app@.service", "roles/services/templates/app@.service.j2"),
        ("health.sh", "roles/services/templates/health.sh.j2"),
        ("health.timer", "roles/services/templates/health.timer.j2"),
        ("env", "roles/secrets/templates/env.j2"),
    ] {
        // Only the templates of the roles the app's playbook runs.
        if roles
            .iter()
            .any(|r| template.starts_with(&format!("roles/{r}/")))
        {
            out.push((name.to_string(), render(m, &text(template))));
        }
    }
    out
}

/// Renders a role template with the values a run gives it: the vars file
/// with its paths resolved, ports as a fresh host's registry hands them
/// out, and the entry file as the bundle check finds it.
fn render(m: &Manifest, template: &str) -> String {
    let vars = run_vars(m);
    Templar::new()
        .render_text(template, &Templar::context(&vars))
        .unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn run_vars(m: &Manifest) -> serde_json::Map<String, serde_json::Value> {
    let mut vars = playbook::vars(m);
    let app_dir = format!("{}/apps/{}", playbook::ROOT, m.app);
    vars.insert("tova_root".into(), serde_json::json!(playbook::ROOT));
    vars.insert(
        "tova_bin".into(),
        serde_json::json!(format!("{app_dir}/bin/tova")),
    );
    vars.insert("tova_app_dir".into(), serde_json::json!(app_dir));
    let ports: Vec<u32> = (0..if m.kind == crate::manifest::model::AppKind::Server {
        m.instances
    } else {
        0
    })
        .map(|i| 3000 + i)
        .collect();
    vars.insert("app_ports".into(), serde_json::json!(ports));
    vars.insert(
        "app_start".into(),
        serde_json::json!(m.start.clone().unwrap_or_else(|| "server.js".into())),
    );
    vars
}

#[test]
fn golden_files_per_inference_rule() {
    let bless = std::env::var_os("BERTH_BLESS").is_some();
    let mut failures = Vec::new();
    for (case, m) in cases() {
        for (name, actual) in case_outputs(&m) {
            let path = golden_dir().join(case).join(&name);
            if bless {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &actual).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
            if expected != actual {
                failures.push(format!(
                    "{case}/{name}:\n{}",
                    similar::TextDiff::from_lines(&expected, &actual)
                        .unified_diff()
                        .header("golden", "actual")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden files differ (BERTH_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}

#[test]
fn compiling_twice_gives_the_same_bytes_whatever_the_order() {
    let all: Vec<Manifest> = cases()
        .into_iter()
        .map(|(case, mut m)| {
            m.env = case.replace('_', "-");
            m
        })
        .collect();
    let first = compile(&all).unwrap();
    let mut reversed = all.clone();
    reversed.reverse();
    let mut shuffled_env = minimal();
    // Declaration order of env vars must not matter either.
    shuffled_env.env_vars = [("B", "2"), ("A", "1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut again = minimal();
    again.env_vars = [("A", "1"), ("B", "2")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(first, compile(&all).unwrap());
    assert_eq!(first, compile(&reversed).unwrap());
    assert_eq!(
        compile(&[shuffled_env]).unwrap(),
        compile(&[again]).unwrap()
    );
    for (path, bytes) in &first.files {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(
            writer::is_generated(bytes),
            "{path} lacks the generated header"
        );
        assert!(
            text.ends_with('\n') && !text.ends_with("\n\n"),
            "{path} must end in exactly one newline"
        );
        assert!(
            !text.contains('\r') && !text.contains(" \n"),
            "{path} has trailing whitespace"
        );
    }
}

#[test]
fn roles_are_the_same_bytes_for_every_app() {
    let mut other = minimal();
    other.app = "shop".into();
    postgres(&mut other);
    redis(&mut other);
    let a = compile(&[minimal()]).unwrap();
    let b = compile(&[other]).unwrap();
    let roles = |w: &Writer| {
        w.files
            .iter()
            .filter(|(p, _)| p.starts_with("roles/"))
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(roles(&a), roles(&b));
    assert_eq!(roles(&a).len(), roles::ROLE_FILES.len());
}

/// Lines a change adds and removes between two compiled outputs (playbook
/// and vars file; the layer fingerprints, which move with any input, aside).
fn line_changes(before: &Manifest, after: &Manifest) -> (Vec<String>, Vec<String>) {
    let text = |m: &Manifest| {
        let files = compile(std::slice::from_ref(m)).unwrap();
        let mut t =
            String::from_utf8(files.files[&format!("playbooks/vars/{}.yml", m.env)].clone())
                .unwrap();
        t.push_str(
            &String::from_utf8(files.files[&format!("playbooks/{}.yml", m.env)].clone()).unwrap(),
        );
        let layers: Vec<&str> = roles::LAYERS.to_vec();
        t.lines()
            .filter(|l| {
                !layers
                    .iter()
                    .any(|x| l.trim_start().starts_with(&format!("{x}: ")) && l.len() > 40)
            })
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let (a, b) = (text(before), text(after));
    let diff = similar::TextDiff::from_lines(&a, &b);
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added.push(change.value().trim_end().to_string()),
            similar::ChangeTag::Delete => removed.push(change.value().trim_end().to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

#[test]
fn adding_postgres_only_adds_postgres_lines() {
    let mut with_pg = minimal();
    postgres(&mut with_pg);
    let (added, removed) = line_changes(&minimal(), &with_pg);
    assert!(removed.is_empty(), "nothing moves: {removed:?}");
    assert_eq!(
        added,
        vec![
            "tova_postgres_db: notes_db",
            "tova_postgres_port: 5432",
            "tova_postgres_url_env: DATABASE_URL",
            "tova_postgres_user: tova_notes",
            "tova_secrets_auto: [DATABASE_URL]",
            "        - name: Provision the databases",
            "          ansible.builtin.import_role:",
            "            name: databases",
            "          tags: [databases]",
        ]
    );
    // With a database already there, postgres adds only its vars.
    let mut with_redis = minimal();
    redis(&mut with_redis);
    let mut both = with_redis.clone();
    postgres(&mut both);
    let (added, removed) = line_changes(&with_redis, &both);
    assert_eq!(removed, vec!["tova_secrets_auto: [REDIS_URL]"]);
    assert_eq!(added.len(), 5, "{added:?}");
}

#[test]
fn check_detects_a_one_character_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = minimal();
    let load = |_: &Path| Ok(vec![minimal()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(dir.path(), dir.path(), false, load, &mut out, &mut err),
        0
    );
    assert_eq!(
        run(dir.path(), dir.path(), true, load, &mut out, &mut err),
        0,
        "{}",
        String::from_utf8_lossy(&err)
    );

    // One character in the app changes: the committed output is stale.
    let mut changed = m.clone();
    changed.health.path = "/healthy".into();
    let before = std::fs::read(dir.path().join("playbooks/vars/prod.yml")).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(
            dir.path(),
            dir.path(),
            true,
            |_: &Path| Ok(vec![changed.clone()]),
            &mut out,
            &mut err
        ),
        1
    );
    let diff = String::from_utf8(out).unwrap();
    let (first_hunk, rest) = diff.split_at(
        diff.find("@@ -24")
            .expect("a second hunk: the layer fingerprints"),
    );
    assert_eq!(
        first_hunk,
        "--- a/playbooks/vars/prod.yml\n+++ b/playbooks/vars/prod.yml\n@@ -15,7 +15,7 @@\n tova_domain: notes.example.com\n tova_env: prod\n tova_health_interval: 30\n-tova_health_path: /healthz\n+tova_health_path: /healthy\n tova_health_timeout: 5\n tova_instances: 1\n tova_keep_releases: 5\n"
    );
    // The health path is an input of the proxy and the services: their fingerprints move, no other.
    let moved: Vec<&str> = rest
        .lines()
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .map(|l| l[1..].trim_start().split(':').next().unwrap())
        .collect();
    assert_eq!(
        moved,
        vec!["proxy", "services", "proxy", "services"],
        "{rest}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("playbooks/vars/prod.yml")).unwrap(),
        before,
        "--check writes nothing"
    );

    // One character edited by hand in a generated role file is caught too.
    let role = dir.path().join("roles/system/tasks/main.yml");
    let text = std::fs::read_to_string(&role)
        .unwrap()
        .replacen("0755", "0775", 1);
    std::fs::write(&role, text).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(dir.path(), dir.path(), true, load, &mut out, &mut err),
        1
    );
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("-    mode: \"0775\"\n+    mode: \"0755\"\n"));

    // A removed deploy block leaves stale generated files that --check reports and compile removes.
    let mut staging = minimal();
    staging.env = "staging".into();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(
            dir.path(),
            dir.path(),
            false,
            |_: &Path| Ok(vec![minimal(), staging.clone()]),
            &mut out,
            &mut err
        ),
        0
    );
    assert_eq!(
        run(dir.path(), dir.path(), true, load, &mut out, &mut err),
        1
    );
    assert_eq!(
        run(dir.path(), dir.path(), false, load, &mut out, &mut err),
        0
    );
    assert!(!dir.path().join("playbooks/staging.yml").exists());
    assert!(dir.path().join("playbooks/prod.yml").exists());
}

#[test]
fn front_end_errors_and_invalid_manifests_fail_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let failing = |_: &Path| {
        Err(vec![Diagnostic::error(
            "B0102",
            "unknown property `keep_release`",
        )])
    };
    assert_eq!(
        run(dir.path(), dir.path(), false, failing, &mut out, &mut err),
        1
    );
    assert!(String::from_utf8_lossy(&err).contains("error[B0102]"));

    let mut bad = minimal();
    bad.env = "../prod".into();
    bad.data_files.push(DataFile {
        name: "x".into(),
        path: "../secret.csv".into(),
    });
    let codes: Vec<&str> = compile(&[bad])
        .unwrap_err()
        .iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(codes, vec!["B0601", "B0603"]);
    let codes: Vec<&str> = compile(&[minimal(), minimal()])
        .unwrap_err()
        .iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(codes, vec!["B0602"]);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written on errors"
    );
}

#[test]
fn every_generated_yaml_file_parses() {
    let mut full = minimal();
    postgres(&mut full);
    redis(&mut full);
    for (path, bytes) in &compile(&[full]).unwrap().files {
        if path.ends_with(".yml") {
            let v: Result<Value, _> = serde_yaml::from_slice(bytes);
            assert!(v.is_ok(), "{path}: {v:?}");
        }
    }
}

fn have(tool: &str, version_arg: &str) -> bool {
    Command::new(tool)
        .arg(version_arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn rendered_caddy_sites_pass_caddy_validate() {
    assert!(
        have("caddy", "version"),
        "caddy is required for this test (apt-get install caddy)"
    );
    let dir = tempfile::tempdir().unwrap();
    for (case, m) in cases() {
        let site = render(
            &m,
            &String::from_utf8(
                roles::role_files()
                    .into_iter()
                    .find(|(p, _)| p.ends_with("app.caddy.j2"))
                    .unwrap()
                    .1,
            )
            .unwrap(),
        );
        let path = dir.path().join(format!("{case}.caddy"));
        std::fs::write(&path, site).unwrap();
        let out = Command::new("caddy")
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: caddy validate failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ansible_playbook_syntax_check_passes() {
    assert!(
        have("ansible-playbook", "--version"),
        "ansible-playbook is required for this test (apt-get install ansible-core)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut full = minimal();
    postgres(&mut full);
    redis(&mut full);
    full.databases.sqlite = Some(Sqlite {
        path: "db/notes.db".into(),
    });
    full.proxy = Proxy {
        static_files: true,
        document: true,
        asset_prefix: "/.tova-out/".into(),
        app_paths: vec!["/healthz".into(), "/rpc/*".into(), "/users/:id".into()],
        websocket_paths: vec!["/ws".into()],
        sse_paths: vec!["/events".into()],
        cors_origins: vec!["https://a.example".into()],
    };
    full.secrets.required = vec!["JWT_SECRET".into()];
    full.data_files = vec![DataFile {
        name: "products".into(),
        path: "data/products.csv".into(),
    }];
    let mut fleet = cases().into_iter().find(|(c, _)| *c == "fleet").unwrap().1;
    fleet.env = "fleet".into();
    compile(&[full, fleet]).unwrap().write(dir.path()).unwrap();
    for env in ["prod", "fleet"] {
        // Every playbook of the env: the deploy, rollback, remove, prune, env and git ones.
        let mut playbooks: Vec<_> = std::fs::read_dir(dir.path().join("playbooks"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{env}."))
            })
            .collect();
        playbooks.sort();
        assert_eq!(playbooks.len(), 7, "{playbooks:?}");
        let out = Command::new("ansible-playbook")
            .arg("--syntax-check")
            .arg("-i")
            .arg(dir.path().join(format!("inventory/{env}.yml")))
            .args(&playbooks)
            // From the project folder, as a user runs it: the generated ansible.cfg names the roles.
            .current_dir(dir.path())
            .env("ANSIBLE_LOCAL_TEMP", dir.path().join(".ansible-tmp"))
            .env("ANSIBLE_HOME", dir.path().join(".ansible"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{env}: {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!stderr.contains("WARNING"), "{env}: {stderr}");
    }
}

#[test]
fn examples_compiled_output_is_committed() {
    let bless = std::env::var_os("BERTH_BLESS").is_some();
    for name in ["minimal", "shop", "todo", "fullstack", "api", "site"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        assert!(
            dir.join("tova.toml").is_file() && dir.join("src/app.tova").is_file(),
            "examples/{name} is laid out as Tova lays out a project"
        );
        // The real front end reads the example's .tova files.
        let manifests = super::load_manifests(&dir)
            .unwrap_or_else(|d| panic!("{}", d.iter().map(|x| x.to_string()).collect::<String>()));
        let files = compile(&manifests).unwrap();
        if bless {
            files.write(&dir).unwrap();
        }
        let changes = files.changes(&dir).unwrap();
        assert!(
            changes.is_empty(),
            "examples/{name} is stale (BERTH_BLESS=1 to rewrite):\n{}",
            files.diff(&dir, &changes).unwrap()
        );
    }
}

/// Ansible renders the role templates with Jinja2 (trim_blocks, trailing
/// newline kept); berth renders them with its templar. Both must give the
/// same bytes for every case, so a host looks the same whichever runs it.
#[test]
fn role_templates_render_identically_under_jinja2() {
    const SCRIPT: &str = r#"
import json, sys, jinja2
job = json.load(sys.stdin)
env = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
# Ansible's own filters and tests where Jinja has none of that name
# (Ansible's versions of Jinja's builtins need Ansible's templar).
from ansible.plugins.filter.core import FilterModule
from ansible.plugins.test.core import TestModule
for k, f in FilterModule().filters().items():
    env.filters.setdefault(k, f)
for k, t in TestModule().tests().items():
    env.tests.setdefault(k, t)
out = [env.from_string(t).render(**job["vars"]) for t in job["templates"]]
json.dump(out, sys.stdout)
"#;
    use std::io::Write as _;
    for (case, m) in cases() {
        let used = playbook::roles_for(&m);
        let templates: Vec<String> = roles::role_files()
            .into_iter()
            .filter(|(p, _)| {
                p.ends_with(".j2") && used.iter().any(|r| p.starts_with(&format!("roles/{r}/")))
            })
            .map(|(_, b)| String::from_utf8(b).unwrap())
            .collect();
        let job = serde_json::json!({"vars": run_vars(&m), "templates": templates});
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with jinja2 (ansible-core) is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(job.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let jinja2: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        for (template, expected) in templates.iter().zip(jinja2) {
            assert_eq!(render(&m, template), expected, "{case}");
        }
    }
}

#[test]
fn the_projects_own_ansible_cfg_is_kept_and_checked_for_the_roles_folder() {
    let dir = tempfile::tempdir().unwrap();
    let load = |_: &Path| Ok(vec![minimal()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(dir.path(), dir.path(), false, load, &mut out, &mut err),
        0
    );
    let cfg = std::fs::read_to_string(dir.path().join("ansible.cfg")).unwrap();
    assert!(
        cfg.starts_with("# Generated by `berth compile`") && cfg.contains("\nroles_path = roles\n"),
        "{cfg}"
    );

    // A project with its own: never replaced, and told when it lacks the roles folder.
    let own = "[defaults]\nforks = 50\n";
    std::fs::write(dir.path().join("ansible.cfg"), own).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(dir.path(), dir.path(), false, load, &mut out, &mut err),
        0
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ansible.cfg")).unwrap(),
        own
    );
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("warning[B0606]") && err.contains("roles_path = roles"),
        "{err}"
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(dir.path(), dir.path(), true, load, &mut out, &mut err),
        0,
        "the own file is not stale: {}",
        String::from_utf8_lossy(&out)
    );

    std::fs::write(
        dir.path().join("ansible.cfg"),
        "[defaults]\nroles_path = /etc/ansible/roles:roles\n",
    )
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run(dir.path(), dir.path(), false, load, &mut out, &mut err),
        0
    );
    assert!(!String::from_utf8(err).unwrap().contains("B0606"));
}
