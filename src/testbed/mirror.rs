//! The local package mirror: every Debian package the deploy roles install
//! (with the dependencies the base lacks) as a flat apt repository, plus
//! the Bun binary, served over HTTP on the testbed bridge. This file is the
//! one place that lists what the roles may install on a testbed host.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha1::{Digest, Sha1};

use super::base::{Base, SUITE};
use super::process::run;

/// Debian packages the roles install (system, databases, proxy, firewall,
/// node runtime), plus what Ansible itself installs on demand when it is
/// raced against the same hosts (python3-apt for its apt module, acl for
/// `become_user`).
pub(crate) const PACKAGES: &[&str] = &[
    "caddy",
    "postgresql",
    "redis-server",
    "ufw",
    "nodejs",
    "sqlite3",
    "acl",
    "unzip",
    "python3-apt",
    // `berth deploy --setup-git`: the server's bare repository and hooks.
    "git",
    // What ansible-core's own integration targets install on the host
    // (conformance/: user needs libuser, unarchive zip, apt dpkg-dev), and
    // what ansible-test's test container has: file(1) for stat's mimetype.
    "libuser",
    "zip",
    "dpkg-dev",
    "file",
    // uri's unix-socket tests.
    "socat",
];

/// Packages ansible-core's targets install by Ubuntu's names, which Debian
/// lacks: empty stand-ins built here (name, what it stands for), so the
/// target's install step does what it does on ansible-test's Ubuntu-based
/// test container.
pub(crate) const STAND_INS: &[(&str, &str)] = &[(
    "language-pack-fr",
    "stands in for Ubuntu's French language pack (ansible-core's unarchive target installs it)",
)];

/// Bun is not packaged by Debian: its binary comes from this npm package.
pub(crate) const BUN_PACKAGE: &str = "@oven/bun-linux-x64";
pub(crate) const BUN_VERSION: &str = "1.1.45";
/// Where the Bun binary sits inside the mirror (and so under MIRROR_URL).
pub(crate) const BUN_PATH: &str = "bun/bun-linux-x64";

#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    pub(crate) hash: String,
    pub(crate) root: PathBuf,
}

impl Mirror {
    /// What decides the mirror's content: the base it complements, the
    /// package list and the Bun version.
    pub(crate) fn recipe(base_hash: &str) -> String {
        format!(
            "layout 2 (flat repo, dated Release)\nbase {base_hash}\nsuite {SUITE}\npackages {}\nstand-ins {}\nbun {BUN_PACKAGE}@{BUN_VERSION} -> {BUN_PATH}\n",
            PACKAGES.join(","),
            STAND_INS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(",")
        )
    }

    pub(crate) fn hash(base_hash: &str) -> String {
        let digest = Sha1::digest(Mirror::recipe(base_hash).as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The cached mirror for this base, building it when missing.
    pub(crate) fn ensure(state: &Path, base: &Base, debian_mirror: &str) -> Result<Mirror, String> {
        let hash = Mirror::hash(&base.hash);
        let top = state.join("mirror");
        let done = top.join(&hash);
        if done.join("Packages.gz").is_file() && done.join(BUN_PATH).is_file() {
            eprintln!("testbed: mirror {hash} cached");
            return Ok(Mirror { hash, root: done });
        }
        let partial = top.join(format!("{hash}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        }
        std::fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        eprintln!(
            "testbed: building package mirror {hash} ({}) ...",
            PACKAGES.join(" ")
        );
        let started = Instant::now();
        let result = download_debs(&partial, base, debian_mirror)
            .and_then(|n| build_stand_ins(&partial).map(|m| n + m))
            .and_then(|n| index(&partial).map(|_| n))
            .and_then(|n| fetch_bun(&partial).map(|_| n));
        let count = match result {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
        };
        let _ = std::fs::remove_dir_all(partial.join(".apt"));
        let _ = std::fs::remove_dir_all(partial.join(".npm"));
        std::fs::write(partial.join("recipe.txt"), Mirror::recipe(&base.hash))
            .map_err(|e| e.to_string())?;
        if done.exists() {
            std::fs::remove_dir_all(&done).map_err(|e| format!("{}: {e}", done.display()))?;
        }
        std::fs::rename(&partial, &done).map_err(|e| format!("{}: {e}", done.display()))?;
        let mirror = Mirror {
            hash: hash.clone(),
            root: done.clone(),
        };
        mirror.check_covers(base)?;
        eprintln!(
            "testbed: mirror {hash}: {count} packages + bun {BUN_VERSION} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        if let Ok(entries) = std::fs::read_dir(&top) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy() != hash.as_str() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(mirror)
    }

    /// (package, version) pairs of the installed packages in a dpkg status file.
    pub(crate) fn parse_installed(status: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for stanza in status.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|r| r.strip_prefix(':'))
                        .map(|v| v.trim().to_string())
                })
            };
            let (Some(pkg), Some(st)) = (field("Package"), field("Status")) else {
                continue;
            };
            if st.ends_with(" installed") {
                out.push((pkg, field("Version").unwrap_or_default()));
            }
        }
        out
    }

    /// Every listed package must be in the mirror or already in the base.
    pub(crate) fn check_covers(&self, base: &Base) -> Result<(), String> {
        let have = self.packages()?;
        let installed = base.installed()?;
        let missing: Vec<&str> = PACKAGES
            .iter()
            .copied()
            .filter(|p| !have.iter().any(|h| h == p) && !installed.iter().any(|(i, _)| i == p))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the mirror in {} lacks {}",
                self.root.display(),
                missing.join(", ")
            ))
        }
    }

    /// Package names listed in the mirror's Packages index.
    pub(crate) fn packages(&self) -> Result<Vec<String>, String> {
        let path = self.root.join("Packages");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("Package: "))
            .map(str::to_owned)
            .collect())
    }
}

/// apt on the controller, with its own lists and cache and the *base's*
/// dpkg status, downloads exactly the packages the base lacks.
fn download_debs(dir: &Path, base: &Base, debian_mirror: &str) -> Result<usize, String> {
    let apt = dir.join(".apt");
    for sub in ["lists/partial", "cache/archives/partial", "state"] {
        std::fs::create_dir_all(apt.join(sub)).map_err(|e| e.to_string())?;
    }
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    let signed = if keyring.is_file() {
        format!("[signed-by={}] ", keyring.display())
    } else {
        String::new()
    };
    std::fs::write(
        apt.join("sources.list"),
        format!("deb {signed}{debian_mirror} {SUITE} main\n"),
    )
    .map_err(|e| e.to_string())?;
    let opts = |cmd: &mut Command| {
        for (k, v) in [
            ("Dir::Etc::SourceList", apt.join("sources.list")),
            ("Dir::Etc::SourceParts", apt.join("none")),
            ("Dir::State", apt.join("state")),
            ("Dir::State::Lists", apt.join("lists")),
            (
                "Dir::State::status",
                base.rootfs.join("var/lib/dpkg/status"),
            ),
            ("Dir::Cache", apt.join("cache")),
            ("Dir::Cache::archives", apt.join("cache/archives")),
        ] {
            cmd.arg("-o").arg(format!("{k}={}", v.display()));
        }
        cmd.args([
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Install-Recommends=false",
            "-o",
            "APT::Sandbox::User=root",
            "-q",
        ]);
    };
    let mut update = Command::new("apt-get");
    opts(&mut update);
    update.arg("update");
    run(&mut update).map_err(|e| format!("apt-get update for the mirror failed: {e}"))?;
    let mut install = Command::new("apt-get");
    opts(&mut install);
    install
        .args(["install", "--download-only", "-y"])
        .args(PACKAGES);
    install.env("DEBIAN_FRONTEND", "noninteractive");
    run(&mut install).map_err(|e| format!("downloading the mirror's packages failed: {e}"))?;
    let mut count = 0;
    for entry in std::fs::read_dir(apt.join("cache/archives"))
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "deb") {
            std::fs::rename(&p, dir.join(entry.file_name())).map_err(|e| e.to_string())?;
            count += 1;
        }
    }
    if count == 0 {
        return Err("apt downloaded no packages for the mirror".into());
    }
    Ok(count)
}

/// The STAND_INS as empty packages (architecture all, no files).
fn build_stand_ins(dir: &Path) -> Result<usize, String> {
    for (name, what) in STAND_INS {
        let tree = dir.join(format!(".stand-in-{name}"));
        std::fs::create_dir_all(tree.join("DEBIAN")).map_err(|e| e.to_string())?;
        std::fs::write(
            tree.join("DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: 0~berth1\nArchitecture: all\nMaintainer: berth testbed <testbed@localhost>\nSection: misc\nPriority: optional\nDescription: berth testbed stand-in\n This empty package {what}.\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let deb = dir.join(format!("{name}_0~berth1_all.deb"));
        run(Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(&tree)
            .arg(&deb))
        .map_err(|e| format!("building the stand-in package {name} failed: {e}"))?;
        std::fs::remove_dir_all(&tree).map_err(|e| e.to_string())?;
    }
    Ok(STAND_INS.len())
}

/// Packages, Packages.gz and Release for a flat repository (`deb URL ./`).
fn index(dir: &Path) -> Result<(), String> {
    let packages = run(Command::new("dpkg-scanpackages")
        .args(["--multiversion", ".", "/dev/null"])
        .current_dir(dir))?;
    std::fs::write(dir.join("Packages"), &packages).map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, packages.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("Packages.gz"),
        gz.finish().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut release = format!(
        "Origin: berth testbed\nLabel: berth testbed\nSuite: testbed\nCodename: testbed\nDate: {}\nArchitectures: amd64 all\nSHA256:\n",
        rfc2822(now)
    );
    for name in ["Packages", "Packages.gz"] {
        let sum = run(Command::new("sha256sum").arg(name).current_dir(dir))?;
        let size = std::fs::metadata(dir.join(name))
            .map_err(|e| e.to_string())?
            .len();
        let digest = sum.split_whitespace().next().unwrap_or_default();
        release.push_str(&format!(" {digest} {size} {name}\n"));
    }
    std::fs::write(dir.join("Release"), release).map_err(|e| e.to_string())
}

/// `Sat, 22 Nov 2026 02:30:00 UTC` for a Unix time (apt's Release `Date:`).
fn rfc2822(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `npm pack` the Bun package and keep only its binary.
fn fetch_bun(dir: &Path) -> Result<(), String> {
    let npm = dir.join(".npm");
    std::fs::create_dir_all(&npm).map_err(|e| e.to_string())?;
    let out = run(Command::new("npm")
        .args(["pack", "--silent", &format!("{BUN_PACKAGE}@{BUN_VERSION}")])
        .current_dir(&npm))
    .map_err(|e| format!("fetching Bun from npm failed: {e}\n  = help: the testbed needs the npm registry (apt-get install npm)"))?;
    let tgz = npm.join(out.lines().last().unwrap_or_default().trim());
    let file = std::fs::File::open(&tgz).map_err(|e| format!("{}: {e}", tgz.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let dest = dir.join(BUN_PATH);
    std::fs::create_dir_all(dest.parent().unwrap()).map_err(|e| e.to_string())?;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        if path == Path::new("package/bin/bun") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            std::fs::write(&dest, bytes).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
    }
    Err(format!("{} has no package/bin/bun", tgz.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_come_from_dpkg_status() {
        let status = "Package: sudo\nStatus: install ok installed\nVersion: 1.9\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 2\n";
        assert_eq!(
            Mirror::parse_installed(status),
            vec![("sudo".to_string(), "1.9".to_string())]
        );
    }

    #[test]
    fn release_dates_are_rfc2822() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(rfc2822(1_795_314_600), "Sun, 22 Nov 2026 02:30:00 UTC");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 UTC");
    }

    #[test]
    fn mirror_hash_follows_the_base() {
        assert_ne!(Mirror::hash("a"), Mirror::hash("b"));
        assert!(Mirror::recipe("a").contains("caddy"));
    }
}
