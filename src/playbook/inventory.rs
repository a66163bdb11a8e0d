//! Ansible inventories: YAML (`all`/`children`/`hosts`/`vars`) and INI files,
//! host ranges (`web[01:20]`), `group_vars/` and `host_vars/` beside the
//! inventory and the playbook, and host patterns (`a:b`, `a:&b`, `a:!b`, globs, `~regex`).

use std::path::{Path, PathBuf};

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Span};
use crate::yaml::{self, Node, NodeKind};

#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    pub(crate) vars: Map<String, Value>,
    /// Group vars from group_vars/ files, by source precedence (inventory dir, then playbook dir).
    pub(crate) file_vars: Vec<Map<String, Value>>,
    pub(crate) hosts: IndexSet<String>,
    pub(crate) children: IndexSet<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// Variables with inventory precedence applied (group vars by depth, then host vars).
    pub(crate) vars: Map<String, Value>,
    /// Groups this host belongs to, directly or through children (without `all`).
    pub(crate) groups: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Inventory {
    pub(crate) hosts: IndexMap<String, Host>,
    pub(crate) groups: IndexMap<String, Group>,
    host_inline_vars: IndexMap<String, Map<String, Value>>,
    host_file_vars: IndexMap<String, Vec<Map<String, Value>>>,
}

impl Inventory {
    /// Load inventories (files or directories of files). `playbook_dir`'s
    /// group_vars/host_vars are layered above the inventory's, like Ansible.
    pub(crate) fn load(
        paths: &[PathBuf],
        playbook_dir: Option<&Path>,
    ) -> Result<Inventory, Diagnostic> {
        let mut inv = Inventory::default();
        inv.group_mut("all");
        inv.group_mut("ungrouped");
        let mut var_dirs: Vec<PathBuf> = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| read_error(path, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && !is_ignored_inventory_file(p))
                    .collect();
                entries.sort();
                for file in entries {
                    inv.load_file(&file)?;
                }
                var_dirs.push(path.clone());
            } else if path.exists() {
                inv.load_file(path)?;
                var_dirs.push(path.parent().map(Path::to_path_buf).unwrap_or_default());
            } else if looks_like_host_list(path) {
                // `-i host1,host2,` like Ansible.
                for name in path
                    .to_string_lossy()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    inv.add_host(name, "ungrouped", Map::new());
                }
            } else {
                return Err(Diagnostic::error(
                    "B0711",
                    format!("inventory {} does not exist", path.display()),
                )
                .hint("pass an existing inventory file or directory with -i"));
            }
        }
        if let Some(dir) = playbook_dir {
            if !var_dirs.iter().any(|d| same_dir(d, dir)) {
                var_dirs.push(dir.to_path_buf());
            }
        }
        for dir in &var_dirs {
            inv.load_var_dirs(dir)?;
        }
        inv.finish();
        Ok(inv)
    }

    fn group_mut(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    fn add_host(&mut self, name: &str, group: &str, vars: Map<String, Value>) {
        self.hosts.entry(name.to_string()).or_default();
        let inline = self.host_inline_vars.entry(name.to_string()).or_default();
        for (k, v) in vars {
            inline.insert(k, v);
        }
        self.group_mut(group).hosts.insert(name.to_string());
    }

    fn load_file(&mut self, path: &Path) -> Result<(), Diagnostic> {
        let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
        self.load_text(&text, path)
    }

    /// One inventory file's text (YAML or INI, as its name and start say).
    pub(crate) fn from_text(text: &str, path: &Path) -> Result<Inventory, Diagnostic> {
        let mut inv = Inventory::default();
        inv.group_mut("all");
        inv.group_mut("ungrouped");
        inv.load_text(text, path)?;
        inv.finish();
        Ok(inv)
    }

    fn load_text(&mut self, text: &str, path: &Path) -> Result<(), Diagnostic> {
        let text = text.to_string();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml" | "json")
        ) || text.trim_start().starts_with("all:")
            || text.trim_start().starts_with("---");
        if is_yaml {
            let node = yaml::load(&text, path)?;
            if node.is_null() {
                return Ok(());
            }
            let groups = node.as_map().ok_or_else(|| {
                Diagnostic::error("B0712", "a YAML inventory must be a mapping of groups (usually `all:`)")
                    .at(Span::line(path, node.line), Some(&text))
                    .hint("start the file with `all:` and put hosts under `hosts:` and groups under `children:`")
            })?;
            for (name, body) in groups {
                self.load_yaml_group(name, body, None, path, &text)?;
            }
            Ok(())
        } else {
            self.load_ini(&text, path)
        }
    }

    fn load_yaml_group(
        &mut self,
        name: &str,
        body: &Node,
        parent: Option<&str>,
        path: &Path,
        text: &str,
    ) -> Result<(), Diagnostic> {
        self.group_mut(name);
        if let Some(p) = parent {
            self.group_mut(p).children.insert(name.to_string());
        }
        if body.is_null() {
            return Ok(());
        }
        let entries = body.as_map().ok_or_else(|| {
            Diagnostic::error(
                "B0712",
                format!(
                    "group `{name}` must be a mapping, found {}",
                    body.type_name()
                ),
            )
            .at(Span::line(path, body.pos()), Some(text))
            .hint("a group has `hosts:`, `vars:` and `children:` keys")
        })?;
        for (key, value) in entries {
            match key.as_str() {
                "hosts" => {
                    if value.is_null() {
                        continue;
                    }
                    let hosts = value.as_map().ok_or_else(|| {
                        Diagnostic::error("B0712", format!("`hosts` of group `{name}` must be a mapping of host names"))
                            .at(Span::line(path, value.pos()), Some(text))
                            .hint("write `hosts:` followed by `host1:` lines (a list is not valid Ansible inventory)")
                    })?;
                    for (pattern, vars) in hosts {
                        let vars = match vars.to_value() {
                            Value::Object(m) => m,
                            Value::Null => Map::new(),
                            _ => {
                                return Err(Diagnostic::error(
                                    "B0712",
                                    format!("variables of host `{pattern}` must be a mapping"),
                                )
                                .at(Span::line(path, vars.pos()), Some(text))
                                .hint("write `key: value` pairs under the host"))
                            }
                        };
                        for host in expand_range(pattern).map_err(|m| {
                            Diagnostic::error("B0713", m)
                                .at(Span::line(path, value.pos()), Some(text))
                                .hint("ranges look like web[01:20] or db-[a:f]")
                        })? {
                            self.add_host(&host, name, vars.clone());
                        }
                    }
                }
                "vars" => match value.to_value() {
                    Value::Object(m) => self.group_mut(name).vars.extend(m),
                    Value::Null => {}
                    _ => {
                        return Err(Diagnostic::error(
                            "B0712",
                            format!("`vars` of group `{name}` must be a mapping"),
                        )
                        .at(Span::line(path, value.pos()), Some(text))
                        .hint("write `key: value` pairs under `vars:`"))
                    }
                },
                "children" => {
                    if value.is_null() {
                        continue;
                    }
                    let children = value.as_map().ok_or_else(|| {
                        Diagnostic::error(
                            "B0712",
                            format!("`children` of group `{name}` must be a mapping of groups"),
                        )
                        .at(Span::line(path, value.pos()), Some(text))
                        .hint("write `children:` followed by `groupname:` lines")
                    })?;
                    for (child, child_body) in children {
                        self.load_yaml_group(child, child_body, Some(name), path, text)?;
                    }
                }
                other => {
                    return Err(Diagnostic::error(
                        "B0712",
                        format!("unknown key `{other}` in group `{name}`"),
                    )
                    .at(Span::line(path, value.pos()), Some(text))
                    .hint("a group may only have `hosts`, `vars` and `children`"))
                }
            }
        }
        Ok(())
    }

    fn load_ini(&mut self, text: &str, path: &Path) -> Result<(), Diagnostic> {
        #[derive(PartialEq)]
        enum Section {
            Hosts,
            Vars,
            Children,
        }
        let mut group = "ungrouped".to_string();
        let mut section = Section::Hosts;
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let (g, kind) = match header.split_once(':') {
                    Some((g, "vars")) => (g, Section::Vars),
                    Some((g, "children")) => (g, Section::Children),
                    Some((_, other)) => {
                        return Err(Diagnostic::error(
                            "B0714",
                            format!("unknown section suffix `:{other}`"),
                        )
                        .at(Span::line(path, line_no), Some(text))
                        .hint("INI sections are [group], [group:vars] or [group:children]"))
                    }
                    None => (header, Section::Hosts),
                };
                group = g.to_string();
                section = kind;
                self.group_mut(&group);
                continue;
            }
            match section {
                Section::Hosts => {
                    let words = shell_words::split(line).map_err(|e| {
                        Diagnostic::error("B0714", format!("cannot parse host line: {e}"))
                            .at(Span::line(path, line_no), Some(text))
                            .hint(
                                "host lines look like `web1 ansible_host=10.0.0.1 ansible_port=22`",
                            )
                    })?;
                    let Some((pattern, rest)) = words.split_first() else {
                        continue;
                    };
                    let mut vars = Map::new();
                    for w in rest {
                        let (k, v) = w.split_once('=').ok_or_else(|| {
                            Diagnostic::error("B0714", format!("expected key=value, found `{w}`"))
                                .at(Span::line(path, line_no), Some(text))
                                .hint("host variables are written as key=value")
                        })?;
                        vars.insert(k.to_string(), ini_literal(v));
                    }
                    let hosts = expand_range(pattern).map_err(|m| {
                        Diagnostic::error("B0713", m)
                            .at(Span::line(path, line_no), Some(text))
                            .hint("ranges look like web[01:20]")
                    })?;
                    for h in hosts {
                        self.add_host(&h, &group, vars.clone());
                    }
                }
                Section::Vars => {
                    let (k, v) = line.split_once('=').ok_or_else(|| {
                        Diagnostic::error("B0714", format!("expected key=value in [{group}:vars]"))
                            .at(Span::line(path, line_no), Some(text))
                            .hint("group variables are written as key=value")
                    })?;
                    let v = v.trim();
                    let v = shell_words::split(v)
                        .ok()
                        .filter(|w| w.len() == 1)
                        .map(|mut w| w.remove(0))
                        .unwrap_or_else(|| v.to_string());
                    self.group_mut(&group)
                        .vars
                        .insert(k.trim().to_string(), Value::String(v));
                }
                Section::Children => {
                    let child = line.to_string();
                    self.group_mut(&child);
                    self.group_mut(&group).children.insert(child);
                }
            }
        }
        Ok(())
    }

    fn load_var_dirs(&mut self, dir: &Path) -> Result<(), Diagnostic> {
        let group_names: Vec<String> = self.groups.keys().cloned().collect();
        for g in group_names {
            if let Some(vars) = read_vars_entry(&dir.join("group_vars"), &g)? {
                self.group_mut(&g).file_vars.push(vars);
            }
        }
        let host_names: Vec<String> = self.hosts.keys().cloned().collect();
        for h in host_names {
            if let Some(vars) = read_vars_entry(&dir.join("host_vars"), &h)? {
                self.host_file_vars.entry(h).or_default().push(vars);
            }
        }
        Ok(())
    }

    /// Compute memberships, `ungrouped`, and each host's merged variables.
    fn finish(&mut self) {
        // Every top-level group is a child of `all`.
        let all_children: Vec<String> = self
            .groups
            .keys()
            .filter(|g| g.as_str() != "all")
            .filter(|g| !self.groups.values().any(|p| p.children.contains(*g)))
            .cloned()
            .collect();
        for c in all_children {
            self.group_mut("all").children.insert(c);
        }
        let host_names: Vec<String> = self.hosts.keys().cloned().collect();
        // Depth of each group below `all`, for precedence.
        let depth = self.group_depths();
        for h in &host_names {
            let mut member: Vec<String> = self
                .groups
                .keys()
                .filter(|g| g.as_str() != "all" && self.group_contains(g, h))
                .cloned()
                .collect();
            let in_other = member.iter().any(|g| g != "ungrouped");
            if in_other {
                member.retain(|g| g != "ungrouped");
                self.groups
                    .get_mut("ungrouped")
                    .map(|g| g.hosts.shift_remove(h));
            } else if !member.iter().any(|g| g == "ungrouped") {
                self.group_mut("ungrouped").hosts.insert(h.clone());
                member.push("ungrouped".into());
            }
            // Precedence: all, then groups by depth, then by name; then host vars.
            let mut ordered: Vec<&String> = member.iter().collect();
            ordered.sort_by(|a, b| {
                depth
                    .get(*a)
                    .unwrap_or(&1)
                    .cmp(depth.get(*b).unwrap_or(&1))
                    .then(a.cmp(b))
            });
            let mut vars = Map::new();
            let mut layers: Vec<&Map<String, Value>> = Vec::new();
            let all = &self.groups["all"];
            layers.push(&all.vars);
            for g in &ordered {
                layers.push(&self.groups[g.as_str()].vars);
            }
            layers.extend(all.file_vars.iter());
            for g in &ordered {
                layers.extend(self.groups[g.as_str()].file_vars.iter());
            }
            if let Some(inline) = self.host_inline_vars.get(h) {
                layers.push(inline);
            }
            if let Some(files) = self.host_file_vars.get(h) {
                layers.extend(files.iter());
            }
            for layer in layers {
                for (k, v) in layer {
                    vars.insert(k.clone(), v.clone());
                }
            }
            let mut groups = member;
            groups.sort();
            let host = self.hosts.get_mut(h).expect("host exists");
            host.vars = vars;
            host.groups = groups;
        }
    }

    /// The longest path from `all` to each group (a cycle stops at 64):
    /// a group is revisited only when its depth grows, so shared children
    /// cost linear time, not one walk per path.
    fn group_depths(&self) -> IndexMap<String, usize> {
        let mut depth: IndexMap<String, usize> = IndexMap::new();
        depth.insert("all".to_string(), 0);
        let mut queue = vec!["all".to_string()];
        while let Some(g) = queue.pop() {
            let d = depth[&g];
            if d >= 64 {
                continue;
            }
            if let Some(group) = self.groups.get(&g) {
                for c in &group.children {
                    if depth.get(c).is_none_or(|&cd| cd < d + 1) {
                        depth.insert(c.clone(), d + 1);
                        queue.push(c.clone());
                    }
                }
            }
        }
        depth
    }

    /// Is `host` in `group`, directly or through children?
    pub(crate) fn group_contains(&self, group: &str, host: &str) -> bool {
        fn walk(inv: &Inventory, g: &str, host: &str, seen: &mut Vec<String>) -> bool {
            if seen.iter().any(|s| s == g) {
                return false;
            }
            seen.push(g.to_string());
            let Some(group) = inv.groups.get(g) else {
                return false;
            };
            group.hosts.contains(host) || group.children.iter().any(|c| walk(inv, c, host, seen))
        }
        if group == "all" {
            return self.hosts.contains_key(host);
        }
        walk(self, group, host, &mut Vec::new())
    }

    /// Hosts of a group in inventory order.
    pub(crate) fn group_hosts(&self, group: &str) -> Vec<String> {
        self.hosts
            .keys()
            .filter(|h| self.group_contains(group, h))
            .cloned()
            .collect()
    }

    /// The `groups` magic variable: group name → host names.
    pub(crate) fn groups_var(&self) -> Map<String, Value> {
        self.groups
            .keys()
            .map(|g| {
                (
                    g.clone(),
                    Value::Array(self.group_hosts(g).into_iter().map(Value::String).collect()),
                )
            })
            .collect()
    }

    /// Resolve a host pattern to hosts in inventory order.
    pub(crate) fn select(&self, pattern: &str) -> Result<Vec<String>, String> {
        let terms: Vec<&str> = split_pattern(pattern);
        let mut selected: IndexSet<String> = IndexSet::new();
        let mut intersections: Vec<Vec<String>> = Vec::new();
        let mut exclusions: Vec<Vec<String>> = Vec::new();
        for term in terms {
            if let Some(t) = term.strip_prefix('&') {
                intersections.push(self.match_term(t)?);
            } else if let Some(t) = term.strip_prefix('!') {
                exclusions.push(self.match_term(t)?);
            } else {
                selected.extend(self.match_term(term)?);
            }
        }
        for set in intersections {
            selected.retain(|h| set.contains(h));
        }
        for set in exclusions {
            selected.retain(|h| !set.contains(h));
        }
        Ok(self
            .hosts
            .keys()
            .filter(|h| selected.contains(*h))
            .cloned()
            .collect())
    }

    fn match_term(&self, term: &str) -> Result<Vec<String>, String> {
        if term == "all" || term == "*" {
            return Ok(self.hosts.keys().cloned().collect());
        }
        if let Some(re) = term.strip_prefix('~') {
            let re = regex::Regex::new(re)
                .map_err(|e| format!("invalid host pattern regex `{re}`: {e}"))?;
            let mut out: Vec<String> = self
                .hosts
                .keys()
                .filter(|h| re.is_match(h))
                .cloned()
                .collect();
            for g in self.groups.keys().filter(|g| re.is_match(g)) {
                out.extend(self.group_hosts(g));
            }
            return Ok(out);
        }
        // group[0], group[1:3] subscripts
        if let Some((name, rest)) = term.split_once('[') {
            if let Some(idx) = rest.strip_suffix(']') {
                if self.groups.contains_key(name) {
                    let hosts = self.group_hosts(name);
                    return Ok(subscript(&hosts, idx));
                }
            }
        }
        if self.groups.contains_key(term) {
            return Ok(self.group_hosts(term));
        }
        if self.hosts.contains_key(term) {
            return Ok(vec![term.to_string()]);
        }
        if term.contains(['*', '?', '[']) {
            let pat = glob::Pattern::new(term)
                .map_err(|e| format!("invalid host pattern `{term}`: {e}"))?;
            let mut out: Vec<String> = self
                .hosts
                .keys()
                .filter(|h| pat.matches(h))
                .cloned()
                .collect();
            for g in self
                .groups
                .keys()
                .filter(|g| !matches!(g.as_str(), "all" | "ungrouped") && pat.matches(g))
            {
                out.extend(self.group_hosts(g));
            }
            return Ok(out);
        }
        Ok(Vec::new())
    }
}

fn subscript(hosts: &[String], idx: &str) -> Vec<String> {
    let parse = |s: &str, default: i64| -> i64 {
        if s.is_empty() {
            default
        } else {
            s.parse().unwrap_or(default)
        }
    };
    let n = hosts.len() as i64;
    let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
    if let Some((a, b)) = idx.split_once(':') {
        let (a, b) = (norm(parse(a, 0)), norm(parse(b, n - 1)));
        // Ansible's host ranges are inclusive.
        (a..=b.min(n - 1))
            .filter_map(|i| hosts.get(i as usize).cloned())
            .collect()
    } else {
        let i = parse(idx, 0);
        let i = if i < 0 { n + i } else { i };
        hosts.get(i as usize).cloned().into_iter().collect()
    }
}

/// Split `a:b:&c:!d` (or comma-separated) into terms, keeping `[1:3]` subscripts and regexes whole.
fn split_pattern(pattern: &str) -> Vec<&str> {
    if pattern.contains(',') {
        return pattern
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 && !pattern[start..].starts_with('~') => {
                out.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&pattern[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Expand `web[01:03]`, `db-[a:c]`, `n[1:10:2]` into host names.
pub(crate) fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let Some(close_rel) = pattern[open..].find(']') else {
        return Err(format!("unclosed range in host pattern `{pattern}`"));
    };
    let close = open + close_rel;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(format!(
            "invalid range `[{body}]` in host pattern `{pattern}`"
        ));
    }
    let step: usize = match parts.get(2) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("invalid range step in `{pattern}`"))?,
        None => 1,
    };
    if step == 0 {
        return Err(format!("range step must be positive in `{pattern}`"));
    }
    let (a, b) = (parts[0], parts[1]);
    let mut items = Vec::new();
    if let (Ok(x), Ok(y)) = (a.parse::<u64>(), b.parse::<u64>()) {
        if x > y {
            return Err(format!("range start is after its end in `{pattern}`"));
        }
        if (y - x) / step as u64 >= MAX_RANGE_HOSTS as u64 {
            return Err(too_many(pattern));
        }
        let width = if a.starts_with('0') && a.len() > 1 {
            a.len()
        } else {
            0
        };
        for i in (x..=y).step_by(step) {
            items.push(format!("{i:0width$}"));
        }
    } else if a.len() == 1
        && b.len() == 1
        && a.chars().all(|c| c.is_ascii_alphabetic())
        && b.chars().all(|c| c.is_ascii_alphabetic())
    {
        let (x, y) = (a.as_bytes()[0], b.as_bytes()[0]);
        if x > y {
            return Err(format!("range start is after its end in `{pattern}`"));
        }
        for c in (x..=y).step_by(step) {
            items.push((c as char).to_string());
        }
    } else {
        return Err(format!(
            "invalid range `[{body}]` in host pattern `{pattern}`"
        ));
    }
    let rests = expand_range(tail)?;
    if items.len().saturating_mul(rests.len()) > MAX_RANGE_HOSTS {
        return Err(too_many(pattern));
    }
    let mut out = Vec::with_capacity(items.len() * rests.len());
    for item in items {
        for rest in &rests {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}

/// More hosts than one inventory line may name (ranges multiply: a line of
/// several ranges could otherwise name billions).
const MAX_RANGE_HOSTS: usize = 100_000;

fn too_many(pattern: &str) -> String {
    format!("host pattern `{pattern}` names more than {MAX_RANGE_HOSTS} hosts")
}

/// INI host-line values are Python literals in Ansible: numbers and booleans become typed.
fn ini_literal(v: &str) -> Value {
    match v {
        "True" | "true" => return Value::Bool(true),
        "False" | "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = v.parse::<i64>() {
        if !(v.len() > 1 && v.starts_with('0')) {
            return Value::Number(i.into());
        }
    }
    if let Ok(f) = v.parse::<f64>() {
        if v.contains('.') {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(v.to_string())
}

/// `group_vars/NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` or a directory `NAME/` of such files.
fn read_vars_entry(base: &Path, name: &str) -> Result<Option<Map<String, Value>>, Diagnostic> {
    if !base.is_dir() {
        return Ok(None);
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for candidate in [
        base.join(name),
        base.join(format!("{name}.yml")),
        base.join(format!("{name}.yaml")),
        base.join(format!("{name}.json")),
    ] {
        if candidate.is_file() {
            files.push(candidate);
        } else if candidate.is_dir() {
            let mut inner: Vec<PathBuf> = walk_files(&candidate);
            inner.retain(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yml" | "yaml" | "json")
                ) || p.extension().is_none()
            });
            inner.sort();
            files.extend(inner);
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut vars = Map::new();
    for f in files {
        let node = yaml::load_file(&f)?;
        match node.kind {
            NodeKind::Map(_) => {
                if let Value::Object(m) = node.to_value() {
                    vars.extend(m);
                }
            }
            NodeKind::Scalar(Value::Null) => {}
            _ => {
                return Err(Diagnostic::error(
                    "B0715",
                    format!("{} must hold a mapping of variables", f.display()),
                )
                .at(Span::line(&f, node.line), None)
                .hint("write `name: value` pairs at the top level"))
            }
        }
    }
    Ok(Some(vars))
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn is_ignored_inventory_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.')
        || name.ends_with('~')
        || matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("retry" | "md" | "orig" | "cfg")
        )
}

fn looks_like_host_list(p: &Path) -> bool {
    p.to_string_lossy().contains(',')
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn read_error(path: &Path, e: std::io::Error) -> Diagnostic {
    Diagnostic::error(
        "B0711",
        format!("cannot read inventory {}: {e}", path.display()),
    )
    .hint("check the -i path")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv_from(files: &[(&str, &str)]) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let inv = Inventory::load(&[dir.path().join(files[0].0)], None).unwrap();
        (dir, inv)
    }

    #[test]
    fn yaml_inventory_groups_children_and_precedence() {
        let (_d, inv) = inv_from(&[
            (
                "hosts.yml",
                "all:\n  vars:\n    x: all\n    y: all\n  children:\n    web:\n      vars: {x: web}\n      hosts:\n        web[01:03]:\n        special: {x: host}\n    db:\n      hosts:\n        db1:\n",
            ),
            ("group_vars/web.yml", "y: web_file\n"),
            ("host_vars/db1.yml", "y: db1_file\n"),
        ]);
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["web01", "web02", "web03", "special", "db1"]
        );
        assert_eq!(inv.hosts["web01"].vars["x"], json!("web"));
        assert_eq!(inv.hosts["web01"].vars["y"], json!("web_file"));
        assert_eq!(inv.hosts["special"].vars["x"], json!("host"));
        assert_eq!(inv.hosts["db1"].vars["y"], json!("db1_file"));
        assert_eq!(inv.hosts["db1"].vars["x"], json!("all"));
        assert_eq!(inv.hosts["db1"].groups, vec!["db".to_string()]);
    }

    #[test]
    fn ini_inventory() {
        let (_d, inv) = inv_from(&[(
            "hosts",
            "solo ansible_port=2222\n[web]\nw[1:2] ansible_user=deploy\n[web:vars]\nhttp_port=80\n[prod:children]\nweb\n",
        )]);
        assert_eq!(inv.hosts["solo"].vars["ansible_port"], json!(2222));
        assert_eq!(inv.hosts["w1"].vars["http_port"], json!("80"));
        assert_eq!(inv.hosts["solo"].groups, vec!["ungrouped".to_string()]);
        assert_eq!(inv.select("prod").unwrap(), vec!["w1", "w2"]);
    }

    #[test]
    fn patterns() {
        let (_d, inv) = inv_from(&[(
            "h.yml",
            "all:\n  children:\n    web:\n      hosts: {a1: , a2: , a3: }\n    db:\n      hosts: {a2: , b1: }\n",
        )]);
        let cases: &[(&str, &[&str])] = &[
            ("all", &["a1", "a2", "a3", "b1"]),
            ("web:db", &["a1", "a2", "a3", "b1"]),
            ("web:&db", &["a2"]),
            ("web:!db", &["a1", "a3"]),
            ("a*", &["a1", "a2", "a3"]),
            ("~b\\d", &["b1"]),
            ("web[0]", &["a1"]),
            ("web[1:2]", &["a2", "a3"]),
            ("a1,b1", &["a1", "b1"]),
            ("nothing", &[]),
        ];
        for (pat, want) in cases {
            assert_eq!(inv.select(pat).unwrap(), *want, "{pat}");
        }
    }

    #[test]
    fn a_chain_of_diamonds_costs_linear_time() {
        // 2^40 paths from `all` to the last group: found by the inventory
        // fuzz target, when depths were computed one walk per path.
        let mut ini = String::from("[g40]\nweb\n");
        for i in 0..40 {
            ini.push_str(&format!(
                "[g{i}:children]\na{i}\nb{i}\n[a{i}:children]\ng{n}\n[b{i}:children]\ng{n}\n",
                n = i + 1
            ));
        }
        let inv = Inventory::from_text(&ini, Path::new("inv.ini")).unwrap();
        assert!(inv.hosts["web"].groups.contains(&"g0".to_string()));
    }

    #[test]
    fn ranges() {
        assert_eq!(
            expand_range("web[01:03]").unwrap(),
            ["web01", "web02", "web03"]
        );
        assert_eq!(
            expand_range("db-[a:c].x").unwrap(),
            ["db-a.x", "db-b.x", "db-c.x"]
        );
        assert_eq!(expand_range("n[1:5:2]").unwrap(), ["n1", "n3", "n5"]);
        assert!(expand_range("n[5:1]").is_err());
        // Ranges multiply; past 100000 hosts a line is refused at once.
        assert!(expand_range("w[1:6]a[1:6]b[1:6]c[1:6]d[1:6]e[1:6]f[1:6]")
            .unwrap_err()
            .contains("more than 100000 hosts"));
        assert!(expand_range("w[0:99999999999999]")
            .unwrap_err()
            .contains("more than 100000 hosts"));
        assert_eq!(expand_range("w[1:6]a[1:6]").unwrap().len(), 36);
    }

    #[test]
    fn bad_inventory_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inv.yml");
        std::fs::write(&p, "all:\n  hosts:\n    - a\n").unwrap();
        let err = Inventory::load(&[p], None).unwrap_err();
        assert!(err.to_string().contains("inv.yml:2"), "{err}");
    }
}
