//! The hosted side of `wasmetal bench kernel --program`: the same WASI program run by
//! wasmetal-runtime as an ordinary host process, timed like the kernel times it
//! (`_start` only, compile and instantiation excluded), so the two can be compared.
//!
//! Output is discarded and no directories are preopened; only the run time matters.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use wasmetal_runtime::{Config, Engine, Linker, Module, Store};
use wasmetal_wasi::{HostSystem, Output, WasiCtx};

/// Hosted runs: how long `_start` took, first and best of `runs`, and the exit status.
pub struct HostedRun {
    pub first: Duration,
    pub best: Duration,
    pub exit_status: i32,
}

/// Runs the WASI command at `path` with `argv[0]` = `name` `runs` times, each in a
/// fresh instance, and times its `_start`.
pub fn run_program(path: &Path, name: &str, runs: usize) -> Result<HostedRun> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let engine = Engine::new(&Config::default()).map_err(|e| anyhow!("hosted engine: {e}"))?;
    let module = Module::new(&engine, &bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let mut linker = Linker::new(&engine);
    wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx).map_err(|e| anyhow!("WASI imports: {e}"))?;
    let mut times = Vec::new();
    let mut exit_status = 0;
    for _ in 0..runs.max(1) {
        let ctx = WasiCtx::builder(Box::new(HostSystem::new(Output::Discard)))
            .arg(name.as_bytes().to_vec())
            .build()
            .map_err(|e| anyhow!("WASI context: {e}"))?;
        let mut store = Store::new(&engine, ctx);
        let instance = linker.instantiate(&mut store, &module).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let start =
            instance.get_typed_func::<(), ()>(&mut store, "_start").map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let begin = Instant::now();
        let result = start.call(&mut store, ());
        times.push(begin.elapsed());
        exit_status = match result {
            Ok(()) => 0,
            Err(error) => {
                error.exit_status().ok_or_else(|| anyhow!("{} failed on the host: {error}", path.display()))?
            }
        };
    }
    let best = times.iter().copied().min().unwrap_or_default();
    Ok(HostedRun { first: times[0], best, exit_status })
}
