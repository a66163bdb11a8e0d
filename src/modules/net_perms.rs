//! Shell fragments shared by the network and archive modules: applying
//! `mode`/`owner`/`group` only when they differ, and reading a file's
//! attributes the way Ansible reports them.

use serde_json::{Map, Value};

use crate::modules::args::Args;
use crate::modules::quote;

/// The value of the `KEY\tVALUE` line a script printed.
pub(crate) fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('\t')))
}

/// Whether a script printed the line `KEY`.
pub(crate) fn has_line(out: &str, key: &str) -> bool {
    out.lines().any(|l| l == key)
}

/// `mode`, `owner`, `group` as given to a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NetPerms {
    pub(crate) mode: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
}

impl NetPerms {
    /// Read the file arguments; an integer mode is read like Ansible does
    /// (its octal digits), so YAML's `0644` (an int) means `644`.
    pub(crate) fn from_args(a: &Args<'_>) -> Result<NetPerms, String> {
        let mode = match a.get("mode") {
            None => None,
            Some(Value::Number(n)) => Some(format!(
                "{:o}",
                n.as_u64().ok_or("mode must be a non-negative integer")?
            )),
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(format!(
                    "argument 'mode' is of type {} and we were unable to convert to raw",
                    crate::modules::args::type_name(other)
                ))
            }
        };
        Ok(NetPerms {
            mode,
            owner: a.str("owner")?,
            group: a.str("group")?,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// Shell that brings the path in shell variable `$var` to these
    /// attributes (or, in check mode, only looks), setting `pc=1` when
    /// anything differs. Exits 3 with a message when a change fails.
    pub(crate) fn script(&self, var: &str, check: bool) -> String {
        let mut s = String::from("pc=${pc:-0}\n");
        let doit = if check { "false" } else { "true" };
        if let Some(owner) = &self.owner {
            s.push_str(&format!(
                "_o={o}; _c=$(stat -c '%U:%u' -- \"${var}\"); case \":$_c:\" in *\":$_o:\"*) ;; *) pc=1; if {doit}; then chown -h -- \"$_o\" \"${var}\" || {{ echo \"chown failed: $_o\" >&2; exit 3; }}; fi;; esac\n",
                o = quote(owner)
            ));
        }
        if let Some(group) = &self.group {
            s.push_str(&format!(
                "_g={g}; _c=$(stat -c '%G:%g' -- \"${var}\"); case \":$_c:\" in *\":$_g:\"*) ;; *) pc=1; if {doit}; then chgrp -h -- \"$_g\" \"${var}\" || {{ echo \"chgrp failed: $_g\" >&2; exit 3; }}; fi;; esac\n",
                g = quote(group)
            ));
        }
        if let Some(mode) = &self.mode {
            s.push_str(&format!(
                "_m={m}; if [ ! -L \"${var}\" ]; then _t=$(mktemp) && chmod \"$(stat -c %a -- \"${var}\")\" \"$_t\" && chmod \"$_m\" \"$_t\" || {{ rm -f \"$_t\"; echo \"bad mode: $_m\" >&2; exit 3; }}; \
if [ \"$(stat -c %a \"$_t\")\" != \"$(stat -c %a -- \"${var}\")\" ]; then pc=1; if {doit}; then chmod \"$_m\" -- \"${var}\" || {{ rm -f \"$_t\"; exit 3; }}; fi; fi; rm -f \"$_t\"; fi\n",
                m = quote(mode)
            ));
        }
        s
    }
}

/// The mode `spec` (octal like `0644`, or symbolic like `u=rwX,g-w`) gives
/// a file whose mode is `cur`, the way Ansible computes it.
pub(crate) fn apply_mode(spec: &str, cur: u32, is_dir: bool) -> Result<u32, String> {
    // Ansible's `details` for a mode it cannot read (its `msg` is
    // "mode must be in octal or symbolic form").
    let invalid = || format!("bad symbolic permission for mode: {spec}");
    if !spec.is_empty() && spec.chars().all(|c| c.is_digit(8)) {
        return u32::from_str_radix(spec, 8)
            .map_err(|_| invalid())
            .map(|m| m & 0o7777);
    }
    let mut mode = cur & 0o7777;
    for clause in spec.split(',') {
        let chars: Vec<char> = clause.chars().collect();
        let mut i = 0;
        let mut users = String::new();
        while i < chars.len() && "ugoa".contains(chars[i]) {
            users.push(chars[i]);
            i += 1;
        }
        // `a` stands alone (Ansible has no `a` among u, g and o).
        if users.contains('a') && users != "a" {
            return Err(invalid());
        }
        if users.is_empty() || users == "a" {
            users = "ugo".into();
        }
        if i >= chars.len() {
            return Err(invalid());
        }
        while i < chars.len() {
            let op = chars[i];
            if !"+-=".contains(op) {
                return Err(invalid());
            }
            i += 1;
            let start = i;
            while i < chars.len() && !"+-=".contains(chars[i]) {
                i += 1;
            }
            let perms: Vec<char> = chars[start..i].to_vec();
            let before = mode;
            for u in users.chars() {
                let (shift, special_bit) = match u {
                    'u' => (6, 0o4000),
                    'g' => (3, 0o2000),
                    _ => (0, 0o1000),
                };
                let mut bits = 0u32;
                let mut special = 0u32;
                for p in &perms {
                    match p {
                        'r' => bits |= 4,
                        'w' => bits |= 2,
                        'x' => bits |= 1,
                        'X' if is_dir || before & 0o111 != 0 => bits |= 1,
                        'X' => {}
                        's' if u != 'o' => special |= special_bit,
                        't' if u == 'o' => special |= special_bit,
                        's' | 't' => {}
                        'u' => bits |= (before >> 6) & 7,
                        'g' => bits |= (before >> 3) & 7,
                        'o' => bits |= before & 7,
                        _ => return Err(invalid()),
                    }
                }
                let value = (bits << shift) | special;
                match op {
                    '+' => mode |= value,
                    '-' => mode &= !value,
                    _ => mode = (mode & !((7 << shift) | special_bit)) | value,
                }
            }
        }
    }
    Ok(mode)
}

/// Shell printing one line `STAT\t<size>\t<mode>\t<uid>\t<owner>\t<gid>\t<group>\t<type>`
/// for the path in `$var`.
pub(crate) fn stat_script(var: &str) -> String {
    format!("stat -c 'STAT\t%s\t%a\t%u\t%U\t%g\t%G\t%F' -- \"${var}\" 2>/dev/null\n")
}

/// Parse the line printed by `stat_script` into Ansible's file result keys.
pub(crate) fn parse_stat(out: &str) -> Option<Map<String, Value>> {
    let line = out.lines().find(|l| l.starts_with("STAT\t"))?;
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 7 {
        return None;
    }
    let mut m = Map::new();
    m.insert("size".into(), Value::from(f[1].parse::<u64>().ok()?));
    m.insert("mode".into(), Value::from(format!("{:0>4}", f[2])));
    m.insert("uid".into(), Value::from(f[3].parse::<u64>().ok()?));
    m.insert("owner".into(), Value::from(f[4]));
    m.insert("gid".into(), Value::from(f[5].parse::<u64>().ok()?));
    m.insert("group".into(), Value::from(f[6]));
    let state = match f.get(7).copied().unwrap_or("regular file") {
        "directory" => "directory",
        "symbolic link" => "link",
        _ => "file",
    };
    m.insert("state".into(), Value::from(state));
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::local::LocalConnection;
    use crate::connection::Connection;
    use serde_json::json;

    #[test]
    fn symbolic_modes_like_chmod() {
        // (spec, current, is_dir, expected)
        let cases = [
            ("0644", 0o755, false, 0o644),
            ("u=rwX,g=rX,o=", 0o666, false, 0o640),
            ("u=rwX,g=rX,o=", 0o644, true, 0o750),
            ("u=rwX,g=rX,o=", 0o744, false, 0o750),
            ("g-w,o-rwx", 0o777, false, 0o750),
            ("a+x", 0o644, false, 0o755),
            ("+x", 0o600, false, 0o711),
            ("u+s,g+s", 0o755, false, 0o6755),
            ("o+t", 0o777, true, 0o1777),
            ("go=u", 0o700, false, 0o777),
            ("u=rw,g=r,o=r", 0o4777, false, 0o644),
        ];
        for (spec, cur, dir, want) in cases {
            assert_eq!(apply_mode(spec, cur, dir), Ok(want), "{spec} on {cur:o}");
        }
        assert!(apply_mode("u", 0o644, false).is_err());
        assert!(apply_mode("u=rwq", 0o644, false).is_err());
        assert!(apply_mode("z+x", 0o644, false).is_err());
        // Ansible's words, and its refusal of `a` beside u, g or o.
        for bad in ["u=foo", "foo=r", "ufoo=r", "abc=r", "ao=r", "oa=r"] {
            assert_eq!(
                apply_mode(bad, 0o644, false),
                Err(format!("bad symbolic permission for mode: {bad}")),
                "{bad}"
            );
        }
    }

    #[test]
    fn mode_changes_only_when_different() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let mut c = LocalConnection::new();
        let args = json!({"mode": "0640"});
        let a = Args::new("t", args.as_object().unwrap());
        let perms = NetPerms::from_args(&a).unwrap();
        let run = |c: &mut LocalConnection, check: bool| {
            let script = format!(
                "p={}\n{}echo PC=$pc\n{}",
                quote(f.to_str().unwrap()),
                perms.script("p", check),
                stat_script("p")
            );
            c.exec(&script, None).unwrap().stdout_str()
        };
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        assert!(run(&mut c, true).contains("PC=1"));
        assert!(
            run(&mut c, true).contains("\t644\t"),
            "check mode changes nothing"
        );
        let out = run(&mut c, false);
        assert!(out.contains("PC=1"));
        assert_eq!(parse_stat(&out).unwrap()["mode"], "0640");
        assert!(run(&mut c, false).contains("PC=0"));
        let sym = json!({"mode": "u=rw,g=r,o="});
        let perms2 = NetPerms::from_args(&Args::new("t", sym.as_object().unwrap())).unwrap();
        let script = format!(
            "p={}\n{}echo PC=$pc\n",
            quote(f.to_str().unwrap()),
            perms2.script("p", false)
        );
        assert!(c.exec(&script, None).unwrap().stdout_str().contains("PC=0"));
        let int_mode = json!({"mode": 420});
        assert_eq!(
            NetPerms::from_args(&Args::new("t", int_mode.as_object().unwrap()))
                .unwrap()
                .mode
                .as_deref(),
            Some("644")
        );
    }
}
