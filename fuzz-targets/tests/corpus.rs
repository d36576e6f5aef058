//! CI's share of fuzzing: every target over its corpus and seeded mutants.
//!
//! Each target replays `fuzz/corpus/<target>/` and a fixed set of seeded mutations of
//! it, in seconds. A panic in any target fails the test with the input's name or seed.

use wasmetal_fuzz_targets::seed::{Rng, Seed};
use wasmetal_fuzz_targets::{corpus, mutate, targets};

/// Mutants per target in CI (the module target compiles each, so it gets fewer).
fn mutants(target: &str) -> u64 {
    match target {
        "module" => 150,
        "wasi" => 300,
        _ => 2000,
    }
}

fn replay(name: &str) {
    let target = targets::find(name).expect("a known target");
    let inputs = corpus::inputs(name);
    assert!(!inputs.is_empty(), "fuzz/corpus/{name}/ is empty");
    for (file, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| (target.run)(bytes));
        assert!(outcome.is_ok(), "{name}: corpus file {file} panics");
    }
    let pool: Vec<Vec<u8>> = inputs.into_iter().map(|(_, bytes)| bytes).collect();
    for seed in 0..mutants(name) {
        let mut rng = Rng::new(seed ^ 0xC1);
        let input = if seed.is_multiple_of(4) {
            Seed(seed).bytes(3, rng.below(2048))
        } else {
            mutate::mutate(&pool[seed as usize % pool.len()], &mut rng, target.max_len)
        };
        let outcome = std::panic::catch_unwind(|| (target.run)(&input));
        assert!(outcome.is_ok(), "{name}: mutant seed {seed} panics");
    }
}

#[test]
fn module_corpus() {
    replay("module");
}

#[test]
fn wasi_corpus() {
    replay("wasi");
}

#[test]
fn initrd_corpus() {
    replay("initrd");
}

#[test]
fn p9_corpus() {
    replay("p9");
}

#[test]
fn stdio_link_corpus() {
    replay("stdio_link");
}

#[test]
fn net_corpus() {
    replay("net");
}
