//! Jinja2's text filters that minijinja lacks, with Jinja2 3.1's behaviour
//! (Ansible uses them as they are): `center`, `filesizeformat`,
//! `forceescape`, `striptags`, `truncate`, `urlize`, `wordcount`,
//! `wordwrap` and `xmlattr`.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, Value};

use crate::playbook::filters::{defined, fail, py_float, py_str, py_str_repr};
use crate::playbook::pyargs::{bind, int_arg, str_arg};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("center", center);
    env.add_filter("filesizeformat", filesizeformat);
    env.add_filter("forceescape", |v: Value| -> Result<Value, Error> {
        defined(&v)?;
        Ok(Value::from_safe_string(html_escape(&py_str(&v))))
    });
    env.add_filter("striptags", |v: Value| -> Result<String, Error> {
        defined(&v)?;
        Ok(striptags(&py_str(&v)))
    });
    env.add_filter("truncate", truncate);
    env.add_filter("urlize", urlize_filter);
    env.add_filter("wordcount", |v: Value| -> Result<usize, Error> {
        defined(&v)?;
        Ok(wordcount(&py_str(&v)))
    });
    env.add_filter("wordwrap", wordwrap_filter);
    env.add_filter("xmlattr", xmlattr);
}

/// Python's `str.center(width)`: the text in the middle of a field of
/// `width` characters, the odd space on the left when `width` is odd.
pub(crate) fn py_center(s: &str, width: i64) -> String {
    let len = s.chars().count() as i64;
    if width <= len {
        return s.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    format!(
        "{}{s}{}",
        " ".repeat(left as usize),
        " ".repeat((marg - left) as usize)
    )
}

/// Jinja's `center(width=80)`.
fn center(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let [width] = <[Option<Value>; 1]>::try_from(bind("center", &["width"], &args, &kwargs)?)
        .expect("one parameter");
    let width = match width {
        Some(w) => int_arg("center", "width", &w)?,
        None => 80,
    };
    Ok(py_center(&py_str(&v), width))
}

/// Python's `float(x)` of a filter input, with Python's refusal.
fn py_to_float(v: &Value) -> Result<f64, Error> {
    match v.kind() {
        ValueKind::Bool => Ok(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(v.clone()).map_err(|e| fail(e.to_string())),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            let t = s.trim().replace('_', "").to_ascii_lowercase();
            let parsed = match t.trim_start_matches(['+', '-']) {
                "inf" | "infinity" => Some(if t.starts_with('-') {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }),
                "nan" => Some(f64::NAN),
                _ => t.parse::<f64>().ok(),
            };
            parsed.ok_or_else(|| {
                fail(format!(
                    "could not convert string to float: {}",
                    py_str_repr(s)
                ))
            })
        }
        _ => Err(fail(format!(
            "float() argument must be a string or a real number, not '{}'",
            crate::playbook::templar::py_type(v)
        ))),
    }
}

/// Python's `f"{x:.1f}"`.
fn fixed1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        py_float(x)
    }
}

/// Jinja's `filesizeformat(binary=False)`: `13 Bytes`, `4.1 MB` (decimal
/// prefixes) or `4.1 MiB` (binary ones).
fn filesizeformat(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let [binary] =
        <[Option<Value>; 1]>::try_from(bind("filesizeformat", &["binary"], &args, &kwargs)?)
            .expect("one parameter");
    let binary = binary.is_some_and(|b| b.is_true());
    let bytes = py_to_float(&v)?;
    Ok(filesize(bytes, binary))
}

pub(crate) fn filesize(bytes: f64, binary: bool) -> String {
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let prefixes: [&str; 8] = if binary {
        ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    } else {
        ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    };
    if bytes == 1.0 {
        return "1 Byte".into();
    }
    if bytes < base {
        // Python's int() truncates toward zero.
        return format!("{} Bytes", bytes.trunc() as i64);
    }
    let mut unit = base;
    for (i, prefix) in prefixes.iter().enumerate() {
        unit = base.powi(i as i32 + 2);
        if bytes < unit {
            return format!("{} {prefix}", fixed1(base * bytes / unit));
        }
    }
    format!("{} {}", fixed1(base * bytes / unit), prefixes[7])
}

/// MarkupSafe's `escape`: `& < > " '` as entities.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Python's `str.isspace()` for one character.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Named character references `html.unescape` knows, for the ones text
/// usually carries: the XML five, Latin-1 and the common typographic
/// ones. Other names stay as written.
const ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("iexcl", '¡'),
    ("cent", '¢'),
    ("pound", '£'),
    ("curren", '¤'),
    ("yen", '¥'),
    ("brvbar", '¦'),
    ("sect", '§'),
    ("uml", '¨'),
    ("copy", '©'),
    ("ordf", 'ª'),
    ("laquo", '«'),
    ("not", '¬'),
    ("shy", '\u{ad}'),
    ("reg", '®'),
    ("macr", '¯'),
    ("deg", '°'),
    ("plusmn", '±'),
    ("sup2", '²'),
    ("sup3", '³'),
    ("acute", '´'),
    ("micro", 'µ'),
    ("para", '¶'),
    ("middot", '·'),
    ("cedil", '¸'),
    ("sup1", '¹'),
    ("ordm", 'º'),
    ("raquo", '»'),
    ("frac14", '¼'),
    ("frac12", '½'),
    ("frac34", '¾'),
    ("iquest", '¿'),
    ("Agrave", 'À'),
    ("Aacute", 'Á'),
    ("Acirc", 'Â'),
    ("Atilde", 'Ã'),
    ("Auml", 'Ä'),
    ("Aring", 'Å'),
    ("AElig", 'Æ'),
    ("Ccedil", 'Ç'),
    ("Egrave", 'È'),
    ("Eacute", 'É'),
    ("Ecirc", 'Ê'),
    ("Euml", 'Ë'),
    ("Igrave", 'Ì'),
    ("Iacute", 'Í'),
    ("Icirc", 'Î'),
    ("Iuml", 'Ï'),
    ("ETH", 'Ð'),
    ("Ntilde", 'Ñ'),
    ("Ograve", 'Ò'),
    ("Oacute", 'Ó'),
    ("Ocirc", 'Ô'),
    ("Otilde", 'Õ'),
    ("Ouml", 'Ö'),
    ("times", '×'),
    ("Oslash", 'Ø'),
    ("Ugrave", 'Ù'),
    ("Uacute", 'Ú'),
    ("Ucirc", 'Û'),
    ("Uuml", 'Ü'),
    ("Yacute", 'Ý'),
    ("THORN", 'Þ'),
    ("szlig", 'ß'),
    ("agrave", 'à'),
    ("aacute", 'á'),
    ("acirc", 'â'),
    ("atilde", 'ã'),
    ("auml", 'ä'),
    ("aring", 'å'),
    ("aelig", 'æ'),
    ("ccedil", 'ç'),
    ("egrave", 'è'),
    ("eacute", 'é'),
    ("ecirc", 'ê'),
    ("euml", 'ë'),
    ("igrave", 'ì'),
    ("iacute", 'í'),
    ("icirc", 'î'),
    ("iuml", 'ï'),
    ("eth", 'ð'),
    ("ntilde", 'ñ'),
    ("ograve", 'ò'),
    ("oacute", 'ó'),
    ("ocirc", 'ô'),
    ("otilde", 'õ'),
    ("ouml", 'ö'),
    ("divide", '÷'),
    ("oslash", 'ø'),
    ("ugrave", 'ù'),
    ("uacute", 'ú'),
    ("ucirc", 'û'),
    ("uuml", 'ü'),
    ("yacute", 'ý'),
    ("thorn", 'þ'),
    ("yuml", 'ÿ'),
    ("OElig", 'Œ'),
    ("oelig", 'œ'),
    ("Scaron", 'Š'),
    ("scaron", 'š'),
    ("Yuml", 'Ÿ'),
    ("fnof", 'ƒ'),
    ("circ", 'ˆ'),
    ("tilde", '˜'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200c}'),
    ("zwj", '\u{200d}'),
    ("lrm", '\u{200e}'),
    ("rlm", '\u{200f}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("dagger", '†'),
    ("Dagger", '‡'),
    ("bull", '•'),
    ("hellip", '…'),
    ("permil", '‰'),
    ("prime", '′'),
    ("Prime", '″'),
    ("lsaquo", '‹'),
    ("rsaquo", '›'),
    ("oline", '‾'),
    ("euro", '€'),
    ("trade", '™'),
    ("larr", '←'),
    ("uarr", '↑'),
    ("rarr", '→'),
    ("darr", '↓'),
    ("harr", '↔'),
    ("minus", '−'),
    ("infin", '∞'),
    ("ne", '≠'),
    ("le", '≤'),
    ("ge", '≥'),
];

/// What `html.unescape` makes of a numeric reference.
fn numeric_ref(num: u32) -> String {
    // Windows-1252 for the C1 range, as HTML5 (and Python) read it.
    const CP1252: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match num {
        0 => "\u{fffd}".into(),
        0x0d => "\r".into(),
        0x80..=0x9f => CP1252[(num - 0x80) as usize].to_string(),
        0xd800..=0xdfff | 0x110000.. => "\u{fffd}".into(),
        0x1..=0x8 | 0xb | 0xe..=0x1f | 0x7f | 0xfdd0..=0xfdef => String::new(),
        n if n & 0xfffe == 0xfffe => String::new(),
        n => char::from_u32(n).map(String::from).unwrap_or_default(),
    }
}

/// Python's `html.unescape`: numeric references, and the named ones of
/// `ENTITIES` (a few without their `;`, as HTML allows).
pub(crate) fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '&' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'#') {
            let hex = matches!(chars.get(i + 2), Some('x' | 'X'));
            let start = i + 2 + usize::from(hex);
            let mut j = start;
            while j < chars.len()
                && (if hex {
                    chars[j].is_ascii_hexdigit()
                } else {
                    chars[j].is_ascii_digit()
                })
            {
                j += 1;
            }
            if j > start {
                let digits: String = chars[start..j].iter().collect();
                let num =
                    u32::from_str_radix(&digits, if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
                out.push_str(&numeric_ref(num));
                i = if chars.get(j) == Some(&';') { j + 1 } else { j };
                continue;
            }
            out.push('&');
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && j - i <= 32 && !"\t\n\u{c} <&#;".contains(chars[j]) {
            j += 1;
        }
        let name: String = chars[i + 1..j].iter().collect();
        let with_semi = chars.get(j) == Some(&';');
        let found = ENTITIES.iter().find(|(n, _)| *n == name);
        match found {
            Some((_, c)) if with_semi => {
                out.push(*c);
                i = j + 1;
            }
            _ => {
                // Latin-1 and the XML names also stand without `;`:
                // the longest such prefix of the name.
                let legacy = (1..=name.len()).rev().find_map(|k| {
                    let prefix = name.get(..k)?;
                    ENTITIES
                        .iter()
                        .take(101)
                        .filter(|(n, _)| *n != "apos")
                        .find(|(n, _)| *n == prefix)
                        .map(|(_, c)| (k, *c))
                });
                match legacy {
                    Some((k, c)) => {
                        out.push(c);
                        i += 1 + name[..k].chars().count();
                    }
                    None => {
                        out.push('&');
                        i += 1;
                    }
                }
            }
        }
    }
    out
}

/// MarkupSafe's `striptags`: comments, then tags removed, whitespace
/// collapsed to single spaces, entities unescaped.
pub(crate) fn striptags(s: &str) -> String {
    let mut value = s.to_string();
    while let Some(start) = value.find("<!--") {
        let Some(end) = value[start..].find("-->").map(|e| e + start) else {
            break;
        };
        value = format!("{}{}", &value[..start], &value[end + 3..]);
    }
    while let Some(start) = value.find('<') {
        let Some(end) = value[start..].find('>').map(|e| e + start) else {
            break;
        };
        value = format!("{}{}", &value[..start], &value[end + 1..]);
    }
    let collapsed: Vec<&str> = value.split(py_space).filter(|w| !w.is_empty()).collect();
    html_unescape(&collapsed.join(" "))
}

/// Jinja's `truncate(length=255, killwords=False, end='...', leeway=5)`:
/// text longer than `length + leeway` cut to `length` characters with
/// `end`, at a word boundary unless `killwords`.
fn truncate(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let [length, killwords, end, leeway] = <[Option<Value>; 4]>::try_from(bind(
        "truncate",
        &["length", "killwords", "end", "leeway"],
        &args,
        &kwargs,
    )?)
    .expect("four parameters");
    let length = match length {
        Some(l) => int_arg("truncate", "length", &l)?,
        None => 255,
    };
    let killwords = killwords.is_some_and(|k| k.is_true());
    let end = match end {
        Some(e) => str_arg("truncate", "end", &e)?.unwrap_or_default(),
        None => "...".into(),
    };
    let leeway = match leeway {
        Some(l) if !l.is_none() => int_arg("truncate", "leeway", &l)?,
        _ => 5,
    };
    let end_len = end.chars().count() as i64;
    if length < end_len {
        return Err(fail(format!("expected length >= {end_len}, got {length}")));
    }
    if leeway < 0 {
        return Err(fail(format!("expected leeway >= 0, got {leeway}")));
    }
    let s = py_str(&v);
    let chars: Vec<char> = s.chars().collect();
    if chars.len() as i64 <= length + leeway {
        return Ok(s);
    }
    let head: String = chars[..(length - end_len) as usize].iter().collect();
    if killwords {
        return Ok(head + &end);
    }
    let kept = head.rsplit_once(' ').map_or(head.as_str(), |(a, _)| a);
    Ok(format!("{kept}{end}"))
}

/// Jinja's `wordcount`: the runs of word characters (`\w+`).
pub(crate) fn wordcount(s: &str) -> usize {
    let mut n = 0;
    let mut in_word = false;
    for c in s.chars() {
        let w = c.is_alphanumeric() || c == '_';
        if w && !in_word {
            n += 1;
        }
        in_word = w;
    }
    n
}

/// Python's `str.splitlines()`.
fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let brk = matches!(
            c,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !brk {
            continue;
        }
        out.push(&s[start..i]);
        let mut next = i + c.len_utf8();
        if c == '\r' {
            if let Some((_, '\n')) = iter.peek() {
                iter.next();
                next += 1;
            }
        }
        start = next;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// textwrap's whitespace.
fn tw_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// textwrap's `letter`: a word character that is not a digit.
fn letter(c: Option<&char>) -> bool {
    c.is_some_and(|&c| word_char(c) && !c.is_numeric())
}

/// textwrap's `word_punct`.
fn word_punct(c: Option<&char>) -> bool {
    c.is_some_and(|&c| word_char(c) || "!\"'&.,?".contains(c))
}

/// At `i`: two or more hyphens followed by a word character?
fn em_dash_at(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while chars.get(j) == Some(&'-') {
        j += 1;
    }
    (j - i >= 2 && chars.get(j).is_some_and(|&c| word_char(c))).then_some(j)
}

/// textwrap's chunks of a paragraph: runs of whitespace, em-dashes between
/// words and words, hyphenated words split after their hyphens (when
/// `hyphens`), as its `wordsep_re` (or `wordsep_simple_re`) cuts them.
fn tw_chunks(text: &str, hyphens: bool) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        if tw_space(chars[i]) {
            while i < chars.len() && tw_space(chars[i]) {
                i += 1;
            }
        } else if !hyphens {
            while i < chars.len() && !tw_space(chars[i]) {
                i += 1;
            }
        } else if let Some(end) = (i > 0 && word_punct(chars.get(i - 1)))
            .then(|| em_dash_at(&chars, i))
            .flatten()
        {
            i = end;
        } else {
            // The shortest run of non-space that ends a word: after a
            // hyphen between letters, before whitespace or the end, or
            // before an em-dash.
            let mut e = i + 1;
            loop {
                if e >= chars.len() || tw_space(chars[e]) {
                    i = e;
                    break;
                }
                if chars[e] == '-' {
                    let behind = (e >= 2 && letter(chars.get(e - 2)) && letter(chars.get(e - 1)))
                        || (e >= 3
                            && letter(chars.get(e - 3))
                            && chars[e - 2] == '-'
                            && letter(chars.get(e - 1)));
                    let ahead = letter(chars.get(e + 1))
                        && (letter(chars.get(e + 2))
                            || (chars.get(e + 2) == Some(&'-') && letter(chars.get(e + 3))));
                    if behind && ahead {
                        i = e + 1;
                        break;
                    }
                }
                if word_punct(chars.get(e - 1)) && em_dash_at(&chars, e).is_some() {
                    i = e;
                    break;
                }
                e += 1;
            }
        }
        out.push(chars[start..i].iter().collect());
    }
    out
}

/// Python's `textwrap.wrap(text, width, expand_tabs=False,
/// replace_whitespace=False, break_long_words, break_on_hyphens)`.
pub(crate) fn textwrap(text: &str, width: usize, break_long: bool, hyphens: bool) -> Vec<String> {
    let len = |s: &String| s.chars().count();
    let blank = |s: &String| s.chars().all(char::is_whitespace);
    let mut chunks = tw_chunks(text, hyphens);
    chunks.reverse();
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut line: Vec<String> = Vec::new();
        let mut cur = 0;
        if !lines.is_empty() && chunks.last().is_some_and(blank) {
            chunks.pop();
        }
        while let Some(last) = chunks.last() {
            let l = len(last);
            if cur + l <= width {
                cur += l;
                line.push(chunks.pop().expect("present"));
            } else {
                break;
            }
        }
        if chunks.last().is_some_and(|c| len(c) > width) {
            let space_left = if width < 1 { 1 } else { width - cur };
            if break_long {
                let chunk: Vec<char> = chunks.last().expect("present").chars().collect();
                let mut end = space_left;
                if hyphens && chunk.len() > space_left {
                    let hyphen = chunk[..space_left].iter().rposition(|&c| c == '-');
                    if let Some(h) = hyphen.filter(|&h| h > 0) {
                        if chunk[..h].iter().any(|&c| c != '-') {
                            end = h + 1;
                        }
                    }
                }
                line.push(chunk[..end].iter().collect());
                *chunks.last_mut().expect("present") = chunk[end..].iter().collect();
            } else if line.is_empty() {
                line.push(chunks.pop().expect("present"));
            }
        }
        if line.last().is_some_and(blank) {
            line.pop();
        }
        if !line.is_empty() {
            lines.push(line.concat());
        }
    }
    lines
}

/// Jinja's `wordwrap(width=79, break_long_words=True, wrapstring=None,
/// break_on_hyphens=True)`: each paragraph (line) wrapped on its own, the
/// lines joined with `wrapstring` (a newline).
fn wordwrap_filter(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    defined(&v)?;
    let [width, break_long, wrapstring, hyphens] = <[Option<Value>; 4]>::try_from(bind(
        "wordwrap",
        &[
            "width",
            "break_long_words",
            "wrapstring",
            "break_on_hyphens",
        ],
        &args,
        &kwargs,
    )?)
    .expect("four parameters");
    let width = match width {
        Some(w) => int_arg("wordwrap", "width", &w)?,
        None => 79,
    };
    if width <= 0 {
        return Err(fail(format!("invalid width {width} (must be > 0)")));
    }
    let break_long = break_long.is_none_or(|b| b.is_true());
    let hyphens = hyphens.is_none_or(|b| b.is_true());
    let wrapstring = match wrapstring {
        Some(w) => str_arg("wordwrap", "wrapstring", &w)?.unwrap_or_else(|| "\n".into()),
        None => "\n".into(),
    };
    let s = py_str(&v);
    let paragraphs: Vec<String> = py_splitlines(&s)
        .into_iter()
        .map(|line| textwrap(line, width as usize, break_long, hyphens).join(&wrapstring))
        .collect();
    Ok(paragraphs.join(&wrapstring))
}

fn http_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i)^(?:(?:https?://|www\.)(?:(?:[\w%-]+\.)+)?(?:[a-z]{2,63}|xn--[\w%]{2,59})",
            r"|(?:[\w%-]{2,63}\.)+(?:com|net|int|edu|gov|org|info|mil)",
            r"|(?:https?://)(?:(?:\d{1,3})(?:\.\d{1,3}){3}|\[(?:[\da-f]{0,4}:){2}(?:[\da-f]{0,4}:?){1,6}\]))",
            r"(?::\d{1,5})?(?:[/?#]\S*)?$"
        ))
        .expect("valid urlize regex")
    })
}

fn email_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^\S+@\w[\w.-]*\.\w+$").expect("valid email regex"))
}

/// Jinja's `urlize`: links for the URLs (`http(s)://`, `www.`, bare
/// domains of the classic top-level names), `mailto:` and e-mail addresses
/// of the HTML-escaped text, leading and trailing punctuation kept out.
pub(crate) fn urlize(
    text: &str,
    trim: Option<usize>,
    rel: Option<&str>,
    target: Option<&str>,
    extra_schemes: &[String],
) -> String {
    let trim_url = |x: &str| match trim {
        Some(limit) if x.chars().count() > limit => {
            format!("{}...", x.chars().take(limit).collect::<String>())
        }
        _ => x.to_string(),
    };
    let rel_attr = rel.map_or(String::new(), |r| format!(" rel=\"{}\"", html_escape(r)));
    let target_attr = target.map_or(String::new(), |t| format!(" target=\"{}\"", html_escape(t)));
    let lead = regex::Regex::new(r"^(?:[(<]|&lt;)+").expect("valid regex");
    let trail = regex::Regex::new(r"(?:[)>.,\n]|&gt;)+$").expect("valid regex");
    let escaped = html_escape(text);
    let mut out = String::new();
    let mut rest = escaped.as_str();
    // re.split(r"(\s+)"): words and the whitespace between them.
    while !rest.is_empty() {
        let cut = rest.find(py_space).unwrap_or(rest.len());
        let (word, after) = rest.split_at(cut);
        let space_len = after
            .char_indices()
            .find(|(_, c)| !py_space(*c))
            .map_or(after.len(), |(i, _)| i);
        let (space, next) = after.split_at(space_len);
        let mut head = String::new();
        let mut middle = word.to_string();
        let mut tail = String::new();
        if let Some(m) = lead.find(&middle) {
            head = m.as_str().to_string();
            middle = middle[m.end()..].to_string();
        }
        if let Some(m) = trail.find(&middle) {
            tail = m.as_str().to_string();
            middle.truncate(m.start());
        }
        for (open, close) in [("(", ")"), ("<", ">"), ("&lt;", "&gt;")] {
            let opens = middle.matches(open).count();
            if opens <= middle.matches(close).count() {
                continue;
            }
            for _ in 0..opens.min(tail.matches(close).count()) {
                let end = tail.find(close).expect("counted") + close.len();
                middle.push_str(&tail[..end]);
                tail = tail[end..].to_string();
            }
        }
        if http_re().is_match(&middle) {
            let href = if middle.starts_with("https://") || middle.starts_with("http://") {
                middle.clone()
            } else {
                format!("https://{middle}")
            };
            middle = format!(
                "<a href=\"{href}\"{rel_attr}{target_attr}>{}</a>",
                trim_url(&middle)
            );
        } else if middle.starts_with("mailto:") && email_re().is_match(&middle[7..]) {
            middle = format!("<a href=\"{middle}\">{}</a>", &middle[7..]);
        } else if middle.contains('@')
            && !middle.starts_with("www.")
            && !middle.starts_with('@')
            && !middle.contains(':')
            && email_re().is_match(&middle)
        {
            middle = format!("<a href=\"mailto:{middle}\">{middle}</a>");
        } else {
            for scheme in extra_schemes {
                if middle != *scheme && middle.starts_with(scheme.as_str()) {
                    middle = format!("<a href=\"{middle}\"{rel_attr}{target_attr}>{middle}</a>");
                }
            }
        }
        out.push_str(&head);
        out.push_str(&middle);
        out.push_str(&tail);
        out.push_str(space);
        rest = next;
    }
    out
}

/// Jinja's `urlize(trim_url_limit=None, nofollow=False, target=None,
/// rel=None, extra_schemes=None)`, with Jinja's default `rel="noopener"`.
fn urlize_filter(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [trim, nofollow, target, rel, extra] = <[Option<Value>; 5]>::try_from(bind(
        "urlize",
        &[
            "trim_url_limit",
            "nofollow",
            "target",
            "rel",
            "extra_schemes",
        ],
        &args,
        &kwargs,
    )?)
    .expect("five parameters");
    let trim = match trim.filter(|t| !t.is_none()) {
        Some(t) => Some(int_arg("urlize", "trim_url_limit", &t)?.max(0) as usize),
        None => None,
    };
    let mut rel_parts: Vec<String> = match rel {
        Some(r) => str_arg("urlize", "rel", &r)?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    if nofollow.is_some_and(|n| n.is_true()) {
        rel_parts.push("nofollow".into());
    }
    rel_parts.push("noopener".into());
    rel_parts.sort();
    rel_parts.dedup();
    let rel = rel_parts.join(" ");
    let target = match target {
        Some(t) => str_arg("urlize", "target", &t)?,
        None => None,
    };
    let mut schemes = Vec::new();
    if let Some(extra) = extra.filter(|e| !e.is_none()) {
        let valid = regex::Regex::new(r"^[\w.+-]{2,}:/{0,2}$").expect("valid regex");
        for s in extra.try_iter()? {
            let s = py_str(&s);
            if !valid.is_match(&s) {
                return Err(fail(format!(
                    "{} is not a valid URI scheme prefix.",
                    py_str_repr(&s)
                )));
            }
            schemes.push(s);
        }
    }
    let text = py_str(&v);
    Ok(Value::from_safe_string(urlize(
        &text,
        trim,
        Some(rel.as_str()).filter(|r| !r.is_empty()),
        target.as_deref(),
        &schemes,
    )))
}

/// Jinja's `xmlattr(autospace=True)`: ` key="value"` for each entry whose
/// value is neither none nor undefined, both escaped; a key holding
/// whitespace, `/`, `>` or `=` is refused.
fn xmlattr(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [autospace] =
        <[Option<Value>; 1]>::try_from(bind("xmlattr", &["autospace"], &args, &kwargs)?)
            .expect("one parameter");
    if v.kind() != ValueKind::Map {
        return Err(fail(format!(
            "'{}' object has no attribute 'items'",
            crate::playbook::templar::py_type(&v)
        )));
    }
    let mut items = Vec::new();
    for key in v.try_iter()? {
        let value = v.get_item(&key)?;
        if value.is_none() || value.is_undefined() {
            continue;
        }
        let k = py_str(&key);
        if k.chars().any(|c| c.is_whitespace() || "/>=".contains(c)) {
            return Err(fail(format!(
                "Invalid character in attribute name: {}",
                py_str_repr(&k)
            )));
        }
        items.push(format!(
            "{}=\"{}\"",
            html_escape(&k),
            html_escape(&py_str(&value))
        ));
    }
    let mut rv = items.join(" ");
    if autospace.is_none_or(|a| a.is_true()) && !rv.is_empty() {
        rv.insert(0, ' ');
    }
    Ok(Value::from_safe_string(rv))
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;

    /// (expression, expected JSON) — the expected values are what
    /// ansible-core 2.19 (Jinja2 3.1) renders for the same task argument.
    const RENDERED: &[(&str, &str)] = &[
        (r#"{{ 'abc' | center(9) }}"#, r#""   abc   ""#),
        (r#"{{ 'ab' | center(5) }}"#, r#""  ab ""#),
        (
            r#"{{ 'abc' | center }}"#,
            r#""                                      abc                                       ""#,
        ),
        (r#"{{ 'abcdef' | center(3) }}"#, r#""abcdef""#),
        (r#"{{ 12 | center(6) }}"#, r#""  12  ""#),
        (r#"{{ 1 | filesizeformat }}"#, r#""1 Byte""#),
        (r#"{{ 0 | filesizeformat }}"#, r#""0 Bytes""#),
        (r#"{{ 999 | filesizeformat }}"#, r#""999 Bytes""#),
        (r#"{{ 1000 | filesizeformat }}"#, r#""1.0 kB""#),
        (r#"{{ 1000000 | filesizeformat }}"#, r#""1.0 MB""#),
        (r#"{{ 1500000 | filesizeformat }}"#, r#""1.5 MB""#),
        (r#"{{ 1024 | filesizeformat(true) }}"#, r#""1.0 KiB""#),
        (
            r#"{{ 123456789 | filesizeformat(binary=True) }}"#,
            r#""117.7 MiB""#,
        ),
        (r#"{{ '2048' | filesizeformat }}"#, r#""2.0 kB""#),
        (r#"{{ 1e30 | filesizeformat }}"#, r#""1000000.0 YB""#),
        (r#"{{ -5 | filesizeformat }}"#, r#""-5 Bytes""#),
        (r#"{{ 1.5 | filesizeformat }}"#, r#""1 Bytes""#),
        (
            r#"{{ '<a href="x">&\'</a>' | forceescape }}"#,
            r#""&lt;a href=&#34;x&#34;&gt;&amp;\\&#39;&lt;/a&gt;""#,
        ),
        (
            r#"{{ '<b>bold</b>  and   <!-- c <i> -->text &amp; &lt;tag&gt; &copy; &#65;&#x42; &nbsp;x &bogus; &amp' | striptags }}"#,
            r#""bold and text & <tag> \u00a9 AB \u00a0x &bogus; &""#,
        ),
        (r#"{{ 'a <unclosed' | striptags }}"#, r#""a <unclosed""#),
        (r#"{{ 'foo bar baz qux' | truncate(9) }}"#, r#""foo...""#),
        (
            r#"{{ 'foo bar baz qux' | truncate(9, True) }}"#,
            r#""foo ba...""#,
        ),
        (
            r#"{{ 'foo bar baz qux' | truncate(11) }}"#,
            r#""foo bar baz qux""#,
        ),
        (
            r#"{{ 'foo bar baz qux' | truncate(11, False, '...', 0) }}"#,
            r#""foo bar...""#,
        ),
        (
            r#"{{ 'foo bar baz qux' | truncate(5, end='!!', leeway=0) }}"#,
            r#""foo!!""#,
        ),
        (
            r#"{{ 'foobarbazqux' | truncate(9, leeway=0) }}"#,
            r#""foobar...""#,
        ),
        (
            r#"{{ 'see http://x.org/a?b=1, www.example.com and (https://y.net/p). mail a@b.co or mailto:c@d.io' | urlize }}"#,
            r#""see <a href=\"http://x.org/a?b=1\" rel=\"noopener\">http://x.org/a?b=1</a>, <a href=\"https://www.example.com\" rel=\"noopener\">www.example.com</a> and (<a href=\"https://y.net/p\" rel=\"noopener\">https://y.net/p</a>). mail <a href=\"mailto:a@b.co\">a@b.co</a> or <a href=\"mailto:c@d.io\">c@d.io</a>""#,
        ),
        (
            r#"{{ 'go to example.com now' | urlize }}"#,
            r#""go to <a href=\"https://example.com\" rel=\"noopener\">example.com</a> now""#,
        ),
        (
            r#"{{ 'http://averyveryverylongdomain.example.org/path' | urlize(20) }}"#,
            r#""<a href=\"http://averyveryverylongdomain.example.org/path\" rel=\"noopener\">http://averyveryvery...</a>""#,
        ),
        (
            r#"{{ 'http://x.org' | urlize(nofollow=True, target='_blank', rel='me') }}"#,
            r#""<a href=\"http://x.org\" rel=\"me nofollow noopener\" target=\"_blank\">http://x.org</a>""#,
        ),
        (
            r#"{{ 'ftp://files.example.org/x and http://127.0.0.1:8080/ and http://[::1]/' | urlize(extra_schemes=['ftp://']) }}"#,
            r#""<a href=\"ftp://files.example.org/x\" rel=\"noopener\">ftp://files.example.org/x</a> and <a href=\"http://127.0.0.1:8080/\" rel=\"noopener\">http://127.0.0.1:8080/</a> and <a href=\"http://[::1]/\" rel=\"noopener\">http://[::1]/</a>""#,
        ),
        (
            r#"{{ '<http://x.org>' | urlize }}"#,
            r#""&lt;<a href=\"http://x.org\" rel=\"noopener\">http://x.org</a>&gt;""#,
        ),
        (r#"{{ 'x@y' | urlize }}"#, r#""x@y""#),
        (r#"{{ 'a b  c' | wordcount }}"#, r#"3"#),
        (r#"{{ "it's a-b_c 3.14" | wordcount }}"#, r#"6"#),
        (r#"{{ 'héllo wörld' | wordcount }}"#, r#"2"#),
        (
            r#"{{ 'The quick brown fox jumps over the lazy dog' | wordwrap(10) }}"#,
            r#""The quick\nbrown fox\njumps over\nthe lazy\ndog""#,
        ),
        (
            r#"{{ 'a verylongwordthatexceeds the width' | wordwrap(8) }}"#,
            r#""a verylo\nngwordth\natexceed\ns the\nwidth""#,
        ),
        (
            r#"{{ 'a verylongwordthatexceeds the width' | wordwrap(8, break_long_words=False) }}"#,
            r#""a\nverylongwordthatexceeds\nthe\nwidth""#,
        ),
        (
            r#"{{ 'well-known self-evident multi-part-word' | wordwrap(12) }}"#,
            r#""well-known\nself-evident\nmulti-part-\nword""#,
        ),
        (
            r#"{{ 'well-known self-evident multi-part-word' | wordwrap(12, break_on_hyphens=False) }}"#,
            r#""well-known\nself-evident\nmulti-part-w\nord""#,
        ),
        (
            r#"{{ 'first para line\n\nsecond paragraph here' | wordwrap(10) }}"#,
            r#""first para\nline\\n\\nse\ncond\nparagraph\nhere""#,
        ),
        (
            r#"{{ 'x y z' | wordwrap(3, wrapstring='|') }}"#,
            r#""x y|z""#,
        ),
        (
            r#"{{ 'hello--world foo--bar' | wordwrap(8) }}"#,
            r#""hello--\nworld\nfoo--bar""#,
        ),
        (
            r#"{{ 'aaaa-bbbb-cccc' | wordwrap(6) }}"#,
            r#""aaaa-\nbbbb-\ncccc""#,
        ),
        (
            r#"{{ '   leading spaces and  double' | wordwrap(7) }}"#,
            r#""leading\nspaces\nand\ndouble""#,
        ),
        (
            r#"{{ {'class': 'my list', 'missing': none, 'id': 'x"<'} | xmlattr }}"#,
            r#"" class=\"my list\" id=\"x&#34;&lt;\"""#,
        ),
        (
            r#"{{ {'a': 1, 'b': true} | xmlattr(false) }}"#,
            r#""a=\"1\" b=\"True\"""#,
        ),
        (r#"{{ {} | xmlattr }}"#, r#""""#),
    ];

    /// (expression, error) — Ansible's message after its "The filter
    /// plugin ... failed:" prefix.
    const REFUSED: &[(&str, &str)] = &[
        (
            r#"{{ 'x' | filesizeformat }}"#,
            r#"could not convert string to float: 'x'"#,
        ),
        (
            r#"{{ 'x' | truncate(2) }}"#,
            r#"expected length >= 3, got 2"#,
        ),
        (
            r#"{{ 'foo bar baz qux' | truncate(7, leeway=-1) }}"#,
            r#"expected leeway >= 0, got -1"#,
        ),
        (
            r#"{{ 'http://x.org' | urlize(extra_schemes=['bad']) }}"#,
            r#"'bad' is not a valid URI scheme prefix."#,
        ),
        (
            r#"{{ 'abc' | wordwrap(0) }}"#,
            r#"invalid width 0 (must be > 0)"#,
        ),
        (
            r#"{{ {'a b': 1} | xmlattr }}"#,
            r#"Invalid character in attribute name: 'a b'"#,
        ),
        (
            r#"{{ [1] | xmlattr }}"#,
            r#"'list' object has no attribute 'items'"#,
        ),
    ];

    #[test]
    fn text_filters_render_as_jinja2() {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        for (expr, want) in RENDERED {
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            let got = t
                .render_str(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(got, want, "{expr}");
        }
        for (expr, want) in REFUSED {
            let err = t.render_str(expr, &c).expect_err(expr);
            assert_eq!(err.message, *want, "{expr}");
        }
    }

    #[test]
    fn unescape_and_textwrap_pieces() {
        use super::{html_unescape, textwrap};
        assert_eq!(html_unescape("&lt;&gt;&amp;&quot;&#39;&apos;"), "<>&\"''");
        assert_eq!(
            html_unescape("&copy2024 &#128; &#0; &#x110000;"),
            "©2024 € \u{fffd} \u{fffd}"
        );
        assert_eq!(
            html_unescape("&unknown; & &#; &#xZ"),
            "&unknown; & &#; &#xZ"
        );
        assert_eq!(textwrap("", 10, true, true), Vec::<String>::new());
        assert_eq!(textwrap("a  b", 1, true, true), ["a", "b"]);
    }
}
