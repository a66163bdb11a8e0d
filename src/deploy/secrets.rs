//! Secrets (seed 003 §8): `.env.production` on the host, mode 0600, owned by
//! the app user. berth reads only the names set there, takes missing values
//! from `--secrets-file`, the environment (`BERTH_SECRET_<NAME>` or `NAME`)
//! or a no-echo prompt, and appends them; existing values are never
//! overwritten by a deploy (`berth env ENV set` is the one way to change
//! one). Values travel on stdin only, never in a command line, a log or a diff.

use std::collections::BTreeMap;

/// `NAME=value` lines (`#` comments, blank lines, optional `export `, values
/// optionally in single or double quotes).
pub(crate) fn parse_file(text: &str, origin: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("{origin}:{}: expected NAME=value", i + 1));
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!(
                "{origin}:{}: `{name}` is not a variable name (use A-Z, 0-9 and _)",
                i + 1
            ));
        }
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            &value[1..value.len() - 1]
        } else {
            value
        };
        out.insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where missing values come from, in order.
pub(crate) struct Sources<'a> {
    pub(crate) file: BTreeMap<String, String>,
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    /// A no-echo prompt, when a terminal is attached.
    pub(crate) prompt: Option<&'a dyn Fn(&str) -> Result<String, String>>,
}

/// Values for every `missing` name, or the names nothing could provide.
pub(crate) fn resolve(
    missing: &[String],
    sources: &Sources,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut values = BTreeMap::new();
    let mut unresolved = Vec::new();
    for name in missing {
        let found = sources
            .file
            .get(name)
            .cloned()
            .or_else(|| (sources.env)(&format!("BERTH_SECRET_{name}")))
            .or_else(|| (sources.env)(name))
            .filter(|v| !v.is_empty());
        match found {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None => unresolved.push(name.clone()),
        }
    }
    if let Some(prompt) = sources.prompt {
        let mut still = Vec::new();
        for name in unresolved {
            match prompt(&name) {
                Ok(v) if !v.is_empty() => {
                    values.insert(name, v);
                }
                _ => still.push(name),
            }
        }
        unresolved = still;
    }
    if unresolved.is_empty() {
        Ok(values)
    } else {
        Err(unresolved)
    }
}

/// The `.env.production` line for a value: double-quoted with `\` and `"`
/// escaped (systemd's EnvironmentFile syntax). Newlines are refused.
pub(crate) fn env_line(name: &str, value: &str) -> Result<String, String> {
    if value.contains('\n') || value.contains('\r') || value.contains('\0') {
        return Err(format!(
            "the value of {name} has a line break; .env.production holds one line per variable"
        ));
    }
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$");
    Ok(format!("{name}=\"{escaped}\""))
}

/// Names set (non-empty) in the host's `.env.production`; never values.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_file_syntax() {
        let m = parse_file(
            "# comment\nexport JWT_SECRET='s3 cret'\nAPI_KEY=\"k\"\nPLAIN=a=b\n\n",
            "s.env",
        )
        .unwrap();
        assert_eq!(m["JWT_SECRET"], "s3 cret");
        assert_eq!(m["API_KEY"], "k");
        assert_eq!(m["PLAIN"], "a=b");
        assert!(parse_file("nope\n", "s.env")
            .unwrap_err()
            .contains("s.env:1"));
        assert!(parse_file("1X=2\n", "s.env").is_err());
    }

    #[test]
    fn resolution_order_and_missing_names() {
        let file: BTreeMap<String, String> = [("A".to_string(), "from-file".to_string())].into();
        let env = |k: &str| match k {
            "A" | "BERTH_SECRET_B" => Some(format!("env-{k}")),
            "B" => Some("plain-b".into()),
            "C" => Some("plain-c".into()),
            _ => None,
        };
        let s = Sources {
            file,
            env: &env,
            prompt: None,
        };
        let names: Vec<String> = ["A", "B", "C", "D", "E"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(resolve(&names, &s).unwrap_err(), vec!["D", "E"]);
        let got = resolve(&names[..3], &s).unwrap();
        assert_eq!(got["A"], "from-file");
        assert_eq!(got["B"], "env-BERTH_SECRET_B");
        assert_eq!(got["C"], "plain-c");
        let prompt = |n: &str| {
            if n == "D" {
                Ok("typed".to_string())
            } else {
                Ok(String::new())
            }
        };
        let s = Sources {
            file: BTreeMap::new(),
            env: &|_| None,
            prompt: Some(&prompt),
        };
        assert_eq!(resolve(&names[3..], &s).unwrap_err(), vec!["E"]);
    }
}
