//! The Debian bookworm base every host boots from: built once with
//! debootstrap, cached under `base/<hash>/` and rebuilt only when the recipe
//! (suite, packages, the files berth writes into it) changes.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha1::{Digest, Sha1};

use super::mirror::Mirror;
use super::process::run;
use super::MIRROR_URL;

pub(crate) const SUITE: &str = "bookworm";

/// Installed into the base. python3 is there only so that ansible-playbook
/// can be raced against the same hosts; iproute2 and libnss-myhostname make
/// the hosts behave like ordinary servers (`ip`, own hostname resolves).
pub(crate) const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "sudo",
    "python3",
    "curl",
    "ca-certificates",
    "iproute2",
    "libnss-myhostname",
];

/// Units masked in the base: periodic apt jobs would race the roles for
/// the dpkg lock, and there is nothing to fetch from outside anyway; each
/// host's machine-id is bound in read-only, so there is nothing to commit.
const MASKED: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "systemd-machine-id-commit.service",
];

const SSHD_CONFIG: &str =
    "# berth testbed: each host's key is bound in from the state directory.\n\
HostKey /etc/ssh/ssh_host_ed25519_key\n\
PermitRootLogin prohibit-password\n\
PasswordAuthentication no\n\
KbdInteractiveAuthentication no\n\
UseDNS no\n\
MaxStartups 200:30:400\n\
MaxSessions 200\n";

/// Files written into the base after debootstrap: (path, mode, content).
fn files() -> Vec<(&'static str, u32, String)> {
    vec![
        // A minbase root has no /etc/hosts; Caddy will not start without localhost.
        (
            "etc/hosts",
            0o644,
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
        ),
        (
            "etc/resolv.conf",
            0o644,
            "# berth testbed: no DNS; the package mirror is addressed by IP\n".into(),
        ),
        ("etc/machine-id", 0o444, String::new()),
        (
            "etc/ssh/sshd_config.d/berth-testbed.conf",
            0o644,
            SSHD_CONFIG.into(),
        ),
        ("root/.ssh/authorized_keys", 0o600, String::new()),
        (
            "etc/systemd/network/10-testbed.network",
            0o644,
            String::new(),
        ),
        (
            "etc/apt/sources.list",
            0o644,
            format!("deb [trusted=yes] {MIRROR_URL} ./\n"),
        ),
        // No recommends, like the roles expect from a lean server.
        (
            "etc/apt/apt.conf.d/90berth-testbed",
            0o644,
            "APT::Install-Recommends \"false\";\n".into(),
        ),
    ]
}

/// Paths removed from the base: generated host keys (each host gets its
/// own), the builder's hostname, debootstrap's package lists and sources.
const REMOVED: &[&str] = &[
    "etc/hostname",
    "etc/ssh/ssh_host_rsa_key",
    "etc/ssh/ssh_host_rsa_key.pub",
    "etc/ssh/ssh_host_ecdsa_key",
    "etc/ssh/ssh_host_ecdsa_key.pub",
    "etc/ssh/ssh_host_ed25519_key",
    "etc/ssh/ssh_host_ed25519_key.pub",
    "var/lib/dbus/machine-id",
];

#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) hash: String,
    pub(crate) rootfs: PathBuf,
}

impl Base {
    /// The recipe as text: everything that decides what the base contains.
    pub(crate) fn recipe() -> String {
        let mut r = format!(
            "suite {SUITE}\nvariant minbase\npackages {}\n",
            PACKAGES.join(",")
        );
        for (path, mode, content) in files() {
            let _ = writeln!(r, "file {path} {mode:o} {content:?}");
        }
        for path in REMOVED {
            let _ = writeln!(r, "remove {path}");
        }
        let _ = writeln!(r, "enable systemd-networkd\nmask {}", MASKED.join(","));
        r
    }

    pub(crate) fn hash() -> String {
        let digest = Sha1::digest(Base::recipe().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The cached base for the current recipe, if it was built.
    pub(crate) fn cached(state: &Path) -> Option<Base> {
        let hash = Base::hash();
        let dir = state.join("base").join(&hash);
        dir.join("rootfs/usr/sbin/sshd").exists().then(|| Base {
            hash,
            rootfs: dir.join("rootfs"),
        })
    }

    /// The cached base, building it first when the recipe changed.
    pub(crate) fn ensure(state: &Path, debian_mirror: &str) -> Result<Base, String> {
        if let Some(base) = Base::cached(state) {
            eprintln!("testbed: base {} cached", base.hash);
            return Ok(base);
        }
        let hash = Base::hash();
        let root = state.join("base");
        let partial = root.join(format!("{hash}.partial"));
        let done = root.join(&hash);
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        super::mounts::unmount_under(&partial);
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        }
        eprintln!("testbed: building base {hash} (debootstrap {SUITE} from {debian_mirror}) ...");
        let started = Instant::now();
        let result = build(&partial.join("rootfs"), debian_mirror);
        super::mounts::unmount_under(&partial);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        let secs = started.elapsed().as_secs_f64();
        std::fs::write(partial.join("recipe.txt"), Base::recipe()).map_err(|e| e.to_string())?;
        std::fs::write(partial.join("build-seconds"), format!("{secs:.1}\n"))
            .map_err(|e| e.to_string())?;
        if done.exists() {
            std::fs::remove_dir_all(&done).map_err(|e| format!("{}: {e}", done.display()))?;
        }
        std::fs::rename(&partial, &done).map_err(|e| format!("{}: {e}", done.display()))?;
        eprintln!("testbed: base {hash} built in {secs:.1}s");
        prune(&root, &hash);
        Ok(Base {
            hash,
            rootfs: done.join("rootfs"),
        })
    }

    /// The Debian packages installed in the base (name → version), read
    /// from its dpkg status, so the mirror only carries what is missing.
    pub(crate) fn installed(&self) -> Result<Vec<(String, String)>, String> {
        let status = self.rootfs.join("var/lib/dpkg/status");
        let text =
            std::fs::read_to_string(&status).map_err(|e| format!("{}: {e}", status.display()))?;
        Ok(Mirror::parse_installed(&text))
    }
}

fn build(rootfs: &Path, debian_mirror: &str) -> Result<(), String> {
    std::fs::create_dir_all(rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let log = rootfs.parent().unwrap().join("debootstrap.log");
    let out = Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(rootfs)
        .arg(debian_mirror)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run debootstrap: {e}"))?;
    let _ = std::fs::write(
        &log,
        [out.stdout.as_slice(), out.stderr.as_slice()].concat(),
    );
    if !out.status.success() {
        let tail: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(15)
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!(
            "debootstrap failed ({}):\n{}\n{}\n  = help: check that {debian_mirror} is reachable, or pass --debian-mirror URL",
            out.status,
            tail.join("\n"),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    for path in REMOVED {
        let p = rootfs.join(path);
        if p.exists() || p.is_symlink() {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    for dir in [
        "etc/apt/sources.list.d",
        "var/lib/apt/lists",
        "var/cache/apt/archives",
    ] {
        clear_files(&rootfs.join(dir))?;
    }
    for (path, mode, content) in files() {
        let p = rootfs.join(path);
        std::fs::create_dir_all(p.parent().unwrap())
            .map_err(|e| format!("{}: {e}", p.display()))?;
        if p.is_symlink() {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        std::fs::write(&p, content).map_err(|e| format!("{}: {e}", p.display()))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    std::fs::set_permissions(
        rootfs.join("root/.ssh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .map_err(|e| e.to_string())?;
    run(Command::new("systemctl")
        .arg(format!("--root={}", rootfs.display()))
        .args(["enable", "systemd-networkd.service"]))?;
    run(Command::new("systemctl")
        .arg(format!("--root={}", rootfs.display()))
        .arg("mask")
        .args(MASKED))?;
    Ok(())
}

/// Remove the plain files directly in `dir` (keeps subdirectories like `partial/`).
fn clear_files(dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if !p.is_dir() || p.is_symlink() {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Drop bases built from older recipes.
fn prune(root: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != keep && !name.ends_with(".partial") {
            super::mounts::unmount_under(&entry.path());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_hash_is_stable_and_covers_the_files() {
        assert_eq!(Base::hash(), Base::hash());
        assert_eq!(Base::hash().len(), 16);
        let recipe = Base::recipe();
        assert!(recipe.contains("openssh-server"));
        assert!(recipe.contains("etc/hosts"));
        assert!(recipe.contains(MIRROR_URL));
    }
}
