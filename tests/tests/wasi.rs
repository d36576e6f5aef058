//! Real WASI programs (Rust std, wasm32-wasip1) run as unikernel workloads through the
//! launcher: stdout, stderr and exit codes as a WASI runtime gives them.

use wasmetal_tests::Launcher;
use wasmetal_tests::programs::program;

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

/// Runs test program `name` with launcher options `options` and program `args`.
fn run(name: &str, options: &[&str], args: &[&str]) -> wasmetal_tests::Run {
    let wasm = program(name);
    let mut all: Vec<String> = vec!["--timeout".into(), "300".into(), "run".into(), wasm.display().to_string()];
    all.extend(options.iter().map(|s| s.to_string()));
    all.push("--".into());
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    launcher().run(&all)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[test]
fn hello_world() {
    let run = run("hello", &[], &[]);
    run.expect_code(0);
    assert_eq!(run.stdout, "hello, world\n", "{run}");
    assert_eq!(run.stderr, "", "{run}");
}

#[test]
fn arguments_and_environment() {
    let run = run(
        "echo_args",
        &["--env", "A=1", "--env", "PATH_LIKE=/x:/y", "--env", "EMPTY="],
        &["one", "two words", "ünïcode", ""],
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "arg 0: echo_args.wasm\narg 1: one\narg 2: two words\narg 3: ünïcode\narg 4: \nenv A=1\nenv PATH_LIKE=/x:/y\nenv EMPTY=\n",
        "{run}"
    );
}

#[test]
fn files_in_a_preopened_directory_stay_in_the_vm() {
    let dir = std::env::temp_dir().join(format!("wasmetal-files-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("keep")).unwrap();
    std::fs::write(dir.join("input.txt"), "some input\n").unwrap();
    let spec = format!("{}::/data", dir.display());
    let run = run("files", &["--dir-copy", &spec], &[]);
    let host_input = std::fs::read_to_string(dir.join("input.txt")).unwrap();
    let host_result_exists = dir.join("result.txt").exists();
    std::fs::remove_dir_all(&dir).unwrap();
    run.expect_code(0);
    assert_eq!(run.stderr, "", "{run}");
    assert_eq!(
        run.stdout,
        "input: some input\nread back:\nfirst line\nsecond line\nsize: 23\nat 6: line\nwrite to read-only fails: true\n\
         old name exists: false\nout: [\"nested/\"]\nnested: [\"moved.txt\"]\ndata: [\"input.txt\", \"keep/\", \"out/\"]\n\
         out after removal: []\nremove non-empty dir fails: true\nescape via ..: true\noutside preopens: true\nmissing file: Err(NotFound)\n\
         copy: \"some input\\n\"\ncreate_new on existing: Err(AlreadyExists)\nafter set_len: 4 bytes, file: true\n\
         modified after 2020: true\nrelative to cwd: Ok(11)\nis_dir: true true\n",
        "{run}"
    );
    assert_eq!(host_input, "some input\n");
    assert!(!host_result_exists, "the guest's write reached the host");
}

#[test]
fn exit_codes_become_the_launchers() {
    for code in ["0", "7", "200", "255"] {
        let run = run("exit_code", &[], &[code]);
        run.expect_code(code.parse().unwrap());
        assert_eq!(run.stdout, format!("exiting with {code}\n"), "{run}");
    }
}

#[test]
fn a_panic_is_a_trap_with_message_and_backtrace() {
    let run = run("panic", &[], &[]);
    run.expect_code(134);
    assert_eq!(run.stdout, "about to panic\n", "{run}");
    assert!(run.stderr.contains("panicked at src/bin/panic.rs:6:9:\nboom: no numbers given"), "{run}");
    assert!(run.stderr.contains("wasm trap: unreachable"), "{run}");
    assert!(run.stderr.contains("wasm backtrace:"), "{run}");
}

#[test]
fn heavy_allocation_grows_memory_to_hundreds_of_mib() {
    let run = run("alloc_heavy", &[], &[]);
    run.expect_code(0);
    let mut bytes = Vec::new();
    for index in 0..300usize {
        for page in 0..256usize {
            bytes.push((index as u8).wrapping_mul(31).wrapping_add(page as u8));
        }
    }
    assert_eq!(run.stdout, format!("allocated 300 MiB, checksum {:016x}\n", fnv1a(&bytes)), "{run}");
}

#[test]
fn guest_out_of_memory_is_a_clean_trap() {
    // 300 MiB cannot fit a 256 MiB guest: the allocation fails inside the program.
    let wasm = program("alloc_heavy");
    let wasm = wasm.display().to_string();
    let run = launcher().run(&["--memory", "256", "--timeout", "300", "run", &wasm]);
    run.expect_code(134);
    assert!(run.stderr.contains("memory allocation of") || run.stderr.contains("wasm trap"), "{run}");
}

#[test]
fn recursion_depth_and_stack_overflow() {
    let run1 = run("recursion", &[], &["5000"]);
    run1.expect_code(0);
    assert_eq!(run1.stdout, "depth 5000\n", "{run1}");
    let run2 = run("recursion", &[], &["100000000"]);
    run2.expect_code(134);
    assert!(run2.stderr.contains("wasm trap: call stack exhausted"), "{run2}");
}

#[test]
fn clocks_and_sleep() {
    let run = run("clocks", &[], &[]);
    run.expect_code(0);
    assert_eq!(run.stdout, "realtime after 2020: true\nslept at least 50 ms: true\nrealtime advanced: true\n", "{run}");
}

#[test]
fn random_bytes() {
    let first = run("random", &[], &[]);
    first.expect_code(0);
    let second = run("random", &[], &[]);
    let lines: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{first}");
    assert_eq!(lines[0].len(), 64);
    assert!(lines[0].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(lines[1], "nonzero: true");
    assert_ne!(first.stdout, second.stdout, "two runs produced the same random bytes");
}

#[test]
fn stdin_reaches_the_program_then_eof() {
    let input: Vec<u8> = (0..200_003u32).map(|i| (i * 7 % 256) as u8).collect();
    let wasm = program("stdin").display().to_string();
    let run = launcher().run_with_stdin(&["--timeout", "300", "run", &wasm], Some(&input));
    run.expect_code(0);
    assert_eq!(run.stdout, format!("200003 bytes, fnv1a {:016x}\n", fnv1a(&input)), "{run}");
}

#[test]
fn a_malformed_module_is_a_load_error() {
    let path = std::env::temp_dir().join(format!("wasmetal-bad-{}.wasm", std::process::id()));
    std::fs::write(&path, b"\0asm\x01\0\0\0\x01\x05garbage").unwrap();
    let run = launcher().run(&["--timeout", "300", "run", &path.display().to_string()]);
    std::fs::remove_file(&path).unwrap();
    run.expect_code(1);
    assert!(run.stderr.contains("failed to compile") && run.stderr.contains("offset"), "{run}");
}

#[test]
fn a_missing_import_names_the_import_and_its_type() {
    let path = std::env::temp_dir().join(format!("wasmetal-import-{}.wasm", std::process::id()));
    let wasm = b"\0asm\x01\0\0\0\x01\x05\x01\x60\x01\x7f\x00\x02\x0c\x01\x03env\x04beep\x00\x00";
    std::fs::write(&path, wasm).unwrap();
    let run = launcher().run(&["--timeout", "300", "run", &path.display().to_string()]);
    std::fs::remove_file(&path).unwrap();
    run.expect_code(1);
    assert!(run.stderr.contains("env::beep") && run.stderr.contains("(func (param i32))"), "{run}");
}

#[test]
fn the_bundled_demo_is_a_wasm_program() {
    let run = launcher().run(&["--timeout", "300"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "Hello from WebAssembly on bare metal!\nprimes below 100000: 9592\n", "{run}");
}

#[test]
fn two_cpu_bound_tasks_interleave() {
    let ticker = program("ticker").display().to_string();
    let second = format!("{ticker} 12");
    let run = launcher().run(&["--timeout", "300", "run", &ticker, "--task", &second, "--", "12"]);
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 24, "{run}");
    let first_done = lines.iter().position(|l| l.starts_with("[ticker.wasm] tick 11")).unwrap();
    let second_done = lines.iter().position(|l| l.starts_with("[ticker.wasm#1] tick 11")).unwrap();
    // Both made progress before either finished.
    assert!(lines[..first_done.min(second_done)].iter().any(|l| l.starts_with("[ticker.wasm] ")), "{run}");
    assert!(lines[..first_done.min(second_done)].iter().any(|l| l.starts_with("[ticker.wasm#1] ")), "{run}");
}

#[test]
fn a_timed_out_task_traps_while_the_other_finishes() {
    let spin = program("spin").display().to_string();
    let hello = program("ticker").display().to_string();
    let task = format!("{hello} 3");
    let run = launcher().run(&["--verbose", "--timeout", "1", "run", &spin, "--task", &task]);
    run.expect_code(134);
    assert!(run.stdout.contains("[spin.wasm] spinning"), "{run}");
    assert!(run.stdout.contains("[ticker.wasm] tick 2"), "{run}");
    assert!(run.stderr.contains("[spin.wasm] ") && run.stderr.contains("wasm trap: interrupt"), "{run}");
    // Interrupted within 2 ticks of the deadline.
    let line = run.stderr.lines().find(|l| l.contains("interrupted after")).unwrap();
    let numbers: Vec<u64> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    let (used, budget) = (numbers[numbers.len() - 2], numbers[numbers.len() - 1]);
    assert!(used >= budget && used - budget <= 2, "{line}");
}

#[test]
fn a_task_alone_runs_long_slices_and_still_times_out_on_the_tick() {
    let spin = program("spin").display().to_string();
    let run = launcher().run(&["--verbose", "--timeout", "1", "run", &spin]);
    run.expect_code(134);
    let line = run.stderr.lines().find(|l| l.contains("interrupted after")).unwrap_or_else(|| panic!("{run}"));
    let numbers: Vec<u64> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    let (used, budget) = (numbers[numbers.len() - 2], numbers[numbers.len() - 1]);
    assert!(used >= budget && used - budget <= 2, "{line}");
    // Alone, it yields once per long slice, not once per tick.
    let preemptions =
        run.stderr.lines().find_map(|l| l.strip_prefix("run: ")?.split(" preemptions").next()?.parse::<u64>().ok());
    let preemptions = preemptions.unwrap_or_else(|| panic!("no preemption count: {run}"));
    assert!(preemptions * 5 <= budget, "{preemptions} slices for a budget of {budget} ticks: {run}");
}

#[test]
fn fuel_limits_a_program() {
    let run = run("spin", &["--fuel", "5000000"], &[]);
    run.expect_code(134);
    assert!(run.stderr.contains("all fuel consumed"), "{run}");
}

#[test]
fn preload_satisfies_imports_from_a_library() {
    let dir = std::env::temp_dir().join(format!("wasmetal-preload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = wat::parse_str(
        r#"(module (func (export "triple") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))"#,
    )
    .unwrap();
    let app = wat::parse_str(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (import "mathlib" "triple" (func $triple (param i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "tripled\n")
            (func (export "_start")
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 8))
                (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                (call $exit (call $triple (i32.const 14)))))"#,
    )
    .unwrap();
    std::fs::write(dir.join("lib.wasm"), lib).unwrap();
    std::fs::write(dir.join("app.wasm"), app).unwrap();
    let preload = format!("mathlib={}", dir.join("lib.wasm").display());
    let app_path = dir.join("app.wasm").display().to_string();
    let run = launcher().run(&["--timeout", "300", "run", &app_path, "--preload", &preload]);
    let missing = launcher().run(&["--timeout", "300", "run", &app_path]);
    std::fs::remove_dir_all(&dir).unwrap();
    run.expect_code(42);
    assert_eq!(run.stdout, "tripled\n", "{run}");
    missing.expect_code(1);
    assert!(missing.stderr.contains("mathlib::triple"), "{missing}");
}

#[test]
fn a_trapping_task_leaves_the_others_running() {
    let panic = program("panic").display().to_string();
    let ticker = program("ticker").display().to_string();
    let task = format!("{ticker} 4");
    let run = launcher().run(&["--timeout", "300", "run", &panic, "--task", &task]);
    run.expect_code(134);
    assert!(run.stdout.contains("[panic.wasm] about to panic"), "{run}");
    assert!(run.stdout.contains("[ticker.wasm] tick 3"), "{run}");
    assert!(run.stderr.contains("[panic.wasm] ") && run.stderr.contains("wasm trap: unreachable"), "{run}");
}

#[test]
fn physical_memory_running_out_fails_one_tasks_growth_not_the_kernel() {
    // Two 200 MiB programs in a 384 MiB guest: both grow until the frames left cannot
    // back both. A task whose `memory.grow` is refused fails its allocation and traps
    // (both may, when they ask in the same slice); a task that is not refused finishes.
    // Before commit accounting, the page fault that found no frame took the kernel down.
    let wasm = program("alloc_heavy").display().to_string();
    let task = format!("{wasm} 200");
    let run = launcher().run(&["--memory", "384", "--timeout", "300", "run", &wasm, "--task", &task, "--", "200"]);
    run.expect_code(134);
    let finished = run.stdout.matches("allocated 200 MiB, checksum").count();
    let failed = run.stderr.matches("Error: failed to run main module").count();
    assert!(failed >= 1 && finished + failed == 2, "{run}");
    // The failure is the allocator's (grow refused), not a fault on a page with no frame.
    assert!(run.stderr.contains("memory allocation of") && run.stderr.contains("rust_oom"), "{run}");
    assert!(!run.stderr.contains("out of bounds"), "{run}");
    // Lines of the two tasks never mix mid-line.
    assert!(run.stderr.lines().all(|line| line.starts_with("[alloc_heavy.wasm")), "{run}");
}

#[test]
fn a_module_too_big_for_the_kernel_heap_is_refused_before_compiling() {
    // About 1 MiB of function body: the compiler would need more than the 16 MiB heap of
    // a 64 MiB guest, and running out of kernel heap mid-compile would be a kernel panic.
    let mut text = String::from("(module (func $big");
    for _ in 0..120_000 {
        text.push_str(" (drop (i64.const 0x7fffffffffff))");
    }
    text.push_str(") (func (export \"_start\")))");
    let wasm = wat::parse_str(&text).unwrap();
    assert!(wasm.len() > 1 << 20, "the body is {} bytes", wasm.len());
    let path = std::env::temp_dir().join(format!("wasmetal-big-{}.wasm", std::process::id()));
    std::fs::write(&path, &wasm).unwrap();
    // In the VM: the compile cache would compile it on the host instead.
    let run = launcher().run(&["--memory", "64", "--timeout", "300", "run", "--no-cache", &path.display().to_string()]);
    std::fs::remove_file(&path).unwrap();
    run.expect_code(1);
    assert!(run.stderr.contains("of kernel heap") && run.stderr.contains("give the VM more memory"), "{run}");
}

#[test]
fn in_memory_files_are_bounded_by_a_share_of_the_kernel_heap() {
    // A 256 MiB guest has a 64 MiB heap; one task's files may take a quarter of what is
    // free. Writing past that is ENOSPC for the program, with the kernel heap left for
    // everything else (filling it would make the kernel's own allocations fail).
    let dir = std::env::temp_dir().join(format!("wasmetal-fill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = format!("{}::/data", dir.display());
    let wasm = program("fill_files").display().to_string();
    let run = launcher().run(&["--memory", "256", "--timeout", "300", "run", &wasm, "--dir-copy", &spec]);
    std::fs::remove_dir_all(&dir).unwrap();
    run.expect_code(0);
    let written: usize = run
        .stdout
        .strip_prefix("wrote ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {run}"));
    assert!((4..=16).contains(&written), "{run}");
    assert!(run.stdout.contains("then full: true"), "{run}");
    assert!(run.stdout.ends_with("after freeing: 1048576 bytes\n"), "{run}");
}
