//! HTTP requests made ON THE TARGET with curl. Every option, credentials
//! included, travels in a curl config file on stdin (`curl -K -`), so no
//! secret ever shows on a command line or in `ps`.

use serde_json::{Map, Value};

/// One request.
#[derive(Debug, Clone)]
pub(crate) struct NetHttp {
    pub(crate) url: String,
    pub(crate) method: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<String>,
    pub(crate) timeout: u64,
    pub(crate) validate_certs: bool,
    pub(crate) follow_redirects: bool,
    pub(crate) user: Option<(String, String)>,
    pub(crate) user_agent: String,
    pub(crate) use_proxy: bool,
}

/// What came back.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NetResponse {
    /// HTTP status, or -1 when no response arrived.
    pub(crate) status: i64,
    pub(crate) url: String,
    pub(crate) redirects: u64,
    pub(crate) reason: String,
    /// Headers of the final response, in order, names as sent.
    pub(crate) headers: Vec<(String, String)>,
    /// curl's error text when no response arrived.
    pub(crate) error: Option<String>,
    pub(crate) curl_rc: i32,
}

/// Quote a value for a curl config file.
fn cfg_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl NetHttp {
    /// The request options get_url and uri share: basic-auth credentials
    /// (`url_username` or the module's own alias, `url_password`/`password`),
    /// `force_basic_auth`, `http_agent` and `use_proxy`.
    pub(crate) fn apply_auth_and_agent(
        &mut self,
        a: &crate::modules::args::Args<'_>,
        user_alias: &str,
    ) -> Result<(), String> {
        let user = a.str("url_username")?.or(a.str(user_alias)?);
        let password = a.str("url_password")?.or(a.str("password")?);
        if let Some(u) = user {
            self.user = Some((u, password.unwrap_or_default()));
        }
        a.bool("force_basic_auth", false)?;
        if let Some(agent) = a.str("http_agent")? {
            self.user_agent = agent;
        }
        self.use_proxy = a.bool("use_proxy", true)?;
        Ok(())
    }

    pub(crate) fn new(url: &str) -> NetHttp {
        NetHttp {
            url: url.to_string(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            timeout: 10,
            validate_certs: true,
            follow_redirects: true,
            user: None,
            user_agent: "ansible-httpget".into(),
            use_proxy: true,
        }
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The curl config for this request (sent on stdin).
    pub(crate) fn config(&self) -> String {
        let mut c = String::new();
        c.push_str(&format!("url = {}\n", cfg_quote(&self.url)));
        match self.method.as_str() {
            "GET" => {}
            "HEAD" => c.push_str("head\n"),
            m => c.push_str(&format!("request = {}\n", cfg_quote(m))),
        }
        for (k, v) in &self.headers {
            c.push_str(&format!("header = {}\n", cfg_quote(&format!("{k}: {v}"))));
        }
        if let Some(body) = &self.body {
            c.push_str(&format!("data-raw = {}\n", cfg_quote(body)));
        }
        if let Some((u, p)) = &self.user {
            c.push_str(&format!("user = {}\n", cfg_quote(&format!("{u}:{p}"))));
        }
        c.push_str(&format!("user-agent = {}\n", cfg_quote(&self.user_agent)));
        if self.timeout > 0 {
            c.push_str(&format!("max-time = {}\n", self.timeout));
        }
        if !self.validate_certs {
            c.push_str("insecure\n");
        }
        if self.follow_redirects {
            c.push_str("location\nmax-redirs = 50\n");
        }
        if !self.use_proxy {
            c.push_str("noproxy = \"*\"\n");
        }
        c.push_str("silent\nshow-error\n");
        c
    }

    /// The same request as a wgetrc, for targets without curl. A body is
    /// sent from a file (`body_file` is added by the script).
    pub(crate) fn wgetrc(&self) -> String {
        let mut c = format!(
            "#url {}\nserver_response = on\ncontent_on_error = on\n",
            self.url
        );
        if self.method != "GET" {
            c.push_str(&format!("method = {}\n", self.method));
        }
        for (k, v) in &self.headers {
            c.push_str(&format!("header = {k}: {v}\n"));
        }
        if let Some((u, p)) = &self.user {
            c.push_str(&format!(
                "auth_no_challenge = on\nhttp_user = {u}\nhttp_password = {p}\n"
            ));
        }
        c.push_str(&format!("user_agent = {}\n", self.user_agent));
        if self.timeout > 0 {
            c.push_str(&format!("timeout = {}\n", self.timeout));
        }
        if !self.validate_certs {
            c.push_str("check_certificate = off\n");
        }
        c.push_str(if self.follow_redirects {
            "max_redirect = 50\n"
        } else {
            "max_redirect = 0\n"
        });
        if !self.use_proxy {
            c.push_str("use_proxy = off\n");
        }
        if self.body.is_some() {
            c.push_str("#berth-body\n");
        }
        c
    }

    /// What the script reads on stdin: curl's config, then the wgetrc,
    /// then the body (for wget). Secrets never reach a command line.
    pub(crate) fn payload(&self) -> Vec<u8> {
        let mut p = self.config().into_bytes();
        p.extend_from_slice(b"#--berth-wget--\n");
        p.extend_from_slice(self.wgetrc().as_bytes());
        p.extend_from_slice(b"#--berth-body--\n");
        if let Some(body) = &self.body {
            p.extend_from_slice(body.as_bytes());
        }
        p
    }

    /// Shell making the request with curl (or wget when curl is missing),
    /// reading `payload()` on stdin, plus the header line in
    /// `$extra_header` if set. The body goes to `"$body"`, headers to
    /// `"$head"`. Prints `CURL\t<rc>\t<code>\t<redirects>\t<url>`, then the
    /// headers; leaves `$_w` = `<code>\t<redirects>\t<url>`.
    pub(crate) fn script() -> &'static str {
        r#"if command -v curl >/dev/null 2>&1; then
  _w=$({ sed '/^#--berth-wget--$/,$d'; [ -n "${extra_header:-}" ] && printf 'header = "%s"\n' "$extra_header"; } | curl -K - -o "$body" -D "$head" -w '%{http_code}\t%{num_redirects}\t%{url_effective}' 2>"$head.err"); _rc=$?
elif command -v wget >/dev/null 2>&1; then
  _um=$(umask); umask 077; cat > "$head.in"
  sed -e '1,/^#--berth-wget--$/d' -e '/^#--berth-body--$/,$d' "$head.in" > "$head.rc"
  _url=$(sed -n 's/^#url //p' "$head.rc" | head -n 1)
  if grep -q '^#berth-body$' "$head.rc"; then sed '1,/^#--berth-body--$/d' "$head.in" > "$head.body"; printf '%s\n' "body_file = $head.body" >> "$head.rc"; fi
  [ -n "${extra_header:-}" ] && printf 'header = %s\n' "$extra_header" >> "$head.rc"
  LC_ALL=C wget --config="$head.rc" -O "$body" "$_url" 2>"$head.log"; _wrc=$?; umask "$_um"
  _w=$(awk -v h="$head" '
    /^--[0-9-]+ [0-9:]+--  / { u = $0; sub(/^--[^ ]+ [^ ]+--  /, "", u); n++; next }
    /^  HTTP\// { if (blocks++) printf "\r\n" > h; code = $2 }
    /^  / { l = $0; sub(/^  /, "", l); printf "%s\r\n", l > h }
    END { if (blocks) printf "\r\n" > h; printf "%s\t%d\t%s", (code == "" ? "000" : code), (n > 0 ? n - 1 : 0), u }' "$head.log")
  case "$_w" in
    000*) if grep -q 'Connection refused' "$head.log"; then _rc=7; elif grep -qi 'timed out' "$head.log"; then _rc=28; elif grep -qi 'unable to resolve' "$head.log"; then _rc=6; else _rc=${_wrc:-1}; [ "$_rc" = 0 ] && _rc=1; fi
          grep -v '^\s*$' "$head.log" | tail -n 1 > "$head.err" ;;
    *) _rc=0 ;;
  esac
  rm -f "$head.in" "$head.rc" "$head.body" "$head.log"
else
  echo 'curl or wget is required on the target for this module' >&2; exit 127
fi
printf 'CURL\t%s\t%s\n' "$_rc" "$_w"
if [ "$_rc" != 0 ]; then printf 'CURLERR\t'; tr '\n' ' ' < "$head.err"; echo; fi
rm -f "$head.err"
echo '--- headers'; cat "$head" 2>/dev/null; echo '--- end'
"#
    }
}

/// Parse what `NetHttp::script` printed.
pub(crate) fn parse_response(out: &str) -> Option<NetResponse> {
    let line = out.lines().find(|l| l.starts_with("CURL\t"))?;
    let f: Vec<&str> = line.splitn(5, '\t').collect();
    let mut r = NetResponse {
        curl_rc: f.get(1)?.parse().ok()?,
        ..NetResponse::default()
    };
    r.status = f.get(2).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    r.redirects = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    r.url = f.get(4).unwrap_or(&"").to_string();
    if let Some(err) = out.lines().find_map(|l| l.strip_prefix("CURLERR\t")) {
        r.error = Some(err.trim().trim_start_matches("curl: ").to_string());
    }
    if r.status == 0 {
        r.status = -1;
    }
    let head = out
        .split_once("--- headers\n")
        .map(|(_, h)| h)
        .unwrap_or("");
    let head = head.rsplit_once("--- end").map(|(h, _)| h).unwrap_or(head);
    // With redirects or `100 Continue` there are several blocks: keep the last.
    let blocks: Vec<&str> = head
        .split("\r\n\r\n")
        .filter(|b| b.trim_start().starts_with("HTTP/"))
        .collect();
    if let Some(block) = blocks.last() {
        let mut lines = block.trim_start().split("\r\n");
        if let Some(status_line) = lines.next() {
            let mut parts = status_line.splitn(3, ' ');
            parts.next();
            parts.next();
            r.reason = parts.next().unwrap_or("").trim().to_string();
        }
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                r.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    if r.reason.is_empty() && r.status > 0 {
        r.reason = reason_phrase(r.status).to_string();
    }
    Some(r)
}

impl NetResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Ansible's `msg` for the response: `OK (N bytes)`, `HTTP Error N: Reason`,
    /// or `Request failed: ...`.
    pub(crate) fn msg(&self) -> String {
        if self.status < 0 {
            return match self.curl_rc {
                28 => "Connection failure: timed out".to_string(),
                // Python's wording for the usual socket errors.
                7 => "Request failed: <urlopen error [Errno 111] Connection refused>".to_string(),
                6 => "Request failed: <urlopen error [Errno -2] Name or service not known>"
                    .to_string(),
                _ => format!(
                    "Request failed: <urlopen error {}>",
                    self.error.clone().unwrap_or_default()
                ),
            };
        }
        if self.status >= 300 {
            return format!("HTTP Error {}: {}", self.status, self.reason);
        }
        format!(
            "OK ({} bytes)",
            self.header("content-length").unwrap_or("unknown")
        )
    }

    /// Response headers as Ansible returns them: lower-case, `-` → `_`,
    /// repeated headers joined with `, `.
    pub(crate) fn header_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in &self.headers {
            let key = k.to_ascii_lowercase().replace('-', "_");
            let joined = match m.get(&key) {
                Some(Value::String(prev)) => format!("{prev}, {v}"),
                _ => v.clone(),
            };
            m.insert(key, Value::String(joined));
        }
        m
    }

    /// The file name a download is saved as in a directory `dest`:
    /// Content-Disposition's filename, else the URL path's last part.
    pub(crate) fn filename(&self) -> String {
        if let Some(cd) = self.header("content-disposition") {
            for part in cd.split(';') {
                if let Some(v) = part.trim().strip_prefix("filename=") {
                    let name = v.trim().trim_matches('"');
                    let base = name.rsplit('/').next().unwrap_or(name);
                    if !base.is_empty() {
                        return base.to_string();
                    }
                }
            }
        }
        url_filename(&self.url)
    }
}

/// The last part of a URL's path, or `index.html`.
pub(crate) fn url_filename(url: &str) -> String {
    let no_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = no_scheme.split_once('/').map(|(_, p)| p).unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => "index.html".to_string(),
    }
}

pub(crate) fn reason_phrase(status: i64) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Headers argument: a mapping, or Ansible's old `"K:V,K2:V2"` string.
pub(crate) fn parse_headers(v: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| {
                let val = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), val)
            })
            .collect()),
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| "The string representation for the `headers` parameter requires a key:value,key:value syntax to be properly parsed.".to_string())
            })
            .collect(),
        Some(_) => Err("headers must be a dictionary".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_quotes_and_keeps_secrets_off_the_command_line() {
        let mut r = NetHttp::new("http://h/x?a=\"b\"");
        r.user = Some(("u".into(), "p\\w".into()));
        r.body = Some("line1\nline2".into());
        r.method = "POST".into();
        let c = r.config();
        assert!(c.contains("url = \"http://h/x?a=\\\"b\\\"\"\n"));
        assert!(c.contains("user = \"u:p\\\\w\"\n"));
        assert!(c.contains("data-raw = \"line1\\nline2\"\n"));
        assert!(c.contains("request = \"POST\"\n"));
        assert!(!NetHttp::script().contains("p\\w"));
    }

    #[test]
    fn parses_last_header_block() {
        let out = "CURL\t0\t200\t1\thttp://h/b\n--- headers\nHTTP/1.1 302 Found\r\nLocation: /b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\n\r\n--- end\n";
        let r = parse_response(out).unwrap();
        assert_eq!(
            (r.status, r.redirects, r.url.as_str()),
            (200, 1, "http://h/b")
        );
        assert_eq!(r.msg(), "OK (5 bytes)");
        let m = r.header_map();
        assert_eq!(m["x_a"], "1, 2");
        assert_eq!(m["content_type"], "text/plain");
        assert!(!m.contains_key("location"));
    }

    #[test]
    fn url_file_names() {
        assert_eq!(url_filename("http://h:1/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_filename("http://h:1/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
    }
}
