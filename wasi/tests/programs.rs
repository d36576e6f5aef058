//! Real Rust programs (std over wasi-libc, built for wasm32-wasip1 from
//! tests/programs) run on the hosted runtime with this crate's WASI: exact output,
//! exit statuses and traps.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{FAKE_EPOCH_NS, Observed, Outcome, Status, TestSystem, run};
use wasmetal_runtime::TrapCode;
use wasmetal_wasi::{System, WasiCtx, WasiCtxBuilder};

/// Builds the programs once per test binary; returns the directory of the `.wasm` files.
fn programs_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(&root).args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "--manifest-path",
            "tests/programs/Cargo.toml",
            "--target-dir",
            "target/programs",
        ]);
        for variable in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            command.env_remove(variable);
        }
        let output = command.output().expect("running cargo to build the test programs");
        assert!(
            output.status.success(),
            "building tests/programs failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        root.join("target/programs/wasm32-wasip1/release")
    })
}

fn program(name: &str) -> Vec<u8> {
    let path = programs_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn builder(system: Box<dyn System>, args: &[&str]) -> WasiCtxBuilder {
    WasiCtx::builder(system).args(args.iter().copied())
}

/// Runs program `name` with `args` (argv[0] is the name) on a fake clock.
fn run_fake(name: &str, args: &[&str]) -> (Outcome, Observed) {
    let (system, observed) = TestSystem::fake();
    let mut argv = vec![name];
    argv.extend_from_slice(args);
    let outcome = run(&program(name), builder(system, &argv), &observed);
    (outcome, observed)
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[test]
fn hello() {
    let (outcome, _) = run_fake("hello", &[]);
    assert_eq!(outcome.status, Status::Exit(0));
    assert_eq!(outcome.stdout, "hello, world\n");
    assert_eq!(outcome.stderr, "");
}

#[test]
fn echo_args_and_environment() {
    let (system, observed) = TestSystem::fake();
    let builder = builder(system, &["echo_args", "one", "two words", "ünïcode", ""])
        .env("A", "1")
        .envs(["PATH_LIKE=/x:/y", "EMPTY="]);
    let outcome = run(&program("echo_args"), builder, &observed);
    assert_eq!(outcome.status, Status::Exit(0));
    assert_eq!(
        outcome.stdout,
        "arg 0: echo_args\narg 1: one\narg 2: two words\narg 3: ünïcode\narg 4: \n\
         env A=1\nenv PATH_LIKE=/x:/y\nenv EMPTY=\n"
    );
}

#[test]
fn files_in_a_preopened_directory() {
    let (system, observed) = TestSystem::fake();
    let builder = builder(system, &["files"])
        .preopen_dir("/data", [("input.txt", b"some input\n".to_vec()), ("keep/", Vec::new())]);
    let outcome = run(&program("files"), builder, &observed);
    assert_eq!(outcome.stderr, "");
    assert_eq!(outcome.status, Status::Exit(0));
    assert_eq!(
        outcome.stdout,
        "input: some input\n\
         read back:\nfirst line\nsecond line\n\
         size: 23\n\
         at 6: line\n\
         write to read-only fails: true\n\
         old name exists: false\n\
         out: [\"nested/\"]\n\
         nested: [\"moved.txt\"]\n\
         data: [\"input.txt\", \"keep/\", \"out/\"]\n\
         out after removal: []\n\
         remove non-empty dir fails: true\n\
         escape via ..: true\n\
         outside preopens: true\n\
         missing file: Err(NotFound)\n\
         copy: \"some input\\n\"\n\
         create_new on existing: Err(AlreadyExists)\n\
         after set_len: 4 bytes, file: true\n\
         modified after 2020: true\n\
         relative to cwd: Ok(11)\n\
         is_dir: true true\n"
    );
    // The guest's changes are in the context's in-memory tree.
    assert_eq!(outcome.ctx.file(b"/data/result.txt"), Some(&b"written by the guest"[..]));
    assert_eq!(outcome.ctx.file(b"/data/input.txt"), Some(&b"some input\n"[..]));
    let names = outcome.ctx.dir_entries(b"/data").unwrap();
    assert_eq!(names, [&b"input.txt"[..], b"keep", b"out", b"result.txt"]);
    assert_eq!(outcome.ctx.dir_entries(b"/data/out"), Some(Vec::new()));
}

#[test]
fn exit_codes() {
    let (outcome, _) = run_fake("exit_code", &["42"]);
    assert_eq!(outcome.status, Status::Exit(42));
    assert_eq!(outcome.stdout, "exiting with 42\n");
    let (outcome, _) = run_fake("exit_code", &["0"]);
    assert_eq!(outcome.status, Status::Exit(0));
    let (outcome, _) = run_fake("exit_code", &["255"]);
    assert_eq!(outcome.status, Status::Exit(255));
}

#[test]
fn panic_is_a_trap_with_a_message() {
    let (outcome, _) = run_fake("panic", &[]);
    assert_eq!(outcome.status, Status::Trap(TrapCode::UnreachableCodeReached));
    assert_eq!(outcome.stdout, "about to panic\n");
    assert_eq!(
        outcome.stderr,
        "\nthread 'main' (1) panicked at src/bin/panic.rs:6:9:\nboom: no numbers given\n\
         note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
    );
    let (outcome, _) = run_fake("panic", &["1", "2"]);
    assert_eq!(outcome.status, Status::Exit(0));
    assert_eq!(outcome.stdout, "about to panic\nsum 3\n");
}

#[test]
fn heavy_allocation() {
    let (outcome, _) = run_fake("alloc_heavy", &[]);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    let mut hash = FNV_OFFSET;
    for index in 0..300usize {
        for page in 0..256usize {
            let byte = (index as u8).wrapping_mul(31).wrapping_add(page as u8);
            hash = fnv1a(hash, &[byte]);
        }
    }
    assert_eq!(outcome.stdout, format!("allocated 300 MiB, checksum {hash:016x}\n"));
}

#[test]
fn recursion() {
    let (outcome, _) = run_fake("recursion", &["5000"]);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "depth 5000\n");
    // Far deeper than any stack: a trap, not a crash.
    let (outcome, _) = run_fake("recursion", &["100000000"]);
    assert_eq!(outcome.status, Status::Trap(TrapCode::StackOverflow));
    assert_eq!(outcome.stdout, "");
}

#[test]
fn clocks_on_a_fake_clock() {
    let (outcome, observed) = run_fake("clocks", &[]);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "realtime after 2020: true\nslept at least 50 ms: true\nrealtime advanced: true\n");
    // One sleep, exactly 50 ms past the fake clock's start.
    assert_eq!(observed.sleeps(), [50_000_000]);
    const { assert!(FAKE_EPOCH_NS > 1_577_836_800 * 1_000_000_000) };
}

#[test]
fn clocks_on_the_real_clock() {
    let (system, observed) = TestSystem::real();
    let started = std::time::Instant::now();
    let outcome = run(&program("clocks"), builder(system, &["clocks"]), &observed);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "realtime after 2020: true\nslept at least 50 ms: true\nrealtime advanced: true\n");
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
}

#[test]
fn random_bytes() {
    let (outcome, _) = run_fake("random", &[]);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    let expected: String = (0..32u8).map(|index| format!("{:02x}", index.wrapping_mul(7).wrapping_add(1))).collect();
    assert_eq!(outcome.stdout, format!("{expected}\nnonzero: true\n"));

    let (system, observed) = TestSystem::real();
    let outcome = run(&program("random"), builder(system, &["random"]), &observed);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].len(), 64);
    assert!(lines[0].bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(lines[1], "nonzero: true");
}

#[test]
fn stdin_is_delivered_then_eof() {
    let input: Vec<u8> = (0..200_003u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (system, observed) = TestSystem::fake();
    let outcome = run(&program("stdin"), builder(system, &["stdin"]).stdin(input.clone()), &observed);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, format!("200003 bytes, fnv1a {:016x}\n", fnv1a(FNV_OFFSET, &input)));

    let (outcome, _) = run_fake("stdin", &[]);
    assert_eq!(outcome.stdout, format!("0 bytes, fnv1a {FNV_OFFSET:016x}\n"));
}

#[test]
fn compute_is_deterministic() {
    let (outcome, _) = run_fake("compute", &["8", "1000"]);
    assert_eq!(outcome.status, Status::Exit(0), "{}", outcome.stderr);
    let mut buffer = vec![0u8; 8 << 20];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in buffer.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let hash = fnv1a(FNV_OFFSET, &buffer);
    // -0.169087605 is the n-body benchmark's published energy after 1000 steps.
    assert_eq!(outcome.stdout, format!("hash of 8 MiB: {hash:016x}\nnbody energy after 1000 steps: -0.169087605\n"));
}
