//! The infrastructure manifest of one app in one environment: everything the
//! emitter and the deploy workflow need, and nothing of the Tova AST.
//! Field order is the serialization order (stable JSON, stable hashes).

use indexmap::IndexMap;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Manifest {
    /// App name (`[a-z0-9-]`), from `app:` or the project folder.
    pub(crate) app: String,
    /// Deploy block name (`prod`, `staging`).
    pub(crate) env: String,
    /// SSH targets; more than one is a fleet.
    pub(crate) servers: Vec<SshTarget>,
    pub(crate) domain: String,
    pub(crate) tls: Tls,
    /// An app server behind Caddy, or a static export Caddy serves alone.
    pub(crate) kind: AppKind,
    pub(crate) instances: u32,
    /// Memory limit per instance in bytes.
    pub(crate) memory_bytes: u64,
    pub(crate) branch: String,
    pub(crate) health: Health,
    pub(crate) restart_on_failure: bool,
    pub(crate) keep_releases: u32,
    /// Hosts per batch for fleet rollouts.
    pub(crate) rolling: Option<Batch>,
    /// Failure budget in percent of the fleet.
    pub(crate) max_fail_percent: Option<u8>,
    pub(crate) runtime: Runtime,
    /// Build output folder (relative to the project), uploaded as the release.
    pub(crate) bundle: String,
    /// Local build command run before upload.
    pub(crate) build: Option<String>,
    /// Server entry inside the bundle, when declared.
    pub(crate) start: Option<String>,
    /// Static environment (`env { }`), values are data.
    pub(crate) env_vars: IndexMap<String, String>,
    pub(crate) databases: Databases,
    pub(crate) proxy: Proxy,
    pub(crate) secrets: Secrets,
    pub(crate) data_files: Vec<DataFile>,
    /// How long unreferenced `/c/*` module versions are kept, in seconds.
    pub(crate) module_retention_secs: u64,
}

impl Manifest {
    /// App server instances on each host: none for a static app.
    pub(crate) fn app_instances(&self) -> u32 {
        match self.kind {
            AppKind::Server => self.instances,
            AppKind::Static => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SshTarget {
    pub(crate) user: Option<String>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// What runs on the host (seed 000, "Static host or node server").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AppKind {
    /// A `server { }` block: instances of the app behind Caddy.
    Server,
    /// `browser { }` and no `server { }`: no runtime, no services.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Tls {
    Auto,
    Internal,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Health {
    pub(crate) path: String,
    pub(crate) interval_secs: u32,
    pub(crate) timeout_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Batch {
    Count(u32),
    Percent(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Runtime {
    Bun {
        url: String,
    },
    Node,
    /// A static app: nothing to run.
    None,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Databases {
    pub(crate) postgres: Option<Postgres>,
    pub(crate) redis: Option<Redis>,
    pub(crate) sqlite: Option<Sqlite>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Postgres {
    /// Database name (default `<app>_db`).
    pub(crate) name: String,
    /// Owner role (default `tova_<app>`).
    pub(crate) user: String,
    pub(crate) port: u16,
    /// The environment variable the app reads its URL from (`DATABASE_URL`).
    pub(crate) url_env: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Redis {
    /// Key prefix isolating the app (`<app>:`).
    pub(crate) prefix: String,
    pub(crate) maxmemory: Option<String>,
    /// The environment variable the app reads its URL from (`REDIS_URL`).
    pub(crate) url_env: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Sqlite {
    /// Path declared in `server { db { path } }`, placed under the app's data dir.
    pub(crate) path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Proxy {
    /// `browser { }` exists: the bundle's `public/` files served by Caddy.
    pub(crate) static_files: bool,
    /// `browser { }` exists: the bundle's document (`index.html`, `200.html`)
    /// answers navigations to client-side routes.
    pub(crate) document: bool,
    /// URL prefix of the bundle's own files, as Tova's page references them
    /// (`<[deploy] base>.tova-out/`).
    pub(crate) asset_prefix: String,
    /// Server paths (Tova route patterns: `/users/:id`, `/rpc/*`) that go to
    /// the app even when a browser navigates to them; sorted.
    pub(crate) app_paths: Vec<String>,
    pub(crate) websocket_paths: Vec<String>,
    pub(crate) sse_paths: Vec<String>,
    pub(crate) cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Secrets {
    /// Names the developer must provide (e.g. JWT_SECRET), sorted.
    pub(crate) required: Vec<String>,
    /// Names berth generates (DATABASE_URL, REDIS_URL), sorted.
    pub(crate) auto: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DataFile {
    /// The `data { source NAME = read(...) }` binding.
    pub(crate) name: String,
    /// Path relative to the project root.
    pub(crate) path: String,
}
