//! The launcher on any host: falling back when QEMU cannot start, and user errors that
//! exit like `wasmtime run` (1 with the reason), never silently or as a kernel failure.

use std::process::{Command, Stdio};

use wasmetal_tests::programs::program;
use wasmetal_tests::scratch::Scratch;
use wasmetal_tests::{Launcher, Run};

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

const INPUT_ERROR: i32 = 1;

/// Runs the launcher with an extra environment variable.
fn run_with_env(args: &[&str], var: &str, value: &str) -> Run {
    let launcher = launcher();
    let kernel = launcher.kernel().to_path_buf();
    let output = Command::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
        .arg("--kernel")
        .arg(kernel)
        .args(args)
        .env(var, value)
        .stdin(Stdio::null())
        .output()
        .expect("spawning the launcher");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_first_start_that_dies_falls_back_and_the_program_still_runs() {
    let hello = program("hello");
    let run =
        run_with_env(&["--timeout", "300", "run", hello.to_str().unwrap()], "WASMETAL_TEST_FAIL_FIRST_START", "1");
    run.expect_code(0);
    assert_eq!(run.stdout, "hello, world\n", "{run}");
    let notes: Vec<&str> = run.stderr.lines().filter(|line| line.contains("retrying with")).collect();
    assert_eq!(notes.len(), 1, "one line should say what failed and what was chosen instead:\n{run}");
    assert!(notes[0].contains("QEMU did not start with -accel"), "{run}");
    assert!(notes[0].contains("unable to find CPU model"), "the note should carry QEMU's reason:\n{run}");
}

#[test]
fn a_conservative_cpu_model_runs_programs() {
    // The fallback model: x86-64-v2 only (no AVX); the kernel and Cranelift use what
    // cpuid offers, so programs run the same.
    let compute = program("compute");
    let run = launcher().run(&[
        "--cpu",
        "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt",
        "--timeout",
        "300",
        "run",
        compute.to_str().unwrap(),
    ]);
    run.expect_code(0);
    assert!(!run.stdout.is_empty(), "{run}");
    assert_eq!(run.stderr, "", "{run}");
}

#[test]
fn tcg_without_sse41_is_a_clear_load_error() {
    let hello = program("hello");
    let run =
        launcher().run(&["--accel", "tcg", "--cpu", "qemu64", "--timeout", "300", "run", hello.to_str().unwrap()]);
    run.expect_code(INPUT_ERROR);
    assert!(run.stderr.contains("cannot run wasm on this CPU") && run.stderr.contains("SSE4.1"), "{run}");
}

#[test]
fn a_missing_program_file_exits_1_with_the_path_and_reason() {
    let run = launcher().run(&["run", "/nonexistent/app.wasm"]);
    run.expect_code(INPUT_ERROR);
    assert_eq!(run.stdout, "", "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error:\n{run}");
    assert!(lines[0].contains("/nonexistent/app.wasm") && lines[0].contains("No such file"), "{run}");
}

#[test]
fn an_unreadable_task_or_preload_file_exits_1() {
    let hello = program("hello");
    let hello = hello.to_str().unwrap();
    let run = launcher().run(&["run", hello, "--task", "/nonexistent/other.wasm"]);
    run.expect_code(INPUT_ERROR);
    assert!(run.stderr.contains("/nonexistent/other.wasm"), "{run}");
    let run = launcher().run(&["run", hello, "--preload", "lib=/nonexistent/lib.wasm"]);
    run.expect_code(INPUT_ERROR);
    assert!(run.stderr.contains("/nonexistent/lib.wasm"), "{run}");
}

#[test]
fn dir_trees_larger_than_the_guest_can_hold_are_refused_up_front() {
    let scratch = Scratch::new("launcher", "bigdir");
    let hello = program("hello");
    let spec = format!("{}::/data", scratch.0.display());
    for (name, bytes) in [("100m", 100u64 << 20), ("1g", 1 << 30)] {
        // Sparse: the launcher must refuse on the size, not read it.
        let file = std::fs::File::create(scratch.0.join(name)).unwrap();
        file.set_len(bytes).unwrap();
        drop(file);
        let run = launcher().run(&["--memory", "256", "run", hello.to_str().unwrap(), "--dir-copy", &spec]);
        run.expect_code(INPUT_ERROR);
        assert_eq!(run.stdout, "", "the program must not run:\n{run}");
        assert!(run.stderr.contains("do not fit") && run.stderr.contains("--memory"), "{run}");
    }
}

#[test]
fn a_dir_tree_the_kernel_heap_cannot_hold_is_a_load_error_not_a_panic() {
    // Bypasses the launcher's up-front check (raw kernel boot with a hand-packed
    // initrd) to reach the kernel's own: the copy must fail cleanly.
    let scratch = Scratch::new("launcher", "heapdir");
    let mut manifest = wasmetal_initrd::manifest::ManifestWriter::new();
    let program_name = "app/0/hello.wasm";
    manifest.push(wasmetal_initrd::manifest::Record::Program(program_name)).unwrap();
    manifest.push(wasmetal_initrd::manifest::Record::Arg("hello.wasm")).unwrap();
    manifest.push(wasmetal_initrd::manifest::Record::Dir { index: 0, guest: "/data" }).unwrap();
    let manifest_path = scratch.0.join("manifest");
    std::fs::write(&manifest_path, manifest.finish()).unwrap();
    let big = scratch.0.join("big");
    std::fs::write(&big, vec![0x5a; 100 << 20]).unwrap();
    let files = [
        format!("{}::{}", manifest_path.display(), wasmetal_initrd::manifest::MANIFEST_PATH),
        format!("{}::{program_name}", program("hello").display()),
        format!("{}::fs/0/big", big.display()),
    ];
    let mut args = vec!["--memory", "256", "--timeout", "120", "kernel", "--append", "run"];
    for file in &files {
        args.extend(["--file", file.as_str()]);
    }
    let run = launcher().run(&args);
    run.expect_code(INPUT_ERROR);
    let line = run.expect_line("--dir /data needs ");
    assert!(line.contains("MiB free"), "{line}");
    assert!(!run.stdout.contains("panic"), "{run}");
}
