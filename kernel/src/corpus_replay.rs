//! `corpus` mode: replays a fuzz corpus (mutated modules, reproducers) in one boot.
//!
//! Every initrd file under `corpus/` is compiled, instantiated (WASI programs against a
//! quiet WASI context: output counted, not shown) and run under fuel: `_start` when
//! exported, else every exported function with zero arguments. Each module runs,
//! traps or is rejected with an error; none may take the kernel down. The summary line
//! `corpus: N modules: R ran, T trapped, E rejected` is what the QEMU test reads. This
//! module decides nothing about what a module may do: limits are the engine's.

use alloc::boxed::Box;
use alloc::vec::Vec;

use wasmetal_runtime::{Engine, Extern, Linker, Store, Val};
use wasmetal_wasi::{ConsoleError, System, WasiCtx};

use crate::log;

/// Fuel per module: bounds generated infinite loops (a few hundred ms in the kernel).
const FUEL_PER_MODULE: u64 = 20_000_000;

/// How one module ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ran,
    Trapped,
    Rejected,
}

/// WASI's view of the machine while replaying: real clocks, output dropped (counted).
struct QuietSystem {
    written: u64,
}

impl System for QuietSystem {
    fn monotonic_ns(&mut self) -> u64 {
        crate::timer::monotonic_ns()
    }
    fn realtime_ns(&mut self) -> u64 {
        crate::timer::monotonic_ns()
    }
    fn random_bytes(&mut self, buf: &mut [u8]) {
        let mut state = crate::timer::monotonic_ns() | 1;
        for byte in buf {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
    }
    fn write_stdout(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.written += bytes.len() as u64;
        Ok(())
    }
    fn write_stderr(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.written += bytes.len() as u64;
        Ok(())
    }
    fn sleep_until(&mut self, _monotonic_ns: u64) {}
}

/// Replays every `corpus/*` file of `initrd`; returns the exit status (0 unless the
/// corpus is empty or the engine cannot start).
pub fn run(initrd: &[u8]) -> u32 {
    let Some(stack) = crate::wasm::stack::WasmStack::new() else {
        log!("corpus: no wasm stack");
        return 1;
    };
    crate::wasm::stack::run_on(&stack, || replay(initrd))
}

fn replay(initrd: &[u8]) -> u32 {
    let mut config = crate::wasm::engine::config(*crate::wasm::engine::CPU.get().expect("recorded at boot"));
    config.consume_fuel(true);
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(error) => {
            log!("corpus: engine: {error}");
            return 1;
        }
    };
    let mut counts = [0u32; 3];
    let heap_before = crate::memory::heap::HEAP.stats().live;
    for entry in wasmetal_initrd::entries(initrd) {
        let Ok(file) = entry else {
            log!("corpus: malformed initrd");
            return 1;
        };
        let Some(name) = file.name.strip_prefix("corpus/") else { continue };
        let started = wasmetal_arch::cpu::rdtsc();
        let (verdict, detail) = replay_one(&engine, file.data);
        let us = crate::timer::cycles_to_ns(wasmetal_arch::cpu::rdtsc() - started) / 1000;
        let word = match verdict {
            Verdict::Ran => "ran",
            Verdict::Trapped => "trapped",
            Verdict::Rejected => "rejected",
        };
        log!("corpus: {name}: {word} ({detail}) in {us} us");
        counts[verdict as usize] += 1;
    }
    let total: u32 = counts.iter().sum();
    log!(
        "corpus: {total} modules: {} ran, {} trapped, {} rejected; heap live {} -> {} bytes",
        counts[0],
        counts[1],
        counts[2],
        heap_before,
        crate::memory::heap::HEAP.stats().live
    );
    u32::from(total == 0)
}

fn replay_one(engine: &Engine, bytes: &[u8]) -> (Verdict, alloc::string::String) {
    use alloc::format;
    let module = match crate::wasm::compile::compile(engine, bytes) {
        Ok(module) => module,
        Err(error) => return (Verdict::Rejected, format!("{error}")),
    };
    let ctx = WasiCtx::builder(Box::new(QuietSystem { written: 0 }))
        .arg("corpus.wasm")
        .preopen_dir("/", [(b"input".as_slice(), b"corpus\n".to_vec())])
        .max_total_file_bytes(1 << 20)
        .build();
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(error) => return (Verdict::Rejected, format!("WASI context: {error:?}")),
    };
    let mut linker: Linker<WasiCtx> = Linker::new(engine);
    if let Err(error) = wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx) {
        return (Verdict::Rejected, format!("{error}"));
    }
    let mut store = Store::new(engine, ctx);
    if let Err(error) = store.set_fuel(FUEL_PER_MODULE) {
        return (Verdict::Rejected, format!("{error}"));
    }
    let instance = match linker.instantiate(&mut store, &module) {
        Ok(instance) => instance,
        Err(error) if error.as_trap().is_some() => return (Verdict::Trapped, format!("start: {error}")),
        Err(error) => return (Verdict::Rejected, format!("{error}")),
    };
    let exports = instance.exports(&mut store);
    let funcs: Vec<_> = match exports.iter().find(|(name, _)| name == "_start") {
        Some((_, Extern::Func(start))) => alloc::vec![*start],
        _ => exports
            .iter()
            .filter_map(|(_, export)| if let Extern::Func(f) = export { Some(*f) } else { None })
            .collect(),
    };
    let mut verdict = (Verdict::Ran, format!("{} calls", funcs.len()));
    for func in funcs {
        let ty = func.ty(&store);
        let params: Vec<Val> = ty.params().iter().map(|&t| Val::default_for(t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        match func.call(&mut store, &params, &mut results) {
            Ok(()) => {}
            Err(error) if error.exit_status().is_some() => {
                verdict = (Verdict::Ran, format!("exit {}", error.exit_status().unwrap_or(0)));
                break;
            }
            Err(error) if error.as_trap().is_some() => {
                verdict = (Verdict::Trapped, error.trap_code().map(|c| c.message()).unwrap_or("trap").into());
            }
            Err(error) => {
                verdict = (Verdict::Rejected, format!("call: {error}"));
                break;
            }
        }
    }
    verdict
}
