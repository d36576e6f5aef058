//! Seeds and the deterministic byte streams they expand to.
//!
//! A seed is the whole identity of a fuzz case: the same seed gives the same bytes on
//! every machine (SplitMix64, no platform randomness).

/// One case's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed(pub u64);

impl Seed {
    /// `len` pseudo-random bytes drawn from this seed and a stream tag (different tags
    /// give independent streams).
    pub fn bytes(self, stream: u64, len: usize) -> Vec<u8> {
        let mut rng = Rng::new(self.0 ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}
