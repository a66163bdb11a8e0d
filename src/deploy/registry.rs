//! The host's port registry (seed 003 §5): stable ports from 3000, allocated
//! under a host-wide `flock` by a pure-shell script (targets have no Python
//! and no berth). Each app owns `registry/<app>.ports` and
//! `registry/<app>.json`; `registry.json` is regenerated from them under the
//! same lock, so two apps deploying at once never collide.

use serde_json::Value;

use super::layout::Layout;
use super::remote::{q, Remote};

/// First port handed out.
pub(crate) const FIRST_PORT: u16 = 3000;

/// Shell functions shared by every registry script: `lock` and `regen`.
fn functions(layout: &Layout) -> String {
    format!(
        r#"ROOT={root}
reg="$ROOT/registry"
lock() {{
  mkdir -p "$reg"
  exec 9>"$reg/.lock"
  flock -w 120 9 || {{ echo "berth: the port registry stayed locked for 120s ($reg/.lock)" >&2; exit 75; }}
}}
regen() {{
  out="$ROOT/registry.json.tmp.$$"
  max={last}
  first=1
  {{
    printf '{{\n  "apps": {{'
    for f in "$reg"/*.json; do
      [ -e "$f" ] || continue
      name=$(basename "$f" .json)
      if [ "$first" = 1 ]; then first=0; printf '\n'; else printf ',\n'; fi
      printf '    "%s": %s' "$name" "$(cat "$f")"
    done
    [ "$first" = 1 ] || printf '\n  '
    for f in "$reg"/*.ports; do
      [ -e "$f" ] || continue
      for p in $(cat "$f"); do [ "$p" -gt "$max" ] && max=$p; done
    done
    printf '}},\n  "next_port": %s\n}}\n' $((max + 1))
  }} > "$out"
  chmod 0644 "$out"
  mv -f "$out" "$ROOT/registry.json"
}}
entry() {{
  # entry APP: rewrite the app's JSON entry from its files.
  a=$1
  ports=$(cat "$reg/$a.ports")
  meta=""
  [ -f "$reg/$a.meta" ] && meta=$(cat "$reg/$a.meta")
  version=""
  [ -f "$reg/$a.version" ] && version=$(cat "$reg/$a.version")
  set -- $meta
  printf '{{"ports": [%s], "domain": "%s", "env": "%s", "instances": %s, "version": "%s"}}\n' \
    "$(echo $ports | sed 's/ /, /g')" "${{1:-}}" "${{2:-}}" "$(echo $ports | wc -w)" "$version" > "$reg/$a.json.tmp"
  mv -f "$reg/$a.json.tmp" "$reg/$a.json"
}}
"#,
        root = q(&layout.root),
        last = FIRST_PORT - 1
    )
}

/// The script that gives `app` `instances` ports: its existing ports first
/// (stable across deploys), then the lowest free ones from 3000.
pub(crate) fn allocate_script(layout: &Layout, app: &str, domain: &str, env: &str, instances: u32) -> String {
    format!(
        r#"set -eu
{functions}APP={app}
N={n}
lock
mine=""
[ -f "$reg/$APP.ports" ] && mine=$(cat "$reg/$APP.ports")
used=""
for f in "$reg"/*.ports; do
  [ -e "$f" ] || continue
  [ "$f" = "$reg/$APP.ports" ] && continue
  used="$used $(cat "$f")"
done
keep=""
count=0
for p in $mine; do
  [ "$count" -ge "$N" ] && break
  case " $used $keep " in *" $p "*) continue ;; esac
  keep="$keep $p"
  count=$((count + 1))
done
p={first}
while [ "$count" -lt "$N" ]; do
  case " $used $keep " in *" $p "*) p=$((p + 1)); continue ;; esac
  keep="$keep $p"
  count=$((count + 1))
  p=$((p + 1))
done
keep=${{keep# }}
printf '%s\n' "$keep" > "$reg/$APP.ports.tmp"
mv -f "$reg/$APP.ports.tmp" "$reg/$APP.ports"
printf '%s %s\n' {domain} {env} > "$reg/$APP.meta"
entry "$APP"
regen
echo "PORTS $keep"
"#,
        functions = functions(layout),
        app = q(app),
        n = instances,
        first = FIRST_PORT,
        domain = q(domain),
        env = q(env),
    )
}

pub(crate) fn parse_ports(stdout: &str) -> Result<Vec<u16>, String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PORTS "))
        .ok_or_else(|| format!("the registry script printed no ports: {stdout:?}"))?;
    line.split_whitespace().map(|p| p.parse::<u16>().map_err(|e| format!("bad port `{p}` in the registry: {e}"))).collect()
}

/// Allocates (or confirms) the app's ports on the host.
pub(crate) fn allocate(remote: &mut Remote, layout: &Layout, app: &str, domain: &str, env: &str, instances: u32) -> Result<Vec<u16>, String> {
    let out = remote.run("allocating ports", &allocate_script(layout, app, domain, env, instances), None)?;
    parse_ports(&out)
}

/// Records the app's live version in the registry.
pub(crate) fn set_version(remote: &mut Remote, layout: &Layout, app: &str, version: &str) -> Result<(), String> {
    let script = format!(
        "set -eu\n{}APP={}\nlock\n[ -f \"$reg/$APP.ports\" ] || exit 0\nprintf '%s\\n' {} > \"$reg/$APP.version\"\nentry \"$APP\"\nregen\n",
        functions(layout),
        q(app),
        q(version)
    );
    remote.run("updating the registry", &script, None).map(|_| ())
}

/// Releases the app's ports; prints what they were.
pub(crate) fn release(remote: &mut Remote, layout: &Layout, app: &str) -> Result<Vec<u16>, String> {
    let script = format!(
        "set -eu\n{}APP={}\nlock\nports=\"\"\n[ -f \"$reg/$APP.ports\" ] && ports=$(cat \"$reg/$APP.ports\")\nrm -f \"$reg/$APP.ports\" \"$reg/$APP.json\" \"$reg/$APP.meta\" \"$reg/$APP.version\"\nregen\necho \"PORTS $ports\"\n",
        functions(layout),
        q(app)
    );
    let out = remote.run("releasing ports", &script, None)?;
    parse_ports(&out)
}

/// The host's `registry.json` (an empty registry when there is none).
pub(crate) fn read(remote: &mut Remote, layout: &Layout) -> Result<Value, String> {
    let out = remote.run("reading the registry", &format!("cat {}/registry.json 2>/dev/null || true", q(&layout.root)), None)?;
    if out.trim().is_empty() {
        return Ok(serde_json::json!({"apps": {}, "next_port": FIRST_PORT}));
    }
    serde_json::from_str(&out).map_err(|e| format!("{}: {}/registry.json is not valid JSON: {e}", remote.name, layout.root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path().to_str().unwrap());
        (dir, l)
    }

    #[test]
    fn ports_are_stable_and_grow_and_shrink() {
        let (_d, l) = layout();
        let mut r = Remote::local("local");
        assert_eq!(allocate(&mut r, &l, "shop", "shop.example.com", "prod", 2).unwrap(), vec![3000, 3001]);
        assert_eq!(allocate(&mut r, &l, "blog", "blog.example.com", "prod", 1).unwrap(), vec![3002]);
        assert_eq!(allocate(&mut r, &l, "shop", "shop.example.com", "prod", 2).unwrap(), vec![3000, 3001]);
        assert_eq!(allocate(&mut r, &l, "shop", "shop.example.com", "prod", 3).unwrap(), vec![3000, 3001, 3003]);
        assert_eq!(allocate(&mut r, &l, "shop", "shop.example.com", "prod", 1).unwrap(), vec![3000]);
        // 3001 and 3003 were given back: the next app takes the lowest free.
        assert_eq!(allocate(&mut r, &l, "api", "api.example.com", "prod", 2).unwrap(), vec![3001, 3003]);
        set_version(&mut r, &l, "shop", "v4").unwrap();
        let reg = read(&mut r, &l).unwrap();
        assert_eq!(reg["apps"]["shop"]["ports"], serde_json::json!([3000]));
        assert_eq!(reg["apps"]["shop"]["version"], "v4");
        assert_eq!(reg["apps"]["shop"]["domain"], "shop.example.com");
        assert_eq!(reg["apps"]["api"]["instances"], 2);
        assert_eq!(reg["next_port"], 3004);
        assert_eq!(release(&mut r, &l, "api").unwrap(), vec![3001, 3003]);
        let reg = read(&mut r, &l).unwrap();
        assert!(reg["apps"].get("api").is_none());
        assert_eq!(reg["apps"].as_object().unwrap().len(), 2);
        assert_eq!(allocate(&mut r, &l, "new", "new.example.com", "prod", 1).unwrap(), vec![3001]);
    }

    #[test]
    fn empty_registry_reads_as_empty() {
        let (_d, l) = layout();
        let mut r = Remote::local("local");
        let reg = read(&mut r, &l).unwrap();
        assert_eq!(reg["next_port"], 3000);
        assert_eq!(release(&mut r, &l, "ghost").unwrap(), Vec::<u16>::new());
        let reg = read(&mut r, &l).unwrap();
        assert_eq!(reg["apps"], serde_json::json!({}));
    }

    #[test]
    fn concurrent_allocations_never_collide() {
        let (_d, l) = layout();
        // 24 apps, each allocating twice at the same time from its own
        // process (as two deploys of the same host would).
        let apps: Vec<(String, u32)> = (0..24).map(|i| (format!("app{i}"), 1 + (i % 3) as u32)).collect();
        let results: Vec<(String, Vec<u16>)> = std::thread::scope(|s| {
            let handles: Vec<_> = apps
                .iter()
                .chain(apps.iter())
                .map(|(app, n)| {
                    let l = l.clone();
                    s.spawn(move || {
                        let mut r = Remote::local("local");
                        (app.clone(), allocate(&mut r, &l, app, &format!("{app}.example.com"), "prod", *n).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut r = Remote::local("local");
        let reg = read(&mut r, &l).unwrap();
        let mut seen = BTreeSet::new();
        for (app, n) in &apps {
            let ports: Vec<u16> = serde_json::from_value(reg["apps"][app]["ports"].clone()).unwrap();
            assert_eq!(ports.len(), *n as usize, "{app}");
            for p in &ports {
                assert!(seen.insert(*p), "port {p} given twice ({app})");
            }
            // Both concurrent allocations of one app agree with the registry.
            for (a, got) in &results {
                if a == app {
                    assert_eq!(got, &ports, "{app}");
                }
            }
        }
        let total: u32 = apps.iter().map(|(_, n)| n).sum();
        assert_eq!(seen.len() as u32, total);
        assert_eq!(*seen.iter().next().unwrap(), 3000);
        assert_eq!(*seen.iter().last().unwrap() as u32, 3000 + total - 1, "ports are packed from 3000");
        assert_eq!(reg["next_port"].as_u64().unwrap() as u32, 3000 + total);
    }
}
