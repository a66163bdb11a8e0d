//! Backslashes in Jinja string literals, read as Ansible reads them.
//!
//! Jinja (Python) decodes a string literal with `unicode-escape`: `'\t'` is
//! a tab, `'\1'` the byte 0x01, and an unknown escape such as `'\d'` stays
//! as written. ansible-core 2.19 adds one rule: inside `{{ }}` of a task
//! argument (its lexer's `escape_backslashes`) every backslash is literal,
//! so `regex_replace('(a)', '\1')` gets the backreference. `{% %}`
//! statements, conditionals and template files keep Jinja's reading.
//!
//! minijinja knows fewer escapes than Python and refuses the others, so
//! every literal is rewritten here into one minijinja reads the same way
//! Jinja would.

use std::borrow::Cow;

/// The builtin collection's prefix, dropped from filter and test names.
const BUILTIN: &str = "ansible.builtin.";

/// What a piece of Jinja source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A task argument or variable: text with `{{ }}` (literal backslashes)
    /// and `{% %}` (Jinja escapes).
    Argument,
    /// A bare expression from an argument's `{{ }}`: literal backslashes.
    Expression,
    /// A conditional (`when`, `that`, ...): Jinja escapes.
    Conditional,
    /// A template file or the template module's text: Jinja escapes.
    Template,
}

/// The source with every string literal rewritten for minijinja; borrowed
/// when it has no backslash at all.
pub(crate) fn prepare(s: &str, source: Source) -> Cow<'_, str> {
    if !s.contains('\\') && !s.contains(BUILTIN) && !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    match source {
        Source::Expression => {
            code(s, true, None, &mut out);
        }
        Source::Conditional => {
            code(s, false, None, &mut out);
        }
        Source::Argument | Source::Template => text(s, source == Source::Argument, &mut out),
    }
    Cow::Owned(out)
}

/// Text with delimiters: literals are rewritten inside `{{ }}` and `{% %}`,
/// never in plain text, comments or `{% raw %}` blocks.
fn text(s: &str, verbatim_vars: bool, out: &mut String) {
    let mut rest = s;
    while let Some(at) = rest.find('{') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let opener = from.get(..2).unwrap_or("");
        match opener {
            "{{" | "{%" => {
                let is_var = opener == "{{";
                if !is_var && is_raw(&from[2..]) {
                    // `{% raw %}…{% endraw %}` is text, whatever it holds.
                    let end = find_endraw(from).unwrap_or(from.len());
                    out.push_str(&from[..end]);
                    rest = &from[end..];
                    continue;
                }
                out.push_str(opener);
                let close = if is_var { "}}" } else { "%}" };
                let used = code(&from[2..], is_var && verbatim_vars, Some(close), out);
                rest = &from[2 + used..];
            }
            "{#" => {
                let end = from.find("#}").map(|e| e + 2).unwrap_or(from.len());
                out.push_str(&from[..end]);
                rest = &from[end..];
            }
            _ => {
                out.push('{');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
}

fn is_raw(after_open: &str) -> bool {
    let t = after_open.trim_start_matches(['-', '+']).trim_start();
    t.starts_with("raw")
        && t[3..]
            .trim_start()
            .trim_start_matches(['-', '+'])
            .starts_with("%}")
}

fn find_endraw(from: &str) -> Option<usize> {
    let mut search = 0;
    while let Some(i) = from[search..].find("{%") {
        let at = search + i;
        let t = from[at + 2..].trim_start_matches(['-', '+']).trim_start();
        if let Some(after) = t.strip_prefix("endraw") {
            let end = after.find("%}")?;
            return Some(from.len() - after.len() + end + 2);
        }
        search = at + 2;
    }
    None
}

/// Code up to `close` (or the end): string literals rewritten, the rest
/// copied. Returns how many bytes of `s` it used, `close` included.
fn code(s: &str, verbatim: bool, close: Option<&str>, out: &mut String) -> usize {
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(close) = close {
            if s[i..].starts_with(close) {
                out.push_str(close);
                return i + close.len();
            }
        }
        if c != '\'' && c != '"' {
            // `x | ansible.builtin.to_json`, `x is ansible.builtin.match(..)`:
            // the builtin collection's filters and tests by their short names.
            let at_word =
                i == 0 || !s[..i].ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == '.');
            if c == 'a' && at_word && s[i..].starts_with(BUILTIN) {
                for _ in 1..BUILTIN.len() {
                    chars.next();
                }
                continue;
            }
            out.push(c);
            continue;
        }
        // A string literal: its raw body up to the unescaped closing quote.
        let start = i + 1;
        let mut end = s.len();
        let mut escaped = false;
        for (j, d) in chars.by_ref() {
            if escaped {
                escaped = false;
            } else if d == '\\' {
                escaped = true;
            } else if d == c {
                end = j;
                break;
            }
        }
        let body = &s[start..end.min(s.len())];
        let lit_start = out.len();
        out.push(c);
        if verbatim {
            literal_verbatim(body, c, out);
        } else {
            literal_python(body, c, out);
        }
        if end < s.len() {
            out.push(c);
            // Python's `'text %s' % (a, b)`: minijinja has no `%` on strings,
            // its `format` filter does the same.
            if let Some((args, used)) = percent_operand(&s[end + 1..]) {
                let mut inner = String::new();
                code(args, verbatim, None, &mut inner);
                out.insert(lit_start, '(');
                out.push_str(" | format(");
                out.push_str(&inner);
                out.push_str("))");
                let stop = end + 1 + used;
                while chars.peek().is_some_and(|(j, _)| *j < stop) {
                    chars.next();
                }
            }
        }
    }
    s.len()
}

/// After a string literal: ` % (args)` or ` % name.path`, as the arguments
/// and the bytes used.
fn percent_operand(rest: &str) -> Option<(&str, usize)> {
    let t = rest.trim_start();
    let after = t.strip_prefix('%')?;
    if after.starts_with('}') || after.starts_with('%') || after.starts_with('=') {
        return None;
    }
    let lead = rest.len() - after.len();
    let a = after.trim_start();
    let skip = lead + (after.len() - a.len());
    if a.starts_with('(') {
        let (mut depth, mut quote, mut escaped) = (0i32, None::<char>, false);
        for (i, ch) in a.char_indices() {
            match quote {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' {
                        escaped = true;
                    } else if ch == q {
                        quote = None;
                    }
                }
                None => match ch {
                    '\'' | '"' => quote = Some(ch),
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((&a[1..i], skip + i + 1));
                        }
                    }
                    _ => {}
                },
            }
        }
        return None;
    }
    // A variable, with attributes and subscripts.
    let b = a.as_bytes();
    if !b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return None;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' => i += 1,
            b'[' => match a[i..].find(']') {
                Some(close) => i += close + 1,
                None => return None,
            },
            _ => break,
        }
    }
    let name = a[..i].trim_end_matches('.');
    if matches!(name, "not" | "and" | "or" | "in" | "is" | "if" | "else") {
        return None;
    }
    Some((name, skip + name.len()))
}

/// Every backslash literal (Ansible's lexer doubles them), an escaped
/// quote still closing nothing.
fn literal_verbatim(body: &str, quote: char, out: &mut String) {
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push_str("\\\\");
        match chars.peek().copied() {
            Some(n) if n == quote => {
                out.push('\\');
                out.push(n);
                chars.next();
            }
            Some('\\') => {
                out.push_str("\\\\");
                chars.next();
            }
            _ => {}
        }
    }
}

/// Python's `unicode-escape` reading, written as minijinja escapes.
fn literal_python(body: &str, quote: char, out: &mut String) {
    let push_char = |ch: char, out: &mut String| match ch {
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push(c),
    };
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 == chars.len() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        i += 2;
        let hex = |from: usize, len: usize| -> Option<char> {
            let digits: String = chars.get(from..from + len)?.iter().collect();
            if digits.len() != len || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                return None;
            }
            char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
        };
        match n {
            '\\' | '\'' | '"' => push_char(n, out),
            'n' => out.push_str("\\n"),
            't' => out.push_str("\\t"),
            'r' => out.push_str("\\r"),
            'b' => out.push_str("\\b"),
            'f' => out.push_str("\\f"),
            'a' => out.push_str("\\u0007"),
            'v' => out.push_str("\\u000b"),
            '\n' => {}
            '0'..='7' => {
                let mut value = n.to_digit(8).unwrap_or(0);
                let mut taken = 0;
                while taken < 2 && i < chars.len() && chars[i].is_digit(8) {
                    value = value * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    taken += 1;
                }
                push_char(char::from_u32(value).unwrap_or('\u{fffd}'), out);
            }
            'x' | 'u' | 'U' => {
                let len = match n {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                match hex(i, len) {
                    Some(ch) => {
                        push_char(ch, out);
                        i += len;
                    }
                    // Python refuses a truncated escape; keep it as written.
                    None => {
                        out.push_str("\\\\");
                        out.push(n);
                    }
                }
            }
            // An unknown escape stays as written: backslash and character.
            other => {
                out.push_str("\\\\");
                push_char(other, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Jinja (with Ansible's lexer where it applies) makes of each
    /// literal, as minijinja must read it; checked against ansible-core
    /// 2.19 by hand (`debug: msg=...` of each row).
    #[test]
    fn literals_read_as_ansible_reads_them() {
        let table: &[(&str, Source, &str)] = &[
            (r"{{ '\1' }}", Source::Argument, r"{{ '\\1' }}"),
            (
                r"{% set t = '\t' %}",
                Source::Argument,
                r"{% set t = '\t' %}",
            ),
            (
                r"{% set d = '\d' %}{{ '\d' }}",
                Source::Argument,
                r"{% set d = '\\d' %}{{ '\\d' }}",
            ),
            (r"a\b {{ 'x' }}", Source::Argument, r"a\b {{ 'x' }}"),
            (
                r"'a\tb' | length == 3",
                Source::Conditional,
                r"'a\tb' | length == 3",
            ),
            (
                r"'a1' is match('a\d')",
                Source::Conditional,
                r"'a1' is match('a\\d')",
            ),
            // The builtin collection's names are the short ones; text and literals keep them.
            (
                "{{ x | ansible.builtin.to_json }} ansible.builtin.x",
                Source::Argument,
                "{{ x | to_json }} ansible.builtin.x",
            ),
            (
                "x is ansible.builtin.match('ansible.builtin.y')",
                Source::Conditional,
                "x is match('ansible.builtin.y')",
            ),
            (
                "my.ansible.builtin.z",
                Source::Expression,
                "my.ansible.builtin.z",
            ),
            // Python's string % operator, as the format filter.
            (
                "'%s/%s' % (a, 'b') == x",
                Source::Conditional,
                "('%s/%s' | format(a, 'b')) == x",
            ),
            (
                "{{ 'n=%d' % n.count }}{% if x %}y{% endif %}",
                Source::Argument,
                "{{ ('n=%d' | format(n.count)) }}{% if x %}y{% endif %}",
            ),
            ("{{ '100%' }}", Source::Argument, "{{ '100%' }}"),
            (
                r"'a\1' ~ '\x41\101\u0042'",
                Source::Conditional,
                "'a\\u0001' ~ 'AAB'",
            ),
            (
                r#"'it\'s' ~ "q\"" "#,
                Source::Conditional,
                r#"'it\'s' ~ "q\"" "#,
            ),
            (
                r"x | regex_replace('(a)', '\1')",
                Source::Expression,
                r"x | regex_replace('(a)', '\\1')",
            ),
            (
                r"{% raw %}{{ '\d' }}{% endraw %}{{ '\d' }}",
                Source::Template,
                r"{% raw %}{{ '\d' }}{% endraw %}{{ '\\d' }}",
            ),
            (
                r"{# '\d' #}{{ '\n' }}",
                Source::Template,
                r"{# '\d' #}{{ '\n' }}",
            ),
        ];
        for (src, source, want) in table {
            assert_eq!(prepare(src, *source), *want, "{src} as {source:?}");
        }
        assert!(matches!(
            prepare("{{ 'plain' }}", Source::Argument),
            Cow::Borrowed(_)
        ));
    }
}
