//! Validators for every value that reaches a server: names, domains, sizes,
//! durations, ports, SSH targets, paths. Each returns a reason on failure; the
//! caller attaches the code, span and hint. Nothing hostile passes: the
//! accepted alphabets exclude quotes, whitespace, `$`, `;`, backquotes and
//! control characters everywhere.

use super::model::SshTarget;

/// App and environment names: `[a-z0-9-]`, 1–40 characters, not starting with `-`.
pub(crate) fn name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 40 {
        return Err(format!("`{s}` must be 1 to 40 characters long"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("`{s}` must not start or end with `-`"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "`{s}` contains `{c}`; only lowercase letters, digits and `-` are allowed"
        ));
    }
    Ok(())
}

/// A hostname per RFC 1123 (labels of `[A-Za-z0-9-]`, 1–63 chars, no edge `-`, ≤ 253 in all).
pub(crate) fn hostname(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("a host name is 1 to 253 characters long".to_owned());
    }
    for label in s.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("label `{label}` must be 1 to 63 characters long"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` must not start or end with `-`"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("`{c}` is not allowed in a host name"));
        }
    }
    Ok(())
}

/// A public domain: an RFC 1123 name with at least two labels (or `localhost`), not all-numeric.
pub(crate) fn domain(s: &str) -> Result<(), String> {
    if s.contains("://") || s.contains('/') || s.contains(':') {
        return Err(format!(
            "`{s}` is not a bare domain (no scheme, port or path)"
        ));
    }
    hostname(s.strip_suffix('.').unwrap_or(s))?;
    if s != "localhost" && !s.contains('.') {
        return Err(format!("`{s}` needs at least two labels, like `myapp.com`"));
    }
    if s.split('.')
        .next_back()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "`{s}` looks like an IP address; Caddy needs a domain name"
        ));
    }
    Ok(())
}

/// `512mb`, `1gb`, `65536kb` → bytes (powers of 1024), 16 MiB to 1 TiB.
pub(crate) fn memory(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let digits: String = lower.chars().take_while(char::is_ascii_digit).collect();
    let unit = &lower[digits.len()..];
    let mult: u64 = match unit {
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        _ => return Err(format!("`{s}` needs a unit: kb, mb or gb")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` must start with a number"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    if !(16 << 20..=1 << 40).contains(&bytes) {
        return Err(format!("`{s}` is outside 16mb..1024gb"));
    }
    Ok(bytes)
}

/// `90s`, `30m`, `36h`, `7d`, `2w` → seconds.
pub(crate) fn duration(s: &str) -> Result<u64, String> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let mult: u64 = match &s[digits.len()..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("`{s}` needs a unit: s, m, h, d or w")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` must start with a number"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}` must be positive and reasonable"))
}

/// `25%` → 25, within `lo..=100`.
pub(crate) fn percent(s: &str, lo: u8) -> Result<u8, String> {
    let n = s
        .strip_suffix('%')
        .and_then(|d| d.parse::<u8>().ok())
        .ok_or_else(|| format!("`{s}` is not a percentage like \"25%\""))?;
    if n < lo || n > 100 {
        return Err(format!("`{s}` is outside {lo}%..100%"));
    }
    Ok(n)
}

pub(crate) fn port(n: i64) -> Result<u16, String> {
    u16::try_from(n)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("`{n}` is not a port (1-65535)"))
}

fn ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// `host`, `user@host`, `host:port`, `user@host:port`, `[v6]` / `[v6]:port`.
pub(crate) fn ssh_target(s: &str) -> Result<SshTarget, String> {
    let (user, rest) = match s.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, s),
    };
    if let Some(u) = user {
        let ok = u
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && u.len() <= 32
            && u.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            return Err(format!("user `{u}` must match [a-z_][a-z0-9_-]*"));
        }
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{rest}` has an unclosed `[`"))?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected `{p}` after `]`"))?,
            ),
        };
        (addr.to_owned(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    if !host.contains(':') && !ipv4(&host) {
        hostname(&host).map_err(|e| format!("host `{host}`: {e}"))?;
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("`{p}` is not a port (1-65535)"))?,
        ),
        None => None,
    };
    Ok(SshTarget {
        user: user.map(str::to_owned),
        host,
        port,
    })
}

/// `[A-Z_][A-Z0-9_]*`.
pub(crate) fn env_key(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// PostgreSQL identifiers berth creates: `[a-z_][a-z0-9_]*`, ≤ 63 bytes.
pub(crate) fn sql_ident(s: &str) -> Result<(), String> {
    let ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then_some(())
        .ok_or_else(|| format!("`{s}` must match [a-z_][a-z0-9_]* (63 characters at most)"))
}

fn safe_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+' | '@')
}

/// A relative path that stays inside its root: no leading `/`, no `..`, safe characters.
pub(crate) fn relative_path(s: &str) -> Result<String, String> {
    let trimmed = s.trim_start_matches("./");
    if trimmed.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if trimmed.starts_with('/') {
        return Err(format!("`{s}` is absolute"));
    }
    if trimmed.split('/').any(|c| c == "..") {
        return Err(format!("`{s}` leaves its directory through `..`"));
    }
    if let Some(c) = trimmed.chars().find(|&c| !safe_path_char(c)) {
        return Err(format!("`{c}` is not allowed in a path"));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
}

/// An absolute URL path such as `/healthz` or `/events/live`.
pub(crate) fn url_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!("`{s}` must start with `/`"));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| !(safe_path_char(c) || matches!(c, '~' | '%' | '*' | '?' | '=' | '&' | ':')))
    {
        return Err(format!("`{c}` is not allowed in a URL path"));
    }
    Ok(())
}

/// A git branch name (a safe subset of `git check-ref-format`).
pub(crate) fn branch(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.starts_with('-')
        || s.starts_with('/')
        || s.ends_with('/')
        || s.contains("..")
        || s.ends_with(".lock")
    {
        return Err(format!("`{s}` is not a valid branch name"));
    }
    if let Some(c) = s.chars().find(|&c| !safe_path_char(c)) {
        return Err(format!("`{c}` is not allowed in a branch name"));
    }
    Ok(())
}

/// An http(s) URL with a host, no whitespace, quotes or shell characters; `{version}` / `{arch}` allowed.
pub(crate) fn url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("`{s}` must start with https://"))?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    hostname(host).map_err(|e| format!("host `{host}`: {e}"))?;
    if let Some(c) = rest.chars().find(|&c| {
        !(safe_path_char(c) || matches!(c, '~' | '%' | '?' | '=' | '&' | ':' | '{' | '}'))
    }) {
        return Err(format!("`{c}` is not allowed in the URL"));
    }
    Ok(())
}

/// A CORS origin: `*` or `scheme://host[:port]`.
pub(crate) fn origin(s: &str) -> Result<(), String> {
    if s == "*" {
        return Ok(());
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("`{s}` must start with https:// or http://"))?;
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    hostname(host).map_err(|e| format!("`{s}`: {e}"))?;
    if let Some(p) = port {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{s}` has a bad port"))?;
    }
    Ok(())
}

/// One line of text without control characters (the local `build` command).
pub(crate) fn one_line(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("the command is empty".to_owned());
    }
    if s.chars().any(char::is_control) {
        return Err("control characters (including newlines) are not allowed".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_domains() {
        assert!(name("my-app2").is_ok());
        for bad in ["", "My", "a_b", "-a", "a;rm", "a b"] {
            assert!(name(bad).is_err(), "{bad}");
        }
        assert!(domain("myapp.com").is_ok());
        assert!(domain("a-b.c.example.org").is_ok());
        assert!(domain("localhost").is_ok());
        for bad in [
            "https://x.com",
            "x",
            "-a.com",
            "a..com",
            "a_b.com",
            "1.2.3.4",
            "x.com/",
            "x.com;ls",
        ] {
            assert!(domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_durations_percents() {
        assert_eq!(memory("512mb"), Ok(512 << 20));
        assert_eq!(memory("1GB"), Ok(1 << 30));
        assert!(memory("512").is_err() && memory("1mb").is_err() && memory("mb").is_err());
        assert_eq!(duration("7d"), Ok(604_800));
        assert_eq!(duration("36h"), Ok(129_600));
        assert!(duration("7").is_err() && duration("0h").is_err() && duration("1y").is_err());
        assert_eq!(percent("25%", 1), Ok(25));
        assert!(
            percent("0%", 1).is_err() && percent("101%", 0).is_err() && percent("5", 0).is_err()
        );
    }

    #[test]
    fn ssh_targets() {
        let t = ssh_target("deploy@203.0.113.10:2222").unwrap();
        assert_eq!(
            (t.user.as_deref(), t.host.as_str(), t.port),
            (Some("deploy"), "203.0.113.10", Some(2222))
        );
        assert_eq!(ssh_target("web-1").unwrap().host, "web-1");
        assert_eq!(ssh_target("root@[::1]:22").unwrap().host, "::1");
        for bad in [
            "root@",
            "a b",
            "root@h;ls",
            "$(id)@h",
            "h:0",
            "h:99999",
            "Root@h",
            "h:",
        ] {
            assert!(ssh_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_and_urls() {
        assert_eq!(relative_path("./data.db"), Ok("data.db".into()));
        for bad in ["/etc/passwd", "../x", "a/../../b", "a b", "a$b", ""] {
            assert!(relative_path(bad).is_err(), "{bad}");
        }
        assert!(
            url_path("/healthz").is_ok()
                && url_path("healthz").is_err()
                && url_path("/a b").is_err()
        );
        assert!(url(
            "https://github.com/oven-sh/bun/releases/latest/download/bun-linux-{arch}.zip"
        )
        .is_ok());
        assert!(url("ftp://x").is_err() && url("https://x.com/$(id)").is_err());
        assert!(
            origin("https://app.io:8443").is_ok()
                && origin("*").is_ok()
                && origin("https://a.io/path").is_err()
        );
        assert!(branch("release/1.2").is_ok() && branch("-x").is_err() && branch("a..b").is_err());
    }
}
