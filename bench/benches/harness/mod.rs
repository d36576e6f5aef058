//! The measuring harness shared by the comparison benches (`compare`, `simd`): every
//! case is checked against its native reference on both engines, then its compile and
//! run times are measured with Criterion and printed as ratios (see `compare.rs`).

use std::cell::RefCell;
use std::hint::black_box;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};

/// Criterion settings of one phase of one case.
#[derive(Clone, Copy)]
pub struct Settings {
    samples: usize,
    warm_up: Duration,
    measurement: Duration,
}

pub const fn settings(samples: usize, warm_up_ms: u64, measurement_ms: u64) -> Settings {
    Settings { samples, warm_up: Duration::from_millis(warm_up_ms), measurement: Duration::from_millis(measurement_ms) }
}

pub struct Case {
    pub name: &'static str,
    pub wat: &'static str,
    /// The checksum, computed natively.
    pub reference: fn() -> i64,
    pub compile: Settings,
    pub run: Settings,
}

/// Both engines, created once, outside every timed region.
pub struct Engines {
    wasmetal: wasmetal_runtime::Engine,
    wasmtime: wasmtime::Engine,
}

impl Engines {
    fn new() -> Engines {
        let wasmetal = wasmetal_runtime::Engine::new(&wasmetal_runtime::Config::new()).expect("wasmetal engine");
        let mut config = wasmtime::Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // `parallel_compilation(false)` only exists with Wasmtime's `parallel-compilation`
        // feature, which this crate leaves off (see Cargo.toml): without it (no rayon),
        // Wasmtime compiles function after function on the calling thread.
        let wasmtime = wasmtime::Engine::new(&config).expect("wasmtime engine");
        Engines { wasmetal, wasmtime }
    }
}

/// One summary line: a case and phase, with the median time of each engine.
pub struct Line {
    label: String,
    wasmetal: Option<f64>,
    wasmtime: Option<f64>,
}

impl Line {
    fn print(&self) {
        if let (Some(a), Some(b)) = (self.wasmetal, self.wasmtime) {
            println!("{}: wasmetal {} ms, wasmtime {} ms, ratio {:.3}", self.label, ms(a), ms(b), a / b);
        }
    }
}

/// Nanoseconds as milliseconds, with at least three significant digits.
pub fn ms(nanos: f64) -> String {
    let ms = nanos / 1e6;
    if ms >= 1.0 { format!("{ms:.3}") } else { format!("{ms:.5}") }
}

/// The time per iteration of every sample Criterion takes of one benchmark (the warm-up
/// included; Criterion's measurement samples are the last `sample_size` entries).
#[derive(Clone, Default)]
pub struct Recorder(Rc<RefCell<Vec<f64>>>);

impl Recorder {
    fn record(&self, iters: u64, elapsed: Duration) -> Duration {
        if iters > 0 {
            self.0.borrow_mut().push(elapsed.as_nanos() as f64 / iters as f64);
        }
        elapsed
    }

    /// The median of the last `samples` recordings, if Criterion ran the benchmark.
    fn median(&self, samples: usize) -> Option<f64> {
        let recorded = self.0.borrow();
        let last = &recorded[recorded.len().saturating_sub(samples)..];
        median(last.to_vec())
    }
}

pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>, settings: Settings) {
    group
        .sample_size(settings.samples)
        .warm_up_time(settings.warm_up)
        .measurement_time(settings.measurement)
        .sampling_mode(SamplingMode::Flat);
}

/// Sum of the times of `iters` compilations; modules are dropped outside the timing.
pub fn time_compiles<M, E: std::fmt::Debug>(iters: u64, mut compile: impl FnMut() -> Result<M, E>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let module = compile().expect("compiled before");
        total += start.elapsed();
        drop(black_box(module));
    }
    total
}

/// A case that could not be benchmarked.
pub struct Failure {
    case: String,
    what: String,
}

/// A store with an instance whose `run` export is ready to call, and its first result.
pub type Ready<S, F> = Result<(S, F, i64), String>;

/// Compiles, instantiates and calls `run` once on wasmetal; the instance stays ready.
pub fn wasmetal_setup(
    engine: &wasmetal_runtime::Engine,
    bytes: &[u8],
) -> Ready<wasmetal_runtime::Store<()>, wasmetal_runtime::TypedFunc<(), i64>> {
    let module = wasmetal_runtime::Module::new(engine, bytes).map_err(|e| format!("Module::new: {e}"))?;
    let mut store = wasmetal_runtime::Store::new(engine, ());
    let instance =
        wasmetal_runtime::Instance::new(&mut store, &module, &[]).map_err(|e| format!("Instance::new: {e}"))?;
    let run = instance.get_typed_func::<(), i64>(&mut store, "run").map_err(|e| format!("get_typed_func: {e}"))?;
    let result = run.call(&mut store, ()).map_err(|e| format!("run: {e}"))?;
    Ok((store, run, result))
}

/// Compiles, instantiates and calls `run` once on Wasmtime; the instance stays ready.
pub fn wasmtime_setup(
    engine: &wasmtime::Engine,
    bytes: &[u8],
) -> Ready<wasmtime::Store<()>, wasmtime::TypedFunc<(), i64>> {
    let module = wasmtime::Module::new(engine, bytes).map_err(|e| format!("Module::new: {e:?}"))?;
    let mut store = wasmtime::Store::new(engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| format!("Instance::new: {e:?}"))?;
    let run = instance.get_typed_func::<(), i64>(&mut store, "run").map_err(|e| format!("get_typed_func: {e:?}"))?;
    let result = run.call(&mut store, ()).map_err(|e| format!("run: {e:?}"))?;
    Ok((store, run, result))
}

pub fn bench_case(
    criterion: &mut Criterion,
    engines: &Engines,
    case: &Case,
    lines: &mut Vec<Line>,
    failures: &mut Vec<Failure>,
) {
    let bytes = wat::parse_str(case.wat).unwrap_or_else(|e| panic!("{}.wat: {e}", case.name));
    let expected = (case.reference)();
    let fail = |failures: &mut Vec<Failure>, what: String| failures.push(Failure { case: case.name.into(), what });

    // Correctness first: both engines must produce the reference checksum.
    let wasmetal = wasmetal_setup(&engines.wasmetal, &bytes);
    let wasmtime = wasmtime_setup(&engines.wasmtime, &bytes);
    let (mut wm_store, wm_run, mut wt_store, wt_run) = match (wasmetal, wasmtime) {
        (Ok((wm_store, wm_run, wm_result)), Ok((wt_store, wt_run, wt_result))) => {
            if wm_result != expected || wt_result != expected {
                fail(
                    failures,
                    format!(
                        "checksum mismatch: wasmetal {wm_result:#018x}, wasmtime {wt_result:#018x}, native reference {expected:#018x}"
                    ),
                );
                return;
            }
            println!("{}: checksum {expected:#018x} (wasmetal = wasmtime = native reference)", case.name);
            (wm_store, wm_run, wt_store, wt_run)
        }
        (wasmetal, wasmtime) => {
            if let Err(error) = wasmetal {
                fail(failures, format!("wasmetal: {error}"));
            }
            if let Err(error) = wasmtime {
                fail(failures, format!("wasmtime: {error}"));
            }
            return;
        }
    };

    // Compile time.
    let (wm, wt) = (Recorder::default(), Recorder::default());
    let mut group = criterion.benchmark_group(format!("{}/compile", case.name));
    configure(&mut group, case.compile);
    group.bench_function("wasmetal", |b| {
        b.iter_custom(|iters| {
            wm.record(
                iters,
                time_compiles(iters, || wasmetal_runtime::Module::new(&engines.wasmetal, black_box(&bytes))),
            )
        })
    });
    group.bench_function("wasmtime", |b| {
        b.iter_custom(|iters| {
            wt.record(iters, time_compiles(iters, || wasmtime::Module::new(&engines.wasmtime, black_box(&bytes))))
        })
    });
    group.finish();
    lines.push(Line {
        label: format!("{} compile", case.name),
        wasmetal: wm.median(case.compile.samples),
        wasmtime: wt.median(case.compile.samples),
    });

    // Run time of one call.
    let (wm, wt) = (Recorder::default(), Recorder::default());
    let mut group = criterion.benchmark_group(format!("{}/run", case.name));
    configure(&mut group, case.run);
    group.bench_function("wasmetal", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(wm_run.call(&mut wm_store, ()).expect("ran before"));
            }
            wm.record(iters, start.elapsed())
        })
    });
    group.bench_function("wasmtime", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(wt_run.call(&mut wt_store, ()).expect("ran before"));
            }
            wt.record(iters, start.elapsed())
        })
    });
    group.finish();
    lines.push(Line {
        label: format!("{} run", case.name),
        wasmetal: wm.median(case.run.samples),
        wasmtime: wt.median(case.run.samples),
    });

    // The instances still compute the right thing after all those calls.
    let again = (wm_run.call(&mut wm_store, ()).ok(), wt_run.call(&mut wt_store, ()).ok());
    if again != (Some(expected), Some(expected)) {
        fail(failures, format!("checksum changed after the timed calls: {again:x?}, expected {expected:#018x}"));
    }
}

/// Compile time of an external module: `samples` alternating compilations per engine,
/// timed without Criterion (a large module takes seconds to compile).
pub fn bench_module_file(engines: &Engines, path: &Path, lines: &mut Vec<Line>, failures: &mut Vec<Failure>) {
    let stem = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            failures.push(Failure { case: stem, what: format!("reading {}: {error}", path.display()) });
            return;
        }
    };
    let samples: usize = match std::env::var("WASMETAL_BENCH_MODULE_SAMPLES") {
        Ok(n) => n.parse().ok().filter(|&n| n > 0).expect("WASMETAL_BENCH_MODULE_SAMPLES: a positive integer"),
        Err(_) => 3,
    };
    println!("\n{stem}: compiling {} ({} bytes), {samples} times per engine", path.display(), bytes.len());
    let (mut wm, mut wt) = (Vec::new(), Vec::new());
    for sample in 1..=samples {
        let start = Instant::now();
        let module = wasmetal_runtime::Module::new(&engines.wasmetal, black_box(&bytes));
        let elapsed = start.elapsed();
        match module {
            Ok(module) => drop(black_box(module)),
            Err(error) => {
                failures.push(Failure { case: stem, what: format!("wasmetal: Module::new: {error}") });
                return;
            }
        }
        wm.push(elapsed.as_nanos() as f64);

        let start = Instant::now();
        let module = wasmtime::Module::new(&engines.wasmtime, black_box(&bytes));
        let elapsed = start.elapsed();
        match module {
            Ok(module) => drop(black_box(module)),
            Err(error) => {
                failures.push(Failure { case: stem, what: format!("wasmtime: Module::new: {error:?}") });
                return;
            }
        }
        wt.push(elapsed.as_nanos() as f64);
        println!("  sample {sample}: wasmetal {} ms, wasmtime {} ms", ms(wm[sample - 1]), ms(wt[sample - 1]));
    }
    lines.push(Line { label: format!("{stem} compile"), wasmetal: median(wm), wasmtime: median(wt) });
}

/// Runs `cases` (and `WASMETAL_BENCH_MODULE` when set), prints the summary, and exits 1
/// if any case failed.
pub fn run(cases: &[Case]) {
    let engines = Engines::new();
    let mut criterion = Criterion::default().nresamples(20_000).configure_from_args();
    let (mut lines, mut failures) = (Vec::new(), Vec::new());

    for case in cases {
        bench_case(&mut criterion, &engines, case, &mut lines, &mut failures);
    }
    if let Some(path) = std::env::var_os("WASMETAL_BENCH_MODULE") {
        bench_module_file(&engines, Path::new(&path), &mut lines, &mut failures);
    }
    criterion.final_summary();

    println!("\n== wasmetal-runtime vs Wasmtime (median per iteration; ratio = wasmetal / wasmtime) ==");
    for line in &lines {
        line.print();
    }
    if !failures.is_empty() {
        println!("\n== FAILURES ==");
        for failure in &failures {
            println!("{}: {}", failure.case, failure.what);
        }
        std::process::exit(1);
    }
}
