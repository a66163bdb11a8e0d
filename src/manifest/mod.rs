//! Manifest: what an app needs (runtime, databases, proxy, secrets, data), inferred from its blocks.

use std::path::PathBuf;

#[cfg(test)]
mod idioms;
pub(crate) mod infer;
pub(crate) mod layers;
pub(crate) mod model;
pub(crate) mod project;
pub(crate) mod render;
pub(crate) mod settings;
pub(crate) mod validate;

pub(crate) use project::load_project;

#[derive(Debug, clap::Args)]
pub(crate) struct ManifestArgs {
    /// Project directory holding the .tova files.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// The deploy block's name.
    #[arg(long)]
    pub(crate) env: String,
    /// Print JSON instead of the human table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints every diagnostic to stderr.
pub(crate) fn report(diags: &[crate::diagnostic::Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

pub(crate) fn main(args: ManifestArgs) -> i32 {
    let project = match load_project(&args.dir) {
        Ok(p) => p,
        Err(diags) => {
            report(&diags);
            let n = diags.iter().filter(|d| d.is_error()).count();
            eprintln!("error: {n} error(s); `berth explain CODE` describes each code");
            return 1;
        }
    };
    report(&project.warnings);
    let Some(m) = project.manifests.get(&args.env) else {
        let known: Vec<&str> = project.manifests.keys().map(String::as_str).collect();
        let d = crate::diagnostic::Diagnostic::error(
            "B0201",
            format!("no deploy block named \"{}\"", args.env),
        )
        .hint(format!(
            "environments in this project: {}",
            known.join(", ")
        ));
        eprintln!("{d}");
        return 1;
    };
    if args.json {
        print!("{}", render::json(m));
    } else {
        print!("{}", render::human(m));
    }
    0
}
