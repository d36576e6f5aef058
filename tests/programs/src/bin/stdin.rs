//! Reads all of stdin and prints its length and FNV-1a checksum.
use std::io::Read;

use wasmetal_test_programs::{FNV_OFFSET, fnv1a};

fn main() {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).expect("reading stdin");
    println!("{} bytes, fnv1a {:016x}", input.len(), fnv1a(FNV_OFFSET, &input));
}
