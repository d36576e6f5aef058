//! SIMD kernels on wasmetal-runtime against Wasmtime, in the same process on the same
//! machine: the `compare` harness (`harness/`) on hand-written `v128` modules in
//! `bench/wat/simd_*.wat`, each checked against a native Rust reference first.
//!
//! - `simd_dot`: f32x4 multiply-add dot product (float lanes);
//! - `simd_hash`: a 16-lane xxh32-style hash (i32x4 multiply, shifts, or);
//! - `simd_hex`: hex encoding (i8x16 swizzle table lookups, shuffles, stores);
//! - `simd_int8`: int8 dot products (widening, i32x4.dot_i16x8_s, relaxed
//!   i32x4.relaxed_dot_i8x16_i7x16_add_s).
//!
//! Both engines run relaxed SIMD natively (their default). Prints
//! `<case> <compile|run>: wasmetal <t> ms, wasmtime <t> ms, ratio <wasmetal/wasmtime>`.
//!
//! Run with `cargo bench -p wasmetal-bench --bench simd` (from the workspace root).

mod harness;

use harness::{Case, settings};

const CASES: &[Case] = &[
    Case {
        name: "simd_dot",
        wat: include_str!("../wat/simd_dot.wat"),
        reference: dot_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "simd_hash",
        wat: include_str!("../wat/simd_hash.wat"),
        reference: hash_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "simd_hex",
        wat: include_str!("../wat/simd_hex.wat"),
        reference: hex_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "simd_int8",
        wat: include_str!("../wat/simd_int8.wat"),
        reference: int8_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
];

fn main() {
    harness::run(CASES);
}

// Native references: the same lanes in the same order as the modules (so f32 sums are
// bit-identical: wasm's f32x4.mul and f32x4.add round separately, as Rust does here).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The modules' `$fold`: FNV-1a-like over four u32 lanes.
fn fold(h: u64, lanes: [u32; 4]) -> u64 {
    lanes.iter().fold(h, |h, &lane| (h ^ u64::from(lane)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The modules' `$fill` with xorshift64: `bytes` of little-endian u64s.
fn xorshift64_bytes(bytes: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(bytes);
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn dot_reference() -> i64 {
    const FLOATS: usize = 0x200000 / 4;
    let mut x: u32 = 0x2545_F491;
    let values: Vec<f32> = (0..FLOATS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ((x >> 8) as f32) * (1.0 / 16_777_216.0) - 0.5
        })
        .collect();
    let (a, b) = values.split_at(FLOATS / 2);
    let mut acc = [[0f32; 4]; 4];
    for _ in 0..64 {
        for i in (0..a.len()).step_by(16) {
            for (k, lanes) in acc.iter_mut().enumerate() {
                for (l, lane) in lanes.iter_mut().enumerate() {
                    *lane += a[i + 4 * k + l] * b[i + 4 * k + l];
                }
            }
        }
    }
    acc.iter().fold(FNV_OFFSET, |h, lanes| fold(h, lanes.map(f32::to_bits))) as i64
}

fn hash_reference() -> i64 {
    let data = xorshift64_bytes(0x400000);
    let mut acc: [[u32; 4]; 4] = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]];
    for _ in 0..8 {
        for stripe in (0..data.len()).step_by(64) {
            for (k, lanes) in acc.iter_mut().enumerate() {
                for (l, lane) in lanes.iter_mut().enumerate() {
                    let input = u32_at(&data, stripe + 16 * k + 4 * l);
                    *lane =
                        lane.wrapping_add(input.wrapping_mul(0x85EB_CA77)).rotate_left(13).wrapping_mul(0x9E37_79B1);
                }
            }
        }
    }
    acc.iter().fold(FNV_OFFSET, |h, lanes| fold(h, *lanes)) as i64
}

fn hex_reference() -> i64 {
    let data = xorshift64_bytes(0x100000);
    let digits = b"0123456789abcdef";
    let mut sum = [0u64; 2];
    let mut out = [0u8; 32];
    for _ in 0..8 {
        for block in data.chunks_exact(16) {
            for (i, &byte) in block.iter().enumerate() {
                out[2 * i] = digits[usize::from(byte >> 4)];
                out[2 * i + 1] = digits[usize::from(byte & 15)];
            }
            for (lane, total) in sum.iter_mut().enumerate() {
                let first = u64::from_le_bytes(out[8 * lane..8 * lane + 8].try_into().unwrap());
                let second = u64::from_le_bytes(out[16 + 8 * lane..16 + 8 * lane + 8].try_into().unwrap());
                *total = total.wrapping_add(first.wrapping_add(second));
            }
        }
    }
    sum[0].wrapping_add(sum[1]) as i64
}

fn int8_reference() -> i64 {
    let data = xorshift64_bytes(0x200000);
    let (a, b) = data.split_at(0x100000);
    let (mut low, mut high, mut relaxed) = ([0u32; 4], [0u32; 4], [0u32; 4]);
    for _ in 0..16 {
        for i in (0..a.len()).step_by(16) {
            let product = |j: usize| i32::from(a[i + j] as i8) * i32::from(b[i + j] as i8);
            for lane in 0..4 {
                let low_pair = product(2 * lane) + product(2 * lane + 1);
                let high_pair = product(8 + 2 * lane) + product(8 + 2 * lane + 1);
                low[lane] = low[lane].wrapping_add(low_pair as u32);
                high[lane] = high[lane].wrapping_add(high_pair as u32);
                let quad: i32 =
                    (0..4).map(|k| i32::from(a[i + 4 * lane + k] as i8) * i32::from(b[i + 4 * lane + k] & 0x7f)).sum();
                relaxed[lane] = relaxed[lane].wrapping_add(quad as u32);
            }
        }
    }
    fold(fold(fold(FNV_OFFSET, low), high), relaxed) as i64
}
