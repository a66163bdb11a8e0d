//! The bundle as the controller has it (every file with its sha1), and the
//! `.tova-manifest.json` a release carries on the host. Releases themselves
//! are assembled, flipped and pruned by the deploy script of the role app.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

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
            return Err(format!(
                "the bundle folder {} is empty; build the app first",
                dir.display()
            ));
        }
        Ok(Bundle { files })
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
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        // The host script reads `sha1  path` lines and quotes nothing else:
        // a name it cannot carry is refused here, before anything is sent.
        if rel.chars().any(|c| c.is_control() || c == '\\' || c == '"') {
            return Err(format!(
                "bundle file name {rel:?} has a control character, quote or backslash; rename it"
            ));
        }
        if rel == MANIFEST_FILE {
            continue;
        }
        let meta =
            std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let mut f = std::fs::File::open(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut hasher = Sha1::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let sha1 = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.insert(
                rel,
                FileSum {
                    sha1,
                    size: meta.len(),
                    exec: meta.permissions().mode() & 0o111 != 0,
                },
            );
        }
    }
    Ok(())
}

/// `.tova-manifest.json`: written into each release by the host script.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReleaseManifest {
    #[serde(default)]
    pub(crate) app: String,
    #[serde(default)]
    pub(crate) env: String,
    #[serde(default)]
    pub(crate) version: String,
    /// Unix seconds.
    #[serde(default)]
    pub(crate) deployed_at: u64,
    /// Bundle files.
    #[serde(default)]
    pub(crate) files: BTreeMap<String, FileSum>,
}

pub(crate) fn version_number(v: &str) -> Option<u32> {
    v.strip_prefix('v')?.parse().ok()
}

/// The bundle files whose sha1 differs from `previous` (all of them without one).
pub(crate) fn changed_files<'a>(
    bundle: &'a Bundle,
    previous: Option<&BTreeMap<String, FileSum>>,
) -> Vec<&'a str> {
    bundle
        .files
        .iter()
        .filter(|(path, sum)| {
            previous
                .and_then(|p| p.get(*path))
                .is_none_or(|old| old.sha1 != sum.sha1)
        })
        .map(|(path, _)| path.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn bundles_are_read_with_checksums_and_compared() {
        let src = tempfile::tempdir().unwrap();
        write(src.path(), "server.js", "console.log(1)\n");
        write(src.path(), "public/index.html", "<h1>hi</h1>\n");
        write(src.path(), ".tova-manifest.json", "{}");
        let b1 = Bundle::scan(src.path()).unwrap();
        assert_eq!(
            b1.files.keys().collect::<Vec<_>>(),
            vec!["public/index.html", "server.js"],
            "the release manifest is not bundle content"
        );
        assert_eq!(
            b1.files["server.js"].sha1,
            "4f34d4184dfcb3ee7509f2f48258ce9241d98107"
        );
        write(src.path(), "server.js", "console.log(2)\n");
        let b2 = Bundle::scan(src.path()).unwrap();
        assert_eq!(changed_files(&b2, Some(&b1.files)), vec!["server.js"]);
        assert_eq!(changed_files(&b2, None).len(), 2);
        write(src.path(), "bad\"name.js", "x");
        assert!(Bundle::scan(src.path()).unwrap_err().contains("rename it"));
    }

    #[test]
    fn missing_bundle_is_a_clear_error() {
        let err = Bundle::scan(Path::new("/nonexistent/.tova-out")).unwrap_err();
        assert!(err.contains("tova build"), "{err}");
    }
}
