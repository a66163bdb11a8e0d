//! HTTP requests made ON THE TARGET with curl. Every option, credentials
//! included, travels in a curl config file on stdin (`curl -K -`), so no
//! secret ever shows on a command line or in `ps`. Redirects are followed
//! by the script itself, one curl per hop, with the rules of Ansible's
//! `follow_redirects` (which methods follow, which turn into GET, which
//! headers and bodies travel on), so a role sees what Ansible's urllib does.

use serde_json::{Map, Value};

/// The parameters `NetHttp::apply_common` reads (besides the module's own
/// user alias), shared by get_url and uri.
pub(crate) const COMMON_PARAMS: &[&str] = &[
    "url",
    "headers",
    "timeout",
    "validate_certs",
    "url_username",
    "url_password",
    "password",
    "force_basic_auth",
    "http_agent",
    "use_proxy",
    "use_netrc",
    "unredirected_headers",
    "decompress",
    "ciphers",
    "client_cert",
    "client_key",
    "use_gssapi",
    "mode",
    "owner",
    "group",
];

/// Ansible's `follow_redirects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    /// Never: the 3xx is the response.
    None,
    /// GET and HEAD only.
    Safe,
    /// Every method.
    All,
    /// Python's own rules: GET/HEAD on any redirect, POST on 301-303, as GET.
    Urllib2,
}

impl Follow {
    pub(crate) fn parse(v: &str) -> Follow {
        match v {
            "all" | "yes" => Follow::All,
            "none" | "no" => Follow::None,
            "urllib2" | "urllib" => Follow::Urllib2,
            _ => Follow::Safe,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Follow::None => "none",
            Follow::Safe => "safe",
            Follow::All => "all",
            Follow::Urllib2 => "urllib2",
        }
    }
}

/// One request.
#[derive(Debug, Clone)]
pub(crate) struct NetHttp {
    pub(crate) url: String,
    pub(crate) method: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Vec<u8>>,
    /// A file ON THE TARGET sent as the body (uri's `src` with `remote_src`).
    pub(crate) body_file: Option<String>,
    pub(crate) timeout: u64,
    pub(crate) validate_certs: bool,
    pub(crate) follow: Follow,
    pub(crate) user: Option<(String, String)>,
    /// Send the credentials with the first request (`force_basic_auth`);
    /// otherwise only in answer to a 401 challenge, as urllib's handlers do.
    pub(crate) force_basic_auth: bool,
    pub(crate) user_agent: String,
    pub(crate) use_proxy: bool,
    /// Credentials from `$NETRC` or `~/.netrc` on the target when no user is given.
    pub(crate) use_netrc: bool,
    /// Lower-cased names of headers not sent again after a redirect.
    pub(crate) unredirected_headers: Vec<String>,
    /// Decode a gzip-encoded response.
    pub(crate) decompress: bool,
    pub(crate) client_cert: Option<String>,
    pub(crate) client_key: Option<String>,
    pub(crate) ca_path: Option<String>,
    pub(crate) ciphers: Vec<String>,
    pub(crate) unix_socket: Option<String>,
    pub(crate) use_gssapi: bool,
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
    /// A `file://` URL: no HTTP status (Ansible returns `status_code: null`);
    /// `status` is 200 when the file was read.
    pub(crate) file_url: bool,
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

/// Ansible's `mask_url`: credentials in a URL shown as `****:****@`.
pub(crate) fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (netloc, tail) = rest.split_at(end);
    match netloc.rsplit_once('@') {
        Some((cred, host)) => {
            let mask = if cred.contains(':') {
                "****:****"
            } else {
                "****"
            };
            format!("{scheme}://{mask}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// The host part of a URL (no credentials, no port), for `.netrc` lookups.
pub(crate) fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = netloc.rsplit_once('@').map(|(_, h)| h).unwrap_or(netloc);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    host.to_ascii_lowercase()
}

impl NetHttp {
    /// The request options get_url and uri share: basic-auth credentials
    /// (`url_username` or the module's own alias, `url_password`/`password`),
    /// `force_basic_auth`, `http_agent`, `use_proxy`, `use_netrc`,
    /// `unredirected_headers`, `decompress`, client certificates, `ca_path`,
    /// `ciphers`, `unix_socket` and `use_gssapi`.
    pub(crate) fn apply_common(
        &mut self,
        a: &crate::modules::args::Args<'_>,
        user_alias: &str,
    ) -> Result<(), String> {
        let user = a.str("url_username")?.or(a.str(user_alias)?);
        let password = a.str("url_password")?.or(a.str("password")?);
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            self.user = Some((u, password.unwrap_or_default()));
        }
        self.force_basic_auth = a.bool("force_basic_auth", false)?;
        if let Some(agent) = a.str("http_agent")? {
            self.user_agent = agent;
        }
        self.use_proxy = a.bool("use_proxy", true)?;
        self.use_netrc = a.bool("use_netrc", true)?;
        self.unredirected_headers = a
            .list("unredirected_headers")?
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        self.decompress = a.bool("decompress", true)?;
        self.client_cert = a.str("client_cert")?;
        self.client_key = a.str("client_key")?;
        self.ca_path = a.str("ca_path")?;
        self.ciphers = a.list("ciphers")?;
        self.unix_socket = a.str("unix_socket")?;
        self.use_gssapi = a.bool("use_gssapi", false)?;
        Ok(())
    }

    pub(crate) fn new(url: &str) -> NetHttp {
        NetHttp {
            url: url.to_string(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            body_file: None,
            timeout: 10,
            validate_certs: true,
            follow: Follow::Urllib2,
            user: None,
            force_basic_auth: false,
            user_agent: "ansible-httpget".into(),
            use_proxy: true,
            use_netrc: true,
            unredirected_headers: Vec::new(),
            decompress: true,
            client_cert: None,
            client_key: None,
            ca_path: None,
            ciphers: Vec::new(),
            unix_socket: None,
            use_gssapi: false,
        }
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The curl config for this request (sent on stdin), in sections the
    /// script takes apart: options every hop shares, then the first URL,
    /// the credentials, the headers.
    pub(crate) fn config(&self) -> String {
        let mut c = String::new();
        c.push_str(&format!("user-agent = {}\n", cfg_quote(&self.user_agent)));
        if self.timeout > 0 {
            c.push_str(&format!("max-time = {}\n", self.timeout));
        }
        if !self.validate_certs {
            c.push_str("insecure\n");
        }
        if !self.use_proxy {
            c.push_str("noproxy = \"*\"\n");
        }
        if self.decompress {
            c.push_str("compressed\n");
        }
        for (key, v) in [
            ("cert", &self.client_cert),
            ("key", &self.client_key),
            ("cacert", &self.ca_path),
            ("unix-socket", &self.unix_socket),
        ] {
            if let Some(v) = v {
                c.push_str(&format!("{key} = {}\n", cfg_quote(v)));
            }
        }
        if !self.ciphers.is_empty() {
            c.push_str(&format!(
                "ciphers = {}\n",
                cfg_quote(&self.ciphers.join(":"))
            ));
        }
        c.push_str("silent\nshow-error\n");
        c.push_str("#--berth-url--\n");
        c.push_str(&format!("url = {}\n", cfg_quote(&self.url)));
        c.push_str("#--berth-auth--\n");
        if self.use_gssapi {
            c.push_str("negotiate\n");
            let (u, p) = self.user.clone().unwrap_or_default();
            c.push_str(&format!("user = {}\n", cfg_quote(&format!("{u}:{p}"))));
        } else if let Some((u, p)) = &self.user {
            if !self.force_basic_auth {
                c.push_str("anyauth\n");
            }
            c.push_str(&format!("user = {}\n", cfg_quote(&format!("{u}:{p}"))));
        }
        c.push_str("#--berth-hdrs--\n");
        for (k, v) in &self.headers {
            c.push_str(&format!("header = {}\n", cfg_quote(&format!("{k}: {v}"))));
        }
        c
    }

    /// The same request as a wgetrc, for targets without curl (it follows
    /// redirects itself). A body is sent from a file the script adds.
    pub(crate) fn wgetrc(&self) -> String {
        let mut c = format!(
            "#url {}\nserver_response = on\ncontent_on_error = on\n",
            self.url
        );
        if self.method != "GET" || self.body.is_some() {
            c.push_str(&format!("method = {}\n", self.method));
        }
        for (k, v) in &self.headers {
            c.push_str(&format!("header = {k}: {v}\n"));
        }
        if let Some((u, p)) = &self.user {
            if self.force_basic_auth {
                c.push_str("auth_no_challenge = on\n");
            }
            c.push_str(&format!("http_user = {u}\nhttp_password = {p}\n"));
        }
        c.push_str(&format!("user_agent = {}\n", self.user_agent));
        if self.timeout > 0 {
            c.push_str(&format!("timeout = {}\n", self.timeout));
        }
        if !self.validate_certs {
            c.push_str("check_certificate = off\n");
        }
        if let Some(v) = &self.ca_path {
            c.push_str(&format!("ca_certificate = {v}\n"));
        }
        if let Some(v) = &self.client_cert {
            c.push_str(&format!("certificate = {v}\n"));
        }
        if let Some(v) = &self.client_key {
            c.push_str(&format!("private_key = {v}\n"));
        }
        c.push_str(if self.follow == Follow::None {
            "max_redirect = 0\n"
        } else {
            "max_redirect = 10\n"
        });
        if !self.use_proxy {
            c.push_str("use_proxy = off\n");
        }
        c
    }

    /// What the script reads on stdin: curl's config, then the wgetrc,
    /// then the body. Secrets never reach a command line.
    pub(crate) fn payload(&self) -> Vec<u8> {
        let mut p = self.config().into_bytes();
        p.extend_from_slice(b"#--berth-wget--\n");
        p.extend_from_slice(self.wgetrc().as_bytes());
        p.extend_from_slice(b"#--berth-body--\n");
        if let Some(body) = &self.body {
            p.extend_from_slice(body);
        }
        p
    }

    /// Shell making the request with curl (or wget when curl is missing),
    /// reading `payload()` on stdin, plus the header line in
    /// `$extra_header` if set. The body goes to `"$body"`, headers to
    /// `"$head"`. Prints `CURL\t<rc>\t<code>\t<redirects>\t<url>`, then the
    /// headers; leaves `$_w` = `<code>\t<redirects>\t<url>`. Nothing in it
    /// is secret: the credentials and headers stay in the payload.
    pub(crate) fn script(&self) -> String {
        let body_len = self.body.as_ref().map_or(0, Vec::len);
        let netrc = self.use_netrc && self.user.is_none() && !self.use_gssapi;
        let mut s = format!(
            "_m={method}; _follow={follow}; _bl={body_len}; _bf={body_file}; _host={host}; _netrc={netrc}; _unredir={unredir}\n",
            body_file = crate::modules::quote(self.body_file.as_deref().unwrap_or("")),
            method = crate::modules::quote(&self.method),
            follow = self.follow.word(),
            host = crate::modules::quote(&url_host(&self.url)),
            netrc = u8::from(netrc),
            unredir = crate::modules::quote(&self.unredirected_headers.join(" ")),
        );
        s.push_str(SCRIPT);
        s
    }
}

/// The request loop (see `NetHttp::script`). Sections of the payload land
/// in files readable by the login user only; they go with the caller's `$_d`.
const SCRIPT: &str = r#"_um=$(umask); umask 077; cat > "$head.in"
if [ "$_bl" -gt 0 ]; then tail -c "$_bl" "$head.in" > "$head.body"; _bf="$head.body"; fi
sed -n '/^#--berth-url--$/q;p' "$head.in" > "$head.cfg"
sed -n '/^#--berth-url--$/,/^#--berth-auth--$/{/^#--berth-/!p;}' "$head.in" > "$head.url"
sed -n '/^#--berth-auth--$/,/^#--berth-hdrs--$/{/^#--berth-/!p;}' "$head.in" > "$head.auth"
sed -n '/^#--berth-hdrs--$/,/^#--berth-wget--$/{/^#--berth-/!p;}' "$head.in" > "$head.hdr"
if [ "$_netrc" = 1 ]; then
  _nf=${NETRC:-$HOME/.netrc}
  if [ -r "$_nf" ]; then
    awk -v h="$_host" 'BEGIN { RS = "[ \t\r\n]+" }
      skip { if ($0 == "") skip = 0; next }
      want != "" { if (want == "login") l = $0; else if (want == "password") p = $0; want = ""; next }
      $0 == "machine" { if (hit) exit; getm = 1; next }
      getm { getm = 0; hit = ($0 == h); next }
      $0 == "default" { if (hit) exit; if (!found) { hit = 1; dflt = 1 }; next }
      $0 == "login" || $0 == "password" || $0 == "account" { if (hit) want = $0; else want = "x"; next }
      $0 == "macdef" { skip = 1; next }
      END { if (l != "" && p != "") { s = l ":" p; gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); printf "user = \"%s\"\n", s } }' "$_nf" > "$head.auth"
    if [ -s "$head.auth" ]; then grep -iv '^header = "authorization:' "$head.hdr" > "$head.h2"; mv -f "$head.h2" "$head.hdr"; fi
  fi
fi
umask "$_um"
# Headers with these lower-cased names are dropped from the file.
_drop_headers() {
  awk -v names="$1" 'BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) drop[a[i]] = 1 }
    { h = $0; sub(/^header = "/, "", h); sub(/:.*/, "", h); if (!(tolower(h) in drop)) print }' "$head.hdr" > "$head.h2"
  mv -f "$head.h2" "$head.hdr"
}
if command -v curl >/dev/null 2>&1; then
  _n=0; _keep=1; : > "$head"
  while :; do
    { cat "$head.cfg"
      if [ "$_n" = 0 ]; then cat "$head.url"; else printf 'url = "%s"\n' "$(printf '%s' "$_next" | sed 's/\\/\\\\/g; s/"/\\"/g; s/ /%20/g')"; fi
      if [ "$_m" = HEAD ]; then echo head; elif [ "$_m" != GET ] || { [ "$_keep" = 1 ] && [ -n "$_bf" ]; }; then printf 'request = "%s"\n' "$_m"; fi
      cat "$head.auth" "$head.hdr"
      [ -n "${extra_header:-}" ] && printf 'header = "%s"\n' "$extra_header"
      [ "$_keep" = 1 ] && [ -n "$_bf" ] && printf 'data-binary = "@%s"\n' "$(printf '%s' "$_bf" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    } | curl -K - -o "$body" -D "$head.one" -w '%{http_code}\t%{redirect_url}\t%{url_effective}' > "$head.w" 2>"$head.err"; _rc=$?
    cat "$head.one" >> "$head" 2>/dev/null; rm -f "$head.one"
    # curl writes credentials it was given into the URLs it reports: never kept.
    _code=$(cut -f1 "$head.w"); _next=$(cut -f2 "$head.w" | sed 's|^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/?#@]*@|\1|'); _cur=$(cut -f3 "$head.w" | sed 's|^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/?#@]*@|\1|')
    [ "$_rc" = 0 ] || break
    case "$_code" in 301|302|303|307|308) ;; *) break ;; esac
    [ -n "$_next" ] || break
    case "$_follow" in
      none) break ;;
      safe) case "$_m" in GET|HEAD) ;; *) break ;; esac ;;
      urllib2) case "$_m:$_code" in GET:*|HEAD:*|POST:301|POST:302|POST:303) ;; *) break ;; esac ;;
    esac
    [ "$_n" -ge 10 ] && break
    if [ "$_n" = 0 ] && [ -n "$_unredir" ]; then
      _drop_headers "$_unredir"
      case " $_unredir " in *" authorization "*) : > "$head.auth" ;; esac
    fi
    if [ "$_follow" = urllib2 ]; then
      # urllib keeps HEAD from Python 3.13 on; the target's Python decides, as with Ansible.
      if [ "$_m" != HEAD ] || ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then _m=GET; fi
      _keep=0; _drop_headers "content-length content-type"
    else
      case "$_code" in
        307|308) ;;
        *) _keep=0; _drop_headers "content-length content-type transfer-encoding"
           case "$_m:$_code" in HEAD:*) ;; *:302|*:303|POST:301) _m=GET ;; esac ;;
      esac
    fi
    _n=$((_n + 1))
  done
  _w=$(printf '%s\t%s\t%s' "$_code" "$_n" "$_cur")
  rm -f "$head.w"
elif command -v wget >/dev/null 2>&1; then
  _um=$(umask); umask 077
  sed -e '1,/^#--berth-wget--$/d' -e '/^#--berth-body--$/,$d' "$head.in" > "$head.rc"
  _url=$(sed -n 's/^#url //p' "$head.rc" | head -n 1)
  if [ -n "$_bf" ]; then printf '%s\n' "body_file = $_bf" >> "$head.rc"; fi
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
  rm -f "$head.rc" "$head.log"
else
  rm -f "$head.in" "$head.body" "$head.cfg" "$head.url" "$head.auth" "$head.hdr"
  echo 'curl or wget is required on the target for this module' >&2; exit 127
fi
rm -f "$head.in" "$head.body" "$head.cfg" "$head.url" "$head.auth" "$head.hdr"
printf 'CURL\t%s\t%s\n' "$_rc" "$_w"
if [ "$_rc" != 0 ]; then printf 'CURLERR\t'; tr '\n' ' ' < "$head.err"; echo; fi
rm -f "$head.err"
echo '--- headers'; cat "$head" 2>/dev/null; echo '--- end'
"#;

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
    r.file_url = line_url_is_file(f.get(4).copied().unwrap_or(""));
    if r.status == 0 {
        r.status = if r.file_url && r.curl_rc == 0 {
            200
        } else {
            -1
        };
    }
    let head = out
        .split_once("--- headers\n")
        .map(|(_, h)| h)
        .unwrap_or("");
    let head = head.rsplit_once("--- end").map(|(h, _)| h).unwrap_or(head);
    // With redirects or `100 Continue` there are several blocks: keep the last.
    // A file:// read has one block of headers and no status line.
    let blocks: Vec<&str> = head
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty() && (r.file_url || b.trim_start().starts_with("HTTP/")))
        .collect();
    if let Some(block) = blocks.last() {
        let mut lines = block.trim_start().split("\r\n");
        if !r.file_url {
            if let Some(status_line) = lines.next() {
                let mut parts = status_line.splitn(3, ' ');
                parts.next();
                parts.next();
                r.reason = parts.next().unwrap_or("").trim().to_string();
            }
        }
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                r.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    if r.reason.is_empty() && r.status > 0 && !r.file_url {
        r.reason = reason_phrase(r.status).to_string();
    }
    Some(r)
}

/// Python's ssl wording for curl's certificate failures (curl exit 60), as
/// Ansible reports them: roles match on "certificate verify failed",
/// "Hostname mismatch" and the like.
fn python_cert_error(curl: &str) -> String {
    // curl appends a paragraph of advice after the first sentence.
    let first = curl
        .split(" More details here")
        .next()
        .unwrap_or(curl)
        .trim();
    let first = first.strip_prefix("(60) ").unwrap_or(first);
    let reason = if let Some(rest) = first.split_once("target host name '") {
        let host = rest.1.split('\'').next().unwrap_or("");
        format!("Hostname mismatch, certificate is not valid for '{host}'.")
    } else {
        first
            .strip_prefix("SSL certificate problem: ")
            .unwrap_or(first)
            .to_string()
    };
    format!("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason} (_ssl.c:992)")
}

fn line_url_is_file(url: &str) -> bool {
    url.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("file:"))
}

impl NetResponse {
    /// The status as Ansible returns it: null for a file:// URL.
    pub(crate) fn status_value(&self) -> Value {
        if self.file_url && self.status == 200 {
            Value::Null
        } else {
            Value::from(self.status)
        }
    }

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
                // Python's FileHandler on a file it cannot open.
                37 if self.file_url => {
                    let path = self.url.get(7..).unwrap_or("");
                    format!("Request failed: <urlopen error [Errno 2] No such file or directory: '{path}'>")
                }
                28 => "Connection failure: timed out".to_string(),
                // Python's wording for the usual socket errors.
                7 => "Request failed: <urlopen error [Errno 111] Connection refused>".to_string(),
                6 => "Request failed: <urlopen error [Errno -2] Name or service not known>"
                    .to_string(),
                60 => format!(
                    "Request failed: <urlopen error {}>",
                    python_cert_error(self.error.as_deref().unwrap_or(""))
                ),
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
        r.headers
            .push(("Authorization".into(), "Bearer t0k".into()));
        r.body = Some(b"line1\nline2".to_vec());
        r.method = "POST".into();
        let c = r.config();
        assert!(c.contains("url = \"http://h/x?a=\\\"b\\\"\"\n"));
        // Without force_basic_auth the credentials answer a challenge only.
        assert!(c.contains("#--berth-auth--\nanyauth\nuser = \"u:p\\\\w\"\n"));
        let script = r.script();
        for secret in ["p\\w", "t0k", "line1"] {
            assert!(!script.contains(secret), "{secret} in the script");
        }
        assert!(r.payload().ends_with(b"#--berth-body--\nline1\nline2"));
        assert!(script.starts_with("_m=POST; _follow=urllib2; _bl=11; "));
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
    fn certificate_failures_read_as_pythons() {
        let cases = [
            ("(60) SSL: no alternative certificate subject name matches target host name 'fail.h' More details here: https://curl.se/docs/sslcerts.html  curl failed to verify",
             "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for 'fail.h'. (_ssl.c:992)"),
            ("SSL certificate problem: self-signed certificate More details here: x",
             "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:992)"),
        ];
        for (curl, want) in cases {
            let r = NetResponse {
                status: -1,
                curl_rc: 60,
                error: Some(curl.into()),
                ..NetResponse::default()
            };
            assert_eq!(r.msg(), format!("Request failed: <urlopen error {want}>"));
        }
    }

    #[test]
    fn file_urls_have_no_status_and_name_a_missing_file() {
        let ok = parse_response("CURL\t0\t000\t0\tfile:///tmp/a\n--- headers\nContent-Length: 6\r\nAccept-ranges: bytes\r\n\r\n--- end\n").unwrap();
        assert_eq!(
            (ok.status, ok.status_value(), ok.msg()),
            (200, Value::Null, "OK (6 bytes)".to_string())
        );
        let gone = parse_response("CURL\t37\t000\t0\tfile:///tmp/b\nCURLERR\tcurl: (37) Couldn't open file /tmp/b\n--- headers\n--- end\n").unwrap();
        assert_eq!(gone.status, -1);
        assert_eq!(
            gone.msg(),
            "Request failed: <urlopen error [Errno 2] No such file or directory: '/tmp/b'>"
        );
    }

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(mask_url("https://u:p@h/x?a@b"), "https://****:****@h/x?a@b");
        assert_eq!(mask_url("https://u@h/"), "https://****@h/");
        assert_eq!(mask_url("https://h/a@b"), "https://h/a@b");
        assert_eq!(url_host("https://u:p@Example.COM:8443/x"), "example.com");
    }

    #[test]
    fn url_file_names() {
        assert_eq!(url_filename("http://h:1/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_filename("http://h:1/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
    }
}
