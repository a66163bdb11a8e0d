//! `uri`'s `body_format: form-multipart`: a `multipart/form-data` body built
//! on the controller the way Ansible's `prepare_multipart` builds it (fields
//! in name order, files read from the controller's `files` search path and
//! sent base64 unless `multipart_encoding: 7or8bit`, CRLF line ends).

use base64::Engine;
use serde_json::{Map, Value};

/// Why a body is not a mapping of fields, in Ansible's words.
pub(crate) fn bad_fields(v: &Value) -> String {
    format!(
        "value must be a string, or mapping, cannot be type {}",
        crate::modules::args::type_name(v)
    )
}

/// The MIME type Python's `mimetypes.guess_type` gives the common names.
fn guess_mime(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "text" | "conf" | "log" | "ini") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("csv") => "text/csv",
        Some("xml") => "text/xml",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("yaml" | "yml") => "application/yaml",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz" | "tgz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Lone `\n` become `\r\n` (the HTTP policy's line ends).
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Base64 in lines of 76, as email's encoder writes it.
fn base64_lines(data: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38 + 2);
    for chunk in text.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A Content-Disposition parameter value, quoted as email quotes it.
fn param(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The body and its Content-Type. `read` gives a controller file's bytes.
pub(crate) fn encode(
    fields: &Map<String, Value>,
    mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<(String, Vec<u8>), String> {
    let boundary = format!(
        "==============={:019}==",
        u64::from_le_bytes(crate::random::bytes(8).try_into().unwrap_or([7; 8]))
            % 10_000_000_000_000_000_000
    );
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    let mut body = Vec::new();
    for name in names {
        let value = &fields[name];
        let mut headers: Vec<String> = Vec::new();
        let mut filename = None;
        let payload = match value {
            Value::String(text) => {
                headers.push("Content-Type: text/plain".into());
                crlf(text.as_bytes())
            }
            Value::Object(spec) => {
                filename = spec
                    .get("filename")
                    .and_then(scalar_text)
                    .filter(|f| !f.is_empty());
                let content = spec
                    .get("content")
                    .and_then(scalar_text)
                    .filter(|c| !c.is_empty());
                if filename.is_none() && content.is_none() {
                    return Err("at least one of filename or content must be provided".into());
                }
                let mime = spec
                    .get("mime_type")
                    .and_then(scalar_text)
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| guess_mime(filename.as_deref().unwrap_or("")).into());
                let mime = if mime.contains('/') {
                    mime
                } else {
                    format!("{mime}/")
                };
                headers.push(format!("Content-Type: {mime}"));
                match (content, &filename) {
                    (None, Some(file)) => {
                        let encoding = spec
                            .get("multipart_encoding")
                            .and_then(scalar_text)
                            .unwrap_or_else(|| "base64".into());
                        let data = read(file)?;
                        match encoding.as_str() {
                            "base64" => {
                                headers.insert(0, "Content-Transfer-Encoding: base64".into());
                                base64_lines(&data)
                            }
                            "7or8bit" => {
                                let bit = if data.is_ascii() { "7bit" } else { "8bit" };
                                headers.insert(0, format!("Content-Transfer-Encoding: {bit}"));
                                crlf(&data)
                            }
                            other => {
                                return Err(format!(
                                    "multipart_encoding must be one of base64, 7or8bit, got {other}"
                                ))
                            }
                        }
                    }
                    (Some(text), _) => crlf(text.as_bytes()),
                    (None, None) => unreachable!("checked above"),
                }
            }
            other => return Err(bad_fields(other)),
        };
        let mut disposition = format!("Content-Disposition: form-data; name={}", param(name));
        if let Some(file) = &filename {
            let base = file.rsplit('/').next().unwrap_or(file);
            disposition.push_str(&format!("; filename={}", param(base)));
        }
        headers.push(disposition);
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for h in headers {
            body.extend_from_slice(h.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&payload);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((
        format!("multipart/form-data; boundary=\"{boundary}\""),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(body: &[u8], ctype: &str) -> Vec<String> {
        let boundary = ctype
            .split("boundary=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"');
        String::from_utf8(body.to_vec())
            .unwrap()
            .split(&format!("--{boundary}"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn fields_files_and_encodings_as_ansible_sends_them() {
        let fields = json!({
            "file1": {"filename": "formdata.txt"},
            "file2": {"content": "text based file content", "filename": "fake.txt", "mime_type": "text/plain"},
            "file3": {"filename": "formdata.txt", "multipart_encoding": "7or8bit"},
            "text_form_field1": "value1",
            "text_form_field2": {"content": "value2", "mime_type": "text/plain"},
        });
        let (ctype, body) = encode(fields.as_object().unwrap(), |name| {
            assert_eq!(name, "formdata.txt");
            Ok(b"_multipart/form-data_\n".to_vec())
        })
        .unwrap();
        assert!(ctype.starts_with("multipart/form-data; boundary=\"==============="));
        let p = parts(&body, &ctype);
        assert_eq!(p.len(), 7, "{p:?}");
        assert_eq!(p[1], "\r\nContent-Transfer-Encoding: base64\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"file1\"; filename=\"formdata.txt\"\r\n\r\nX211bHRpcGFydC9mb3JtLWRhdGFfCg==\r\n\r\n");
        assert_eq!(p[2], "\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"file2\"; filename=\"fake.txt\"\r\n\r\ntext based file content\r\n");
        assert_eq!(p[3], "\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"file3\"; filename=\"formdata.txt\"\r\n\r\n_multipart/form-data_\r\n\r\n");
        assert_eq!(p[4], "\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"text_form_field1\"\r\n\r\nvalue1\r\n");
        assert_eq!(p[6], "--\r\n");
    }

    #[test]
    fn refusals_name_the_problem() {
        let int = json!({"integer_value": 1});
        assert_eq!(
            encode(int.as_object().unwrap(), |_| Ok(Vec::new())).unwrap_err(),
            "value must be a string, or mapping, cannot be type int"
        );
        let empty = json!({"f": {"mime_type": "text/plain"}});
        assert_eq!(
            encode(empty.as_object().unwrap(), |_| Ok(Vec::new())).unwrap_err(),
            "at least one of filename or content must be provided"
        );
    }
}
