//! File modes as Ansible accepts them: a YAML int (the loader already read
//! `0644` as 420, so the int is the numeric mode), an octal string (`"0644"`,
//! `"644"`), or a symbolic string (`"u=rw,g=r,o=r"`, `"u+x,go-w"`, `"a+X"`).
//! Symbolic modes are resolved against the file's current mode so a module
//! can tell whether anything would change before it touches the host.

use serde_json::Value;

/// A parsed `mode:` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileMode {
    Numeric(u32),
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause of a symbolic mode (`ug+rx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    who: u32,
    ops: Vec<(char, Perms)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perms {
    Bits(String),
    CopyFrom(char),
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl FileMode {
    /// Parse a `mode` argument value; the error is Ansible's wording.
    pub(crate) fn parse(value: &Value) -> Result<FileMode, String> {
        match value {
            Value::Number(n) => match n.as_u64() {
                Some(m) if m <= 0o7777 => Ok(FileMode::Numeric(m as u32)),
                _ => Err(format!("mode must be in octal or symbolic form: {n}")),
            },
            Value::String(s) => FileMode::parse_str(s),
            other => Err(format!(
                "mode must be in octal or symbolic form, got a {}",
                crate::modules::args::type_name(other)
            )),
        }
    }

    pub(crate) fn parse_str(s: &str) -> Result<FileMode, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("mode must be in octal or symbolic form: ''".into());
        }
        if t.chars().all(|c| c.is_ascii_digit()) {
            return u32::from_str_radix(t, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(FileMode::Numeric)
                .ok_or_else(|| format!("mode must be in octal or symbolic form: {t}"));
        }
        let bad = || {
            format!(
                "bad symbolic permission for mode: {t}. mode must be in octal or symbolic form, e.g. 0644 or u=rw,g=r,o=r"
            )
        };
        let mut clauses = Vec::new();
        for part in t.split(',') {
            let who_end = part.find(|c: char| !"ugoa".contains(c)).ok_or_else(bad)?;
            let who_str = &part[..who_end];
            // `a` stands alone, as in Ansible.
            if who_str.contains('a') && who_str != "a" {
                return Err(bad());
            }
            let mut who = 0;
            for c in who_str.chars() {
                who |= match c {
                    'u' => USER,
                    'g' => GROUP,
                    'o' => OTHER,
                    _ => USER | GROUP | OTHER,
                };
            }
            if who == 0 {
                who = USER | GROUP | OTHER;
            }
            let mut rest = &part[who_end..];
            let mut ops = Vec::new();
            if rest.is_empty() {
                return Err(bad());
            }
            while let Some(op) = rest.chars().next() {
                if !"+-=".contains(op) {
                    return Err(bad());
                }
                rest = &rest[1..];
                let end = rest.find(|c: char| "+-=".contains(c)).unwrap_or(rest.len());
                let perms = &rest[..end];
                rest = &rest[end..];
                let p = if perms.len() == 1 && "ugo".contains(perms) {
                    Perms::CopyFrom(perms.chars().next().unwrap_or('u'))
                } else if perms.chars().all(|c| "rwxXst".contains(c)) {
                    Perms::Bits(perms.to_string())
                } else {
                    return Err(bad());
                };
                ops.push((op, p));
            }
            clauses.push(Clause { who, ops });
        }
        Ok(FileMode::Symbolic(clauses))
    }

    /// The argument for `chmod` that has the same effect as `resolve` on
    /// every path (an empty `who` is spelled `a`, so chmod ignores umask).
    pub(crate) fn chmod_arg(&self) -> String {
        match self {
            FileMode::Numeric(m) => format!("{m:o}"),
            FileMode::Symbolic(clauses) => clauses
                .iter()
                .map(|c| {
                    let mut who = String::new();
                    for (bit, ch) in [(USER, 'u'), (GROUP, 'g'), (OTHER, 'o')] {
                        if c.who & bit == bit {
                            who.push(ch);
                        }
                    }
                    let ops: String = c
                        .ops
                        .iter()
                        .map(|(op, p)| match p {
                            Perms::Bits(b) => format!("{op}{b}"),
                            Perms::CopyFrom(f) => format!("{op}{f}"),
                        })
                        .collect();
                    format!("{who}{ops}")
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The permission bits (0o7777) the path gets, given its current bits.
    pub(crate) fn resolve(&self, current: u32, is_dir: bool) -> u32 {
        let current = current & 0o7777;
        match self {
            FileMode::Numeric(m) => *m,
            FileMode::Symbolic(clauses) => {
                let mut mode = current;
                for clause in clauses {
                    for (op, perms) in &clause.ops {
                        let bits = match perms {
                            Perms::Bits(p) => bits_for(p, clause.who, mode, is_dir),
                            Perms::CopyFrom(src) => {
                                let (shift, mask) = match src {
                                    'u' => (6, 0o700),
                                    'g' => (3, 0o070),
                                    _ => (0, 0o007),
                                };
                                let rwx = (mode & mask) >> shift;
                                (rwx << 6 | rwx << 3 | rwx) & clause.who & 0o777
                            }
                        };
                        mode = match op {
                            '+' => mode | bits,
                            '-' => mode & !bits,
                            _ => (mode & !(clause.who & 0o7777)) | bits,
                        };
                    }
                }
                mode
            }
        }
    }
}

fn bits_for(perms: &str, who: u32, mode: u32, is_dir: bool) -> u32 {
    let mut rwx = 0;
    let mut special = 0;
    for c in perms.chars() {
        match c {
            'r' => rwx |= 0o4,
            'w' => rwx |= 0o2,
            'x' => rwx |= 0o1,
            'X' if is_dir || mode & 0o111 != 0 => rwx |= 0o1,
            's' => special |= 0o6000,
            't' => special |= 0o1000,
            _ => {}
        }
    }
    ((rwx << 6 | rwx << 3 | rwx) | special) & who
}

/// How stat and find spell a mode (`'%04o' % S_IMODE(mode)`): `"0644"`, `"4755"`.
pub(crate) fn format_mode(bits: u32) -> String {
    format!("{:04o}", bits & 0o7777)
}

/// How AnsibleModule's add_path_info (file, copy, template results) spells
/// it (`'0%03o'`): `"0644"`, `"01444"`.
pub(crate) fn path_info_mode(bits: u32) -> String {
    format!("0{:03o}", bits & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_forms() {
        assert_eq!(
            FileMode::parse(&json!(420)).unwrap(),
            FileMode::Numeric(0o644)
        );
        assert_eq!(
            FileMode::parse(&json!("0644")).unwrap(),
            FileMode::Numeric(0o644)
        );
        assert_eq!(
            FileMode::parse(&json!("755")).unwrap(),
            FileMode::Numeric(0o755)
        );
        assert_eq!(
            FileMode::parse(&json!("04755")).unwrap(),
            FileMode::Numeric(0o4755)
        );
        assert!(FileMode::parse(&json!("0999")).is_err());
        assert!(FileMode::parse(&json!(true)).is_err());
        assert_eq!(format_mode(0o644), "0644");
        assert_eq!(format_mode(0o100755), "0755");
        assert_eq!(format_mode(0o4755), "4755");
        assert_eq!(path_info_mode(0o1444), "01444");
        assert_eq!(path_info_mode(0o644), "0644");
    }

    #[test]
    fn symbolic_forms_resolve_like_chmod() {
        let cases: &[(&str, u32, bool, u32)] = &[
            ("u=rw,g=r,o=r", 0o777, false, 0o644),
            ("u+x", 0o644, false, 0o744),
            ("go-w", 0o666, false, 0o644),
            ("a+X", 0o644, false, 0o644),
            ("a+X", 0o744, false, 0o755),
            ("a+X", 0o700, true, 0o711),
            ("+x", 0o600, false, 0o711),
            ("u=rwx,g=rx,o=", 0o666, false, 0o750),
            ("g=u", 0o640, false, 0o660),
            ("u+s", 0o755, false, 0o4755),
            ("o+t", 0o777, true, 0o1777),
            ("u=rw-w+x", 0o000, false, 0o500),
        ];
        for (mode, cur, dir, want) in cases {
            let m = FileMode::parse_str(mode).unwrap();
            assert_eq!(m.resolve(*cur, *dir), *want, "{mode} on {cur:o}");
        }
        // chmod agrees with every case above.
        for (mode, cur, dir, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let p = tmp.path().join("x");
            if *dir {
                std::fs::create_dir(&p).unwrap();
            } else {
                std::fs::write(&p, b"").unwrap();
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*cur)).unwrap();
            let arg = FileMode::parse_str(mode).unwrap().chmod_arg();
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("umask 077; chmod {arg} \"$0\""))
                .arg(&p)
                .status()
                .unwrap();
            assert!(st.success());
            let got = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            assert_eq!(
                got, *want,
                "chmod {arg} (from {mode}) on {cur:o}, whatever the umask"
            );
        }
    }

    #[test]
    fn bad_symbolic_modes_fail() {
        for bad in ["u", "u*x", "z+x", "u+q", ""] {
            assert!(FileMode::parse_str(bad).is_err(), "{bad}");
        }
    }
}
