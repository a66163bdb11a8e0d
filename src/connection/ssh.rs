//! SSH connections over libssh2 (the ssh2 crate).
