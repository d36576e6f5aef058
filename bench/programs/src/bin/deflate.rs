//! miniz_oxide: compress N MiB of text (default 16) at level 6 and inflate it back.
use wasmetal_bench_programs::{Rng, arg, text, workload};

fn main() {
    let mib = arg(16);
    let input = text(&mut Rng::new(11), mib << 20).into_bytes();
    let (compressed, restored) = workload("deflate", || {
        let compressed = miniz_oxide::deflate::compress_to_vec(&input, 6);
        let restored = miniz_oxide::inflate::decompress_to_vec(&compressed).expect("inflates");
        (compressed.len(), restored)
    });
    assert!(restored == input, "inflate did not restore the input");
    println!("deflate: {} bytes to {compressed}", input.len());
}
