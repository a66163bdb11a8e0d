//! Front end + inference, end to end through the `berth` binary:
//! golden manifests per inference rule, golden diagnostics per code,
//! determinism, `berth explain`, and the 100-deploy-block benchmark.
//!
//! Fixtures live in tests/fixtures/tova/{manifest,diagnostics}; each is copied
//! into a temporary project folder named `shop` (so the app name is stable).
//! `BERTH_BLESS=1 cargo test --test compiler_frontend` rewrites the goldens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;

/// Tests in this file run one at a time so the benchmark does not compete
/// with the golden runs for the CPU.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn berth(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("BERTH_LOG")
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A temp project `shop/` holding the fixture (a directory, or one file saved as app.tova).
fn stage(fixture: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("shop");
    if fixture.is_dir() {
        copy_dir(fixture, &project);
    } else {
        std::fs::create_dir_all(&project).unwrap();
        std::fs::copy(fixture, project.join("app.tova")).unwrap();
    }
    (tmp, project)
}

fn check_golden(path: &Path, actual: &str) {
    if std::env::var_os("BERTH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "missing golden {}; run with BERTH_BLESS=1 and review it",
            path.display()
        )
    });
    assert_eq!(expected, actual, "golden {}", path.display());
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/tova").join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn case_name(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn manifest_goldens_per_inference_rule() {
    let _serial = serial();
    let cases = fixtures("manifest");
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case_name(&case);
        let (_tmp, project) = stage(&case);
        let dir = project.to_str().unwrap();
        let json = berth(&["manifest", dir, "--env", "prod", "--json"]);
        assert_eq!((json.code, json.stderr.as_str()), (0, ""), "{name}");
        // The JSON is valid and carries all seven layer hashes.
        let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(value["layers"].as_object().unwrap().len(), 7, "{name}");
        check_golden(
            &root()
                .join("tests/golden/manifest")
                .join(format!("{name}.json")),
            &json.stdout,
        );
        let human = berth(&["manifest", dir, "--env", "prod"]);
        assert_eq!(human.code, 0, "{name}");
        check_golden(
            &root()
                .join("tests/golden/manifest")
                .join(format!("{name}.txt")),
            &human.stdout,
        );
    }
}

#[test]
fn every_environment_of_a_project() {
    let _serial = serial();
    let (_tmp, project) = stage(&root().join("tests/fixtures/tova/manifest/multi-env"));
    let out = berth(&[
        "manifest",
        project.to_str().unwrap(),
        "--env",
        "staging",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    check_golden(
        &root().join("tests/golden/manifest/multi-env.staging.json"),
        &out.stdout,
    );
}

#[test]
fn diagnostic_goldens_per_code() {
    let _serial = serial();
    let cases = fixtures("diagnostics");
    assert!(cases.len() >= 30);
    for case in cases {
        let name = case_name(&case);
        let (_tmp, project) = stage(&case);
        let out = berth(&["manifest", project.to_str().unwrap(), "--env", "prod"]);
        let code = &name[..5];
        assert!(
            out.stderr.contains(&format!("[{code}]")),
            "{name} does not report {code}:\n{}",
            out.stderr
        );
        let rendered = format!("{}exit: {}\n", out.stderr, out.code);
        check_golden(
            &root()
                .join("tests/golden/diagnostics")
                .join(format!("{name}.txt")),
            &rendered,
        );
    }
}

#[test]
fn unreadable_file_is_reported() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("shop");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("bad.tova"),
        b"deploy \"prod\" { domain: \"\xff\xfe\" }",
    )
    .unwrap();
    let out = berth(&["manifest", project.to_str().unwrap(), "--env", "prod"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("error[B0205]: cannot read bad.tova:"),
        "{}",
        out.stderr
    );
}

/// Same sources, files created in opposite orders, two runs each: identical bytes.
#[test]
fn output_is_deterministic() {
    let _serial = serial();
    let fixture = root().join("tests/fixtures/tova/manifest/multi-env");
    let mut files = Vec::new();
    for rel in ["deploy.tova", "server.tova", "ui/client.tova"] {
        files.push((rel, std::fs::read_to_string(fixture.join(rel)).unwrap()));
    }
    let mut outputs = Vec::new();
    for order in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("shop");
        std::fs::create_dir_all(project.join("ui")).unwrap();
        let mut list = files.clone();
        if order {
            list.reverse();
        }
        for (rel, text) in &list {
            std::fs::write(project.join(rel), text).unwrap();
        }
        for _ in 0..2 {
            for env in ["prod", "staging"] {
                let out = berth(&[
                    "manifest",
                    project.to_str().unwrap(),
                    "--env",
                    env,
                    "--json",
                ]);
                assert_eq!(out.code, 0);
                outputs.push((env, out.stdout));
            }
        }
    }
    for pair in outputs.chunks(2).skip(1) {
        assert_eq!(pair[0], outputs[0]);
        assert_eq!(pair[1], outputs[1]);
    }
    assert_ne!(outputs[0].1, outputs[1].1);
}

#[test]
fn explain_prints_long_text_and_rejects_unknown_codes() {
    let _serial = serial();
    let out = berth(&["explain", "B0111"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .starts_with("B0111: module retention below 24 hours\n\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Fix:\n    module_retention: \"24h\""));
    let lower = berth(&["explain", "b0102"]);
    assert_eq!(lower.code, 0);
    let bad = berth(&["explain", "B9999"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("unknown diagnostic code `B9999`"));
    assert!(bad.stderr.contains("B0102  unknown property"));
}

/// Every code in a golden file is explainable.
#[test]
fn every_golden_code_is_explained() {
    let _serial = serial();
    for case in fixtures("diagnostics") {
        let code = case_name(&case)[..5].to_owned();
        assert_eq!(berth(&["explain", &code]).code, 0, "{code}");
    }
}

/// 100 deploy blocks (with server/security blocks around them) compile, infer
/// and render in ≤ 100 ms through the binary. On a shared machine process start
/// alone varies by tens of milliseconds, so the budget is checked on the best of
/// 7 runs minus the best of 7 runs over a one-block project; both are printed.
#[test]
fn compiles_100_deploy_blocks_within_100ms() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("shop");
    std::fs::create_dir_all(&project).unwrap();
    let mut app = String::from(
        "server {\n  db { type: \"postgres\" }\n  ws { on_message fn(c, m) { c.send(\"{m}\") } }\n}\nsecurity {\n  auth jwt { secret: env(\"JWT_SECRET\") }\n  cors { origins: [\"https://myapp.com\"] }\n}\n",
    );
    for i in 0..100 {
        app.push_str(&format!(
            "deploy \"env-{i:03}\" {{\n  server: [\"deploy@web{i}.example.com\", \"deploy@web{i}b.example.com:2222\"]\n  domain: \"e{i}.example.com\"\n  instances: {}\n  memory: \"768mb\"\n  rolling: \"50%\"\n  module_retention: \"14d\"\n  env {{\n    LOG_LEVEL: \"warn\"\n    SHARD: {i}\n  }}\n  db {{\n    postgres {{ name: \"shop_{i}\" }}\n    redis {{ maxmemory: \"64mb\" }}\n  }}\n}}\n\n",
            i % 8 + 1
        ));
    }
    std::fs::write(project.join("app.tova"), &app).unwrap();
    let baseline_dir = tmp.path().join("one");
    std::fs::create_dir_all(&baseline_dir).unwrap();
    std::fs::write(
        baseline_dir.join("app.tova"),
        "deploy \"prod\" {\n  server: \"h\"\n  domain: \"a.com\"\n}\n",
    )
    .unwrap();
    let best_of = |dir: &Path, env: &str| {
        let mut best = Duration::MAX;
        for _ in 0..7 {
            let start = Instant::now();
            let out = berth(&["manifest", dir.to_str().unwrap(), "--env", env, "--json"]);
            best = best.min(start.elapsed());
            assert_eq!(out.code, 0, "{}", out.stderr);
            assert!(out.stdout.contains(&format!("\"env\": \"{env}\"")));
        }
        best
    };
    let baseline = best_of(&baseline_dir, "prod");
    let hundred = best_of(&project, "env-099");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "100 deploy blocks: {:.1} ms per run, 1 block: {:.1} ms (process start), difference {:.1} ms",
        ms(hundred),
        ms(baseline),
        ms(hundred.saturating_sub(baseline))
    );
    assert!(
        hundred.saturating_sub(baseline) <= Duration::from_millis(100),
        "took {hundred:?} (baseline {baseline:?})"
    );
}
