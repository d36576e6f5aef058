//! Allocates about 300 MiB in 1 MiB chunks, touches every page, prints a checksum.
use wasmetal_test_programs::{FNV_OFFSET, fnv1a};

fn main() {
    const CHUNK: usize = 1 << 20;
    let mib: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(300);
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for index in 0..mib {
        let mut chunk = vec![0u8; CHUNK];
        for (page, byte) in chunk.iter_mut().step_by(4096).enumerate() {
            *byte = (index as u8).wrapping_mul(31).wrapping_add(page as u8);
        }
        chunks.push(chunk);
    }
    let mut hash = FNV_OFFSET;
    for chunk in &chunks {
        for byte in chunk.iter().step_by(4096) {
            hash = fnv1a(hash, &[*byte]);
        }
    }
    println!("allocated {mib} MiB, checksum {hash:016x}");
}
