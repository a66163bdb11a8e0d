//! `uri`: make an HTTP request FROM the target with curl; credentials and
//! body travel in curl's config on stdin.

use std::time::Instant;

use base64::Engine;
use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::net_http::{parse_headers, parse_response, Follow, NetHttp};
use crate::modules::net_perms::{parse_stat, stat_script, NetPerms};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

/// The module's own parameters; the request ones are `COMMON_PARAMS`.
const KNOWN: &[&str] = &[
    "method",
    "body",
    "body_format",
    "status_code",
    "return_content",
    "follow_redirects",
    "user",
    "dest",
    "creates",
    "removes",
    "ca_path",
    "unix_socket",
    "src",
    "remote_src",
    "force",
];

struct Plan {
    force: bool,
    /// `body_format: form-multipart`: the fields, encoded once the
    /// controller's files are read.
    multipart: Option<Map<String, Value>>,
    /// `src`: a file sent as the body (on the controller unless `remote_src`).
    src: Option<String>,
    remote_src: bool,
    req: NetHttp,
    status_codes: Vec<i64>,
    return_content: bool,
    dest: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
    perms: NetPerms,
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// The elements Python iterates in `value` (a str's characters, a dict's keys).
fn py_iter(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::String(s) => Some(s.chars().map(|c| Value::from(c.to_string())).collect()),
        Value::Array(items) => Some(items.clone()),
        Value::Object(m) => Some(m.keys().map(|k| Value::from(k.as_str())).collect()),
        _ => None,
    }
}

/// Ansible's `form_urlencoded`: a string as it is; a mapping's items or a
/// list of pairs, each value a scalar or a list of them (repeated keys),
/// `None` dropped, encoded as Python's `urlencode(doseq=True)`. A list
/// element that is not a pair fails with Python's unpacking message.
fn form_body(body: &Value) -> Result<String, String> {
    let pairs: Vec<(Value, Value)> = match body {
        Value::String(s) => return Ok(s.clone()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), v.clone()))
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|i| match py_iter(i) {
                Some(kv) if kv.len() == 2 => Ok((kv[0].clone(), kv[1].clone())),
                Some(kv) if kv.len() > 2 => {
                    Err("too many values to unpack (expected 2)".to_string())
                }
                Some(kv) => Err(format!(
                    "not enough values to unpack (expected 2, got {})",
                    kv.len()
                )),
                None => Err(format!(
                    "cannot unpack non-iterable {} object",
                    crate::modules::args::type_name(i)
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("cannot form-urlencode body, expect list or dict".into()),
    };
    let mut out = Vec::new();
    for (k, values) in pairs {
        let values = match &values {
            Value::Array(_) | Value::Object(_) => py_iter(&values).unwrap_or_default(),
            other => vec![other.clone()],
        };
        for v in values.iter().filter(|v| !v.is_null()) {
            out.push(format!(
                "{}={}",
                urlencode(&scalar(&k)),
                urlencode(&scalar(v))
            ));
        }
    }
    Ok(out.join("&"))
}

fn plan(args: &Map<String, Value>) -> Result<Plan, String> {
    let a = Args::new("uri", args);
    a.check_known(&[KNOWN, crate::modules::net_http::COMMON_PARAMS].concat())?;
    let url = a.required_str("url")?;
    let method = a
        .str("method")?
        .unwrap_or_else(|| "GET".into())
        .to_uppercase();
    let mut req = NetHttp::new(&url);
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(
            "Parameter 'method' needs to be a single word in uppercase, like GET or POST.".into(),
        );
    }
    req.method = method.clone();
    req.headers = parse_headers(a.get("headers"))?;
    let src = a.str("src")?;
    if src.is_some() && a.get("body").is_some() {
        return Err("parameters are mutually exclusive: body|src".into());
    }
    let mut multipart = None;
    let body_format = a
        .choice(
            "body_format",
            &["raw", "json", "form-urlencoded", "form-multipart"],
            Some("raw"),
        )?
        .unwrap_or_default();
    // The format's Content-Type goes with `src` bodies too, as Ansible's does.
    let format_type = match body_format.as_str() {
        "json" => Some("application/json"),
        "form-urlencoded" => Some("application/x-www-form-urlencoded"),
        _ => None,
    };
    if let Some(t) = format_type {
        if !req.has_header("content-type") {
            req.headers.push(("Content-Type".into(), t.into()));
        }
    }
    if let Some(body) = a.get("body") {
        let text = match body_format.as_str() {
            // Python's json.dumps: ", " and ": " between items, ASCII only.
            "json" => match body {
                Value::String(s) => s.clone(),
                other => crate::playbook::filters::json_dumps(
                    &minijinja::Value::from_serialize(other),
                    None,
                    false,
                )
                .map_err(|e| format!("failed to encode body as JSON: {e}"))?,
            },
            "form-urlencoded" => form_body(body)
                .map_err(|e| format!("failed to parse body as form_urlencoded: {e}"))?,
            "form-multipart" => match body {
                Value::Object(m) => {
                    multipart = Some(m.clone());
                    String::new()
                }
                other => {
                    return Err(format!(
                        "failed to parse body as form-multipart: {}",
                        crate::modules::uri_multipart::bad_fields(other)
                    ))
                }
            },
            _ => scalar(body),
        };
        req.body = Some(text.into_bytes());
    }
    req.timeout = a.int("timeout")?.unwrap_or(30).max(0) as u64;
    req.validate_certs = a.bool("validate_certs", true)?;
    let follow = a
        .choice(
            "follow_redirects",
            &["all", "none", "safe", "urllib2", "yes", "no"],
            Some("safe"),
        )?
        .unwrap_or_default();
    req.follow = Follow::parse(&follow);
    req.apply_common(&a, "user")?;
    let status_codes = match a.get("status_code") {
        None => vec![200],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                scalar(v)
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("status_code contains a non-integer: {v}"))
            })
            .collect::<Result<_, _>>()?,
        Some(v) => scalar(v)
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("status_code contains a non-integer: {s}"))
            })
            .collect::<Result<_, _>>()?,
    };
    let force = a.bool("force", false)?;
    if force {
        req.headers
            .push(("Cache-Control".into(), "no-cache".into()));
    }
    Ok(Plan {
        force,
        multipart,
        remote_src: a.bool("remote_src", false)?,
        src,
        req,
        status_codes,
        return_content: a.bool("return_content", false)?,
        dest: a.str("dest")?,
        creates: a.str("creates")?,
        removes: a.str("removes")?,
        perms: NetPerms::from_args(&a)?,
    })
}

/// Resolve a `Location` against the request URL, like Python's `urljoin`
/// (RFC 3986 with Python's leniency: `https:path` on an https base is a
/// relative reference).
fn url_join(base: &str, loc: &str) -> String {
    fn scheme_of(u: &str) -> Option<(&str, &str)> {
        let (s, rest) = u.split_once(':')?;
        let mut chars = s.chars();
        (chars.next()?.is_ascii_alphabetic()
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some((s, rest))
    }
    let Some((scheme, after)) = scheme_of(base) else {
        return loc.to_string();
    };
    let after = after.strip_prefix("//").unwrap_or(after);
    let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (host, base_rest) = after.split_at(host_end);
    let base_path = base_rest.split(['?', '#']).next().unwrap_or("");
    let mut loc = loc;
    if let Some((s, rest)) = scheme_of(loc) {
        if !s.eq_ignore_ascii_case(scheme) {
            return loc.to_string();
        }
        loc = rest;
    }
    if let Some(net) = loc.strip_prefix("//") {
        // An empty authority keeps the base's, as Python's urljoin does.
        if !net.is_empty() && !net.starts_with(['/', '?', '#']) {
            return format!("{scheme}://{net}");
        }
        loc = net;
    }
    if loc.is_empty() {
        return base.split('#').next().unwrap_or(base).to_string();
    }
    let (path, tail) = match loc.find(['?', '#']) {
        Some(i) => loc.split_at(i),
        None => (loc, ""),
    };
    let merged = if path.is_empty() {
        base_path.to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        let dir = base_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{dir}/{path}")
    };
    // Remove dot segments.
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = merged.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let path = out.join("/");
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    format!("{scheme}://{host}{path}{tail}")
}

fn py_list(codes: &[i64]) -> String {
    format!(
        "[{}]",
        codes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let mut p = match plan(args) {
        Ok(p) => p,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    // Bodies made of the controller's files: a multipart form, or `src`.
    if let Some(fields) = &p.multipart {
        match crate::modules::uri_multipart::encode(fields, |name| {
            let path = ctx.find_file("files", name).unwrap_or_else(|| name.into());
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        }) {
            Ok((ctype, body)) => {
                p.req
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                p.req.headers.push(("Content-Type".into(), ctype));
                p.req.body = Some(body);
            }
            Err(e) => {
                return Ok(ModuleOutcome::failed(format!(
                    "failed to parse body as form-multipart: {e}"
                )))
            }
        }
    }
    if let Some(src) = &p.src {
        if p.remote_src {
            p.req.body_file = Some(src.clone());
        } else {
            let path = ctx.find_file("files", src).unwrap_or_else(|| src.into());
            match std::fs::read(&path) {
                Ok(bytes) => p.req.body = Some(bytes),
                Err(_) => {
                    return Ok(
                        ModuleOutcome::failed(format!("Unable to open source file {src}"))
                            .with("elapsed", 0),
                    )
                }
            }
        }
    }
    if ctx.check_mode {
        return Ok(ModuleOutcome::ok()
            .with("skipped", true)
            .with("msg", "This action (uri) does not support check mode."));
    }
    let accepted = p
        .status_codes
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let mut s = String::from("export LC_ALL=C\n");
    if let Some(c) = &p.creates {
        s.push_str(&format!(
            "if [ -e {} ]; then echo SKIP-CREATES; exit 0; fi\n",
            quote(c)
        ));
    }
    if let Some(r) = &p.removes {
        s.push_str(&format!(
            "if [ ! -e {} ]; then echo SKIP-REMOVES; exit 0; fi\n",
            quote(r)
        ));
    }
    s.push_str("_d=$(mktemp -d) || exit 1; trap 'rm -rf \"$_d\"' EXIT; body=\"$_d/body\"; head=\"$_d/head\"; extra_header=\n");
    if let Some(dest) = &p.dest {
        let probe = if p.force { "false" } else { "[ -f \"$dest\" ]" };
        s.push_str(&format!(
            "dest={}\nif {probe}; then extra_header=\"If-Modified-Since: $(date -u -r \"$dest\" '+%a, %d %b %Y %H:%M:%S GMT')\"; fi\n",
            quote(dest)
        ));
    }
    s.push_str(&p.req.script());
    s.push_str(&format!(
        "_code=$(printf '%s' \"$_w\" | cut -f1); _ok=0; case \" {accepted} \" in *\" $_code \"*) _ok=1;; esac\n"
    ));
    let print_body = if p.dest.is_some() && !p.return_content {
        "[ \"$_ok\" = 0 ]"
    } else {
        "true"
    };
    s.push_str(&format!(
        "if {print_body}; then echo '--- body'; base64 -w0 < \"$body\" 2>/dev/null; echo; fi\n"
    ));
    if p.dest.is_some() {
        s.push_str(
            "if [ \"$_ok\" = 1 ] && [ \"$_code\" != 304 ]; then\n\
               if [ -d \"$dest\" ]; then\n\
                 _n=$(awk '/^HTTP\\// { cd = \"\" } { l = $0; sub(/\\r$/, \"\", l); if (tolower(substr(l, 1, 20)) == \"content-disposition:\") cd = substr(l, 21) } END { print cd }' \"$head\" | sed -n 's/.*[Ff][Ii][Ll][Ee][Nn][Aa][Mm][Ee]=\"\\{0,1\\}\\([^\";]*\\).*/\\1/p'); _n=${_n##*/}\n\
                 if [ -z \"$_n\" ]; then _u=$(printf '%s' \"$_w\" | cut -f3); _u=${_u%%[?#]*}; _u=${_u#*://}; case \"$_u\" in */*) _n=${_u##*/};; esac; fi\n\
                 dest=\"$dest/${_n:-index.html}\"\n\
               fi\n\
               if ! cmp -s \"$body\" \"$dest\"; then cp \"$body\" \"$dest\" || exit 1; echo WROTE; fi\n\
             fi\n\
             if [ -e \"$dest\" ] && [ \"$_ok\" = 1 ]; then printf 'PATH\\t%s\\n' \"$dest\";\n",
        );
        s.push_str(&p.perms.script("dest", false));
        s.push_str("echo PC=$pc\n");
        s.push_str(&stat_script("dest"));
        s.push_str("fi\n");
    }
    let started = Instant::now();
    let config = p.req.payload();
    let out = ctx.exec(&s, Some(&config))?;
    let elapsed = started.elapsed().as_secs();
    let stdout = out.stdout_str();
    if stdout.starts_with("SKIP-CREATES") {
        let c = p.creates.unwrap_or_default();
        return Ok(ModuleOutcome::ok().with("stdout", format!("skipped, since '{c}' exists")));
    }
    if stdout.starts_with("SKIP-REMOVES") {
        let r = p.removes.unwrap_or_default();
        return Ok(
            ModuleOutcome::ok().with("stdout", format!("skipped, since '{r}' does not exist"))
        );
    }
    let Some(resp) = parse_response(&stdout) else {
        return Ok(ModuleOutcome::failed(format!(
            "uri could not run on the target: {}",
            out.stderr_str().trim()
        ))
        .with("rc", out.rc));
    };
    let content: Option<Vec<u8>> = stdout.split_once("--- body\n").map(|(_, b)| {
        base64::engine::general_purpose::STANDARD
            .decode(b.lines().next().unwrap_or("").trim())
            .unwrap_or_default()
    });
    if resp.status > 0 && matches!(resp.curl_rc, 18 | 56) {
        // The body broke off (a short Content-Length or a bad chunk).
        let read = content.as_ref().map_or(0, Vec::len);
        return Ok(ModuleOutcome::failed(format!(
            "HTTP Error while fetching {}: IncompleteRead({read} bytes read)",
            crate::modules::net_http::mask_url(&p.req.url)
        )));
    }
    let mut result = Map::new();
    let mut changed = false;
    if p.dest.is_some() {
        // As Ansible's uri: a response it writes to dest is a change, even
        // when the file already held those bytes.
        changed = stdout.lines().any(|l| l == "WROTE")
            || stdout.lines().any(|l| l == "PC=1")
            || (p.status_codes.contains(&resp.status) && resp.status != 304);
        if let Some(path) = stdout.lines().find_map(|l| l.strip_prefix("PATH\t")) {
            result.insert("path".into(), Value::from(path));
        }
        if out.rc != 0 {
            // Ansible's atomic_move words it so, with the OS error.
            let dest = p.dest.as_deref().unwrap_or_default();
            let err = out.stderr_str();
            let why = if err.contains("No such file or directory") {
                format!("[Errno 2] No such file or directory: '{dest}'")
            } else if err.contains("Permission denied") {
                format!("[Errno 13] Permission denied: '{dest}'")
            } else {
                err.trim().to_string()
            };
            return Ok(ModuleOutcome::failed(format!(
                "Could not replace file: {dest} to {dest}: {why}"
            ))
            .with("status", resp.status)
            .with("url", p.req.url.clone()));
        }
        if let Some(st) = parse_stat(&stdout) {
            result.extend(st);
        }
    }
    result.extend(resp.header_map());
    if let Some(Value::String(loc)) = result.get("location") {
        let absolute = url_join(&p.req.url, loc);
        result.insert("location".into(), Value::from(absolute));
    }
    let ok = p.status_codes.contains(&resp.status);
    let msg = resp.msg();
    result.insert("changed".into(), Value::Bool(changed));
    result.insert("status".into(), Value::from(resp.status));
    result.insert(
        "url".into(),
        Value::from(if resp.url.is_empty() {
            crate::modules::net_http::mask_url(&p.req.url)
        } else {
            resp.url.clone()
        }),
    );
    result.insert("redirected".into(), Value::Bool(resp.redirects > 0));
    result.insert("elapsed".into(), Value::from(elapsed));
    let mut cookies = Map::new();
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("set-cookie") {
            if let Some((name, val)) = v.split(';').next().and_then(|c| c.split_once('=')) {
                cookies.insert(name.trim().to_string(), Value::from(val.trim()));
            }
        }
    }
    let cookies_string = cookies
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("; ");
    result.insert("cookies".into(), Value::Object(cookies));
    result.insert("cookies_string".into(), Value::from(cookies_string));
    if let Some(bytes) = &content {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let ctype = resp
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        let sub = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .split('/')
            .nth(1)
            .unwrap_or("");
        if sub.contains("json") || sub.contains("javascript") {
            if let Ok(js) = serde_json::from_str::<Value>(&text) {
                result.insert("json".into(), js);
            }
        }
        if p.return_content {
            result.insert("content".into(), Value::from(text));
        }
    }
    if ok {
        result.insert("msg".into(), Value::from(msg));
    } else {
        result.insert("failed".into(), Value::Bool(true));
        result.insert(
            "msg".into(),
            Value::from(format!(
                "Status code was {} and not {}: {}",
                resp.status,
                py_list(&p.status_codes),
                msg
            )),
        );
    }
    let mut result = Value::Object(result);
    if let Some((_, pw)) = &p.req.user {
        // As Ansible's uri: url_password is no_log, in values and in keys.
        crate::modules::mask_no_log(
            &mut result,
            std::slice::from_ref(pw),
            true,
            &[
                "msg",
                "exception",
                "warnings",
                "deprecations",
                "failed",
                "skipped",
                "changed",
                "rc",
                "stdout",
                "stderr",
                "elapsed",
                "path",
                "location",
                "content_type",
            ],
        );
    }
    let Value::Object(result) = result else {
        unreachable!("a map stays a map")
    };
    Ok(ModuleOutcome {
        result,
        diffs: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::{closed_port, HttpServer, NetHarness, Reply};
    use serde_json::json;

    fn server() -> HttpServer {
        HttpServer::start(|req| match req.path.as_str() {
            "/json" => Reply::new(200, "application/json", r#"{"name":"berth","n":3}"#)
                .header("X-Trace-Id", "abc"),
            // As a real server: a copy the client already has is not sent again.
            "/text" if req.header("if-modified-since").is_some() => {
                Reply::new(304, "text/plain", "")
            }
            "/text" => Reply::new(200, "text/plain; charset=utf-8", "hello"),
            "/missing" => Reply::new(404, "text/plain", "no such thing"),
            "/redirect" => Reply::new(302, "text/plain", "").header("Location", "/text"),
            "/to-echo-302" => Reply::new(302, "text/plain", "").header("Location", "/echo"),
            "/to-echo-307" => Reply::new(307, "text/plain", "").header("Location", "/echo"),
            "/echo" => {
                let auth = req.header("authorization").unwrap_or("").to_string();
                let body = json!({
                    "method": req.method,
                    "ctype": req.header("content-type"),
                    "body": String::from_utf8_lossy(&req.body),
                    "auth": auth,
                    "x": req.header("x-custom"),
                });
                Reply::new(201, "application/json", body.to_string())
                    .header("Set-Cookie", "sid=42; Path=/")
            }
            _ => Reply::new(500, "text/plain", "boom"),
        })
    }

    #[test]
    fn fixture_table() {
        let srv = server();
        let mut h = NetHarness::new(json!({}));
        // (args, expected subset of the result)
        let cases: Vec<(Value, Value)> = vec![
            (
                json!({"url": srv.url("/json")}),
                json!({"changed": false, "status": 200, "msg": "OK (22 bytes)", "redirected": false,
                       "json": {"name": "berth", "n": 3}, "content_type": "application/json",
                       "x_trace_id": "abc", "content_length": "22", "url": srv.url("/json")}),
            ),
            (
                json!({"url": srv.url("/text"), "return_content": true}),
                json!({"status": 200, "content": "hello", "content_type": "text/plain; charset=utf-8"}),
            ),
            (
                json!({"url": srv.url("/missing")}),
                json!({"failed": true, "status": 404,
                       "msg": "Status code was 404 and not [200]: HTTP Error 404: Not Found"}),
            ),
            (
                json!({"url": srv.url("/missing"), "status_code": [200, 404], "return_content": "yes"}),
                json!({"status": 404, "msg": "HTTP Error 404: Not Found", "content": "no such thing"}),
            ),
            (
                json!({"url": srv.url("/redirect")}),
                json!({"status": 200, "redirected": true, "url": srv.url("/text")}),
            ),
            (
                json!({"url": srv.url("/redirect"), "follow_redirects": "none", "status_code": "302"}),
                json!({"status": 302, "redirected": false, "location": srv.url("/text"), "msg": "HTTP Error 302: Found"}),
            ),
            (
                json!({"url": srv.url("/redirect"), "method": "POST", "body": "x"}),
                json!({"failed": true, "status": 302,
                       "msg": "Status code was 302 and not [200]: HTTP Error 302: Found"}),
            ),
            (
                json!({"url": srv.url("/echo"), "method": "POST", "body_format": "json",
                       "body": {"a": [1, 2]}, "status_code": 201, "headers": {"X-Custom": "yes"}}),
                json!({"status": 201, "cookies": {"sid": "42"}, "cookies_string": "sid=42",
                       "json": {"method": "POST", "ctype": "application/json", "body": "{\"a\": [1, 2]}", "auth": "", "x": "yes"}}),
            ),
            (
                json!({"url": srv.url("/echo"), "method": "PUT", "body_format": "form-urlencoded",
                       "body": {"name": "a b", "v": "x&y"}, "status_code": [201],
                       "url_username": "deploy", "url_password": "s3cr\"et", "force_basic_auth": true}),
                json!({"status": 201,
                       "json": {"method": "PUT", "ctype": "application/x-www-form-urlencoded", "body": "name=a+b&v=x%26y",
                                "auth": "Basic ZGVwbG95OnMzY3IiZXQ=", "x": null}}),
            ),
            (
                json!({"url": srv.url("/json"), "bogus": 1}),
                json!({"failed": true}),
            ),
        ];
        for (args, want) in cases {
            let got = h.run(run, args.clone());
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(
                    got.result.get(k),
                    Some(v),
                    "key {k} for args {args}: {:?}",
                    got.result
                );
            }
        }
        let port = closed_port();
        let refused = h.run(run, json!({"url": format!("http://127.0.0.1:{port}/")}));
        assert_eq!(refused.result["status"], -1);
        let msg = refused.result["msg"].as_str().unwrap();
        assert_eq!(msg, "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>");
    }

    #[test]
    fn wget_when_the_target_has_no_curl() {
        let srv = server();
        let (_bin, path) = crate::modules::net_test_support::path_without(&["curl"]);
        let mut h = NetHarness::new(json!({}));
        h.environment = vec![("PATH".into(), path)];
        let cases: Vec<(Value, Value)> = vec![
            (
                json!({"url": srv.url("/json")}),
                json!({"status": 200, "msg": "OK (22 bytes)", "json": {"name": "berth", "n": 3}, "x_trace_id": "abc"}),
            ),
            (
                json!({"url": srv.url("/redirect"), "return_content": true}),
                json!({"status": 200, "redirected": true, "url": srv.url("/text"), "content": "hello"}),
            ),
            (
                json!({"url": srv.url("/missing"), "return_content": true}),
                json!({"failed": true, "status": 404, "content": "no such thing",
                       "msg": "Status code was 404 and not [200]: HTTP Error 404: Not Found"}),
            ),
            (
                json!({"url": srv.url("/echo"), "method": "POST", "body_format": "json", "body": {"a": "line\nbreak"},
                       "status_code": 201, "url_username": "deploy", "url_password": "s3cr\"et", "force_basic_auth": true}),
                json!({"status": 201, "json": {"method": "POST", "ctype": "application/json",
                       "body": "{\"a\": \"line\\nbreak\"}", "auth": "Basic ZGVwbG95OnMzY3IiZXQ=", "x": null}}),
            ),
        ];
        for (args, want) in cases {
            let got = h.run(run, args.clone());
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(
                    got.result.get(k),
                    Some(v),
                    "key {k} for args {args}: {:?}",
                    got.result
                );
            }
            assert!(
                h.log().last().unwrap().0.contains("PATH="),
                "ran with the curl-less PATH"
            );
        }
        let port = closed_port();
        let refused = h.run(run, json!({"url": format!("http://127.0.0.1:{port}/")}));
        assert_eq!(refused.result["msg"], "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>");
        let (_bin2, bare) = crate::modules::net_test_support::path_without(&["curl", "wget"]);
        h.environment = vec![("PATH".into(), bare)];
        let none = h.run(run, json!({"url": srv.url("/json")}));
        assert!(
            none.result["msg"]
                .as_str()
                .unwrap()
                .contains("curl or wget is required on the target"),
            "{:?}",
            none.result
        );
    }

    #[test]
    fn location_is_made_absolute() {
        assert_eq!(url_join("http://h:1/a/b?x", "/c"), "http://h:1/c");
        assert_eq!(url_join("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(url_join("https://h/a", "//o/p"), "https://o/p");
        assert_eq!(url_join("http://h/a", "https://x/y"), "https://x/y");
        assert_eq!(
            url_join(
                "https://h/redirect-to?url=https:status/302",
                "https:status/302"
            ),
            "https://h/status/302"
        );
        assert_eq!(url_join("https://h/a/b/c", "../d?x=1"), "https://h/a/d?x=1");
        assert_eq!(url_join("https://h/a/b", "./"), "https://h/a/");
        assert_eq!(url_join("https://h/a/b", "?q"), "https://h/a/b?q");
        assert_eq!(
            url_join("https://h/r?u=x", "https:///status/302"),
            "https://h/status/302"
        );
    }

    #[test]
    fn check_mode_is_skipped_and_sends_nothing() {
        let srv = server();
        let mut h = NetHarness::new(json!({}));
        h.check_mode = true;
        let got = h.run(run, json!({"url": srv.url("/json"), "method": "DELETE"}));
        assert_eq!(
            Value::Object(got.result),
            json!({"changed": false, "skipped": true, "msg": "This action (uri) does not support check mode."})
        );
        assert!(srv.requests().is_empty());
    }

    #[test]
    fn redirects_follow_ansibles_rules() {
        let srv = server();
        let mut h = NetHarness::new(json!({}));
        let post = |url: &str, follow: &str| {
            json!({"url": srv.url(url), "method": "POST", "body": "{\"k\": 1}", "body_format": "json",
                   "follow_redirects": follow, "status_code": [201, 302, 307]})
        };
        // (request, status, method the target saw, body it saw, content type)
        let cases = [
            (post("/to-echo-302", "safe"), 302, None, None, None),
            (post("/to-echo-302", "none"), 302, None, None, None),
            (
                post("/to-echo-302", "all"),
                201,
                Some("GET"),
                Some(""),
                None,
            ),
            (
                post("/to-echo-307", "all"),
                201,
                Some("POST"),
                Some("{\"k\": 1}"),
                Some("application/json"),
            ),
            (
                post("/to-echo-302", "urllib2"),
                201,
                Some("GET"),
                Some(""),
                None,
            ),
            (post("/to-echo-307", "urllib2"), 307, None, None, None),
        ];
        for (args, status, method, body, ctype) in cases {
            let got = h.run(run, args.clone());
            assert_eq!(got.result["status"], status, "{args}: {:?}", got.result);
            assert_eq!(got.result["redirected"], method.is_some(), "{args}");
            if let Some(m) = method {
                let js = &got.result["json"];
                assert_eq!(js["method"], m, "{args}");
                assert_eq!(js["body"], body.unwrap(), "{args}");
                assert_eq!(
                    js["ctype"],
                    ctype.map_or(Value::Null, Value::from),
                    "{args}"
                );
                assert_eq!(got.result["url"], srv.url("/echo"), "{args}");
            }
        }
    }

    #[test]
    fn credentials_on_redirects_and_from_netrc() {
        let srv = server();
        let tmp = tempfile::tempdir().unwrap();
        let netrc = tmp.path().join("netrc");
        std::fs::write(&netrc, "machine 127.0.0.1\n  login nu\n  password np\n").unwrap();
        let mut h = NetHarness::new(json!({}));
        let auth = |h: &mut NetHarness, extra: Value| {
            let mut args = json!({"url": srv.url("/to-echo-302"), "status_code": 201});
            args.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let got = h.run(run, args);
            assert_eq!(got.result["status"], 201, "{:?}", got.result);
            got.result["json"]["auth"].as_str().unwrap().to_string()
        };
        let forced = json!({"url_username": "u", "url_password": "pw9", "force_basic_auth": true});
        assert_eq!(auth(&mut h, forced.clone()), "Basic dTpwdzk=");
        let mut unredirected = forced.clone();
        unredirected["unredirected_headers"] = json!(["Authorization"]);
        assert_eq!(auth(&mut h, unredirected), "");
        // Without force_basic_auth the credentials wait for a challenge.
        assert_eq!(
            auth(&mut h, json!({"url_username": "u", "url_password": "pw9"})),
            ""
        );
        h.environment
            .push(("NETRC".into(), netrc.to_str().unwrap().into()));
        // .netrc credentials replace an Authorization header, unless use_netrc is off.
        let bearer = json!({"headers": {"Authorization": "Bearer t"}});
        assert_eq!(auth(&mut h, bearer.clone()), "Basic bnU6bnA=");
        let mut off = bearer;
        off["use_netrc"] = json!(false);
        assert_eq!(auth(&mut h, off), "Bearer t");
        // The password never shows in the result.
        let got = h.run(run, json!({"url": srv.url("/echo"), "status_code": 201, "return_content": true,
                                   "url_username": "u", "url_password": "sekrit", "force_basic_auth": true,
                                   "headers": {"X-Custom": "sekrit-value"}}));
        let text = serde_json::to_string(&got.result).unwrap();
        assert!(!text.contains("sekrit"), "{text}");
        assert_eq!(got.result["json"]["x"], "********-value");
    }

    #[test]
    fn dest_creates_and_idempotency() {
        let srv = server();
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("out.txt");
        let mut h = NetHarness::new(json!({}));
        let args = json!({"url": srv.url("/text"), "dest": dest.to_str().unwrap(), "mode": "0600"});
        let first = h.run(run, args.clone());
        assert_eq!(first.result["changed"], true, "{:?}", first.result);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello");
        assert_eq!(first.result["mode"], "0600");
        assert_eq!(first.result["path"], dest.to_str().unwrap());
        let second = h.run(run, args);
        assert_eq!(second.result["changed"], false, "{:?}", second.result);
        assert_eq!(second.result["status"], 304, "{:?}", second.result);
        let dir = h.run(
            run,
            json!({"url": srv.url("/text"), "dest": tmp.path().to_str().unwrap()}),
        );
        assert_eq!(
            dir.result["path"],
            tmp.path().join("text").to_str().unwrap()
        );
        let before = srv.requests().len();
        let skipped = h.run(
            run,
            json!({"url": srv.url("/text"), "creates": dest.to_str().unwrap()}),
        );
        assert_eq!(
            skipped.result["stdout"],
            format!("skipped, since '{}' exists", dest.display())
        );
        assert_eq!(skipped.result["changed"], false);
        let removes = h.run(
            run,
            json!({"url": srv.url("/text"), "removes": tmp.path().join("nope").to_str().unwrap()}),
        );
        assert!(removes.result["stdout"]
            .as_str()
            .unwrap()
            .ends_with("does not exist"));
        assert_eq!(srv.requests().len(), before, "skipped runs send no request");
    }
}
