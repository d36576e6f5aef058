//! Filesystem throughput: the same WASI module (`wasmetal::bench_fs`) inside the kernel
//! on a `--dir` host directory (virtio 9P) and under Wasmtime on this host, in the same
//! run, with the ratio.
//!
//! Under Wasmtime the module's imports are host functions doing what a WASI
//! implementation does for a preopened directory, one system call each: `openat`,
//! `write`, `read`, `close`, `fstatat`, `unlinkat` relative to the directory's fd (no
//! path sandboxing work, so Wasmtime's side is if anything faster than `wasmtime-wasi`
//! would be). Both figures are the time of `_start` alone, best of
//! `WASMETAL_BENCH_FS_RUNS` runs (default 3), on the same host directory.
//!
//! `<case>: wasmetal-kernel <rate>, wasmtime <rate>, ratio <kernel/wasmtime>`
//!
//! Run with `cargo bench -p wasmetal-bench --bench fs` (from the workspace root).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::time::Instant;

use clap::Parser;
use wasmetal::bench_fs::{FsCase, cases};
use wasmtime::{Caller, Engine, Extern, Linker, Module, Store};

/// The preopened directory's host fd (the guest's fd 3).
struct Host {
    dir: i32,
}

fn memory(caller: &mut Caller<'_, Host>) -> wasmtime::Memory {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => memory,
        _ => panic!("the module exports its memory"),
    }
}

fn word(data: &[u8], at: usize) -> usize {
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize
}

fn c_path(data: &[u8], ptr: i32, len: i32) -> CString {
    CString::new(&data[ptr as usize..(ptr + len) as usize]).expect("no NUL in the path")
}

/// errno 29 (EIO) for any host failure: the module traps on a non-zero result anyway.
const EIO: i32 = 29;

fn linker(engine: &Engine) -> Linker<Host> {
    let mut linker: Linker<Host> = Linker::new(engine);
    let module = "wasi_snapshot_preview1";
    linker
        .func_wrap(
            module,
            "path_open",
            |mut caller: Caller<'_, Host>,
             _fd: i32,
             _dirflags: i32,
             path: i32,
             path_len: i32,
             oflags: i32,
             _base: i64,
             _inheriting: i64,
             _fdflags: i32,
             opened: i32|
             -> i32 {
                let dir = caller.data().dir;
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let name = c_path(data, path, path_len);
                let mut flags = libc::O_CLOEXEC;
                flags |= if oflags & 1 != 0 { libc::O_RDWR | libc::O_CREAT } else { libc::O_RDONLY };
                if oflags & 4 != 0 {
                    flags |= libc::O_EXCL;
                }
                if oflags & 8 != 0 {
                    flags |= libc::O_TRUNC;
                }
                // SAFETY: openat(2) on our directory fd with a NUL-terminated name.
                let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o644) };
                if fd < 0 {
                    return EIO;
                }
                data[opened as usize..opened as usize + 4].copy_from_slice(&(fd as u32).to_le_bytes());
                0
            },
        )
        .unwrap();
    linker
        .func_wrap(
            module,
            "fd_write",
            |mut caller: Caller<'_, Host>, fd: i32, iovs: i32, _len: i32, nwritten: i32| -> i32 {
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let (ptr, len) = (word(data, iovs as usize), word(data, iovs as usize + 4));
                // SAFETY: write(2) reads `len` bytes of guest memory, which is in bounds.
                let n = unsafe { libc::write(fd, data[ptr..ptr + len].as_ptr().cast(), len) };
                if n < 0 {
                    return EIO;
                }
                data[nwritten as usize..nwritten as usize + 4].copy_from_slice(&(n as u32).to_le_bytes());
                0
            },
        )
        .unwrap();
    linker
        .func_wrap(
            module,
            "fd_read",
            |mut caller: Caller<'_, Host>, fd: i32, iovs: i32, _len: i32, nread: i32| -> i32 {
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let (ptr, len) = (word(data, iovs as usize), word(data, iovs as usize + 4));
                // SAFETY: read(2) writes at most `len` bytes into guest memory, in bounds.
                let n = unsafe { libc::read(fd, data[ptr..ptr + len].as_mut_ptr().cast(), len) };
                if n < 0 {
                    return EIO;
                }
                data[nread as usize..nread as usize + 4].copy_from_slice(&(n as u32).to_le_bytes());
                0
            },
        )
        .unwrap();
    linker
        .func_wrap(module, "fd_close", |_caller: Caller<'_, Host>, fd: i32| -> i32 {
            // SAFETY: the module closes an fd `path_open` gave it.
            if unsafe { libc::close(fd) } == 0 { 0 } else { EIO }
        })
        .unwrap();
    linker
        .func_wrap(
            module,
            "path_filestat_get",
            |mut caller: Caller<'_, Host>, _fd: i32, _flags: i32, path: i32, path_len: i32, out: i32| -> i32 {
                let dir = caller.data().dir;
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let name = c_path(data, path, path_len);
                // SAFETY: a zeroed `stat` is a valid out-buffer for fstatat(2).
                let mut stat: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: fstatat(2) on our directory fd, a NUL-terminated name, a live buffer.
                if unsafe { libc::fstatat(dir, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
                    return EIO;
                }
                let out = out as usize;
                data[out..out + 8].copy_from_slice(&stat.st_dev.to_le_bytes());
                data[out + 8..out + 16].copy_from_slice(&stat.st_ino.to_le_bytes());
                data[out + 16] = 4;
                data[out + 24..out + 32].copy_from_slice(&stat.st_nlink.to_le_bytes());
                data[out + 32..out + 40].copy_from_slice(&(stat.st_size as u64).to_le_bytes());
                0
            },
        )
        .unwrap();
    linker
        .func_wrap(
            module,
            "path_unlink_file",
            |mut caller: Caller<'_, Host>, _fd: i32, path: i32, path_len: i32| -> i32 {
                let dir = caller.data().dir;
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let name = c_path(data, path, path_len);
                // SAFETY: unlinkat(2) on our directory fd with a NUL-terminated name.
                if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } == 0 { 0 } else { EIO }
            },
        )
        .unwrap();
    linker
}

/// `_start`'s time under Wasmtime with `dir` as the preopen.
fn wasmtime_ns(engine: &Engine, case: &FsCase, dir: &std::path::Path) -> u64 {
    case.prepare(dir).expect("preparing the directory");
    let module = Module::new(engine, case.module()).expect("the module compiles");
    let handle = std::fs::File::open(dir).expect("opening the directory");
    let mut store = Store::new(engine, Host { dir: handle.as_raw_fd() });
    let instance = linker(engine).instantiate(&mut store, &module).expect("instantiating");
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").expect("_start");
    let began = Instant::now();
    start.call(&mut store, ()).unwrap_or_else(|error| panic!("{} under Wasmtime: {error}", case.name()));
    began.elapsed().as_nanos() as u64
}

fn main() {
    let runs: usize = std::env::var("WASMETAL_BENCH_FS_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let vm = wasmetal::cli::Cli::parse_from(["wasmetal"]).vm;
    let engine = Engine::default();
    let dir = wasmetal::bench_fs::scratch_dir();
    println!(
        "bench fs: best of {runs}; the kernel under QEMU on a --dir (virtio 9P), Wasmtime 48.0.8 on this host, same directory"
    );
    let mut failed = false;
    for case in cases() {
        let mut kernel = u64::MAX;
        let mut wasmtime = u64::MAX;
        for _ in 0..runs.max(1) {
            match wasmetal::bench_fs::kernel_ns(&vm, &case, &dir) {
                Ok(ns) => kernel = kernel.min(ns),
                Err(error) => {
                    eprintln!("{}: {error:#}", case.name());
                    failed = true;
                }
            }
            wasmtime = wasmtime.min(wasmtime_ns(&engine, &case, &dir));
        }
        let (k, w) = (case.rate(kernel), case.rate(wasmtime));
        println!(
            "{}: wasmetal-kernel {k:.2} {unit}, wasmtime {w:.2} {unit}, ratio {:.3}",
            case.name(),
            k / w,
            unit = case.unit()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed {
        std::process::exit(1);
    }
}
