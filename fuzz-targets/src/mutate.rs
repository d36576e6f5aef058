//! Deterministic byte-level mutation of a seed input (AFL-style havoc, small).
//!
//! Owns only the mutation operators; what the bytes mean is the target's business.

use crate::seed::Rng;

/// Values that often sit on boundaries in binary formats.
const INTERESTING: [u64; 12] =
    [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 32, u64::MAX];

/// A mutant of `input`: 1–8 operations (bit flips, byte sets, interesting values,
/// inserted or removed runs, LEB128-continuation bytes, a copied block), capped at
/// `max_len` bytes.
pub fn mutate(input: &[u8], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    mutate_with(input, rng, max_len, 8)
}

/// As [`mutate`], with 1 to `max_operations` operations (fewer keep more mutants valid).
pub fn mutate_with(input: &[u8], rng: &mut Rng, max_len: usize, max_operations: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    let operations = 1 + rng.below(max_operations.max(1));
    for _ in 0..operations {
        if out.is_empty() {
            out.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.below(out.len());
        match rng.below(8) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => out[at] = rng.next_u64() as u8,
            2 => {
                let value = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let width = [1, 2, 4, 8][rng.below(4)];
                let end = (at + width).min(out.len());
                out[at..end].copy_from_slice(&value[..end - at]);
            }
            3 => {
                let run = 1 + rng.below(16);
                let byte = rng.next_u64() as u8;
                out.splice(at..at, core::iter::repeat_n(byte, run));
            }
            4 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            5 => out[at] |= 0x80,
            6 => {
                let len = 1 + rng.below(32.min(out.len()));
                let from = rng.below(out.len() + 1 - len);
                let block: Vec<u8> = out[from..from + len].to_vec();
                let to = rng.below(out.len());
                out.splice(to..to, block);
            }
            _ => out.truncate(at),
        }
    }
    out.truncate(max_len);
    out
}
