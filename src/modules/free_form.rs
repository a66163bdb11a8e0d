//! Ansible's free-form argument strings (`command: ls -l chdir=/tmp`,
//! `include_vars: file=x.yml`) turned into module arguments the way
//! Ansible's `parse_kv` does.

use serde_json::{Map, Value};

/// The `key=value` words that command-like modules take out of their
/// free-form string (anywhere in it, as Ansible does); every other word stays
/// in `_raw_params`, quotes and all.
const COMMAND_KEYS: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

/// Modules whose free-form string is a command line.
fn is_command_like(module: &str) -> bool {
    matches!(
        super::short_name(module),
        "command" | "shell" | "raw" | "script" | "win_command" | "win_shell"
    )
}

/// Modules that take a free-form string (`_raw_params`) at all.
pub(crate) fn takes_free_form(module: &str) -> bool {
    is_command_like(module)
        || matches!(
            super::short_name(module),
            "include_tasks"
                | "import_tasks"
                | "include_vars"
                | "include_role"
                | "import_role"
                | "meta"
        )
}

/// Is the whole string one `{{ ... }}` expression?
pub(crate) fn is_whole_template(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("{{")
        && t.ends_with("}}")
        && t[2..t.len() - 2].find("{{").is_none()
        && t[2..t.len() - 2].find("}}").is_none()
}

pub(crate) fn split_free_form(module: &str, raw: &str) -> Map<String, Value> {
    // Unbalanced quotes or Jinja blocks: Ansible refuses the task; callers
    // that can report it use `try_split_free_form`. Here the words split so
    // far are kept.
    try_split_free_form(module, raw).unwrap_or_else(|partial| partial.1)
}

/// Like `split_free_form`, but an unbalanced quote or Jinja block is an
/// error (Ansible's "failed at splitting arguments"), carrying the message
/// and what could be split anyway.
pub(crate) fn try_split_free_form(
    module: &str,
    raw: &str,
) -> Result<Map<String, Value>, (String, Map<String, Value>)> {
    let check_raw = is_command_like(module);
    let (words, balanced) = split_args(raw);
    let mut options = Map::new();
    let mut raw_params: Vec<String> = Vec::new();
    for word in words {
        let decoded = decode_escapes(&word);
        if !decoded.contains('=') {
            raw_params.push(word);
            continue;
        }
        match find_unescaped_eq(&decoded) {
            Some(pos) => {
                let key = &decoded[..pos];
                if check_raw && !COMMAND_KEYS.contains(&key) {
                    raw_params.push(word);
                } else {
                    options.insert(
                        key.trim().to_string(),
                        Value::String(unquote(decoded[pos + 1..].trim())),
                    );
                }
            }
            None => raw_params.push(decoded.replace("\\=", "=")),
        }
    }
    if !raw_params.is_empty() {
        options.insert("_raw_params".into(), Value::String(join_args(&raw_params)));
    }
    if balanced {
        Ok(options)
    } else {
        Err((
            format!(
                "failed at splitting arguments, either an unbalanced jinja2 block or quotes: {raw}"
            ),
            options,
        ))
    }
}

/// Position of the first `=` after the first character that is not
/// preceded by a backslash.
fn find_unescaped_eq(word: &str) -> Option<usize> {
    let bytes = word.as_bytes();
    (1..bytes.len()).find(|&i| bytes[i] == b'=' && bytes[i - 1] != b'\\')
}

/// Strip one pair of matching outer quotes (not when the closing one is escaped).
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() > 1
        && (b[0] == b'"' || b[0] == b'\'')
        && b[b.len() - 1] == b[0]
        && b[b.len() - 2] != b'\\'
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Python-style escapes Ansible decodes before looking for `=`:
/// `\\ \' \" \a \b \f \n \r \t \v`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`.
fn decode_escapes(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let simple = match chars[i + 1] {
                '\\' => Some('\\'),
                '\'' => Some('\''),
                '"' => Some('"'),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                i += 2;
                continue;
            }
            let width = match chars[i + 1] {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => 0,
            };
            if width > 0 && i + 2 + width <= chars.len() {
                let hex: String = chars[i + 2..i + 2 + width].iter().collect();
                if hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(c);
                        i += 2 + width;
                        continue;
                    }
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Rejoin words: one space between words, none after a word that ends a line.
fn join_args(words: &[String]) -> String {
    let mut out = String::new();
    for w in words {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The quote still open after `token`, given the one open before it.
fn quote_state(token: &str, mut open: Option<char>) -> Option<char> {
    let mut prev: Option<char> = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match open {
                Some(q) if q == c => open = None,
                Some(_) => {}
                None => open = Some(c),
            }
        }
        prev = Some(c);
    }
    open
}

fn jinja_depth(token: &str, depth: usize, open: &str, close: &str) -> usize {
    let (o, c) = (token.matches(open).count(), token.matches(close).count());
    (depth + o).saturating_sub(c)
}

/// Ansible's argument splitter: each line is split on single spaces; a run
/// of spaces stays with the word before it (so rejoining keeps the original
/// spacing), quoted runs and Jinja blocks stay in one word, a word that ends
/// a line keeps the newline, and a lone `\\` continues the line. Returns the
/// words and whether every quote and block was closed.
fn split_args(s: &str) -> (Vec<String>, bool) {
    let mut params: Vec<String> = Vec::new();
    if s.is_empty() {
        return (params, true);
    }
    let lines: Vec<&str> = s.split('\n').collect();
    let mut quote: Option<char> = None;
    let (mut print, mut block, mut comment) = (0usize, 0usize, 0usize);
    for (li, line) in lines.iter().enumerate() {
        let mut continued = false;
        for (idx, token) in line.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                last(&mut params).push(' ');
                continue;
            }
            if token == "\\" && quote.is_none() {
                continued = true;
                continue;
            }
            let was_inside = quote.is_some();
            quote = quote_state(token, quote);
            let inside = quote.is_some();
            let in_jinja = print + block + comment > 0;
            let mut appended = false;
            if inside && !was_inside && !in_jinja {
                params.push(token.to_string());
                appended = true;
            } else if in_jinja || inside || was_inside {
                let p = last(&mut params);
                if !(idx == 0 && was_inside) && idx > 0 {
                    p.push(' ');
                }
                p.push_str(token);
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print, "{{", "}}"),
                (&mut block, "{%", "%}"),
                (&mut comment, "{#", "#}"),
            ] {
                let before = *depth;
                *depth = jinja_depth(token, *depth, open, close);
                if *depth != before && !appended {
                    params.push(token.to_string());
                    appended = true;
                }
            }
            if print + block + comment == 0 && !inside && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if lines.len() > 1 && li != lines.len() - 1 && !continued {
            last(&mut params).push('\n');
        }
    }
    let balanced = print + block + comment == 0 && quote.is_none();
    (params, balanced)
}

fn last(params: &mut Vec<String>) -> &mut String {
    if params.is_empty() {
        params.push(String::new());
    }
    params.last_mut().expect("just pushed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn table() {
        let cases: &[(&str, &str, Value)] = &[
            (
                "command",
                "ls -l /tmp",
                json!({"_raw_params": "ls -l /tmp"}),
            ),
            (
                "command",
                "touch /x creates=/x",
                json!({"creates": "/x", "_raw_params": "touch /x"}),
            ),
            (
                "ansible.builtin.shell",
                "echo \"a  b\" > out chdir=/srv removes='/srv/my file'",
                json!({"chdir": "/srv", "removes": "/srv/my file", "_raw_params": "echo \"a  b\" > out"}),
            ),
            // Ansible takes the option out wherever it stands.
            (
                "command",
                "echo chdir=/tmp hi",
                json!({"chdir": "/tmp", "_raw_params": "echo hi"}),
            ),
            // A key that is not a command option stays in the command.
            (
                "shell",
                "FOO=bar env | grep FOO",
                json!({"_raw_params": "FOO=bar env | grep FOO"}),
            ),
            ("command", "echo a\\=b", json!({"_raw_params": "echo a=b"})),
            (
                "shell",
                "echo {{ item | default('x y') }} executable=/bin/bash",
                json!({"executable": "/bin/bash", "_raw_params": "echo {{ item | default('x y') }}"}),
            ),
            (
                "shell",
                "echo one\necho two stdin=hi",
                json!({"stdin": "hi", "_raw_params": "echo one\necho two"}),
            ),
            (
                "include_vars",
                "file=vars/main.yml name=cfg",
                json!({"file": "vars/main.yml", "name": "cfg"}),
            ),
            (
                "include_vars",
                "vars/main.yml",
                json!({"_raw_params": "vars/main.yml"}),
            ),
            (
                "meta",
                "flush_handlers",
                json!({"_raw_params": "flush_handlers"}),
            ),
            (
                "apt",
                "name=nginx state=\"present\" msg='a b c'",
                json!({"name": "nginx", "state": "present", "msg": "a b c"}),
            ),
            (
                "copy",
                "content=\"x = 1\" dest=/etc/x",
                json!({"content": "x = 1", "dest": "/etc/x"}),
            ),
            ("command", "", json!({})),
            // Spacing is kept as written, as Ansible does.
            (
                "command",
                "echo   a    b",
                json!({"_raw_params": "echo   a    b"}),
            ),
            (
                "command",
                "echo  chdir=/tmp   hi",
                json!({"chdir": "/tmp", "_raw_params": "echo  hi"}),
            ),
            (
                "command",
                "  leading  ",
                json!({"_raw_params": "  leading  "}),
            ),
            (
                "shell",
                "x  \n  y  z=1",
                json!({"_raw_params": "x  \n  y  z=1"}),
            ),
            (
                "shell",
                "sleep 1\n\necho x",
                json!({"_raw_params": "sleep 1\n\necho x"}),
            ),
            // Escapes are decoded in values, not in the command.
            ("debug", "msg=a\\nb x=1", json!({"msg": "a\nb", "x": "1"})),
            (
                "command",
                "echo a\\nb",
                json!({"_raw_params": "echo a\\nb"}),
            ),
            (
                "command",
                "echo 'a=b' c",
                json!({"_raw_params": "echo 'a=b' c"}),
            ),
            (
                "shell",
                "echo \"{{ x }}\" removes={{ p }}",
                json!({"removes": "{{ p }}", "_raw_params": "echo \"{{ x }}\""}),
            ),
            (
                "include_vars",
                "a=1 b",
                json!({"a": "1", "_raw_params": "b"}),
            ),
            ("set_fact", "x= y", json!({"x": "", "_raw_params": "y"})),
        ];
        for (module, raw, want) in cases {
            let got = Value::Object(split_free_form(module, raw));
            assert_eq!(&got, want, "{module}: {raw:?}");
            assert!(try_split_free_form(module, raw).is_ok());
        }
    }

    #[test]
    fn unbalanced_quotes_are_an_error() {
        let err = try_split_free_form("command", "echo 'oops").unwrap_err();
        assert_eq!(err.0, "failed at splitting arguments, either an unbalanced jinja2 block or quotes: echo 'oops");
        assert!(try_split_free_form("shell", "echo {{ x").is_err());
        assert_eq!(
            split_free_form("command", "echo 'oops")["_raw_params"],
            json!("echo 'oops")
        );
    }
}
