//! Helpers shared by the test programs.

/// 64-bit FNV-1a over `bytes`, continuing from `hash` (start with `FNV_OFFSET`).
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// FNV-1a's initial value.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
