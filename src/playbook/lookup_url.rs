//! Ansible's `url` lookup: an HTTP(S) GET from the controller. berth has
//! no HTTP client of its own (its `uri`/`get_url` modules run curl on the
//! target), so the lookup runs the controller's curl, every option,
//! credentials included, in a config file on curl's stdin, never on a
//! command line. Its options are Ansible's; `use_gssapi` and
//! `unredirected_headers` have no curl counterpart here and are refused.

use std::io::Write;
use std::process::{Command, Stdio};

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, Value};

use crate::playbook::filters::{fail, py_str, py_str_repr};
use crate::playbook::urls::{mask_url, py_urlsplit};

/// Quote a value for a curl config file.
fn curl_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// ansible-core's non-strict `boolean()`.
fn truthy(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::Number => v.as_i64() == Some(1),
        ValueKind::String => matches!(
            v.as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "y" | "yes" | "on" | "1" | "true" | "t"
        ),
        _ => false,
    }
}

/// The lookup's options, with Ansible's defaults.
struct UrlOptions {
    validate_certs: bool,
    split_lines: bool,
    use_proxy: bool,
    username: Option<String>,
    password: Option<String>,
    headers: Vec<(String, String)>,
    force: bool,
    timeout: f64,
    http_agent: String,
    force_basic_auth: bool,
    follow_redirects: bool,
    use_netrc: bool,
    unix_socket: Option<String>,
    ca_path: Option<String>,
    ciphers: Option<String>,
}

fn options(kwargs: &Kwargs) -> Result<UrlOptions, Error> {
    let get = |k: &str| kwargs.get::<Option<Value>>(k);
    let flag = |k: &str, default: bool| -> Result<bool, Error> {
        Ok(get(k)?
            .filter(|v| !v.is_none())
            .map_or(default, |v| truthy(&v)))
    };
    let text = |k: &str| -> Result<Option<String>, Error> {
        Ok(get(k)?.filter(|v| !v.is_none()).map(|v| py_str(&v)))
    };
    if flag("use_gssapi", false)? {
        return Err(fail("the url lookup's use_gssapi is not supported by berth: it fetches with curl, without GSSAPI credentials; use username and password"));
    }
    if let Some(h) = get("unredirected_headers")?.filter(|h| h.is_true()) {
        return Err(fail(format!(
            "the url lookup's unredirected_headers ({}) is not supported by berth: curl sends a request's headers on to where it is redirected; set follow_redirects='none' instead",
            crate::playbook::filters::py_repr(&h)
        )));
    }
    let mut headers = Vec::new();
    if let Some(h) = get("headers")?.filter(|h| !h.is_none()) {
        if h.kind() != ValueKind::Map {
            return Err(fail(format!(
                "the url lookup's headers must be a dictionary, got {}",
                crate::playbook::templar::py_type(&h)
            )));
        }
        for k in h.try_iter()? {
            headers.push((py_str(&k), py_str(&h.get_item(&k)?)));
        }
    }
    let timeout = match get("timeout")?.filter(|v| !v.is_none()) {
        None => 10.0,
        Some(v) => match v.as_str() {
            Some(s) => s.trim().parse::<f64>().map_err(|_| {
                fail(format!(
                    "Config 'timeout' for 'url' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'float': {}",
                    py_str_repr(s)
                ))
            })?,
            None => f64::try_from(v).map_err(|e| fail(e.to_string()))?,
        },
    };
    let follow = text("follow_redirects")?.unwrap_or_else(|| "urllib2".into());
    let follow_redirects = match follow.as_str() {
        "urllib2" | "all" | "yes" | "safe" | "true" | "True" => true,
        "none" | "no" | "false" | "False" => false,
        other => {
            return Err(fail(format!(
                "the url lookup's follow_redirects must be one of urllib2, all, safe, none (or yes, no), not {}",
                py_str_repr(other)
            )))
        }
    };
    let ciphers = match get("ciphers")?.filter(|v| !v.is_none()) {
        None => None,
        Some(v) if v.kind() == ValueKind::String => Some(py_str(&v)),
        Some(v) => Some(
            v.try_iter()?
                .map(|c| py_str(&c))
                .collect::<Vec<_>>()
                .join(":"),
        ),
    };
    Ok(UrlOptions {
        validate_certs: flag("validate_certs", true)?,
        split_lines: flag("split_lines", true)?,
        use_proxy: flag("use_proxy", true)?,
        username: text("username")?,
        password: text("password")?,
        headers,
        force: flag("force", false)?,
        timeout,
        http_agent: text("http_agent")?.unwrap_or_else(|| "ansible-httpget".into()),
        force_basic_auth: flag("force_basic_auth", false)?,
        follow_redirects,
        use_netrc: flag("use_netrc", true)?,
        unix_socket: text("unix_socket")?,
        ca_path: text("ca_path")?,
        ciphers,
    })
}

/// The curl config of one GET.
fn curl_config(url: &str, o: &UrlOptions, body: &str, head: &str) -> String {
    let mut c = format!("url = {}\n", curl_quote(url));
    c.push_str(&format!("user-agent = {}\n", curl_quote(&o.http_agent)));
    for (k, v) in &o.headers {
        c.push_str(&format!("header = {}\n", curl_quote(&format!("{k}: {v}"))));
    }
    if o.force {
        c.push_str("header = \"cache-control: no-cache\"\n");
    }
    if let Some(u) = &o.username {
        let p = o.password.clone().unwrap_or_default();
        c.push_str(&format!("user = {}\n", curl_quote(&format!("{u}:{p}"))));
        // urllib answers a challenge unless told to send the credentials first.
        c.push_str(if o.force_basic_auth {
            "basic\n"
        } else {
            "anyauth\n"
        });
    } else if o.use_netrc {
        c.push_str("netrc-optional\n");
    }
    // urllib's timeout bounds connecting and each wait for data.
    let secs = o.timeout.max(0.001);
    c.push_str(&format!("connect-timeout = {secs}\n"));
    c.push_str(&format!(
        "speed-limit = 1\nspeed-time = {}\n",
        secs.ceil() as u64
    ));
    if !o.validate_certs {
        c.push_str("insecure\n");
    }
    if let Some(ca) = &o.ca_path {
        c.push_str(&format!("cacert = {}\n", curl_quote(ca)));
    }
    if let Some(ci) = &o.ciphers {
        c.push_str(&format!("ciphers = {}\n", curl_quote(ci)));
    }
    if let Some(sock) = &o.unix_socket {
        c.push_str(&format!("unix-socket = {}\n", curl_quote(sock)));
    }
    if !o.use_proxy {
        c.push_str("noproxy = \"*\"\n");
    }
    if o.follow_redirects {
        c.push_str("location\nmax-redirs = 10\n");
    }
    c.push_str(&format!(
        "output = {}\ndump-header = {}\nwrite-out = \"%{{http_code}}\"\nsilent\nshow-error\n",
        curl_quote(body),
        curl_quote(head)
    ));
    c
}

/// curl's exit codes for a certificate or TLS handshake that failed.
const CURL_TLS: [i32; 8] = [35, 51, 53, 54, 58, 60, 77, 83];

/// The reason phrase of the last response in a header dump.
fn reason(headers: &str) -> String {
    headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.trim_end().splitn(3, ' ').nth(2))
        .unwrap_or_default()
        .to_string()
}

/// One GET, the body's bytes back.
fn fetch(url: &str, o: &UrlOptions) -> Result<Vec<u8>, Error> {
    let shown = mask_url(url);
    let parsed = py_urlsplit(url).map_err(fail)?;
    if parsed.scheme.is_empty() {
        return Err(fail(format!("unknown url type: {}", py_str_repr(url))));
    }
    if !matches!(parsed.scheme.as_str(), "http" | "https" | "ftp" | "file") {
        return Err(fail(format!(
            "Failed lookup url for {shown}: unknown url type: {}",
            parsed.scheme
        )));
    }
    let dir = tempfile::tempdir().map_err(|e| {
        fail(format!(
            "the url lookup cannot make a temporary folder: {e}"
        ))
    })?;
    let body = dir.path().join("body");
    let head = dir.path().join("head");
    let config = curl_config(url, o, &body.to_string_lossy(), &head.to_string_lossy());
    let mut child = match Command::new("curl")
        .args(["--disable", "-K", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail("the url lookup fetches with the controller's curl, and curl is not installed: install it (apt-get install curl)"))
        }
        Err(e) => return Err(fail(format!("the url lookup could not start curl: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(config.as_bytes())
            .map_err(|e| fail(format!("the url lookup could not talk to curl: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("the url lookup could not run curl: {e}")))?;
    let rc = out.status.code().unwrap_or(-1);
    if rc != 0 {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim().trim_start_matches("curl: ").to_string();
        let err = err.split_once(") ").map_or(err.as_str(), |(code, rest)| {
            if code.starts_with('(') {
                rest
            } else {
                err.as_str()
            }
        });
        let what = if CURL_TLS.contains(&rc) {
            "Error validating the server's certificate for"
        } else {
            "Failed lookup url for"
        };
        return Err(fail(format!("{what} {shown}: {err}")));
    }
    let code: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let is_http = parsed.scheme.starts_with("http");
    if is_http && (code >= 400 || (300..400).contains(&code)) {
        let headers = std::fs::read_to_string(&head).unwrap_or_default();
        return Err(fail(format!(
            "Received HTTP error for {shown}: HTTP Error {code}: {}",
            reason(&headers)
        )));
    }
    std::fs::read(&body)
        .map_err(|e| fail(format!("the url lookup could not read curl's output: {e}")))
}

/// Ansible's `url` lookup: each URL's content, as lines (`split_lines`,
/// the default) or whole.
pub(crate) fn url(terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let o = options(kwargs)?;
    let mut out = Vec::new();
    for term in terms {
        let bytes = fetch(&py_str(&term), &o)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if o.split_lines {
            out.extend(
                crate::playbook::with_loops::py_splitlines(&text)
                    .into_iter()
                    .map(Value::from),
            );
        } else {
            out.push(Value::from(text));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::json;
    use std::io::{BufRead, BufReader, Write};

    /// A server on the loopback answering `n` requests: `/a.txt` with a
    /// text, `/moved` with a redirect to it, anything else 404. It records
    /// each request's head.
    fn serve(n: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..n {
                // Bounded: a request that never comes ends the server.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                let accepted = loop {
                    match listener.accept() {
                        Ok(conn) => break Some(conn),
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                && std::time::Instant::now() < deadline =>
                        {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        Err(_) => break None,
                    }
                };
                let Some((mut s, _)) = accepted else {
                    break;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let resp = match path.as_str() {
                    "/a.txt" => "HTTP/1.1 200 OK\r\nContent-Length: 18\r\nConnection: close\r\n\r\nline1\nline2\r\nline3".to_string(),
                    "/moved" => format!("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/a.txt\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                    _ => "HTTP/1.1 404 File not found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                };
                let _ = s.write_all(resp.as_bytes());
                seen.push(head);
            }
            seen
        });
        (port, handle)
    }

    #[test]
    fn url_lookup_fetches_as_ansible() {
        if std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("curl not installed: url lookup not exercised");
            return;
        }
        let (port, server) = serve(6);
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        let base = format!("http://127.0.0.1:{port}");
        let r = |s: &str| t.render_str(&s.replace("BASE", &base), &c);
        // As ansible-core 2.19 renders them against the same server.
        assert_eq!(
            r("{{ lookup('url', 'BASE/a.txt') }}").unwrap(),
            json!("line1,line2,line3")
        );
        assert_eq!(
            r("{{ query('url', 'BASE/a.txt') }}").unwrap(),
            json!(["line1", "line2", "line3"])
        );
        assert_eq!(
            r("{{ lookup('url', 'BASE/a.txt', split_lines=False, headers={'X-Probe': 'yes'}, username='u', password='p', force_basic_auth=True) }}").unwrap(),
            json!("line1\nline2\r\nline3")
        );
        assert_eq!(
            r("{{ lookup('url', 'BASE/nope') }}").unwrap_err().message,
            format!("The lookup plugin 'url' failed: Received HTTP error for {base}/nope: HTTP Error 404: File not found")
        );
        assert_eq!(
            r("{{ lookup('url', 'BASE/moved') }}").unwrap(),
            json!("line1,line2,line3")
        );
        let seen = server.join().unwrap();
        let auth = seen
            .iter()
            .find(|h| h.contains("X-Probe"))
            .expect("the headers were sent");
        assert!(auth.contains("Authorization: Basic dTpw"), "{auth}");
        assert!(auth.contains("User-Agent: ansible-httpget"), "{auth}");
        assert_eq!(
            r("{{ lookup('url', 'nohost') }}").unwrap_err().message,
            "The lookup plugin 'url' failed: unknown url type: 'nohost'"
        );
        let refused = r("{{ lookup('url', 'http://user:pw@127.0.0.1:1/') }}")
            .unwrap_err()
            .message;
        assert!(
            refused.starts_with("The lookup plugin 'url' failed: Failed lookup url for http://****:****@127.0.0.1:1/: "),
            "{refused}"
        );
        assert_eq!(r("{{ lookup('url') }}").unwrap(), json!([]));
        assert!(r("{{ lookup('url', 'BASE/a.txt', use_gssapi=True) }}")
            .unwrap_err()
            .message
            .contains("not supported by berth"));
    }
}
