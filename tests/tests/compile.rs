//! Compiling once: `wasmetal compile` artifacts and the launcher's compile cache run
//! as the wasm does, the VM compiles nothing for them, and damaged or mismatched
//! artifacts are one-line load errors (exit 1), never kernel failures.

use std::path::{Path, PathBuf};

use wasmetal_tests::programs::program;
use wasmetal_tests::scratch::Scratch;
use wasmetal_tests::{Launcher, Run};

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// `echo_args` run with `launcher_args` before `run`, `run_args` after it.
fn echo(cache: &Path, launcher_args: &[&str], run_args: &[&str], program_path: &Path) -> Run {
    let mut args: Vec<&str> = launcher_args.to_vec();
    args.push("run");
    args.extend_from_slice(run_args);
    let path = text(program_path);
    args.push(&path);
    args.extend_from_slice(&["--", "one", "two words"]);
    launcher().run_with_env(&args, &[("WASMETAL_CACHE_DIR", cache)])
}

/// The kernel log line of how the program's module was made: "in place" (an artifact
/// whose code runs where the initrd holds it, as the launcher packs them), "copied" (an
/// artifact whose code was copied) or "compiled".
fn how_made(run: &Run) -> &'static str {
    if run.stderr.contains(" loaded (code in place) in ") {
        "in place"
    } else if run.stderr.contains(" loaded (code copied) in ") {
        "copied"
    } else if run.stderr.contains("compiled in") {
        "compiled"
    } else {
        "neither"
    }
}

#[test]
fn a_cached_run_equals_an_uncached_one_and_the_vm_compiles_nothing() {
    let scratch = Scratch::new("compile", "cache");
    let cache = scratch.path("cache");
    let wasm = program("echo_args");
    let uncached = echo(&cache, &["-v"], &["--no-cache"], &wasm);
    uncached.expect_code(0);
    assert_eq!(how_made(&uncached), "compiled", "{uncached}");
    assert!(!cache.exists(), "--no-cache wrote the cache");

    let first = echo(&cache, &["-v"], &[], &wasm);
    first.expect_code(0);
    assert!(first.stderr.contains("echo_args.wasm: compiled on the host"), "{first}");
    assert_eq!(how_made(&first), "in place", "{first}");
    let second = echo(&cache, &["-v"], &[], &wasm);
    second.expect_code(0);
    assert!(second.stderr.contains("echo_args.wasm: found in the cache"), "{second}");
    assert_eq!(how_made(&second), "in place", "{second}");
    assert_eq!(first.stdout, uncached.stdout);
    assert_eq!(second.stdout, uncached.stdout);
    assert!(uncached.stdout.contains("two words"), "{uncached}");

    // A damaged entry (here a code byte, which the runtime itself trusts) is caught by
    // the entry's digest and compiled again.
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut entry = std::fs::read(&entries[0]).unwrap();
    let last = entry.len() - 1;
    entry[last] ^= 0x5a;
    std::fs::write(&entries[0], &entry).unwrap();
    let repaired = echo(&cache, &["-v"], &[], &wasm);
    repaired.expect_code(0);
    assert!(repaired.stderr.contains("compiled on the host again"), "{repaired}");
    assert_eq!(repaired.stdout, uncached.stdout);
}

#[test]
fn a_compiled_artifact_runs_without_compiling_and_damage_is_one_line_exit_1() {
    let scratch = Scratch::new("compile", "cwasm");
    let cache = scratch.path("cache");
    let cwasm = scratch.path("echo.cwasm");
    let compiled = launcher().run(&["compile", &text(&program("echo_args")), "-o", &text(&cwasm)]);
    compiled.expect_code(0);
    let reference = echo(&cache, &[], &["--no-cache"], &program("echo_args"));
    reference.expect_code(0);
    let run = echo(&cache, &["-v"], &[], &cwasm);
    run.expect_code(0);
    assert_eq!(how_made(&run), "in place", "{run}");
    // The same output but for argv[0], the file's name.
    let after_argv0 = |run: &Run| run.stdout.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(run.stdout.lines().next(), Some("arg 0: echo.cwasm"), "{run}");
    assert_eq!(after_argv0(&run), after_argv0(&reference));
    assert!(!cache.exists(), "an artifact went through the cache");

    let bytes = std::fs::read(&cwasm).unwrap();
    let damaged = scratch.path("damaged.cwasm");
    for (what, contents, expected) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("a table byte flipped", flip(&bytes, 200), "damaged"),
        ("not an artifact's magic", flip(&bytes, 1), "neither a WebAssembly module nor a compiled module"),
    ] {
        std::fs::write(&damaged, contents).unwrap();
        let run = echo(&cache, &[], &[], &damaged);
        run.expect_code(1);
        let lines: Vec<&str> = run.stderr.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {run}");
        assert!(lines[0].contains(expected), "{what}: {run}");
    }
}

#[test]
fn precompiled_workloads_boot_the_runtime_only_kernel() {
    let scratch = Scratch::new("compile", "runtime-only");
    let cache = scratch.path("cache");
    // No --kernel: the launcher picks from the kernels it carries.
    let run = |wasm: &Path, extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
            .args(["-v", "--timeout", "300", "run"])
            .args(extra)
            .arg(wasm)
            .env("WASMETAL_CACHE_DIR", &cache)
            .output()
            .unwrap();
        Run::from(output)
    };
    let cached = run(&program("echo_args"), &[]);
    cached.expect_code(0);
    assert!(cached.stderr.contains("runtime-only kernel (built without the compiler)"), "{cached}");
    let in_vm = run(&program("echo_args"), &["--no-cache"]);
    in_vm.expect_code(0);
    assert!(!in_vm.stderr.contains("runtime-only kernel"), "{in_vm}");
    assert_eq!(in_vm.stdout, cached.stdout);
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x10;
    out
}

#[test]
fn mismatched_settings_and_cpu_features_are_one_line_exit_1() {
    let scratch = Scratch::new("compile", "mismatch");
    let cache = scratch.path("cache");
    // Fuel compiled in, run without fuel.
    let fuel = scratch.path("fuel.cwasm");
    launcher().run(&["compile", "--fuel", &text(&program("echo_args")), "-o", &text(&fuel)]).expect_code(0);
    let run = echo(&cache, &[], &[], &fuel);
    run.expect_code(1);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run}");
    assert!(run.stderr.contains("fuel consumption = on, this engine has off"), "{run}");
    // ...and the same artifact runs with fuel.
    echo(&cache, &[], &["--fuel", "100000000"], &fuel).expect_code(0);

    // Every feature the runtime knows, on a VM with the x86-64-v2 baseline only.
    let wide = scratch.path("wide.cwasm");
    let all = "baseline,+avx,+avx2,+fma,+bmi1,+bmi2,+lzcnt";
    launcher().run(&["compile", "--target-cpu", all, &text(&program("echo_args")), "-o", &text(&wide)]).expect_code(0);
    // TCG gives the guest exactly the model's features (PVM passes the host's cpuid).
    let conservative = ["--accel", "tcg", "--cpu", "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt"];
    let run = echo(&cache, &conservative, &[], &wide);
    run.expect_code(1);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run}");
    assert!(run.stderr.contains("uses CPU features this machine lacks (avx, avx2, fma, bmi1, bmi2"), "{run}");

    // The cache compiles for the VM it will run on: that model's features.
    let cached = echo(&cache, &conservative, &[], &program("echo_args"));
    cached.expect_code(0);
    assert!(cached.stdout.contains("two words"), "{cached}");

    // Bad requests are the user's errors.
    let run = launcher().run(&["compile", "--target-cpu", "baseline,+avx512", &text(&program("echo_args"))]);
    run.expect_code(1);
    assert!(run.stderr.contains("unknown CPU feature"), "{run}");
    let run = launcher().run(&["compile", &text(&fuel)]);
    run.expect_code(1);
    assert!(run.stderr.contains("already compiled"), "{run}");
}
