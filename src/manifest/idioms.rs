//! The corpus: every construct of Tova's documentation that inference
//! depends on, as a short sample of our own (the doc it comes from named in
//! each row), with what the manifest must say and which warnings berth
//! gives. Tova's files are never copied here; the samples are written the
//! way the docs write them.

use std::path::PathBuf;

use super::model::{AppKind, Manifest};
use super::project::compile_project;

struct Row {
    /// Where Tova's docs use the construct.
    doc: &'static str,
    /// Blocks before the deploy block.
    src: &'static str,
    /// Extra deploy-block lines.
    deploy: &'static str,
    toml: Option<&'static str>,
    /// Warning codes, in source order.
    warnings: &'static [&'static str],
    check: fn(&Manifest),
}

fn pg(m: &Manifest) -> (&str, &str, &str) {
    let p = m.databases.postgres.as_ref().expect("postgres provisioned");
    (p.name.as_str(), p.user.as_str(), p.url_env.as_str())
}

fn sqlite(m: &Manifest) -> Option<&str> {
    m.databases.sqlite.as_ref().map(|s| s.path.as_str())
}

fn none_provisioned(m: &Manifest) {
    assert_eq!(m.databases, Default::default());
}

const H: &str = "  route GET \"/healthz\" => fn() { \"ok\" }\n";

fn rows() -> Vec<Row> {
    vec![
        // ── Databases (docs/server/database.md and the examples) ──
        Row { doc: "server/database.md: SQLite file", src: "server {\n  db { path: \"./data.db\" }\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(sqlite(m), Some("data.db"));
        } },
        Row { doc: "examples/tasks-app.md: driver sqlite + path", src: "server {\n  db { driver: \"sqlite\", path: \"tasks.db\" }\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(sqlite(m), Some("tasks.db"));
        } },
        Row { doc: "server/database.md: postgres with a literal URL", src: "server {\n  db { driver: \"postgres\", url: \"postgres://user:pass@localhost:5432/mydb\" }\n@H}\n", deploy: "", toml: None, warnings: &["B0308"], check: |m| {
            assert_eq!(pg(m), ("shop_db", "tova_shop", "DATABASE_URL"));
        } },
        Row { doc: "server/database.md: mysql", src: "server {\n  db { driver: \"mysql\", url: env(\"DATABASE_URL\") }\n@H}\n", deploy: "", toml: None, warnings: &["B0302"], check: |m| {
            none_provisioned(m);
            assert_eq!(m.secrets.required, ["DATABASE_URL"], "an unprovisioned engine's URL is the user's");
        } },
        Row { doc: "server codegen: driver postgres, URL from DATABASE_URL", src: "server {\n  db { driver: \"postgres\" }\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(pg(m).2, "DATABASE_URL");
            assert_eq!(m.secrets.auto, ["DATABASE_URL"]);
            assert!(m.secrets.required.is_empty());
        } },
        Row { doc: "server/database.md tip: env DATABASE_URL with a sqlite default", src: "server {\n  env DATABASE_URL: String = \"sqlite:./data.db\"\n  db { url: DATABASE_URL }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(sqlite(m), Some("data.db"));
            assert!(m.secrets.required.is_empty(), "a declared default is not required: {:?}", m.secrets.required);
        } },
        Row { doc: "server/configuration.md: env declaration + driver postgres", src: "server {\n  env DATABASE_URL: String\n  db { driver: \"postgres\", url: DATABASE_URL }\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(pg(m).2, "DATABASE_URL");
            assert!(m.secrets.required.is_empty(), "berth provisions it: {:?}", m.secrets.required);
            assert_eq!(m.secrets.auto, ["DATABASE_URL"]);
        } },
        Row { doc: "examples/database.md, auth-flow.md, e-commerce.md: adapter sqlite + database", src: "server {\n  db { adapter: \"sqlite\", database: \"app.db\" }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(sqlite(m), Some("app.db"));
        } },
        Row { doc: "architecture/scaling.md: adapter postgres, env(\"DATABASE_URL\"), pool", src: "server {\n  db { adapter: \"postgres\", url: env(\"DATABASE_URL\"), pool: 20 }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(pg(m).2, "DATABASE_URL");
            assert!(m.secrets.required.is_empty(), "DATABASE_URL is the auto secret: {:?}", m.secrets.required);
        } },
        Row { doc: "examples/api-gateway.md: env declaration + adapter postgres", src: "server {\n  env DATABASE_URL: String\n  db { adapter: \"postgres\", url: DATABASE_URL, pool: 20 }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(pg(m).2, "DATABASE_URL");
            assert!(m.secrets.required.is_empty());
        } },
        Row { doc: "examples/database.md: process.env[\"DATABASE_URL\"]", src: "server {\n  db { adapter: \"postgres\", url: process.env[\"DATABASE_URL\"] }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(pg(m).2, "DATABASE_URL");
            assert!(m.secrets.required.is_empty());
        } },
        Row { doc: "mastering/cli-and-edge.md: type postgres", src: "server {\n  db { type: \"postgres\" }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(pg(m).0, "shop_db");
        } },
        Row { doc: "reference/keywords.md: a URL and no driver", src: "server {\n  db { url: \"postgres://localhost/mydb\" }\n@H}\n", deploy: "", toml: None, warnings: &["B0304", "B0308"], check: |m| {
            assert_eq!(pg(m).0, "shop_db");
        } },
        Row { doc: "server codegen: an empty db is in memory", src: "server {\n  db { }\n@H}\n", deploy: "", toml: None, warnings: &["B0307"], check: none_provisioned },
        Row { doc: "a driver Tova does not recognise", src: "server {\n  db { driver: \"postgresql\", url: env(\"DATABASE_URL\") }\n@H}\n", deploy: "", toml: None, warnings: &["B0304"], check: |m| {
            assert_eq!(pg(m).2, "DATABASE_URL");
        } },
        Row { doc: "a URL berth cannot read", src: "server {\n  db { url: env(\"DATABASE_URL\") }\n@H}\n", deploy: "", toml: None, warnings: &["B0303"], check: |m| {
            none_provisioned(m);
            assert_eq!(m.secrets.required, ["DATABASE_URL"]);
        } },
        Row { doc: "the app's own variable for the URL", src: "server {\n  db { driver: \"postgres\", url: env(\"PG_URL\") }\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(pg(m).2, "PG_URL");
            assert_eq!(m.secrets.auto, ["PG_URL"]);
            assert!(m.secrets.required.is_empty());
        } },
        Row { doc: "guide/deploy.md: databases in the deploy block", src: "server {\n  cache = env(\"REDIS_URL\")\n@H}\n", deploy: "  db {\n    postgres { name: \"myapp_prod\", port: 5433 }\n    redis { maxmemory: \"256mb\" }\n  }\n", toml: None, warnings: &[], check: |m| {
            assert_eq!(pg(m), ("myapp_prod", "tova_shop", "DATABASE_URL"));
            assert_eq!(m.databases.redis.as_ref().unwrap().url_env, "REDIS_URL");
            assert_eq!(m.secrets.auto, ["DATABASE_URL", "REDIS_URL"]);
            assert!(m.secrets.required.is_empty(), "REDIS_URL is auto: {:?}", m.secrets.required);
        } },
        // ── Health and routes (server/routes.md, guide/deploy.md) ──
        Row { doc: "guide/deploy.md: route GET /healthz", src: "server {\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.health.path, "/healthz");
            assert_eq!(m.proxy.app_paths, ["/docs", "/healthz", "/openapi.json", "/rpc/*"]);
        } },
        Row { doc: "`tova new --template api`: /api/health only", src: "server {\n  fn health() {\n    { status: \"ok\" }\n  }\n  route GET \"/api/health\" => health\n}\n", deploy: "", toml: None, warnings: &["B0305"], check: |m| {
            assert_eq!(m.health.path, "/healthz");
        } },
        Row { doc: "`tova new --template api` with health: set", src: "server {\n  route GET \"/api/health\" => health\n}\n", deploy: "  health: \"/api/health\"\n", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.health.path, "/api/health");
        } },
        Row { doc: "server/health.md: a health declaration is the default path", src: "server {\n  health \"/health\" { check_db, check_memory }\n}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.health.path, "/health");
        } },
        Row { doc: "server/routes.md: groups and params", src: "server {\n  routes \"/api\" version: \"2\" {\n    route GET \"/status/:id\" => status\n  }\n}\n", deploy: "  health: \"/api/status/1\"\n", toml: None, warnings: &[], check: |m| {
            assert!(m.proxy.app_paths.contains(&"/api/status/:id".to_owned()), "{:?}", m.proxy.app_paths);
        } },
        Row { doc: "server/routes.md: static files the app serves", src: "server {\n  static \"/assets\" => \"./public\"\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert!(m.proxy.app_paths.contains(&"/assets/*".to_owned()), "{:?}", m.proxy.app_paths);
        } },
        // ── Auth and secrets (fullstack/auth-block.md, security-block.md) ──
        Row { doc: "fullstack/auth-block.md: auth block with env secrets", src: "auth {\n  secret: env(\"AUTH_SECRET\")\n  provider google {\n    client_id: env(\"GOOGLE_CLIENT_ID\")\n  }\n}\nserver {\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.secrets.required, ["AUTH_SECRET", "GOOGLE_CLIENT_ID"]);
            assert!(m.proxy.app_paths.contains(&"/auth/*".to_owned()));
        } },
        Row { doc: "fullstack/auth-block.md minimal: no secret means AUTH_SECRET", src: "auth {\n  provider email {\n    confirm_email: true\n  }\n}\nserver {\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.secrets.required, ["AUTH_SECRET"]);
        } },
        Row { doc: "fullstack/security-block.md: auth jwt without a secret", src: "security {\n  auth jwt { expires: 3600 }\n}\nserver {\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.secrets.required, ["JWT_SECRET"]);
        } },
        Row { doc: "server/configuration.md: env reads, fallbacks and declarations", src: "server {\n  env API_KEY: String\n  env LOG_LEVEL: String = \"info\"\n  mode = env(\"MODE\", \"dev\")\n  stripe = process.env.STRIPE_KEY\n@H}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.secrets.required, ["API_KEY", "STRIPE_KEY"]);
        } },
        // ── Shapes (`tova new` templates) and tova.toml ──
        Row { doc: "`tova new --template spa|site`: browser only", src: "browser {\n  component App { <h1>\"Hi\"</h1> }\n}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.kind, AppKind::Static);
            assert_eq!(m.runtime, super::model::Runtime::None);
            assert!(m.proxy.document && m.proxy.app_paths.is_empty());
            assert_eq!(m.app_instances(), 0);
        } },
        Row { doc: "`tova new --template fullstack`: server and browser", src: "server {\n  fn get_message() { \"hi\" }\n  route GET \"/api/message\" => get_message\n@H}\nbrowser {\n  component App { <h1>\"Hi\"</h1> }\n}\n", deploy: "", toml: None, warnings: &[], check: |m| {
            assert_eq!(m.kind, AppKind::Server);
            assert!(m.proxy.document);
            assert_eq!(m.proxy.app_paths, ["/api/message", "/docs", "/healthz", "/openapi.json", "/rpc/*"]);
        } },
        Row {
            doc: "tooling/config.md: tova.toml project name, build output and deploy base",
            src: "server {\n@H}\n",
            deploy: "",
            toml: Some("[project]\nname = \"Notes\"\nentry = \"src\"\n\n[build]\noutput = \"dist\"\n\n[deploy]\nbase = \"/app\"\n\n[deploy.prod]\ntls = \"internal\"\n"),
            warnings: &[],
            check: |m| {
                assert_eq!(m.app, "notes");
                assert_eq!(m.bundle, "dist");
                assert_eq!(m.proxy.asset_prefix, "/app/.tova-out/");
                assert_eq!(m.tls, super::model::Tls::Internal);
            },
        },
    ]
}

#[test]
fn every_documented_idiom_compiles_to_its_manifest() {
    let rows = rows();
    assert!(rows.len() >= 30);
    for row in rows {
        let src = format!(
            "{}\ndeploy \"prod\" {{\n  server: \"root@203.0.113.10\"\n  domain: \"myapp.com\"\n{}}}\n",
            row.src.replace("@H", H),
            row.deploy
        );
        let toml = row.toml.map(|t| (PathBuf::from("tova.toml"), t.to_owned()));
        let mut diags = Vec::new();
        let project = compile_project(
            "shop",
            toml,
            vec![(PathBuf::from("src/app.tova"), src.clone())],
            &|_| true,
            &mut diags,
        );
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: errors:\n{}\n{src}",
            row.doc,
            errors.join("")
        );
        let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            row.warnings,
            "{}: warnings\n{}",
            row.doc,
            diags.iter().map(|d| d.to_string()).collect::<String>()
        );
        let m = project
            .unwrap_or_else(|| panic!("{}: no project", row.doc))
            .manifests
            .shift_remove("prod")
            .unwrap();
        (row.check)(&m);
    }
}
