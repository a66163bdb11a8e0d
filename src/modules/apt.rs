//! `apt`: Debian packages through `apt-get`, with no Python on the target.
//! One round trip reads everything (cache age, refreshing it when due,
//! installed versions via `dpkg-query`, candidates via `apt-cache policy`);
//! a second one runs `apt-get` only when something differs.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::args::Args;
use super::{quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

const KNOWN: &[&str] = &[
    "name",
    "package",
    "pkg",
    "state",
    "update_cache",
    "update-cache",
    "cache_valid_time",
    "install_recommends",
    "install-recommends",
    "purge",
    "autoremove",
    "force_apt_get",
    "upgrade",
    "default_release",
    "default-release",
    "only_upgrade",
    "dpkg_options",
    "force",
    "allow_unauthenticated",
    "allow-unauthenticated",
    "lock_timeout",
    "update_cache_retries",
    "update_cache_retry_max_delay",
    "clean",
];

const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "/var/lib/apt/lists";
const ENV: &str =
    "export DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical LC_ALL=C LANG=C; ";
const MARK: &str = "@@berth-apt ";

/// The arguments after parsing, as `apt` needs them.
pub(crate) struct AptParams {
    pub(crate) packages: Vec<String>,
    pub(crate) state: String,
    pub(crate) update_cache: bool,
    pub(crate) cache_valid_time: i64,
    pub(crate) install_recommends: Option<bool>,
    pub(crate) purge: bool,
    pub(crate) autoremove: bool,
    pub(crate) upgrade: String,
    pub(crate) default_release: Option<String>,
    pub(crate) only_upgrade: bool,
    pub(crate) dpkg_options: String,
    pub(crate) force: bool,
    pub(crate) allow_unauthenticated: bool,
    pub(crate) clean: bool,
    pub(crate) lock_timeout: i64,
    pub(crate) update_cache_retries: i64,
    pub(crate) update_cache_retry_max_delay: i64,
}

fn first_bool(a: &Args<'_>, keys: &[&str], default: bool) -> Result<bool, String> {
    for k in keys {
        if a.get(k).is_some() {
            return a.bool(k, default);
        }
    }
    Ok(default)
}

pub(crate) fn parse(args: &Map<String, Value>) -> Result<AptParams, String> {
    let a = Args::new("apt", args);
    a.check_known(KNOWN)?;
    let mut packages = Vec::new();
    for k in ["name", "package", "pkg"] {
        if a.get(k).is_some() {
            packages = a.list(k)?;
            break;
        }
    }
    for p in &packages {
        if p.starts_with('-') || p.chars().any(char::is_whitespace) {
            return Err(format!("'{p}' is not a valid package name"));
        }
    }
    let state = a
        .choice(
            "state",
            &[
                "absent",
                "build-dep",
                "latest",
                "present",
                "fixed",
                "installed",
                "removed",
            ],
            Some("present"),
        )?
        .unwrap_or_default();
    let state = match state.as_str() {
        "installed" => "present".to_string(),
        "removed" => "absent".to_string(),
        "build-dep" | "fixed" => {
            return Err(format!(
                "state={state} is not supported by berth's apt module; use command: apt-get"
            ))
        }
        _ => state,
    };
    let cache_valid_time = a.int("cache_valid_time")?.unwrap_or(0);
    let upgrade = match a.str("upgrade")?.as_deref().map(str::to_ascii_lowercase) {
        None => "no".to_string(),
        Some(u) => match u.as_str() {
            "dist" | "full" | "safe" => u,
            other => match super::args::to_bool(&Value::String(other.to_string())) {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => {
                    return Err(format!(
                        "value of upgrade must be one of: dist, full, no, safe, yes, got: {other}"
                    ))
                }
            },
        },
    };
    let install_recommends =
        if a.get("install_recommends").is_some() || a.get("install-recommends").is_some() {
            Some(first_bool(
                &a,
                &["install_recommends", "install-recommends"],
                false,
            )?)
        } else {
            None
        };
    Ok(AptParams {
        packages,
        state,
        update_cache: first_bool(&a, &["update_cache", "update-cache"], false)?
            || a.get("cache_valid_time").is_some(),
        cache_valid_time,
        install_recommends,
        purge: a.bool("purge", false)?,
        autoremove: a.bool("autoremove", false)?,
        upgrade,
        default_release: a.first_str(&["default_release", "default-release"])?,
        only_upgrade: a.bool("only_upgrade", false)?,
        dpkg_options: a
            .str("dpkg_options")?
            .unwrap_or_else(|| "force-confdef,force-confold".into()),
        force: a.bool("force", false)?,
        allow_unauthenticated: first_bool(
            &a,
            &["allow_unauthenticated", "allow-unauthenticated"],
            false,
        )?,
        clean: a.bool("clean", false)?,
        lock_timeout: a.int("lock_timeout")?.unwrap_or(60),
        update_cache_retries: a.int("update_cache_retries")?.unwrap_or(5).max(1),
        update_cache_retry_max_delay: a.int("update_cache_retry_max_delay")?.unwrap_or(12).max(0),
    })
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    match parse(args) {
        Ok(p) => run_params(ctx, &p),
        Err(msg) => Ok(ModuleOutcome::failed(msg)),
    }
}

/// One installed package as dpkg knows it.
#[derive(Debug, Clone)]
struct Installed {
    status: String,
    version: String,
}

impl Installed {
    /// Second letter of `db:Status-Abbrev`: `i` installed, `c` config files only, ...
    fn is_installed(&self) -> bool {
        self.status.as_bytes().get(1) == Some(&b'i')
    }
    fn has_files(&self) -> bool {
        !matches!(self.status.as_bytes().get(1), Some(b'n') | None)
    }
}

struct Facts {
    installed: HashMap<String, Installed>,
    candidates: HashMap<String, Option<String>>,
    cache_updated: bool,
    cache_update_time: i64,
    update_failure: Option<(i32, String)>,
}

pub(crate) fn run_params(
    ctx: &mut ModuleContext<'_>,
    p: &AptParams,
) -> Result<ModuleOutcome, ConnError> {
    let names: Vec<(String, Option<String>)> = p
        .packages
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (spec.clone(), None),
        })
        .collect();

    // Round trip 1: clean, cache age (and refresh when due), dpkg state, candidates.
    let lock = format!(" -o DPkg::Lock::Timeout={}", p.lock_timeout);
    let mut script = String::from(ENV);
    if p.clean && !ctx.check_mode {
        script.push_str(&format!("apt-get{lock} clean >/dev/null 2>&1\n"));
    }
    if p.update_cache {
        script.push_str(&format!(
            "__mtime() {{ stat -c %Y {stamp} 2>/dev/null || stat -c %Y {lists} 2>/dev/null || echo 0; }}\n\
             __now=$(date +%s); __m=$(__mtime)\n\
             if [ {valid} -le 0 ] || [ $((__now - __m)) -gt {valid} ]; then\n",
            stamp = STAMP,
            lists = LISTS,
            valid = p.cache_valid_time,
        ));
        if ctx.check_mode {
            script.push_str(&format!("  echo '{MARK}updated 0'\n"));
        } else {
            // Retries with a doubling delay capped at the max, like Ansible.
            script.push_str(&format!(
                "  __n=1; __d=1\n  while :; do\n    __out=$(apt-get{lock} update -q 2>&1); __rc=$?\n    \
                 [ $__rc -eq 0 ] || [ $__n -ge {retries} ] && break\n    \
                 sleep $__d; __n=$((__n + 1)); __d=$((__d * 2)); [ $__d -le {max} ] || __d={max}\n  done\n  \
                 echo \"{MARK}updated $__rc\"\n  printf '%s\\n' \"$__out\"\n  __m=$(__mtime)\n",
                retries = p.update_cache_retries,
                max = p.update_cache_retry_max_delay,
            ));
        }
        script.push_str(&format!("fi\necho \"{MARK}time $__m\"\n"));
    }
    if !names.is_empty() {
        script.push_str("set -f\n");
        let list: Vec<String> = names.iter().map(|(n, _)| quote(n)).collect();
        script.push_str(&format!(
            "__d=$(dpkg-query -W -f='${{db:Status-Abbrev}}|${{Package}}|${{Version}}\\n' -- {} 2>/dev/null)\n\
             echo '{MARK}dpkg'; printf '%s\\n' \"$__d\"\n",
            list.join(" ")
        ));
        match p.state.as_str() {
            "absent" => {}
            // `latest` compares every package with its candidate.
            "latest" => script.push_str(&format!("echo '{MARK}policy'\napt-cache policy {} 2>/dev/null\n", list.join(" "))),
            // `present` asks apt-cache (slow on hosts without pkgcache.bin)
            // only about packages dpkg does not have installed.
            _ => script.push_str(&format!(
                "__nl='\n'; __miss=\n\
                 for __n in {}; do case \"$__nl$__d\" in *\"$__nl\"?i?\"|$__n|\"*) ;; *) __miss=\"$__miss $__n\";; esac; done\n\
                 echo '{MARK}policy'; [ -z \"$__miss\" ] || apt-cache policy $__miss 2>/dev/null\n",
                list.join(" ")
            )),
        }
    }
    script.push_str(&format!("echo '{MARK}end'\n"));
    let out = ctx.exec(&script, None)?;
    let facts = parse_facts(&out.stdout_str());

    let base = |o: ModuleOutcome, f: &Facts| {
        o.with("cache_updated", f.cache_updated)
            .with("cache_update_time", f.cache_update_time)
    };
    if let Some((rc, text)) = &facts.update_failure {
        return Ok(base(
            ModuleOutcome::failed(format!("Failed to update apt cache: {}", text.trim())),
            &facts,
        )
        .with("rc", *rc));
    }

    let confirm = apt_get_options(p);
    if p.upgrade != "no" {
        let verb = match p.upgrade.as_str() {
            "dist" | "full" => "dist-upgrade",
            _ => "upgrade --with-new-pkgs",
        };
        let sim = if ctx.check_mode { " --simulate" } else { "" };
        let auto = if p.autoremove { " --auto-remove" } else { "" };
        let cmd = format!("apt-get{lock} -y{confirm}{sim}{auto} {verb}");
        let res = ctx.exec(&format!("{ENV}{cmd}"), None)?;
        if res.rc != 0 {
            return Ok(base(apt_failed(&cmd, &res), &facts));
        }
        let text = res.stdout_str();
        let changed = !text.contains("\n0 upgraded, 0 newly installed")
            && !text.starts_with("0 upgraded, 0 newly installed");
        return Ok(base(ModuleOutcome::changed(changed), &facts)
            .with("msg", text.clone())
            .with("stdout", text)
            .with("stderr", res.stderr_str()));
    }

    if names.is_empty() {
        if p.autoremove {
            let purge = if p.purge { " --purge" } else { "" };
            let sim = if ctx.check_mode { " --simulate" } else { "" };
            let cmd = format!("apt-get{lock} -y{purge}{sim} autoremove");
            let res = ctx.exec(&format!("{ENV}{cmd}"), None)?;
            if res.rc != 0 {
                return Ok(base(apt_failed(&cmd, &res), &facts));
            }
            let text = res.stdout_str();
            let changed = p.clean || text.contains("The following packages will be REMOVED");
            return Ok(base(ModuleOutcome::changed(changed), &facts)
                .with("stdout", text)
                .with("stderr", res.stderr_str()));
        }
        if p.clean {
            return Ok(base(ModuleOutcome::changed(true), &facts));
        }
        if p.update_cache {
            return Ok(base(ModuleOutcome::changed(facts.cache_updated), &facts));
        }
        return Ok(ModuleOutcome::failed("one of the following is required: autoremove, deb, name, package, pkg, update_cache, upgrade, clean"));
    }

    // Decide.
    let mut todo: Vec<String> = Vec::new();
    for (name, pin) in &names {
        // dpkg names `foo:amd64` as plain `foo`.
        let plain = name.split(':').next().unwrap_or(name);
        let inst = facts
            .installed
            .get(name)
            .or_else(|| facts.installed.get(plain));
        match p.state.as_str() {
            "absent" => {
                let present = match (inst, pin) {
                    (Some(i), Some(v)) => i.has_files() && fnmatch(v, &i.version),
                    (Some(i), None) => i.is_installed() || (p.purge && i.has_files()),
                    (None, _) => false,
                };
                if present {
                    todo.push(name.clone());
                }
            }
            state => {
                let installed = inst.filter(|i| i.is_installed());
                let candidate = facts
                    .candidates
                    .get(name)
                    .or_else(|| facts.candidates.get(plain))
                    .cloned()
                    .flatten();
                if installed.is_none() && candidate.is_none() {
                    return Ok(base(
                        ModuleOutcome::failed(format!("No package matching '{name}' is available")),
                        &facts,
                    ));
                }
                let ok = match (installed, pin) {
                    (None, _) => false,
                    (Some(i), Some(v)) => fnmatch(v, &i.version),
                    (Some(i), None) if state == "latest" => {
                        candidate.as_deref().is_none_or(|c| c == i.version)
                    }
                    (Some(_), None) => true,
                };
                if !ok {
                    if p.only_upgrade && installed.is_none() {
                        continue;
                    }
                    todo.push(match pin {
                        Some(v) => format!("{name}={v}"),
                        None => name.clone(),
                    });
                }
            }
        }
    }
    if todo.is_empty() {
        return Ok(base(ModuleOutcome::ok(), &facts));
    }
    let quoted: Vec<String> = todo.iter().map(|t| quote(t)).collect();
    let cmd = if p.state == "absent" {
        let purge = if p.purge { " --purge" } else { "" };
        let auto = if p.autoremove { " --auto-remove" } else { "" };
        format!(
            "apt-get{lock} -q -y{purge}{auto} remove {}",
            quoted.join(" ")
        )
    } else {
        let mut c = format!("apt-get{lock} -y{confirm}");
        if let Some(r) = &p.default_release {
            c.push_str(&format!(" -t {}", quote(r)));
        }
        match p.install_recommends {
            Some(false) => c.push_str(" --no-install-recommends"),
            Some(true) => c.push_str(" -o APT::Install-Recommends=yes"),
            None => {}
        }
        if p.only_upgrade {
            c.push_str(" --only-upgrade");
        }
        if p.autoremove {
            c.push_str(" --auto-remove");
        }
        format!("{c} install {}", quoted.join(" "))
    };
    if ctx.check_mode {
        return Ok(base(ModuleOutcome::changed(true), &facts));
    }
    let res = ctx.exec(&format!("{ENV}{cmd}"), None)?;
    if res.rc != 0 {
        return Ok(base(apt_failed(&cmd, &res), &facts));
    }
    Ok(base(ModuleOutcome::changed(true), &facts)
        .with("stdout", res.stdout_str())
        .with("stderr", res.stderr_str()))
}

/// `-o Dpkg::Options::=--force-confdef ...` and the other confirmations.
fn apt_get_options(p: &AptParams) -> String {
    let mut s = String::new();
    for opt in p
        .dpkg_options
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        s.push_str(&format!(
            " -o {}",
            quote(&format!("Dpkg::Options::=--{opt}"))
        ));
    }
    if p.force {
        s.push_str(" --force-yes");
    }
    if p.allow_unauthenticated {
        s.push_str(" --allow-unauthenticated");
    }
    s
}

fn apt_failed(cmd: &str, res: &crate::connection::ExecOutput) -> ModuleOutcome {
    let err = res.stderr_str();
    ModuleOutcome::failed(format!("'{cmd}' failed: {}", err.trim_end()))
        .with("rc", res.rc)
        .with("stdout", res.stdout_str())
        .with("stderr", err)
}

fn parse_facts(text: &str) -> Facts {
    let mut facts = Facts {
        installed: HashMap::new(),
        candidates: HashMap::new(),
        cache_updated: false,
        cache_update_time: 0,
        update_failure: None,
    };
    let mut section = "";
    let mut update_rc = 0;
    let mut update_text = String::new();
    let mut policy_pkg: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let mut words = rest.split_whitespace();
            section = match words.next().unwrap_or("") {
                "updated" => {
                    facts.cache_updated = true;
                    update_rc = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
                    "updated"
                }
                "time" => {
                    facts.cache_update_time =
                        words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                    "time"
                }
                "dpkg" => "dpkg",
                "policy" => "policy",
                _ => "end",
            };
            continue;
        }
        match section {
            "updated" => {
                update_text.push_str(line);
                update_text.push('\n');
            }
            "dpkg" => {
                let parts: Vec<&str> = line.splitn(3, '|').collect();
                if parts.len() == 3 {
                    facts.installed.insert(
                        parts[1].to_string(),
                        Installed {
                            status: parts[0].to_string(),
                            version: parts[2].to_string(),
                        },
                    );
                }
            }
            "policy" => {
                if !line.starts_with(' ') && line.ends_with(':') {
                    let name = line.trim_end_matches(':').to_string();
                    facts.candidates.insert(name.clone(), None);
                    policy_pkg = Some(name);
                } else if let (Some(pkg), Some(c)) =
                    (&policy_pkg, line.trim().strip_prefix("Candidate:"))
                {
                    let c = c.trim();
                    facts
                        .candidates
                        .insert(pkg.clone(), (c != "(none)").then(|| c.to_string()));
                }
            }
            _ => {}
        }
    }
    if facts.cache_updated && update_rc != 0 {
        facts.update_failure = Some((update_rc, update_text));
    }
    facts
}

/// Shell-style wildcard match (`*`, `?`), as Ansible matches version pins.
pub(crate) fn fnmatch(pattern: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::modules::sys_test_support::{s, SysHarness};
    use pretty_assertions::assert_eq;
    use serde_json::json;

    /// Fake dpkg-query, apt-cache and apt-get over `$STATE/installed`
    /// (`name version` lines) and `$STATE/available` (`name candidate`).
    pub(crate) fn apt_harness(installed: &str, available: &str) -> SysHarness {
        let h = SysHarness::new();
        std::fs::write(h.state("installed"), installed).unwrap();
        std::fs::write(h.state("available"), available).unwrap();
        h.fake(
            "dpkg-query",
            r#"rc=0; seen=; for a in "$@"; do [ "$a" = "--" ] && { seen=1; continue; }; [ -n "$seen" ] || continue
  a=${a%%:*}; v=$(awk -v n="$a" '$1==n {print $2}' "$STATE/installed")
  if [ -n "$v" ]; then echo "ii |$a|$v"; else echo "dpkg-query: no packages found matching $a" >&2; rc=1; fi; done; exit $rc"#,
        );
        h.fake(
            "apt-cache",
            r#"shift; for a in "$@"; do c=$(awk -v n="$a" '$1==n {print $2}' "$STATE/available"); [ -n "$c" ] || continue
  i=$(awk -v n="$a" '$1==n {print $2}' "$STATE/installed"); echo "$a:"; echo "  Installed: ${i:-(none)}"; echo "  Candidate: $c"; done"#,
        );
        h.fake(
            "apt-get",
            r#"op=; pk=; skip=; sim=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$a" in -o|-t) skip=1;; -s|--simulate) sim=1;; -*) ;; *) if [ -z "$op" ]; then op=$a; else pk="$pk $a"; fi;; esac
done
case "$op" in
  update) [ -f "$STATE/update_fails" ] && { echo "E: network down" >&2; exit 100; }; echo "Hit:1 fake"; exit 0;;
  install) for p in $pk; do n=${p%%=*}; v=${p#*=}; [ "$v" = "$p" ] && v=$(awk -v n="$n" '$1==n {print $2}' "$STATE/available")
      [ -n "$v" ] || { echo "E: Unable to locate package $n" >&2; exit 100; }
      grep -v "^$n " "$STATE/installed" > "$STATE/t"; echo "$n $v" >> "$STATE/t"; mv "$STATE/t" "$STATE/installed"; echo "Setting up $n ($v) ..."; done;;
  remove) for p in $pk; do grep -v "^$p " "$STATE/installed" > "$STATE/t"; mv "$STATE/t" "$STATE/installed"; echo "Removing $p ..."; done;;
  autoremove) if [ -s "$STATE/orphans" ]; then echo "The following packages will be REMOVED:"; cat "$STATE/orphans"; [ -n "$sim" ] || : > "$STATE/orphans"
      else echo "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."; fi;;
esac"#,
        );
        h
    }

    #[test]
    fn fnmatch_pins() {
        assert!(fnmatch("1.2*", "1.2.3-1"));
        assert!(fnmatch("1.?.3*", "1.2.3-1"));
        assert!(!fnmatch("1.3*", "1.2.3-1"));
        assert!(fnmatch("1.2.3-1", "1.2.3-1"));
    }

    const DPKG: &str = "dpkg-query -W -f=${db:Status-Abbrev}|${Package}|${Version}\\n --";
    const OPTS: &str = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";
    const LOCK: &str = "-o DPkg::Lock::Timeout=60";

    #[test]
    #[allow(clippy::type_complexity)]
    fn fixture_table() {
        // (installed, available, args, check, changed, failed, calls after the fact-reading ones)
        let cases: Vec<(&str, &str, Value, bool, bool, bool, Vec<String>)> = vec![
            (
                "",
                "nginx 1.22\n",
                json!({"name": "nginx"}),
                false,
                true,
                false,
                vec![format!("apt-get {LOCK} -y {OPTS} install nginx")],
            ),
            (
                "nginx 1.22\n",
                "nginx 1.22\n",
                json!({"name": "nginx"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                "",
                "nginx 1.22\n",
                json!({"name": "nginx"}),
                true,
                true,
                false,
                vec![],
            ),
            (
                "nginx 1.20\n",
                "nginx 1.22\n",
                json!({"name": ["nginx"], "state": "latest"}),
                false,
                true,
                false,
                vec![format!("apt-get {LOCK} -y {OPTS} install nginx")],
            ),
            (
                "nginx 1.20\n",
                "nginx 1.22\n",
                json!({"name": "nginx", "state": "present"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                "nginx 1.20\n",
                "nginx 1.22\n",
                json!({"name": "nginx=1.20*"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                "nginx 1.20\n",
                "nginx 1.22\n",
                json!({"name": "nginx=1.22", "install_recommends": false}),
                false,
                true,
                false,
                vec![format!(
                    "apt-get {LOCK} -y {OPTS} --no-install-recommends install nginx=1.22"
                )],
            ),
            (
                "nginx 1.22\ncurl 8\n",
                "",
                json!({"pkg": "nginx,curl", "state": "absent", "purge": true, "autoremove": true}),
                false,
                true,
                false,
                vec![format!(
                    "apt-get {LOCK} -q -y --purge --auto-remove remove nginx curl"
                )],
            ),
            (
                "",
                "",
                json!({"name": "nginx", "state": "absent"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                "nginx 1.22\n",
                "",
                json!({"name": "nginx", "state": "absent"}),
                true,
                true,
                false,
                vec![],
            ),
            (
                "",
                "",
                json!({"name": "nosuchpkg"}),
                false,
                false,
                true,
                vec![],
            ),
            (
                "",
                "",
                json!({"name": "nginx", "state": "build-dep"}),
                false,
                false,
                true,
                vec![],
            ),
            (
                "nginx 1.22\n",
                "nginx 1.22\n",
                json!({"name": "nginx:amd64"}),
                false,
                false,
                false,
                vec![],
            ),
        ];
        for (installed, available, args, check, changed, failed, calls) in cases {
            let mut h = apt_harness(installed, available);
            h.check_mode = check;
            let out = h.run(run, args.clone());
            let got = h.take_calls();
            let actions: Vec<String> = got
                .iter()
                .filter(|c| c.starts_with("apt-get"))
                .cloned()
                .collect();
            assert_eq!(
                (out.is_changed(), out.is_failed(), actions),
                (changed, failed, calls),
                "{args}: {out:?}"
            );
            if failed {
                continue;
            }
            // Facts came from one dpkg-query call over all names.
            assert!(got[0].starts_with(DPKG), "{got:?}");
            // A second run after the real one is idempotent.
            if !check && changed {
                let again = h.run(run, args.clone());
                assert!(
                    !again.is_changed(),
                    "second run of {args} changed: {:?}",
                    h.take_calls()
                );
            }
        }
    }

    #[test]
    fn one_round_trip_to_read_one_to_change() {
        use crate::modules::sys_test_support::run_counted;
        let mut h = apt_harness("curl 8\n", "nginx 1\ncurl 8\nvim 9\n");
        let args = json!({"name": ["nginx", "curl", "vim"], "update_cache": true});
        assert_eq!(
            run_counted(&mut h, run, args.clone()).1,
            2,
            "read (with cache refresh), then one install"
        );
        assert_eq!(
            h.take_calls()
                .iter()
                .filter(|c| c.contains(" install "))
                .count(),
            1,
            "all packages in one apt-get"
        );
        assert_eq!(
            run_counted(&mut h, run, args.clone()).1,
            1,
            "nothing to do: one read"
        );
        assert!(
            h.take_calls().iter().all(|c| !c.starts_with("apt-cache")),
            "all installed: apt-cache is not asked"
        );
        h.run(run, json!({"name": ["curl", "nginx", "zsh"]}));
        assert!(
            h.take_calls().contains(&"apt-cache policy zsh".to_string()),
            "only the missing package is looked up"
        );
        h.check_mode = true;
        assert_eq!(
            run_counted(&mut h, run, json!({"name": "nginx", "state": "absent"})).1,
            1
        );
    }

    /// Against this machine's real dpkg and apt-cache, in check mode (reads only).
    #[test]
    fn real_dpkg_and_apt_cache_in_check_mode() {
        if std::process::Command::new("dpkg-query")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: no dpkg-query on this machine");
            return;
        }
        let mut h = SysHarness::new();
        h.check_mode = true;
        let started = std::time::Instant::now();
        let out = h.run(
            run,
            json!({"name": ["dpkg", "coreutils"], "state": "present"}),
        );
        let elapsed = started.elapsed();
        assert!(!out.is_changed() && !out.is_failed(), "{out:?}");
        eprintln!("apt present check of 2 installed packages: {elapsed:?}");
        let out = h.run(run, json!({"name": "dpkg", "state": "absent"}));
        assert!(out.is_changed() && !out.is_failed(), "{out:?}");
        let out = h.run(run, json!({"name": "dpkg=0.0.0-berth"}));
        assert!(
            out.is_changed(),
            "a pin that does not match the installed version changes: {out:?}"
        );
        let out = h.run(run, json!({"name": "berth-no-such-package-x"}));
        assert_eq!(
            s(&out, "msg"),
            "No package matching 'berth-no-such-package-x' is available"
        );
    }

    #[test]
    fn missing_package_message() {
        let mut h = apt_harness("", "");
        let out = h.run(run, json!({"name": "nosuchpkg"}));
        assert_eq!(
            s(&out, "msg"),
            "No package matching 'nosuchpkg' is available"
        );
    }

    #[test]
    fn update_cache_respects_cache_valid_time() {
        // stat reports the cache as written at t=1000; date says now.
        for (now, valid, updated) in [
            ("1500", 3600, false),
            ("9000", 3600, true),
            ("1001", 0, true),
        ] {
            let mut h = apt_harness("nginx 1\n", "nginx 1\n");
            h.fake("stat", "echo 1000");
            h.fake("date", &format!("echo {now}"));
            let mut args = json!({"update_cache": true, "name": "nginx"});
            if valid > 0 {
                args["cache_valid_time"] = json!(valid);
            }
            let out = h.run(run, args);
            let calls = h.take_calls();
            assert_eq!(
                calls
                    .iter()
                    .any(|c| *c == format!("apt-get {LOCK} update -q")),
                updated,
                "{now}: {calls:?}"
            );
            assert_eq!(out.result["cache_updated"], json!(updated));
            assert_eq!(out.result["cache_update_time"], json!(1000));
            assert!(
                !out.is_changed(),
                "a cache refresh alone does not change a package task"
            );
        }
        // update_cache alone reports the refresh as the change; check mode does not refresh.
        let mut h = apt_harness("", "");
        let out = h.run(run, json!({"update_cache": "yes"}));
        assert!(out.is_changed());
        assert_eq!(
            h.take_calls()
                .iter()
                .filter(|c| **c == format!("apt-get {LOCK} update -q"))
                .count(),
            1
        );
        h.check_mode = true;
        let out = h.run(run, json!({"update_cache": "yes"}));
        assert!(out.is_changed());
        assert!(h.take_calls().iter().all(|c| !c.starts_with("apt-get")));
        // A failing refresh fails the task with apt's words.
        let mut h = apt_harness("", "");
        std::fs::write(h.state("update_fails"), "").unwrap();
        let started = std::time::Instant::now();
        let out = h.run(run, json!({"update_cache": true, "update_cache_retries": 2, "update_cache_retry_max_delay": 1}));
        assert!(out.is_failed());
        assert_eq!(
            s(&out, "msg"),
            "Failed to update apt cache: E: network down"
        );
        let updates = h
            .take_calls()
            .iter()
            .filter(|c| c.ends_with(" update -q"))
            .count();
        assert_eq!(updates, 2, "one retry after the first failure");
        assert!(
            started.elapsed() >= std::time::Duration::from_secs(1),
            "waits between tries"
        );
    }

    #[test]
    fn clean_runs_first_and_never_in_check_mode() {
        let mut h = apt_harness("nginx 1\n", "nginx 1\n");
        let out = h.run(run, json!({"clean": true}));
        assert!(out.is_changed());
        assert_eq!(h.take_calls(), vec![format!("apt-get {LOCK} clean")]);
        let out = h.run(run, json!({"clean": true, "name": "nginx"}));
        assert!(
            !out.is_changed(),
            "clean with packages reports the package change only"
        );
        assert_eq!(h.take_calls()[0], format!("apt-get {LOCK} clean"));
        h.check_mode = true;
        assert!(h.run(run, json!({"clean": true})).is_changed());
        assert!(h.take_calls().is_empty());
    }

    #[test]
    fn autoremove_alone_and_in_check_mode() {
        let mut h = apt_harness("", "");
        std::fs::write(h.state("orphans"), "libold\n").unwrap();
        h.check_mode = true;
        let out = h.run(run, json!({"autoremove": true}));
        assert!(out.is_changed());
        assert_eq!(
            h.take_calls(),
            vec![format!("apt-get {LOCK} -y --simulate autoremove")]
        );
        h.check_mode = false;
        assert!(h.run(run, json!({"autoremove": true})).is_changed());
        assert!(!h.run(run, json!({"autoremove": true})).is_changed());
    }

    #[test]
    fn apt_get_failure_reports_command_and_stderr() {
        let mut h = apt_harness("", "ghost 1\n");
        h.fake("apt-get", "echo 'E: dpkg was interrupted' >&2; exit 100");
        let out = h.run(run, json!({"name": "ghost"}));
        assert!(out.is_failed());
        let opts = "-o 'Dpkg::Options::=--force-confdef' -o 'Dpkg::Options::=--force-confold'";
        assert_eq!(
            s(&out, "msg"),
            format!("'apt-get {LOCK} -y {opts} install ghost' failed: E: dpkg was interrupted")
        );
        assert_eq!(s(&out, "rc"), "100");
    }
}
