//! The fuzz corpus inside the kernel: the checked-in modules (reproducers included) and
//! seeded mutants of them, replayed in one boot (`corpus` mode). Each runs, traps or is
//! rejected; the kernel survives them all and counts them.

use wasmetal_fuzz_targets::seed::Rng;
use wasmetal_fuzz_targets::{corpus, mutate};
use wasmetal_tests::Launcher;

const MUTANTS: usize = 150;

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
        files.push((format!("mutant-{index}-of-{name}"), mutate::mutate(bytes, &mut rng, 1 << 20)));
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
    assert!(ran > 0 && rejected > 0, "the corpus should both run and be rejected: {line}");
    for (name, _) in &files {
        run.expect_line(&format!("corpus: {name}: "));
    }
}
