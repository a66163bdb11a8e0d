//! One booted host: its name and address, the key material kept in the
//! state directory (so the inventory keeps working after down + up), and
//! the systemd-nspawn command that boots it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::process::{run, Process};
use super::{BRIDGE, SUBNET};

/// First host address is SUBNET.(HOST_OFFSET + 1).
pub(crate) const HOST_OFFSET: usize = 10;
pub(crate) const MAX_HOSTS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) addr: String,
    /// The running systemd-nspawn, if any.
    pub(crate) nspawn: Option<Process>,
    #[serde(default)]
    pub(crate) partitioned: bool,
}

impl Host {
    pub(crate) fn new(index: usize) -> Host {
        Host {
            name: format!("host{index:02}"),
            addr: format!("{SUBNET}.{}", HOST_OFFSET + index),
            nspawn: None,
            partitioned: false,
        }
    }

    /// The nspawn machine name; the bridge port is `vb-<machine>`.
    pub(crate) fn machine(&self) -> String {
        format!("tb-{}", self.name)
    }

    pub(crate) fn veth(&self) -> String {
        format!("vb-{}", self.machine())
    }

    pub(crate) fn dir(&self, state: &Path) -> PathBuf {
        state.join("hosts").join(&self.name)
    }

    pub(crate) fn running(&self) -> bool {
        self.nspawn.is_some_and(|p| p.alive())
    }

    /// The container's init (PID 1 inside), a child of nspawn.
    pub(crate) fn init(&self) -> Option<Process> {
        let nspawn = self.nspawn.filter(|p| p.alive())?;
        nspawn.children().into_iter().next()
    }

    /// Machine id: stable per state dir and host name.
    fn machine_id(&self, state: &Path) -> String {
        let digest = Sha1::digest(format!("{}\0{}", state.display(), self.name).as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Create the host's persistent files once: SSH host key, machine-id,
    /// network config. Existing keys are kept, so known_hosts stays valid.
    pub(crate) fn prepare(&self, state: &Path, persistent: bool) -> Result<(), String> {
        let dir = self.dir(state);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = dir.join("ssh_host_ed25519_key");
        if !key.is_file() || !dir.join("ssh_host_ed25519_key.pub").is_file() {
            let _ = std::fs::remove_file(&key);
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("root@{}", self.name))
                .arg("-f")
                .arg(&key))?;
        }
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("machine-id"),
            format!("{}\n", self.machine_id(state)),
        )
        .map_err(|e| e.to_string())?;
        let network = format!(
            "[Match]\nName=host0\n\n[Network]\nAddress={}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
            self.addr
        );
        std::fs::write(dir.join("10-testbed.network"), network).map_err(|e| e.to_string())?;
        if persistent {
            std::fs::create_dir_all(dir.join("upper")).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// `ADDR ssh-ed25519 AAAA…` for the testbed's known_hosts.
    pub(crate) fn known_hosts_line(&self, state: &Path) -> Result<String, String> {
        let path = self.dir(state).join("ssh_host_ed25519_key.pub");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut fields = text.split_whitespace();
        let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
            return Err(format!("{}: not an SSH public key", path.display()));
        };
        Ok(format!("{} {kind} {blob}", self.addr))
    }

    /// The systemd-nspawn command that boots this host from `rootfs`.
    pub(crate) fn nspawn_command(
        &self,
        state: &Path,
        rootfs: &Path,
        client_pub: &Path,
        persistent: bool,
    ) -> Command {
        let dir = self.dir(state);
        let mut cmd = Command::new("systemd-nspawn");
        // Many hosts share one read-only base: no image lock.
        cmd.env("SYSTEMD_NSPAWN_LOCK", "0");
        cmd.arg("--quiet").arg("-D").arg(rootfs).arg("--boot");
        if persistent {
            cmd.arg(format!(
                "--overlay={}:{}:/",
                rootfs.display(),
                dir.join("upper").display()
            ));
        } else {
            cmd.arg("--volatile=overlay");
        }
        cmd.arg(format!("--network-bridge={BRIDGE}"))
            .args([
                "--register=no",
                "--keep-unit",
                "--resolv-conf=off",
                "--link-journal=no",
                "--timezone=off",
            ])
            .arg(format!("--machine={}", self.machine()))
            .arg(format!("--hostname={}", self.name))
            .arg(format!("--uuid={}", self.machine_id(state)));
        let binds = [
            (
                dir.join("ssh_host_ed25519_key"),
                "/etc/ssh/ssh_host_ed25519_key",
            ),
            (
                dir.join("ssh_host_ed25519_key.pub"),
                "/etc/ssh/ssh_host_ed25519_key.pub",
            ),
            (client_pub.to_path_buf(), "/root/.ssh/authorized_keys"),
            (
                dir.join("10-testbed.network"),
                "/etc/systemd/network/10-testbed.network",
            ),
            (dir.join("machine-id"), "/etc/machine-id"),
        ];
        for (src, dst) in binds {
            cmd.arg(format!("--bind-ro={}:{dst}", src.display()));
        }
        cmd
    }

    pub(crate) fn console_log(&self, state: &Path) -> PathBuf {
        self.dir(state).join("console.log")
    }

    /// Memory of everything running in the host (sum of PSS), in KiB.
    pub(crate) fn memory_kib(&self) -> Option<u64> {
        let init = self.init()?;
        let mut total = 0;
        let mut stack = vec![init];
        while let Some(p) = stack.pop() {
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", p.pid)) {
                total += text
                    .lines()
                    .find_map(|l| l.strip_prefix("Pss:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0);
            }
            stack.extend(p.children());
        }
        Some(total)
    }

    /// The MAC address of the host's end of its link (read in its netns).
    pub(crate) fn mac(&self) -> Result<String, String> {
        let init = self
            .init()
            .ok_or_else(|| format!("{} is not running", self.name))?;
        let out = run(Command::new("nsenter")
            .arg("-t")
            .arg(init.pid.to_string())
            .args(["-n", "ip", "-o", "link", "show", "host0"]))?;
        out.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| format!("no MAC address for {} in `{}`", self.name, out.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_addresses_and_links_are_fixed_by_index() {
        let h = Host::new(3);
        assert_eq!(h.name, "host03");
        assert_eq!(h.addr, format!("{SUBNET}.13"));
        assert_eq!(h.veth(), "vb-tb-host03");
        assert!(
            h.veth().len() <= 15,
            "interface names are limited to 15 bytes"
        );
        assert!(Host::new(MAX_HOSTS).veth().len() <= 15);
    }

    #[test]
    fn key_material_survives_a_second_prepare() {
        let dir = tempfile::tempdir().unwrap();
        let h = Host::new(1);
        h.prepare(dir.path(), true).unwrap();
        let first = h.known_hosts_line(dir.path()).unwrap();
        h.prepare(dir.path(), true).unwrap();
        assert_eq!(first, h.known_hosts_line(dir.path()).unwrap());
        assert!(first.starts_with(&format!("{} ssh-ed25519 ", h.addr)));
        assert!(h.dir(dir.path()).join("upper").is_dir());
        let other = tempfile::tempdir().unwrap();
        assert_ne!(h.machine_id(dir.path()), h.machine_id(other.path()));
    }
}
