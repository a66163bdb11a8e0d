//! Ansible's free-form argument strings (`command: ls -l chdir=/tmp`,
//! `include_vars: file=x.yml`) turned into module arguments the way
//! Ansible's `parse_kv` does.

use serde_json::{Map, Value};

/// The `key=value` words that command-like modules take out of their
/// free-form string (anywhere in it, as Ansible does); every other word stays
/// in `_raw_params`, quotes and all.
const COMMAND_KEYS: &[&str] =
    &["creates", "removes", "chdir", "executable", "warn", "stdin", "stdin_add_newline", "strip_empty_ends"];

/// Modules whose free-form string is a command line.
fn is_command_like(module: &str) -> bool {
    matches!(super::short_name(module), "command" | "shell" | "raw" | "script" | "win_command" | "win_shell")
}

pub(crate) fn split_free_form(module: &str, raw: &str) -> Map<String, Value> {
    let check_raw = is_command_like(module);
    let mut options = Map::new();
    let mut raw_params: Vec<String> = Vec::new();
    for word in split_args(raw) {
        let trimmed = word.trim_end_matches('\n');
        match find_unescaped_eq(trimmed) {
            Some(pos) => {
                let key = &trimmed[..pos];
                if check_raw && !COMMAND_KEYS.contains(&key) {
                    raw_params.push(word);
                } else {
                    options.insert(key.trim().to_string(), Value::String(unquote(trimmed[pos + 1..].trim())));
                }
            }
            None if trimmed.contains("\\=") => raw_params.push(word.replace("\\=", "=")),
            None => raw_params.push(word),
        }
    }
    if !raw_params.is_empty() {
        options.insert("_raw_params".into(), Value::String(join_args(&raw_params)));
    }
    options
}

/// Position of the first `=` (after the first character) not preceded by a backslash.
fn find_unescaped_eq(word: &str) -> Option<usize> {
    let bytes = word.as_bytes();
    (1..bytes.len()).find(|&i| bytes[i] == b'=' && bytes[i - 1] != b'\\')
}

/// Strip one pair of matching outer quotes.
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Rejoin words: a space between words, none after a word that ends a line.
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

/// Split on whitespace, keeping quoted runs (with backslash escapes) and
/// Jinja blocks (`{{ }}`, `{% %}`, `{# #}`) inside one word, each word in its
/// original spelling. A word that ends a line keeps the newline.
fn split_args(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let lines: Vec<&str> = s.split('\n').collect();
    for (li, line) in lines.iter().enumerate() {
        let mut current = String::new();
        let mut quote: Option<char> = None;
        let mut jinja_depth = 0usize;
        let mut chars = line.chars().peekable();
        let mut line_words: Vec<String> = Vec::new();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                current.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        current.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '{' if matches!(chars.peek(), Some('{') | Some('%') | Some('#')) => {
                    current.push(c);
                    current.push(chars.next().unwrap());
                    jinja_depth += 1;
                }
                '}' | '%' | '#' if jinja_depth > 0 && chars.peek() == Some(&'}') => {
                    current.push(c);
                    current.push(chars.next().unwrap());
                    jinja_depth -= 1;
                }
                '"' | '\'' if jinja_depth == 0 => {
                    quote = Some(c);
                    current.push(c);
                }
                '\\' => {
                    current.push(c);
                    if let Some(n) = chars.next() {
                        current.push(n);
                    }
                }
                c if c.is_whitespace() && jinja_depth == 0 => {
                    if !current.is_empty() {
                        line_words.push(std::mem::take(&mut current));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            line_words.push(current);
        }
        if li + 1 < lines.len() {
            match line_words.last_mut() {
                Some(last) => last.push('\n'),
                None => {
                    if let Some(prev) = words.last_mut() {
                        let prev: &mut String = prev;
                        prev.push('\n');
                    }
                }
            }
        }
        words.extend(line_words);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn table() {
        let cases: &[(&str, &str, Value)] = &[
            ("command", "ls -l /tmp", json!({"_raw_params": "ls -l /tmp"})),
            ("command", "touch /x creates=/x", json!({"creates": "/x", "_raw_params": "touch /x"})),
            (
                "ansible.builtin.shell",
                "echo \"a  b\" > out chdir=/srv removes='/srv/my file'",
                json!({"chdir": "/srv", "removes": "/srv/my file", "_raw_params": "echo \"a  b\" > out"}),
            ),
            // Ansible takes the option out wherever it stands.
            ("command", "echo chdir=/tmp hi", json!({"chdir": "/tmp", "_raw_params": "echo hi"})),
            // A key that is not a command option stays in the command.
            ("shell", "FOO=bar env | grep FOO", json!({"_raw_params": "FOO=bar env | grep FOO"})),
            ("command", "echo a\\=b", json!({"_raw_params": "echo a=b"})),
            ("shell", "echo {{ item | default('x y') }} executable=/bin/bash",
                json!({"executable": "/bin/bash", "_raw_params": "echo {{ item | default('x y') }}"})),
            ("shell", "echo one\necho two stdin=hi", json!({"stdin": "hi", "_raw_params": "echo one\necho two"})),
            ("include_vars", "file=vars/main.yml name=cfg", json!({"file": "vars/main.yml", "name": "cfg"})),
            ("include_vars", "vars/main.yml", json!({"_raw_params": "vars/main.yml"})),
            ("meta", "flush_handlers", json!({"_raw_params": "flush_handlers"})),
            ("apt", "name=nginx state=\"present\" msg='a b c'", json!({"name": "nginx", "state": "present", "msg": "a b c"})),
            ("copy", "content=\"x = 1\" dest=/etc/x", json!({"content": "x = 1", "dest": "/etc/x"})),
            ("command", "", json!({})),
        ];
        for (module, raw, want) in cases {
            let got = Value::Object(split_free_form(module, raw));
            assert_eq!(&got, want, "{module}: {raw:?}");
        }
    }
}
