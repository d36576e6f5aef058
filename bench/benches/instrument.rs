//! The cost of epoch checks and fuel metering, wasmetal-runtime next to Wasmtime, on
//! tight loop modules (`run(n)`) and on the compute cases of `compare` (`run()`). One line per case and mode: `<case> <epoch|fuel>: wasmetal
//! <ratio>x, wasmtime <ratio>x`, each engine's time divided by its own uninstrumented
//! time (best of several runs). `WASMETAL_BENCH_ONLY=sum_loop,fib` runs only those cases.

use std::time::Instant;

const N: i32 = 50_000_000;
const RUNS: usize = 5;

/// How a case is called: `run(N)` or `run()`.
#[derive(Clone, Copy)]
enum Call {
    WithN,
    NoArgs,
}

fn ours(bytes: &[u8], call: Call, epoch: bool, fuel: bool) -> (f64, i64) {
    let mut config = wasmetal_runtime::Config::new();
    config.epoch_interruption(epoch).consume_fuel(fuel);
    let engine = wasmetal_runtime::Engine::new(&config).unwrap();
    let module = wasmetal_runtime::Module::new(&engine, bytes).unwrap();
    let mut store = wasmetal_runtime::Store::new(&engine, ());
    if fuel {
        store.set_fuel(u64::MAX / 4).unwrap();
    }
    store.set_epoch_deadline(u64::MAX / 4);
    let instance = wasmetal_runtime::Instance::new(&mut store, &module, &[]).unwrap();
    let mut best = f64::MAX;
    let mut result = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        result = match call {
            Call::WithN => instance.get_typed_func::<i32, i64>(&mut store, "run").unwrap().call(&mut store, N).unwrap(),
            Call::NoArgs => {
                instance.get_typed_func::<(), i64>(&mut store, "run").unwrap().call(&mut store, ()).unwrap()
            }
        };
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, result)
}

fn theirs(bytes: &[u8], call: Call, epoch: bool, fuel: bool) -> (f64, i64) {
    let mut config = wasmtime::Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::Speed).epoch_interruption(epoch).consume_fuel(fuel);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = wasmtime::Module::new(&engine, bytes).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    if fuel {
        store.set_fuel(u64::MAX / 4).unwrap();
    }
    store.set_epoch_deadline(u64::MAX / 4);
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let mut best = f64::MAX;
    let mut result = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        result = match call {
            Call::WithN => instance.get_typed_func::<i32, i64>(&mut store, "run").unwrap().call(&mut store, N).unwrap(),
            Call::NoArgs => {
                instance.get_typed_func::<(), i64>(&mut store, "run").unwrap().call(&mut store, ()).unwrap()
            }
        };
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, result)
}

fn main() {
    let mut cases: Vec<(String, Vec<u8>, Call)> = wasmetal::bench_modules::loops()
        .into_iter()
        .map(|(name, text)| (name.to_string(), wat::parse_str(text).unwrap(), Call::WithN))
        .collect();
    for name in ["fib", "hash", "nbody", "sort"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wat").join(format!("{name}.wat"));
        cases.push((name.to_string(), wat::parse_file(path).unwrap(), Call::NoArgs));
    }
    // Overheads (ratio - 1) per mode, ours and theirs, for the closing summary.
    let mut overheads: [(Vec<f64>, Vec<f64>); 2] = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for (name, bytes, call) in cases {
        if let Ok(only) = std::env::var("WASMETAL_BENCH_ONLY")
            && !only.split(',').any(|wanted| wanted == name)
        {
            continue;
        }
        let (our_plain, expected) = ours(&bytes, call, false, false);
        let (their_plain, their_expected) = theirs(&bytes, call, false, false);
        assert_eq!(expected, their_expected, "{name}: the engines disagree");
        println!(
            "{name} plain: wasmetal {:.1} ms, wasmtime {:.1} ms, ratio {:.3}",
            our_plain * 1e3,
            their_plain * 1e3,
            our_plain / their_plain
        );
        for (index, (mode, epoch, fuel)) in [("epoch", true, false), ("fuel", false, true)].into_iter().enumerate() {
            let (our_time, our_result) = ours(&bytes, call, epoch, fuel);
            let (their_time, their_result) = theirs(&bytes, call, epoch, fuel);
            assert_eq!((our_result, their_result), (expected, expected), "{name} {mode}: wrong result");
            println!("{name} {mode}: wasmetal {:.3}x, wasmtime {:.3}x", our_time / our_plain, their_time / their_plain);
            overheads[index].0.push(our_time / our_plain - 1.0);
            overheads[index].1.push(their_time / their_plain - 1.0);
        }
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64 * 100.0;
    for (mode, (our, their)) in ["epoch", "fuel"].iter().zip(&overheads) {
        println!("mean {mode} overhead: wasmetal {:+.1}%, wasmtime {:+.1}%", mean(our), mean(their));
    }
}
