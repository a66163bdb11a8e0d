//! YAML loading as Ansible reads it: YAML 1.1 plain scalars (`yes`/`no`/`on`/`off`
//! are booleans, `0644` is octal), merge keys (`<<`), anchors and aliases, and a
//! line number on every node so errors can name `file:line`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Span};

/// A YAML node with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) line: usize,
    pub(crate) col: usize,
    /// Line of the mapping key this node is the value of (0 when not a value).
    pub(crate) key_line: usize,
    pub(crate) kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Scalar(Value),
    Seq(Vec<Node>),
    /// Mappings keep their source order; keys are rendered to strings.
    Map(Vec<(String, Node)>),
}

impl Node {
    pub(crate) fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Value::Null))
    }

    /// The line to point at for this node: its key's line when it is a mapping value.
    pub(crate) fn pos(&self) -> usize {
        if self.key_line > 0 {
            self.key_line
        } else {
            self.line
        }
    }

    /// The plain data value (line numbers dropped).
    pub(crate) fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar(v) => v.clone(),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => {
                let mut m = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    m.insert(k.clone(), v.to_value());
                }
                Value::Object(m)
            }
        }
    }

    /// A short name of the node's type for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(Value::Null) => "null",
            NodeKind::Scalar(Value::Bool(_)) => "a boolean",
            NodeKind::Scalar(Value::Number(_)) => "a number",
            NodeKind::Scalar(Value::String(_)) => "a string",
            NodeKind::Scalar(_) => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// Parse every document of a YAML text. An empty text gives no documents.
pub(crate) fn load_documents(text: &str, path: &Path) -> Result<Vec<Node>, Diagnostic> {
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        error: None,
        nodes: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        let at = Span::new(path, m.line(), m.col() + 1, 1);
        if e.info().contains("recursion limit") {
            // The parser's own depth guard, met before ours on flow collections.
            return Err(Diagnostic::error(
                "B0701",
                format!("invalid YAML: nested more than {MAX_DEPTH} levels deep"),
            )
            .at(at, Some(text))
            .hint("flatten the data: no playbook, inventory or variable file needs this depth"));
        }
        return Err(Diagnostic::error("B0701", format!("invalid YAML: {}", e.info()))
            .at(at, Some(text))
            .hint("fix the YAML syntax at this position (indentation, a missing `:` or an unclosed quote)"));
    }
    if let Some((msg, line, col)) = builder.error {
        return Err(Diagnostic::error("B0701", format!("invalid YAML: {msg}"))
            .at(Span::new(path, line, col, 1), Some(text))
            .hint("fix the YAML at this position"));
    }
    Ok(builder.docs)
}

/// Parse a single-document YAML text; an empty document is `null`.
pub(crate) fn load(text: &str, path: &Path) -> Result<Node, Diagnostic> {
    let mut docs = load_documents(text, path)?;
    Ok(if docs.is_empty() {
        Node {
            line: 1,
            col: 1,
            key_line: 0,
            kind: NodeKind::Scalar(Value::Null),
        }
    } else {
        docs.swap_remove(0)
    })
}

/// Parse a YAML text to a plain value.
pub(crate) fn load_value(text: &str, path: &Path) -> Result<Value, Diagnostic> {
    load(text, path).map(|n| n.to_value())
}

/// Read and parse a YAML file.
pub(crate) fn load_file(path: &Path) -> Result<Node, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::error("B0702", format!("cannot read {}: {e}", path.display()))
            .hint("check that the file exists and is readable")
    })?;
    load(&text, path)
}

enum Frame {
    Seq {
        node: Node,
        anchor: usize,
    },
    /// `index`: each key's position in the entries, so a mapping of many
    /// keys is built in linear time (duplicates still override).
    Map {
        node: Node,
        anchor: usize,
        key: Option<Node>,
        index: HashMap<String, usize>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes with the number of values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    docs: Vec<Node>,
    error: Option<(String, usize, usize)>,
    /// Values built so far, aliases counted as what they repeat.
    nodes: usize,
}

/// More values than any playbook or inventory has: anchors whose aliases
/// repeat each other (a "billion laughs" document) stop here.
const MAX_NODES: usize = 1_000_000;
/// Nesting deeper than this is refused before anything walks it.
const MAX_DEPTH: usize = 256;

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Scalar(_) => 0,
        NodeKind::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(_, v)| 1 + count_nodes(v)).sum(),
    }
}

impl Builder {
    fn fail(&mut self, msg: String, line: usize, col: usize) {
        if self.error.is_none() {
            self.error = Some((msg, line, col));
        }
    }

    /// Counts `n` more values; false (and the error) past MAX_NODES.
    fn grow(&mut self, n: usize, line: usize, col: usize) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.fail(format!("the document expands to more than {MAX_NODES} values (aliases that repeat anchors that repeat aliases?)"), line, col);
            return false;
        }
        true
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { node: seq, .. }) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map {
                node: map,
                key,
                index,
                ..
            }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        insert_entry(entries, index, k, node, &mut self.error);
                    }
                }
            },
        }
    }
}

fn insert_entry(
    entries: &mut Vec<(String, Node)>,
    index: &mut HashMap<String, usize>,
    key: Node,
    mut value: Node,
    error: &mut Option<(String, usize, usize)>,
) {
    let key_text = match &key.kind {
        NodeKind::Scalar(Value::String(s)) => s.clone(),
        NodeKind::Scalar(Value::Null) => "null".to_string(),
        NodeKind::Scalar(Value::Bool(b)) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        NodeKind::Scalar(v) => v.to_string(),
        _ => {
            if error.is_none() {
                *error = Some(("mapping keys must be scalars".into(), key.line, key.col));
            }
            return;
        }
    };
    value.key_line = key.line;
    if key_text == "<<" {
        // Merge key: entries already present win over merged ones.
        let sources: Vec<Node> = match value.kind {
            NodeKind::Seq(items) => items,
            _ => vec![value],
        };
        for src in sources {
            if let NodeKind::Map(merged) = src.kind {
                for (k, v) in merged {
                    if !index.contains_key(&k) {
                        index.insert(k.clone(), entries.len());
                        entries.push((k, v));
                    }
                }
            }
        }
        return;
    }
    // Later duplicates override earlier ones, like PyYAML.
    if let Some(&at) = index.get(&key_text) {
        entries[at].1 = value;
    } else {
        index.insert(key_text.clone(), entries.len());
        entries.push((key_text, value));
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        let col = mark.col() + 1;
        if self.error.is_some() {
            return;
        }
        if matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.fail(
                format!("nested more than {MAX_DEPTH} levels deep"),
                line,
                col,
            );
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if !self.grow(1, line, col) {
                    return;
                }
                let value = resolve_scalar(&text, style, tag.as_ref());
                self.push_value(
                    Node {
                        line,
                        col,
                        key_line: 0,
                        kind: NodeKind::Scalar(value),
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                if !self.grow(1, line, col) {
                    return;
                }
                self.stack.push(Frame::Seq {
                    node: Node {
                        line,
                        col,
                        key_line: 0,
                        kind: NodeKind::Seq(Vec::new()),
                    },
                    anchor,
                })
            }
            Event::MappingStart(anchor, _) => {
                if !self.grow(1, line, col) {
                    return;
                }
                self.stack.push(Frame::Map {
                    node: Node {
                        line,
                        col,
                        key_line: 0,
                        kind: NodeKind::Map(Vec::new()),
                    },
                    anchor,
                    key: None,
                    index: HashMap::new(),
                })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (node, anchor) = match frame {
                        Frame::Seq { node, anchor } => (node, anchor),
                        Frame::Map { node, anchor, .. } => (node, anchor),
                    };
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                Some(size) => {
                    if self.grow(size, line, col) {
                        let node = self.anchors[&id].0.clone();
                        self.push_value(node, 0);
                    }
                }
                None => self.fail("alias to an unknown anchor".into(), line, col),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Resolve a scalar the way PyYAML (YAML 1.1) does for plain scalars.
pub(crate) fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        match tag.suffix.as_str() {
            "str" | "binary" => return Value::String(text.to_string()),
            // Never templated: the marker the templar leaves alone.
            "unsafe" => {
                return crate::playbook::templar::mark_unsafe(&Value::String(text.to_string()))
            }
            "int" => {
                if let Some(v) = parse_int(text) {
                    return Value::Number(v.into());
                }
            }
            "float" => {
                if let Some(v) = parse_float(text).and_then(Number::from_f64) {
                    return Value::Number(v);
                }
            }
            "bool" => {
                if let Some(b) = parse_bool(text) {
                    return Value::Bool(b);
                }
            }
            _ => {}
        }
    }
    if !matches!(style, TScalarStyle::Plain) {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = parse_int(text) {
        return Value::Number(i.into());
    }
    if let Some(f) = parse_float(text) {
        if let Some(n) = Number::from_f64(f) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let value = if let Some(bin) = clean.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = clean.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if clean == "0" {
        0
    } else if let Some(oct) = clean.strip_prefix('0') {
        if !oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        i64::from_str_radix(oct, 8).ok()?
    } else if clean.contains(':') {
        // Sexagesimal (YAML 1.1): 1:30 == 90.
        let mut total: i64 = 0;
        for (i, part) in clean.split(':').enumerate() {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if i > 0 && part.parse::<i64>().ok()? > 59 {
                return None;
            }
            total = total.checked_mul(60)?.checked_add(part.parse().ok()?)?;
        }
        if !body.as_bytes()[0].is_ascii_digit() || body.starts_with('0') {
            return None;
        }
        total
    } else {
        if !clean.bytes().all(|b| b.is_ascii_digit()) || !body.as_bytes()[0].is_ascii_digit() {
            return None;
        }
        clean.parse::<i64>().ok()?
    };
    Some(if neg { -value } else { value })
}

fn parse_float(t: &str) -> Option<f64> {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    match body {
        ".inf" | ".Inf" | ".INF" => return None,
        ".nan" | ".NaN" | ".NAN" => return None,
        _ => {}
    }
    // PyYAML requires a dot: `1e5` is a string, `1.0e+5` a float.
    if !body.contains('.') {
        return None;
    }
    let bytes = body.as_bytes();
    if !(bytes[0].is_ascii_digit()
        || (bytes[0] == b'.' && bytes.len() > 1 && bytes[1].is_ascii_digit()))
    {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    if !clean
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    clean.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(text: &str) -> Value {
        load_value(text, Path::new("t.yml")).unwrap()
    }

    #[test]
    fn yaml_1_1_scalars_like_pyyaml() {
        let cases: &[(&str, Value)] = &[
            ("a: yes", json!({"a": true})),
            ("a: Off", json!({"a": false})),
            ("a: 'yes'", json!({"a": "yes"})),
            ("a: 0644", json!({"a": 420})),
            ("a: 0o644", json!({"a": "0o644"})),
            ("a: 08", json!({"a": "08"})),
            ("a: 0x1F", json!({"a": 31})),
            ("a: 1_000", json!({"a": 1000})),
            ("a: 1:30", json!({"a": 90})),
            ("a: 1.5", json!({"a": 1.5})),
            ("a: 1e5", json!({"a": "1e5"})),
            ("a: ~", json!({"a": null})),
            ("a:", json!({"a": null})),
            ("a: y", json!({"a": "y"})),
            ("a: -3", json!({"a": -3})),
            ("a: 1.2.3", json!({"a": "1.2.3"})),
            ("a: !!str 12", json!({"a": "12"})),
            ("a: \"12\"", json!({"a": "12"})),
        ];
        for (src, want) in cases {
            assert_eq!(&v(src), want, "{src}");
        }
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let got = v("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(
            got,
            json!({"base": {"x": 1, "y": 2}, "other": {"y": 3, "x": 1}, "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused_quickly() {
        // Nine levels of ten aliases each: a billion values if expanded.
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let started = std::time::Instant::now();
        let err = load(&bomb, Path::new("bomb.yml")).unwrap_err().to_string();
        assert!(
            err.contains("more than 1000000 values") && err.contains("bomb.yml:"),
            "{err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let err = load(&deep, Path::new("deep.yml")).unwrap_err().to_string();
        assert!(err.contains("nested more than 256 levels"), "{err}");
        // A document that repeats an anchor a sane number of times is fine.
        assert!(load("a: &a [1, 2]\nb: [*a, *a, *a]\n", Path::new("ok.yml")).is_ok());
    }

    #[test]
    fn nodes_carry_lines() {
        let n = load(
            "- name: one\n  debug: msg=x\n\n- name: two\n  ping:\n",
            Path::new("p.yml"),
        )
        .unwrap();
        let items = n.as_seq().unwrap();
        assert_eq!(items[0].line, 1);
        assert_eq!(items[1].line, 4);
        assert_eq!(items[1].get("name").unwrap().line, 4);
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err = load("a: [1, 2\nb: 3\n", Path::new("bad.yml")).unwrap_err();
        assert_eq!(err.code, "B0701");
        assert!(err.location().unwrap().starts_with("bad.yml:"), "{}", err);
    }

    #[test]
    fn multiple_documents() {
        let docs = load_documents("a: 1\n---\nb: 2\n", Path::new("m.yml")).unwrap();
        assert_eq!(docs.len(), 2);
    }
}
