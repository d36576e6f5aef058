//! `wasmetal bench io`: stdio throughput of a WASI program in the kernel. The same
//! generated modules run under Wasmtime in `cargo bench -p wasmetal-bench --bench io`,
//! which prints both with their ratio.
//!
//! Each module calls `fd_write` (or `fd_read`) in a loop with a fixed chunk size and
//! nothing else, so the figure is the I/O path alone; the kernel reports how long
//! `_start` ran (boot and compile excluded), the host drains output as fast as it can.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::stdio_devices::ProgramIo;
use crate::vm_args::VmArgs;

/// What a benchmark module does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    Stdout,
    Stderr,
    Stdin,
}

/// One measurement: `total` bytes in `chunk`-byte calls.
#[derive(Clone, Copy, Debug)]
pub struct IoCase {
    pub kind: IoKind,
    pub chunk: usize,
    pub total: u64,
}

/// Bytes most cases move.
const SHORT_TOTAL: u64 = 64 << 20;

/// The cases of the report: 64 KiB and 4 KiB calls moving 64 MiB, 1-byte calls moving
/// 1 MiB, and 64 KiB calls to stdout moving 1 GiB (a run long enough for the host's
/// scheduler to settle where the threads of both sides run).
pub fn cases() -> Vec<IoCase> {
    let mut cases = Vec::new();
    for kind in [IoKind::Stdout, IoKind::Stderr, IoKind::Stdin] {
        cases.push(IoCase { kind, chunk: 64 << 10, total: SHORT_TOTAL });
        cases.push(IoCase { kind, chunk: 4 << 10, total: SHORT_TOTAL });
        cases.push(IoCase { kind, chunk: 1, total: 1 << 20 });
    }
    cases.push(IoCase { kind: IoKind::Stdout, chunk: 64 << 10, total: 1 << 30 });
    cases
}

impl IoCase {
    /// A short name (`stdout 64 KiB`).
    pub fn name(&self) -> String {
        let kind = match self.kind {
            IoKind::Stdout => "stdout",
            IoKind::Stderr => "stderr",
            IoKind::Stdin => "stdin",
        };
        let chunk = if self.chunk >= 1024 { format!("{} KiB", self.chunk >> 10) } else { format!("{} B", self.chunk) };
        if self.total > SHORT_TOTAL {
            return format!("{kind} {chunk} x {} MiB", self.total >> 20);
        }
        format!("{kind} {chunk}")
    }

    /// The input the case needs on stdin.
    pub fn stdin(&self) -> Vec<u8> {
        if self.kind == IoKind::Stdin { vec![b'x'; self.total as usize] } else { Vec::new() }
    }

    /// The module (a WASI command importing only `fd_write` or `fd_read`). It traps
    /// (`unreachable`) if a call fails or the byte count comes out wrong.
    pub fn module(&self) -> Vec<u8> {
        let (chunk, total) = (self.chunk, self.total);
        let body = match self.kind {
            IoKind::Stdout | IoKind::Stderr => {
                let fd = if self.kind == IoKind::Stdout { 1 } else { 2 };
                format!(
                    "(memory.fill (i32.const 1024) (i32.const 120) (i32.const {chunk}))
                     (i32.store (i32.const 0) (i32.const 1024))
                     (i32.store (i32.const 4) (i32.const {chunk}))
                     (local.set $left (i64.const {total}))
                     (block $done (loop $more
                       (br_if $done (i64.eqz (local.get $left)))
                       (if (call $fd_write (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 16)) (then unreachable))
                       (if (i32.ne (i32.load (i32.const 16)) (i32.const {chunk})) (then unreachable))
                       (local.set $left (i64.sub (local.get $left) (i64.const {chunk})))
                       (br $more)))"
                )
            }
            IoKind::Stdin => format!(
                "(i32.store (i32.const 0) (i32.const 1024))
                 (i32.store (i32.const 4) (i32.const {chunk}))
                 (local.set $left (i64.const 0))
                 (block $done (loop $more
                   (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)) (then unreachable))
                   (br_if $done (i32.eqz (i32.load (i32.const 16))))
                   (local.set $left (i64.add (local.get $left) (i64.extend_i32_u (i32.load (i32.const 16)))))
                   (br $more)))
                 (if (i64.ne (local.get $left) (i64.const {total})) (then unreachable))"
            ),
        };
        let text = format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
                 (memory (export "memory") 2)
                 (func (export "_start") (local $left i64) {body}))"#
        );
        wat::parse_str(&text).expect("the generated benchmark module is valid")
    }

    /// Bytes per second for `ns` nanoseconds.
    pub fn mib_per_s(&self, ns: u64) -> f64 {
        self.total as f64 / (1 << 20) as f64 / (ns.max(1) as f64 / 1e9)
    }
}

/// How long `_start` of `case`'s module ran inside the kernel.
pub fn kernel_ns(vm: &VmArgs, case: &IoCase) -> Result<u64> {
    let spec = crate::run::RunSpec {
        wasm_name: "io.wasm".into(),
        wasm: case.module(),
        memory_mib: vm.memory,
        ..Default::default()
    };
    let stdin = Arc::new(case.stdin());
    crate::bench_run::kernel_start_ns(vm, &spec, &case.name(), |config| {
        config.program_io = ProgramIo::Fixed { stdin };
        config.timeout = Some(Duration::from_secs(300));
    })
}

/// Runs every case in the kernel (best of `runs`) and prints MiB/s.
pub fn report(vm: &VmArgs, runs: usize) -> Result<u8> {
    println!("bench io: MiB/s inside the kernel ({:?}), best of {runs}", vm.accel);
    for case in cases() {
        let mut best = u64::MAX;
        for _ in 0..runs.max(1) {
            best = best.min(kernel_ns(vm, &case)?);
        }
        println!("{:<16} {:>10.2} MiB/s", case.name(), case.mib_per_s(best));
    }
    Ok(0)
}
