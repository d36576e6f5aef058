//! The fuzz corpus inside the kernel: every module runs, traps or is rejected.
//!
//! The checked-in modules (reproducers included), seeded mutants of them and seeded
//! wasm-smith modules (valid, so they get as far as running), replayed in one boot
//! (`corpus` mode). The kernel survives them all and counts them.

use wasmetal_fuzz_targets::seed::{Rng, Seed};
use wasmetal_fuzz_targets::{corpus, mutate, smith};
use wasmetal_tests::Launcher;

const MUTANTS: usize = 150;
const GENERATED: u64 = 100;

#[test]
fn corpus_and_mutants_replay_without_a_kernel_failure() {
    let dir = std::env::temp_dir().join(format!("wasmetal-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = corpus::inputs("module");
    assert!(seeds.len() >= 5, "the module corpus is missing");
    let mut files = Vec::new();
    for (name, bytes) in &seeds {
        files.push((name.clone(), bytes.clone()));
    }
    let mut rng = Rng::new(0x5EED_C0DE);
    for index in 0..MUTANTS {
        let (name, bytes) = &seeds[index % seeds.len()];
        // Half the mutants get a single operation, so more of them stay valid.
        let operations = if index % 2 == 0 { 1 } else { 8 };
        files.push((format!("mutant-{index}-of-{name}"), mutate::mutate_with(bytes, &mut rng, 1 << 20, operations)));
    }
    for seed in 0..GENERATED {
        if let Some(wasm) = smith::module(Seed(seed)) {
            files.push((format!("smith-seed-{seed}.wasm"), wasm));
        }
    }
    let mut args: Vec<String> = ["--timeout", "600", "kernel", "--append", "corpus"].map(String::from).to_vec();
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        args.push("--file".into());
        args.push(format!("{}::corpus/{name}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test")).run(&args);
    let _ = std::fs::remove_dir_all(&dir);
    run.expect_code(0);
    // "corpus: N modules: R ran, T trapped, E rejected; heap live A -> B bytes"
    let line = run.expect_line(" modules: ");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|word| !word.is_empty())
        .map(|word| word.parse().unwrap())
        .collect();
    let (total, ran, trapped, rejected) = (numbers[0], numbers[1], numbers[2], numbers[3]);
    assert_eq!(total, files.len() as u64, "{line}");
    assert_eq!(ran + trapped + rejected, total, "{line}");
    assert!(ran > 0 && trapped > 0 && rejected > 0, "the corpus should run, trap and be rejected: {line}");
    eprintln!("{line}");
    for (name, _) in &files {
        run.expect_line(&format!("corpus: {name}: "));
    }
}
