//! stdio throughput: the same WASI module (`wasmetal::bench_io`) inside the kernel and
//! under Wasmtime on this host, in the same run, with the ratio.
//!
//! Under Wasmtime the module's `fd_write` / `fd_read` are host functions doing what a
//! WASI implementation does for a pipe: one `write(2)` / `read(2)` per call on a real
//! pipe, which a thread drains (output) or fills (input). In the kernel the program
//! writes to the virtio serial port the launcher drains the same way. Both figures are
//! the time of `_start` alone, best of `WASMETAL_BENCH_IO_RUNS` runs (default 3).
//!
//! Wasmtime's figure depends on where the host puts its two threads: a pipe between
//! threads on one CPU moves 64 KiB writes at ~9 GiB/s on the Intel/PVM host, between
//! two CPUs at ~1 GiB/s (each wake-up of the other side is an IPI through the
//! hypervisor), and the scheduler picks either. So Wasmtime runs both ways: `same-cpu`
//! (writer and far end pinned to the writer's CPU) and `any-cpu` (as scheduled); the
//! ratio is against the faster, the stricter reference.
//!
//! `<case>: wasmetal-kernel <MiB/s>, wasmtime <MiB/s> (same-cpu <MiB/s>, any-cpu
//! <MiB/s>), ratio <kernel/wasmtime>`
//!
//! Run with `cargo bench -p wasmetal-bench --bench io` (from the workspace root; QEMU
//! with KVM where it is usable, as `wasmetal` chooses).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use clap::Parser;
use wasmetal::bench_io::{IoCase, IoKind, cases};
use wasmtime::{Caller, Engine, Extern, Linker, Module, Store};

/// The ends of a host pipe.
fn pipe() -> (OwnedFd, OwnedFd) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    (reader.into(), writer.into())
}

fn memory(caller: &mut Caller<'_, i32>) -> wasmtime::Memory {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => memory,
        _ => panic!("the module exports its memory"),
    }
}

/// Reads iovec 0 of `iovs` from guest memory: (ptr, len).
fn iovec(data: &[u8], iovs: i32) -> (usize, usize) {
    let at = iovs as usize;
    let ptr = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
    (ptr, len)
}

/// Where Wasmtime's thread and the pipe's far end run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Both pinned to the CPU the Wasmtime thread is on.
    SameCpu,
    /// Wherever the host's scheduler puts them.
    AnyCpu,
}

/// The calling thread's CPU set.
fn affinity() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; sched_getaffinity fills at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        set
    }
}

/// Runs the calling thread on `set`'s CPUs.
fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; only this thread's mask changes.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
}

/// The set holding only the CPU the calling thread is on now.
fn this_cpu() -> libc::cpu_set_t {
    // SAFETY: as in `affinity`; CPU_SET writes one bit inside the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(libc::sched_getcpu().max(0) as usize, &mut set);
        set
    }
}

/// `_start`'s time under Wasmtime, with the program's fd (1, 2 or 0) on a host pipe.
fn wasmtime_ns(engine: &Engine, case: &IoCase, placement: Placement) -> u64 {
    let module = Module::new(engine, case.module()).expect("the module compiles");
    let (reader, writer) = pipe();
    let before = affinity();
    let pinned = (placement == Placement::SameCpu).then(this_cpu);
    if let Some(cpu) = &pinned {
        set_affinity(cpu);
    }
    // The far end: drain output, or feed input.
    let (guest_fd, far): (OwnedFd, std::thread::JoinHandle<()>) = match case.kind {
        IoKind::Stdout | IoKind::Stderr => {
            let drain = std::thread::spawn(move || {
                if let Some(cpu) = &pinned {
                    set_affinity(cpu);
                }
                let mut reader = std::fs::File::from(reader);
                let mut buffer = vec![0u8; 1 << 16];
                while reader.read(&mut buffer).is_ok_and(|n| n > 0) {}
            });
            (writer, drain)
        }
        IoKind::Stdin => {
            let input = case.stdin();
            let feed = std::thread::spawn(move || {
                if let Some(cpu) = &pinned {
                    set_affinity(cpu);
                }
                let mut writer = std::fs::File::from(writer);
                let _ = writer.write_all(&input);
            });
            (reader, feed)
        }
    };
    let mut linker: Linker<i32> = Linker::new(engine);
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "fd_write",
            |mut caller: Caller<'_, i32>, _fd: i32, iovs: i32, _len: i32, nwritten: i32| -> i32 {
                let fd = *caller.data();
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let (ptr, len) = iovec(data, iovs);
                // SAFETY: write(2) reads `len` bytes of guest memory, which is in bounds.
                let n = unsafe { libc::write(fd, data[ptr..ptr + len].as_ptr().cast(), len) };
                if n < 0 {
                    return 29; // EIO
                }
                data[nwritten as usize..nwritten as usize + 4].copy_from_slice(&(n as u32).to_le_bytes());
                0
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "fd_read",
            |mut caller: Caller<'_, i32>, _fd: i32, iovs: i32, _len: i32, nread: i32| -> i32 {
                let fd = *caller.data();
                let memory = memory(&mut caller);
                let data = memory.data_mut(&mut caller);
                let (ptr, len) = iovec(data, iovs);
                // SAFETY: read(2) writes at most `len` bytes into guest memory, in bounds.
                let n = unsafe { libc::read(fd, data[ptr..ptr + len].as_mut_ptr().cast(), len) };
                if n < 0 {
                    return 29;
                }
                data[nread as usize..nread as usize + 4].copy_from_slice(&(n as u32).to_le_bytes());
                0
            },
        )
        .unwrap();
    let mut store = Store::new(engine, guest_fd.as_raw_fd());
    let instance = linker.instantiate(&mut store, &module).expect("instantiating");
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").expect("_start");
    let began = Instant::now();
    start.call(&mut store, ()).unwrap_or_else(|error| panic!("{} under Wasmtime: {error}", case.name()));
    let ns = began.elapsed().as_nanos() as u64;
    drop(store);
    drop(guest_fd);
    far.join().unwrap();
    set_affinity(&before);
    ns
}

fn main() {
    let runs: usize = std::env::var("WASMETAL_BENCH_IO_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let vm = wasmetal::cli::Cli::parse_from(["wasmetal"]).vm;
    let engine = Engine::default();
    println!(
        "bench io: MiB/s, best of {runs}; the kernel under QEMU, Wasmtime 48.0.8 on this host writing to a pipe \
         (its threads on one CPU, and as scheduled)"
    );
    let mut failed = false;
    for case in cases() {
        let mut kernel = u64::MAX;
        let (mut same_cpu, mut any_cpu) = (u64::MAX, u64::MAX);
        for _ in 0..runs.max(1) {
            match wasmetal::bench_io::kernel_ns(&vm, &case) {
                Ok(ns) => kernel = kernel.min(ns),
                Err(error) => {
                    eprintln!("{}: {error:#}", case.name());
                    failed = true;
                }
            }
            same_cpu = same_cpu.min(wasmtime_ns(&engine, &case, Placement::SameCpu));
            any_cpu = any_cpu.min(wasmtime_ns(&engine, &case, Placement::AnyCpu));
        }
        let (k, same, any) = (case.mib_per_s(kernel), case.mib_per_s(same_cpu), case.mib_per_s(any_cpu));
        let w = same.max(any);
        println!(
            "{}: wasmetal-kernel {k:.2}, wasmtime {w:.2} (same-cpu {same:.2}, any-cpu {any:.2}), ratio {:.3}",
            case.name(),
            k / w
        );
    }
    if failed {
        std::process::exit(1);
    }
}
