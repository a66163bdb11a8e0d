//! A cheap native facts module: one round trip, Ansible's fact names, both as
//! `ansible_facts.x` and `ansible_x`.

use serde_json::{json, Map, Value};

use crate::connection::{ConnError, Connection};

const SCRIPT: &str = r#"echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null || hostname 2>/dev/null)"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "system=$(uname -s)"
if [ -r /etc/os-release ]; then sed -n 's/^\(ID\|VERSION_ID\|VERSION_CODENAME\|PRETTY_NAME\|ID_LIKE\)=/os_\1=/p' /etc/os-release; fi
[ -r /etc/debian_version ] && echo "debian_version=$(cat /etc/debian_version)"
echo "memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo 2>/dev/null)"
echo "memfree_kb=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo 2>/dev/null)"
echo "vcpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null)"
echo "init=$(cat /proc/1/comm 2>/dev/null)"
[ -d /run/systemd/system ] && echo "systemd_dir=1"
echo "fips=$(cat /proc/sys/crypto/fips_enabled 2>/dev/null)"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl --version 2>/dev/null | sed -n '1s/^[^ ]* \([0-9]*\).*/systemd_version=\1/p; 2s/^/systemd_features=/p'
fi
for p in apt-get dnf yum apk zypper pacman; do if command -v $p >/dev/null 2>&1; then echo "pkg=$p"; break; fi; done
echo "user_id=$(id -un)"
echo "user_uid=$(id -u)"
r=$(ip -4 route show default 2>/dev/null | head -n1)
if [ -n "$r" ]; then
  dev=$(echo "$r" | sed -n 's/.* dev \([^ ]*\).*/\1/p'); gw=$(echo "$r" | sed -n 's/.* via \([^ ]*\).*/\1/p')
  echo "route_dev=$dev"; echo "route_gw=$gw"
  echo "route_addr=$(ip -4 -o addr show dev "$dev" 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n1)"
fi
py=$(command -v python3 2>/dev/null || command -v python 2>/dev/null)
[ -n "$py" ] && "$py" -c 'import sys, ssl; print("python=%s %d %d %d %s %d" % ((sys.executable,) + tuple(sys.version_info)))' 2>/dev/null
echo "__env__"; env
"#;

/// Gather facts with one exec and return the host-level variables to merge.
pub(crate) fn gather(
    conn: &mut dyn Connection,
) -> Result<Result<Map<String, Value>, String>, ConnError> {
    let out = conn.exec(SCRIPT, None)?;
    if out.rc != 0 && out.stdout.is_empty() {
        return Ok(Err(format!(
            "fact gathering failed: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(Ok(parse(&out.stdout_str())))
}

fn parse(text: &str) -> Map<String, Value> {
    let mut raw: Map<String, Value> = Map::new();
    let mut env = Map::new();
    let mut in_env = false;
    for line in text.lines() {
        if line == "__env__" {
            in_env = true;
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if in_env {
                env.insert(k.to_string(), Value::String(v.to_string()));
            } else {
                raw.insert(
                    k.to_string(),
                    Value::String(v.trim_matches('"').to_string()),
                );
            }
        }
    }
    let s = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = s("os_ID");
    let id_like = s("os_ID_LIKE");
    let distribution = match id.as_str() {
        "debian" => "Debian".to_string(),
        "ubuntu" => "Ubuntu".to_string(),
        "centos" => "CentOS".to_string(),
        "rhel" => "RedHat".to_string(),
        "fedora" => "Fedora".to_string(),
        "rocky" => "Rocky".to_string(),
        "almalinux" => "AlmaLinux".to_string(),
        "alpine" => "Alpine".to_string(),
        "arch" => "Archlinux".to_string(),
        "opensuse-leap" | "sles" => "SLES".to_string(),
        "" => s("system"),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    };
    let family_of = |i: &str| match i {
        "debian" | "ubuntu" | "linuxmint" | "raspbian" => Some("Debian"),
        "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn" => Some("RedHat"),
        "alpine" => Some("Alpine"),
        "arch" | "manjaro" => Some("Archlinux"),
        "sles" | "opensuse-leap" | "opensuse" | "suse" => Some("Suse"),
        _ => None,
    };
    let os_family = family_of(&id)
        .or_else(|| id_like.split_whitespace().find_map(family_of))
        .map(str::to_string)
        .unwrap_or_else(|| distribution.clone());
    let mut version = s("os_VERSION_ID");
    if id == "debian" {
        let dv = s("debian_version");
        if dv.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            version = dv;
        }
    }
    let major = version.split('.').next().unwrap_or("").to_string();
    let memtotal_mb = s("memtotal_kb")
        .parse::<u64>()
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    let memfree_mb = s("memfree_kb")
        .parse::<u64>()
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    let vcpus = s("vcpus").parse::<u64>().unwrap_or(1);
    let service_mgr = if raw.contains_key("systemd_dir") || s("init") == "systemd" {
        "systemd".to_string()
    } else {
        match s("init").as_str() {
            "" => "service".to_string(),
            "init" => "sysvinit".to_string(),
            other => other.to_string(),
        }
    };
    let pkg_mgr = match s("pkg").as_str() {
        "apt-get" => "apt",
        "" => "unknown",
        other => other,
    }
    .to_string();
    let default_ipv4 = if raw.contains_key("route_dev") {
        json!({"address": s("route_addr"), "interface": s("route_dev"), "gateway": s("route_gw")})
    } else {
        json!({})
    };
    // The host's own Python, when it has one (berth needs none): what
    // Ansible reports of the interpreter it runs modules with.
    let python = {
        let p = s("python");
        let f: Vec<&str> = p.split(' ').collect();
        match f.as_slice() {
            [exe, major, minor, micro, level, serial] => {
                let n = |x: &str| x.parse::<u64>().unwrap_or(0);
                Some(json!({
                    "executable": exe,
                    "has_sslcontext": true,
                    "type": "CPython",
                    "version": {"major": n(major), "minor": n(minor), "micro": n(micro), "releaselevel": level, "serial": n(serial)},
                    "version_info": [n(major), n(minor), n(micro), level, n(serial)],
                }))
            }
            _ => None,
        }
    };
    let mut facts = json!({
        "hostname": s("hostname").split('.').next().unwrap_or(""),
        "nodename": s("hostname"),
        "fqdn": s("fqdn"),
        "system": s("system"),
        "kernel": s("kernel"),
        "os_family": os_family,
        "distribution": distribution,
        "distribution_version": version,
        "distribution_major_version": major,
        "distribution_release": s("os_VERSION_CODENAME"),
        "architecture": s("arch"),
        "machine": s("arch"),
        "default_ipv4": default_ipv4,
        "memtotal_mb": memtotal_mb,
        "memfree_mb": memfree_mb,
        "processor_vcpus": vcpus,
        "processor_count": vcpus,
        "service_mgr": service_mgr,
        "pkg_mgr": pkg_mgr,
        "user_id": s("user_id"),
        "user_uid": s("user_uid").parse::<u64>().unwrap_or(0),
        // Ansible's fips collector: /proc/sys/crypto/fips_enabled says 1.
        "fips": s("fips").trim() == "1",
        "env": Value::Object(env),
    });
    // Ansible's systemd collector: on systemd-managed hosts, `systemctl --version`.
    if let (Ok(version), Value::Object(f)) = (s("systemd_version").parse::<u64>(), &mut facts) {
        f.insert(
            "systemd".into(),
            json!({"version": version, "features": s("systemd_features")}),
        );
    }
    if let (Some(py), Value::Object(f)) = (python, &mut facts) {
        let v = &py["version"];
        f.insert(
            "python_version".into(),
            format!("{}.{}.{}", v["major"], v["minor"], v["micro"]).into(),
        );
        f.insert("python".into(), py);
    }
    let mut out = Map::new();
    if let Value::Object(f) = &facts {
        for (k, v) in f {
            out.insert(format!("ansible_{k}"), v.clone());
        }
    }
    out.insert("ansible_facts".into(), facts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::local::LocalConnection;

    #[test]
    fn systemd_version_and_features_as_ansible_reports_them() {
        let f = parse(
            "systemd_dir=1\nsystemd_version=252\nsystemd_features=+PAM +AUDIT -APPARMOR\n__env__\n",
        );
        assert_eq!(
            f["ansible_facts"]["systemd"],
            json!({"version": 252, "features": "+PAM +AUDIT -APPARMOR"})
        );
        assert_eq!(f["ansible_systemd"], f["ansible_facts"]["systemd"]);
        // Not managed by systemd: no systemd fact at all.
        assert!(parse("init=runit\n__env__\n")["ansible_facts"]
            .get("systemd")
            .is_none());
    }

    #[test]
    fn gathers_this_machine() {
        let mut c = LocalConnection::new();
        let f = gather(&mut c).unwrap().unwrap();
        let facts = f["ansible_facts"].as_object().unwrap();
        for key in [
            "hostname",
            "os_family",
            "distribution",
            "architecture",
            "memtotal_mb",
            "processor_vcpus",
            "service_mgr",
            "pkg_mgr",
            "user_id",
            "env",
            "fips",
        ] {
            assert!(facts.contains_key(key), "{key}");
        }
        let fips = std::fs::read_to_string("/proc/sys/crypto/fips_enabled").unwrap_or_default();
        assert_eq!(facts["fips"], json!(fips.trim() == "1"));
        assert_eq!(f["ansible_architecture"], facts["architecture"]);
        assert_eq!(facts["os_family"], "Debian");
        assert_eq!(facts["pkg_mgr"], "apt");
        assert!(facts["memtotal_mb"].as_u64().unwrap() > 0);
        // This machine has a python3: reported as Ansible reports its interpreter.
        let want = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys; print(sys.executable, '%d.%d.%d' % sys.version_info[:3])",
            ])
            .output()
            .unwrap();
        let want = String::from_utf8_lossy(&want.stdout).trim().to_string();
        let py = &facts["python"];
        assert_eq!(
            format!(
                "{} {}",
                py["executable"].as_str().unwrap(),
                facts["python_version"].as_str().unwrap()
            ),
            want
        );
        assert_eq!(py["version"]["major"], 3);
        assert_eq!(py["version_info"][0], 3);
        assert_eq!(f["ansible_python"], *py);
    }
}
