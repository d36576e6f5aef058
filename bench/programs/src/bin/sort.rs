//! Sorting and hashing: sort N strings (default 500 000), dedup them in a HashMap.
use std::collections::HashMap;
use wasmetal_bench_programs::{Rng, WORDS, arg, workload};

fn main() {
    let count = arg(500_000);
    let mut rng = Rng::new(17);
    let mut strings: Vec<String> = (0..count)
        .map(|_| format!("{}-{}", WORDS[rng.below(WORDS.len() as u64) as usize], rng.below(1 << 20)))
        .collect();
    let distinct = workload("sort", || {
        strings.sort_unstable();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for string in &strings {
            *seen.entry(string.as_str()).or_default() += 1;
        }
        seen.len()
    });
    assert!(strings.windows(2).all(|pair| pair[0] <= pair[1]), "sorted");
    println!("sort: {count} strings, {distinct} distinct");
}
