//! `wasmetal bench fs`: filesystem throughput of a WASI program in the kernel, on a
//! `--dir` host directory (virtio 9P). The same generated modules run under Wasmtime
//! in `cargo bench -p wasmetal-bench --bench fs`, which prints both with their ratio.
//!
//! Cases: sequential write of a 256 MiB file in 1 MiB `fd_write`s, sequential read of
//! it in 1 MiB `fd_read`s, and create + stat + unlink of 10 000 files (`path_open`
//! with CREAT|EXCL, `fd_close`, `path_filestat_get`, `path_unlink_file`). The figure is
//! `_start`'s time (the kernel reports it; boot and compile excluded).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::dir_devices::HostDir;
use crate::vm_args::VmArgs;

/// What a benchmark module does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    Write,
    Read,
    Metadata,
}

/// One measurement.
#[derive(Clone, Copy, Debug)]
pub struct FsCase {
    pub kind: FsKind,
    /// Bytes per call (write and read).
    pub chunk: usize,
    /// Bytes moved (write and read) or files (metadata).
    pub total: u64,
}

/// The file the write case makes and the read case reads.
pub const FILE_NAME: &str = "bench.bin";

/// The cases of the report.
pub fn cases() -> Vec<FsCase> {
    vec![
        FsCase { kind: FsKind::Write, chunk: 1 << 20, total: 256 << 20 },
        FsCase { kind: FsKind::Read, chunk: 1 << 20, total: 256 << 20 },
        FsCase { kind: FsKind::Metadata, chunk: 0, total: 10_000 },
    ]
}

impl FsCase {
    pub fn name(&self) -> String {
        match self.kind {
            FsKind::Write => format!("write {} MiB", self.total >> 20),
            FsKind::Read => format!("read {} MiB", self.total >> 20),
            FsKind::Metadata => format!("create+stat+unlink {}", self.total),
        }
    }

    /// Makes `dir` ready for the case: the read case's file exists, nothing else does.
    pub fn prepare(&self, dir: &Path) -> Result<()> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if self.kind == FsKind::Read {
            let block: Vec<u8> = (0..self.chunk).map(|i| (i % 251) as u8).collect();
            let mut file = std::fs::File::create(dir.join(FILE_NAME))?;
            for _ in 0..self.total / self.chunk as u64 {
                std::io::Write::write_all(&mut file, &block)?;
            }
        }
        Ok(())
    }

    /// The module: a WASI command on preopen fd 3. It traps (`unreachable`) when a
    /// call fails or a count comes out wrong.
    pub fn module(&self) -> Vec<u8> {
        let (chunk, total) = (self.chunk, self.total);
        let name_len = FILE_NAME.len();
        let body = match self.kind {
            FsKind::Write => format!(
                "(memory.fill (i32.const 65536) (i32.const 120) (i32.const {chunk}))
                 (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const {name_len})
                       (i32.const 9) (i64.const 0x1fffffff) (i64.const 0) (i32.const 0) (i32.const 32)) (then unreachable))
                 (i32.store (i32.const 0) (i32.const 65536))
                 (i32.store (i32.const 4) (i32.const {chunk}))
                 (local.set $left (i64.const {total}))
                 (block $done (loop $more
                   (br_if $done (i64.eqz (local.get $left)))
                   (if (call $fd_write (i32.load (i32.const 32)) (i32.const 0) (i32.const 1) (i32.const 16)) (then unreachable))
                   (if (i32.ne (i32.load (i32.const 16)) (i32.const {chunk})) (then unreachable))
                   (local.set $left (i64.sub (local.get $left) (i64.const {chunk})))
                   (br $more)))
                 (if (call $fd_close (i32.load (i32.const 32))) (then unreachable))"
            ),
            FsKind::Read => format!(
                "(if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const {name_len})
                       (i32.const 0) (i64.const 0x1fffffff) (i64.const 0) (i32.const 0) (i32.const 32)) (then unreachable))
                 (i32.store (i32.const 0) (i32.const 65536))
                 (i32.store (i32.const 4) (i32.const {chunk}))
                 (local.set $left (i64.const 0))
                 (block $done (loop $more
                   (if (call $fd_read (i32.load (i32.const 32)) (i32.const 0) (i32.const 1) (i32.const 16)) (then unreachable))
                   (br_if $done (i32.eqz (i32.load (i32.const 16))))
                   (local.set $left (i64.add (local.get $left) (i64.extend_i32_u (i32.load (i32.const 16)))))
                   (br $more)))
                 (if (i64.ne (local.get $left) (i64.const {total})) (then unreachable))
                 (if (call $fd_close (i32.load (i32.const 32))) (then unreachable))"
            ),
            FsKind::Metadata => format!(
                "(local.set $i (i32.const 0))
                 (block $done (loop $more
                   (br_if $done (i32.ge_u (local.get $i) (i32.const {total})))
                   ;; name \"f\" + 5 decimal digits at 128
                   (i32.store8 (i32.const 128) (i32.const 102))
                   (local.set $n (local.get $i))
                   (local.set $d (i32.const 5))
                   (block $digits_done (loop $digits
                     (br_if $digits_done (i32.eqz (local.get $d)))
                     (i32.store8 (i32.add (i32.const 128) (local.get $d))
                       (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
                     (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
                     (local.set $d (i32.sub (local.get $d) (i32.const 1)))
                     (br $digits)))
                   (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 6)
                         (i32.const 5) (i64.const 0x1fffffff) (i64.const 0) (i32.const 0) (i32.const 32)) (then unreachable))
                   (if (call $fd_close (i32.load (i32.const 32))) (then unreachable))
                   (if (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 6) (i32.const 256))
                     (then unreachable))
                   (if (call $path_unlink_file (i32.const 3) (i32.const 128) (i32.const 6)) (then unreachable))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br $more)))"
            ),
        };
        let text = format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "path_open"
                   (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
                 (import "wasi_snapshot_preview1" "path_filestat_get"
                   (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "path_unlink_file"
                   (func $path_unlink_file (param i32 i32 i32) (result i32)))
                 (memory (export "memory") 17)
                 (data (i32.const 64) "{FILE_NAME}")
                 (func (export "_start") (local $left i64) (local $i i32) (local $n i32) (local $d i32) {body}))"#
        );
        wat::parse_str(&text).expect("the generated benchmark module is valid")
    }

    /// MiB/s (write, read) or operations (create+stat+unlink) per second for `ns`.
    pub fn rate(&self, ns: u64) -> f64 {
        let seconds = ns.max(1) as f64 / 1e9;
        match self.kind {
            FsKind::Metadata => self.total as f64 / seconds,
            _ => self.total as f64 / (1 << 20) as f64 / seconds,
        }
    }

    /// The unit of [`rate`](Self::rate).
    pub fn unit(&self) -> &'static str {
        if self.kind == FsKind::Metadata { "files/s" } else { "MiB/s" }
    }
}

/// A scratch directory for the benchmark's files.
pub fn scratch_dir() -> PathBuf {
    crate::workspace::scratch_dir().join(format!("wasmetal-bench-fs-{}", std::process::id()))
}

/// How long `_start` of `case`'s module ran inside the kernel, with `dir` as `--dir`.
pub fn kernel_ns(vm: &VmArgs, case: &FsCase, dir: &Path) -> Result<u64> {
    case.prepare(dir)?;
    let host_dir = HostDir { host: dir.canonicalize()?, guest: "/bench".into(), read_only: false };
    let spec = crate::run::RunSpec {
        wasm_name: "fs.wasm".into(),
        wasm: case.module(),
        memory_mib: vm.memory,
        host_dirs: vec![host_dir.clone()],
        ..Default::default()
    };
    crate::bench_run::kernel_start_ns(vm, &spec, &case.name(), |config| config.dirs = vec![host_dir])
}

/// Runs every case in the kernel (best of `runs`) and prints the rates.
pub fn report(vm: &VmArgs, runs: usize) -> Result<u8> {
    println!("bench fs: inside the kernel ({:?}) on a --dir host directory (virtio 9P), best of {runs}", vm.accel);
    let dir = scratch_dir();
    for case in cases() {
        let mut best = u64::MAX;
        for _ in 0..runs.max(1) {
            best = best.min(kernel_ns(vm, &case, &dir)?);
        }
        println!("{:<26} {:>12.2} {}", case.name(), case.rate(best), case.unit());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}
