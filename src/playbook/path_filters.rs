//! Ansible's path filters beyond `basename`/`dirname`/`realpath`/...:
//! `commonpath`, `expandvars`, `fileglob` and `normpath` (POSIX paths, as
//! `os.path` on the controller reads them) and `win_basename`,
//! `win_dirname`, `win_splitdrive` (Windows paths, as `ntpath` reads them).

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, Value};

use crate::playbook::filters::{defined, fail, py_normpath};
use crate::playbook::templar::py_type;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("commonpath", commonpath);
    env.add_filter("expandvars", |v: Value| -> Result<String, Error> {
        Ok(expandvars(&path_arg(&v)?, |name| std::env::var(name).ok()))
    });
    env.add_filter("fileglob", |v: Value| -> Result<Value, Error> {
        fileglob(&path_arg(&v)?)
    });
    env.add_filter("normpath", |v: Value| -> Result<String, Error> {
        Ok(py_normpath(&path_arg(&v)?))
    });
    env.add_filter("win_basename", |v: Value| -> Result<String, Error> {
        Ok(nt_split(&path_arg(&v)?).1)
    });
    env.add_filter("win_dirname", |v: Value| -> Result<String, Error> {
        Ok(nt_split(&path_arg(&v)?).0)
    });
    env.add_filter("win_splitdrive", |v: Value| -> Result<Value, Error> {
        let p = path_arg(&v)?;
        let (drive, rest) = nt_splitdrive(&p);
        Ok(Value::from(vec![drive.to_string(), rest.to_string()]))
    });
}

/// A path argument: text, as `os.fspath` takes it.
fn path_arg(v: &Value) -> Result<String, Error> {
    defined(v)?;
    match v.as_str() {
        Some(s) => Ok(s.to_string()),
        None => Err(fail(format!(
            "expected str, bytes or os.PathLike object, not {}",
            py_type(v)
        ))),
    }
}

/// `os.path.commonpath`: the longest common sub-path of the paths, all
/// absolute or all relative.
pub(crate) fn py_commonpath(paths: &[String]) -> Result<String, String> {
    if paths.is_empty() {
        return Err("commonpath() arg is an empty sequence".into());
    }
    let isabs = paths[0].starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != isabs) {
        return Err("Can't mix absolute and relative paths".into());
    }
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect()
        })
        .collect();
    let s1 = split.iter().min().expect("not empty");
    let s2 = split.iter().max().expect("not empty");
    let n = s1.iter().zip(s2).take_while(|(a, b)| a == b).count();
    let prefix = if isabs { "/" } else { "" };
    Ok(format!("{prefix}{}", s1[..n].join("/")))
}

/// Ansible's `commonpath`: a list of paths in, their common path out.
fn commonpath(v: Value) -> Result<String, Error> {
    defined(&v)?;
    if !matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(fail(format!(
            "|commonpath expects sequence, got <class '{}'> instead.",
            py_type(&v)
        )));
    }
    let paths: Vec<String> = v
        .try_iter()?
        .map(|p| path_arg(&p))
        .collect::<Result<_, _>>()?;
    py_commonpath(&paths).map_err(fail)
}

/// `os.path.expanduser`: `~` is $HOME, `~user` that user's home folder
/// (getpwnam); an unknown user, or no tilde, leaves the path as it is.
pub(crate) fn expanduser(path: &str) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return path.to_string();
    };
    let (user, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let home = if user.is_empty() {
        std::env::var("HOME").ok().or_else(home_of_uid)
    } else {
        home_of(user)
    };
    match home {
        // Python strips a trailing slash from the home before joining.
        Some(h) => {
            let h = h.trim_end_matches('/');
            if h.is_empty() && tail.is_empty() {
                "/".to_string()
            } else {
                format!("{h}{tail}")
            }
        }
        None => path.to_string(),
    }
}

/// A local user's home folder (getpwnam).
fn home_of(user: &str) -> Option<String> {
    let c = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam returns NULL or a pointer to static storage valid
    // until the next call; pw_dir copies out at once.
    unsafe { pw_dir(libc::getpwnam(c.as_ptr())) }
}

/// The running user's home folder when HOME is unset (getpwuid).
fn home_of_uid() -> Option<String> {
    // SAFETY: as in home_of.
    unsafe { pw_dir(libc::getpwuid(libc::getuid())) }
}

/// The home folder of a passwd entry, copied out.
///
/// # Safety
/// `pw` is NULL or points to a valid passwd entry.
unsafe fn pw_dir(pw: *const libc::passwd) -> Option<String> {
    if pw.is_null() || (*pw).pw_dir.is_null() {
        return None;
    }
    Some(
        std::ffi::CStr::from_ptr((*pw).pw_dir)
            .to_string_lossy()
            .into_owned(),
    )
}

/// `os.path.expandvars`: `$name` and `${name}` replaced by the variable's
/// value where it is set; unset ones, and a `$` before anything else, stay.
pub(crate) fn expandvars(path: &str, env: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (used, env(name)) {
            (n, Some(value)) if n > 0 => {
                out.push_str(&value);
                rest = &after[used..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Ansible's `fileglob`: the regular files matching a pattern on the
/// controller, relative ones from the current directory. Python's `glob`
/// leaves hidden files to patterns that start with a dot; berth sorts the
/// matches where Python lists them in directory order.
fn fileglob(pattern: &str) -> Result<Value, Error> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let wild: Vec<bool> = pattern
        .split('/')
        .map(|c| c.contains(['*', '?', '[']) && !c.starts_with('.'))
        .collect();
    // Python's glob: a wildcard never matches a name's leading dot.
    let visible = |p: &std::path::Path| {
        let s = p.to_string_lossy();
        let parts: Vec<&str> = s.split('/').collect();
        parts.len() != wild.len()
            || parts
                .iter()
                .zip(&wild)
                .all(|(part, w)| !*w || !part.starts_with('.'))
    };
    let mut found: Vec<String> = match glob::glob_with(pattern, opts) {
        Ok(paths) => paths
            .flatten()
            .filter(|p| p.is_file() && visible(p))
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        // Python's glob treats a pattern it cannot read as matching nothing.
        Err(_) => Vec::new(),
    };
    found.sort();
    Ok(Value::from(found))
}

/// `ntpath.splitdrive`: a drive letter (`C:`) or UNC share
/// (`\\server\share`) and the rest of the path.
pub(crate) fn nt_splitdrive(p: &str) -> (&str, &str) {
    if p.chars().count() < 2 {
        return ("", p);
    }
    let normp = p.replace('/', "\\");
    if normp.starts_with("\\\\") {
        let start = if normp
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("\\\\?\\UNC\\"))
        {
            8
        } else {
            2
        };
        let Some(index) = normp[start..].find('\\').map(|i| i + start) else {
            return (p, "");
        };
        let Some(index2) = normp[index + 1..].find('\\').map(|i| i + index + 1) else {
            return (p, "");
        };
        return (&p[..index2], &p[index2..]);
    }
    let mut chars = p.char_indices();
    chars.next();
    match chars.next() {
        Some((i, ':')) => (&p[..i + 1], &p[i + 1..]),
        _ => ("", p),
    }
}

/// `ntpath.split`: (drive + head, tail), either separator, the head's
/// trailing separators dropped unless it is all separators.
pub(crate) fn nt_split(p: &str) -> (String, String) {
    let (drive, rest) = nt_splitdrive(p);
    let cut = rest.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let (head, tail) = rest.split_at(cut);
    let trimmed = head.trim_end_matches(['/', '\\']);
    let head = if trimmed.is_empty() { head } else { trimmed };
    (format!("{drive}{head}"), tail.to_string())
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    /// (expression, expected) — each rendered by ansible-core 2.19.
    fn check(table: &[(&str, Value)]) {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        for (expr, want) in table {
            let got = t
                .render_str(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(&got, want, "{expr}");
        }
    }

    fn check_err(table: &[(&str, &str)]) {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        for (expr, want) in table {
            let err = t.render_str(expr, &c).expect_err(expr);
            assert_eq!(err.message, *want, "{expr}");
        }
    }

    #[test]
    fn posix_paths_as_os_path() {
        check(&[
            ("{{ ['/a/b/c', '/a/b/d'] | commonpath }}", json!("/a/b")),
            ("{{ ['/a/b/c', '/a/bc'] | commonpath }}", json!("/a")),
            ("{{ ['a/./b', 'a/b/c'] | commonpath }}", json!("a/b")),
            ("{{ ['/x', '/y'] | commonpath }}", json!("/")),
            ("{{ ['//a//b/', '/a/b'] | commonpath }}", json!("/a/b")),
            ("{{ '/a/./b/../c//d/' | normpath }}", json!("/a/c/d")),
            ("{{ '' | normpath }}", json!(".")),
            ("{{ '//a' | normpath }}", json!("//a")),
            ("{{ '../a/..' | normpath }}", json!("..")),
        ]);
        check_err(&[
            (
                "{{ [] | commonpath }}",
                "commonpath() arg is an empty sequence",
            ),
            (
                "{{ ['/a', 'b'] | commonpath }}",
                "Can't mix absolute and relative paths",
            ),
            (
                "{{ '/a' | commonpath }}",
                "|commonpath expects sequence, got <class 'str'> instead.",
            ),
            (
                "{{ 1 | normpath }}",
                "expected str, bytes or os.PathLike object, not int",
            ),
        ]);
    }

    #[test]
    fn expandvars_replaces_set_variables_only() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/u".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        for (input, want) in [
            ("$HOME/x", "/home/u/x"),
            ("${HOME}x", "/home/ux"),
            ("$NOPE/x", "$NOPE/x"),
            ("${NOPE}", "${NOPE}"),
            ("a$", "a$"),
            ("$ $E.", "$ ."),
            ("${", "${"),
            ("$HOME$HOME", "/home/u/home/u"),
            ("${HOME", "${HOME"),
        ] {
            assert_eq!(super::expandvars(input, env), want, "{input}");
        }
        std::env::set_var("BERTH_EXPANDVARS_PROBE", "v");
        check(&[(
            "{{ '${BERTH_EXPANDVARS_PROBE}/$BERTH_EXPANDVARS_PROBE' | expandvars }}",
            json!("v/v"),
        )]);
    }

    #[test]
    fn fileglob_lists_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.txt", "a.txt", ".hidden.txt", "c.log"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.txt")).unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        check(&[
            (
                &format!("{{{{ '{root}/*.txt' | fileglob | map('basename') | list }}}}"),
                json!(["a.txt", "b.txt"]),
            ),
            (
                &format!("{{{{ '{root}/.*.txt' | fileglob | map('basename') | list }}}}"),
                json!([".hidden.txt"]),
            ),
            (&format!("{{{{ '{root}/*.none' | fileglob }}}}"), json!([])),
        ]);
    }

    #[test]
    fn windows_paths_as_ntpath() {
        check(&[
            ("{{ 'C:/a/b.txt' | win_basename }}", json!("b.txt")),
            ("{{ 'C:/a/b.txt' | win_dirname }}", json!("C:/a")),
            (
                "{{ 'C:/a/b.txt' | win_splitdrive }}",
                json!(["C:", "/a/b.txt"]),
            ),
            ("{{ 'C:b' | win_splitdrive }}", json!(["C:", "b"])),
            ("{{ 'C:/' | win_dirname }}", json!("C:/")),
            ("{{ 'C:/x//' | win_dirname }}", json!("C:/x")),
            (
                "{{ '//host/share/dir/f' | win_splitdrive }}",
                json!(["//host/share", "/dir/f"]),
            ),
            (
                "{{ '//host/share/dir/f' | win_dirname }}",
                json!("//host/share/dir"),
            ),
            ("{{ '//host' | win_splitdrive }}", json!(["//host", ""])),
            ("{{ 'file' | win_basename }}", json!("file")),
            ("{{ 'file' | win_dirname }}", json!("")),
            ("{{ 'a' | win_splitdrive }}", json!(["", "a"])),
        ]);
        // Backslashes as written in a template file.
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        assert_eq!(
            t.render_text("{{ 'C:\\\\Users\\\\me\\\\x.txt' | win_basename }}", &c)
                .unwrap(),
            "x.txt"
        );
    }
}
