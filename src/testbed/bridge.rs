//! The testbed's own bridge: one distinctive /24, the controller (and the
//! mirror) at .1, no NAT, no forwarding. Nothing else on the machine is
//! touched; `up` refuses when the subnet is already in use elsewhere.

use std::process::Command;

use super::process::run;
use super::{BRIDGE, CONTROLLER, SUBNET};

pub(crate) struct Bridge;

impl Bridge {
    pub(crate) fn exists() -> bool {
        std::path::Path::new("/sys/class/net").join(BRIDGE).exists()
    }

    /// Create the bridge with the controller address (idempotent).
    pub(crate) fn create() -> Result<(), String> {
        Bridge::check_subnet_free()?;
        if !Bridge::exists() {
            run(Command::new("ip").args(["link", "add", BRIDGE, "type", "bridge"]))?;
        }
        let addrs = run(Command::new("ip").args(["-o", "-4", "addr", "show", "dev", BRIDGE]))?;
        if !addrs.contains(&format!("inet {CONTROLLER}/24")) {
            run(Command::new("ip").args([
                "addr",
                "add",
                &format!("{CONTROLLER}/24"),
                "dev",
                BRIDGE,
            ]))?;
        }
        run(Command::new("ip").args(["link", "set", BRIDGE, "up"]))?;
        Ok(())
    }

    pub(crate) fn delete() -> Result<(), String> {
        if Bridge::exists() {
            run(Command::new("ip").args(["link", "del", BRIDGE]))?;
        }
        Ok(())
    }

    /// The subnet must not be on any other interface or route.
    fn check_subnet_free() -> Result<(), String> {
        let prefix = format!("{SUBNET}.");
        let addrs = run(Command::new("ip").args(["-o", "-4", "addr", "show"]))?;
        for line in addrs.lines() {
            let dev = line.split_whitespace().nth(1).unwrap_or_default();
            if dev != BRIDGE && line.contains(&format!("inet {prefix}")) {
                return Err(format!(
                    "the testbed subnet {SUBNET}.0/24 is already used by interface {dev}; berth will not touch it.\n  = help: free that subnet, or run the testbed on another machine"
                ));
            }
        }
        let routes = run(Command::new("ip").args(["-o", "-4", "route", "show", "table", "all"]))?;
        for line in routes.lines() {
            let dev = line
                .split_whitespace()
                .skip_while(|w| *w != "dev")
                .nth(1)
                .unwrap_or_default();
            let dst = line.split_whitespace().next().unwrap_or_default();
            let dst = dst.strip_prefix("local ").unwrap_or(dst);
            if dev != BRIDGE
                && (dst.starts_with(&prefix)
                    || line
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|d| d.starts_with(&prefix)))
            {
                return Err(format!(
                    "a route for {SUBNET}.0/24 already exists on {dev} (`{line}`); berth will not touch it.\n  = help: remove that route, or run the testbed on another machine"
                ));
            }
        }
        Ok(())
    }

    /// Pin (or unpin) a host's neighbour entry on the bridge. A partitioned
    /// host keeps a permanent entry so packets to it are silently lost and
    /// connections time out, as with a cut cable, instead of failing fast.
    pub(crate) fn pin_neighbour(addr: &str, mac: &str) -> Result<(), String> {
        run(Command::new("ip").args([
            "neigh",
            "replace",
            addr,
            "lladdr",
            mac,
            "dev",
            BRIDGE,
            "nud",
            "permanent",
        ]))
        .map(|_| ())
    }

    pub(crate) fn unpin_neighbour(addr: &str) {
        let _ = run(Command::new("ip").args(["neigh", "del", addr, "dev", BRIDGE]));
    }

    pub(crate) fn set_port(veth: &str, up: bool) -> Result<(), String> {
        run(Command::new("ip").args(["link", "set", "dev", veth, if up { "up" } else { "down" }]))
            .map(|_| ())
    }
}
