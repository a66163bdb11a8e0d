//! `user`: local accounts via `getent`, `useradd`, `usermod`, `userdel`.
//! One exec reads the account, its groups, its password hash (only when a
//! password is managed) and which named groups exist; one more changes it.

use serde_json::{Map, Value};

use super::args::Args;
use super::{quote, ModuleContext, ModuleOutcome};
use crate::connection::ConnError;

const KNOWN: &[&str] = &[
    "name",
    "user",
    "state",
    "uid",
    "non_unique",
    "group",
    "groups",
    "append",
    "shell",
    "home",
    "create_home",
    "createhome",
    "system",
    "comment",
    "password",
    "update_password",
    "remove",
    "force",
    "move_home",
    "password_lock",
    "skeleton",
    "expires",
    "password_expire_min",
    "password_expire_max",
    "password_expire_warn",
    "umask",
    "uid_min",
    "uid_max",
    "password_expire_account_disable",
    "local",
    "generate_ssh_key",
    "ssh_key_bits",
    "ssh_key_type",
    "ssh_key_file",
    "ssh_key_comment",
    "ssh_key_passphrase",
];
const MARK: &str = "@@berth-user ";
/// Ansible's placeholder for a password in results.
const NOT_LOGGED: &str = "NOT_LOGGING_PASSWORD";

struct Params {
    name: String,
    state: String,
    uid: Option<i64>,
    non_unique: bool,
    group: Option<String>,
    groups: Option<Vec<String>>,
    append: bool,
    shell: Option<String>,
    home: Option<String>,
    create_home: bool,
    system: bool,
    comment: Option<String>,
    password: Option<String>,
    update_password: String,
    remove: bool,
    force: bool,
    move_home: bool,
    password_lock: Option<bool>,
    skeleton: Option<String>,
    umask: Option<String>,
    /// Account expiry, seconds since the epoch (negative: never).
    expires: Option<f64>,
    /// Password ageing (chage -m/-M/-W), in days.
    expire_min: Option<i64>,
    expire_max: Option<i64>,
    expire_warn: Option<i64>,
    ssh_key: Option<SshKey>,
    /// `uid_min`/`uid_max`: the range useradd picks a new uid from.
    uid_min: Option<i64>,
    uid_max: Option<i64>,
    /// `password_expire_account_disable`: days after the password expires
    /// before the account is disabled (useradd/usermod -f).
    inactive: Option<i64>,
    /// `local`: libuser's luseradd/lusermod/luserdel on the local files,
    /// with groups through lgroupmod and expiry through lchage.
    local: bool,
}

fn parse(args: &Map<String, Value>) -> Result<Params, String> {
    let a = Args::new("user", args);
    a.check_known(KNOWN)?;
    let local = a.bool("local", false)?;
    if local {
        for key in ["umask", "uid_min", "uid_max"] {
            if a.get(key).is_some() {
                return Err(format!("'{key}' can not be used with 'local'"));
            }
        }
    }
    let expires = match a.get("expires") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    format!(
                        "argument 'expires' is of type {} and we were unable to convert to float",
                        super::args::type_name(v)
                    )
                })?,
        ),
    };
    let name = match a.str("name")? {
        Some(n) => n,
        None => a
            .required_str("user")
            .map_err(|_| "missing required arguments: name".to_string())?,
    };
    let create_home = if a.get("create_home").is_some() {
        a.bool("create_home", true)?
    } else {
        a.bool("createhome", true)?
    };
    Ok(Params {
        name,
        state: a
            .choice("state", &["absent", "present"], Some("present"))?
            .unwrap_or_default(),
        uid: a.int("uid")?,
        non_unique: a.bool("non_unique", false)?,
        group: a.str("group")?,
        groups: if a.get("groups").is_some() {
            Some(a.list("groups")?)
        } else {
            None
        },
        append: a.bool("append", false)?,
        shell: a.str("shell")?,
        home: a.str("home")?,
        create_home,
        system: a.bool("system", false)?,
        comment: a.str("comment")?,
        password: a.str("password")?,
        update_password: a
            .choice("update_password", &["always", "on_create"], Some("always"))?
            .unwrap_or_default(),
        remove: a.bool("remove", false)?,
        force: a.bool("force", false)?,
        move_home: a.bool("move_home", false)?,
        password_lock: if a.get("password_lock").is_some() {
            Some(a.bool("password_lock", false)?)
        } else {
            None
        },
        skeleton: a.str("skeleton")?,
        umask: a.str("umask")?,
        expires,
        expire_min: a.int("password_expire_min")?,
        expire_max: a.int("password_expire_max")?,
        expire_warn: a.int("password_expire_warn")?,
        ssh_key: SshKey::parse(&a)?,
        uid_min: a.int("uid_min")?,
        uid_max: a.int("uid_max")?,
        inactive: a.int("password_expire_account_disable")?,
        local,
    })
}

/// `generate_ssh_key` and its `ssh_key_*` options.
struct SshKey {
    bits: i64,
    kind: String,
    file: Option<String>,
    comment: Option<String>,
    passphrase: Option<String>,
}

impl SshKey {
    fn parse(a: &Args<'_>) -> Result<Option<SshKey>, String> {
        let key = SshKey {
            bits: a.int("ssh_key_bits")?.unwrap_or(0),
            kind: a.str("ssh_key_type")?.unwrap_or_else(|| "rsa".into()),
            file: a.str("ssh_key_file")?,
            comment: a.str("ssh_key_comment")?,
            passphrase: a.str("ssh_key_passphrase")?,
        };
        Ok(a.bool("generate_ssh_key", false)?.then_some(key))
    }

    /// One exec as Ansible's ssh_key_gen, ssh_key_fingerprint and
    /// get_ssh_public_key run: the `.ssh` folder made 0700 for the user, an
    /// existing key (or public half) kept unless `force`, ssh-keygen with the
    /// passphrase given through an askpass helper fed from stdin (never on a
    /// command line), the files handed to the user, then the fingerprint and
    /// the public key read back.
    fn script(&self, name: &str, force: bool, check: bool) -> String {
        let file = self
            .file
            .clone()
            .unwrap_or_else(|| format!(".ssh/id_{}", self.kind));
        let locate = if file.starts_with('/') {
            format!("f={}", quote(&file))
        } else {
            format!(
                "if [ ! -e \"$h\" ] && [ {check} = no ]; then echo \"User $u home directory does not exist\" >&2; exit 1; fi; f=\"$h\"/{}",
                quote(&file),
                check = if check { "yes" } else { "no" }
            )
        };
        let mut keygen = format!("ssh-keygen -t {}", quote(&self.kind));
        if self.bits > 0 {
            keygen.push_str(&format!(" -b {}", self.bits));
        }
        keygen.push_str(&match &self.comment {
            Some(c) => format!(" -C {}", quote(c)),
            None => " -C \"ansible-generated on $(hostname)\"".to_string(),
        });
        keygen.push_str(" -f \"$f\"");
        let keygen = if self.passphrase.is_some() {
            format!(
                "IFS= read -r BERTH_KEY_PASS; export BERTH_KEY_PASS; a=$(mktemp) && chmod 700 \"$a\" && printf '%s\\n' '#!/bin/sh' 'printf \"%s\\\\n\" \"$BERTH_KEY_PASS\"' > \"$a\" || exit 1; \
                 SSH_ASKPASS=\"$a\" SSH_ASKPASS_REQUIRE=force {keygen} </dev/null; r=$?; rm -f -- \"$a\"; unset BERTH_KEY_PASS"
            )
        } else {
            format!("{keygen} -N '' </dev/null; r=$?")
        };
        let check = if check { "yes" } else { "no" };
        format!(
            "u={u}; pw=$(getent passwd \"$u\") || {{ echo '{MARK}nouser'; exit 0; }}\n\
             h=$(printf '%s' \"$pw\" | cut -d: -f6); ug=$(printf '%s' \"$pw\" | cut -d: -f3,4)\n\
             {locate}\n\
             echo '{MARK}file'; printf '%s\\n' \"$f\"; d=$(dirname -- \"$f\"); gen=yes\n\
             if [ ! -e \"$d\" ]; then\n\
               if [ {check} = yes ]; then gen=check; else mkdir -m 0700 -- \"$d\" && chown -- \"$ug\" \"$d\" || {{ echo \"Failed to create $d\" >&2; exit 1; }}; fi\n\
             fi\n\
             if [ $gen = yes ] && [ -e \"$f\" ]; then\n\
               if [ {force} = yes ]; then echo '{MARK}warn'; echo \"Overwriting existing ssh key private file \\\"$f\\\"\"; else echo '{MARK}warn'; echo \"Found existing ssh key private file \\\"$f\\\", no force, so skipping ssh-keygen generation\"; gen=no; fi\n\
             fi\n\
             if [ $gen = yes ] && [ -e \"$f.pub\" ]; then\n\
               if [ {force} = yes ]; then echo '{MARK}warn'; echo \"Overwriting existing ssh key public file \\\"$f.pub\\\"\"; else echo '{MARK}warn'; echo \"Found existing ssh key public file \\\"$f.pub\\\", no force, so skipping ssh-keygen generation\"; gen=no; fi\n\
             fi\n\
             if [ $gen = yes ] && [ {check} = no ]; then\n\
               rm -f -- \"$f\" \"$f.pub\"; echo '{MARK}keygen'; {keygen}\n\
               [ $r = 0 ] || exit $r\n\
               chown -- \"$ug\" \"$f\" \"$f.pub\" || exit 1\n\
             fi\n\
             [ $gen = no ] || echo '{MARK}changed'\n\
             echo '{MARK}fingerprint'; if [ -e \"$f\" ]; then ssh-keygen -l -f \"$f\" 2>&1; fi\n\
             echo '{MARK}public'; cat -- \"$f.pub\" 2>/dev/null; exit 0\n",
            u = quote(name),
            force = if force { "yes" } else { "no" },
        )
    }
}

/// Generate the key when asked and report it as Ansible does
/// (`ssh_fingerprint`, `ssh_key_file`, `ssh_public_key`, warnings).
fn ssh_key(
    ctx: &mut ModuleContext<'_>,
    p: &Params,
    key: &SshKey,
    mut out: ModuleOutcome,
) -> Result<ModuleOutcome, ConnError> {
    let stdin = key
        .passphrase
        .as_ref()
        .map(|pp| format!("{pp}\n").into_bytes());
    let res = ctx.exec(
        &key.script(&p.name, p.force, ctx.check_mode),
        stdin.as_deref(),
    )?;
    if res.rc != 0 {
        return Ok(ModuleOutcome::failed(res.stderr_str().trim().to_string())
            .with("name", p.name.clone())
            .with("rc", res.rc));
    }
    let text = res.stdout_str();
    let mut section = "";
    let (mut file, mut fingerprint, mut public) = (None, String::new(), String::new());
    let mut warnings = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix(MARK) {
            section = s;
            if s == "changed" {
                out = out.with("changed", true);
            }
            if s == "nouser" {
                return Ok(out);
            }
            continue;
        }
        match section {
            "file" => file = Some(line.to_string()),
            "warn" => warnings.push(Value::String(line.to_string())),
            "fingerprint" => fingerprint.push_str(&format!("{line}\n")),
            "public" => public.push_str(&format!("{line}\n")),
            _ => {}
        }
    }
    if !warnings.is_empty() {
        out = out.with("warnings", warnings);
    }
    let public = public.trim();
    Ok(out
        .with("ssh_fingerprint", fingerprint.trim())
        .with("ssh_key_file", file.unwrap_or_default())
        .with(
            "ssh_public_key",
            if public.is_empty() {
                Value::Null
            } else {
                Value::String(public.to_string())
            },
        ))
}

/// The account as `/etc/passwd` (and friends) have it.
#[derive(Debug, Default)]
struct Account {
    uid: i64,
    gid: i64,
    comment: String,
    home: String,
    shell: String,
    primary: String,
    groups: Vec<String>,
    hash: String,
    /// Shadow's password ageing (min, max, warn) and account expiry, in
    /// days; -1 where the field is empty, as getspnam reports it.
    ageing: [i64; 3],
    expire_days: i64,
}

struct Facts {
    account: Option<Account>,
    /// Of the account's home and the one asked for, those that exist.
    homes: Vec<String>,
    /// Named groups (from `group`/`groups`) that exist.
    /// Each asked-for group that exists: as given (a name or a gid) and its name.
    known_groups: Vec<(String, String)>,
    /// A group with the user's own name exists.
    own_group: bool,
}

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    let p = match parse(args) {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutcome::failed(msg)),
    };
    let warn = p.password.as_deref().is_some_and(looks_unhashed);
    let mut out = apply(ctx, &p)?;
    if let Some(key) = p
        .ssh_key
        .as_ref()
        .filter(|_| p.state == "present" && !out.is_failed())
    {
        out = ssh_key(ctx, &p, key, out)?;
    }
    let mut warnings = match out.result.remove("warnings") {
        Some(Value::Array(w)) => w,
        _ => Vec::new(),
    };
    if p.append && p.groups.is_none() {
        warnings.push(Value::String("'append' is set, but no 'groups' are specified. Use 'groups' for appending new groups.This will change to an error in Ansible 2.14.".into()));
    }
    if warn {
        warnings.push(Value::String("The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly.".into()));
    }
    if !warnings.is_empty() {
        out = out.with("warnings", warnings);
    }
    Ok(out)
}

impl Params {
    fn ageing_asked(&self) -> bool {
        self.expire_min.is_some() || self.expire_max.is_some() || self.expire_warn.is_some()
    }

    /// `chage` for the password ageing asked for that differs from `current`
    /// (min, max, warn; None: a new account, everything asked is set).
    fn chage(&self, current: Option<[i64; 3]>) -> Option<String> {
        let mut flags = String::new();
        for (i, (flag, want)) in [
            ("-m", self.expire_min),
            ("-M", self.expire_max),
            ("-W", self.expire_warn),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(w) = want.filter(|w| current.is_none_or(|c| c[i] != *w)) {
                flags.push_str(&format!(" {flag} {w}"));
            }
        }
        (!flags.is_empty()).then(|| format!("chage{flags} {}", quote(&self.name)))
    }
}

/// `expires` as lchage -E takes it: days since the epoch, -1 for never.
fn lchage_days(expires: f64) -> i64 {
    if expires < 0.0 {
        -1
    } else {
        (expires.floor() as i64).div_euclid(86400)
    }
}

/// `expires` as useradd/usermod -e take it: the UTC date, or '' (never)
/// for a negative time.
fn expiry_date(expires: f64) -> String {
    if expires < 0.0 {
        return String::new();
    }
    let (y, m, d) = civil_from_days((expires / 86400.0).floor() as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Ansible's check that `password` is a crypt(3) hash, not the password itself.
fn looks_unhashed(pw: &str) -> bool {
    if matches!(pw, "*" | "!" | "*************") {
        return false;
    }
    if pw.contains([':', '*', '!']) || !pw.contains('$') {
        return true;
    }
    let fields: Vec<&str> = pw.split('$').collect();
    if fields.len() < 3 {
        return true;
    }
    let last = fields[fields.len() - 1];
    let expected = match fields[1] {
        "1" => Some(22),
        "5" | "y" => Some(43),
        "6" => Some(86),
        _ => None,
    };
    last.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '=')))
        || expected.is_some_and(|n| last.len() != n)
}

fn apply(ctx: &mut ModuleContext<'_>, p: &Params) -> Result<ModuleOutcome, ConnError> {
    let q = quote(&p.name);
    let mut wanted_groups: Vec<String> = p.group.iter().cloned().collect();
    wanted_groups.extend(p.groups.iter().flatten().cloned());

    // Round trip 1.
    // With `local`, only the local account file says whether it exists.
    let passwd = if p.local {
        format!(
            "grep -- {} /etc/passwd | tail -n 1",
            quote(&format!("^{}:", p.name))
        )
    } else {
        format!("getent passwd {q}")
    };
    let mut script = format!(
        "echo '{MARK}passwd'; {passwd}\n\
         echo '{MARK}primary'; id -gn {q} 2>/dev/null\n\
         echo '{MARK}groups'; id -Gn {q} 2>/dev/null\n\
         echo '{MARK}own'; getent group {q} >/dev/null && echo yes\n"
    );
    if p.password.is_some() || p.password_lock.is_some() || p.expires.is_some() || p.ageing_asked()
    {
        script.push_str(&format!("echo '{MARK}shadow'; getent shadow {q}\n"));
    }
    // Whether the account's home (or the one asked for) is there: an
    // existing user gets a missing home created (Ansible's create_home).
    script.push_str(&format!(
        "echo '{MARK}homes'; for h in \"$(getent passwd {q} | cut -d: -f6)\" {}; do [ -n \"$h\" ] && [ -e \"$h\" ] && printf '%s\\n' \"$h\"; done\n",
        p.home.as_deref().map(quote).unwrap_or_default()
    ));
    script.push_str(&format!("echo '{MARK}known'\n"));
    for g in &wanted_groups {
        script.push_str(&format!(
            "_g=$(getent group {0}) && printf '%s\\t%s\\n' {0} \"${{_g%%:*}}\"\n",
            quote(g)
        ));
    }
    let facts = parse_facts(&ctx.exec(&script, None)?.stdout_str(), &p.name);

    if p.state == "absent" {
        let out = ModuleOutcome::changed(facts.account.is_some())
            .with("name", p.name.clone())
            .with("state", "absent");
        if facts.account.is_none() {
            return Ok(out);
        }
        let out = out.with("force", p.force).with("remove", p.remove);
        if ctx.check_mode {
            return Ok(out);
        }
        let mut cmd = String::from(if p.local { "luserdel" } else { "userdel" });
        if p.force && !p.local {
            cmd.push_str(" -f");
        }
        if p.remove {
            cmd.push_str(" -r");
        }
        return change(ctx, &format!("{cmd} {q}"), out, &p.name);
    }

    for g in &wanted_groups {
        if !facts.known_groups.iter().any(|(given, _)| given == g) {
            return Ok(ModuleOutcome::failed(format!("Group {g} does not exist"))
                .with("name", p.name.clone()));
        }
    }
    let groups_csv = p.groups.as_ref().map(|g| g.join(","));

    let Some(acct) = facts.account else {
        // Create.
        let mut c = String::from(if p.local { "luseradd" } else { "useradd" });
        if let Some(uid) = p.uid {
            c.push_str(&format!(" -u {uid}"));
            if p.non_unique {
                c.push_str(" -o");
            }
        }
        match &p.group {
            Some(g) => c.push_str(&format!(" -g {}", quote(g))),
            // luseradd spells "no user group" -n.
            None if facts.own_group => c.push_str(if p.local { " -n" } else { " -N" }),
            None => {}
        }
        if let Some(csv) = groups_csv.as_ref().filter(|c| !c.is_empty() && !p.local) {
            c.push_str(&format!(" -G {}", quote(csv)));
        }
        for (flag, v) in [
            ("-c", &p.comment),
            ("-d", &p.home),
            ("-s", &p.shell),
            ("-p", &p.password),
        ] {
            if let Some(v) = v {
                c.push_str(&format!(" {flag} {}", quote(v)));
            }
        }
        if p.create_home {
            if !p.local {
                c.push_str(" -m");
            }
            if let Some(k) = &p.skeleton {
                c.push_str(&format!(" -k {}", quote(k)));
            }
            if let Some(u) = &p.umask {
                c.push_str(&format!(" -K UMASK={}", quote(u)));
            }
        } else {
            c.push_str(" -M");
        }
        if p.system {
            c.push_str(" -r");
        }
        if let Some(n) = p.inactive {
            c.push_str(&format!(" -f {n}"));
        }
        if let Some(n) = p.uid_min {
            c.push_str(&format!(" -K UID_MIN={n}"));
        }
        if let Some(n) = p.uid_max {
            c.push_str(&format!(" -K UID_MAX={n}"));
        }
        if let Some(e) = p.expires.filter(|_| !p.local) {
            c.push_str(&format!(" -e {}", quote(&expiry_date(e))));
        }
        c.push_str(&format!(" {q}"));
        if p.local {
            if let Some(e) = p.expires {
                c.push_str(&format!(" && lchage -E {} {q}", lchage_days(e)));
            }
            for g in p.groups.iter().flatten() {
                c.push_str(&format!(" && lgroupmod -M {q} {}", quote(g)));
            }
        }
        if let Some(ch) = p.chage(None) {
            c.push_str(&format!(" && {ch}"));
        }
        if p.password_lock == Some(true) {
            let m = if p.local { "lusermod" } else { "usermod" };
            c.push_str(&format!(" && {m} -L {q}"));
        }
        let mut out = ModuleOutcome::changed(true)
            .with("name", p.name.clone())
            .with("state", "present")
            .with("system", p.system)
            .with("create_home", p.create_home);
        if let Some(g) = &p.groups {
            out = out.with("groups", g.join(","));
        }
        if p.password.is_some() {
            out = out.with("password", NOT_LOGGED);
        }
        if ctx.check_mode {
            return Ok(out);
        }
        return change(ctx, &c, out, &p.name);
    };

    // Modify.
    let mut c = String::new();
    let mut local_after = String::new();
    if let Some(uid) = p.uid.filter(|u| *u != acct.uid) {
        c.push_str(&format!(" -u {uid}"));
        if p.non_unique {
            c.push_str(" -o");
        }
    }
    if let Some(g) = &p.group {
        let same = match g.parse::<i64>() {
            Ok(gid) => gid == acct.gid,
            Err(_) => *g == acct.primary,
        };
        if !same && p.local {
            // lusermod takes the number only (Ansible passes the gid).
            c.push_str(&format!(
                " -g \"$(getent group {} | cut -d: -f3)\"",
                quote(g)
            ));
        } else if !same {
            c.push_str(&format!(" -g {}", quote(g)));
        }
    }
    if let Some(wanted) = &p.groups {
        // Groups given by gid compare by name, as Ansible's get_groups_set does.
        let wanted: Vec<String> = wanted
            .iter()
            .map(|g| {
                facts
                    .known_groups
                    .iter()
                    .find(|(given, _)| given == g)
                    .map_or_else(|| g.clone(), |(_, name)| name.clone())
            })
            .collect();
        let current: Vec<&String> = acct.groups.iter().filter(|g| **g != acct.primary).collect();
        let wanted: Vec<&String> = wanted.iter().filter(|g| **g != acct.primary).collect();
        let missing = wanted.iter().any(|g| !current.contains(g));
        let extra = current.iter().any(|g| !wanted.contains(g));
        let csv: Vec<&str> = wanted.iter().map(|g| g.as_str()).collect();
        if p.local {
            // lgroupmod adds and removes members one group at a time.
            if missing || (extra && !p.append) {
                for g in wanted.iter().filter(|g| !current.contains(g)) {
                    local_after.push_str(&format!(" && lgroupmod -M {q} {}", quote(g)));
                }
                if !p.append {
                    for g in current.iter().filter(|g| !wanted.contains(g)) {
                        local_after.push_str(&format!(" && lgroupmod -m {q} {}", quote(g)));
                    }
                }
            }
        } else if p.append {
            if missing {
                c.push_str(&format!(" -a -G {}", quote(&csv.join(","))));
            }
        } else if missing || extra {
            c.push_str(&format!(" -G {}", quote(&csv.join(","))));
        }
    }
    if let Some(v) = p.comment.as_ref().filter(|v| **v != acct.comment) {
        c.push_str(&format!(" -c {}", quote(v)));
    }
    if let Some(v) = p.home.as_ref().filter(|v| **v != acct.home) {
        c.push_str(&format!(" -d {}", quote(v)));
        if p.move_home {
            c.push_str(" -m");
        }
    }
    if let Some(v) = p.shell.as_ref().filter(|v| **v != acct.shell) {
        c.push_str(&format!(" -s {}", quote(v)));
    }
    let current_hash = acct.hash.trim_start_matches('!');
    if let Some(pw) = &p.password {
        if p.update_password == "always" && pw.trim_start_matches('!') != current_hash {
            c.push_str(&format!(" -p {}", quote(pw)));
        }
    }
    // Expiry as Ansible compares it: never (negative) against a set date,
    // else the day.
    if let Some(e) = p.expires {
        let change = if e < 0.0 {
            acct.expire_days >= 0
        } else {
            acct.expire_days < 0 || acct.expire_days != (e / 86400.0).floor() as i64
        };
        if change && p.local {
            local_after.push_str(&format!(" && lchage -E {} {q}", lchage_days(e)));
        } else if change {
            c.push_str(&format!(" -e {}", quote(&expiry_date(e))));
        }
    }
    // Ansible passes -f whenever it is given (and so reports a change).
    if let Some(n) = p.inactive {
        c.push_str(&format!(" -f {n}"));
    }
    match p.password_lock {
        Some(true) if !acct.hash.starts_with('!') => c.push_str(" -L"),
        Some(false) if acct.hash.starts_with('!') => c.push_str(" -U"),
        _ => {}
    }
    // The home the account ends with; missing, it is made as useradd -m
    // would (Ansible's create_homedir): the skeleton copied, HOME_MODE (or
    // the login.defs UMASK) applied, everything owned by the user.
    let final_home = p.home.clone().unwrap_or_else(|| acct.home.clone());
    let moved = p.move_home && p.home.as_ref().is_some_and(|h| *h != acct.home);
    let make_home =
        p.create_home && !moved && !final_home.is_empty() && !facts.homes.contains(&final_home);
    let mut after = String::new();
    if make_home {
        let skel = p.skeleton.clone().unwrap_or_else(|| "/etc/skel".into());
        after = format!(
            " && {{ h={h}; sk={sk}; if [ -d \"$sk\" ]; then mkdir -p -- \"$(dirname -- \"$h\")\" && cp -a -- \"$sk\" \"$h\"; else mkdir -p -- \"$h\"; fi || exit 1; \
             m=$(sed -n 's/^HOME_MODE[[:space:]]*\\([0-7]*\\).*/\\1/p' /etc/login.defs 2>/dev/null | head -n1); \
             if [ -z \"$m\" ]; then u=$(sed -n 's/^UMASK[[:space:]]*\\([0-7]*\\).*/\\1/p' /etc/login.defs 2>/dev/null | head -n1); m=$(printf '%o' $(( 0777 & ~0${{u:-022}} ))); fi; \
             chmod \"$m\" \"$h\" && chown -R -- \"$(id -u {q}):$(id -g {q})\" \"$h\"; }}",
            h = quote(&final_home),
            sk = quote(&skel),
        );
    }
    let chage = p.chage(Some(acct.ageing));
    if let Some(ch) = &chage {
        after.push_str(&format!(" && {ch}"));
    }
    let local_change = !local_after.is_empty();
    after.push_str(&local_after);
    let mut out =
        ModuleOutcome::changed(!c.is_empty() || make_home || chage.is_some() || local_change)
            .with("name", p.name.clone())
            .with("state", "present")
            .with("uid", acct.uid)
            .with("group", acct.gid)
            .with("comment", acct.comment.clone())
            .with("home", acct.home.clone())
            .with("shell", acct.shell.clone())
            .with("append", p.append)
            .with("move_home", p.move_home);
    if let Some(g) = &p.groups {
        out = out.with("groups", g.join(","));
    }
    if p.password.is_some() {
        out = out.with("password", NOT_LOGGED);
    }
    if (c.is_empty() && !make_home && chage.is_none() && !local_change) || ctx.check_mode {
        return Ok(out);
    }
    let cmd = if c.is_empty() {
        "true".to_string()
    } else if p.local {
        format!("lusermod{c} {q}")
    } else {
        format!("usermod{c} {q}")
    };
    change(ctx, &format!("{cmd}{after}"), out, &p.name)
}

/// Run the change, then read the account back for the result.
fn change(
    ctx: &mut ModuleContext<'_>,
    cmd: &str,
    mut out: ModuleOutcome,
    name: &str,
) -> Result<ModuleOutcome, ConnError> {
    let res = ctx.exec(
        &format!("{cmd} || exit $?\ngetent passwd {} || true", quote(name)),
        None,
    )?;
    if res.rc != 0 {
        return Ok(ModuleOutcome::failed(res.stderr_str().trim().to_string())
            .with("name", name.to_string())
            .with("rc", res.rc));
    }
    let stderr = res.stderr_str();
    if !stderr.is_empty() {
        out = out.with("stderr", stderr.clone()).with(
            "stderr_lines",
            Value::Array(
                stderr
                    .lines()
                    .map(|l| Value::String(l.to_string()))
                    .collect(),
            ),
        );
    }
    if let Some(a) = parse_passwd(&res.stdout_str(), name) {
        out = out
            .with("uid", a.uid)
            .with("group", a.gid)
            .with("comment", a.comment)
            .with("home", a.home)
            .with("shell", a.shell);
    }
    Ok(out)
}

fn parse_passwd(text: &str, name: &str) -> Option<Account> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some(Account {
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            comment: f[4].to_string(),
            home: f[5].to_string(),
            shell: f[6].to_string(),
            ..Account::default()
        })
    })
}

fn parse_facts(text: &str, name: &str) -> Facts {
    let mut sections: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    let mut current = "";
    for line in text.lines() {
        if let Some(s) = line.strip_prefix(MARK) {
            current = s;
            sections.entry(current).or_default();
        } else {
            sections.entry(current).or_default().push(line);
        }
    }
    let get = |k: &str| sections.get(k).cloned().unwrap_or_default();
    let account = parse_passwd(&get("passwd").join("\n"), name).map(|mut a| {
        a.primary = get("primary")
            .first()
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        a.groups = get("groups")
            .first()
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        // The whole shadow line: name:hash:lastchg:min:max:warn:inactive:expire:
        let shadow: Vec<String> = get("shadow")
            .first()
            .map(|l| l.trim().split(':').map(str::to_string).collect())
            .unwrap_or_default();
        let field = |i: usize| {
            shadow
                .get(i)
                .and_then(|f| f.parse::<i64>().ok())
                .unwrap_or(-1)
        };
        a.hash = shadow.get(1).cloned().unwrap_or_default();
        a.ageing = [field(3), field(4), field(5)];
        // No shadow entry at all reads as 0 (Ansible's lookup fails and
        // falls back to '0'), so an expiry setting writes one.
        a.expire_days = if shadow.is_empty() { 0 } else { field(7) };
        a
    });
    Facts {
        account,
        homes: get("homes").iter().map(|s| s.to_string()).collect(),
        known_groups: get("known")
            .iter()
            .filter_map(|l| l.split_once('\t'))
            .map(|(given, name)| (given.to_string(), name.to_string()))
            .collect(),
        own_group: get("own").iter().any(|l| l.trim() == "yes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys_test_support::{
        logging_wrappers, s, AccountGuard, SysHarness, ACCOUNTS,
    };
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn expiry_dates_as_useradd_takes_them() {
        assert_eq!(expiry_date(2529881062.0), "2050-03-03");
        assert_eq!(expiry_date(0.0), "1970-01-01");
        assert_eq!(expiry_date(951782400.0), "2000-02-29");
        assert_eq!(expiry_date(-1.0), "");
    }

    #[test]
    fn plaintext_passwords_are_told_from_hashes_as_ansible_does() {
        let sha512 = format!("$6${}${}", "saltsalt", "a".repeat(86));
        for (pw, unhashed) in [
            ("plaintextpassword", true),
            ("*", false),
            ("!", false),
            ("x:y$1$z", true),
            ("$6$salt", true),
            (sha512.as_str(), false),
            ("$6$salt$short", true),
            ("$1$salt$0123456789012345678901", false),
            ("$5$salt$bad char in hash with spaces......", true),
            ("$2b$12$anything", false),
        ] {
            assert_eq!(looks_unhashed(pw), unhashed, "{pw}");
        }
    }

    fn guard(users: &[&str], groups: &[&str]) -> AccountGuard {
        let g = AccountGuard {
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        };
        g.clean();
        g
    }

    fn passwd_line(u: &str) -> String {
        let out = std::process::Command::new("getent")
            .args(["passwd", u])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Root only: a throwaway user name and two fresh groups (removed when
    /// the guard drops), under the accounts lock.
    fn user_and_two_groups(
        u: &str,
        a: &str,
        b: &str,
    ) -> Option<(
        std::sync::MutexGuard<'static, ()>,
        AccountGuard,
        String,
        String,
        String,
    )> {
        if !crate::modules::sys_test_support::is_root() {
            eprintln!("skipped: managing real accounts needs root");
            return None;
        }
        let lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let id = std::process::id() % 100000;
        let user = format!("berthtest_{u}{id}");
        let (g1, g2) = (format!("berthtest_{a}{id}"), format!("berthtest_{b}{id}"));
        let accounts = guard(&[&user], &[&g1, &g2, &user]);
        for g in [&g1, &g2] {
            assert!(std::process::Command::new("groupadd")
                .arg(g)
                .status()
                .unwrap()
                .success());
        }
        Some((lock, accounts, user, g1, g2))
    }

    #[test]
    fn fixture_table_on_real_accounts() {
        let Some((_lock, accounts, u, g1, g2)) = user_and_two_groups("u", "a", "b") else {
            return;
        };
        let home = format!("/tmp/{u}");
        let hash = "$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";
        // (args, check, changed, failed, state-changing calls)
        let cases: Vec<(Value, bool, bool, bool, Vec<String>)> = vec![
            (
                json!({"name": u, "uid": 47411, "home": home, "shell": "/bin/sh"}),
                true,
                true,
                false,
                vec![],
            ),
            (
                json!({"name": u, "uid": 47411, "home": home, "shell": "/bin/sh"}),
                false,
                true,
                false,
                vec![format!("useradd -u 47411 -d {home} -s /bin/sh -m {u}")],
            ),
            (
                json!({"name": u, "uid": 47411, "home": home, "shell": "/bin/sh"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "groups": [g1.clone()], "comment": "Test User"}),
                true,
                true,
                false,
                vec![],
            ),
            (
                json!({"name": u, "groups": [g1.clone()], "comment": "Test User"}),
                false,
                true,
                false,
                vec![format!("usermod -G {g1} -c Test User {u}")],
            ),
            (
                json!({"name": u, "groups": g1.clone(), "comment": "Test User"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "groups": [g2.clone()], "append": true}),
                false,
                true,
                false,
                vec![format!("usermod -a -G {g2} {u}")],
            ),
            (
                json!({"name": u, "groups": [g2.clone()], "append": true}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "groups": [g1.clone(), g2.clone()]}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "groups": [g2.clone()]}),
                false,
                true,
                false,
                vec![format!("usermod -G {g2} {u}")],
            ),
            (
                json!({"name": u, "group": g1.clone(), "shell": "/bin/bash"}),
                false,
                true,
                false,
                vec![format!("usermod -g {g1} -s /bin/bash {u}")],
            ),
            (
                json!({"name": u, "password": hash}),
                false,
                true,
                false,
                vec![format!("usermod -p {hash} {u}")],
            ),
            (
                json!({"name": u, "password": hash}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "password": "$6$other", "update_password": "on_create"}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "password_lock": true}),
                false,
                true,
                false,
                vec![format!("usermod -L {u}")],
            ),
            (
                json!({"name": u, "password_lock": true}),
                false,
                false,
                false,
                vec![],
            ),
            (
                json!({"name": u, "group": "berthtest_nosuchgroup"}),
                false,
                false,
                true,
                vec![],
            ),
            (
                json!({"name": u, "state": "absent", "remove": true}),
                true,
                true,
                false,
                vec![],
            ),
            (
                json!({"name": u, "state": "absent", "remove": true}),
                false,
                true,
                false,
                vec![format!("userdel -r {u}")],
            ),
            (
                json!({"name": u, "state": "absent"}),
                false,
                false,
                false,
                vec![],
            ),
            // The group useradd made for the user outlived it (its primary group
            // changed), so like Ansible berth asks for no new user group.
            (
                json!({"name": u, "system": true, "create_home": false}),
                false,
                true,
                false,
                vec![format!("useradd -N -M -r {u}")],
            ),
            (
                json!({"name": u, "state": "absent"}),
                false,
                true,
                false,
                vec![format!("userdel {u}")],
            ),
            (json!({"name": u, "bogus": 1}), false, false, true, vec![]),
        ];
        for (args, check, changed, failed, calls) in cases {
            let mut h = SysHarness::new();
            logging_wrappers(&h, &["useradd", "usermod", "userdel"]);
            h.check_mode = check;
            let out = h.run(run, args.clone());
            let got = h.take_calls();
            assert_eq!(
                (out.is_changed(), out.is_failed(), got),
                (changed, failed, calls),
                "{args}: {out:?}"
            );
        }
        assert_eq!(passwd_line(&u), "");
        drop(accounts);
    }

    #[test]
    fn uid_range_and_inactive_days_reach_useradd_and_usermod() {
        if !crate::modules::sys_test_support::is_root() {
            eprintln!("skipped: managing real accounts needs root");
            return;
        }
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let u = format!("berthtest_r{}", std::process::id() % 100000);
        let accounts = guard(&[&u], &[&u]);
        let cases: Vec<(Value, bool, Vec<String>)> = vec![
            (
                json!({"name": u, "uid_min": 47900, "uid_max": 47909, "password_expire_account_disable": 15, "create_home": false}),
                true,
                vec![format!(
                    "useradd -M -f 15 -K UID_MIN=47900 -K UID_MAX=47909 {u}"
                )],
            ),
            // As Ansible: -f is passed (a change) whenever it is given.
            (
                json!({"name": u, "password_expire_account_disable": 10}),
                true,
                vec![format!("usermod -f 10 {u}")],
            ),
            (json!({"name": u}), false, vec![]),
        ];
        for (args, changed, calls) in cases {
            let mut h = SysHarness::new();
            logging_wrappers(&h, &["useradd", "usermod", "userdel"]);
            let out = h.run(run, args.clone());
            assert!(!out.is_failed(), "{args}: {out:?}");
            assert_eq!(
                (out.is_changed(), h.take_calls()),
                (changed, calls),
                "{args}"
            );
        }
        let uid = out_uid(&u);
        assert!((47900..=47909).contains(&uid), "uid {uid} from the range");
        let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
        let line = shadow
            .lines()
            .find(|l| l.starts_with(&format!("{u}:")))
            .unwrap();
        assert_eq!(line.split(':').nth(6), Some("10"), "{line}");
        drop(accounts);
    }

    fn out_uid(u: &str) -> i64 {
        passwd_line(u).split(':').nth(2).unwrap().parse().unwrap()
    }

    /// libuser's tools, played by shadow's on the test machine: what berth
    /// asks of them is logged, and the accounts really change.
    fn libuser_stand_ins(h: &SysHarness) {
        h.fake(
            "luseradd",
            "m=-m; set -- $(for a in \"$@\"; do case $a in -n) echo -N;; -M) m=; echo -M;; *) echo \"$a\";; esac; done)\n\
             exec /usr/sbin/useradd $m \"$@\"",
        );
        h.fake("lusermod", "exec /usr/sbin/usermod \"$@\"");
        h.fake("luserdel", "exec /usr/sbin/userdel \"$@\"");
        h.fake(
            "lgroupmod",
            "case $1 in -M) exec gpasswd -a \"$2\" \"$3\" >/dev/null;; -m) exec gpasswd -d \"$2\" \"$3\" >/dev/null;; esac; exit 2",
        );
        h.fake("lchage", "exec chage \"$@\"");
    }

    #[test]
    fn local_accounts_through_libuser() {
        let Some((_lock, accounts, u, g1, g2)) = user_and_two_groups("l", "c", "d") else {
            return;
        };
        let gid2 = std::fs::read_to_string("/etc/group")
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{g2}:x:"))
                    .map(|r| r.split(':').next().unwrap().to_string())
            })
            .unwrap();
        // (args, changed, calls)
        let cases: Vec<(Value, bool, Vec<String>)> = vec![
            (
                json!({"name": u, "local": true, "groups": [g1.clone()], "expires": 2529881062u64}),
                true,
                vec![
                    format!("luseradd {u}"),
                    format!("lchage -E 29281 {u}"),
                    format!("lgroupmod -M {u} {g1}"),
                ],
            ),
            (
                json!({"name": u, "local": true, "groups": [g1.clone()], "expires": 2529881062u64}),
                false,
                vec![],
            ),
            // Groups by gid compare by name; appending adds only.
            (
                json!({"name": u, "local": true, "groups": gid2.clone(), "append": true}),
                true,
                vec![format!("lgroupmod -M {u} {g2}")],
            ),
            (
                json!({"name": u, "local": true, "groups": gid2.clone(), "append": true}),
                false,
                vec![],
            ),
            (
                json!({"name": u, "local": true, "groups": [g2.clone()]}),
                true,
                vec![format!("lgroupmod -m {u} {g1}")],
            ),
            (
                json!({"name": u, "local": true, "expires": -1}),
                true,
                vec![format!("lchage -E -1 {u}")],
            ),
            (
                json!({"name": u, "local": true, "expires": -1}),
                false,
                vec![],
            ),
            (
                json!({"name": u, "local": true, "state": "absent", "remove": true, "force": true}),
                true,
                vec![format!("luserdel -r {u}")],
            ),
            (
                json!({"name": u, "local": true, "state": "absent"}),
                false,
                vec![],
            ),
        ];
        for (args, changed, calls) in cases {
            let mut h = SysHarness::new();
            libuser_stand_ins(&h);
            let out = h.run(run, args.clone());
            assert!(!out.is_failed(), "{args}: {out:?}");
            assert_eq!(
                (out.is_changed(), h.take_calls()),
                (changed, calls),
                "{args}: {out:?}"
            );
        }
        let mut h = SysHarness::new();
        let refused = h.run(run, json!({"name": u, "local": true, "umask": "077"}));
        assert_eq!(
            refused.result["msg"],
            "'umask' can not be used with 'local'"
        );
        drop(accounts);
    }

    #[test]
    fn return_values_and_real_effect() {
        if !crate::modules::sys_test_support::is_root() {
            eprintln!("skipped: managing real accounts needs root");
            return;
        }
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let u = format!("berthtest_v{}", std::process::id() % 100000);
        let _accounts = guard(&[&u], &[&u]);
        let mut h = SysHarness::new();
        let out = h.run(run, json!({"name": u, "uid": 47421, "comment": "Web, app", "create_home": false, "password": "!"}));
        let line = passwd_line(&u);
        let again = h.run(run, json!({"name": u, "create_home": false}));
        assert!(out.is_changed(), "{out:?}");
        assert_eq!(s(&out, "uid"), "47421");
        assert_eq!(s(&out, "comment"), "Web, app");
        assert_eq!(s(&out, "password"), NOT_LOGGED);
        assert_eq!(out.result["create_home"], json!(false));
        assert!(line.starts_with(&format!("{u}:x:47421:")), "{line}");
        assert!(!again.is_changed());
        assert_eq!(s(&again, "uid"), "47421");
        assert_eq!(s(&again, "state"), "present");
        assert!(
            again.result.contains_key("home")
                && again.result.contains_key("shell")
                && again.result.contains_key("group")
        );
        // The home it was made without comes with the next plain run
        // (create_home defaults to true), owned by the user, then stays.
        let home = s(&again, "home");
        assert!(!std::path::Path::new(&home).exists(), "{home}");
        let made = h.run(run, json!({"name": u}));
        assert!(made.is_changed() && !made.is_failed(), "{made:?}");
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(&home).expect("home made");
        assert!(md.is_dir());
        assert_eq!(md.uid(), 47421);
        assert!(!h.run(run, json!({"name": u})).is_changed());
        // Expiry and password ageing, set once and then left alone.
        for args in [
            json!({"name": u, "expires": 2529881062_i64, "password_expire_max": 10, "password_expire_warn": 28}),
            json!({"name": u, "expires": -1, "password_expire_min": 5}),
        ] {
            let first = h.run(run, args.clone());
            assert!(
                first.is_changed() && !first.is_failed(),
                "{args}: {first:?}"
            );
            assert!(!h.run(run, args.clone()).is_changed(), "{args}");
        }
        let shadow = std::process::Command::new("getent")
            .args(["shadow", &u])
            .output()
            .unwrap();
        let fields: Vec<String> = String::from_utf8_lossy(&shadow.stdout)
            .trim()
            .split(':')
            .map(str::to_string)
            .collect();
        assert_eq!(
            (
                fields[3].as_str(),
                fields[4].as_str(),
                fields[5].as_str(),
                fields[7].as_str()
            ),
            ("5", "10", "28", ""),
            "{fields:?}"
        );
        // One round trip to read, one to change.
        let (_, execs) = crate::modules::sys_test_support::run_counted(
            &mut h,
            run,
            json!({"name": u, "shell": "/bin/bash", "password": "!x"}),
        );
        assert_eq!(execs, 2);
        let (o, execs) = crate::modules::sys_test_support::run_counted(
            &mut h,
            run,
            json!({"name": u, "shell": "/bin/bash", "password": "!x"}),
        );
        assert_eq!((o.is_changed(), execs), (false, 1));
        // Shapes as ansible-core 2.19 returns them.
        let out = h.run(run, json!({"name": u, "state": "absent"}));
        assert_eq!(out.result["force"], json!(false));
        assert_eq!(out.result["remove"], json!(false));
        let out = h.run(run, json!({"name": u, "state": "absent"}));
        assert_eq!(
            Value::Object(out.result),
            json!({"changed": false, "name": u, "state": "absent"})
        );
    }

    #[test]
    fn ssh_keys_generated_kept_and_forced() {
        if !crate::modules::sys_test_support::is_root() {
            eprintln!("skipped: managing real accounts needs root");
            return;
        }
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let u = format!("berthtest_k{}", std::process::id() % 100000);
        let _accounts = guard(&[&u], &[&u]);
        let mut h = SysHarness::new();
        let key = |extra: Value| {
            let mut a = json!({"name": u, "generate_ssh_key": true, "ssh_key_type": "ed25519", "ssh_key_file": ".ssh/k"});
            a.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            a
        };
        let first = h.run(run, key(json!({"ssh_key_passphrase": "pass phrase"})));
        assert!(first.is_changed() && !first.is_failed(), "{first:?}");
        let file = s(&first, "ssh_key_file");
        assert!(file.ends_with("/.ssh/k"), "{file}");
        assert!(s(&first, "ssh_public_key").starts_with("ssh-ed25519 "));
        assert!(s(&first, "ssh_fingerprint").contains("(ED25519)"));
        use std::os::unix::fs::MetadataExt;
        let dir = std::fs::metadata(std::path::Path::new(&file).parent().unwrap()).unwrap();
        assert_eq!(dir.mode() & 0o777, 0o700);
        let owner = std::fs::metadata(&file).unwrap().uid();
        assert_eq!(owner, dir.uid());
        assert_ne!(owner, 0);
        // The passphrase locks the key: only the right one opens it.
        let opens = |pass: &str| {
            std::process::Command::new("ssh-keygen")
                .args(["-y", "-f", &file, "-P", pass])
                .output()
                .unwrap()
                .status
                .success()
        };
        assert!(opens("pass phrase") && !opens("wrong"));
        // Kept without force, with Ansible's warning; replaced with it.
        let again = h.run(run, key(json!({})));
        assert!(!again.is_changed(), "{again:?}");
        assert_eq!(
            again.result["warnings"][0],
            json!(format!("Found existing ssh key private file \"{file}\", no force, so skipping ssh-keygen generation"))
        );
        assert_eq!(s(&again, "ssh_public_key"), s(&first, "ssh_public_key"));
        let forced = h.run(run, key(json!({"force": true})));
        assert!(forced.is_changed(), "{forced:?}");
        assert_ne!(s(&forced, "ssh_public_key"), s(&first, "ssh_public_key"));
        assert!(opens(""));
        // Check mode reports the change and writes nothing.
        h.check_mode = true;
        let dry = h.run(run, key(json!({"ssh_key_file": ".ssh/other"})));
        h.check_mode = false;
        assert!(dry.is_changed());
        assert!(!std::path::Path::new(&file).with_file_name("other").exists());
    }
}
