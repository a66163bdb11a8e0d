//! The one read of a host before a deploy, in one round trip: its
//! releases, the live release's files, what it was provisioned with
//! (`.tova-layers`), the names `.env.production` sets and the app's entry
//! in the host's port registry. It changes nothing; the plan and the choice
//! of layers to run come from it, and everything else from the playbook.

use std::collections::BTreeMap;

use super::layout::Layout;
use super::release::{version_number, FileSum, ReleaseManifest, MANIFEST_FILE};
use super::remote::Remote;

/// What a host has for one app.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HostState {
    /// `vN` that `current` points at.
    pub(crate) current: Option<String>,
    pub(crate) previous: Option<String>,
    /// Releases by number, with their failed mark.
    pub(crate) releases: Vec<(u32, bool)>,
    /// The live release's files.
    pub(crate) files: Option<BTreeMap<String, FileSum>>,
    /// When the live release was assembled (unix seconds).
    pub(crate) deployed_at: Option<u64>,
    /// Layer → fingerprint the host was last provisioned with.
    pub(crate) layers: BTreeMap<String, String>,
    /// Names set in `.env.production` (never the values).
    pub(crate) secret_names: Vec<String>,
    /// The app's ports in the host's registry.
    pub(crate) ports: Vec<u16>,
    /// The release the registry names live (set after a healthy rollout).
    pub(crate) registry_version: Option<String>,
}

impl HostState {
    /// The registry confirms `current` went live; false after a deploy cut
    /// off between the flip and the health check.
    pub(crate) fn settled(&self) -> bool {
        self.current.is_some() && self.registry_version == self.current
    }

    pub(crate) fn next_version(&self) -> String {
        format!(
            "v{}",
            self.releases.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1
        )
    }

    /// The newest good release older than `current` (what `--rollback` goes
    /// to). The host script decides on the host; this is the model its tests
    /// hold it to.
    #[cfg(test)]
    pub(crate) fn rollback_target(&self) -> Option<String> {
        let cur = self.current.as_deref().and_then(version_number)?;
        self.releases
            .iter()
            .filter(|(n, failed)| *n < cur && !failed)
            .map(|(n, _)| *n)
            .max()
            .map(|n| format!("v{n}"))
    }

    pub(crate) fn failed_releases(&self) -> Vec<String> {
        self.releases
            .iter()
            .filter(|(_, f)| *f)
            .map(|(n, _)| format!("v{n}"))
            .collect()
    }
}

const MARK: &str = "@@berth-state@@";

/// The read's script: POSIX sh, only `cat`, `readlink` and `awk`.
pub(crate) fn script(layout: &Layout, app: &str) -> String {
    format!(
        r#"{prologue}cur=$(readlink "$app/current" 2>/dev/null || true)
prev=$(readlink "$app/previous" 2>/dev/null || true)
echo "{MARK} current ${{cur##*/}}"
echo "{MARK} previous ${{prev##*/}}"
for d in "$app"/releases/v*; do
  [ -d "$d" ] || continue
  f=0
  [ -e "$d/.tova-failed" ] && f=1
  echo "{MARK} release ${{d##*/}} $f"
done
echo "{MARK} ports $(cat "$ROOT/registry/$APP.ports" 2>/dev/null || true)"
echo "{MARK} version $(cat "$ROOT/registry/$APP.version" 2>/dev/null || true)"
echo "{MARK} layers"
cat "$app/.tova-layers" 2>/dev/null || true
echo "{MARK} names"
[ -f "$app/.env.production" ] && awk -F= '/^[A-Za-z_][A-Za-z0-9_]*=./ {{ print $1 }}' "$app/.env.production"
echo "{MARK} manifest"
if [ -n "$cur" ] && [ -f "$app/$cur/{MANIFEST_FILE}" ]; then cat "$app/$cur/{MANIFEST_FILE}"; fi
exit 0
"#,
        prologue = layout.prologue(app)
    )
}

pub(crate) fn read(remote: &mut Remote, layout: &Layout, app: &str) -> Result<HostState, String> {
    let out = remote.run("reading the app's state", &script(layout, app), None)?;
    Ok(parse(&out))
}

pub(crate) fn parse(out: &str) -> HostState {
    let mut s = HostState::default();
    let mut section = "";
    let mut manifest = String::new();
    let word = |rest: &str| rest.split_whitespace().next().map(str::to_owned);
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let rest = rest.trim_start();
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            section = "";
            match key {
                "current" => s.current = word(value),
                "previous" => s.previous = word(value),
                "release" => {
                    let mut w = value.split_whitespace();
                    if let (Some(n), Some(f)) = (w.next().and_then(version_number), w.next()) {
                        s.releases.push((n, f == "1"));
                    }
                }
                "ports" => {
                    s.ports = value
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect()
                }
                "version" => s.registry_version = word(value),
                other => {
                    section = if matches!(other, "layers" | "names" | "manifest") {
                        other
                    } else {
                        ""
                    }
                }
            }
            continue;
        }
        match section {
            "layers" => {
                if let Some((layer, sum)) = line.split_once(' ') {
                    s.layers.insert(layer.to_owned(), sum.trim().to_owned());
                }
            }
            "names" if !line.is_empty() => s.secret_names.push(line.to_owned()),
            "manifest" => {
                manifest.push_str(line);
                manifest.push('\n');
            }
            _ => {}
        }
    }
    s.releases.sort();
    if !manifest.trim().is_empty() {
        // A manifest berth cannot read is treated as absent: every file is sent.
        if let Ok(m) = serde_json::from_str::<ReleaseManifest>(&manifest) {
            s.files = Some(m.files);
            s.deployed_at = Some(m.deployed_at);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_host_and_an_empty_one() {
        let host = tempfile::tempdir().unwrap();
        let l = Layout::new(host.path().to_str().unwrap());
        let mut r = Remote::local("local");
        assert_eq!(read(&mut r, &l, "shop").unwrap(), HostState::default());

        let app = host.path().join("apps/shop");
        for v in ["v1", "v2", "v3"] {
            std::fs::create_dir_all(app.join("releases").join(v)).unwrap();
        }
        std::fs::write(app.join("releases/v2/.tova-failed"), "").unwrap();
        std::fs::write(
            app.join("releases/v3/.tova-manifest.json"),
            r#"{"app": "shop", "env": "prod", "version": "v3", "deployed_at": 42, "layers": {}, "files": {"server.js": {"sha1": "aa", "size": 3}}}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("releases/v3", app.join("current")).unwrap();
        std::os::unix::fs::symlink("releases/v1", app.join("previous")).unwrap();
        std::fs::write(app.join(".tova-layers"), "app 111\nsystem 222\n").unwrap();
        std::fs::write(
            app.join(".env.production"),
            "JWT_SECRET=\"x\"\nEMPTY=\n# comment\nDATABASE_URL=postgres://\n",
        )
        .unwrap();
        std::fs::create_dir_all(host.path().join("registry")).unwrap();
        std::fs::write(host.path().join("registry/shop.ports"), "3000 3001\n").unwrap();
        std::fs::write(host.path().join("registry/shop.version"), "v3\n").unwrap();
        let s = read(&mut r, &l, "shop").unwrap();
        assert_eq!(s.current.as_deref(), Some("v3"));
        assert_eq!(s.previous.as_deref(), Some("v1"));
        assert_eq!(s.releases, vec![(1, false), (2, true), (3, false)]);
        assert_eq!(s.files.as_ref().unwrap()["server.js"].sha1, "aa");
        assert_eq!(s.deployed_at, Some(42));
        assert_eq!(s.layers["system"], "222");
        assert_eq!(s.secret_names, vec!["JWT_SECRET", "DATABASE_URL"]);
        assert_eq!(s.ports, vec![3000, 3001]);
        assert!(s.settled());
        assert_eq!(s.rollback_target().as_deref(), Some("v1"), "v2 failed");
        assert_eq!(s.next_version(), "v4");
        assert_eq!(s.failed_releases(), vec!["v2"]);
    }
}
