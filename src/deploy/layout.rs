//! Where things live on a host (seed 003 §3). The root is `/opt/tova` on real
//! hosts; tests point it at a temporary directory.

use super::remote::q;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) root: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            root: "/opt/tova".into(),
        }
    }
}

impl Layout {
    #[cfg(test)]
    pub(crate) fn new(root: impl Into<String>) -> Layout {
        Layout { root: root.into() }
    }

    pub(crate) fn app_dir(&self, app: &str) -> String {
        format!("{}/apps/{app}", self.root)
    }

    /// Shell prologue defining `ROOT`, `APP` and `app` (the app directory).
    pub(crate) fn prologue(&self, app: &str) -> String {
        format!(
            "set -eu\nROOT={}\nAPP={}\napp=\"$ROOT/apps/$APP\"\n",
            q(&self.root),
            q(app)
        )
    }
}
