//! What runs is what was reviewed: `berth deploy` compiles the project in
//! memory and refuses to run when the committed `roles/`, `playbooks/` and
//! `inventory/` differ from it.

use std::path::Path;

use crate::manifest::model::Manifest;

/// Ok when the committed output matches a fresh compile of `manifests`.
pub(crate) fn check(dir: &Path, manifests: &[Manifest]) -> Result<(), String> {
    let files = crate::emit::compile(manifests, crate::emit::PROJECT_DIR)
        .map_err(|diags| diags.iter().map(|d| d.to_string()).collect::<String>())?;
    let changes = files.changes(dir).map_err(|e| {
        format!(
            "cannot read the compiled output under {}: {e}",
            dir.display()
        )
    })?;
    if changes.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = Vec::new();
    names.extend(changes.added.iter().map(|p| format!("{p} (missing)")));
    names.extend(changes.modified.iter().map(|p| format!("{p} (differs)")));
    names.extend(
        changes
            .removed
            .iter()
            .map(|p| format!("{p} (no longer generated)")),
    );
    let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
    let more = if names.len() > shown.len() {
        format!(", and {} more", names.len() - shown.len())
    } else {
        String::new()
    };
    Err(format!(
        "the committed playbooks in {} are stale: {} file(s) differ from the .tova files ({}{more})\n  hint: run `berth compile {}`, review the diff and commit it; berth deploys only what was compiled and committed",
        dir.display(),
        changes.count(),
        shown.join(", "),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_output_passes_and_edits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = super::super::test_support::manifest(
            "server { }\ndeploy \"prod\" {\n  server: \"root@h\"\n  domain: \"a.example.com\"\n}\n",
        );
        let files =
            crate::emit::compile(std::slice::from_ref(&m), crate::emit::PROJECT_DIR).unwrap();
        assert!(check(dir.path(), std::slice::from_ref(&m))
            .unwrap_err()
            .contains("missing"));
        files.write(dir.path()).unwrap();
        check(dir.path(), std::slice::from_ref(&m)).unwrap();
        let pb = dir.path().join(format!("playbooks/vars/{}.yml", m.env));
        let text = std::fs::read_to_string(&pb).unwrap();
        std::fs::write(&pb, text.replace("tova_instances: 1", "tova_instances: 9")).unwrap();
        let err = check(dir.path(), std::slice::from_ref(&m)).unwrap_err();
        assert!(
            err.contains(&format!("playbooks/vars/{}.yml (differs)", m.env)),
            "{err}"
        );
        assert!(err.contains("berth compile"), "{err}");
    }
}
