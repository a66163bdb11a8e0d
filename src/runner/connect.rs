//! Opening a host's connection from its variables (`ansible_host`,
//! `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`,
//! `ansible_connection`) and the command-line options.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::options::RunOptions;
use crate::connection::known_hosts::HostKeyChecking;
use crate::connection::local::LocalConnection;
use crate::connection::ssh::{SshConnection, SshOptions};
use crate::connection::{ConnError, Connection};

/// How to reach a host, resolved from its (templated) variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Local,
    Ssh {
        host: String,
        port: u16,
        user: String,
        key: Option<PathBuf>,
        /// From `-o UserKnownHostsFile=` in ansible_ssh_common_args / ansible_ssh_extra_args.
        known_hosts: Option<PathBuf>,
        /// From `-o StrictHostKeyChecking=` there.
        host_key_checking: Option<HostKeyChecking>,
    },
}

/// Read the OpenSSH `-o` options berth honours from ansible_ssh_common_args/extra_args.
fn ssh_arg_options(args: &str) -> (Option<PathBuf>, Option<HostKeyChecking>) {
    let words = shell_words::split(args).unwrap_or_default();
    let mut known = None;
    let mut check = None;
    let mut i = 0;
    while i < words.len() {
        let opt = if words[i] == "-o" {
            i += 1;
            words.get(i).cloned()
        } else {
            words[i].strip_prefix("-o").map(str::to_string)
        };
        if let Some(opt) = opt {
            let (k, v) = opt
                .split_once('=')
                .or_else(|| opt.split_once(' '))
                .unwrap_or((&opt, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "userknownhostsfile" => {
                    known = v
                        .split_whitespace()
                        .next()
                        .map(|p| PathBuf::from(expand_home(p)))
                }
                "stricthostkeychecking" => {
                    check = match v.trim().to_ascii_lowercase().as_str() {
                        "yes" => Some(HostKeyChecking::Strict),
                        "accept-new" => Some(HostKeyChecking::AcceptNew),
                        "no" | "off" => Some(HostKeyChecking::Off),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    (known, check)
}

fn var_str(vars: &dyn Fn(&str) -> Option<Value>, key: &str) -> Option<String> {
    match vars(key)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Resolve the target of `inventory_hostname` from a variable getter.
pub(crate) fn resolve(
    name: &str,
    vars: &dyn Fn(&str) -> Option<Value>,
    opts: &RunOptions,
    remote_user: Option<&str>,
) -> Result<Target, String> {
    let connection = var_str(vars, "ansible_connection").unwrap_or_else(|| "ssh".into());
    match connection.as_str() {
        "local" => return Ok(Target::Local),
        "ssh" | "smart" | "paramiko" | "ansible.builtin.ssh" => {}
        other => {
            return Err(format!(
                "connection type `{other}` is not supported by berth (use ssh or local)"
            ))
        }
    }
    let host = var_str(vars, "ansible_host")
        .or_else(|| var_str(vars, "ansible_ssh_host"))
        .unwrap_or_else(|| name.to_string());
    let port = match var_str(vars, "ansible_port").or_else(|| var_str(vars, "ansible_ssh_port")) {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("ansible_port `{p}` is not a port number"))?,
        None => 22,
    };
    // Command-line values are Ansible's lowest precedence: ansible_user wins
    // over the remote_user keyword, which wins over -u.
    let user = var_str(vars, "ansible_user")
        .or_else(|| var_str(vars, "ansible_ssh_user"))
        .or_else(|| remote_user.map(str::to_string))
        .or_else(|| opts.user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let key = var_str(vars, "ansible_ssh_private_key_file")
        .or_else(|| var_str(vars, "ansible_private_key_file"))
        .map(|k| PathBuf::from(expand_home(&k)))
        .or_else(|| opts.private_key.clone());
    let mut known_hosts = None;
    let mut host_key_checking = None;
    for k in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(a) = var_str(vars, k) {
            let (kh, hc) = ssh_arg_options(&a);
            known_hosts = kh.or(known_hosts);
            host_key_checking = hc.or(host_key_checking);
        }
    }
    Ok(Target::Ssh {
        host,
        port,
        user,
        key,
        known_hosts,
        host_key_checking,
    })
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => p.to_string(),
    }
}

/// Open a connection to the target.
pub(crate) fn open(target: &Target, opts: &RunOptions) -> Result<Box<dyn Connection>, ConnError> {
    match target {
        Target::Local => Ok(Box::new(LocalConnection::new())),
        Target::Ssh {
            host,
            port,
            user,
            key,
            known_hosts,
            host_key_checking,
        } => {
            let mut o = SshOptions::new(host, *port, user);
            o.private_key = key.clone();
            // The command line wins over inventory, like ansible-playbook's --ssh-common-args.
            if let Some(k) = opts.known_hosts.as_ref().or(known_hosts.as_ref()) {
                o.known_hosts = k.clone();
            }
            o.host_key_checking = if opts.host_key_checking_explicit {
                opts.host_key_checking
            } else {
                host_key_checking.unwrap_or(opts.host_key_checking)
            };
            o.connect_timeout = Duration::from_secs(opts.timeout);
            Ok(Box::new(SshConnection::connect(&o)?))
        }
    }
}

pub(crate) fn parse_host_key_checking(s: &str) -> Result<HostKeyChecking, String> {
    match s {
        "strict" | "yes" | "true" => Ok(HostKeyChecking::Strict),
        "accept-new" | "accept_new" => Ok(HostKeyChecking::AcceptNew),
        "off" | "no" | "false" => Ok(HostKeyChecking::Off),
        other => Err(format!(
            "--host-key-checking must be strict, accept-new or off, not `{other}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_hosts_options_from_ssh_args() {
        let (k, c) = ssh_arg_options("-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes");
        assert_eq!(k, Some(PathBuf::from("/tmp/kh")));
        assert_eq!(c, Some(HostKeyChecking::Strict));
        let (k, c) = ssh_arg_options("-oStrictHostKeyChecking=no");
        assert_eq!(k, None);
        assert_eq!(c, Some(HostKeyChecking::Off));
    }
}
