//! The `/c/*` module store (issue 6, seed 000 "Retain /c/* module versions").
//!
//! Versioned client modules live per app in `apps/<app>/modules/`, outside
//! `releases/`, so neither a release flip nor `keep_releases` pruning touches
//! them. Both URL shapes are stored content-addressed by their URL:
//!
//! | bundle file                         | URL                          | store path                 |
//! |-------------------------------------|------------------------------|----------------------------|
//! | `public/c/__v/<digest>/<module>`    | `/c/__v/<digest>/<module>`   | `__v/<digest>/<module>`    |
//! | `public/c/<module>`                 | `/c/<module>?v=<version>`    | `__q/<version>/<module>`   |
//!
//! The query version comes from `public/c/.versions.json` (module → version,
//! written by the build) or else is the first 8 hex digits of the file's sha1.
//! Caddy rewrites `?v=` requests to the `__q` path (role proxy).
//!
//! `apps/<app>/modules.json` (outside the served root) indexes the store:
//! per URL its bytes' sha1, when it was first published, which releases on
//! the host reference it, and when it stopped being referenced by the live
//! release (`last`; absent while live). Publishing is additive; the same
//! URL with other bytes is refused before anything changes. Pruning
//! (`--prune-modules`, also run after each deploy) removes versions whose
//! `last` is older than `module_retention`, never one the live or previous
//! release references. The controller merges the indexes of every host of
//! the app, so a host added later receives the whole retained set.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::manifest::model::Manifest;

use super::layout::Layout;
use super::release::{self, Bundle};
use super::remote::Remote;
use super::target::{self, ConnectOpts};
use super::ui::Ui;

/// Where the bundle keeps its client modules.
const BUNDLE_DIR: &str = "public/c/";
/// The build's module → query-version map, inside [`BUNDLE_DIR`].
const VERSIONS_FILE: &str = ".versions.json";
/// The store's index, next to `modules/` in the app directory.
const INDEX_FILE: &str = "modules.json";
const MARK: &str = "@@berth-modules@@";

/// The clock: `BERTH_NOW` (unix seconds, read by the controller only, for
/// tests) or the system time.
pub(crate) fn now() -> u64 {
    if let Some(t) = std::env::var("BERTH_NOW").ok().and_then(|s| s.trim().parse().ok()) {
        return t;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One versioned module of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    /// The URL documents import (`/c/cart.client.js?v=8f3a1c`).
    pub(crate) url: String,
    /// Path inside `modules/`.
    pub(crate) path: String,
    /// Path inside the bundle.
    pub(crate) src: String,
    pub(crate) sha1: String,
    pub(crate) size: u64,
}

/// One retained version, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) path: String,
    pub(crate) sha1: String,
    pub(crate) size: u64,
    /// Unix seconds of the first publication.
    pub(crate) first: u64,
    /// Unix seconds since which the live release no longer references it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last: Option<u64>,
    /// Releases on this host that reference it.
    #[serde(default)]
    pub(crate) releases: Vec<String>,
}

/// `modules.json`: URL → entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Index {
    #[serde(default)]
    pub(crate) versions: BTreeMap<String, Entry>,
}

fn valid_version(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bundle's versioned modules, sorted by URL.
pub(crate) fn bundle_modules(bundle: &Bundle) -> Result<Vec<Module>, String> {
    let versions_src = format!("{BUNDLE_DIR}{VERSIONS_FILE}");
    let versions: BTreeMap<String, String> = if bundle.files.contains_key(&versions_src) {
        let path = bundle.dir.join(&versions_src);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}\n  hint: it maps module paths to versions: {{\"cart.client.js\": \"8f3a1c\"}}", path.display()))?
    } else {
        BTreeMap::new()
    };
    let mut out = Vec::new();
    for (src, sum) in &bundle.files {
        let Some(rel) = src.strip_prefix(BUNDLE_DIR) else { continue };
        if rel == VERSIONS_FILE {
            continue;
        }
        let (url, path) = if let Some(rest) = rel.strip_prefix("__v/") {
            let (digest, module) = rest.split_once('/').unwrap_or((rest, ""));
            if module.is_empty() || !valid_version(digest) {
                return Err(format!("bundle file {src}: a path-versioned module is public/c/__v/<digest>/<module> with a digest of letters, digits, `-` or `_`"));
            }
            (format!("/c/{rel}"), rel.to_owned())
        } else if rel.starts_with("__q/") {
            return Err(format!("bundle file {src}: public/c/__q/ is reserved for the module store; put the module at public/c/<module> (served as /c/<module>?v=<version>)"));
        } else {
            let version = versions.get(rel).cloned().unwrap_or_else(|| sum.sha1[..8].to_owned());
            if !valid_version(&version) {
                return Err(format!("{BUNDLE_DIR}{VERSIONS_FILE}: version {version:?} of {rel} must be letters, digits, `-` or `_`"));
            }
            (format!("/c/{rel}?v={version}"), format!("__q/{version}/{rel}"))
        };
        out.push(Module { url, path, src: src.clone(), sha1: sum.sha1.clone(), size: sum.size });
    }
    for name in versions.keys() {
        if !bundle.files.contains_key(&format!("{BUNDLE_DIR}{name}")) {
            return Err(format!("{BUNDLE_DIR}{VERSIONS_FILE} names {name}, which is not in the bundle; rebuild the app"));
        }
    }
    out.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(out)
}

/// Whether a file at the bundle root is content-hashed, as Tova's build
/// names its client bundle (`client.5a0c1f04141d.js`, and the `.min.js`
/// twin): a dot-separated part of 8–64 lowercase hex digits (one a digit)
/// between the name and the extension. Server code (`server.*`,
/// `script.*`) never counts: it is not public.
pub(crate) fn is_hashed_asset(name: &str) -> bool {
    if name.contains('/') || name.starts_with('.') || name.starts_with("server.") || name.starts_with("script.") {
        return false;
    }
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|p| {
            (8..=64).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && p.bytes().any(|b| b.is_ascii_digit())
        })
}

/// The bundle's content-hashed files, served at `<asset_prefix><name>`
/// (Tova's `<base>.tova-out/client.<hash>.js`) and kept in the store under
/// `__a/<name>` by the same rules as `/c/*` modules, sorted by URL.
pub(crate) fn bundle_assets(bundle: &Bundle, asset_prefix: &str) -> Vec<Module> {
    let mut out: Vec<Module> = bundle
        .files
        .iter()
        .filter(|(src, _)| is_hashed_asset(src))
        .map(|(src, sum)| Module { url: format!("{asset_prefix}{src}"), path: format!("__a/{src}"), src: src.clone(), sha1: sum.sha1.clone(), size: sum.size })
        .collect();
    out.sort_by(|a, b| a.url.cmp(&b.url));
    out
}

/// What one host has: its index and the files present in `modules/`.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostStore {
    pub(crate) index: Index,
    pub(crate) files: BTreeSet<String>,
}

/// Merges the hosts' indexes: one entry per URL (releases cleared; earliest
/// `first`; `last` absent when live anywhere, else the latest). The same
/// URL with other bytes on two hosts is an error.
pub(crate) fn merge<'a>(hosts: impl IntoIterator<Item = (&'a str, &'a Index)>) -> Result<BTreeMap<String, (Entry, String)>, String> {
    let mut merged: BTreeMap<String, (Entry, String)> = BTreeMap::new();
    for (host, index) in hosts {
        for (url, e) in &index.versions {
            match merged.get_mut(url) {
                None => {
                    let mut e = e.clone();
                    e.releases.clear();
                    merged.insert(url.clone(), (e, host.to_owned()));
                }
                Some((m, first_host)) => {
                    if m.sha1 != e.sha1 {
                        return Err(format!(
                            "module {url} has different bytes on {first_host} (sha1 {}) and {host} (sha1 {}): a published module URL is immutable\n  hint: remove the wrong copy from apps/<app>/modules/ on one host (and its entry in modules.json), then deploy again; nothing was changed",
                            short(&m.sha1),
                            short(&e.sha1)
                        ));
                    }
                    m.first = m.first.min(e.first);
                    m.last = match (m.last, e.last) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
            }
        }
    }
    Ok(merged)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Refuses a bundle module whose URL is retained with other bytes.
pub(crate) fn check_immutable(modules: &[Module], retained: &BTreeMap<String, (Entry, String)>) -> Result<(), String> {
    let bad: Vec<String> = modules
        .iter()
        .filter_map(|m| {
            let (e, host) = retained.get(&m.url)?;
            (e.sha1 != m.sha1).then(|| format!("    {} — the bundle's {} (sha1 {}) differs from the copy published on {host} (sha1 {})", m.url, m.src, short(&m.sha1), short(&e.sha1)))
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} module URL{} would change bytes; published module URLs are immutable (open pages still import them):\n{}\n  hint: give changed modules a new version (a new digest in public/c/__v/, a new entry in public/c/.versions.json, or drop the entry to version by content); nothing was changed",
        bad.len(),
        if bad.len() == 1 { "" } else { "s" },
        bad.join("\n")
    ))
}

/// Everything a deploy publishes, decided before any host changes.
pub(crate) struct Prepared {
    modules: Vec<Module>,
    retained: BTreeMap<String, (Entry, String)>,
    hosts: BTreeMap<String, HostStore>,
    /// Bytes of retained versions some host lacks and the bundle does not
    /// have, fetched from a host that has them (store path → bytes).
    fetched: BTreeMap<String, Vec<u8>>,
    bundle_dir: std::path::PathBuf,
}

impl Prepared {
    /// Reads every host's store, merges them and checks the bundle against
    /// them; fetches what a host lacks. Changes nothing.
    pub(crate) fn prepare(bundle: &Bundle, asset_prefix: &str, hosts: Vec<(&str, &mut Remote)>, layout: &Layout, app: &str) -> Result<Prepared, String> {
        let mut modules = bundle_modules(bundle)?;
        modules.extend(bundle_assets(bundle, asset_prefix));
        modules.sort_by(|a, b| a.url.cmp(&b.url));
        let mut remotes: BTreeMap<String, &mut Remote> = BTreeMap::new();
        let mut stores: BTreeMap<String, HostStore> = BTreeMap::new();
        let read: Vec<(String, &mut Remote, Result<HostStore, String>)> = std::thread::scope(|s| {
            let hs: Vec<_> = hosts
                .into_iter()
                .map(|(label, remote)| {
                    s.spawn(move || {
                        let r = read_store(remote, layout, app);
                        (label.to_owned(), remote, r)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("module store reader")).collect()
        });
        for (label, remote, r) in read {
            stores.insert(label.clone(), r?);
            remotes.insert(label, remote);
        }
        let retained = merge(stores.iter().map(|(h, s)| (h.as_str(), &s.index)))?;
        check_immutable(&modules, &retained)?;
        let in_bundle: BTreeSet<&str> = modules.iter().map(|m| m.path.as_str()).collect();
        // Which retained files each source host must send.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (entry, _) in retained.values() {
            if in_bundle.contains(entry.path.as_str()) {
                continue;
            }
            if stores.values().all(|s| s.files.contains(&entry.path)) {
                continue;
            }
            if let Some((src, _)) = stores.iter().find(|(_, s)| s.files.contains(&entry.path)) {
                wanted.entry(src.clone()).or_default().insert(entry.path.clone());
            }
        }
        let mut fetched = BTreeMap::new();
        for (src, paths) in wanted {
            let remote = remotes.get_mut(&src).expect("source host");
            for (path, bytes) in fetch(remote, layout, app, &paths)? {
                fetched.insert(path, bytes);
            }
        }
        for (entry, host) in retained.values() {
            if let Some(bytes) = fetched.get(&entry.path) {
                let sum = sha1_hex(bytes);
                if sum != entry.sha1 {
                    return Err(format!("{host}: the retained module {} has sha1 {} on disk but {} in modules.json; the store was changed by hand — restore the file or remove its entry, then deploy again; nothing was changed", entry.path, short(&sum), short(&entry.sha1)));
                }
            }
        }
        Ok(Prepared { modules, retained, hosts: stores, fetched, bundle_dir: bundle.dir.clone() })
    }

    /// The new index of `host` after publishing `version`, and the files it
    /// must receive (store path, sha1, bundle source or fetched bytes).
    fn plan_host(&self, host: &str, version: &str, now: u64) -> (Index, Vec<(String, String, Source<'_>)>) {
        let have = self.hosts.get(host).cloned().unwrap_or_default();
        let mut index = have.index.clone();
        let mut send = Vec::new();
        for m in &self.modules {
            let e = index.versions.entry(m.url.clone()).or_insert_with(|| {
                let mut e = self.retained.get(&m.url).map(|(e, _)| e.clone()).unwrap_or(Entry {
                    path: m.path.clone(),
                    sha1: m.sha1.clone(),
                    size: m.size,
                    first: now,
                    last: None,
                    releases: Vec::new(),
                });
                e.last = None;
                e
            });
            if !e.releases.iter().any(|r| r == version) {
                e.releases.push(version.to_owned());
            }
            if !have.files.contains(&m.path) {
                send.push((m.path.clone(), m.sha1.clone(), Source::Bundle(&m.src)));
            }
        }
        for (url, (e, _)) in &self.retained {
            let sending = send.iter().any(|(p, _, _)| p == &e.path);
            let fetched = (!have.files.contains(&e.path) && !sending).then(|| self.fetched.get(&e.path)).flatten();
            if let Some(bytes) = fetched {
                send.push((e.path.clone(), e.sha1.clone(), Source::Bytes(bytes)));
            }
            // Only what the host will actually hold is indexed there.
            if !index.versions.contains_key(url) && (have.files.contains(&e.path) || sending || fetched.is_some()) {
                index.versions.insert(url.clone(), e.clone());
            }
        }
        (index, send)
    }
}

enum Source<'a> {
    Bundle(&'a str),
    Bytes(&'a [u8]),
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a host's index and the files of its store.
pub(crate) fn read_store(remote: &mut Remote, layout: &Layout, app: &str) -> Result<HostStore, String> {
    let script = format!(
        "{}echo '{MARK} index'\n[ -f \"$app/{INDEX_FILE}\" ] && cat \"$app/{INDEX_FILE}\"\necho\necho '{MARK} files'\nif [ -d \"$app/modules\" ]; then cd \"$app/modules\" && find . -type f ! -path './.incoming.*' | sed 's|^\\./||'; fi\n",
        layout.prologue(app)
    );
    let out = remote.run("reading the module store", &script, None)?;
    parse_store(&out).map_err(|e| format!("{}: {e}", remote.name))
}

fn parse_store(out: &str) -> Result<HostStore, String> {
    let mut index = String::new();
    let mut files = BTreeSet::new();
    let mut section = "";
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            section = if rest.trim() == "index" { "index" } else { "files" };
            continue;
        }
        match section {
            "index" => {
                index.push_str(line);
                index.push('\n');
            }
            "files" if !line.is_empty() => {
                files.insert(line.to_owned());
            }
            _ => {}
        }
    }
    let index: Index = if index.trim().is_empty() {
        Index::default()
    } else {
        serde_json::from_str(&index).map_err(|e| format!("{INDEX_FILE} of the module store is unreadable ({e}); restore it from another host of the app"))?
    };
    for (url, e) in &index.versions {
        let safe = (e.path.starts_with("__v/") || e.path.starts_with("__q/") || e.path.starts_with("__a/"))
            && !e.path.split('/').any(|c| c.is_empty() || c == "." || c == "..")
            && !e.path.contains('\n')
            && e.sha1.len() == 40
            && e.sha1.bytes().all(|b| b.is_ascii_hexdigit());
        if !safe {
            return Err(format!("{INDEX_FILE} of the module store has an invalid entry for {url} (path {:?}); restore it from another host of the app", e.path));
        }
    }
    Ok(HostStore { index, files })
}

/// Fetches files of a host's store in one tar stream.
fn fetch(remote: &mut Remote, layout: &Layout, app: &str, paths: &BTreeSet<String>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut list = Vec::new();
    for p in paths {
        list.extend_from_slice(p.as_bytes());
        list.push(0);
    }
    let script = format!("{}cd \"$app/modules\"\ntar -cf - --null -T -\n", layout.prologue(app));
    let out = remote.exec(&script, Some(&list))?;
    if !out.success() {
        return Err(format!("{}: fetching retained modules failed (exit {}): {}", remote.name, out.rc, out.stderr_str().trim()));
    }
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut files = Vec::new();
    for entry in archive.entries().map_err(|e| format!("{}: retained modules: {e}", remote.name))? {
        let mut entry = entry.map_err(|e| format!("{}: retained modules: {e}", remote.name))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        files.push((path, bytes));
    }
    Ok(files)
}

/// What publishing did on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Published {
    /// Files written into the store.
    pub(crate) sent: usize,
    /// Versions the host retains afterwards.
    pub(crate) retained: usize,
}

/// Publishes the bundle's modules (and any retained version the host
/// lacks) into the host's store, additively, and records that `version`
/// references them. Run before `current` flips. An existing file with other
/// bytes fails the whole step before anything is linked.
pub(crate) fn publish(remote: &mut Remote, layout: &Layout, app: &str, host: &str, prepared: &Prepared, version: &str) -> Result<Published, String> {
    let (index, send) = prepared.plan_host(host, version, now());
    let mut tar = tar::Builder::new(Vec::new());
    let mut sums = String::new();
    let add = |tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8]| -> Result<(), String> {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes).map_err(|e| format!("packing {path}: {e}"))
    };
    for (path, sha1, src) in &send {
        let bytes = match src {
            Source::Bundle(rel) => {
                let p = prepared.bundle_dir.join(rel);
                std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?
            }
            Source::Bytes(b) => b.to_vec(),
        };
        add(&mut tar, &format!("f/{path}"), &bytes)?;
        sums.push_str(&format!("{sha1}  {path}\n"));
    }
    let index_json = serde_json::to_string_pretty(&index).expect("index serializes") + "\n";
    add(&mut tar, "sums", sums.as_bytes())?;
    add(&mut tar, "index.json", index_json.as_bytes())?;
    let data = tar.into_inner().map_err(|e| e.to_string())?;
    let script = format!(
        r#"{prologue}umask 022
mkdir -p "$app/modules"
tmp=$(mktemp -d "$app/modules/.incoming.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xf - -C "$tmp"
if [ -s "$tmp/sums" ]; then (cd "$tmp/f" && sha1sum -c --quiet ../sums); fi
bad=0
while read -r sum path; do
  dst="$app/modules/$path"
  if [ -e "$dst" ]; then
    have=$(sha1sum < "$dst")
    if [ "${{have%% *}}" != "$sum" ]; then echo "/c/ store: $path exists with other bytes (sha1 ${{have%% *}}, new $sum)" >&2; bad=1; fi
  fi
done < "$tmp/sums"
[ "$bad" = 0 ] || exit 3
while read -r sum path; do
  dst="$app/modules/$path"
  [ -e "$dst" ] && continue
  mkdir -p "${{dst%/*}}"
  mv "$tmp/f/$path" "$dst.tmp.$$"
  mv -n "$dst.tmp.$$" "$dst"
  rm -f "$dst.tmp.$$"
done < "$tmp/sums"
chmod 755 "$app/modules"
mv "$tmp/index.json" "$app/{INDEX_FILE}.tmp"
mv "$app/{INDEX_FILE}.tmp" "$app/{INDEX_FILE}"
"#,
        prologue = layout.prologue(app)
    );
    remote.run("publishing /c/* modules", &script, Some(&data))?;
    Ok(Published { sent: send.len(), retained: index.versions.len() })
}

/// One host's view for pruning: its store and which of its releases exist,
/// are live (`current`) and previous.
pub(crate) struct PruneHost {
    pub(crate) store: HostStore,
    pub(crate) releases: Vec<String>,
    pub(crate) current: Option<String>,
    pub(crate) previous: Option<String>,
}

impl PruneHost {
    /// URLs this host's live release references, and those its live or
    /// previous release references.
    fn referenced(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut live = BTreeSet::new();
        let mut protected = BTreeSet::new();
        for (url, e) in &self.store.index.versions {
            let refs = |v: &Option<String>| v.as_ref().is_some_and(|v| e.releases.contains(v));
            if refs(&self.current) {
                live.insert(url.clone());
            }
            if refs(&self.current) || refs(&self.previous) {
                protected.insert(url.clone());
            }
        }
        (live, protected)
    }
}

/// The pruning decision for a fleet: a version is live when the live
/// release of any host references it, protected when the live or previous
/// release of any host does (so every host keeps resolving what any host
/// serves). Returns per host the new index and the pruned (URL, entry).
pub(crate) fn plan_prune(hosts: &[PruneHost], now: u64, retention_secs: u64) -> Vec<(Index, Vec<(String, Entry)>)> {
    let mut live = BTreeSet::new();
    let mut protected = BTreeSet::new();
    for h in hosts {
        let (l, p) = h.referenced();
        live.extend(l);
        protected.extend(p);
    }
    hosts
        .iter()
        .map(|h| {
            let mut kept = Index::default();
            let mut pruned = Vec::new();
            for (url, e) in &h.store.index.versions {
                let mut e = e.clone();
                e.releases.retain(|r| h.releases.contains(r));
                if live.contains(url) {
                    e.last = None;
                } else if e.last.is_none() {
                    e.last = Some(now);
                }
                let expired = e.last.is_some_and(|t| now.saturating_sub(t) > retention_secs);
                if expired && !protected.contains(url) {
                    pruned.push((url.clone(), e));
                } else {
                    kept.versions.insert(url.clone(), e);
                }
            }
            (kept, pruned)
        })
        .collect()
}

/// Reads what pruning needs from one host.
pub(crate) fn read_prune_host(remote: &mut Remote, layout: &Layout, app: &str) -> Result<PruneHost, String> {
    let state = release::read_state(remote, layout, app)?;
    let store = read_store(remote, layout, app)?;
    Ok(PruneHost { store, releases: state.releases.iter().map(|(n, _)| format!("v{n}")).collect(), current: state.current, previous: state.previous })
}

/// Writes a host's pruned index, then removes the pruned files (a crash
/// leaves unindexed files, never indexed files that are gone).
fn apply_prune(remote: &mut Remote, layout: &Layout, app: &str, index: &Index, pruned: &[(String, Entry)]) -> Result<(), String> {
    let mut input = serde_json::to_string_pretty(index).expect("index serializes");
    input.push('\n');
    input.push_str(MARK);
    input.push('\n');
    for (_, e) in pruned {
        input.push_str(&e.path);
        input.push('\n');
    }
    let script = format!(
        r#"{prologue}tmp="$app/{INDEX_FILE}.tmp"
: > "$tmp"
gone=0
while IFS= read -r line; do
  if [ "$gone" = 0 ]; then
    if [ "$line" = '{MARK}' ]; then gone=1; mv "$tmp" "$app/{INDEX_FILE}"; continue; fi
    printf '%s\n' "$line" >> "$tmp"
  else
    [ -n "$line" ] && rm -f -- "$app/modules/$line"
  fi
done
[ "$gone" = 1 ] || {{ echo "truncated input" >&2; exit 1; }}
[ -d "$app/modules" ] && find "$app/modules" -mindepth 1 -type d -empty -delete
exit 0
"#,
        prologue = layout.prologue(app)
    );
    remote.run("pruning /c/* modules", &script, Some(input.as_bytes())).map(|_| ())
}

/// Prunes the store of every given host together. Returns per host (in
/// order) the pruned URLs.
pub(crate) fn prune(remotes: &mut [(&str, &mut Remote)], layout: &Layout, app: &str, retention_secs: u64) -> Result<Vec<Vec<String>>, String> {
    let mut hosts = Vec::new();
    for (_, r) in remotes.iter_mut() {
        hosts.push(read_prune_host(r, layout, app)?);
    }
    let plans = plan_prune(&hosts, now(), retention_secs);
    let mut out = Vec::new();
    for (((_, r), h), (index, pruned)) in remotes.iter_mut().zip(&hosts).zip(plans) {
        if index != h.store.index {
            apply_prune(r, layout, app, &index, &pruned)?;
        }
        out.push(pruned.into_iter().map(|(u, _)| u).collect());
    }
    Ok(out)
}

/// Pruning over every host of the app (`--prune-modules`, and after each
/// deploy). Every host must be reachable: a host that cannot be read could
/// be serving a version the others would prune. Returns (host, pruned URLs).
pub(crate) fn prune_fleet(m: &Manifest, c: &ConnectOpts) -> Result<Vec<(String, Vec<String>)>, String> {
    let targets = target::targets(m, c);
    let mut conns = Vec::new();
    for t in &targets {
        let r = target::connect(t, c).map_err(|e| format!("{e}\n  hint: /c/* modules are pruned only when every host of the app can be read; nothing was pruned"))?;
        conns.push((t.label.clone(), r));
    }
    let mut remotes: Vec<(&str, &mut Remote)> = conns.iter_mut().map(|(l, r)| (l.as_str(), r)).collect();
    let pruned = prune(&mut remotes, &c.layout, &m.app, m.module_retention_secs)?;
    Ok(targets.into_iter().map(|t| t.label).zip(pruned).collect())
}

/// `--status`: retained versions, their age span and the store size.
pub(crate) fn status(remote: &mut Remote, layout: &Layout, app: &str) -> Result<(String, Value), String> {
    let store = read_store(remote, layout, app)?;
    let out = remote.run("measuring the module store", &format!("{}[ -d \"$app/modules\" ] && du -sb \"$app/modules\" | cut -f1 || echo 0\n", layout.prologue(app)), None)?;
    let bytes: u64 = out.trim().parse().unwrap_or(0);
    let now = now();
    let n = store.index.versions.len();
    let unreferenced = store.index.versions.values().filter(|e| e.last.is_some()).count();
    let ages: Vec<u64> = store.index.versions.values().map(|e| now.saturating_sub(e.first)).collect();
    let (young, old) = (ages.iter().min().copied().unwrap_or(0), ages.iter().max().copied().unwrap_or(0));
    let line = if n == 0 {
        format!("  Modules:      none retained (store {})", super::workflow::human_size(bytes))
    } else {
        format!(
            "  Modules:      {n} version{} retained ({unreferenced} no longer live), published {} – {} ago, store {}",
            if n == 1 { "" } else { "s" },
            super::services::human_duration(young),
            super::services::human_duration(old),
            super::workflow::human_size(bytes)
        )
    };
    Ok((line, json!({"versions": n, "unreferenced": unreferenced, "youngest_secs": young, "oldest_secs": old, "bytes": bytes})))
}

/// The pruning step after a deploy: one line for the deploy's output. A
/// failure is reported, never fatal (the deploy itself succeeded).
pub(crate) fn after_deploy(m: &Manifest, c: &ConnectOpts) -> String {
    match prune_fleet(m, c) {
        Ok(hosts) => {
            let n: usize = hosts.iter().map(|(_, p)| p.len()).sum();
            if n == 0 {
                "  /c/* modules: nothing past module_retention".to_string()
            } else {
                format!("  /c/* modules: pruned {n} version file{} past module_retention across {} host{}", if n == 1 { "" } else { "s" }, hosts.len(), if hosts.len() == 1 { "" } else { "s" })
            }
        }
        Err(e) => format!("  /c/* modules: not pruned ({}); run `berth deploy {} --prune-modules` later", e.lines().next().unwrap_or(""), m.env),
    }
}

/// `berth deploy ENV --prune-modules`.
pub(crate) fn prune_command(m: &Manifest, c: &ConnectOpts, ui: Arc<Ui>) -> i32 {
    match prune_fleet(m, c) {
        Ok(hosts) => {
            for (host, pruned) in &hosts {
                let text = if pruned.is_empty() { "no /c/* module version past module_retention".to_string() } else { format!("pruned {}: {}", pruned.len(), pruned.join(", ")) };
                ui.step(&format!("[{host}]"), &text, true);
            }
            if ui.json() {
                let hosts: Vec<Value> = hosts.iter().map(|(h, p)| json!({"host": h, "pruned": p})).collect();
                println!("{}", json!({"ok": true, "app": m.app, "env": m.env, "hosts": hosts}));
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            if ui.json() {
                println!("{}", json!({"ok": false, "error": e}));
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::layout::Layout;

    fn write(dir: &std::path::Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn entry(path: &str, sha1: &str, first: u64, last: Option<u64>, releases: &[&str]) -> Entry {
        Entry { path: path.into(), sha1: sha1.into(), size: 1, first, last, releases: releases.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn both_url_shapes_from_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "server.js", "x");
        write(dir.path(), "public/c/cart.client.js", "cart");
        write(dir.path(), "public/c/nav/menu.client.js", "menu");
        write(dir.path(), "public/c/__v/ab12/search.client.js", "search");
        write(dir.path(), "public/c/.versions.json", r#"{"cart.client.js": "8f3a1c"}"#);
        let b = Bundle::scan(dir.path()).unwrap();
        let m = bundle_modules(&b).unwrap();
        let urls: Vec<(&str, &str)> = m.iter().map(|m| (m.url.as_str(), m.path.as_str())).collect();
        let menu_v = &sha1_hex(b"menu")[..8];
        assert_eq!(
            urls,
            vec![
                ("/c/__v/ab12/search.client.js", "__v/ab12/search.client.js"),
                ("/c/cart.client.js?v=8f3a1c", "__q/8f3a1c/cart.client.js"),
                (format!("/c/nav/menu.client.js?v={menu_v}").as_str(), format!("__q/{menu_v}/nav/menu.client.js").as_str()),
            ]
        );
        write(dir.path(), "public/c/__q/x/a.js", "no");
        assert!(bundle_modules(&Bundle::scan(dir.path()).unwrap()).unwrap_err().contains("reserved"));
        std::fs::remove_dir_all(dir.path().join("public/c/__q")).unwrap();
        write(dir.path(), "public/c/.versions.json", r#"{"cart.client.js": "../x"}"#);
        assert!(bundle_modules(&Bundle::scan(dir.path()).unwrap()).is_err());
        write(dir.path(), "public/c/.versions.json", r#"{"gone.js": "1"}"#);
        assert!(bundle_modules(&Bundle::scan(dir.path()).unwrap()).unwrap_err().contains("gone.js"));
    }

    #[test]
    fn store_listing_and_unsafe_index_entries() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let good = format!("{MARK} index\n{{\"versions\": {{\"/c/a.js?v=1\": {{\"path\": \"__q/1/a.js\", \"sha1\": \"{sha}\", \"size\": 3, \"first\": 5}}}}}}\n{MARK} files\n__q/1/a.js\n__v/d/b c.js\n");
        let st = parse_store(&good).unwrap();
        assert_eq!(st.index.versions["/c/a.js?v=1"].first, 5);
        assert_eq!(st.files.iter().map(String::as_str).collect::<Vec<_>>(), vec!["__q/1/a.js", "__v/d/b c.js"]);
        for path in ["../../etc/passwd", "__q/../x", "/etc/x", "__q//a.js", "other/a.js"] {
            let bad = good.replacen("\"path\": \"__q/1/a.js\"", &format!("\"path\": \"{path}\""), 1);
            assert!(parse_store(&bad).unwrap_err().contains("invalid entry"), "{path}");
        }
        assert!(parse_store(&format!("{MARK} index\nnot json\n{MARK} files\n")).unwrap_err().contains("unreadable"));
    }

    #[test]
    fn merge_and_immutability() {
        let mut a = Index::default();
        a.versions.insert("/c/a.js?v=1".into(), entry("__q/1/a.js", "aaa", 100, Some(500), &["v1"]));
        a.versions.insert("/c/b.js?v=1".into(), entry("__q/1/b.js", "bbb", 200, None, &["v2"]));
        let mut b = Index::default();
        b.versions.insert("/c/a.js?v=1".into(), entry("__q/1/a.js", "aaa", 50, Some(700), &["v4"]));
        b.versions.insert("/c/b.js?v=1".into(), entry("__q/1/b.js", "bbb", 200, Some(900), &["v3"]));
        let merged = merge([("h1", &a), ("h2", &b)]).unwrap();
        assert_eq!(merged["/c/a.js?v=1"].0, entry("__q/1/a.js", "aaa", 50, Some(700), &[]));
        assert_eq!(merged["/c/b.js?v=1"].0.last, None);
        b.versions.get_mut("/c/b.js?v=1").unwrap().sha1 = "ccc".into();
        assert!(merge([("h1", &a), ("h2", &b)]).unwrap_err().contains("different bytes on h1"));

        let same = Module { url: "/c/a.js?v=1".into(), path: "__q/1/a.js".into(), src: "public/c/a.js".into(), sha1: "aaa".into(), size: 1 };
        let fresh = Module { url: "/c/z.js?v=1".into(), path: "__q/1/z.js".into(), src: "public/c/z.js".into(), sha1: "zzz".into(), size: 1 };
        let merged = merge([("h1", &a)]).unwrap();
        check_immutable(&[same.clone(), fresh], &merged).unwrap();
        let changed = Module { sha1: "fff".into(), ..same };
        let err = check_immutable(&[changed], &merged).unwrap_err();
        assert!(err.contains("/c/a.js?v=1") && err.contains("h1") && err.contains("nothing was changed"), "{err}");
    }

    fn host(entries: &[(&str, Entry)], releases: &[&str], current: &str, previous: Option<&str>) -> PruneHost {
        let mut index = Index::default();
        for (u, e) in entries {
            index.versions.insert(u.to_string(), e.clone());
        }
        PruneHost {
            store: HostStore { index, files: BTreeSet::new() },
            releases: releases.iter().map(|s| s.to_string()).collect(),
            current: Some(current.into()),
            previous: previous.map(str::to_owned),
        }
    }

    #[test]
    fn prune_by_document_lifetime_never_live_or_previous() {
        const DAY: u64 = 86_400;
        let now = 100 * DAY;
        let h = host(
            &[
                // v1 only, unreferenced since 10 days: past a 7 day window.
                ("old", entry("p/old", "1", 0, Some(now - 10 * DAY), &["v1"])),
                // Unreferenced for 2 days: inside the window.
                ("recent", entry("p/recent", "2", 0, Some(now - 2 * DAY), &["v2"])),
                // Published long ago but still live: never pruned, however old.
                ("live", entry("p/live", "3", 0, None, &["v1", "v2", "v3"])),
                // Old, but the previous release references it.
                ("prev", entry("p/prev", "4", 0, Some(now - 30 * DAY), &["v2"])),
                // Just stopped being referenced (the deploy before this prune): its clock starts now.
                ("dropped", entry("p/dropped", "5", 0, None, &["v1"])),
            ],
            &["v1", "v2", "v3"],
            "v3",
            Some("v2"),
        );
        let out = plan_prune(&[h], now, 7 * DAY);
        let (kept, pruned) = &out[0];
        assert_eq!(pruned.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), vec!["old"]);
        assert_eq!(kept.versions["dropped"].last, Some(now));
        assert_eq!(kept.versions["live"].last, None);
        assert!(kept.versions.contains_key("prev") && kept.versions.contains_key("recent"));
        // v4 goes live, v2 (neither live nor previous now) was pruned by keep_releases: its versions age out.
        let mut h = host(&[], &["v3", "v4"], "v4", Some("v3"));
        h.store.index = kept.clone();
        let out = plan_prune(&[h], now + 8 * DAY, 7 * DAY);
        let (kept2, pruned2) = &out[0];
        let names: Vec<&str> = pruned2.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(names, vec!["dropped", "prev", "recent"]);
        // "live" is referenced by v3 (previous): kept, but its clock started.
        assert_eq!(kept2.versions["live"].last, Some(now + 8 * DAY));
        assert_eq!(kept2.versions["live"].releases, vec!["v3"]);
    }

    #[test]
    fn prune_protects_what_any_host_serves() {
        const DAY: u64 = 86_400;
        let now = 100 * DAY;
        // h1 has v2 as previous; h2 joined later (its only release is v1, the same bundle as h1's v3)
        // and holds v2's module only as a retained copy. h1's previous protects it on h2 too.
        let m2 = entry("p/m2", "2", 0, Some(now - 9 * DAY), &["v2"]);
        let m3 = entry("p/m3", "3", 0, None, &["v3"]);
        let h1 = host(&[("m2", m2.clone()), ("m3", m3.clone())], &["v2", "v3"], "v3", Some("v2"));
        let h2 = host(&[("m2", Entry { releases: vec![], ..m2 }), ("m3", Entry { releases: vec!["v1".into()], ..m3 })], &["v1"], "v1", None);
        let out = plan_prune(&[h1, h2], now, 7 * DAY);
        assert!(out.iter().all(|(_, p)| p.is_empty()), "{out:?}");
        assert_eq!(out[1].0.versions["m3"].last, None, "live on h2 through its own v1");
    }

    /// Publish, conflict and prune against a real store on this machine.
    #[test]
    fn publish_is_additive_and_conflicts_change_nothing() {
        let root = tempfile::tempdir().unwrap();
        let l = Layout::new(root.path().to_str().unwrap());
        let app = "shop";
        std::fs::create_dir_all(root.path().join("apps/shop")).unwrap();
        let mut r = Remote::local("local");
        let b1 = tempfile::tempdir().unwrap();
        write(b1.path(), "server.js", "1");
        write(b1.path(), "public/c/cart.client.js", "cart v1");
        write(b1.path(), "public/c/__v/d1/nav.client.js", "nav v1");
        let bundle = Bundle::scan(b1.path()).unwrap();
        let p = Prepared::prepare(&bundle, "/.tova-out/", vec![("h", &mut r)], &l, app).unwrap();
        assert_eq!(p.modules.len(), 2);
        let out = publish(&mut r, &l, app, "h", &p, "v1").unwrap();
        assert_eq!(out, Published { sent: 2, retained: 2 });
        let cart_v = &sha1_hex(b"cart v1")[..8];
        let cart = root.path().join(format!("apps/shop/modules/__q/{cart_v}/cart.client.js"));
        assert_eq!(std::fs::read_to_string(&cart).unwrap(), "cart v1");
        assert_eq!(std::fs::read_to_string(root.path().join("apps/shop/modules/__v/d1/nav.client.js")).unwrap(), "nav v1");

        // v2 changes cart (new query version) and keeps nav: additive.
        write(b1.path(), "public/c/cart.client.js", "cart v2");
        let bundle = Bundle::scan(b1.path()).unwrap();
        let p = Prepared::prepare(&bundle, "/.tova-out/", vec![("h", &mut r)], &l, app).unwrap();
        let out = publish(&mut r, &l, app, "h", &p, "v2").unwrap();
        assert_eq!(out, Published { sent: 1, retained: 3 });
        assert!(cart.exists());
        let idx = read_store(&mut r, &l, app).unwrap().index;
        assert_eq!(idx.versions["/c/__v/d1/nav.client.js"].releases, vec!["v1", "v2"]);

        // Same URL, other bytes: refused before anything changes.
        let before = std::fs::read(root.path().join("apps/shop/modules.json")).unwrap();
        write(b1.path(), "public/c/__v/d1/nav.client.js", "nav REWRITTEN");
        let bundle = Bundle::scan(b1.path()).unwrap();
        let err = Prepared::prepare(&bundle, "/.tova-out/", vec![("h", &mut r)], &l, app).err().unwrap();
        assert!(err.contains("/c/__v/d1/nav.client.js") && err.contains("immutable"), "{err}");
        assert_eq!(std::fs::read(root.path().join("apps/shop/modules.json")).unwrap(), before);
        assert_eq!(std::fs::read_to_string(root.path().join("apps/shop/modules/__v/d1/nav.client.js")).unwrap(), "nav v1");

        // A second, empty host receives the whole retained set from the first.
        let root2 = tempfile::tempdir().unwrap();
        let l2 = Layout::new(root2.path().to_str().unwrap());
        std::fs::create_dir_all(root2.path().join("apps/shop")).unwrap();
        write(b1.path(), "public/c/__v/d1/nav.client.js", "nav v1");
        let bundle = Bundle::scan(b1.path()).unwrap();
        let mut r2 = Remote::local("local2");
        // Both "hosts" are this machine: prepare reads each through its own layout.
        let s1 = read_store(&mut r, &l, app).unwrap();
        let s2 = read_store(&mut r2, &l2, app).unwrap();
        assert!(s2.files.is_empty());
        let fetched = fetch(&mut r, &l, app, &s1.files).unwrap();
        assert_eq!(fetched.len(), 3);
        let retained = merge([("h1", &s1.index), ("h2", &s2.index)]).unwrap();
        let modules = bundle_modules(&bundle).unwrap();
        let p = Prepared { modules, retained, hosts: BTreeMap::from([("h1".into(), s1), ("h2".into(), s2)]), fetched: fetched.into_iter().collect(), bundle_dir: bundle.dir.clone() };
        let out = publish(&mut r2, &l2, app, "h2", &p, "v1").unwrap();
        assert_eq!(out, Published { sent: 3, retained: 3 });
        assert_eq!(std::fs::read_to_string(root2.path().join(format!("apps/shop/modules/__q/{cart_v}/cart.client.js"))).unwrap(), "cart v1");
        let idx2 = read_store(&mut r2, &l2, app).unwrap().index;
        assert_eq!(idx2.versions[&format!("/c/cart.client.js?v={cart_v}")].first, idx.versions[&format!("/c/cart.client.js?v={cart_v}")].first);

        // Pruning on host 1: v2 live (current link), v1 not; with a window of 0 and no previous, cart v1 goes.
        std::fs::create_dir_all(root.path().join("apps/shop/releases/v1")).unwrap();
        std::fs::create_dir_all(root.path().join("apps/shop/releases/v2")).unwrap();
        std::os::unix::fs::symlink("releases/v2", root.path().join("apps/shop/current")).unwrap();
        assert_eq!(prune(&mut [("h", &mut r)], &l, app, 0).unwrap(), vec![Vec::<String>::new()], "the first prune only starts the clock");
        let idx = read_store(&mut r, &l, app).unwrap().index;
        assert!(idx.versions[&format!("/c/cart.client.js?v={cart_v}")].last.is_some());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let pruned = prune(&mut [("h", &mut r)], &l, app, 0).unwrap();
        assert_eq!(pruned, vec![vec![format!("/c/cart.client.js?v={cart_v}")]]);
        assert!(!cart.exists() && !cart.parent().unwrap().exists());
        assert!(root.path().join("apps/shop/modules/__v/d1/nav.client.js").exists());
        let (line, v) = status(&mut r, &l, app).unwrap();
        assert_eq!(v["versions"], 2, "{line}");
        assert!(line.contains("2 versions retained"), "{line}");
    }
}
