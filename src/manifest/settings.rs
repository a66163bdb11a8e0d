//! Where each deploy setting may live. Tova's analyzer accepts only seed
//! 003's fields in a `deploy` block (anything else fails `tova build`), so
//! berth's own settings belong in `tova.toml` under `[deploy.<env>]`, which
//! Tova tolerates. A berth setting still found in the block keeps working,
//! with a warning and the fix; a setting given in both places is an error.

use super::infer::suggest;
use super::project::Sources;
use crate::diagnostic::Diagnostic;
use crate::lang::deploy_parser::{DeployBlock, Prop};

/// The fields of seed 003's table: the deploy block's (Tova's `KNOWN_DEPLOY_FIELDS`).
pub(crate) const BLOCK_FIELDS: &[&str] = &[
    "server",
    "domain",
    "instances",
    "memory",
    "branch",
    "health",
    "health_interval",
    "health_timeout",
    "restart_on_failure",
    "keep_releases",
];

/// berth's own settings: `tova.toml [deploy.<env>]`.
pub(crate) const TOML_SETTINGS: &[&str] = &[
    "app",
    "rolling",
    "max_fail",
    "runtime",
    "bun_url",
    "module_retention",
    "bundle",
    "build",
    "start",
    "tls",
];

fn toml_line(p: &Prop) -> String {
    format!("{} = {}", p.key, toml_value(p))
}

fn toml_value(p: &Prop) -> String {
    use crate::lang::deploy_parser::Value;
    match &p.value.value {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "…".to_owned(),
    }
}

/// The block's properties followed by the TOML settings of the same
/// environment, after the placement checks.
pub(crate) fn merge(
    sources: &Sources,
    block: &DeployBlock,
    toml: &[Prop],
    diags: &mut Vec<Diagnostic>,
) -> DeployBlock {
    let mut out = block.clone();
    for p in &block.props {
        if TOML_SETTINGS.contains(&p.key.as_str()) {
            let d = sources.error(
                "B0126",
                format!(
                    "`{}` is a berth setting; `tova build` rejects it in a deploy block",
                    p.key
                ),
                &p.key_span,
                format!(
                    "move it to tova.toml:\n      [deploy.{}]\n      {}",
                    block.name,
                    toml_line(p)
                ),
            );
            diags.push(Diagnostic {
                severity: crate::diagnostic::Severity::Warning,
                ..d
            });
        }
    }
    for p in toml {
        if BLOCK_FIELDS.contains(&p.key.as_str()) {
            diags.push(sources.error(
                "B0102",
                format!("`{}` belongs in the deploy block, not in tova.toml", p.key),
                &p.key_span,
                format!(
                    "set it in `deploy \"{}\" {{ }}`: `{}: {}`",
                    block.name,
                    p.key,
                    toml_value(p)
                ),
            ));
            continue;
        }
        if !TOML_SETTINGS.contains(&p.key.as_str()) {
            let hint = match suggest(&p.key, TOML_SETTINGS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("berth settings in tova.toml: {}", TOML_SETTINGS.join(", ")),
            };
            diags.push(sources.error(
                "B0102",
                format!("unknown setting `{}` in [deploy.{}]", p.key, block.name),
                &p.key_span,
                hint,
            ));
            continue;
        }
        if let Some(first) = block.props.iter().find(|b| b.key == p.key) {
            let at = format!("{}:{}", first.key_span.file.display(), first.key_span.line);
            diags.push(sources.error(
                "B0127",
                format!(
                    "`{}` is set both here and in the deploy block ({at})",
                    p.key
                ),
                &p.key_span,
                format!("keep it here and remove it from the deploy block at {at}"),
            ));
            continue;
        }
        out.props.push(p.clone());
    }
    out
}
