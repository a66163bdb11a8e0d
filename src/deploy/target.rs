//! From a manifest's servers to connections: SSH options from the CLI
//! (`--private-key`, `--known-hosts`), or the local machine for the git hook
//! running on the server itself.

use std::path::PathBuf;

use crate::connection::known_hosts::HostKeyChecking;
use crate::connection::ssh::SshOptions;
use crate::manifest::model::{Manifest, SshTarget};

use super::layout::Layout;
use super::remote::Remote;

/// How to reach the hosts, shared by every deploy subcommand.
#[derive(Debug, Clone)]
pub(crate) struct ConnectOpts {
    pub(crate) private_key: Option<PathBuf>,
    pub(crate) known_hosts: Option<PathBuf>,
    pub(crate) host_key_checking: HostKeyChecking,
    /// Run on this machine (the git hook on the server).
    pub(crate) local: bool,
    pub(crate) timeout_secs: u64,
    pub(crate) layout: Layout,
}

#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The host's name in `inventory/<env>.yml`.
    pub(crate) inventory_name: String,
    /// `user@host` as messages show it.
    pub(crate) label: String,
    pub(crate) ssh: SshOptions,
}

pub(crate) fn ssh_options(server: &SshTarget, opts: &ConnectOpts) -> SshOptions {
    let mut ssh = SshOptions::new(
        server.host.clone(),
        server.port.unwrap_or(22),
        server.user.clone().unwrap_or_else(|| "root".into()),
    );
    ssh.private_key = opts.private_key.clone();
    if let Some(k) = &opts.known_hosts {
        ssh.known_hosts = k.clone();
    }
    ssh.host_key_checking = opts.host_key_checking;
    ssh.connect_timeout = std::time::Duration::from_secs(opts.timeout_secs);
    ssh
}

/// The manifest's servers in rollout order, named as the inventory names them.
pub(crate) fn targets(m: &Manifest, opts: &ConnectOpts) -> Vec<Target> {
    let mut seen = std::collections::BTreeSet::new();
    m.servers
        .iter()
        .map(|s| {
            let mut name = s.host.clone();
            if !seen.insert(name.clone()) {
                name = format!("{}_{}", s.host, s.port.unwrap_or(22));
            }
            let ssh = ssh_options(s, opts);
            let label = match s.port {
                Some(p) if p != 22 => format!("{}@{}:{p}", ssh.user, s.host),
                _ => format!("{}@{}", ssh.user, s.host),
            };
            Target {
                inventory_name: name,
                label,
                ssh,
            }
        })
        .collect()
}

/// Parses `user@host[:port]` (for `--list --server`).
pub(crate) fn parse_target(s: &str) -> Result<SshTarget, String> {
    let (user, rest) = match s.split_once('@') {
        Some((u, r)) => (Some(u.to_owned()), r),
        None => (None, s),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']').to_owned(),
            Some(p.parse::<u16>().map_err(|_| format!("bad port in `{s}`"))?),
        ),
        _ => (rest.to_owned(), None),
    };
    if host.is_empty() {
        return Err(format!("`{s}` names no host; use user@host"));
    }
    Ok(SshTarget { user, host, port })
}

pub(crate) fn connect(t: &Target, opts: &ConnectOpts) -> Result<Remote, String> {
    if opts.local {
        Ok(Remote::local(t.label.clone()))
    } else {
        Remote::ssh(&t.ssh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_target("root@10.0.0.1").unwrap(),
            SshTarget {
                user: Some("root".into()),
                host: "10.0.0.1".into(),
                port: None
            }
        );
        assert_eq!(
            parse_target("h:2222").unwrap(),
            SshTarget {
                user: None,
                host: "h".into(),
                port: Some(2222)
            }
        );
        assert_eq!(parse_target("u@[::1]:22").unwrap().host, "::1");
        assert!(parse_target("u@").is_err());
    }
}
