//! `template`: render a controller Jinja2 template with the task's variables
//! (plus Ansible's `ansible_managed`, `template_path`, `template_fullpath`,
//! `template_host`, ...) and put the result at `dest` the way `copy` does.

use serde_json::{Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::copy::{put, Put, Source};
use crate::modules::remote_file::{finish, Attrs, Stop};
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "src",
    "dest",
    "backup",
    "force",
    "follow",
    "mode",
    "owner",
    "group",
    "validate",
    "newline_sequence",
    "output_encoding",
    "trim_blocks",
    "lstrip_blocks",
    "unsafe_writes",
];

/// Ansible's default `ansible_managed` string.
pub(crate) const ANSIBLE_MANAGED: &str = "Ansible managed";

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("template", args)))
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let src = a.str("src")?.ok_or("src and dest are required")?;
    let dest = a.str("dest")?.ok_or("src and dest are required")?;
    let newline = a
        .choice(
            "newline_sequence",
            &["\\n", "\\r", "\\r\\n", "\n", "\r", "\r\n"],
            Some("\n"),
        )?
        .unwrap_or_default();
    let newline = newline.replace("\\n", "\n").replace("\\r", "\r");
    if let Some(enc) = a.str("output_encoding")? {
        let e = enc.to_ascii_lowercase().replace(['-', '_'], "");
        if e != "utf8" {
            return Err(format!(
                "output_encoding {enc} is not supported by berth: templates are written as utf-8"
            )
            .into());
        }
    }
    if !a.bool("trim_blocks", true)? || a.bool("lstrip_blocks", false)? {
        return Err(
            "berth renders templates with trim_blocks=yes and lstrip_blocks=no only".into(),
        );
    }
    let path = ctx
        .find_file("templates", &src)
        .ok_or_else(|| format!("Could not find or access '{src}'"))?;
    let fullpath = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let mut extra = Map::new();
    extra.insert(
        "template_path".into(),
        Value::from(path.to_string_lossy().into_owned()),
    );
    extra.insert(
        "template_fullpath".into(),
        Value::from(fullpath.to_string_lossy().into_owned()),
    );
    extra.insert("template_host".into(), Value::from(controller_hostname()));
    extra.insert("template_destpath".into(), Value::from(dest.clone()));
    extra.insert("template_uid".into(), Value::from(controller_user(&path)));
    // The template_* names win over the task's vars; `ansible_managed` is only
    // a default (a var of that name is used instead), as Ansible's action does.
    let mut managed = Map::new();
    managed.insert("ansible_managed".into(), Value::from(ANSIBLE_MANAGED));
    let vars = minijinja::context! { ..minijinja::Value::from_serialize(&extra), ..ctx.vars.clone(), ..minijinja::Value::from_serialize(&managed) };
    let rendered = ctx.templar.render_file(&path, &vars).map_err(|e| {
        format!(
            "AnsibleError: template error while templating string: {e}. Template: {}",
            path.display()
        )
    })?;
    let rendered = if newline == "\n" {
        rendered
    } else {
        rendered.replace('\n', &newline)
    };
    let validate = a.str("validate")?;
    if let Some(v) = &validate {
        if !v.contains("%s") {
            return Err(format!("validate must contain %s: {v}").into());
        }
    }
    put(
        ctx,
        Put {
            dest,
            backup: a.bool("backup", false)?,
            force: a.bool("force", true)?,
            follow: a.bool("follow", false)?,
            validate,
            attrs: Attrs::from_args(a)?,
            directory_mode: None,
            source: Source::Bytes {
                data: rendered.into_bytes(),
                label: path.to_string_lossy().into_owned(),
                local_mode: None,
            },
            preserve: false,
            local_follow: Some(true),
        },
    )
}

fn controller_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Owner name of the template file on the controller (Ansible's `template_uid`).
fn controller_user(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::metadata(path) else {
        return String::new();
    };
    let uid = md.uid();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{
        file, rooted, run_module, setup, snapshot, Entry, Gen, Run,
    };
    use serde_json::json;

    struct Case {
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        check: bool,
        changed: bool,
        failed: Option<&'static str>,
        /// Expected content of `out` afterwards (None: absent).
        out: Option<&'static str>,
    }

    fn vars() -> Map<String, Value> {
        json!({"name": "web", "port": 8080, "items": ["a", "b"]})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn fixture_table() {
        let cases = vec![
            Case {
                name: "renders variables and loops",
                initial: vec![Entry::File("ctl/templates/t.j2", "{{ name }}:{{ port }}\n{% for i in items %}{{ i }}\n{% endfor %}", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out"}),
                check: false,
                changed: true,
                failed: None,
                out: Some("web:8080\na\nb\n"),
            },
            Case {
                name: "ansible template vars",
                initial: vec![Entry::File("ctl/templates/t.j2", "# {{ ansible_managed }} {{ template_path | length > 0 }} {{ template_destpath == template_destpath }}\n", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out"}),
                check: false,
                changed: true,
                failed: None,
                out: Some("# Ansible managed True True\n"),
            },
            Case {
                name: "unchanged render is ok",
                initial: vec![Entry::File("ctl/templates/t.j2", "{{ name }}\n", 0o644), Entry::File("out", "web\n", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out"}),
                check: false,
                changed: false,
                failed: None,
                out: Some("web\n"),
            },
            Case {
                name: "check mode",
                initial: vec![Entry::File("ctl/templates/t.j2", "{{ name }}\n", 0o644), Entry::File("out", "old\n", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out"}),
                check: true,
                changed: true,
                failed: None,
                out: Some("old\n"),
            },
            Case {
                name: "undefined variable fails",
                initial: vec![Entry::File("ctl/templates/t.j2", "{{ nope }}\n", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out"}),
                check: false,
                changed: false,
                failed: Some("AnsibleError: template error"),
                out: None,
            },
            Case {
                name: "missing template fails",
                initial: vec![],
                args: json!({"src": "none.j2", "dest": "{root}/out"}),
                check: false,
                changed: false,
                failed: Some("Could not find or access 'none.j2'"),
                out: None,
            },
            Case {
                name: "crlf newline_sequence",
                initial: vec![Entry::File("ctl/templates/t.j2", "a\nb\n", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out", "newline_sequence": "\\r\\n"}),
                check: false,
                changed: true,
                failed: None,
                out: Some("a\r\nb\r\n"),
            },
            Case {
                name: "validate failure",
                initial: vec![Entry::File("ctl/templates/t.j2", "{{ name }}\n", 0o644)],
                args: json!({"src": "t.j2", "dest": "{root}/out", "validate": "false %s"}),
                check: false,
                changed: false,
                failed: Some("failed to validate"),
                out: None,
            },
        ];
        for case in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &case.initial);
            let run = Run {
                check: case.check,
                vars: vars(),
                search_paths: vec![root.join("ctl")],
                ..Run::default()
            };
            let (out, _) = run_module(super::run, &rooted(&case.args, root), &run);
            assert_eq!(out.is_changed(), case.changed, "{}: {out:?}", case.name);
            match case.failed {
                Some(msg) => assert!(
                    out.is_failed() && out.result["msg"].as_str().unwrap().starts_with(msg),
                    "{}: {out:?}",
                    case.name
                ),
                None => assert!(!out.is_failed(), "{}: {out:?}", case.name),
            }
            let got = std::fs::read_to_string(root.join("out")).ok();
            assert_eq!(got.as_deref(), case.out, "{}", case.name);
            if !case.changed {
                continue;
            }
            let snap = snapshot(root);
            if !case.check {
                assert_eq!(
                    snap.get("out"),
                    Some(&file(case.out.unwrap(), 0o644)),
                    "{}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn an_ansible_managed_var_wins_over_the_default() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[Entry::File(
                "ctl/templates/t.j2",
                "# {{ ansible_managed }}\n",
                0o644,
            )],
        );
        let mut v = vars();
        v.insert("ansible_managed".into(), json!("managed by us"));
        let run = Run {
            vars: v,
            search_paths: vec![root.join("ctl")],
            ..Run::default()
        };
        let (out, _) = run_module(
            super::run,
            &rooted(&json!({"src": "t.j2", "dest": "{root}/out"}), root),
            &run,
        );
        assert!(out.is_changed(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(root.join("out")).unwrap(),
            "# managed by us\n"
        );
    }

    #[test]
    fn diff_header_names_template() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[
                Entry::File("ctl/templates/t.j2", "{{ name }}\n", 0o644),
                Entry::File("out", "old\n", 0o644),
            ],
        );
        let run = Run {
            diff: true,
            vars: vars(),
            search_paths: vec![root.join("ctl")],
            ..Run::default()
        };
        let (out, calls) = run_module(
            super::run,
            &rooted(&json!({"src": "t.j2", "dest": "{root}/out"}), root),
            &run,
        );
        assert_eq!(calls, 2);
        assert_eq!(out.diffs[0].before, "old\n");
        assert_eq!(out.diffs[0].after, "web\n");
        assert_eq!(
            out.diffs[0].before_header,
            format!("before: {}/out", root.display())
        );
        assert!(out.diffs[0].after_header.ends_with("templates/t.j2"));
    }

    #[test]
    fn property_check_mode_predicts_real_run() {
        let mut g = Gen::new(11);
        for i in 0..30 {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let bodies = ["{{ name }}\n", "static\n", "{{ port }}\n"];
            setup(
                root,
                &[Entry::File(
                    "ctl/templates/t.j2",
                    g.pick::<&str>(&bodies),
                    0o644,
                )],
            );
            if g.chance() {
                setup(
                    root,
                    &[Entry::File(
                        "out",
                        g.pick::<&str>(&["web\n", "static\n", "x"]),
                        *g.pick(&[0o600, 0o644]),
                    )],
                );
            }
            let mut args = json!({"src": "t.j2", "dest": "{root}/out"});
            if g.chance() {
                args["mode"] = json!(*g.pick(&["0644", "0600", "g+w"]));
            }
            let args = rooted(&args, root);
            let base = Run {
                vars: vars(),
                search_paths: vec![root.join("ctl")],
                ..Run::default()
            };
            crate::modules::test_support::assert_check_predicts(
                super::run,
                root,
                &args,
                &base,
                &format!("case {i}: {args}"),
            );
        }
    }
}
