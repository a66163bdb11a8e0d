//! The fuzz targets' committed corpus (fuzz/corpus/<target>/), replayed on
//! stable Rust, then random mutations of it for a bounded time per target
//! (`BERTH_FUZZ_SECS`, default 2): no input may panic or take longer than
//! 10 s. Coverage-guided runs use `cargo +nightly fuzz run <target>` (see
//! fuzz/Cargo.toml); every crash they find becomes a corpus file here.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(10);

/// The target's corpus (fuzz/corpus/<target>/, minimized by `cargo fuzz
/// cmin`) and its regressions (fuzz/regressions/<target>/: inputs that once
/// crashed or hung, kept apart so minimizing never drops them).
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let dir = root.join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    if let Ok(entries) = std::fs::read_dir(root.join("regressions").join(target)) {
        files.extend(entries.map(|e| e.unwrap().path()));
    }
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Runs `f(input)` on its own thread: Err when it panics or hangs.
fn run_one(f: fn(&[u8]), input: Vec<u8>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(|| f(&input));
            let _ = tx.send(r.is_ok());
        })
        .unwrap();
    match rx.recv_timeout(HANG) {
        Ok(true) => {
            let _ = handle.join();
            Ok(())
        }
        Ok(false) => Err("panicked".into()),
        Err(_) => Err(format!("took longer than {HANG:?}")),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that mean something to one of the parsers.
const TOKENS: &[&[u8]] = &[
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"{#",
    b"#}",
    b"\"",
    b"'",
    b"\\",
    b"\n",
    b"\t",
    b":",
    b"- ",
    b"&a",
    b"*a",
    b"<<: ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"deploy \"x\" {",
    b"server {",
    b"=",
    b"#",
    b"/*",
    b"*/",
    b"${",
    b"$(",
    b"`",
    b"\xff\xfe",
    b"\0",
    b"[all]",
    b"[web:children]",
    b"host[1:3]",
    b"| default(",
    b"range(",
    b"loop",
    b"lookup(",
    b"0o777",
    b"1e999",
    b"~",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            1 => out
                .splice(at..at, TOKENS[rng.below(TOKENS.len())].iter().copied())
                .for_each(drop),
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            3 if !out.is_empty() => {
                // Repeat a slice (nesting, long lines).
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(16)).min(out.len());
                let piece = out[start..end].to_vec();
                for _ in 0..rng.below(20) {
                    out.splice(at.min(out.len())..at.min(out.len()), piece.iter().copied())
                        .for_each(drop);
                }
            }
            _ => out.insert(at, rng.next() as u8),
        }
    }
    out.truncate(64 * 1024);
    out
}

#[test]
fn the_corpus_and_its_mutations_neither_panic_nor_hang() {
    let secs: u64 = std::env::var("BERTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let failures_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let mut failures = Vec::new();
    for (name, f) in berth::fuzz::TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} is empty");
        for (path, bytes) in &seeds {
            if let Err(e) = run_one(*f, bytes.clone()) {
                failures.push(format!("{name}: {} {e}", path.display()));
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        let end = Instant::now() + Duration::from_secs(secs);
        let mut n = 0;
        while Instant::now() < end && failures.len() < 5 {
            let seed = &seeds[rng.below(seeds.len())].1;
            let input = mutate(&mut rng, seed);
            if let Err(e) = run_one(*f, input.clone()) {
                std::fs::create_dir_all(&failures_dir).unwrap();
                let file = failures_dir.join(format!("{name}-{n}.bin"));
                std::fs::write(&file, &input).unwrap();
                failures.push(format!(
                    "{name}: a mutation {e}; input in {}",
                    file.display()
                ));
            }
            n += 1;
        }
        eprintln!("{name}: {} corpus files, {n} mutations", seeds.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
