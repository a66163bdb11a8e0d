//! The fingerprint of each provisioning layer as a host records it: the
//! manifest's inputs of the layer (crate::manifest::layers) and the files of
//! the role that provisions it. `berth deploy` skips a layer whose
//! fingerprint the host already has; a berth with other roles runs it again.

use indexmap::IndexMap;
use sha1::{Digest, Sha1};

use crate::manifest::model::Manifest;

pub(crate) fn layer_hashes(m: &Manifest) -> IndexMap<&'static str, String> {
    crate::manifest::layers::layer_hashes(m)
        .into_iter()
        .map(|(layer, inputs)| {
            let mut h = Sha1::new();
            h.update(inputs.as_bytes());
            h.update(b"\0");
            h.update(super::roles::role_digest(layer).as_bytes());
            (
                layer,
                h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_moves_with_its_inputs_and_its_role_only() {
        let mut m = crate::emit::tests::minimal();
        let a = layer_hashes(&m);
        m.memory_bytes *= 2;
        let b = layer_hashes(&m);
        let moved: Vec<&str> = a.keys().copied().filter(|l| a[l] != b[l]).collect();
        assert_eq!(moved, vec!["services"]);
        assert!(a.values().all(|h| h.len() == 40));
        assert_ne!(
            super::super::roles::role_digest("system"),
            super::super::roles::role_digest("app")
        );
    }
}
