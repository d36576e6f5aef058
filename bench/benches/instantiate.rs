//! Instantiation time of wasmetal-runtime and Wasmtime, default and pooling allocators,
//! on a small module, a large generated one (30 000 functions, a 7 500-element funcref
//! table, data segments) and optionally `WASMETAL_BENCH_MODULE` (e.g. spidermonkey.wasm).
//! One line per case: `instantiate <module> <strategy>: wasmetal <t> µs, wasmtime <t> µs,
//! ratio <r>` (medians; stores are created and dropped outside the timed region).

use std::time::Instant;

const ITERATIONS: usize = 200;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn wasmetal_linker(
    engine: &wasmetal_runtime::Engine,
    module: &wasmetal_runtime::Module,
) -> wasmetal_runtime::Linker<()> {
    let mut linker = wasmetal_runtime::Linker::new(engine);
    for import in module.imports() {
        if let wasmetal_runtime::ExternType::Func(ty) = import.ty {
            let results = ty.results().to_vec();
            linker
                .func_new(import.module, import.name, ty, move |_, _, out| {
                    for (slot, ty) in out.iter_mut().zip(&results) {
                        *slot = wasmetal_runtime::Val::default_for(*ty);
                    }
                    Ok(())
                })
                .unwrap();
        }
    }
    linker
}

fn wasmtime_linker(engine: &wasmtime::Engine, module: &wasmtime::Module) -> wasmtime::Linker<()> {
    let mut linker = wasmtime::Linker::new(engine);
    for import in module.imports() {
        if let wasmtime::ExternType::Func(ty) = import.ty() {
            linker
                .func_new(import.module(), import.name(), ty.clone(), move |_, _, out| {
                    for slot in out.iter_mut() {
                        *slot = wasmtime::Val::I32(0);
                    }
                    Ok(())
                })
                .unwrap();
        }
    }
    linker
}

fn wasmetal_time(engine: &wasmetal_runtime::Engine, bytes: &[u8]) -> f64 {
    let module = wasmetal_runtime::Module::new(engine, bytes).unwrap();
    let linker = wasmetal_linker(engine, &module);
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let mut store = wasmetal_runtime::Store::new(engine, ());
        let start = Instant::now();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(instance);
        drop(store);
    }
    median(samples)
}

fn wasmtime_time(engine: &wasmtime::Engine, bytes: &[u8]) -> f64 {
    let module = wasmtime::Module::new(engine, bytes).unwrap();
    let linker = wasmtime_linker(engine, &module);
    let pre = linker.instantiate_pre(&module).unwrap();
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let mut store = wasmtime::Store::new(engine, ());
        let start = Instant::now();
        let instance = pre.instantiate(&mut store).unwrap();
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(instance);
        drop(store);
    }
    median(samples)
}

fn engines(pooling: bool) -> (wasmetal_runtime::Engine, wasmtime::Engine) {
    let mut ours = wasmetal_runtime::Config::new();
    let mut theirs = wasmtime::Config::new();
    theirs.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        ours.allocation_strategy(wasmetal_runtime::InstanceAllocationStrategy::Pooling(
            wasmetal_runtime::PoolingConfig { max_memory_pages: 65536, ..Default::default() },
        ));
        let mut limits = wasmtime::PoolingAllocationConfig::default();
        limits
            .total_memories(1000)
            .total_tables(1000)
            .total_core_instances(1000)
            .max_memory_size(4 << 30)
            .table_elements(100_000);
        limits.max_core_instance_size(4 << 20);
        theirs.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(limits));
    }
    (wasmetal_runtime::Engine::new(&ours).unwrap(), wasmtime::Engine::new(&theirs).unwrap())
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let mut modules = vec![
        ("small".to_string(), wat::parse_str(wasmetal::bench_modules::small()).unwrap()),
        ("large".to_string(), wat::parse_str(wasmetal::bench_modules::large()).unwrap()),
    ];
    if let Some(path) = std::env::var_os("WASMETAL_BENCH_MODULE") {
        let path = std::path::PathBuf::from(path);
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        modules.push((name, std::fs::read(&path).unwrap()));
    }
    for (strategy, pooling) in [("default", false), ("pooling", true)] {
        let (ours, theirs) = engines(pooling);
        for (name, bytes) in &modules {
            let wasmetal = wasmetal_time(&ours, bytes);
            let wasmtime = wasmtime_time(&theirs, bytes);
            println!(
                "instantiate {name} {strategy}: wasmetal {wasmetal:.2} µs, wasmtime {wasmtime:.2} µs, ratio {:.3}",
                wasmetal / wasmtime
            );
        }
    }
}
