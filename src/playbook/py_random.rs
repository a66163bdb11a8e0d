//! Python's `random.Random(seed)`: the Mersenne Twister seeded as CPython
//! seeds it (an integer's 32-bit words; a string's UTF-8 bytes followed by
//! their SHA-512, read as one big integer), with `_randbelow` (behind `randrange` and
//! `choice`) and `shuffle` drawing as CPython draws. So `shuffle(seed=...)` and
//! `random(seed=...)` give the numbers Ansible gives.

use sha2::Digest;

const N: usize = 624;
const M: usize = 397;

/// One seeded generator.
pub(crate) struct PyRandom {
    mt: [u32; N],
    index: usize,
}

/// What a seed can be: Python's `int` or `str`.
pub(crate) enum Seed<'a> {
    Int(i64),
    Str(&'a str),
}

impl PyRandom {
    pub(crate) fn new(seed: Seed<'_>) -> PyRandom {
        // The seed as an unsigned big-endian integer.
        let big: Vec<u8> = match seed {
            Seed::Int(i) => i.unsigned_abs().to_be_bytes().to_vec(),
            Seed::Str(s) => {
                let mut b = s.as_bytes().to_vec();
                b.extend_from_slice(&sha2::Sha512::digest(s.as_bytes()));
                b
            }
        };
        let first = big.iter().position(|&b| b != 0).unwrap_or(big.len());
        let digits = &big[first..];
        // Little-endian 32-bit words, at least one.
        let mut key: Vec<u32> = digits
            .rchunks(4)
            .map(|c| c.iter().fold(0u32, |w, &b| (w << 8) | b as u32))
            .collect();
        if key.is_empty() {
            key.push(0);
        }
        let mut r = PyRandom {
            mt: [0; N],
            index: N,
        };
        r.init_by_array(&key);
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..N {
            let prev = self.mt[i - 1];
            self.mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
        }
        self.mt[0] = 0x8000_0000;
    }

    fn genrand_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `getrandbits(k)` for `k` up to 64.
    fn getrandbits(&mut self, k: u32) -> u64 {
        if k == 0 {
            return 0;
        }
        let mut out = 0u64;
        let mut left = k;
        let mut shift = 0;
        while left > 0 {
            let mut r = self.genrand_u32() as u64;
            if left < 32 {
                r >>= 32 - left;
            }
            out |= r << shift;
            shift += 32;
            left = left.saturating_sub(32);
        }
        out
    }

    /// `_randbelow(n)`: uniform in `[0, n)`, by rejection.
    pub(crate) fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `shuffle(x)` in place.
    pub(crate) fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.randbelow(i as u64 + 1) as usize;
            x.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each against CPython 3.11's `random.Random`.
    #[test]
    fn draws_as_cpython() {
        let mut l: Vec<i32> = (0..10).collect();
        PyRandom::new(Seed::Str("web1")).shuffle(&mut l);
        assert_eq!(l, [2, 6, 7, 8, 1, 3, 0, 9, 4, 5]);
        let mut l: Vec<i32> = (0..10).collect();
        PyRandom::new(Seed::Int(42)).shuffle(&mut l);
        assert_eq!(l, [7, 3, 2, 8, 5, 6, 9, 4, 0, 1]);
        let mut r = PyRandom::new(Seed::Int(0));
        assert_eq!(r.getrandbits(32), 3_626_764_237);
        assert_eq!(r.randbelow(100), 49, "randrange(0, 100)");
        assert_eq!(r.randbelow(3), 1, "choice('abc') is 'b'");
        assert_eq!(PyRandom::new(Seed::Int(-7)).getrandbits(32), 1_390_851_128);
        assert_eq!(
            PyRandom::new(Seed::Str("héllo")).getrandbits(32),
            56_709_863
        );
        assert_eq!(
            PyRandom::new(Seed::Int(3)).randbelow(1 << 40),
            285_805_288_266,
            "randrange(0, 2**40)"
        );
        // randrange(1, 100, 7) is 1 + 7 * randbelow(15).
        assert_eq!(PyRandom::new(Seed::Int(3)).randbelow(15), 3);
    }
}
