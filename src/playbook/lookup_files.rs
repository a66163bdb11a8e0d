//! Ansible's lookups that read a value out of a controller file: `csvfile`
//! (a row of a CSV/TSV file, read as Python's `csv` module reads it) and
//! `ini` (a key of an INI or Java properties file, read as Python's
//! `configparser` reads it, interpolation included). Files are found as
//! the `file` lookup finds them (`<role_path>/files`, ..., `<playbook_dir>`).

use indexmap::IndexMap;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, State, Value};

use crate::modules::py_re::PyRegex;
use crate::playbook::filters::{fail, py_repr, py_str, py_str_repr};
use crate::playbook::lookups::find;

/// A lookup option given as a keyword, taken as ansible-core's config types it.
fn typed_int(plugin: &str, name: &str, type_name: &str, v: &Value) -> Result<i64, Error> {
    let invalid = || {
        fail(format!(
            "Config '{name}' for '{plugin}' lookup plugin from 'Direct' has an invalid value: Invalid value provided for '{type_name}': {}",
            py_repr(v)
        ))
    };
    let json: serde_json::Value = serde_json::to_value(v).map_err(|_| invalid())?;
    crate::playbook::with_loops::config_int(&json).ok_or_else(invalid)
}

/// ansible-core's `boolean(value, strict=False)`.
fn typed_bool(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::Number => v.as_i64() == Some(1) || f64::try_from(v.clone()).ok() == Some(1.0),
        ValueKind::String => matches!(
            v.as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "y" | "yes" | "on" | "1" | "true" | "t"
        ),
        _ => false,
    }
}

/// Text of a file in an encoding Python names (`utf-8`, `latin-1`, ...).
fn read_text(path: &std::path::Path, encoding: &str) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        fail(crate::playbook::lookups::os_error(
            &e,
            &path.to_string_lossy(),
        ))
    })?;
    let label = encoding.trim().to_ascii_lowercase().replace('_', "-");
    let label = match label.as_str() {
        "latin-1" | "latin1" | "iso8859-1" | "l1" => "iso-8859-1",
        "utf8" => "utf-8",
        other => other,
    };
    let Some(enc) = encoding_rs::Encoding::for_label(label.as_bytes()) else {
        return Err(fail(format!("unknown encoding: {encoding}")));
    };
    let (text, _, bad) = enc.decode(&bytes);
    if bad && enc == encoding_rs::UTF_8 {
        return Err(fail(format!(
            "'utf-8' codec can't decode {}: invalid data",
            path.display()
        )));
    }
    // Python's text files read \r\n and \r as \n.
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn not_found(name: &str) -> Error {
    fail(format!(
        "Unable to find '{name}' in expected paths (searched <role_path>/files, <role_path>, <playbook_dir>/files, <playbook_dir>)"
    ))
}

// ------------------------------------------------------------------ csvfile

/// Python's `csv.reader` with the excel dialect (quote `"`, doubled quotes,
/// no skipping of initial spaces, not strict) and `delimiter`.
pub(crate) fn csv_rows(text: &str, delimiter: char) -> Vec<Vec<String>> {
    #[derive(PartialEq)]
    enum St {
        StartRecord,
        StartField,
        InField,
        InQuoted,
        QuoteInQuoted,
    }
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut st = St::StartRecord;
    for c in text.chars() {
        match st {
            St::StartRecord | St::StartField => {
                if c == '\n' {
                    if st == St::StartField {
                        row.push(std::mem::take(&mut field));
                    }
                    rows.push(std::mem::take(&mut row));
                    st = St::StartRecord;
                } else if c == '"' {
                    st = St::InQuoted;
                } else if c == delimiter {
                    row.push(std::mem::take(&mut field));
                    st = St::StartField;
                } else {
                    field.push(c);
                    st = St::InField;
                }
            }
            St::InField => {
                if c == '\n' {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                    st = St::StartRecord;
                } else if c == delimiter {
                    row.push(std::mem::take(&mut field));
                    st = St::StartField;
                } else {
                    field.push(c);
                }
            }
            St::InQuoted => {
                if c == '"' {
                    st = St::QuoteInQuoted;
                } else {
                    field.push(c);
                }
            }
            St::QuoteInQuoted => {
                if c == '"' {
                    field.push('"');
                    st = St::InQuoted;
                } else if c == delimiter {
                    row.push(std::mem::take(&mut field));
                    st = St::StartField;
                } else if c == '\n' {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                    st = St::StartRecord;
                } else {
                    field.push(c);
                    st = St::InField;
                }
            }
        }
    }
    if st != St::StartRecord {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The csvfile lookup's settings.
struct CsvOptions {
    col: i64,
    keycol: i64,
    default: Option<Value>,
    delimiter: String,
    file: String,
    encoding: String,
}

impl CsvOptions {
    fn set(&mut self, name: &str, v: Value) -> Result<(), Error> {
        match name {
            "col" => self.col = typed_int("csvfile", "col", "int", &v)?,
            "keycol" => self.keycol = typed_int("csvfile", "keycol", "int", &v)?,
            "default" => self.default = Some(v),
            "delimiter" => self.delimiter = py_str(&v),
            "file" => self.file = py_str(&v),
            "encoding" => self.encoding = py_str(&v),
            other => {
                return Err(fail(format!(
                    "{} is not a valid option",
                    py_str_repr(other)
                )))
            }
        }
        Ok(())
    }
}

/// Python's `row[i]`.
fn py_index(row: &[String], i: i64) -> Result<&String, Error> {
    let n = row.len() as i64;
    let at = if i < 0 { n + i } else { i };
    if at < 0 || at >= n {
        return Err(fail("list index out of range"));
    }
    Ok(&row[at as usize])
}

/// Ansible's `csvfile` lookup: for each term (`key [option=value ...]`),
/// column `col` of the first row whose column `keycol` is the key, or the
/// `default`; options given in a term stay for the terms after it.
pub(crate) fn csvfile(
    state: &State,
    terms: Vec<Value>,
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let mut opts = CsvOptions {
        col: 1,
        keycol: 0,
        default: None,
        delimiter: "TAB".into(),
        file: "ansible.csv".into(),
        encoding: "utf-8".into(),
    };
    for name in ["col", "keycol", "default", "delimiter", "file", "encoding"] {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            opts.set(name, v)?;
        }
    }
    if terms.is_empty() {
        return Err(fail("Search key is required but was not found"));
    }
    let mut out = Vec::new();
    for term in terms {
        let kv = crate::modules::free_form::split_free_form("csvfile", &py_str(&term));
        let Some(key) = kv
            .get("_raw_params")
            .map(|k| k.as_str().unwrap_or_default().to_string())
        else {
            return Err(fail("Search key is required but was not found"));
        };
        for (name, value) in &kv {
            if name != "_raw_params" {
                opts.set(name, Value::from_serialize(value))?;
            }
        }
        let delimiter = if opts.delimiter == "TAB" {
            "\t".to_string()
        } else {
            opts.delimiter.clone()
        };
        let mut chars = delimiter.chars();
        let (Some(delim), None) = (chars.next(), chars.next()) else {
            return Err(fail("\"delimiter\" must be a 1-character string"));
        };
        let path = find(state, "files", &opts.file).ok_or_else(|| not_found(&opts.file))?;
        let text = read_text(&path, &opts.encoding)?;
        let mut found = None;
        for row in csv_rows(&text, delim) {
            if !row.is_empty() && *py_index(&row, opts.keycol)? == key {
                found = Some(Value::from(py_index(&row, opts.col)?.clone()));
                break;
            }
        }
        match found.or_else(|| opts.default.clone()) {
            Some(v) if !v.is_none() => out.push(v),
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------- ini

/// One section's options: raw values, `None` for a key without a value.
type Section = IndexMap<String, Option<String>>;

/// Python's `ConfigParser` as Ansible's ini lookup sets it up.
struct Ini {
    case_sensitive: bool,
    allow_no_value: bool,
    interpolation: bool,
    defaults: Section,
    sections: IndexMap<String, Section>,
}

impl Ini {
    fn optionxform(&self, k: &str) -> String {
        if self.case_sensitive {
            k.to_string()
        } else {
            k.to_lowercase()
        }
    }

    /// `read_file`: sections and options added to what was read before.
    fn read(&mut self, text: &str) -> Result<(), String> {
        const SOURCE: &str = "'<???>'";
        let mut added: Vec<(String, String)> = Vec::new();
        let mut added_sections: Vec<String> = Vec::new();
        let mut cur: Option<String> = None; // "" is DEFAULT
        let mut optname: Option<String> = None;
        let mut indent_level = 0usize;
        let mut errors: Vec<String> = Vec::new();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (n, line) in lines.iter().enumerate() {
            let lineno = n + 1;
            let stripped = line.trim();
            let comment = stripped.starts_with('#') || stripped.starts_with(';');
            let value = if comment { "" } else { stripped };
            if value.is_empty() {
                // Empty lines belong to a multi-line value; comments do not.
                if !comment {
                    if let (Some(sect), Some(opt)) = (&cur, &optname) {
                        let target = if sect.is_empty() {
                            &mut self.defaults
                        } else {
                            self.sections.get_mut(sect).expect("section exists")
                        };
                        if let Some(Some(v)) = target.get_mut(opt) {
                            v.push('\n');
                        }
                    }
                }
                continue;
            }
            let cur_indent = line.len() - line.trim_start().len();
            if let (Some(sect), Some(opt)) = (&cur, &optname) {
                if cur_indent > indent_level {
                    let target = if sect.is_empty() {
                        &mut self.defaults
                    } else {
                        self.sections.get_mut(sect).expect("section exists")
                    };
                    if let Some(Some(v)) = target.get_mut(opt) {
                        v.push('\n');
                        v.push_str(value);
                    }
                    continue;
                }
            }
            indent_level = cur_indent;
            if let Some(header) = value
                .strip_prefix('[')
                .and_then(|v| v.rfind(']').map(|e| &v[..e]))
            {
                if !header.is_empty() {
                    if header == "DEFAULT" {
                        cur = Some(String::new());
                    } else {
                        if self.sections.contains_key(header)
                            && added_sections.iter().any(|s| s == header)
                        {
                            return Err(format!(
                                "While reading from {SOURCE} [line {lineno:2}]: section {} already exists",
                                py_str_repr(header)
                            ));
                        }
                        self.sections.entry(header.to_string()).or_default();
                        added_sections.push(header.to_string());
                        cur = Some(header.to_string());
                    }
                    optname = None;
                    continue;
                }
            }
            let Some(sect) = cur.clone() else {
                return Err(format!(
                    "File contains no section headers.\nfile: {SOURCE}, line: {lineno}\n{}",
                    py_str_repr(line)
                ));
            };
            let delim = value.find(['=', ':']);
            let (name, val) = match delim {
                Some(i) => (
                    value[..i].trim_end(),
                    Some(value[i + 1..].trim().to_string()),
                ),
                None if self.allow_no_value => (value, None),
                None => {
                    errors.push(format!("\n\t[line {lineno:2}]: {}", py_str_repr(line)));
                    continue;
                }
            };
            if name.is_empty() {
                errors.push(format!("\n\t[line {lineno:2}]: {}", py_str_repr(line)));
            }
            let name = self.optionxform(name);
            let shown = if sect.is_empty() {
                "DEFAULT".to_string()
            } else {
                sect.clone()
            };
            if added.iter().any(|(s, o)| *s == sect && *o == name) {
                return Err(format!(
                    "While reading from {SOURCE} [line {lineno:2}]: option {} in section {} already exists",
                    py_str_repr(&name),
                    py_str_repr(&shown)
                ));
            }
            added.push((sect.clone(), name.clone()));
            let target = if sect.is_empty() {
                &mut self.defaults
            } else {
                self.sections.get_mut(&sect).expect("section exists")
            };
            target.insert(name.clone(), val);
            optname = Some(name);
        }
        // Multi-line values end without their trailing blank lines.
        for v in self
            .defaults
            .values_mut()
            .chain(self.sections.values_mut().flat_map(|s| s.values_mut()))
            .flatten()
        {
            v.truncate(v.trim_end().len());
        }
        if !errors.is_empty() {
            return Err(format!(
                "Source contains parsing errors: {SOURCE}{}",
                errors.concat()
            ));
        }
        Ok(())
    }

    /// The section's options over the defaults, in `items()` order.
    fn merged(&self, section: &str) -> Option<Section> {
        let own = if section == "DEFAULT" {
            IndexMap::new()
        } else {
            self.sections.get(section)?.clone()
        };
        let mut all = self.defaults.clone();
        for (k, v) in own {
            all.insert(k, v);
        }
        Some(all)
    }

    /// `BasicInterpolation`: `%(name)s` from the same section or the
    /// defaults, `%%` a percent sign.
    fn interpolate(
        &self,
        section: &str,
        option: &str,
        raw: &str,
        map: &Section,
    ) -> Result<String, String> {
        if !self.interpolation {
            return Ok(raw.to_string());
        }
        let mut out = String::new();
        self.interpolate_into(section, option, raw, raw, map, 1, &mut out)?;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn interpolate_into(
        &self,
        section: &str,
        option: &str,
        rawval: &str,
        rest: &str,
        map: &Section,
        depth: usize,
        out: &mut String,
    ) -> Result<(), String> {
        if depth > 10 {
            return Err(format!(
                "Recursion limit exceeded in value substitution: option {} in section {} contains an interpolation key which cannot be substituted in 10 steps. Raw value: {}",
                py_str_repr(option),
                py_str_repr(section),
                py_str_repr(rawval)
            ));
        }
        let mut rest = rest;
        while !rest.is_empty() {
            let Some(p) = rest.find('%') else {
                out.push_str(rest);
                return Ok(());
            };
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            match rest[1..].chars().next() {
                Some('%') => {
                    out.push('%');
                    rest = &rest[2..];
                }
                Some('(') => {
                    let close = rest
                        .find(")s")
                        .filter(|&c| c > 2 && !rest[2..c].contains(')'));
                    let Some(close) = close else {
                        return Err(format!(
                            "bad interpolation variable reference {}",
                            py_str_repr(rest)
                        ));
                    };
                    let var = self.optionxform(&rest[2..close]);
                    rest = &rest[close + 2..];
                    let Some(Some(v)) = map.get(&var) else {
                        return Err(format!(
                            "Bad value substitution: option {} in section {} contains an interpolation key {} which is not a valid option name. Raw value: {}",
                            py_str_repr(option),
                            py_str_repr(section),
                            py_str_repr(&var),
                            py_str_repr(rawval)
                        ));
                    };
                    if v.contains('%') {
                        self.interpolate_into(section, option, rawval, v, map, depth + 1, out)?;
                    } else {
                        out.push_str(v);
                    }
                }
                _ => {
                    return Err(format!(
                        "'%' must be followed by '%' or '(', found: {}",
                        py_str_repr(rest)
                    ))
                }
            }
        }
        Ok(())
    }
}

/// The ini lookup's settings.
#[derive(Clone)]
struct IniOptions {
    kind: String,
    file: String,
    section: String,
    re: bool,
    encoding: String,
    default: Value,
}

const INI_OPTIONS: [&str; 10] = [
    "_terms",
    "type",
    "file",
    "section",
    "re",
    "encoding",
    "default",
    "case_sensitive",
    "allow_no_value",
    "interpolation",
];

impl IniOptions {
    fn set(&mut self, name: &str, v: Value) {
        match name {
            "type" => self.kind = py_str(&v),
            "file" => self.file = py_str(&v),
            "section" => self.section = py_str(&v),
            "re" => self.re = typed_bool(&v),
            "encoding" => self.encoding = py_str(&v),
            "default" => self.default = v,
            _ => {}
        }
    }
}

/// Ansible's way of reading `key option=value ...` in an ini term: words
/// after an `option=` belong to that option's value.
fn ini_inline(term: &str) -> Vec<String> {
    let mut params: IndexMap<String, String> = IndexMap::new();
    let mut keys: Vec<String> = Vec::new();
    let mut this = "key".to_string();
    for (i, phrase) in term.split_whitespace().enumerate() {
        if phrase.contains('=') {
            for k in INI_OPTIONS {
                if phrase.contains(&format!("{k}=")) {
                    this = k.to_string();
                }
            }
        }
        let entry = params.entry(this.clone()).or_default();
        if i == 0 || entry.is_empty() {
            *entry = phrase.to_string();
            keys.push(this.clone());
        } else {
            entry.push(' ');
            entry.push_str(phrase);
        }
    }
    keys.iter().map(|k| params[k].clone()).collect()
}

/// Ansible's `ini` lookup: for each term (a key, or `key option=value
/// ...`), the key's value in `section` of `file` (`type=properties`: a
/// Java properties file), all the values of the keys matching it with
/// `re=True`, or `default`.
pub(crate) fn ini(state: &State, terms: Vec<Value>, kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut opts = IniOptions {
        kind: "ini".into(),
        file: "ansible.ini".into(),
        section: "global".into(),
        re: false,
        encoding: "utf-8".into(),
        default: Value::from(""),
    };
    for name in ["type", "file", "section", "re", "encoding", "default"] {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            opts.set(name, v);
        }
    }
    let flag = |name: &str, default: bool| -> Result<bool, Error> {
        Ok(kwargs
            .get::<Option<Value>>(name)?
            .map_or(default, |v| typed_bool(&v)))
    };
    let mut parser = Ini {
        case_sensitive: flag("case_sensitive", false)?,
        allow_no_value: flag("allow_no_value", false)? || flag("allow_none", false)?,
        interpolation: flag("interpolation", true)?,
        defaults: IndexMap::new(),
        sections: IndexMap::new(),
    };
    let mut out = Vec::new();
    for term in terms {
        let term = py_str(&term);
        let mut key = term.clone();
        if term.contains('=') || term.trim().contains(' ') {
            let params = ini_inline(&term);
            let mut updated_key = false;
            for param in &params {
                if param.contains('=') {
                    let parts: Vec<&str> = param.split('=').collect();
                    if parts.len() != 2 {
                        let shown: Vec<String> = params.iter().map(|p| py_str_repr(p)).collect();
                        return Err(fail(format!(
                            "Could not use {} from [{}]: too many values to unpack (expected 2)",
                            py_str_repr(param),
                            shown.join(", ")
                        )));
                    }
                    if !INI_OPTIONS.contains(&parts[0]) {
                        return Err(fail(format!(
                            "{} is not a valid option.",
                            py_str_repr(parts[0])
                        )));
                    }
                    opts.set(parts[0], Value::from(parts[1]));
                } else if key == term {
                    key = param.clone();
                    updated_key = true;
                }
            }
            if !updated_key {
                return Err(fail(format!(
                    "No key to look up was provided as first term within string inline options: {term}"
                )));
            }
        }
        let path = find(state, "files", &opts.file).ok_or_else(|| not_found(&opts.file))?;
        let mut text = read_text(&path, &opts.encoding)?;
        let mut section = opts.section.clone();
        if opts.kind == "properties" {
            text.insert_str(0, "[java_properties]\n");
            section = "java_properties".into();
        }
        parser.read(&text).map_err(|e| {
            if e.contains("already exists") && e.contains("option") {
                fail(format!(
                    "Duplicate option in {}: {e}",
                    py_str_repr(&opts.file)
                ))
            } else {
                fail(e)
            }
        })?;
        let Some(map) = parser.merged(&section) else {
            return Err(fail(format!(
                "No section {} in {}.",
                py_str_repr(&section),
                py_str_repr(&opts.file)
            )));
        };
        if opts.re {
            let re = PyRegex::for_match(&key).map_err(fail)?;
            for (k, v) in &map {
                if re.is_match(k) {
                    match v {
                        Some(v) => out.push(Value::from(
                            parser.interpolate(&section, k, v, &map).map_err(fail)?,
                        )),
                        None => out.push(Value::from(())),
                    }
                }
            }
            continue;
        }
        match map.get(&parser.optionxform(&key)) {
            None => {
                if !opts.default.is_none() {
                    out.push(opts.default.clone());
                }
            }
            Some(None) => {}
            Some(Some(raw)) => {
                let k = parser.optionxform(&key);
                out.push(Value::from(
                    parser.interpolate(&section, &k, raw, &map).map_err(fail)?,
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::csv_rows;
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    #[test]
    fn csv_reads_as_pythons_csv_module() {
        let rows = csv_rows(
            "a,\"x, y\",c\n\"q \"\"hi\"\"\",2\n\nm\"id,\"x\"y\nlast",
            ',',
        );
        assert_eq!(
            rows,
            vec![
                vec!["a".to_string(), "x, y".into(), "c".into()],
                vec!["q \"hi\"".into(), "2".into()],
                vec![],
                vec!["m\"id".into(), "xy".into()],
                vec!["last".into()],
            ]
        );
        assert_eq!(
            csv_rows("\"multi\nline\",3\n", ','),
            vec![vec!["multi\nline".to_string(), "3".into()]]
        );
        assert_eq!(
            csv_rows("a,\n", ','),
            vec![vec!["a".to_string(), String::new()]]
        );
    }

    fn fixtures() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let w = |n: &str, t: &str| std::fs::write(dir.path().join(n), t).unwrap();
        w(
            "data.csv",
            "name,value,other\nalice,1,\"x, y\"\n\"bob smith\",2,q\n\ncarol,\"say \"\"hi\"\"\",z\n",
        );
        w("ansible.csv", "a\t10\nb\t20\n");
        w(
            "users.ini",
            "[DEFAULT]\nshared = fromdefault\nbase = /srv\n\n[integration]\nuser = joe\nMixed_Case = MC\npath = %(base)s/app\npct = 100%%\nbad = 50%\nmissing = %(nope)s\nmulti = first\n  second\n\n  third\nempty =\ncolon : yes\n# comment = no\n; other = no\nspaced   =   value with spaces   ; not a comment\n\n[production]\nuser = prod\nuser_2 = p2\nuser_3 = p3\n",
        );
        w(
            "app.properties",
            "# java props\ndb.user = dbu\ndb.pass=secret\n",
        );
        w("nv.ini", "[s]\nflag\nk = v\n");
        w("dup.ini", "[s]\nk = 1\nk = 2\n");
        w("nosect.ini", "k = 1\n");
        dir
    }

    /// Each rendered by ansible-core 2.19 with the same files.
    #[test]
    fn csvfile_and_ini_as_ansible() {
        let dir = fixtures();
        let mut vars = serde_json::Map::new();
        vars.insert("playbook_dir".into(), json!(dir.path().to_string_lossy()));
        let t = Templar::new();
        let c = Templar::context(&vars);
        let table: &[(&str, Value)] = &[
            ("{{ lookup('ini', 'user', section='integration', file='users.ini') }}", json!("joe")),
            ("{{ lookup('ini', 'user section=production file=users.ini') }}", json!("prod")),
            ("{{ lookup('ini', 'USER', section='integration', file='users.ini') }}", json!("joe")),
            ("{{ lookup('ini', 'mixed_case', section='integration', file='users.ini') }}", json!("MC")),
            ("{{ lookup('ini', 'Mixed_Case', section='integration', file='users.ini', case_sensitive=True) }}", json!("MC")),
            ("{{ lookup('ini', 'mixed_case', section='integration', file='users.ini', case_sensitive=True) }}", json!("")),
            ("{{ lookup('ini', 'path', section='integration', file='users.ini') }}", json!("/srv/app")),
            ("{{ lookup('ini', 'path', section='integration', file='users.ini', interpolation=False) }}", json!("%(base)s/app")),
            ("{{ lookup('ini', 'pct', section='integration', file='users.ini') }}", json!("100%")),
            ("{{ lookup('ini', 'multi', section='integration', file='users.ini') }}", json!("first\nsecond\n\nthird")),
            ("{{ lookup('ini', 'empty', section='integration', file='users.ini') }}", json!("")),
            ("{{ lookup('ini', 'colon', section='integration', file='users.ini') }}", json!("yes")),
            ("{{ lookup('ini', 'spaced', section='integration', file='users.ini') }}", json!("value with spaces   ; not a comment")),
            ("{{ lookup('ini', 'shared', section='integration', file='users.ini') }}", json!("fromdefault")),
            ("{{ lookup('ini', 'comment', section='integration', file='users.ini') }}", json!("")),
            ("{{ lookup('ini', 'nokey', section='integration', file='users.ini', default='dflt') }}", json!("dflt")),
            ("{{ lookup('ini', 'user_.*', section='production', file='users.ini', re=True) }}", json!("p2,p3")),
            ("{{ query('ini', '.*', section='integration', file='users.ini', re=True, interpolation=False) }}", json!(["fromdefault", "/srv", "joe", "MC", "%(base)s/app", "100%%", "50%", "%(nope)s", "first\nsecond\n\nthird", "", "yes", "value with spaces   ; not a comment"])),
            ("{{ lookup('ini', 'db.user', type='properties', file='app.properties') }}", json!("dbu")),
            ("{{ lookup('ini', 'db.pass type=properties file=app.properties') }}", json!("secret")),
            ("{{ lookup('ini', 'flag', section='s', file='nv.ini', allow_no_value=True) }}", json!([])),
            ("{{ lookup('ini', 'user', 'path', section='integration', file='users.ini') }}", json!("joe,/srv/app")),
            ("{{ lookup('ini') }}", json!([])),
            ("{{ query('ini', 'user', section='integration', file='users.ini') }}", json!(["joe"])),
            ("{{ lookup('csvfile', 'alice file=data.csv delimiter=,') }}", json!("1")),
            ("{{ lookup('csvfile', 'alice', file='data.csv', delimiter=',', col=2) }}", json!("x, y")),
            ("{{ lookup('csvfile', 'bob smith file=data.csv delimiter=,') }}", json!("2")),
            ("{{ lookup('csvfile', 'carol file=data.csv delimiter=,') }}", json!("say \"hi\"")),
            ("{{ lookup('csvfile', 'nobody file=data.csv delimiter=,') }}", json!([])),
            ("{{ lookup('csvfile', 'nobody file=data.csv delimiter=, default=dd') }}", json!("dd")),
            ("{{ lookup('csvfile', 'a') }}", json!("10")),
            ("{{ lookup('csvfile', 'b', col=0) }}", json!("b")),
            ("{{ lookup('csvfile', '20', keycol=1, col=0) }}", json!("b")),
            ("{{ lookup('csvfile', 'a', 'b') }}", json!("10,20")),
            ("{{ query('csvfile', 'a', 'b') }}", json!(["10", "20"])),
            ("{{ lookup('csvfile', 'alice', file='data.csv', delimiter=',', col='1') }}", json!("1")),
        ];
        for (expr, want) in table {
            let got = t
                .render_str(expr, &c)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(&got, want, "{expr}");
        }
        let errors: &[(&str, &str)] = &[
            ("{{ lookup('ini', 'bad', section='integration', file='users.ini') }}", "'%' must be followed by '%' or '(', found: '%'"),
            ("{{ lookup('ini', 'missing', section='integration', file='users.ini') }}", "Bad value substitution: option 'missing' in section 'integration' contains an interpolation key 'nope' which is not a valid option name. Raw value: '%(nope)s'"),
            ("{{ lookup('ini', 'user', section='nosuch', file='users.ini') }}", "No section 'nosuch' in 'users.ini'."),
            ("{{ lookup('ini', 'user', file='users.ini') }}", "No section 'global' in 'users.ini'."),
            ("{{ lookup('ini', 'flag', section='s', file='nv.ini') }}", "Source contains parsing errors: '<???>'\n\t[line  2]: 'flag\\n'"),
            ("{{ lookup('ini', 'k', section='s', file='dup.ini') }}", "Duplicate option in 'dup.ini': While reading from '<???>' [line  3]: option 'k' in section 's' already exists"),
            ("{{ lookup('ini', 'k', section='s', file='nosect.ini') }}", "File contains no section headers.\nfile: '<???>', line: 1\n'k = 1\\n'"),
            ("{{ lookup('ini', 'user bogus=1 file=users.ini') }}", "'user bogus' is not a valid option."),
            ("{{ lookup('ini', 'section=production file=users.ini') }}", "No key to look up was provided as first term within string inline options: section=production file=users.ini"),
            ("{{ lookup('ini', 'user section=a=b file=users.ini') }}", "Could not use 'section=a=b' from ['user', 'section=a=b', 'file=users.ini']: too many values to unpack (expected 2)"),
            ("{{ lookup('ini', 'k', section='s', file='nofile.ini') }}", "Unable to find 'nofile.ini' in expected paths (searched <role_path>/files, <role_path>, <playbook_dir>/files, <playbook_dir>)"),
            ("{{ lookup('csvfile', 'a', col=5) }}", "list index out of range"),
            ("{{ lookup('csvfile') }}", "Search key is required but was not found"),
            ("{{ lookup('csvfile', 'a bogus=1') }}", "'bogus' is not a valid option"),
            ("{{ lookup('csvfile', 'a', col='x') }}", "Config 'col' for 'csvfile' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'int': 'x'"),
            ("{{ lookup('csvfile', 'file=data.csv') }}", "Search key is required but was not found"),
            ("{{ lookup('csvfile', 'a', delimiter='ab') }}", "\"delimiter\" must be a 1-character string"),
        ];
        for (expr, want) in errors {
            let err = t.render_str(expr, &c).expect_err(expr).message;
            let plugin = if expr.contains("'csvfile'") {
                "csvfile"
            } else {
                "ini"
            };
            let want = format!("The lookup plugin '{plugin}' failed: {want}");
            assert_eq!(err, want, "{expr}");
        }
    }
}
