//! `--dir` is the host directory itself (virtio 9P): what the program writes, renames,
//! links and syncs is on the host when the launcher returns, files larger than the
//! guest's RAM stream through, and no path leaves the preopen. Real launcher, QEMU,
//! QEMU's 9P server, and the host filesystem.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use wasmetal_tests::Launcher;
use wasmetal_tests::programs::program;
use wasmetal_tests::scratch::Scratch;

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

/// Runs the `dirs` program with `options` before the program and `args` after it.
fn run_dirs(options: &[&str], dir: &Path, suffix: &str, args: &[&str]) -> wasmetal_tests::Run {
    let wasm = program("dirs").display().to_string();
    let spec = format!("{}::/data{suffix}", dir.display());
    let mut all: Vec<&str> = options.to_vec();
    all.extend(["run", &wasm, "--dir", &spec, "--"]);
    all.extend(args);
    launcher().run(&all)
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

/// The program's pattern, MiB `index` (the same xorshift as `tests/programs/src/bin/dirs.rs`).
fn block(index: u64, out: &mut [u8]) {
    let mut state = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

/// The checksum of `mib` MiB of the pattern.
fn pattern_checksum(mib: u64) -> u64 {
    let mut chunk = vec![0u8; 1 << 20];
    (0..mib).fold(FNV_START, |hash, index| {
        block(index, &mut chunk);
        fnv(hash, &chunk)
    })
}

fn file_checksum(path: &Path) -> u64 {
    use std::io::Read;
    let mut file = std::fs::File::open(path).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    let mut hash = FNV_START;
    loop {
        let count = file.read(&mut chunk).unwrap();
        if count == 0 {
            return hash;
        }
        hash = fnv(hash, &chunk[..count]);
    }
}

#[test]
fn writes_renames_links_and_symlinks_land_in_the_host_directory() {
    let dir = Scratch::new("dirs", "persist");
    let run = run_dirs(&["--timeout", "120"], &dir.0, "", &["persist"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "read through link: \"from a\\n\"\nreadlink: \"b.txt\"\nb after appending to its link: \"from a\\nvia c\\n\"\n\
         listing: [\"b.txt\", \"big.bin\", \"c.txt\", \"d.lnk\", \"sub\"]\npersist ok\n",
        "{run}"
    );
    assert!(!dir.path("a.txt").exists(), "renamed away");
    assert_eq!(std::fs::read_to_string(dir.path("b.txt")).unwrap(), "from a\nvia c\n");
    let (b, c) = (std::fs::metadata(dir.path("b.txt")).unwrap(), std::fs::metadata(dir.path("c.txt")).unwrap());
    assert_eq!((b.ino(), b.nlink()), (c.ino(), 2), "c.txt is a hard link to b.txt");
    assert_eq!(std::fs::read_link(dir.path("d.lnk")).unwrap(), PathBuf::from("b.txt"));
    assert_eq!(std::fs::read_to_string(dir.path("sub/inner.txt")).unwrap(), "inner\n");
    assert_eq!(std::fs::metadata(dir.path("big.bin")).unwrap().len(), 8 << 20);
    assert_eq!(file_checksum(&dir.path("big.bin")), pattern_checksum(8));
}

#[test]
fn a_file_larger_than_guest_ram_streams_through() {
    let dir = Scratch::new("dirs", "large");
    let mib = 300u64;
    let run = run_dirs(&["--memory", "128", "--timeout", "300"], &dir.0, "", &["large", &mib.to_string()]);
    run.expect_code(0);
    let expected = pattern_checksum(mib);
    assert_eq!(run.stdout, format!("written {expected:016x} read {expected:016x} bytes {}\n", mib << 20), "{run}");
    assert_eq!(std::fs::metadata(dir.path("large.bin")).unwrap().len(), mib << 20);
    assert_eq!(file_checksum(&dir.path("large.bin")), expected, "the host's copy");
}

#[test]
fn a_sequential_reader_sees_writes_and_truncation_ahead_of_it() {
    // The kernel reads ahead of a sequential reader; what it read ahead must not hide
    // a change made through another descriptor.
    let dir = Scratch::new("dirs", "read-ahead");
    let run = run_dirs(&["--timeout", "120"], &dir.0, "", &["read-while-writing"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout, "changed: \"written ahead of the reader\", after the cut: 65536 bytes, at 655360\n",
        "{run}"
    );
    assert_eq!(std::fs::metadata(dir.path("stream.bin")).unwrap().len(), 640 << 10);
}

#[test]
fn many_files_are_created_listed_renamed_and_removed() {
    let dir = Scratch::new("dirs", "many");
    let count = 10_000;
    let run = run_dirs(&["--timeout", "300"], &dir.0, "", &["many", &count.to_string()]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        format!("created {count} listed {count} renamed {count} sample {} left 0\n", count / 2),
        "{run}"
    );
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "all removed on the host too");
}

#[test]
fn dotdot_and_symlinks_never_leave_the_preopen() {
    let outer = Scratch::new("dirs", "escape");
    std::fs::write(outer.path("secret.txt"), "outside\n").unwrap();
    let data = outer.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("inside.txt"), "hi\n").unwrap();
    let run = run_dirs(&["--timeout", "120"], &data, "", &["escape"]);
    run.expect_code(0);
    // 76 is ENOTCAPABLE, 32 ELOOP.
    assert_eq!(
        run.stdout,
        "dotdot: errno 76\nabsolute: errno 76\nup: errno 76\nsneaky: errno 76\nloop: errno 32\n\
         readlink abs: ok \"/etc\"\nwrite via up: errno 76\ninside: ok \"hi\\n\"\n",
        "{run}"
    );
    assert!(!outer.path("planted.txt").exists(), "a write escaped the preopen");
    assert_eq!(std::fs::read_to_string(outer.path("secret.txt")).unwrap(), "outside\n");
}

#[test]
fn a_read_only_dir_refuses_every_change() {
    let dir = Scratch::new("dirs", "readonly");
    std::fs::write(dir.path("input.txt"), "in\n").unwrap();
    let run = run_dirs(&["--timeout", "120"], &dir.0, "::ro", &["readonly"]);
    run.expect_code(0);
    // Appending opens (the descriptor simply has no write right); everything else is
    // ENOTCAPABLE.
    assert_eq!(
        run.stdout,
        "read: ok \"in\\n\"\ncreate: errno 76\nappend: ok ()\nmkdir: errno 76\nremove: errno 76\nrename: errno 76\n",
        "{run}"
    );
    let names: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("input.txt")]);
    assert_eq!(std::fs::read_to_string(dir.path("input.txt")).unwrap(), "in\n");
}

#[test]
fn written_data_is_on_the_host_after_a_trap_or_a_timeout() {
    for (mode, options, code) in
        [("sync-then-trap", &["--timeout", "120"][..], 134), ("sync-then-spin", &["--timeout", "3"][..], 134)]
    {
        let dir = Scratch::new("dirs", mode);
        let run = run_dirs(options, &dir.0, "", &[mode]);
        run.expect_code(code);
        assert!(run.stdout.starts_with("about to "), "{run}");
        assert_eq!(std::fs::read_to_string(dir.path("synced.txt")).unwrap(), "synced before the end\n", "{mode}");
        assert_eq!(std::fs::read_to_string(dir.path("closed.txt")).unwrap(), "closed before the end\n", "{mode}");
        // Nothing is buffered in the guest: a write that returned is in the host file.
        assert_eq!(std::fs::read_to_string(dir.path("open.txt")).unwrap(), "written, never closed\n", "{mode}");
    }
}

#[test]
fn the_files_program_sees_the_same_semantics_over_9p_as_in_memory() {
    let make = |name: &str| {
        let dir = Scratch::new("dirs", name);
        std::fs::create_dir_all(dir.path("keep")).unwrap();
        std::fs::write(dir.path("input.txt"), "some input\n").unwrap();
        dir
    };
    let wasm = program("files").display().to_string();
    let (copied, host) = (make("files-copy"), make("files-9p"));
    let copy_spec = format!("{}::/data", copied.0.display());
    let host_spec = format!("{}::/data", host.0.display());
    let in_memory = launcher().run(&["--timeout", "120", "run", &wasm, "--dir-copy", &copy_spec]);
    let over_9p = launcher().run(&["--timeout", "120", "run", &wasm, "--dir", &host_spec]);
    in_memory.expect_code(0);
    over_9p.expect_code(0);
    assert_eq!(over_9p.stdout, in_memory.stdout, "9P:\n{over_9p}\nin memory:\n{in_memory}");
    assert!(!copied.path("result.txt").exists(), "the in-memory copy wrote to the host");
    assert!(host.path("result.txt").exists(), "the host directory did not get the guest's write");
}

#[test]
fn preview0_programs_link_and_see_preview0_layouts() {
    // A `wasi_unstable` program: whence END is 1 there, filestat has a 32-bit nlink and
    // the size at 24, clock subscriptions carry an identifier first. Each failed check
    // exits with its own code.
    let dir = Scratch::new("dirs", "preview0");
    let wat = r#"(module
      (import "wasi_unstable" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_unstable" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_unstable" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
      (import "wasi_unstable" "fd_filestat_get" (func $stat (param i32 i32) (result i32)))
      (import "wasi_unstable" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "\64\00\00\00\0a\00\00\00")
      (data (i32.const 8) "\b4\00\00\00\06\00\00\00")
      (data (i32.const 100) "0123456789")
      (data (i32.const 180) "p0 ok\n")
      (data (i32.const 200) "p0.txt")
      (func $check (param i32 i32) (if (i32.eqz (local.get 0)) (then (call $exit (local.get 1)))))
      (func (export "_start")
        (call $check (i32.eqz (call $open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 6)
          (i32.const 1) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 300))) (i32.const 10))
        (call $check (i32.eqz (call $write (i32.load (i32.const 300)) (i32.const 0) (i32.const 1) (i32.const 304))) (i32.const 11))
        ;; preview0 whence 1 is END: -4 from the end of 10 bytes is 6.
        (call $check (i32.eqz (call $seek (i32.load (i32.const 300)) (i64.const -4) (i32.const 1) (i32.const 320))) (i32.const 12))
        (call $check (i64.eq (i64.load (i32.const 320)) (i64.const 6)) (i32.const 13))
        (call $check (i32.eqz (call $stat (i32.load (i32.const 300)) (i32.const 400))) (i32.const 14))
        (call $check (i32.eq (i32.load (i32.const 420)) (i32.const 1)) (i32.const 15))
        (call $check (i64.eq (i64.load (i32.const 424)) (i64.const 10)) (i32.const 16))
        (call $check (i32.eq (i32.load8_u (i32.const 416)) (i32.const 4)) (i32.const 17))
        ;; A 1 ms monotonic clock subscription in preview0's layout.
        (i64.store (i32.const 500) (i64.const 0x77))
        (i32.store (i32.const 524) (i32.const 1))
        (i64.store (i32.const 532) (i64.const 1000000))
        (call $check (i32.eqz (call $poll (i32.const 500) (i32.const 600) (i32.const 1) (i32.const 700))) (i32.const 18))
        (call $check (i32.eq (i32.load (i32.const 700)) (i32.const 1)) (i32.const 19))
        (call $check (i64.eq (i64.load (i32.const 600)) (i64.const 0x77)) (i32.const 20))
        (call $check (i32.eqz (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 304))) (i32.const 21))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let path = dir.path("preview0.wasm");
    std::fs::write(&path, &wasm).unwrap();
    let data = dir.path("data");
    std::fs::create_dir(&data).unwrap();
    let spec = format!("{}::/data", data.display());
    let run = launcher().run(&["--timeout", "120", "run", &path.display().to_string(), "--dir", &spec]);
    run.expect_code(0);
    assert_eq!(run.stdout, "p0 ok\n", "{run}");
    assert_eq!(std::fs::read_to_string(data.join("p0.txt")).unwrap(), "0123456789");
}

#[test]
fn a_redb_database_written_in_one_run_is_read_back_by_the_next() {
    let dir = Scratch::new("dirs", "redb");
    let wasm = program("redb_store").display().to_string();
    let spec = format!("{}::/data", dir.0.display());
    let count = "100000";
    let insert = launcher().run(&["--timeout", "300", "run", &wasm, "--dir", &spec, "--", "insert", count]);
    insert.expect_code(0);
    assert_eq!(insert.stdout, "inserted 100000\n", "{insert}");
    let size = std::fs::metadata(dir.path("records.redb")).map(|meta| meta.len()).unwrap_or(0);
    assert!(size > 1 << 20, "the host sees a database file of {size} bytes");
    let check = launcher().run(&["--timeout", "300", "run", &wasm, "--dir", &spec, "--", "check", count]);
    check.expect_code(0);
    assert_eq!(check.stdout, "checked 100000 of 100000\n", "{check}");
}

#[test]
fn more_dirs_than_buses_is_a_clear_launcher_error() {
    let dir = Scratch::new("dirs", "toomany");
    let hello = program("hello").display().to_string();
    let spec = format!("{}::/d", dir.0.display());
    let mut args = vec!["run", hello.as_str()];
    for _ in 0..7 {
        args.extend(["--dir", spec.as_str()]);
    }
    let run = launcher().run(&args);
    run.expect_code(1);
    assert_eq!(run.stdout, "", "the program must not run:\n{run}");
    assert!(run.stderr.contains("7 --dir options") && run.stderr.contains("at most 6"), "{run}");
}
