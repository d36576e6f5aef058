//! ChaCha20 as a random-number generator, for CPUs without RDRAND.
//!
//! The block function of RFC 8439 with a 256-bit key, a zero nonce and a 64-bit block
//! counter; output is the keystream.

/// A ChaCha20 keystream generator.
pub struct ChaCha20 {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

impl ChaCha20 {
    pub fn new(key: [u8; 32]) -> Self {
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip(key.chunks_exact(4)) {
            *word = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
        }
        Self { key: words, counter: 0, block: [0; 64], used: 64 }
    }

    fn refill(&mut self) {
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        state[4..12].copy_from_slice(&self.key);
        state[12] = self.counter as u32;
        state[13] = (self.counter >> 32) as u32;
        let input = state;
        for _ in 0..10 {
            quarter_round(&mut state, 0, 4, 8, 12);
            quarter_round(&mut state, 1, 5, 9, 13);
            quarter_round(&mut state, 2, 6, 10, 14);
            quarter_round(&mut state, 3, 7, 11, 15);
            quarter_round(&mut state, 0, 5, 10, 15);
            quarter_round(&mut state, 1, 6, 11, 12);
            quarter_round(&mut state, 2, 7, 8, 13);
            quarter_round(&mut state, 3, 4, 9, 14);
        }
        for (index, word) in state.iter().enumerate() {
            let value = word.wrapping_add(input[index]);
            self.block[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
        }
        self.counter += 1;
        self.used = 0;
    }

    /// Fills `out` with keystream bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for byte in out {
            if self.used == 64 {
                self.refill();
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}
