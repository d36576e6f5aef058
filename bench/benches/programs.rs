//! Real programs (registry crates built for wasm32-wasip1, `bench/programs`) inside the
//! kernel and under Wasmtime on this host, in the same run, with the ratio.
//!
//! Each program times its own workload with WASI's monotonic clock and prints
//! `workload NAME: N us`, so boot, compile and startup are outside both figures. The
//! kernel side is the launcher a user runs (`wasmetal run`, the build of this checkout);
//! the Wasmtime side is Wasmtime 48.0.8 with wasmtime-wasi's preview1, default engine
//! settings, output to memory. Each figure is the median of `WASMETAL_BENCH_RUNS` runs
//! (default 3), each in a fresh VM and a fresh Wasmtime store: the kernel's first touch
//! of memory is part of what a user pays.
//!
//! A third column runs the same program on wasmetal-runtime hosted on this Linux (its
//! own WASI, output to memory, default engine settings as Wasmtime's): it separates what
//! the compiler makes of a program from what the kernel's environment adds (first touch
//! under the hypervisor, the VM's CPU features, epochs).
//!
//! A `host:` line says whether this host's free memory goes back to a hypervisor below
//! and which huge pages guest RAM gets, which decide how much first touch varies.
//!
//! `NAME ARGS: wasmetal-kernel <ms>, wasmetal-hosted <ms>, wasmtime <ms>, ratio
//! <kernel/wasmtime>, hosted <hosted/wasmtime>`, then the geometric means of both ratios.
//!
//! Run with `cargo bench -p wasmetal-bench --bench programs` from the workspace root.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// The cases: program and arguments, short and long runs of each kind of work.
const CASES: &[(&str, &[&str])] = &[
    ("json", &["20000"]),
    ("json", &["100000"]),
    ("deflate", &["2"]),
    ("deflate", &["16"]),
    ("regex", &["1"]),
    ("regex", &["8"]),
    ("sort", &["50000"]),
    ("sort", &["500000"]),
    ("grow", &["64"]),
    ("grow", &["64", "steps"]),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ is in the workspace").to_path_buf()
}

/// Builds the programs for wasm32-wasip1 and the launcher; returns their directories.
fn build() -> (PathBuf, PathBuf) {
    let root = workspace();
    let target = root.join("target");
    if let Err(error) = wasmetal::kernel_build::ensure_target(&root, "wasm32-wasip1") {
        panic!("{error}");
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip1", "--manifest-path"])
        .arg(root.join("bench/programs/Cargo.toml"))
        .arg("--target-dir")
        .arg(target.join("bench-programs"))
        .status()
        .expect("running cargo for bench/programs");
    assert!(status.success(), "building bench/programs for wasm32-wasip1 failed");
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "-p", "wasmetal"])
        .status()
        .expect("running cargo for the launcher");
    assert!(status.success(), "building the launcher failed");
    (target.join("bench-programs/wasm32-wasip1/release"), target.join("release"))
}

/// The microseconds of the `workload NAME:` line in `output`.
fn workload_us(output: &str, name: &str) -> Result<u64, String> {
    let prefix = format!("workload {name}: ");
    output
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.trim_end_matches(" us").parse().ok())
        .ok_or_else(|| format!("no `{prefix}` line in:\n{output}"))
}

fn kernel_us(launcher: &Path, wasm: &Path, name: &str, args: &[&str]) -> Result<u64, String> {
    let output = Command::new(launcher)
        .args(["--timeout", "600", "run"])
        .arg(wasm)
        .arg("--")
        .args(args)
        .output()
        .map_err(|error| format!("running {}: {error}", launcher.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{name} in the kernel: {}\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    workload_us(&stdout, name)
}

fn wasmtime_us(engine: &Engine, module: &Module, name: &str, args: &[&str]) -> Result<u64, String> {
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx).map_err(|error| error.to_string())?;
    let stdout = MemoryOutputPipe::new(1 << 20);
    let mut argv = vec![format!("{name}.wasm")];
    argv.extend(args.iter().map(|arg| arg.to_string()));
    let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).inherit_stderr().args(&argv).build_p1();
    let mut store = Store::new(engine, wasi);
    let instance = linker.instantiate(&mut store, module).map_err(|error| error.to_string())?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").map_err(|error| error.to_string())?;
    if let Err(error) = start.call(&mut store, ()) {
        let clean_exit = error.downcast_ref::<wasmtime_wasi::I32Exit>().is_some_and(|exit| exit.0 == 0);
        if !clean_exit {
            return Err(format!("{name} under Wasmtime: {error:?}"));
        }
    }
    drop(store);
    workload_us(&String::from_utf8_lossy(&stdout.contents()), name)
}

fn hosted_us(
    engine: &wasmetal_runtime::Engine,
    module: &wasmetal_runtime::Module,
    name: &str,
    args: &[&str],
) -> Result<u64, String> {
    use wasmetal_wasi::{HostSystem, Output, WasiCtx};
    let mut linker = wasmetal_runtime::Linker::new(engine);
    wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx).map_err(|error| error.to_string())?;
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut builder = WasiCtx::builder(Box::new(HostSystem::new(Output::Capture(stdout.clone()))))
        .arg(format!("{name}.wasm").into_bytes());
    for arg in args {
        builder = builder.arg(arg.as_bytes().to_vec());
    }
    let ctx = builder.build().map_err(|error| error.to_string())?;
    let mut store = wasmetal_runtime::Store::new(engine, ctx);
    let instance = linker.instantiate(&mut store, module).map_err(|error| error.to_string())?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").map_err(|error| error.to_string())?;
    if let Err(error) = start.call(&mut store, ())
        && error.exit_status() != Some(0)
    {
        return Err(format!("{name} on hosted wasmetal: {error}"));
    }
    drop(store);
    let output = stdout.lock().unwrap().clone();
    workload_us(&String::from_utf8_lossy(&output), name)
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("WASMETAL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let (programs, bin) = build();
    let launcher = bin.join("wasmetal");
    let engine = Engine::default();
    let hosted_engine =
        wasmetal_runtime::Engine::new(&wasmetal_runtime::Config::default()).expect("a hosted wasmetal engine");
    println!(
        "bench programs: workload ms, median of {runs}; wasmetal run (fresh VM each), wasmetal-runtime hosted and Wasmtime 48.0.8 on this host"
    );
    // First touch of fresh memory depends on the host's huge pages (see the launcher's
    // --host-huge-pages): say what this host does, so the figures can be read.
    let probe = wasmetal::host_probe::HostProbe::detect();
    println!(
        "host: free memory given back to a hypervisor below: {}; memory advised for huge pages gets 2 MiB pages: {}",
        if probe.memory_reclaimed { "yes (first touch varies from run to run)" } else { "no" },
        if probe.advised_2mib_pages { "yes" } else { "no" }
    );
    let mut failed = false;
    let mut log_ratio_sum = 0.0;
    let mut log_hosted_sum = 0.0;
    let mut measured = 0;
    for &(name, args) in CASES {
        let wasm = programs.join(format!("{name}.wasm"));
        let module = Module::from_file(&engine, &wasm).expect("the program compiles under Wasmtime");
        let bytes = std::fs::read(&wasm).expect("reading the program");
        let hosted_module =
            wasmetal_runtime::Module::new(&hosted_engine, &bytes).expect("the program compiles on hosted wasmetal");
        let mut kernel = Vec::new();
        let mut hosted = Vec::new();
        let mut wasmtime = Vec::new();
        for _ in 0..runs {
            match (
                kernel_us(&launcher, &wasm, name, args),
                hosted_us(&hosted_engine, &hosted_module, name, args),
                wasmtime_us(&engine, &module, name, args),
            ) {
                (Ok(k), Ok(h), Ok(w)) => {
                    kernel.push(k);
                    hosted.push(h);
                    wasmtime.push(w);
                }
                (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                    eprintln!("{error}");
                    failed = true;
                }
            }
        }
        if kernel.is_empty() {
            continue;
        }
        let (k, h, w) =
            (median(kernel) as f64 / 1000.0, median(hosted) as f64 / 1000.0, median(wasmtime) as f64 / 1000.0);
        let (ratio, hosted_ratio) = (k / w.max(0.001), h / w.max(0.001));
        log_ratio_sum += ratio.ln();
        log_hosted_sum += hosted_ratio.ln();
        measured += 1;
        println!(
            "{name} {}: wasmetal-kernel {k:.1}, wasmetal-hosted {h:.1}, wasmtime {w:.1}, ratio {ratio:.3}, hosted {hosted_ratio:.3}",
            args.join(" ")
        );
    }
    if measured > 0 {
        let n = measured as f64;
        println!(
            "geomean ratio over {measured} cases: {:.3} (hosted wasmetal: {:.3})",
            (log_ratio_sum / n).exp(),
            (log_hosted_sum / n).exp()
        );
    }
    if failed {
        std::process::exit(1);
    }
}
