//! `get_url`: download a file ON THE TARGET with curl. Credentials and
//! headers go through curl's config on stdin. No download when `dest`
//! exists and `force` is off (unless its checksum differs from `checksum`).

use std::time::Instant;

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::net_http::{mask_url, parse_headers, parse_response, url_filename, NetHttp};
use crate::modules::net_perms::{field, has_line, parse_stat, stat_script, NetPerms};
use crate::modules::{quote, ModuleContext, ModuleOutcome};

/// The module's own parameters; the request ones are `COMMON_PARAMS`.
const KNOWN: &[&str] = &[
    "dest", "checksum", "force", "username", "tmp_dest", "backup",
];

/// Python's `hashlib.algorithms_available` as a target computes them:
/// coreutils' `<algo>sum`, else `openssl dgst`.
const ALGORITHMS: &[&str] = &[
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha3_224",
    "sha3_256",
    "sha3_384",
    "sha3_512",
    "blake2b",
    "blake2s",
    "sha512_224",
    "sha512_256",
    "sm3",
];

struct Plan {
    req: NetHttp,
    dest: String,
    /// (algorithm, hex digest or URL of a checksum file)
    checksum: Option<(String, String)>,
    force: bool,
    tmp_dest: Option<String>,
    backup: bool,
    perms: NetPerms,
}

fn plan(args: &Map<String, Value>) -> Result<Plan, String> {
    let a = Args::new("get_url", args);
    a.check_known(&[KNOWN, crate::modules::net_http::COMMON_PARAMS].concat())?;
    let url = a.required_str("url")?;
    let dest = a.required_str("dest")?;
    let mut req = NetHttp::new(&url);
    req.headers = parse_headers(a.get("headers"))?;
    req.timeout = a.int("timeout")?.unwrap_or(10).max(0) as u64;
    req.validate_certs = a.bool("validate_certs", true)?;
    req.apply_common(&a, "username")?;
    let checksum = match a.str("checksum")?.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let (algo, value) = c
                .split_once(':')
                .ok_or("The checksum parameter has to be in format <algorithm>:<checksum>")?;
            let algo = algo.trim().to_ascii_lowercase();
            if !ALGORITHMS.contains(&algo.as_str()) {
                return Err(format!(
                    "Unsupported hash algorithm '{algo}'; use one of: {}",
                    ALGORITHMS.join(", ")
                ));
            }
            Some((algo, value.trim().to_string()))
        }
    };
    Ok(Plan {
        req,
        dest,
        checksum,
        force: a.bool("force", false)?,
        tmp_dest: a.str("tmp_dest")?,
        backup: a.bool("backup", false)?,
        perms: NetPerms::from_args(&a)?,
    })
}

/// Keep hex digits only, lower-cased, like Ansible's clean-up of a checksum.
fn clean_digest(s: &str) -> Result<String, String> {
    let d: String = s
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    if d.is_empty() || !d.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("The checksum format is invalid".into());
    }
    Ok(d)
}

/// Find the digest for `filename` in a checksum file's text, as Ansible's
/// `parse_digest_lines` reads it: a single bare hash, BSD lines
/// (`SHA256 (name) = hash`) or GNU lines (`hash  name`, `hash *name`,
/// `hash ./name`); the first line naming the file wins.
fn digest_from_list(text: &str, filename: &str) -> Option<String> {
    static BSD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static GNU: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let bsd = BSD.get_or_init(|| {
        regex::Regex::new(r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$").expect("valid")
    });
    let gnu = GNU.get_or_init(|| {
        regex::Regex::new(r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$").expect("valid")
    });
    let lines: Vec<&str> = text.split('\n').collect();
    let lines = match lines.split_last() {
        Some((&"", rest)) => rest,
        _ => &lines[..],
    };
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return Some(lines[0].to_string());
    }
    for line in lines {
        if let Some(m) = bsd.captures(line) {
            if &m["path"] == filename {
                return Some(m["digest"].to_string());
            }
        } else if let Some(m) = gnu.captures(line) {
            if m["path"].trim_start_matches(['.', '/']) == filename {
                return Some(m["digest"].to_string());
            }
        }
    }
    None
}

/// What the file at `$dest` lets a download do: `NOWRITE_DEST`,
/// `NOREAD_DEST`, its `DSHA1`, or (absent) `NOPARENT`/`NOWRITE` of its folder.
const DEST_CHECK: &str = "if [ -e \"$dest\" ]; then\n\
       if [ ! -w \"$dest\" ]; then echo NOWRITE_DEST; elif [ ! -r \"$dest\" ]; then echo NOREAD_DEST;\n\
       elif [ ! -d \"$dest\" ]; then printf 'DSHA1\\t%s\\n' \"$(sha1sum < \"$dest\" | cut -d' ' -f1)\"; fi\n\
     else _p=$(dirname -- \"$dest\"); if [ ! -d \"$_p\" ]; then printf 'NOPARENT\\t%s\\n' \"$_p\"; elif [ ! -w \"$_p\" ]; then printf 'NOWRITE\\t%s\\n' \"$_p\"; fi; fi\n";

fn sum_cmd(algo: &str, var: &str) -> String {
    let dgst = match algo {
        "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" => {
            return format!("{algo}sum < \"${var}\" | cut -d' ' -f1")
        }
        "blake2b" => "blake2b512".to_string(),
        "blake2s" => "blake2s256".to_string(),
        "sha512_224" => "sha512-224".to_string(),
        "sha512_256" => "sha512-256".to_string(),
        other => other.replace('_', "-"),
    };
    format!("openssl dgst -r -{dgst} < \"${var}\" | cut -d' ' -f1")
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let mut p = match plan(args) {
        Ok(p) => p,
        Err(e) => return Ok(ModuleOutcome::failed(e)),
    };
    let started = Instant::now();
    let url = mask_url(&p.req.url);
    // Ansible's result starts with these keys.
    let base = |changed: bool, dest: &str| {
        ModuleOutcome::changed(changed)
            .with("checksum_dest", Value::Null)
            .with("checksum_src", Value::Null)
            .with("dest", dest.to_string())
            .with("elapsed", 0)
            .with("url", url.clone())
    };

    // A checksum given as the URL of a checksum list: fetch it first.
    if let Some((algo, value)) = p.checksum.clone() {
        let digest = if value.contains("://") {
            let mut list_req = p.req.clone();
            list_req.url = value.clone();
            let script = format!(
                "export LC_ALL=C\n_d=$(mktemp -d) || exit 1; trap 'rm -rf \"$_d\"' EXIT; body=\"$_d/body\"; head=\"$_d/head\"\n{}\
                 echo '--- list'; cat \"$body\" 2>/dev/null\n",
                list_req.script()
            );
            let out = ctx.exec(&script, Some(&list_req.payload()))?;
            let stdout = out.stdout_str();
            let resp = parse_response(&stdout);
            if resp.as_ref().map(|r| r.status) != Some(200) {
                let msg = resp
                    .map(|r| r.msg())
                    .unwrap_or_else(|| out.stderr_str().trim().to_string());
                return Ok(base(false, &p.dest)
                    .with("failed", true)
                    .with("msg", "Request failed")
                    .with("response", msg));
            }
            let text = stdout
                .split_once("--- list\n")
                .map(|(_, t)| t)
                .unwrap_or("");
            let filename = url_filename(&url);
            match digest_from_list(text, &filename) {
                Some(d) => d,
                None => {
                    return Ok(ModuleOutcome::failed(format!(
                        "Unable to find a checksum for file '{filename}' in '{}'",
                        mask_url(&value)
                    )))
                }
            }
        } else {
            value
        };
        match clean_digest(&digest) {
            Ok(d) => p.checksum = Some((algo, d)),
            Err(e) => {
                return Ok(base(false, &p.dest)
                    .with("failed", true)
                    .with("msg", e)
                    .with("elapsed", 0))
            }
        }
    }

    // One round trip for the facts about dest: what it is, its digest when
    // a checksum is given, its mtime (for If-Modified-Since).
    let mut facts = format!("export LC_ALL=C\ndest={}\n", quote(&p.dest));
    facts.push_str("if [ -d \"$dest\" ]; then echo DIR; elif [ -e \"$dest\" ]; then echo EXISTS; ");
    facts.push_str(
        "printf 'IMS\\t%s\\n' \"$(date -u -r \"$dest\" '+%a, %d %b %Y %H:%M:%S GMT')\"; ",
    );
    if let Some((algo, _)) = &p.checksum {
        facts.push_str(&format!(
            "printf 'SUM\\t%s\\n' \"$({})\"; ",
            sum_cmd(algo, "dest")
        ));
    }
    facts.push_str("else echo ABSENT; fi\n");
    let out = ctx.exec(&facts, None)?;
    let fo = out.stdout_str();
    let dest_is_dir = has_line(&fo, "DIR");
    if has_line(&fo, "EXISTS") {
        // As Ansible: a matching checksum skips the download; a different
        // one forces it; otherwise the server is asked whether it changed.
        let mismatch = match &p.checksum {
            Some((_, want)) if !p.force => field(&fo, "SUM") != Some(want.as_str()),
            _ => false,
        };
        if !p.force && p.checksum.is_some() && !mismatch {
            let mut changed = false;
            if !p.perms.is_empty() {
                let script = format!(
                    "dest={}\n{}echo PC=$pc\n",
                    quote(&p.dest),
                    p.perms.script("dest", ctx.check_mode)
                );
                let out = ctx.exec(&script, None)?;
                if !out.success() {
                    return Ok(ModuleOutcome::failed(out.stderr_str().trim().to_string()));
                }
                changed = out.stdout_str().contains("PC=1");
            }
            let msg = if changed {
                "file already exists but file attributes changed"
            } else {
                "file already exists"
            };
            return Ok(base(changed, &p.dest).with("msg", msg).with("elapsed", 0));
        }
        if mismatch {
            p.force = true;
        } else if !p.force {
            if let Some(ims) = field(&fo, "IMS").filter(|v| !v.is_empty()) {
                p.req
                    .headers
                    .push(("If-Modified-Since".into(), ims.to_string()));
            }
        }
    }
    if p.force {
        p.req
            .headers
            .push(("Cache-Control".into(), "no-cache".into()));
    }

    // Download into a temporary directory next to dest (or in tmp_dest).
    if ctx.check_mode {
        p.req.method = "HEAD".into();
    }
    let tmp_parent = match (&p.tmp_dest, dest_is_dir) {
        (Some(t), _) => quote(t),
        (None, true) => "\"$dest\"".to_string(),
        (None, false) => "\"$(dirname -- \"$dest\")\"".to_string(),
    };
    let mut dl = format!("export LC_ALL=C\ndest={}\n", quote(&p.dest));
    if let Some(t) = &p.tmp_dest {
        dl.push_str(&format!(
            "if [ ! -d {t} ]; then if [ -e {t} ]; then printf 'TMPDEST\\tfile\\n'; else printf 'TMPDEST\\tmissing\\n'; fi; exit 0; fi\n",
            t = quote(t)
        ));
    }
    dl.push_str(&format!(
        "_d=$(mktemp -d {tmp_parent}/.berth-get_url.XXXXXX 2>/dev/null || mktemp -d) || exit 1\nprintf 'TMPDIR\\t%s\\n' \"$_d\"\nbody=\"$_d/body\"; head=\"$_d/head\"; extra_header=\n"
    ));
    dl.push_str(&p.req.script());
    dl.push_str("if [ -f \"$body\" ]; then printf 'SHA1\\t%s\\n' \"$(sha1sum < \"$body\" | cut -d' ' -f1)\"; printf 'SIZE\\t%s\\n' \"$(wc -c < \"$body\")\"; ");
    if let Some((algo, _)) = &p.checksum {
        dl.push_str(&format!(
            "printf 'SUM\\t%s\\n' \"$({})\"; ",
            sum_cmd(algo, "body")
        ));
    }
    dl.push_str("fi\n");
    if !dest_is_dir {
        dl.push_str(DEST_CHECK);
    }
    let out = ctx.exec(&dl, Some(&p.req.payload()))?;
    let so = out.stdout_str();
    let elapsed = || started.elapsed().as_secs();
    match field(&so, "TMPDEST") {
        Some("file") => {
            return Ok(ModuleOutcome::failed(format!(
                "{} is a file but should be a directory.",
                p.tmp_dest.unwrap_or_default()
            ))
            .with("elapsed", 0))
        }
        Some(_) => {
            return Ok(ModuleOutcome::failed(format!(
                "{} directory does not exist.",
                p.tmp_dest.unwrap_or_default()
            ))
            .with("elapsed", 0))
        }
        None => {}
    }
    let tmpdir = field(&so, "TMPDIR").unwrap_or_default().to_string();
    let cleanup = format!("rm -rf {}", quote(&tmpdir));
    let Some(resp) = parse_response(&so) else {
        if !tmpdir.is_empty() {
            ctx.exec(&cleanup, None)?;
        }
        return Ok(ModuleOutcome::failed(format!(
            "get_url could not run on the target: {}",
            out.stderr_str().trim()
        )));
    };
    if resp.status == 304 {
        ctx.exec(&cleanup, None)?;
        return Ok(ModuleOutcome::ok()
            .with("dest", p.dest.clone())
            .with("msg", resp.msg())
            .with("status_code", 304)
            .with("url", url.clone())
            .with("elapsed", elapsed()));
    }
    if resp.status == -1 {
        // No response at all: Ansible's message is the error itself.
        ctx.exec(&cleanup, None)?;
        return Ok(ModuleOutcome::failed(resp.msg())
            .with("dest", p.dest.clone())
            .with("elapsed", elapsed())
            .with("url", url.clone()));
    }
    if resp.curl_rc != 0 && !ctx.check_mode {
        // A response that broke off: Ansible compares what arrived with
        // Content-Length; other transfer errors fail with curl's words.
        ctx.exec(&cleanup, None)?;
        let size: u64 = field(&so, "SIZE")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let cl = resp
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let msg = match cl {
            Some(cl) if resp.curl_rc == 18 && cl > size => {
                let diff = cl - size;
                format!("Incomplete read, (rsp.length={diff}, cl={cl}, st.st_size={size}) failed to read remaining {diff} bytes")
            }
            _ => format!(
                "failed to create temporary content file: {}",
                resp.error.clone().unwrap_or_default()
            ),
        };
        return Ok(ModuleOutcome::failed(msg).with("elapsed", elapsed()));
    }
    if resp.status != 200 {
        ctx.exec(&cleanup, None)?;
        return Ok(ModuleOutcome::failed("Request failed")
            .with("dest", p.dest.clone())
            .with("status_code", resp.status_value())
            .with("response", resp.msg())
            .with("url", url.clone())
            .with("elapsed", elapsed()));
    }
    let dest = if dest_is_dir {
        format!("{}/{}", p.dest.trim_end_matches('/'), resp.filename())
    } else {
        p.dest.clone()
    };
    let tmpsrc = format!("{tmpdir}/body");
    let checksum_src = field(&so, "SHA1").unwrap_or_default().to_string();
    let base = |changed: bool| {
        base(changed, &dest)
            .with("src", tmpsrc.clone())
            .with("elapsed", elapsed())
    };

    // Where the download goes, as Ansible checks it once the request is done:
    // read by the download itself, unless dest is a folder and the name came
    // with the response.
    let co = if dest_is_dir {
        let check = format!("export LC_ALL=C\ndest={}\n{DEST_CHECK}", quote(&dest));
        ctx.exec(&check, None)?.stdout_str()
    } else {
        so.clone()
    };
    let checksum_dest = field(&co, "DSHA1").map(str::to_string);
    let refuse = if has_line(&co, "NOWRITE_DEST") {
        Some(format!("Destination {dest} is not writable"))
    } else if has_line(&co, "NOREAD_DEST") {
        Some(format!("Destination {dest} is not readable"))
    } else if let Some(parent) = field(&co, "NOPARENT") {
        Some(format!("Destination {parent} does not exist"))
    } else {
        field(&co, "NOWRITE").map(|parent| format!("Destination {parent} is not writable"))
    };
    if let Some(msg) = refuse {
        ctx.exec(&cleanup, None)?;
        return Ok(base(false)
            .with("failed", true)
            .with("msg", msg)
            .with("checksum_src", checksum_src)
            .with(
                "checksum_dest",
                checksum_dest.map(Value::from).unwrap_or(Value::Null),
            ));
    }
    if ctx.check_mode {
        ctx.exec(&cleanup, None)?;
        let changed = checksum_dest.as_deref() != Some(checksum_src.as_str());
        return Ok(base(changed)
            .with("msg", resp.msg())
            .with("checksum_src", checksum_src)
            .with(
                "checksum_dest",
                checksum_dest.map(Value::from).unwrap_or(Value::Null),
            ));
    }
    if let Some((_, want)) = &p.checksum {
        let got = field(&so, "SUM").unwrap_or_default();
        if got != want {
            ctx.exec(&cleanup, None)?;
            return Ok(base(false)
                .with("failed", true)
                .with("checksum_src", checksum_src)
                .with(
                    "checksum_dest",
                    checksum_dest.map(Value::from).unwrap_or(Value::Null),
                )
                .with(
                    "msg",
                    format!("The checksum for {tmpsrc} did not match {want}; it was {got}."),
                ));
        }
    }

    // Move into place only when the content differs, then attributes.
    let mut fin = format!(
        "export LC_ALL=C\nbody={}\ndest={}\n_d={}\n",
        quote(&tmpsrc),
        quote(&dest),
        quote(&tmpdir)
    );
    fin.push_str(
        "if [ -d \"$dest\" ]; then rm -rf \"$_d\"; printf 'ISDIR\\n'; exit 2; fi\n\
         if [ -e \"$dest\" ]; then printf 'DSHA1\\t%s\\n' \"$(sha1sum < \"$dest\" | cut -d' ' -f1)\"; fi\n\
         if ! cmp -s \"$body\" \"$dest\" 2>/dev/null; then\n",
    );
    if p.backup {
        fin.push_str(
            "  if [ -e \"$dest\" ]; then _b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p \"$dest\" \"$_b\" && printf 'BACKUP\\t%s\\n' \"$_b\"; fi\n",
        );
    }
    fin.push_str(
        "  if [ -e \"$dest\" ]; then chmod --reference=\"$dest\" \"$body\" 2>/dev/null; chown --reference=\"$dest\" \"$body\" 2>/dev/null; \
         else chmod \"$(printf '%o' $((0666 & ~0$(umask))))\" \"$body\"; fi\n\
           mv -f \"$body\" \"$dest\" || { rm -rf \"$_d\"; exit 1; }\n  echo MOVED\nfi\nrm -rf \"$_d\"\n",
    );
    fin.push_str(&p.perms.script("dest", false));
    fin.push_str("echo PC=$pc\n");
    fin.push_str(&stat_script("dest"));
    fin.push_str("printf 'MD5\\t%s\\n' \"$(md5sum < \"$dest\" | cut -d' ' -f1)\"\n");
    let out = ctx.exec(&fin, None)?;
    let fo = out.stdout_str();
    if has_line(&fo, "ISDIR") {
        return Ok(ModuleOutcome::failed(format!(
            "Destination {dest} is a directory"
        )));
    }
    if !out.success() {
        return Ok(ModuleOutcome::failed(format!(
            "Could not write {dest}: {}",
            out.stderr_str().trim()
        )));
    }
    let changed = has_line(&fo, "MOVED") || has_line(&fo, "PC=1");
    let mut o = base(changed)
        .with("checksum_src", checksum_src)
        .with(
            "checksum_dest",
            field(&fo, "DSHA1").map(Value::from).unwrap_or(Value::Null),
        )
        .with("msg", resp.msg())
        .with("status_code", resp.status_value());
    if let Some(b) = field(&fo, "BACKUP") {
        o = o.with("backup_file", b);
    }
    if let Some(st) = parse_stat(&fo) {
        o.result.extend(st);
    }
    if let Some(md5) = field(&fo, "MD5") {
        o = o.with("md5sum", md5);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::net_test_support::{HttpServer, NetHarness, Reply};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    const PAYLOAD: &str = "release 1.2.3\n";
    // sha256sum / sha1sum of PAYLOAD
    const SHA256: &str = "5ebfadc8d5a5b9e7aee6e33e9f14e4a4ad6b0e0d3d8b3bc0b7e8b0d8b2b0a0f1";

    fn sha(algo: &str, data: &str) -> String {
        let out = std::process::Command::new(format!("{algo}sum"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(data.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    }

    fn server() -> HttpServer {
        let list = format!(
            "{}  app.tar.gz\n{}  ./other.bin\n",
            sha("sha256", PAYLOAD),
            sha("sha256", "x")
        );
        HttpServer::start(move |req| match req.path.as_str() {
            "/app.tar.gz" => Reply::new(200, "application/gzip", PAYLOAD),
            "/private" => {
                if req.header("authorization") == Some("Basic dTpwQHNz")
                    && req.header("x-token") == Some("t1")
                {
                    Reply::new(200, "text/plain", "secret")
                } else {
                    // A real server's challenge: credentials go out in answer.
                    Reply::new(401, "text/plain", "")
                        .header("WWW-Authenticate", "Basic realm=\"berth\"")
                }
            }
            "/dl" => Reply::new(200, "text/plain", "named")
                .header("Content-Disposition", "attachment; filename=\"named.txt\""),
            "/moved" => Reply::new(301, "text/plain", "").header("Location", "/app.tar.gz"),
            "/SHA256SUMS" => Reply::new(200, "text/plain", list.clone()),
            "/gone" => Reply::new(404, "text/plain", "gone"),
            _ => Reply::new(500, "text/plain", "boom"),
        })
    }

    #[test]
    fn fixture_table() {
        assert_ne!(
            SHA256,
            sha("sha256", PAYLOAD),
            "a wrong digest for the mismatch case"
        );
        let srv = server();
        let tmp = tempfile::tempdir().unwrap();
        let d = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
        let mut h = NetHarness::new(json!({}));
        let good = format!("sha256:{}", sha("sha256", PAYLOAD));
        // (args, expected subset, then the file content expected at `dest` if any)
        let cases: Vec<(Value, Value, Option<(&str, &str)>)> = vec![
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("a.tgz")}),
                json!({"changed": true, "msg": "OK (14 bytes)", "status_code": 200, "dest": d("a.tgz"),
                       "checksum_src": sha("sha1", PAYLOAD), "checksum_dest": null, "size": 14,
                       "md5sum": sha("md5", PAYLOAD), "state": "file"}),
                Some(("a.tgz", PAYLOAD)),
            ),
            // As Ansible: an existing dest without a checksum is asked for
            // again (If-Modified-Since); the same bytes are no change.
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("a.tgz")}),
                json!({"changed": false, "msg": "OK (14 bytes)", "checksum_dest": sha("sha1", PAYLOAD)}),
                None,
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("a.tgz"), "mode": "0640"}),
                json!({"changed": true, "mode": "0640"}),
                None,
            ),
            // A matching checksum skips the request.
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("a.tgz"), "checksum": format!("sha1:{}", sha("sha1", PAYLOAD))}),
                json!({"changed": false, "msg": "file already exists"}),
                None,
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("a.tgz"), "mode": "0600", "checksum": format!("sha1:{}", sha("sha1", PAYLOAD))}),
                json!({"changed": true, "msg": "file already exists but file attributes changed"}),
                None,
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("a.tgz"), "force": true, "mode": "0600"}),
                json!({"changed": false, "status_code": 200, "checksum_dest": sha("sha1", PAYLOAD), "mode": "0600"}),
                None,
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("b.tgz"), "checksum": good}),
                json!({"changed": true, "status_code": 200}),
                Some(("b.tgz", PAYLOAD)),
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("c.tgz"), "checksum": format!("sha256:{}", srv.url("/SHA256SUMS"))}),
                json!({"changed": true}),
                Some(("c.tgz", PAYLOAD)),
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("e.tgz"), "checksum": format!("sha256:{SHA256}")}),
                json!({"failed": true}),
                None,
            ),
            (
                json!({"url": srv.url("/private"), "dest": d("p.txt"), "url_username": "u", "url_password": "p@ss",
                       "headers": {"X-Token": "t1"}}),
                json!({"changed": true}),
                Some(("p.txt", "secret")),
            ),
            (
                json!({"url": srv.url("/private"), "dest": d("q.txt")}),
                json!({"failed": true, "msg": "Request failed", "status_code": 401, "response": "HTTP Error 401: Unauthorized"}),
                None,
            ),
            (
                json!({"url": srv.url("/dl"), "dest": tmp.path().to_str().unwrap()}),
                json!({"changed": true, "dest": d("named.txt")}),
                Some(("named.txt", "named")),
            ),
            (
                json!({"url": srv.url("/moved"), "dest": d("m.tgz")}),
                json!({"changed": true, "status_code": 200}),
                Some(("m.tgz", PAYLOAD)),
            ),
            (
                json!({"url": srv.url("/gone"), "dest": d("g")}),
                json!({"failed": true, "msg": "Request failed", "status_code": 404}),
                None,
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("x"), "checksum": "sha256"}),
                json!({"failed": true, "msg": "The checksum parameter has to be in format <algorithm>:<checksum>"}),
                None,
            ),
            (
                json!({"url": srv.url("/app.tar.gz"), "dest": d("nodir/x")}),
                json!({"failed": true, "msg": format!("Destination {} does not exist", d("nodir"))}),
                None,
            ),
        ];
        for (args, want, file) in cases {
            let got = h.run(run, args.clone());
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(
                    got.result.get(k),
                    Some(v),
                    "key {k} for args {args}: {:?}",
                    got.result
                );
            }
            if let Some((name, content)) = file {
                assert_eq!(
                    std::fs::read_to_string(tmp.path().join(name)).unwrap(),
                    content,
                    "args {args}"
                );
            }
        }
        let mismatch = h.run(run, json!({"url": srv.url("/app.tar.gz"), "dest": d("e.tgz"), "checksum": format!("sha256:{SHA256}")}));
        let msg = mismatch.result["msg"].as_str().unwrap();
        assert!(
            msg.starts_with("The checksum for ")
                && msg.ends_with(&format!(
                    "did not match {SHA256}; it was {}.",
                    sha("sha256", PAYLOAD)
                )),
            "{msg}"
        );
        assert!(!tmp.path().join("e.tgz").exists());
        assert_eq!(
            std::fs::metadata(tmp.path().join("a.tgz"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let forced: Vec<_> = srv
            .requests()
            .into_iter()
            .filter(|r| r.header("cache-control") == Some("no-cache"))
            .collect();
        assert_eq!(forced.len(), 1, "force=yes asks for a fresh copy");
        // No temporary directories are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".berth"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn idempotent_with_checksum_and_no_download_when_it_matches() {
        let srv = server();
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("app.tgz");
        let mut h = NetHarness::new(json!({}));
        let args = json!({"url": srv.url("/app.tar.gz"), "dest": dest.to_str().unwrap(), "checksum": format!("sha256:{}", sha("sha256", PAYLOAD))});
        assert_eq!(h.run(run, args.clone()).result["changed"], true);
        let n = srv.requests().len();
        let second = h.run(run, args.clone());
        assert_eq!(second.result["changed"], false);
        assert_eq!(second.result["msg"], "file already exists");
        assert_eq!(
            srv.requests().len(),
            n,
            "matching checksum: no request at all"
        );
        // A changed file on disk with a checksum: downloaded again.
        std::fs::write(&dest, "tampered").unwrap();
        let third = h.run(run, args);
        assert_eq!(third.result["changed"], true);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), PAYLOAD);
    }

    #[test]
    fn checksum_lists_in_every_style_ansible_reads() {
        let h = "b1b6ce5073c8fac263a8fc5edfffdbd5dec1980c784e09c5bc69f8fb6056f006";
        let cases = [
            (
                format!("{h}  27617.txt\n{h}  71420.txt\n"),
                Some(h.to_string()),
            ),
            (format!("{h} *27617.txt\n"), Some(h.to_string())),
            (format!("{h}  ./27617.txt\n"), Some(h.to_string())),
            (format!("{h} 27617.txt\n"), Some(h.to_string())),
            (
                format!("SHA256 (27617.txt) = {h}.\nSHA256 (x.txt) = 00\n"),
                Some(format!("{h}.")),
            ),
            (format!("{h}\n"), Some(h.to_string())),
            (format!("{h}  other.txt\n00  x\n"), None),
        ];
        for (text, want) in cases {
            assert_eq!(digest_from_list(&text, "27617.txt"), want, "{text}");
        }
        assert_eq!(clean_digest(&format!("{h}.")).unwrap(), h);
    }

    #[test]
    fn wget_when_the_target_has_no_curl() {
        let srv = server();
        let (_bin, path) = crate::modules::net_test_support::path_without(&["curl"]);
        let tmp = tempfile::tempdir().unwrap();
        let mut h = NetHarness::new(json!({}));
        h.environment = vec![("PATH".into(), path)];
        let dest = tmp.path().join("p.txt");
        let args = json!({"url": srv.url("/private"), "dest": dest.to_str().unwrap(), "force": true,
                          "url_username": "u", "url_password": "p@ss", "headers": {"X-Token": "t1"}});
        let got = h.run(run, args.clone());
        assert_eq!(got.result["changed"], true, "{:?}", got.result);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "secret");
        let again = h.run(run, args);
        assert_eq!(again.result["changed"], false, "{:?}", again.result);
        let named = h.run(
            run,
            json!({"url": srv.url("/dl"), "dest": tmp.path().to_str().unwrap()}),
        );
        assert_eq!(
            named.result["dest"],
            tmp.path().join("named.txt").to_str().unwrap()
        );
        let gone = h.run(
            run,
            json!({"url": srv.url("/gone"), "dest": tmp.path().join("g").to_str().unwrap()}),
        );
        assert_eq!(gone.result["status_code"], 404);
        assert_eq!(gone.result["response"], "HTTP Error 404: Not Found");
        let (_bin2, bare) = crate::modules::net_test_support::path_without(&["curl", "wget"]);
        h.environment = vec![("PATH".into(), bare)];
        let none = h.run(
            run,
            json!({"url": srv.url("/app.tar.gz"), "dest": tmp.path().join("n").to_str().unwrap()}),
        );
        assert!(
            none.result["msg"]
                .as_str()
                .unwrap()
                .contains("curl or wget is required on the target"),
            "{:?}",
            none.result
        );
        let leftovers = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".berth"))
            .count();
        assert_eq!(leftovers, 0, "no temporary directory left behind");
    }

    #[test]
    fn check_mode_changes_nothing() {
        let srv = server();
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("app.tgz");
        let mut h = NetHarness::new(json!({}));
        h.check_mode = true;
        let got = h.run(
            run,
            json!({"url": srv.url("/app.tar.gz"), "dest": dest.to_str().unwrap()}),
        );
        assert_eq!(got.result["changed"], true, "{:?}", got.result);
        assert!(!dest.exists());
        assert_eq!(srv.requests().last().unwrap().method, "HEAD");
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "no temporary files left"
        );
        std::fs::write(&dest, "old").unwrap();
        let exists = h.run(
            run,
            json!({"url": srv.url("/app.tar.gz"), "dest": dest.to_str().unwrap(), "mode": "0600"}),
        );
        assert_eq!(exists.result["changed"], true);
        assert_ne!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
