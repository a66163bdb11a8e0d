//! `stat`: facts about one path, in one round trip, under Ansible's keys.

use serde_json::{json, Map, Value};

use crate::connection::ConnError;
use crate::modules::args::Args;
use crate::modules::file_mode::format_mode;
use crate::modules::remote_file::{self, finish, Kind, Probe, Stop};
use crate::modules::{ModuleContext, ModuleOutcome};

const KNOWN: &[&str] = &[
    "path",
    "dest",
    "name",
    "follow",
    "get_checksum",
    "checksum_algorithm",
    "checksum",
    "checksum_algo",
    "get_mime",
    "mime",
    "mime_type",
    "mime-type",
    "get_attributes",
    "attr",
    "attributes",
];

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

pub(crate) fn run(
    ctx: &mut ModuleContext<'_>,
    args: &Map<String, Value>,
) -> Result<ModuleOutcome, ConnError> {
    finish(plan(ctx, &Args::new("stat", args)))
}

fn first_of(a: &Args<'_>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| a.str(k).ok().flatten())
}

fn plan(ctx: &mut ModuleContext<'_>, a: &Args<'_>) -> Result<ModuleOutcome, Stop> {
    a.check_known(KNOWN)?;
    let path = first_of(a, &["path", "dest", "name"]).ok_or("missing required arguments: path")?;
    let follow = a.bool("follow", false)?;
    let get_checksum = a.bool("get_checksum", true)?;
    let algo = first_of(a, &["checksum_algorithm", "checksum", "checksum_algo"])
        .unwrap_or_else(|| "sha1".into());
    if !ALGORITHMS.contains(&algo.as_str()) {
        return Err(format!(
            "value of checksum_algorithm must be one of: {}, got: {algo}",
            ALGORITHMS.join(", ")
        )
        .into());
    }
    let get_mime = ["get_mime", "mime", "mime_type", "mime-type"]
        .iter()
        .find(|k| a.get(k).is_some())
        .map(|k| a.bool(k, true))
        .transpose()?
        .unwrap_or(true);
    let mut probe = Probe::new(&path).follow(follow);
    if get_checksum {
        probe.checksum = Some(format!("{algo}sum"));
    }
    probe.mime = get_mime;
    let get_attributes = ["get_attributes", "attr", "attributes"]
        .iter()
        .find(|k| a.get(k).is_some())
        .map(|k| a.bool(k, true))
        .transpose()?
        .unwrap_or(true);
    probe.lsattr = get_attributes;
    let facts = remote_file::probe(ctx, &[probe], None, None)?;
    let st = &facts.stats[0];
    if !st.exists() {
        return Ok(ModuleOutcome::ok().with("stat", json!({"exists": false})));
    }
    let m = st.mode;
    let bit = |b: u32| Value::Bool(m & b != 0);
    let mut s = Map::new();
    s.insert("exists".into(), json!(true));
    s.insert("path".into(), json!(path));
    s.insert("mode".into(), json!(format_mode(m)));
    s.insert("isdir".into(), json!(st.kind == Kind::Dir));
    s.insert("ischr".into(), json!(st.kind == Kind::Char));
    s.insert("isblk".into(), json!(st.kind == Kind::Block));
    s.insert("isreg".into(), json!(st.kind == Kind::File));
    s.insert("isfifo".into(), json!(st.kind == Kind::Fifo));
    s.insert("islnk".into(), json!(st.kind == Kind::Link));
    s.insert("issock".into(), json!(st.kind == Kind::Socket));
    s.insert("uid".into(), json!(st.uid));
    s.insert("gid".into(), json!(st.gid));
    s.insert("size".into(), json!(st.size));
    s.insert("inode".into(), json!(st.inode));
    s.insert("dev".into(), json!(st.dev));
    s.insert("nlink".into(), json!(st.nlink));
    s.insert("atime".into(), json!(st.atime));
    s.insert("mtime".into(), json!(st.mtime));
    s.insert("ctime".into(), json!(st.ctime));
    s.insert("wusr".into(), bit(0o200));
    s.insert("rusr".into(), bit(0o400));
    s.insert("xusr".into(), bit(0o100));
    s.insert("wgrp".into(), bit(0o020));
    s.insert("rgrp".into(), bit(0o040));
    s.insert("xgrp".into(), bit(0o010));
    s.insert("woth".into(), bit(0o002));
    s.insert("roth".into(), bit(0o004));
    s.insert("xoth".into(), bit(0o001));
    s.insert("isuid".into(), bit(0o4000));
    s.insert("isgid".into(), bit(0o2000));
    s.insert("blocks".into(), json!(st.blocks));
    s.insert("block_size".into(), json!(st.block_size));
    s.insert("device_type".into(), json!(st.device_type));
    s.insert("readable".into(), json!(st.readable));
    s.insert("writeable".into(), json!(st.writeable));
    s.insert("executable".into(), json!(st.executable));
    s.insert("pw_name".into(), json!(st.owner));
    s.insert("gr_name".into(), json!(st.group));
    if st.kind == Kind::Link {
        s.insert(
            "lnk_source".into(),
            json!(st.realpath.clone().unwrap_or_default()),
        );
        s.insert(
            "lnk_target".into(),
            json!(st.link_target.clone().unwrap_or_default()),
        );
    }
    if let Some(sum) = &st.checksum {
        s.insert("checksum".into(), json!(sum));
    }
    if get_attributes {
        // Like Ansible: the keys are there even where lsattr has no answer (links).
        let (version, set, names) = match &st.lsattr {
            Some((version, flags)) => {
                let set: String = flags.chars().filter(|c| *c != '-').collect();
                let names: Vec<&str> = set.chars().filter_map(attribute_name).collect();
                (json!(version), set, names)
            }
            None => (Value::Null, String::new(), Vec::new()),
        };
        s.insert("version".into(), version);
        s.insert("attr_flags".into(), json!(set));
        s.insert("attributes".into(), json!(names));
    }
    if get_mime {
        let (mime, charset) = st
            .mime
            .clone()
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        s.insert("mimetype".into(), json!(mime));
        s.insert("charset".into(), json!(charset));
    }
    Ok(ModuleOutcome::ok().with("stat", Value::Object(s)))
}

/// Ansible's names of `lsattr` flags.
fn attribute_name(flag: char) -> Option<&'static str> {
    Some(match flag {
        'A' => "noatime",
        'a' => "append",
        'c' => "compressed",
        'C' => "nocow",
        'd' => "nodump",
        'D' => "dirsync",
        'e' => "extents",
        'E' => "encrypted",
        'h' => "blocksize",
        'i' => "immutable",
        'I' => "indexed",
        'j' => "journalled",
        'N' => "inline",
        's' => "zero",
        'S' => "synchronous",
        't' => "notail",
        'T' => "blockroot",
        'u' => "undelete",
        'X' => "compressedraw",
        'Z' => "compresseddirty",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::test_support::{rooted, run_module, setup, snapshot, Entry, Run};

    struct Case {
        name: &'static str,
        initial: Vec<Entry>,
        args: Value,
        failed: Option<&'static str>,
        /// Keys the `stat` dict must have with these values.
        stat: Value,
        /// Keys it must not have.
        absent: &'static [&'static str],
    }

    #[test]
    fn fixture_table() {
        let cases = vec![
            Case {
                name: "missing path",
                initial: vec![],
                args: json!({"path": "{root}/nope"}),
                failed: None,
                stat: json!({"exists": false}),
                absent: &["mode", "isreg"],
            },
            Case {
                name: "regular file with sha1",
                initial: vec![Entry::File("f", "hello\n", 0o640)],
                args: json!({"path": "{root}/f"}),
                failed: None,
                stat: json!({"exists": true, "path": "{root}/f", "mode": "0640", "isreg": true, "isdir": false, "islnk": false,
                    "size": 6, "uid": 0, "gid": 0, "pw_name": "root", "gr_name": "root", "nlink": 1,
                    "checksum": "f572d396fae9206628714fb2ce00f72e94f2258f", "rusr": true, "wusr": true, "xusr": false,
                    "rgrp": true, "wgrp": false, "roth": false, "isuid": false, "readable": true, "writeable": true}),
                absent: &["lnk_source", "lnk_target"],
            },
            Case {
                name: "sha256 and no checksum",
                initial: vec![Entry::File("f", "hello\n", 0o644)],
                args: json!({"path": "{root}/f", "checksum_algorithm": "sha256"}),
                failed: None,
                stat: json!({"checksum": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"}),
                absent: &[],
            },
            Case {
                name: "get_checksum false",
                initial: vec![Entry::File("f", "hello\n", 0o644)],
                args: json!({"path": "{root}/f", "get_checksum": false}),
                failed: None,
                stat: json!({"isreg": true}),
                absent: &["checksum"],
            },
            Case {
                name: "directory",
                initial: vec![Entry::Dir("d", 0o755)],
                args: json!({"path": "{root}/d"}),
                failed: None,
                stat: json!({"isdir": true, "isreg": false, "mode": "0755", "xoth": true, "executable": true}),
                absent: &["checksum"],
            },
            Case {
                name: "symlink not followed",
                initial: vec![Entry::File("f", "x", 0o600), Entry::Link("l", "f")],
                args: json!({"path": "{root}/l"}),
                failed: None,
                stat: json!({"islnk": true, "isreg": false, "lnk_target": "f", "lnk_source": "{root}/f", "mode": "0777"}),
                absent: &["checksum"],
            },
            Case {
                name: "symlink followed",
                initial: vec![Entry::File("f", "x", 0o600), Entry::Link("l", "f")],
                args: json!({"path": "{root}/l", "follow": true}),
                failed: None,
                stat: json!({"islnk": false, "isreg": true, "mode": "0600", "checksum": "11f6ad8ec52a2984abaafd7c3b516503785c2072"}),
                absent: &["lnk_target"],
            },
            Case {
                name: "setuid bit",
                initial: vec![Entry::File("f", "x", 0o4755)],
                args: json!({"path": "{root}/f"}),
                failed: None,
                stat: json!({"mode": "4755", "isuid": true, "isgid": false}),
                absent: &[],
            },
            Case {
                name: "bad algorithm",
                initial: vec![],
                args: json!({"path": "{root}/f", "checksum_algorithm": "crc"}),
                failed: Some("value of checksum_algorithm must be one of"),
                stat: json!(null),
                absent: &[],
            },
            Case {
                name: "missing path argument",
                initial: vec![],
                args: json!({"follow": true}),
                failed: Some("missing required arguments: path"),
                stat: json!(null),
                absent: &[],
            },
        ];
        for case in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            setup(root, &case.initial);
            let before = snapshot(root);
            for check in [false, true] {
                let (out, calls) = run_module(
                    run,
                    &rooted(&case.args, root),
                    &Run {
                        check,
                        ..Run::default()
                    },
                );
                assert!(!out.is_changed(), "{}", case.name);
                assert_eq!(snapshot(root), before, "{}", case.name);
                if let Some(msg) = case.failed {
                    assert!(
                        out.is_failed() && out.result["msg"].as_str().unwrap().starts_with(msg),
                        "{}: {out:?}",
                        case.name
                    );
                    continue;
                }
                assert_eq!(calls, 1, "{}", case.name);
                let stat = out
                    .result
                    .get("stat")
                    .and_then(Value::as_object)
                    .unwrap_or_else(|| panic!("{}: {out:?}", case.name));
                for (k, v) in rooted(&case.stat, root).as_object().unwrap() {
                    assert_eq!(stat.get(k), Some(v), "{}: stat.{k} in {stat:?}", case.name);
                }
                for k in case.absent {
                    assert!(!stat.contains_key(*k), "{}: unexpected {k}", case.name);
                }
            }
        }
    }

    #[test]
    fn timestamps_match_the_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(root, &[Entry::File("f", "x", 0o644)]);
        let (out, _) = run_module(
            run,
            &rooted(&json!({"path": "{root}/f"}), root),
            &Run::default(),
        );
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(root.join("f")).unwrap();
        let stat = &out.result["stat"];
        assert_eq!(stat["mtime"].as_f64().unwrap() as i64, md.mtime());
        assert_eq!(stat["inode"], json!(md.ino()));
        assert_eq!(stat["dev"], json!(md.dev()));
    }
}

#[cfg(test)]
mod differential {
    use super::*;
    use crate::modules::test_support::{ansible_results, rooted, run_module, setup, Entry, Run};

    /// Ansible's own stat on the same paths: every key it returns is present
    /// with the same value (`atime` aside: reading the file may move it).
    #[test]
    fn same_keys_and_values_as_ansible() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        setup(
            root,
            &[
                Entry::File("f", "hello\n", 0o4750),
                Entry::Dir("d", 0o755),
                Entry::Link("l", "f"),
                Entry::Link("dangling", "nope"),
            ],
        );
        let cases = [
            json!({"path": "{root}/f"}),
            json!({"path": "{root}/f", "checksum_algorithm": "sha256", "get_mime": false}),
            json!({"path": "{root}/d"}),
            json!({"path": "{root}/l"}),
            json!({"path": "{root}/l", "follow": true}),
            json!({"path": "{root}/dangling"}),
            json!({"path": "{root}/missing"}),
        ];
        let tasks: Vec<Value> = cases.iter().map(|c| rooted(c, root)).collect();
        let Some(expected) = ansible_results("stat", &tasks, root) else {
            eprintln!("ansible-playbook not installed: differential test not run");
            return;
        };
        for (i, args) in tasks.iter().enumerate() {
            let (out, _) = run_module(run, args, &Run::default());
            let ours = out.result["stat"].as_object().unwrap();
            let theirs = expected[i]["stat"].as_object().unwrap();
            for (k, v) in theirs {
                if k == "atime" {
                    continue;
                }
                let got = ours
                    .get(k)
                    .unwrap_or_else(|| panic!("case {i} {args}: berth lacks stat.{k} ({v})"));
                if let (Some(a), Some(b)) = (v.as_f64(), got.as_f64()) {
                    assert!(
                        (a - b).abs() < 1e-3,
                        "case {i} {args}: stat.{k}: ansible {v}, berth {got}"
                    );
                } else {
                    assert_eq!(got, v, "case {i} {args}: stat.{k}");
                }
            }
            for k in ours.keys() {
                assert!(
                    theirs.contains_key(k),
                    "case {i} {args}: berth has extra stat.{k}"
                );
            }
        }
    }
}
