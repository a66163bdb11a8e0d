//! Helpers for the deploy room's unit tests.

use std::path::PathBuf;

use crate::manifest::model::Manifest;

/// The first manifest of a one-file project named `shop`.
pub(crate) fn manifest(src: &str) -> Manifest {
    let mut d = Vec::new();
    let p = crate::manifest::project::compile(
        "shop",
        vec![(PathBuf::from("app.tova"), src.to_owned())],
        &|_| true,
        &mut d,
    )
    .unwrap_or_else(|| panic!("{d:?}"));
    assert!(!d.iter().any(|x| x.is_error()), "{d:?}");
    p.manifests.into_values().next().unwrap()
}
