//! Variable scopes with Ansible's precedence, exposed to templates as a lazy
//! object: values that themselves hold templates (`app_dir: "/opt/{{ app }}"`)
//! are rendered on first use in the same scope, like Ansible's lazy templating.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::{Map, Value};

use crate::playbook::templar::{Templar, UNSAFE_KEY};

/// Per-host data that lives for the whole run.
#[derive(Debug, Default)]
pub(crate) struct HostData {
    pub(crate) name: String,
    /// Inventory variables with inventory precedence applied.
    pub(crate) inventory: Arc<Map<String, Value>>,
    /// Gathered facts (`ansible_facts` and the `ansible_*` names).
    pub(crate) facts: RwLock<Map<String, Value>>,
    /// set_fact, register and include_vars results.
    pub(crate) vars: RwLock<Map<String, Value>>,
}

impl HostData {
    pub(crate) fn new(name: &str, inventory: Map<String, Value>) -> HostData {
        HostData {
            name: name.to_string(),
            inventory: Arc::new(inventory),
            ..HostData::default()
        }
    }

    pub(crate) fn set_var(&self, key: &str, value: Value) {
        self.vars
            .write()
            .expect("host vars")
            .insert(key.to_string(), value);
    }

    /// Facts a module returned, merged into the host's as Ansible does:
    /// under `ansible_facts` without their `ansible_` prefix, and as
    /// top-level variables under the names the module gave. Kept unsafe
    /// (never templated again).
    pub(crate) fn merge_facts(&self, facts: &Map<String, Value>) {
        let mut all = self.facts.write().expect("facts");
        let mut ns = match all.remove("ansible_facts") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in facts {
            let v = crate::playbook::templar::mark_unsafe(v);
            ns.insert(
                k.strip_prefix("ansible_").unwrap_or(k).to_string(),
                v.clone(),
            );
            all.insert(k.clone(), v);
        }
        all.insert("ansible_facts".into(), Value::Object(ns));
    }
}

/// One layer of variables.
#[derive(Debug, Clone)]
pub(crate) enum Layer {
    Static(Arc<Map<String, Value>>),
    HostVars(Arc<HostData>),
    HostFacts(Arc<HostData>),
    HostInventory(Arc<HostData>),
}

impl Layer {
    fn get(&self, key: &str) -> Option<Value> {
        match self {
            Layer::Static(m) => m.get(key).cloned(),
            Layer::HostVars(h) => h.vars.read().expect("host vars").get(key).cloned(),
            // `ansible_facts` is always defined: empty until something gathers.
            Layer::HostFacts(h) => h
                .facts
                .read()
                .expect("host facts")
                .get(key)
                .cloned()
                .or_else(|| (key == "ansible_facts").then(|| Value::Object(Map::new()))),
            Layer::HostInventory(h) => h.inventory.get(key).cloned(),
        }
    }

    fn keys(&self, out: &mut Vec<String>) {
        match self {
            Layer::Static(m) => out.extend(m.keys().cloned()),
            Layer::HostVars(h) => out.extend(h.vars.read().expect("host vars").keys().cloned()),
            Layer::HostFacts(h) => {
                let facts = h.facts.read().expect("host facts");
                out.extend(facts.keys().cloned());
                if !facts.contains_key("ansible_facts") {
                    out.push("ansible_facts".into());
                }
            }
            Layer::HostInventory(h) => out.extend(h.inventory.keys().cloned()),
        }
    }
}

/// All hosts' data, for `hostvars`.
#[derive(Default)]
pub(crate) struct HostVarsTable {
    pub(crate) hosts: IndexMap<String, Arc<HostData>>,
    /// Layers shared by every host (play-level magic variables).
    pub(crate) shared: Vec<Layer>,
    pub(crate) templar: Arc<Templar>,
}

impl Object for HostVarsTable {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        let host = self.hosts.get(name)?;
        let mut layers = vec![
            Layer::HostVars(host.clone()),
            Layer::HostFacts(host.clone()),
        ];
        let mut magic = Map::new();
        magic.insert("inventory_hostname".into(), Value::String(name.to_string()));
        magic.insert(
            "inventory_hostname_short".into(),
            Value::String(name.split('.').next().unwrap_or(name).to_string()),
        );
        layers.insert(0, Layer::Static(Arc::new(magic)));
        layers.push(Layer::HostInventory(host.clone()));
        layers.extend(self.shared.iter().cloned());
        Some(minijinja::Value::from_object(Scope::new(
            layers,
            self.templar.clone(),
            Some(self.clone()),
        )))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.hosts
                .keys()
                .map(|k| minijinja::Value::from(k.as_str()))
                .collect(),
        )
    }
}

impl std::fmt::Debug for HostVarsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostVarsTable")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A lazily-templated variable scope (highest precedence layer first).
pub(crate) struct Scope {
    layers: Vec<Layer>,
    templar: Arc<Templar>,
    hostvars: Option<Arc<HostVarsTable>>,
    cache: Mutex<HashMap<String, minijinja::Value>>,
    resolving: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Scope {
    pub(crate) fn new(
        layers: Vec<Layer>,
        templar: Arc<Templar>,
        hostvars: Option<Arc<HostVarsTable>>,
    ) -> Scope {
        Scope {
            layers,
            templar,
            hostvars,
            cache: Mutex::new(HashMap::new()),
            resolving: Mutex::new(Vec::new()),
        }
    }

    /// The raw (untemplated) value of a variable.
    pub(crate) fn raw(&self, key: &str) -> Option<Value> {
        self.layers.iter().find_map(|l| l.get(key))
    }

    /// All variable names visible in this scope (for `vars`).
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in &self.layers {
            l.keys(&mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Does a value hold template text that must be rendered on use? Values
/// marked unsafe (registered results, facts) never do.
pub(crate) fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => Templar::is_template(s),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(m) if m.len() == 1 && m.contains_key(UNSAFE_KEY) => false,
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| Templar::is_template(k) || has_template(v)),
        _ => false,
    }
}

/// Expose a JSON value to templates without copying it into minijinja
/// values; unsafe markers read as plain strings.
fn expose(v: Value) -> minijinja::Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(UNSAFE_KEY) => minijinja::Value::from(
            m.get(UNSAFE_KEY)
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        Value::Object(_) | Value::Array(_) => {
            let mut holder = Map::new();
            holder.insert("v".into(), v);
            Templar::context_shared(Arc::new(holder))
                .get_attr("v")
                .unwrap_or(minijinja::Value::UNDEFINED)
        }
        other => minijinja::Value::from_serialize(&other),
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        if let Some(v) = self.cache.lock().expect("scope cache").get(name) {
            return Some(v.clone());
        }
        let value = match name {
            "hostvars" => minijinja::Value::from_dyn_object(self.hostvars.clone()?),
            "vars" => minijinja::Value::from_dyn_object(self.clone()),
            _ => {
                let raw = self.raw(name)?;
                if has_template(&raw) {
                    {
                        let mut resolving = self.resolving.lock().expect("scope resolving");
                        if resolving.iter().any(|r| r == name) {
                            return None; // recursive definition: treated as undefined
                        }
                        resolving.push(name.to_string());
                    }
                    let ctx = minijinja::Value::from_dyn_object(self.clone());
                    let rendered = self.templar.render_value(&raw, &ctx);
                    self.resolving
                        .lock()
                        .expect("scope resolving")
                        .retain(|r| r != name);
                    expose(rendered.ok()?)
                } else {
                    expose(raw)
                }
            }
        };
        self.cache
            .lock()
            .expect("scope cache")
            .insert(name.to_string(), value.clone());
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.keys()
                .into_iter()
                .map(minijinja::Value::from)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(v: Value) -> Layer {
        Layer::Static(Arc::new(v.as_object().unwrap().clone()))
    }

    #[test]
    fn precedence_and_lazy_templating() {
        let templar = Arc::new(Templar::new());
        let scope = Arc::new(Scope::new(
            vec![
                layer(json!({"app": "shop"})),
                layer(json!({"app": "low", "dir": "/opt/{{ app }}", "list": ["{{ dir }}/a"]})),
            ],
            templar.clone(),
            None,
        ));
        let ctx = minijinja::Value::from_dyn_object(scope);
        assert_eq!(
            templar.render_str("{{ dir }}", &ctx).unwrap(),
            json!("/opt/shop")
        );
        assert_eq!(
            templar.render_str("{{ list }}", &ctx).unwrap(),
            json!(["/opt/shop/a"])
        );
        assert_eq!(
            templar.render_str("{{ vars['app'] }}", &ctx).unwrap(),
            json!("shop")
        );
    }

    #[test]
    fn hostvars_reach_other_hosts() {
        let templar = Arc::new(Templar::new());
        let a = Arc::new(HostData::new(
            "a",
            json!({"ip": "10.0.0.1"}).as_object().unwrap().clone(),
        ));
        a.set_var("reg", json!({"rc": 0}));
        let mut hosts = IndexMap::new();
        hosts.insert("a".to_string(), a);
        let table = Arc::new(HostVarsTable {
            hosts,
            shared: vec![],
            templar: templar.clone(),
        });
        let scope = Arc::new(Scope::new(vec![], templar.clone(), Some(table)));
        let ctx = minijinja::Value::from_dyn_object(scope);
        assert_eq!(
            templar
                .render_str("{{ hostvars['a'].ip }}-{{ hostvars.a.reg.rc }}", &ctx)
                .unwrap(),
            json!("10.0.0.1-0")
        );
    }

    #[test]
    fn self_reference_is_undefined_not_a_hang() {
        let templar = Arc::new(Templar::new());
        let scope = Arc::new(Scope::new(
            vec![layer(json!({"x": "{{ x }}"}))],
            templar.clone(),
            None,
        ));
        let ctx = minijinja::Value::from_dyn_object(scope);
        assert!(templar.render_str("{{ x }}", &ctx).is_err());
    }
}
