//! SIMD workloads in the kernel: two tasks whose wasm code keeps vectors in registers
//! through long loops, preempted by the timer at their epoch checks, each checking its
//! vector results against scalar code every round. A task that got the other's vector
//! registers (or lost its own across a switch) prints a mismatch and exits 1.

use wasmetal_tests::Launcher;
use wasmetal_tests::programs::program;

#[test]
fn two_preempted_simd_tasks_keep_their_vector_registers() {
    let wasm = program("simd_mix").display().to_string();
    let second = format!("{wasm} 2");
    let launcher = Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"));
    let run = launcher.run(&["--timeout", "300", "run", &wasm, "--task", &second, "--", "1"]);
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 12, "{run}");
    assert!(lines.iter().all(|line| line.contains(" ok ")), "{run}");
    // The hashes of seeds 1 and 2 after six rounds (the same under TCG and KVM).
    assert!(lines.contains(&"[simd_mix.wasm] round 5 ok ebcd63a2"), "{run}");
    assert!(lines.contains(&"[simd_mix.wasm#1] round 5 ok e47d9898"), "{run}");
    // Each round runs for many timer ticks, and both tasks made progress before either
    // finished: they were switched while their loops were running.
    let first_done = lines.iter().position(|l| l.starts_with("[simd_mix.wasm] round 5")).unwrap();
    let second_done = lines.iter().position(|l| l.starts_with("[simd_mix.wasm#1] round 5")).unwrap();
    let both_running = &lines[..first_done.min(second_done)];
    assert!(both_running.iter().any(|l| l.starts_with("[simd_mix.wasm] ")), "{run}");
    assert!(both_running.iter().any(|l| l.starts_with("[simd_mix.wasm#1] ")), "{run}");
}
