//! Module bytes through validate, compile, instantiate and run (hosted runtime).
//!
//! Every export runs under fuel (WASI programs get a WASI context whose output goes
//! nowhere).
//!
//! Besides "no panic", one cross-check: a module the validator accepts must compile
//! (Cranelift refusing a validated function is a translator bug, not a bad input).

use std::sync::OnceLock;

use wasmetal_runtime::{Config, Engine, ErrorKind, Extern, Linker, Module, Store, Val};
use wasmetal_wasi::WasiCtx;

use super::wasi::QuietSystem;

/// Fuel for the start function and all calls of one input together.
const FUEL: u64 = 2_000_000;

/// The engine both module-running targets share (fuel on).
pub fn shared_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.consume_fuel(true);
        Engine::new(&config).expect("the hosted engine starts")
    })
}

pub fn run(bytes: &[u8]) -> bool {
    let engine = shared_engine();
    let valid = Module::validate(engine, bytes).is_ok();
    let module = match Module::new(engine, bytes) {
        Ok(module) => module,
        Err(error) => {
            if let ErrorKind::Compile { func_index, message } = error.kind() {
                panic!("a module the validator accepts failed to compile (function {func_index}): {message}");
            }
            assert!(!valid || !matches!(error.kind(), ErrorKind::Validation { .. }), "validate and new disagree");
            return false;
        }
    };
    assert!(valid, "Module::new accepted a module Module::validate refuses");
    let ctx = WasiCtx::builder(Box::new(QuietSystem::default()))
        .arg("fuzz.wasm")
        .preopen_dir("/", [(b"input".as_slice(), bytes[..bytes.len().min(256)].to_vec())])
        .max_total_file_bytes(1 << 20)
        .build()
        .expect("a fixed WASI context builds");
    let mut linker: Linker<WasiCtx> = Linker::new(engine);
    wasmetal_wasi::add_to_linker(&mut linker, |ctx| ctx).expect("WASI links");
    let mut store = Store::new(engine, ctx);
    store.set_fuel(FUEL).expect("fuel is on");
    let Ok(instance) = linker.instantiate(&mut store, &module) else { return true };
    let exports = instance.exports(&mut store);
    if let Some((_, Extern::Func(start))) = exports.iter().find(|(name, _)| name == "_start") {
        let _ = start.call(&mut store, &[], &mut []);
        return true;
    }
    for (_, export) in exports {
        let Extern::Func(func) = export else { continue };
        let ty = func.ty(&store);
        let params: Vec<Val> = ty.params().iter().map(|&t| Val::default_for(t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        if let Err(error) = func.call(&mut store, &params, &mut results)
            && error.trap_code() == Some(wasmetal_runtime::TrapCode::OutOfFuel)
        {
            break;
        }
    }
    true
}
