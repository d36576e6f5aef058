//! Loading a precompiled module: wasmetal-runtime's `Module::deserialize` against
//! Wasmtime's, on the same module in the same process.
//!
//! Each engine compiles the module once and serializes it; then both deserialize their
//! own artifact `WASMETAL_BENCH_SAMPLES` times (default 11), alternating, and the
//! medians are reported as
//!
//! `deserialize <file>: wasmetal <t> ms, wasmtime <t> ms, ratio <wasmetal/wasmtime>`
//!
//! Both deserialize from a byte slice (each copies the code into fresh executable
//! memory and registers it). The module is `WASMETAL_BENCH_MODULE`, default
//! `../shared/bench/spidermonkey.wasm` beside the checkout. Run with
//! `cargo bench -p wasmetal-bench --bench deserialize`.

use std::path::PathBuf;
use std::time::Instant;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let module = std::env::var_os("WASMETAL_BENCH_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/spidermonkey.wasm"));
    let samples: usize = std::env::var("WASMETAL_BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(11);
    let wasm = std::fs::read(&module).unwrap_or_else(|error| panic!("reading {}: {error}", module.display()));
    let name = module.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();

    let ours = wasmetal_runtime::Engine::default();
    let started = Instant::now();
    let ours_artifact = wasmetal_runtime::Module::new(&ours, &wasm).expect("wasmetal compiles").serialize().unwrap();
    let ours_compile = started.elapsed().as_secs_f64();
    let theirs = wasmtime::Engine::default();
    let started = Instant::now();
    let theirs_artifact = wasmtime::Module::new(&theirs, &wasm).expect("wasmtime compiles").serialize().unwrap();
    let theirs_compile = started.elapsed().as_secs_f64();
    println!(
        "deserialize {name}: artifacts wasmetal {} KiB (compiled in {ours_compile:.1} s, every core), \
         wasmtime {} KiB (compiled in {theirs_compile:.1} s, one core)",
        ours_artifact.len() >> 10,
        theirs_artifact.len() >> 10
    );

    let (mut ours_ms, mut theirs_ms) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let started = Instant::now();
        // SAFETY: the bytes were just written by `serialize` of this runtime.
        let module = unsafe { wasmetal_runtime::Module::deserialize(&ours, &ours_artifact) }.unwrap();
        ours_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        drop(module);
        let started = Instant::now();
        // SAFETY: as above, by Wasmtime's `serialize` in this process.
        let module = unsafe { wasmtime::Module::deserialize(&theirs, &theirs_artifact) }.unwrap();
        theirs_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        drop(module);
    }
    let (ours, theirs) = (median(ours_ms), median(theirs_ms));
    println!("deserialize {name}: wasmetal {ours:.2} ms, wasmtime {theirs:.2} ms, ratio {:.2}", ours / theirs);
}
