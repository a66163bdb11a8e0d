//! Releases on a host (seed 003 §3): `releases/vN` directories holding the
//! bundle and its `.tova-manifest.json`, a `current` symlink flipped
//! atomically (temp link + `mv -T`), a `previous` link, pruning that never
//! touches `current` or `previous`, and `data/` that nothing here touches.
//!
//! Uploads send only the files whose sha1 differs from the current release;
//! unchanged files are hard-linked (or copied) from it on the host, and the
//! assembled release is checked with `sha1sum -c` before it gets its name.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::layout::Layout;
use super::remote::{q, Remote};

/// Name of the per-release (and per-app) manifest file.
pub(crate) const MANIFEST_FILE: &str = ".tova-manifest.json";

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileSum {
    pub(crate) sha1: String,
    pub(crate) size: u64,
    /// Executable bit set.
    #[serde(default)]
    pub(crate) exec: bool,
}

/// The build output folder, read once: relative path → checksum.
#[derive(Debug, Clone)]
pub(crate) struct Bundle {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) files: BTreeMap<String, FileSum>,
}

impl Bundle {
    pub(crate) fn scan(dir: &Path) -> Result<Bundle, String> {
        if !dir.is_dir() {
            return Err(format!("the bundle folder {} does not exist; build the app first (`tova build --production`) or set `bundle:` in the deploy block", dir.display()));
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files)?;
        if files.is_empty() {
            return Err(format!("the bundle folder {} is empty; build the app first", dir.display()));
        }
        Ok(Bundle { dir: dir.to_path_buf(), files })
    }

    #[cfg(test)]
    pub(crate) fn total_size(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, FileSum>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
        if rel.contains('\n') || rel.contains('\\') {
            return Err(format!("bundle file name {rel:?} has a newline or backslash; rename it"));
        }
        if rel == MANIFEST_FILE {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let mut f = std::fs::File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut hasher = Sha1::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let sha1 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
            out.insert(rel, FileSum { sha1, size: meta.len(), exec: meta.permissions().mode() & 0o111 != 0 });
        }
    }
    Ok(())
}

/// `.tova-manifest.json`: written into each release and, for the last
/// successful provisioning, into the app directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReleaseManifest {
    pub(crate) app: String,
    pub(crate) env: String,
    pub(crate) version: String,
    /// Unix seconds.
    pub(crate) deployed_at: u64,
    /// Layer → sha1 of its inputs (crate::manifest::layers).
    pub(crate) layers: BTreeMap<String, String>,
    /// Bundle files (empty in the app-level manifest).
    #[serde(default)]
    pub(crate) files: BTreeMap<String, FileSum>,
    #[serde(default)]
    pub(crate) ports: Vec<u16>,
}

/// What a host has for one app.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostApp {
    /// `vN` that `current` points at.
    pub(crate) current: Option<String>,
    pub(crate) previous: Option<String>,
    /// Releases by number, with their failed mark.
    pub(crate) releases: Vec<(u32, bool)>,
    /// The current release's manifest.
    pub(crate) current_manifest: Option<ReleaseManifest>,
    /// The app-level manifest (last successful provisioning).
    pub(crate) provisioned: Option<ReleaseManifest>,
}

impl HostApp {
    pub(crate) fn next_version(&self) -> String {
        format!("v{}", self.releases.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1)
    }

    /// The newest good release older than `current` (what `--rollback` goes to).
    pub(crate) fn rollback_target(&self) -> Option<String> {
        let cur = self.current.as_deref().and_then(version_number)?;
        self.releases.iter().filter(|(n, failed)| *n < cur && !failed).map(|(n, _)| *n).max().map(|n| format!("v{n}"))
    }

    pub(crate) fn has(&self, version: &str) -> bool {
        version_number(version).is_some_and(|v| self.releases.iter().any(|(n, _)| *n == v))
    }
}

pub(crate) fn version_number(v: &str) -> Option<u32> {
    v.strip_prefix('v')?.parse().ok()
}

const MARK: &str = "@@berth@@";

/// Reads the app's releases and manifests in one round trip.
pub(crate) fn read_state(remote: &mut Remote, layout: &Layout, app: &str) -> Result<HostApp, String> {
    let script = format!(
        r#"{prologue}
cur=$(readlink "$app/current" 2>/dev/null || true)
prev=$(readlink "$app/previous" 2>/dev/null || true)
echo "{MARK} current ${{cur##*/}}"
echo "{MARK} previous ${{prev##*/}}"
for d in "$app"/releases/v*; do
  [ -d "$d" ] || continue
  f=0
  [ -e "$d/.tova-failed" ] && f=1
  echo "{MARK} release ${{d##*/}} $f"
done
echo "{MARK} manifest"
if [ -n "$cur" ] && [ -f "$app/$cur/{MANIFEST_FILE}" ]; then cat "$app/$cur/{MANIFEST_FILE}"; fi
echo
echo "{MARK} provisioned"
if [ -f "$app/{MANIFEST_FILE}" ]; then cat "$app/{MANIFEST_FILE}"; fi
echo
"#,
        prologue = layout.prologue(app)
    );
    let out = remote.run("reading the app's releases", &script, None)?;
    parse_state(&out).map_err(|e| format!("{}: {e}", remote.name))
}

fn parse_state(out: &str) -> Result<HostApp, String> {
    let mut state = HostApp::default();
    let mut section: Option<&str> = None;
    let mut manifest = String::new();
    let mut provisioned = String::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let mut words = rest.split_whitespace();
            match words.next() {
                Some("current") => state.current = words.next().map(str::to_owned),
                Some("previous") => state.previous = words.next().map(str::to_owned),
                Some("release") => {
                    if let (Some(n), Some(f)) = (words.next().and_then(version_number), words.next()) {
                        state.releases.push((n, f == "1"));
                    }
                }
                Some(s @ ("manifest" | "provisioned")) => section = Some(if s == "manifest" { "m" } else { "p" }),
                _ => {}
            }
            continue;
        }
        match section {
            Some("m") => manifest.push_str(line),
            Some("p") => provisioned.push_str(line),
            _ => {}
        }
    }
    state.releases.sort();
    let parse = |text: &str, what: &str| -> Result<Option<ReleaseManifest>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        // A manifest berth cannot read is treated as absent: every layer runs.
        Ok(serde_json::from_str(text).map_err(|e| tracing::warn!("{what} manifest unreadable: {e}")).ok())
    };
    state.current_manifest = parse(&manifest, "release")?;
    state.provisioned = parse(&provisioned, "app")?;
    Ok(state)
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UploadStats {
    /// Files sent over the wire.
    pub(crate) sent: usize,
    pub(crate) sent_bytes: u64,
    /// Files reused from the previous release on the host.
    pub(crate) reused: usize,
}

/// Which bundle files must cross the wire, given the current release's files.
pub(crate) fn changed_files<'a>(bundle: &'a Bundle, previous: Option<&BTreeMap<String, FileSum>>) -> Vec<&'a str> {
    bundle
        .files
        .iter()
        .filter(|(path, sum)| previous.and_then(|p| p.get(*path)).is_none_or(|old| old.sha1 != sum.sha1))
        .map(|(path, _)| path.as_str())
        .collect()
}

/// Uploads the bundle as `releases/<version>` (not yet current). The release
/// is assembled as `releases/.<version>.partial` and renamed when complete
/// and verified, so a release directory is never half written.
pub(crate) fn upload(
    remote: &mut Remote,
    layout: &Layout,
    app: &str,
    version: &str,
    bundle: &Bundle,
    manifest: &ReleaseManifest,
    previous: Option<(&str, &BTreeMap<String, FileSum>)>,
) -> Result<UploadStats, String> {
    let prev_files = previous.map(|(_, f)| f);
    let changed = changed_files(bundle, prev_files);
    let reused: Vec<&str> = bundle.files.keys().map(String::as_str).filter(|p| !changed.contains(p)).collect();
    let mut stats = UploadStats { sent: changed.len(), reused: reused.len(), ..Default::default() };

    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], mode: u32| -> Result<(), String> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, data).map_err(|e| format!("cannot pack {path}: {e}"))
    };
    for path in &changed {
        let data = std::fs::read(bundle.dir.join(path)).map_err(|e| format!("cannot read {}: {e}", bundle.dir.join(path).display()))?;
        let sum = &bundle.files[*path];
        stats.sent_bytes += data.len() as u64;
        add(path, &data, if sum.exec { 0o755 } else { 0o644 })?;
    }
    let mut reuse_list = String::new();
    for p in &reused {
        reuse_list.push_str(p);
        reuse_list.push('\n');
    }
    add(".tova-reuse", reuse_list.as_bytes(), 0o600)?;
    let mut sums = String::new();
    for (path, sum) in &bundle.files {
        sums.push_str(&format!("{}  ./{}\n", sum.sha1, path));
    }
    add(".tova-sha1sums", sums.as_bytes(), 0o600)?;
    let manifest_json = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
    add(MANIFEST_FILE, &manifest_json, 0o644)?;
    let data = tar.into_inner().map_err(|e| format!("cannot pack the bundle: {e}"))?;

    let prev_dir = previous.map(|(v, _)| v).unwrap_or("");
    let script = format!(
        r#"{prologue}V={version}
PREV={prev}
mkdir -p "$app/releases" "$app/data"
part="$app/releases/.$V.partial"
rm -rf "$part"
mkdir -p "$part"
tar -x --no-same-owner -C "$part" -f -
cd "$part"
if [ -s .tova-reuse ]; then
  while IFS= read -r f; do
    d=$(dirname "$f")
    [ "$d" = . ] || mkdir -p "$d"
    ln "$app/releases/$PREV/$f" "$f" 2>/dev/null || cp -p "$app/releases/$PREV/$f" "$f"
  done < .tova-reuse
fi
if ! sha1sum --quiet --strict -c .tova-sha1sums >&2; then
  echo "berth: the assembled release $V does not match the bundle's checksums" >&2
  exit 1
fi
rm -f .tova-reuse .tova-sha1sums
chmod -R go-w,a+rX .
cd "$app/releases"
rm -rf "$app/releases/$V"
mv -T "$part" "$app/releases/$V"
echo uploaded
"#,
        prologue = layout.prologue(app),
        version = q(version),
        prev = q(prev_dir),
    );
    remote.run(&format!("uploading release {version}"), &script, Some(&data))?;
    Ok(stats)
}

/// Points `current` at `version` atomically and `previous` at what was
/// current (unless it is the same). Returns the old current.
pub(crate) fn flip(remote: &mut Remote, layout: &Layout, app: &str, version: &str) -> Result<Option<String>, String> {
    let script = format!(
        r#"{prologue}V={version}
[ -d "$app/releases/$V" ] || {{ echo "berth: release $V does not exist" >&2; exit 1; }}
old=$(readlink "$app/current" 2>/dev/null || true)
old=${{old##*/}}
ln -sfn "releases/$V" "$app/.current.tmp"
mv -T "$app/.current.tmp" "$app/current"
if [ -n "$old" ] && [ "$old" != "$V" ]; then
  ln -sfn "releases/$old" "$app/.previous.tmp"
  mv -T "$app/.previous.tmp" "$app/previous"
fi
echo "OLD $old"
"#,
        prologue = layout.prologue(app),
        version = q(version)
    );
    let out = remote.run(&format!("setting current → releases/{version}"), &script, None)?;
    Ok(out.lines().find_map(|l| l.strip_prefix("OLD ")).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned))
}

/// Marks a release as failed (kept for debugging, never a rollback target).
pub(crate) fn mark_failed(remote: &mut Remote, layout: &Layout, app: &str, version: &str) -> Result<(), String> {
    let script = format!("{}V={}\n[ -d \"$app/releases/$V\" ] && : > \"$app/releases/$V/.tova-failed\"\n", layout.prologue(app), q(version));
    remote.run("marking the release failed", &script, None).map(|_| ())
}

/// Removes old releases beyond `keep` (newest first), never `current` or
/// `previous`. Returns the removed versions.
pub(crate) fn prune(remote: &mut Remote, layout: &Layout, app: &str, keep: u32) -> Result<Vec<String>, String> {
    let script = format!(
        r#"{prologue}KEEP={keep}
cur=$(readlink "$app/current" 2>/dev/null || true); cur=${{cur##*/}}
prev=$(readlink "$app/previous" 2>/dev/null || true); prev=${{prev##*/}}
cd "$app/releases" 2>/dev/null || exit 0
rm -rf .v*.partial
n=0
for v in $(ls -d v* 2>/dev/null | sed 's/^v//' | sort -rn); do
  n=$((n + 1))
  [ "$n" -le "$KEEP" ] && continue
  [ "v$v" = "$cur" ] && continue
  [ "v$v" = "$prev" ] && continue
  rm -rf "v$v"
  echo "PRUNED v$v"
done
"#,
        prologue = layout.prologue(app),
        keep = keep
    );
    let out = remote.run("pruning old releases", &script, None)?;
    Ok(out.lines().filter_map(|l| l.strip_prefix("PRUNED ")).map(str::to_owned).collect())
}

/// Writes the app-level manifest (what was provisioned last).
pub(crate) fn write_app_manifest(remote: &mut Remote, layout: &Layout, app: &str, manifest: &ReleaseManifest) -> Result<(), String> {
    let mut m = manifest.clone();
    m.files.clear();
    let json = serde_json::to_vec_pretty(&m).expect("manifest serializes");
    let script = format!(
        "{}mkdir -p \"$app\"\ncat > \"$app/.tova-manifest.json.tmp\"\nchmod 0644 \"$app/.tova-manifest.json.tmp\"\nmv -f \"$app/.tova-manifest.json.tmp\" \"$app/{MANIFEST_FILE}\"\n",
        layout.prologue(app)
    );
    remote.run("writing .tova-manifest.json", &script, Some(&json)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn manifest(version: &str, bundle: &Bundle) -> ReleaseManifest {
        ReleaseManifest { app: "shop".into(), env: "prod".into(), version: version.into(), files: bundle.files.clone(), ..Default::default() }
    }

    fn deploy(r: &mut Remote, l: &Layout, bundle: &Bundle) -> (String, UploadStats) {
        let state = read_state(r, l, "shop").unwrap();
        let v = state.next_version();
        let prev = state.current_manifest.as_ref().map(|m| (state.current.as_deref().unwrap(), &m.files));
        let stats = upload(r, l, "shop", &v, bundle, &manifest(&v, bundle), prev).unwrap();
        flip(r, l, "shop", &v).unwrap();
        (v, stats)
    }

    #[test]
    fn upload_flip_reuse_and_prune() {
        let host = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let l = Layout::new(host.path().to_str().unwrap());
        let mut r = Remote::local("local");
        write(src.path(), "server.js", "console.log(1)\n");
        write(src.path(), "public/index.html", "<h1>hi</h1>\n");
        write(src.path(), "public/c/mod.abc.js", "export {}\n");
        let b1 = Bundle::scan(src.path()).unwrap();
        assert_eq!(b1.files.len(), 3);

        let (v, stats) = deploy(&mut r, &l, &b1);
        assert_eq!(v, "v1");
        assert_eq!(stats, UploadStats { sent: 3, sent_bytes: b1.total_size(), reused: 0 });
        let app = host.path().join("apps/shop");
        assert_eq!(std::fs::read_link(app.join("current")).unwrap(), Path::new("releases/v1"));
        assert_eq!(std::fs::read_to_string(app.join("current/public/index.html")).unwrap(), "<h1>hi</h1>\n");
        assert!(app.join("data").is_dir());
        std::fs::write(app.join("data/keep.db"), "precious").unwrap();

        // One file changes, one is removed: one file crosses the wire.
        write(src.path(), "server.js", "console.log(2)\n");
        std::fs::remove_file(src.path().join("public/c/mod.abc.js")).unwrap();
        let b2 = Bundle::scan(src.path()).unwrap();
        let (v, stats) = deploy(&mut r, &l, &b2);
        assert_eq!(v, "v2");
        assert_eq!((stats.sent, stats.reused), (1, 1));
        assert_eq!(std::fs::read_to_string(app.join("current/server.js")).unwrap(), "console.log(2)\n");
        assert!(!app.join("current/public/c/mod.abc.js").exists());
        assert_eq!(std::fs::read_to_string(app.join("releases/v1/server.js")).unwrap(), "console.log(1)\n", "old release untouched");
        assert_eq!(std::fs::read_link(app.join("previous")).unwrap(), Path::new("releases/v1"));

        let state = read_state(&mut r, &l, "shop").unwrap();
        assert_eq!(state.current.as_deref(), Some("v2"));
        assert_eq!(state.previous.as_deref(), Some("v1"));
        assert_eq!(state.rollback_target().as_deref(), Some("v1"));
        assert_eq!(state.current_manifest.unwrap().files, b2.files);

        for i in 3..=7 {
            write(src.path(), "server.js", &format!("console.log({i})\n"));
            let b = Bundle::scan(src.path()).unwrap();
            deploy(&mut r, &l, &b);
        }
        // current v7, previous v6; keep 2 → v6, v7 stay.
        mark_failed(&mut r, &l, "shop", "v5").unwrap();
        let pruned = prune(&mut r, &l, "shop", 2).unwrap();
        assert_eq!(pruned, vec!["v5", "v4", "v3", "v2", "v1"]);
        let state = read_state(&mut r, &l, "shop").unwrap();
        assert_eq!(state.releases, vec![(6, false), (7, false)]);
        assert_eq!(std::fs::read_to_string(app.join("data/keep.db")).unwrap(), "precious");

        // Rolling back to v6 makes previous v7; pruning to 1 keeps both.
        flip(&mut r, &l, "shop", "v6").unwrap();
        assert_eq!(prune(&mut r, &l, "shop", 1).unwrap(), Vec::<String>::new());
        assert!(flip(&mut r, &l, "shop", "v9").is_err());
    }

    #[test]
    fn corrupted_reuse_is_caught_by_checksums() {
        let host = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let l = Layout::new(host.path().to_str().unwrap());
        let mut r = Remote::local("local");
        write(src.path(), "a.js", "a\n");
        write(src.path(), "b.js", "b\n");
        let b1 = Bundle::scan(src.path()).unwrap();
        deploy(&mut r, &l, &b1);
        // Someone edited the live release on the host: reusing it would ship
        // a file that is not the bundle's.
        std::fs::remove_file(host.path().join("apps/shop/releases/v1/a.js")).unwrap();
        std::fs::write(host.path().join("apps/shop/releases/v1/a.js"), "tampered\n").unwrap();
        write(src.path(), "b.js", "b2\n");
        let b2 = Bundle::scan(src.path()).unwrap();
        let state = read_state(&mut r, &l, "shop").unwrap();
        let m = state.current_manifest.clone().unwrap();
        let err = upload(&mut r, &l, "shop", "v2", &b2, &manifest("v2", &b2), Some(("v1", &m.files))).unwrap_err();
        assert!(err.contains("checksums"), "{err}");
        assert!(!host.path().join("apps/shop/releases/v2").exists(), "no half release is left under its name");
    }

    #[test]
    fn missing_bundle_is_a_clear_error() {
        let err = Bundle::scan(Path::new("/nonexistent/.tova-out")).unwrap_err();
        assert!(err.contains("tova build"), "{err}");
    }
}
