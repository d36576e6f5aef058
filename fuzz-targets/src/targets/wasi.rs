//! WASI preview1 calls with arbitrary arguments over arbitrary guest memory.
//!
//! The input is decoded into a program: the guest memory's contents (one 64 KiB page),
//! then a list of calls, each an import and its arguments (small numbers, in-memory
//! offsets, offsets near the end of memory, or anything), in preview1 or preview0. The program is built as a
//! module that calls the imports in order and runs on the hosted runtime with an
//! in-memory directory preopened. Every call must come back with an errno (or
//! `proc_exit`); a panic or a host access outside guest memory is a bug.

use arbitrary::Unstructured;
use std::fmt::Write;

use wasmetal_runtime::{Linker, Module, Store};
use wasmetal_wasi::{ConsoleError, System, WasiCtx};

/// The preview1 imports wasmetal-wasi defines (but `proc_exit`, which would only end
/// the run early), with their parameters: `i` for i32, `l` for i64.
const CALLS: &[(&str, &str)] = &[
    ("args_get", "ii"),
    ("args_sizes_get", "ii"),
    ("environ_get", "ii"),
    ("environ_sizes_get", "ii"),
    ("clock_res_get", "ii"),
    ("clock_time_get", "ili"),
    ("fd_advise", "illi"),
    ("fd_allocate", "ill"),
    ("fd_close", "i"),
    ("fd_datasync", "i"),
    ("fd_fdstat_get", "ii"),
    ("fd_fdstat_set_flags", "ii"),
    ("fd_fdstat_set_rights", "ill"),
    ("fd_filestat_get", "ii"),
    ("fd_seek", "ilii"),
    ("path_filestat_get", "iiiii"),
    ("poll_oneoff", "iiii"),
    ("sock_accept", "iii"),
    ("fd_filestat_set_size", "il"),
    ("fd_filestat_set_times", "illi"),
    ("fd_pread", "iiili"),
    ("fd_prestat_get", "ii"),
    ("fd_prestat_dir_name", "iii"),
    ("fd_pwrite", "iiili"),
    ("fd_read", "iiii"),
    ("fd_readdir", "iiili"),
    ("fd_renumber", "ii"),
    ("fd_sync", "i"),
    ("fd_tell", "ii"),
    ("fd_write", "iiii"),
    ("path_create_directory", "iii"),
    ("path_filestat_set_times", "iiiilli"),
    ("path_link", "iiiiiii"),
    ("path_open", "iiiiillii"),
    ("path_readlink", "iiiiii"),
    ("path_remove_directory", "iii"),
    ("path_rename", "iiiiii"),
    ("path_symlink", "iiiii"),
    ("path_unlink_file", "iii"),
    ("proc_raise", "i"),
    ("sched_yield", ""),
    ("random_get", "ii"),
    ("sock_recv", "iiiiii"),
    ("sock_send", "iiiii"),
    ("sock_shutdown", "ii"),
];

const PAGE: u64 = 65536;
const MAX_CALLS: usize = 48;

/// A `System` with a clock that moves 1 ms per look, no real sleeping, output dropped.
#[derive(Default)]
pub struct QuietSystem {
    now_ns: u64,
}

impl System for QuietSystem {
    fn monotonic_ns(&mut self) -> u64 {
        self.now_ns += 1_000_000;
        self.now_ns
    }
    fn realtime_ns(&mut self) -> u64 {
        1_700_000_000_000_000_000 + self.monotonic_ns()
    }
    fn random_bytes(&mut self, buf: &mut [u8]) {
        buf.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    }
    fn write_stdout(&mut self, _bytes: &[u8]) -> Result<(), ConsoleError> {
        Ok(())
    }
    fn write_stderr(&mut self, _bytes: &[u8]) -> Result<(), ConsoleError> {
        Ok(())
    }
    fn sleep_until(&mut self, monotonic_ns: u64) {
        self.now_ns = self.now_ns.max(monotonic_ns);
    }
}

fn argument(u: &mut Unstructured<'_>, wide: bool) -> u64 {
    let raw: u64 = u.arbitrary().unwrap_or(0);
    let value = match u.int_in_range(0..=5u8).unwrap_or(0) {
        0 | 1 => raw % 16,
        2 => raw % PAGE,
        3 => PAGE - 1 - raw % 64,
        4 => raw % 4096,
        _ => raw,
    };
    if wide { value } else { value & 0xFFFF_FFFF }
}

/// The module the input stands for (WAT text).
pub fn program(bytes: &[u8]) -> String {
    let mut u = Unstructured::new(bytes);
    // One input in four speaks preview0 (`wasi_unstable`: other layouts for seek,
    // filestat and poll; no `sock_accept`).
    let preview0 = u.arbitrary::<u8>().unwrap_or(0).is_multiple_of(4);
    let import_module = if preview0 { "wasi_unstable" } else { "wasi_snapshot_preview1" };
    let memory_len = usize::from(u.arbitrary::<u16>().unwrap_or(0)).min(u.len() / 2);
    let memory = u.bytes(memory_len).unwrap_or(&[]).to_vec();
    let mut imports = String::new();
    let mut body = String::new();
    let mut used = vec![false; CALLS.len()];
    for _ in 0..MAX_CALLS {
        if u.is_empty() {
            break;
        }
        let Ok(index) = u.choose_index(CALLS.len()) else { break };
        let (name, params) = CALLS[index];
        if preview0 && name == "sock_accept" {
            continue;
        }
        used[index] = true;
        write!(body, "    (drop (call ${name}").unwrap();
        for kind in params.chars() {
            let wide = kind == 'l';
            let value = argument(&mut u, wide);
            if wide {
                write!(body, " (i64.const {})", value as i64).unwrap();
            } else {
                write!(body, " (i32.const {})", value as u32 as i32).unwrap();
            }
        }
        body.push_str("))\n");
    }
    for (index, (name, params)) in CALLS.iter().enumerate() {
        if !used[index] {
            continue;
        }
        let params: Vec<&str> = params.chars().map(|k| if k == 'l' { "i64" } else { "i32" }).collect();
        writeln!(
            imports,
            "  (import \"{import_module}\" \"{name}\" (func ${name} (param {}) (result i32)))",
            params.join(" ")
        )
        .unwrap();
    }
    let mut data = String::new();
    for byte in &memory {
        write!(data, "\\{byte:02x}").unwrap();
    }
    format!(
        "(module\n{imports}  (memory (export \"memory\") 1)\n  (data (i32.const 0) \"{data}\")\n  \
         (func (export \"_start\")\n{body}  ))\n"
    )
}

pub fn run(bytes: &[u8]) -> bool {
    let text = program(bytes);
    let wasm = wat::parse_str(&text).expect("the generated program is valid WAT");
    let engine = super::module::shared_engine();
    let module = Module::new(engine, &wasm).expect("the generated program compiles");
    let files: Vec<(&[u8], Vec<u8>)> =
        vec![(b"file.txt", b"hello, fuzz\n".to_vec()), (b"dir/inner.bin", vec![7; 300]), (b"empty/", Vec::new())];
    let ctx = WasiCtx::builder(Box::new(QuietSystem::default()))
        .args(["wasi.wasm", "an argument"])
        .env("KEY", "value")
        .stdin(b"some input\n".to_vec())
        .preopen_dir("/sandbox", files)
        .max_total_file_bytes(1 << 20)
        .build()
        .expect("a fixed WASI context builds");
    let mut linker: Linker<WasiCtx> = Linker::new(engine);
    wasmetal_wasi::add_to_linker(&mut linker, |ctx| ctx).expect("WASI links");
    let mut store = Store::new(engine, ctx);
    store.set_fuel(10_000_000).expect("fuel is on");
    let instance = linker.instantiate(&mut store, &module).expect("a WASI program with memory instantiates");
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").expect("_start is exported");
    match start.call(&mut store, ()) {
        Ok(()) => true,
        Err(error) if error.exit_status().is_some() => true,
        Err(error) => panic!("a WASI call failed with an error instead of an errno: {error}\n{text}"),
    }
}
