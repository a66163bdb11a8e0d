//! Refuse to run where the testbed cannot work, saying what to install.

use std::path::Path;

/// What `berth testbed` needs from the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Booting real hosts: nspawn, debootstrap, iproute2, dpkg-dev, ssh client.
    Fleet,
    /// Only looking at or stopping an existing fleet.
    Control,
}

pub(crate) struct Preflight;

/// (program, Debian package that provides it)
const FLEET_TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("debootstrap", "debootstrap"),
    ("ip", "iproute2"),
    ("bridge", "iproute2"),
    ("nsenter", "util-linux"),
    ("dpkg-scanpackages", "dpkg-dev"),
    ("apt-get", "apt"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
];

const CONTROL_TOOLS: &[(&str, &str)] = &[("ip", "iproute2"), ("ssh", "openssh-client")];

impl Preflight {
    pub(crate) fn check(need: Need) -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("berth testbed must run as root: it creates a network bridge and boots containers \
                        with systemd-nspawn.\n  = help: run it with sudo, or use `berth testbed up --cheap N` \
                        inside a root CI job"
                .into());
        }
        let tools = match need {
            Need::Fleet => FLEET_TOOLS,
            Need::Control => CONTROL_TOOLS,
        };
        let missing: Vec<&(&str, &str)> = tools
            .iter()
            .filter(|(prog, _)| which(prog).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let progs: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
        let mut pkgs: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
        pkgs.dedup();
        Err(format!(
            "berth testbed cannot run here: {} not found.\n  = help: install it with `apt-get install {}`",
            progs.join(", "),
            pkgs.join(" ")
        ))
    }
}

/// The full path of `prog` on $PATH (plus the sbin directories root expects).
pub(crate) fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_sh_and_not_nonsense() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-berth").is_none());
    }
}
