//! Ansible Vault in templates. berth does not encrypt or decrypt Ansible
//! Vault (it reads no vault secrets), so the `vault` filter, and `unvault`
//! of vault-encrypted text, are refused with a message saying so; what
//! needs no secret is done as Ansible does it: `unvault` of plain text
//! returns it unchanged, and the `vaulted_file` test reads a file's header.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};

use crate::playbook::filters::{defined, fail, py_str_repr};
use crate::playbook::pyargs::bind;
use crate::playbook::templar::py_type;

/// What every vault-encrypted text or file starts with.
pub(crate) const VAULT_HEADER: &str = "$ANSIBLE_VAULT";

/// Why berth cannot do what was asked, and what to do instead.
pub(crate) fn refusal(what: &str) -> String {
    format!(
        "{what} is not supported by berth: berth does not encrypt or decrypt Ansible Vault (it reads no vault secrets); decrypt the data beforehand (ansible-vault decrypt or view) or pass the secret in plain extra vars (-e @file)"
    )
}

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("vault", vault);
    env.add_filter("unvault", unvault);
    env.add_test("vaulted_file", vaulted_file);
}

/// `<class 'int'>`, as Python prints a type.
fn class(v: &Value) -> String {
    format!("<class '{}'>", py_type(v))
}

/// Ansible's `vault(secret, salt=None, vault_id='filter_default',
/// wrap_object=False)`: its argument checks, then berth's refusal.
fn vault(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [secret, _salt, _vault_id, _wrap, _vaultid] = <[Option<Value>; 5]>::try_from(bind(
        "vault",
        &["secret", "salt", "vault_id", "wrap_object", "vaultid"],
        &args,
        &kwargs,
    )?)
    .expect("five parameters");
    let secret = secret
        .ok_or_else(|| fail("do_vault() missing 1 required positional argument: 'secret'"))?;
    if secret.as_str().is_none() {
        return Err(fail(format!(
            "Secret passed is required to be a string, instead we got {}.",
            class(&secret)
        )));
    }
    if v.as_str().is_none() {
        return Err(fail(format!(
            "Can only vault strings, instead we got {}.",
            class(&v)
        )));
    }
    Err(fail(refusal("the vault filter")))
}

/// Ansible's `unvault(secret, vault_id='filter_default')`: text that is not
/// vault-encrypted comes back as it is; encrypted text is refused.
fn unvault(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [secret, _vault_id, _vaultid] = <[Option<Value>; 3]>::try_from(bind(
        "unvault",
        &["secret", "vault_id", "vaultid"],
        &args,
        &kwargs,
    )?)
    .expect("three parameters");
    let secret = secret
        .ok_or_else(|| fail("do_unvault() missing 1 required positional argument: 'secret'"))?;
    if secret.as_str().is_none() {
        return Err(fail(format!(
            "Secret passed is required to be as string, instead we got {}.",
            class(&secret)
        )));
    }
    let Some(text) = v.as_str() else {
        return Err(fail(format!(
            "Vault should be in the form of a string, instead we got {}.",
            class(&v)
        )));
    };
    if text.starts_with(VAULT_HEADER) {
        return Err(fail(refusal("unvault of vault-encrypted text")));
    }
    Ok(Value::from(text))
}

/// Ansible's `vaulted_file` test: does the file start with the vault
/// header? A file that cannot be read is an error.
fn vaulted_file(v: Value) -> Result<bool, Error> {
    let path = crate::playbook::filters::py_str(&v);
    let mut head = [0u8; VAULT_HEADER.len()];
    let read = std::fs::File::open(&path).and_then(|mut f| {
        use std::io::Read;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    });
    match read {
        Ok(n) => Ok(&head[..n] == VAULT_HEADER.as_bytes()),
        Err(e) => Err(fail(format!(
            "Cannot test if the file {} is a vault: {}",
            py_str_repr(&path),
            crate::playbook::lookups::os_error(&e, &path)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn vault_is_refused_and_plain_text_passes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v"), "$ANSIBLE_VAULT;1.1;AES256\n6162\n").unwrap();
        std::fs::write(dir.path().join("p"), "plain\n").unwrap();
        std::fs::write(dir.path().join("s"), "$ANS").unwrap();
        let mut vars = serde_json::Map::new();
        vars.insert("d".into(), json!(dir.path().to_string_lossy()));
        let t = Templar::new();
        let c = Templar::context(&vars);
        let ok = |s: &str| t.render_str(s, &c).unwrap_or_else(|e| panic!("{s}: {e}"));
        let err = |s: &str| t.render_str(s, &c).unwrap_err().message;
        // As ansible-core 2.19 renders them.
        assert_eq!(ok("{{ 'plain' | unvault('secret') }}"), json!("plain"));
        assert_eq!(ok("{{ (d ~ '/v') is vaulted_file }}"), json!(true));
        assert_eq!(ok("{{ (d ~ '/p') is vaulted_file }}"), json!(false));
        assert_eq!(ok("{{ (d ~ '/s') is vaulted_file }}"), json!(false));
        assert_eq!(
            err("{{ (d ~ '/nope') is vaulted_file }}"),
            format!(
                "Cannot test if the file '{0}/nope' is a vault: [Errno 2] No such file or directory: '{0}/nope'",
                dir.path().display()
            )
        );
        assert_eq!(
            err("{{ 'x' | vault(1) }}"),
            "Secret passed is required to be a string, instead we got <class 'int'>."
        );
        assert_eq!(
            err("{{ 1 | vault('s') }}"),
            "Can only vault strings, instead we got <class 'int'>."
        );
        assert_eq!(
            err("{{ 1 | unvault('s') }}"),
            "Vault should be in the form of a string, instead we got <class 'int'>."
        );
        assert!(err("{{ 'x' | vault('s') }}").starts_with("the vault filter is not supported by berth: berth does not encrypt or decrypt Ansible Vault"));
        assert!(
            err("{{ '$ANSIBLE_VAULT;1.1;AES256\n6162' | unvault('s') }}")
                .starts_with("unvault of vault-encrypted text is not supported by berth")
        );
    }
}
