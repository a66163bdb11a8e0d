//! A Python regular expression over one line of a file: the regex crate's
//! engine (linear time, works on bytes) when it can express the pattern,
//! else fancy-regex's for what only a backtracking engine has, as Python's
//! `re` does: backreferences (`(a)\1`), look-ahead and look-behind.

use std::collections::HashMap;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) enum LineRegex {
    Plain(regex::bytes::Regex),
    /// Matched on the line as UTF-8 (invalid bytes replaced).
    Backtracking(fancy_regex::Regex),
}

/// What one match captured, owned: the groups by number (0 is the whole
/// match) and the named groups' numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Groups {
    spans: Vec<Option<Vec<u8>>>,
    names: HashMap<String, usize>,
}

impl Groups {
    /// How many groups the pattern has, the whole match included.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn get(&self, n: usize) -> Option<&[u8]> {
        self.spans.get(n).and_then(|s| s.as_deref())
    }

    pub(crate) fn name(&self, name: &str) -> Option<&[u8]> {
        self.names.get(name).and_then(|n| self.get(*n))
    }
}

impl LineRegex {
    /// Compile `pattern`; the error names the argument it came from.
    pub(crate) fn new(arg: &str, pattern: &str) -> Result<LineRegex, String> {
        match regex::bytes::Regex::new(pattern) {
            Ok(re) => Ok(LineRegex::Plain(re)),
            Err(plain) => match fancy_regex::Regex::new(pattern) {
                Ok(re) => Ok(LineRegex::Backtracking(re)),
                // The regex crate's message is the more precise one.
                Err(_) => Err(format!(
                    "{arg} is not a valid regular expression for berth: {pattern}: {plain}"
                )),
            },
        }
    }

    /// `re.search` on `text`.
    pub(crate) fn captures(&self, text: &[u8]) -> Option<Groups> {
        match self {
            LineRegex::Plain(re) => {
                let caps = re.captures(text)?;
                let spans = (0..caps.len())
                    .map(|i| caps.get(i).map(|m| m.as_bytes().to_vec()))
                    .collect();
                let names = re
                    .capture_names()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
                    .collect();
                Some(Groups { spans, names })
            }
            LineRegex::Backtracking(re) => {
                let text = String::from_utf8_lossy(text);
                // A pattern that backtracks past fancy-regex's limit counts as no match.
                let caps = re.captures(text.as_ref()).ok()??;
                let spans = (0..caps.len())
                    .map(|i| caps.get(i).map(|m| m.as_str().as_bytes().to_vec()))
                    .collect();
                let names = re
                    .capture_names()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
                    .collect();
                Some(Groups { spans, names })
            }
        }
    }

    /// Where the first match is, as byte offsets (of `text` made UTF-8 for
    /// the backtracking engine: pass UTF-8 text when the offsets matter).
    pub(crate) fn find(&self, text: &[u8]) -> Option<(usize, usize)> {
        match self {
            LineRegex::Plain(re) => re.find(text).map(|m| (m.start(), m.end())),
            LineRegex::Backtracking(re) => re
                .find(String::from_utf8_lossy(text).as_ref())
                .ok()?
                .map(|m| (m.start(), m.end())),
        }
    }

    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        match self {
            LineRegex::Plain(re) => re.is_match(text),
            LineRegex::Backtracking(re) => re
                .is_match(String::from_utf8_lossy(text).as_ref())
                .unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_patterns_use_the_linear_engine_and_the_rest_backtrack() {
        assert!(matches!(
            LineRegex::new("regexp", r"^x=(\d+)$").unwrap(),
            LineRegex::Plain(_)
        ));
        let back = LineRegex::new("regexp", r"^(REF) .* \1$").unwrap();
        assert!(matches!(back, LineRegex::Backtracking(_)));
        assert!(back.is_match(b"REF a b REF"));
        assert!(!back.is_match(b"REF a b FER"));
        let g = back.captures(b"REF mid REF").unwrap();
        assert_eq!(
            (g.len(), g.get(0), g.get(1)),
            (2, Some(&b"REF mid REF"[..]), Some(&b"REF"[..]))
        );
        let ahead = LineRegex::new("regexp", r"^port(?= )(?P<rest>.*)").unwrap();
        assert_eq!(
            ahead.captures(b"port 80").unwrap().name("rest"),
            Some(&b" 80"[..])
        );
        assert!(ahead.captures(b"port80").is_none());
        assert_eq!(
            LineRegex::new("regexp", r"(REF) .* \1")
                .unwrap()
                .find(b"x\nREF 1 REF"),
            Some((2, 11))
        );
        let named = LineRegex::new("regexp", r"(?P<k>\w+)=(?P<v>\w*)").unwrap();
        let g = named.captures(b"a=1").unwrap();
        assert_eq!(
            (g.name("k"), g.name("v"), g.name("nope")),
            (Some(&b"a"[..]), Some(&b"1"[..]), None)
        );
        let err = LineRegex::new("insertafter", "(unclosed").unwrap_err();
        assert!(
            err.starts_with("insertafter is not a valid regular expression for berth: (unclosed: "),
            "{err}"
        );
    }
}
