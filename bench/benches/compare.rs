//! wasmetal-runtime against Wasmtime, in the same process on the same machine.
//!
//! For every case (a WAT module in `bench/wat/`) it measures
//! - compile: `Module::new` on the same binary bytes (validation, translation,
//!   Cranelift, code publication), single-threaded in both engines;
//! - run: one call of the export `run: [] -> [i64]` on an instance created beforehand.
//!
//! Before timing, every case runs once on both engines and the checksum must equal the
//! one a native Rust reference computes; a case that fails to compile or disagrees is
//! reported and skipped, and the bench exits with status 1 at the end.
//!
//! Criterion drives the measurement loop; each sample's time per iteration is also
//! recorded here, and the summary line uses the median of those samples:
//!
//! `<case> <compile|run>: wasmetal <t> ms, wasmtime <t> ms, ratio <wasmetal/wasmtime>`
//!
//! With `WASMETAL_BENCH_MODULE=/path/to/module.wasm` it also times compiling that module
//! (`WASMETAL_BENCH_MODULE_SAMPLES` runs per engine, default 3, median), reported as
//! `<file-stem> compile: ...`.
//!
//! Run with `cargo bench -p wasmetal-bench` (from the workspace root).

use std::cell::RefCell;
use std::hint::black_box;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};

/// Criterion settings of one phase of one case.
#[derive(Clone, Copy)]
struct Settings {
    samples: usize,
    warm_up: Duration,
    measurement: Duration,
}

const fn settings(samples: usize, warm_up_ms: u64, measurement_ms: u64) -> Settings {
    Settings { samples, warm_up: Duration::from_millis(warm_up_ms), measurement: Duration::from_millis(measurement_ms) }
}

struct Case {
    name: &'static str,
    wat: &'static str,
    /// The checksum, computed natively.
    reference: fn() -> i64,
    compile: Settings,
    run: Settings,
}

const CASES: &[Case] = &[
    Case {
        name: "fib",
        wat: include_str!("../wat/fib.wat"),
        reference: fib_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "hash",
        wat: include_str!("../wat/hash.wat"),
        reference: hash_reference,
        compile: settings(20, 500, 2000),
        run: settings(20, 1000, 3000),
    },
    Case {
        name: "nbody",
        wat: include_str!("../wat/nbody.wat"),
        reference: nbody_reference,
        compile: settings(20, 500, 2000),
        run: settings(15, 1000, 3000),
    },
    Case {
        name: "sort",
        wat: include_str!("../wat/sort.wat"),
        reference: sort_reference,
        compile: settings(20, 500, 2000),
        run: settings(10, 1000, 4000),
    },
];

/// Both engines, created once, outside every timed region.
struct Engines {
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
struct Line {
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
fn ms(nanos: f64) -> String {
    let ms = nanos / 1e6;
    if ms >= 1.0 { format!("{ms:.3}") } else { format!("{ms:.5}") }
}

/// The time per iteration of every sample Criterion takes of one benchmark (the warm-up
/// included; Criterion's measurement samples are the last `sample_size` entries).
#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<f64>>>);

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

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, settings: Settings) {
    group
        .sample_size(settings.samples)
        .warm_up_time(settings.warm_up)
        .measurement_time(settings.measurement)
        .sampling_mode(SamplingMode::Flat);
}

/// Sum of the times of `iters` compilations; modules are dropped outside the timing.
fn time_compiles<M, E: std::fmt::Debug>(iters: u64, mut compile: impl FnMut() -> Result<M, E>) -> Duration {
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
struct Failure {
    case: String,
    what: String,
}

/// A store with an instance whose `run` export is ready to call, and its first result.
type Ready<S, F> = Result<(S, F, i64), String>;

/// Compiles, instantiates and calls `run` once on wasmetal; the instance stays ready.
fn wasmetal_setup(
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
fn wasmtime_setup(engine: &wasmtime::Engine, bytes: &[u8]) -> Ready<wasmtime::Store<()>, wasmtime::TypedFunc<(), i64>> {
    let module = wasmtime::Module::new(engine, bytes).map_err(|e| format!("Module::new: {e:?}"))?;
    let mut store = wasmtime::Store::new(engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| format!("Instance::new: {e:?}"))?;
    let run = instance.get_typed_func::<(), i64>(&mut store, "run").map_err(|e| format!("get_typed_func: {e:?}"))?;
    let result = run.call(&mut store, ()).map_err(|e| format!("run: {e:?}"))?;
    Ok((store, run, result))
}

fn bench_case(
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
fn bench_module_file(engines: &Engines, path: &Path, lines: &mut Vec<Line>, failures: &mut Vec<Failure>) {
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

fn main() {
    let engines = Engines::new();
    let mut criterion = Criterion::default().nresamples(20_000).configure_from_args();
    let (mut lines, mut failures) = (Vec::new(), Vec::new());

    for case in CASES {
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

// Native references: the same computations as the WAT modules, in the same order (so
// the f64 results are bit-identical).

fn fib_reference() -> i64 {
    fn fib(n: i64) -> i64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }
    fib(30)
}

fn hash_reference() -> i64 {
    const P1: u64 = 0x9E37_79B1_85EB_CA87;
    const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P3: u64 = 0x1656_67B1_9E37_79F9;
    const P4: u64 = 0x85EB_CA77_C2B2_AE63;
    fn round(acc: u64, lane: u64) -> u64 {
        acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
    }
    fn merge(h: u64, v: u64) -> u64 {
        (h ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
    }

    let mut memory = vec![0u8; 16 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for word in memory.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.copy_from_slice(&x.to_le_bytes());
    }

    // XXH64, seed 0, for a length that is a multiple of 32.
    let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
    for stripe in memory.chunks_exact(32) {
        for (lane, acc) in stripe.chunks_exact(8).zip(&mut v) {
            *acc = round(*acc, u64::from_le_bytes(lane.try_into().unwrap()));
        }
    }
    let mut h = v[0]
        .rotate_left(1)
        .wrapping_add(v[1].rotate_left(7))
        .wrapping_add(v[2].rotate_left(12).wrapping_add(v[3].rotate_left(18)));
    for lane in v {
        h = merge(h, lane);
    }
    h = h.wrapping_add(memory.len() as u64);
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^= h >> 32;
    h as i64
}

// The literals are the ones in nbody.wat, digit for digit; indexing mirrors its loops.
#[allow(clippy::excessive_precision, clippy::needless_range_loop)]
fn nbody_reference() -> i64 {
    const SOLAR_MASS: f64 = 39.47841760435743; // 4 * pi * pi
    const DAYS_PER_YEAR: f64 = 365.24;
    #[derive(Clone, Copy)]
    struct Body {
        x: [f64; 3],
        v: [f64; 3],
        mass: f64,
    }
    let body = |x: [f64; 3], v: [f64; 3], mass: f64| Body {
        x,
        v: [v[0] * DAYS_PER_YEAR, v[1] * DAYS_PER_YEAR, v[2] * DAYS_PER_YEAR],
        mass: mass * SOLAR_MASS,
    };
    let mut bodies = [
        body([0.0; 3], [0.0; 3], 1.0),
        body(
            [4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
            [1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05],
            9.54791938424326609e-04,
        ),
        body(
            [8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
            [-2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05],
            2.85885980666130812e-04,
        ),
        body(
            [1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
            [2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05],
            4.36624404335156298e-05,
        ),
        body(
            [1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
            [2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05],
            5.15138902046611451e-05,
        ),
    ];

    let mut p = [0.0f64; 3];
    for b in &bodies {
        for k in 0..3 {
            p[k] += b.v[k] * b.mass;
        }
    }
    for k in 0..3 {
        bodies[0].v[k] = -p[k] / SOLAR_MASS;
    }

    let dt = 0.01;
    for _ in 0..100_000 {
        for i in 0..bodies.len() {
            for j in i + 1..bodies.len() {
                let d = [0, 1, 2].map(|k| bodies[i].x[k] - bodies[j].x[k]);
                let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let mag = dt / (d2 * d2.sqrt());
                let (mi, mj) = (bodies[i].mass, bodies[j].mass);
                for k in 0..3 {
                    bodies[i].v[k] -= d[k] * mj * mag;
                }
                for k in 0..3 {
                    bodies[j].v[k] += d[k] * mi * mag;
                }
            }
        }
        for b in &mut bodies {
            for k in 0..3 {
                b.x[k] += dt * b.v[k];
            }
        }
    }

    let mut e = 0.0;
    for i in 0..bodies.len() {
        let b = bodies[i];
        e += 0.5 * b.mass * (b.v[0] * b.v[0] + b.v[1] * b.v[1] + b.v[2] * b.v[2]);
        for other in &bodies[i + 1..] {
            let d = [0, 1, 2].map(|k| b.x[k] - other.x[k]);
            e -= (b.mass * other.mass) / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        }
    }
    e.to_bits() as i64
}

fn sort_reference() -> i64 {
    let mut x: u32 = 12345;
    let mut values: Vec<i32> = (0..1 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x ^ (x >> 16)) as i32
        })
        .collect();
    values.sort_unstable();
    values.iter().fold(0i64, |h, &v| h.wrapping_mul(31).wrapping_add(i64::from(v)))
}
