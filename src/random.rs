//! Random bytes for names and ids (temporary files, deploy run ids): from
//! /dev/urandom, else a hash of the clock and the process id.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;

pub(crate) fn bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        let state = std::collections::hash_map::RandomState::new();
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = state.build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            let len = chunk.len();
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..len]);
        }
    }
    bytes
}
