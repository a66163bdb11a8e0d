//! URLs as Python's `urllib.parse` reads them, for Ansible's `urlsplit`
//! and `urldecode` filters, its `uri`, `url` and `urn` tests, and the
//! masking of credentials in the `url` lookup's messages.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};

use crate::playbook::filters::{defined, fail, py_str_repr};
use crate::playbook::pyargs::{bind, str_arg};
use crate::playbook::templar::py_type;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("urlsplit", urlsplit_filter);
    env.add_filter("urldecode", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        match v.as_str() {
            Some(s) => Ok(unquote_plus(s)),
            None => Err(fail(format!(
                "'{}' object has no attribute 'replace'",
                py_type(&v)
            ))),
        }
    });
    env.add_test(
        "uri",
        |v: Value, schemes: Option<Value>| -> Result<bool, Error> { is_uri(&v, schemes.as_ref()) },
    );
    env.add_test(
        "url",
        |v: Value, schemes: Option<Value>| -> Result<bool, Error> {
            Ok(is_uri(&v, schemes.as_ref())?
                && v.as_str()
                    .and_then(|s| py_urlsplit(s).ok())
                    .is_some_and(|u| !u.netloc.is_empty() || u.scheme == "file"))
        },
    );
    env.add_test("urn", |v: Value| -> Result<bool, Error> {
        is_uri(&v, Some(&Value::from(vec!["urn"])))
    });
}

/// `urllib.parse.urlsplit`'s five parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SplitUrl {
    pub(crate) scheme: String,
    pub(crate) netloc: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) fragment: String,
}

fn scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+-.".contains(c)
}

/// Python's `urlsplit(url)`: leading controls and spaces dropped, tabs and
/// line breaks removed, an unbalanced or invalid `[host]` refused.
pub(crate) fn py_urlsplit(url: &str) -> Result<SplitUrl, String> {
    let url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut out = SplitUrl::default();
    let mut rest = url.as_str();
    if let Some(i) = rest.find(':') {
        let first = rest.chars().next().unwrap_or(' ');
        if i > 0 && first.is_ascii_alphabetic() && rest[..i].chars().all(scheme_char) {
            out.scheme = rest[..i].to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        out.netloc = after[..end].to_string();
        rest = &after[end..];
        let (open, close) = (out.netloc.contains('['), out.netloc.contains(']'));
        if open != close {
            return Err("Invalid IPv6 URL".into());
        }
        if open {
            let inner = out.netloc.split_once('[').map_or("", |(_, r)| r);
            let host = inner.split_once(']').map_or(inner, |(h, _)| h);
            check_bracketed_host(host)?;
        }
    }
    if let Some((before, frag)) = rest.split_once('#') {
        out.fragment = frag.to_string();
        rest = before;
    }
    if let Some((before, query)) = rest.split_once('?') {
        out.query = query.to_string();
        rest = before;
    }
    out.path = rest.to_string();
    Ok(out)
}

/// What Python accepts between brackets: an IPv6 address (with a zone) or
/// an IPvFuture literal.
fn check_bracketed_host(host: &str) -> Result<(), String> {
    if let Some(rest) = host.strip_prefix('v') {
        let valid = rest.split_once('.').is_some_and(|(hex, tail)| {
            !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) && !tail.is_empty()
        });
        return if valid {
            Ok(())
        } else {
            Err("IPvFuture address is invalid".into())
        };
    }
    let addr = host.split_once('%').map_or(host, |(a, _)| a);
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("An IPv4 address cannot be in brackets".into());
    }
    Err(format!(
        "{} does not appear to be an IPv4 or IPv6 address",
        py_str_repr(host)
    ))
}

impl SplitUrl {
    fn userinfo(&self) -> Option<&str> {
        self.netloc.rsplit_once('@').map(|(u, _)| u)
    }

    fn hostinfo(&self) -> (&str, Option<&str>) {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(self.netloc.as_str(), |(_, h)| h);
        let (host, port) = match hostinfo.split_once('[') {
            Some((_, bracketed)) => {
                let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (host, after.split_once(':').map_or("", |(_, p)| p))
            }
            None => hostinfo.split_once(':').unwrap_or((hostinfo, "")),
        };
        (host, Some(port).filter(|p| !p.is_empty()))
    }

    pub(crate) fn username(&self) -> Option<String> {
        self.userinfo()
            .map(|u| u.split_once(':').map_or(u, |(name, _)| name).to_string())
    }

    pub(crate) fn password(&self) -> Option<String> {
        self.userinfo()
            .and_then(|u| u.split_once(':'))
            .map(|(_, p)| p.to_string())
    }

    /// The host, lowercased (an IPv6 zone keeps its case).
    pub(crate) fn hostname(&self) -> Option<String> {
        let (host, _) = self.hostinfo();
        if host.is_empty() {
            return None;
        }
        Some(match host.split_once('%') {
            Some((h, zone)) => format!("{}%{zone}", h.to_lowercase()),
            None => host.to_lowercase(),
        })
    }

    /// The port as a number; a port that is not one is Python's error.
    pub(crate) fn port(&self) -> Result<Option<i64>, String> {
        let (_, port) = self.hostinfo();
        let Some(port) = port else { return Ok(None) };
        if !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "Port could not be cast to integer value as {}",
                py_str_repr(port)
            ));
        }
        match port.parse::<i64>() {
            Ok(p) if (0..=65535).contains(&p) => Ok(Some(p)),
            _ => Err("Port out of range 0-65535".into()),
        }
    }
}

/// Ansible's `urlsplit`: the URL's parts as a mapping, or the one part
/// named by `query`.
fn urlsplit_filter(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [query] = <[Option<Value>; 1]>::try_from(bind("urlsplit", &["query"], &args, &kwargs)?)
        .expect("one parameter");
    let query = match query {
        Some(q) => str_arg("urlsplit", "query", &q)?.unwrap_or_default(),
        None => String::new(),
    };
    let Some(s) = v.as_str() else {
        return Err(fail(format!(
            "urlsplit needs a string, got {}",
            py_type(&v)
        )));
    };
    let u = py_urlsplit(s).map_err(fail)?;
    let opt = |o: Option<String>| o.map_or(Value::from(()), Value::from);
    let port = match u.port().map_err(fail)? {
        Some(p) => Value::from(p),
        None => Value::from(()),
    };
    let parts: Vec<(&str, Value)> = vec![
        ("fragment", Value::from(u.fragment.clone())),
        ("hostname", opt(u.hostname())),
        ("netloc", Value::from(u.netloc.clone())),
        ("password", opt(u.password())),
        ("path", Value::from(u.path.clone())),
        ("port", port),
        ("query", Value::from(u.query.clone())),
        ("scheme", Value::from(u.scheme.clone())),
        ("username", opt(u.username())),
    ];
    if query.is_empty() {
        return Ok(Value::from_iter(parts));
    }
    parts
        .into_iter()
        .find(|(k, _)| *k == query)
        .map(|(_, v)| v)
        .ok_or_else(|| fail(format!("urlsplit: unknown URL component: {query}")))
}

/// Ansible's `uri` test: any text Python's `urlparse` can read, with one
/// of `schemes` when given.
fn is_uri(v: &Value, schemes: Option<&Value>) -> Result<bool, Error> {
    let Some(s) = v.as_str() else {
        return Ok(false);
    };
    let Ok(u) = py_urlsplit(s) else {
        return Ok(false);
    };
    let Some(schemes) = schemes.filter(|s| !s.is_none() && s.is_true()) else {
        return Ok(true);
    };
    let allowed = crate::playbook::jinja_tests::value_contains(schemes, &Value::from(u.scheme))?;
    Ok(allowed)
}

/// Python's `unquote_plus`: `+` is a space, `%XX` a byte, the bytes read
/// as UTF-8 (invalid ones replaced).
pub(crate) fn unquote_plus(s: &str) -> String {
    let s = s.replace('+', " ");
    if !s.contains('%') {
        return s;
    }
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
            out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Ansible's `mask_url`: the user and password of a URL as `****`.
pub(crate) fn mask_url(url: &str) -> String {
    let Ok(u) = py_urlsplit(url) else {
        return url.to_string();
    };
    let (Some(user), password) = (u.username(), u.password()) else {
        return url.to_string();
    };
    let (from, to) = match password {
        Some(p) => (format!("{user}:{p}@"), "****:****@"),
        None => (format!("{user}@"), "****@"),
    };
    url.replacen(&from, to, 1)
}
