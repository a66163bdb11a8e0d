//! Python's pattern languages for modules that take them: `fnmatch` globs
//! (matched directly, with `fnmatch.translate`'s bracket rules) and `re`
//! regular expressions (translated to the regex crate's syntax, keeping
//! Python's meaning of `$`, `\Z`, `{`, escapes and bracket contents).
//! What the regex crate cannot express (backreferences, look-around,
//! atomic groups, conditionals) is refused with a message naming it.

use regex::Regex;

// ------------------------------------------------------------------ fnmatch

#[derive(Debug, Clone)]
enum Glob {
    Star,
    Any,
    Lit(char),
    /// Bracket set: negated, literal chars and inclusive ranges. An empty,
    /// non-negated set never matches; an empty negated one matches anything.
    Set(bool, Vec<(char, char)>),
}

/// `fnmatch.fnmatchcase(name, pattern)` (POSIX `fnmatch` is case-sensitive):
/// `*` and `?` also match `/`, `.` and newlines; the whole name must match.
pub(crate) fn fnmatch(name: &str, pattern: &str) -> bool {
    let toks = glob_tokens(pattern);
    let text: Vec<char> = name.chars().collect();
    glob_match(&toks, &text)
}

fn glob_tokens(pat: &str) -> Vec<Glob> {
    let p: Vec<char> = pat.chars().collect();
    let n = p.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                if !matches!(out.last(), Some(Glob::Star)) {
                    out.push(Glob::Star);
                }
            }
            '?' => out.push(Glob::Any),
            '[' => {
                let mut j = i;
                if j < n && p[j] == '!' {
                    j += 1;
                }
                if j < n && p[j] == ']' {
                    j += 1;
                }
                while j < n && p[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push(Glob::Lit('['));
                    continue;
                }
                out.push(bracket(&p[i..j]));
                i = j + 1;
            }
            c => out.push(Glob::Lit(c)),
        }
    }
    out
}

/// The set between `[` and `]`, split into chunks at range hyphens the way
/// `fnmatch.translate` does (reversed ranges dropped).
fn bracket(body: &[char]) -> Glob {
    let negated = body.first() == Some(&'!');
    let mut chunks: Vec<Vec<char>> = Vec::new();
    if !body.contains(&'-') {
        chunks.push(body.to_vec());
    } else {
        let mut start = 0;
        let mut k = if negated { 2 } else { 1 };
        loop {
            let found = (k..body.len()).find(|&x| body[x] == '-');
            let Some(h) = found else { break };
            chunks.push(body[start..h].to_vec());
            start = h + 1;
            k = h + 3;
        }
        let last = body[start..].to_vec();
        if last.is_empty() {
            if let Some(prev) = chunks.last_mut() {
                prev.push('-');
            }
        } else {
            chunks.push(last);
        }
        let mut k = chunks.len();
        while k > 1 {
            k -= 1;
            let lo = chunks[k - 1].last().copied();
            let hi = chunks[k].first().copied();
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    let mut merged = chunks[k - 1][..chunks[k - 1].len() - 1].to_vec();
                    merged.extend_from_slice(&chunks[k][1..]);
                    chunks[k - 1] = merged;
                    chunks.remove(k);
                }
            }
        }
    }
    // Items: every chunk's chars are literals except that the last char of
    // one chunk and the first of the next form a range.
    let mut items = Vec::new();
    let count = chunks.len();
    let mut skip_first = false;
    for (t, chunk) in chunks.iter().enumerate() {
        let mut cs: &[char] = chunk;
        if t == 0 && negated && !cs.is_empty() {
            cs = &cs[1..];
        }
        let start = usize::from(skip_first);
        let end = if t + 1 < count {
            cs.len().saturating_sub(1)
        } else {
            cs.len()
        };
        for &c in cs.get(start..end.max(start)).unwrap_or(&[]) {
            items.push((c, c));
        }
        if t + 1 < count {
            if let (Some(&lo), Some(&hi)) = (cs.last(), chunks[t + 1].first()) {
                items.push((lo, hi));
            }
            skip_first = true;
        }
    }
    if negated && items.is_empty() {
        // `[!]` with nothing left: "negated empty range", any character.
        return Glob::Any;
    }
    Glob::Set(negated, items)
}

fn glob_one(t: &Glob, c: char) -> bool {
    match t {
        Glob::Any => true,
        Glob::Lit(l) => *l == c,
        Glob::Set(neg, items) => items.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *neg,
        Glob::Star => true,
    }
}

fn glob_match(toks: &[Glob], text: &[char]) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    loop {
        if ti < toks.len() {
            if let Glob::Star = toks[ti] {
                back = Some((ti, si));
                ti += 1;
                continue;
            }
            if si < text.len() && glob_one(&toks[ti], text[si]) {
                ti += 1;
                si += 1;
                continue;
            }
        } else if si == text.len() {
            return true;
        }
        match back {
            Some((bt, bs)) if bs < text.len() => {
                back = Some((bt, bs + 1));
                ti = bt + 1;
                si = bs + 1;
            }
            _ => return false,
        }
    }
}

// ----------------------------------------------------------------------- re

/// A Python regular expression, compiled for `re.match` (anchored at the
/// start) or `re.search`.
#[derive(Debug, Clone)]
pub(crate) struct PyRegex {
    re: Regex,
}

impl PyRegex {
    /// `re.compile(pattern)` used with `.match()`.
    pub(crate) fn for_match(pattern: &str) -> Result<PyRegex, String> {
        let body = translate(pattern)?;
        compile(pattern, &format!(r"\A(?:{body})"))
    }

    /// `re.compile(pattern)` used with `.search()`.
    pub(crate) fn for_search(pattern: &str) -> Result<PyRegex, String> {
        let body = translate(pattern)?;
        compile(pattern, &format!("(?:{body})"))
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }
}

fn compile(pattern: &str, full: &str) -> Result<PyRegex, String> {
    Regex::new(full).map(|re| PyRegex { re }).map_err(|e| {
        format!(
            "invalid regular expression {}: {}",
            py_quote(pattern),
            first_line(&e.to_string())
        )
    })
}

fn first_line(s: &str) -> String {
    // The regex crate's messages draw the pattern over several lines; keep its last line (the reason).
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

fn py_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn unsupported(pattern: &str, what: &str) -> String {
    format!(
        "regular expression {} uses {what}, which berth does not support",
        py_quote(pattern)
    )
}

fn bad(pattern: &str, what: &str, pos: usize) -> String {
    format!(
        "invalid regular expression {}: {what} at position {pos}",
        py_quote(pattern)
    )
}

/// A char as a literal in the regex crate's syntax (inside or outside a class).
fn lit(out: &mut String, c: char) {
    if c.is_ascii_punctuation() && c != '<' && c != '>' {
        out.push('\\');
        out.push(c);
    } else if c.is_whitespace() || c.is_control() {
        out.push_str(&format!("\\x{{{:x}}}", c as u32));
    } else {
        out.push(c);
    }
}

/// Translate Python `re` syntax to the regex crate's.
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let p: Vec<char> = pattern.chars().collect();
    let n = p.len();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < n {
        let c = p[i];
        match c {
            '\\' => {
                i = escape(pattern, &p, i, &mut out, false)?;
                continue;
            }
            '$' => out.push_str(r"(?:$|\n\z)"),
            '[' => {
                i = class(pattern, &p, i, &mut out)?;
                continue;
            }
            '{' => match quantifier(&p, i) {
                Some((text, next)) => {
                    out.push_str(&text);
                    i = next;
                    continue;
                }
                None => out.push_str(r"\{"),
            },
            '}' => out.push_str(r"\}"),
            '(' if p.get(i + 1) == Some(&'?') => {
                i = group(pattern, &p, i, &mut out)?;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// `{m}`, `{m,}`, `{,n}`, `{m,n}` as Python reads them; anything else is a literal `{`.
fn quantifier(p: &[char], i: usize) -> Option<(String, usize)> {
    let mut j = i + 1;
    if p.get(j) == Some(&'}') {
        return None;
    }
    let lo: String = p[j..].iter().take_while(|c| c.is_ascii_digit()).collect();
    j += lo.len();
    let hi: Option<String> = if p.get(j) == Some(&',') {
        j += 1;
        let hi: String = p[j..].iter().take_while(|c| c.is_ascii_digit()).collect();
        j += hi.len();
        Some(hi)
    } else {
        None
    };
    if p.get(j) != Some(&'}') {
        return None;
    }
    let lo_n = if lo.is_empty() { "0".to_string() } else { lo };
    let text = match hi {
        None => format!("{{{lo_n}}}"),
        Some(h) if h.is_empty() => format!("{{{lo_n},}}"),
        Some(h) => format!("{{{lo_n},{h}}}"),
    };
    Some((text, j + 1))
}

/// `(?...)` constructs.
fn group(pattern: &str, p: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let rest: String = p[i + 2..].iter().take(3).collect();
    if rest.starts_with(':') {
        out.push_str("(?:");
        return Ok(i + 3);
    }
    if rest.starts_with("P<") {
        let end = p[i + 4..]
            .iter()
            .position(|&c| c == '>')
            .ok_or_else(|| bad(pattern, "missing >, unterminated name", i + 4))?;
        let name: String = p[i + 4..i + 4 + end].iter().collect();
        out.push_str(&format!("(?P<{name}>"));
        return Ok(i + 4 + end + 1);
    }
    if rest.starts_with("P=") {
        return Err(unsupported(pattern, "a named backreference"));
    }
    if rest.starts_with('=')
        || rest.starts_with('!')
        || rest.starts_with("<=")
        || rest.starts_with("<!")
    {
        return Err(unsupported(pattern, "look-around"));
    }
    if rest.starts_with('>') {
        return Err(unsupported(pattern, "an atomic group"));
    }
    if rest.starts_with('(') {
        return Err(unsupported(pattern, "a conditional group"));
    }
    if rest.starts_with('#') {
        let end = p[i..]
            .iter()
            .position(|&c| c == ')')
            .ok_or_else(|| bad(pattern, "missing ), unterminated comment", i))?;
        return Ok(i + end + 1);
    }
    // Inline flags: (?aiLmsux), (?flags:...), (?flags-flags:...).
    let mut j = i + 2;
    let mut flags = String::new();
    while j < p.len() && (p[j].is_ascii_alphabetic() || p[j] == '-') {
        match p[j] {
            'i' | 'm' | 's' | 'x' | '-' => flags.push(p[j]),
            'u' => {}
            'a' => return Err(unsupported(pattern, "the ASCII flag (?a)")),
            'L' => {
                return Err(bad(
                    pattern,
                    "bad inline flags: cannot use 'L' flag with a str pattern",
                    j,
                ))
            }
            _ => return Err(bad(pattern, "unknown flag", j)),
        }
        j += 1;
    }
    match p.get(j) {
        Some(')') | Some(':') => {
            if flags.is_empty() || flags == "-" {
                // Only `u` (Python's default): nothing to say.
                out.push_str(if p[j] == ':' { "(?:" } else { "" });
            } else {
                out.push_str(&format!("(?{flags}{}", p[j]));
            }
            Ok(j + 1)
        }
        _ => Err(bad(pattern, "unknown extension ?", i + 1)),
    }
}

/// A backslash escape at `p[i]`; returns the index after it.
fn escape(
    pattern: &str,
    p: &[char],
    i: usize,
    out: &mut String,
    in_class: bool,
) -> Result<usize, String> {
    let Some(&e) = p.get(i + 1) else {
        return Err(bad(pattern, "bad escape (end of pattern)", i));
    };
    let hex = |len: usize| -> Result<(u32, usize), String> {
        let digits: String = p
            .get(i + 2..i + 2 + len)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        if digits.len() != len || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad(pattern, &format!("incomplete escape \\{e}{digits}"), i));
        }
        Ok((u32::from_str_radix(&digits, 16).unwrap_or(0), i + 2 + len))
    };
    let push_code = |out: &mut String, code: u32| -> Result<(), String> {
        let c =
            char::from_u32(code).ok_or_else(|| bad(pattern, "bad escape (not a character)", i))?;
        lit(out, c);
        Ok(())
    };
    match e {
        'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
            out.push('\\');
            out.push(e);
            Ok(i + 2)
        }
        'A' | 'b' | 'B' if !in_class => {
            out.push('\\');
            out.push(e);
            Ok(i + 2)
        }
        'Z' if !in_class => {
            out.push_str(r"\z");
            Ok(i + 2)
        }
        'b' => {
            out.push_str(r"\x08");
            Ok(i + 2)
        }
        'a' => push_code(out, 7).map(|_| i + 2),
        'f' => push_code(out, 12).map(|_| i + 2),
        'n' => push_code(out, 10).map(|_| i + 2),
        'r' => push_code(out, 13).map(|_| i + 2),
        't' => push_code(out, 9).map(|_| i + 2),
        'v' => push_code(out, 11).map(|_| i + 2),
        'x' => {
            let (code, next) = hex(2)?;
            push_code(out, code)?;
            Ok(next)
        }
        'u' => {
            let (code, next) = hex(4)?;
            push_code(out, code)?;
            Ok(next)
        }
        'U' => {
            let (code, next) = hex(8)?;
            push_code(out, code)?;
            Ok(next)
        }
        'N' => Err(unsupported(pattern, "a named character escape \\N{...}")),
        '0'..='7' => {
            // Octal: `\0`, `\0nn`, or three octal digits; otherwise a backreference.
            let octal: String = p[i + 1..]
                .iter()
                .take(3)
                .take_while(|c| ('0'..='7').contains(*c))
                .collect();
            if e == '0' || octal.len() == 3 {
                let code = u32::from_str_radix(&octal, 8).unwrap_or(0);
                if code > 0o377 {
                    return Err(bad(
                        pattern,
                        &format!("octal escape value \\{octal} outside of range 0-0o377"),
                        i,
                    ));
                }
                push_code(out, code)?;
                return Ok(i + 1 + octal.len());
            }
            if in_class {
                return Err(bad(pattern, &format!("bad escape \\{e}"), i));
            }
            Err(unsupported(pattern, "a backreference"))
        }
        '8' | '9' if !in_class => Err(unsupported(pattern, "a backreference")),
        c if c.is_ascii_alphanumeric() => Err(bad(pattern, &format!("bad escape \\{c}"), i)),
        c => {
            lit(out, c);
            Ok(i + 2)
        }
    }
}

/// A `[...]` set at `p[i]` with Python's rules: `]` first is literal, `[` is
/// literal, `-` is a range between two items unless it ends the set.
fn class(pattern: &str, p: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let mut j = i + 1;
    out.push('[');
    if p.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let start = j;
    loop {
        let Some(&c) = p.get(j) else {
            return Err(bad(pattern, "unterminated character set", i));
        };
        if c == ']' && j > start {
            out.push(']');
            return Ok(j + 1);
        }
        // One item, then maybe `-` and a range end.
        if c == '\\' {
            j = escape(pattern, p, j, out, true)?;
        } else {
            lit(out, c);
            j += 1;
        }
        if p.get(j) == Some(&'-') && p.get(j + 1).is_some_and(|&c| c != ']') {
            out.push('-');
            j += 1;
            let c = p[j];
            if c == '\\' {
                j = escape(pattern, p, j, out, true)?;
            } else {
                lit(out, c);
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each verified with Python 3.11's `fnmatch.fnmatch(name, pattern)`.
    #[test]
    fn fnmatch_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("a.txt", "*.txt", true),
            ("a.txt", "*.TXT", false),
            (".hidden", "*", true),
            ("a/b", "a*b", true),
            ("a\nb", "a?b", true),
            ("abc", "a[bc]c", true),
            ("adc", "a[!bc]c", true),
            ("abc", "a[!bc]c", false),
            ("a]", "a[]]", true),
            ("a-", "a[a-]", true),
            ("a[", "a[", true),
            ("a[x", "a[x", true),
            ("b", "[a-c]", true),
            ("d", "[a-c]", false),
            ("b", "[c-a]", false),
            ("a", "[!]", false),
            ("!", "[!]", false),
            ("x", "[!z-a]", true),
            ("\\", "[\\]", true),
            ("-", "[--0]", true),
            ("/", "[--0]", true),
            ("1", "[--0]", false),
            ("b", "[a-b-c]", true),
            ("-", "[a-b-c]", true),
            ("c", "[a-b-c]", true),
            ("", "*", true),
            ("", "?", false),
            ("abcabc", "*b*c", true),
            ("x.tar.gz", "*.gz", true),
            ("^", "[^a]", true),
            ("b", "[^a]", false),
        ];
        for (name, pat, want) in cases {
            assert_eq!(fnmatch(name, pat), *want, "fnmatch({name:?}, {pat:?})");
        }
    }

    /// Each verified with Python 3.11's `bool(re.match(pattern, text))` or `re.search`.
    #[test]
    fn regex_table() {
        let cases: &[(&str, &str, bool, bool)] = &[
            // (pattern, text, match, search)
            ("abc", "abcd", true, true),
            ("bc", "abcd", false, true),
            ("abc$", "abc\n", true, true),
            ("abc$", "abc\n\n", false, false),
            ("abc\\Z", "abc\n", false, false),
            ("a{2}", "aa", true, true),
            ("a{,2}b", "aab", true, true),
            ("a{x}", "a{x}", true, true),
            ("a{", "a{", true, true),
            ("a}", "a}", true, true),
            ("[[]", "[", true, true),
            ("[]a]", "]", true, true),
            ("[a-]", "-", true, true),
            ("[\\w.-]+$", "foo.bar-1", true, true),
            ("(?i)ABC", "abc", true, true),
            ("(?P<x>a)b", "ab", true, true),
            ("\\<", "<", true, true),
            ("a\\.b", "a.b", true, true),
            ("a\\.b", "axb", false, false),
            ("\\x41", "A", true, true),
            ("\\101", "A", true, true),
            ("\\0", "\0", true, true),
            (".*", "", true, true),
            ("", "x", true, true),
            ("a.c", "a\nc", false, false),
            ("(?s)a.c", "a\nc", true, true),
            ("(?m)^b$", "a\nb\nc", false, true),
            ("foo(?#comment)bar", "foobar", true, true),
            ("[&~]+", "&~", true, true),
            ("x|y$", "y\n", true, true),
        ];
        for (pat, text, m, s) in cases {
            let rm = PyRegex::for_match(pat).unwrap_or_else(|e| panic!("{pat}: {e}"));
            let rs = PyRegex::for_search(pat).unwrap();
            assert_eq!(rm.is_match(text), *m, "re.match({pat:?}, {text:?})");
            assert_eq!(rs.is_match(text), *s, "re.search({pat:?}, {text:?})");
        }
    }

    #[test]
    fn regex_errors() {
        for (pat, want) in [
            ("(a", "invalid regular expression"),
            ("[a", "unterminated character set"),
            ("(a)\\1", "backreference"),
            ("a(?=b)", "look-around"),
            ("(?P<n>a)(?P=n)", "named backreference"),
            ("\\q", "bad escape \\q"),
        ] {
            let err = PyRegex::for_match(pat).expect_err(pat);
            assert!(err.contains(want), "{pat}: {err}");
        }
    }
}
