//! `wasmetal bench compile`: time to a module's first instruction (`_start`) compiled
//! in the kernel, loaded from an artifact, and from the compile cache; against the
//! boot-to-exit time of an empty program; plus the host's compile (serial and on every
//! core) and deserialize times, and the runtime-only kernel's boot against the full
//! kernel's and an empty PVH kernel's.
//!
//! Time to `_start` is a run's wall time (QEMU spawn to exit) minus the time the
//! kernel reports `_start` ran, so boot, loading or compiling, instantiation and
//! teardown are in it. Medians of `runs`. It must not assert on any figure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::compile_cache::Cache;
use crate::compile_cmd::{self, Target};
use crate::exit_status::Outcome;
use crate::qemu::ConsoleSink;
use crate::run::RunSpec;
use crate::vm_args::VmArgs;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The `bench` module spidermonkey.wasm imports (`start`, `end`: `[] -> []`).
const BENCH_IMPORTS: &str = r#"(module (func (export "start")) (func (export "end")))"#;

/// One run of `wasm` (named `name`) on `kernel` with `preloads`: (wall, `_start` ran),
/// in ms.
fn run_once(vm: &VmArgs, kernel: &Path, name: &str, wasm: &[u8], preloads: &[(String, Vec<u8>)]) -> Result<(f64, f64)> {
    let spec = RunSpec {
        wasm_name: name.into(),
        wasm: wasm.to_vec(),
        memory_mib: vm.memory,
        preloads: preloads.to_vec(),
        ..Default::default()
    };
    let files = crate::run::initrd_files(&spec)?;
    let initrd = crate::run::write_initrd(&files)?;
    let mut config = vm.config(kernel.to_path_buf(), crate::run::run_cmdline(true), Some(initrd.clone()))?;
    config.program_output = true;
    config.program_io = crate::stdio_devices::ProgramIo::Fixed { stdin: Arc::new(Vec::new()) };
    config.timeout = Some(Duration::from_secs(600));
    let result = config.run(ConsoleSink::Capture);
    let _ = std::fs::remove_file(&initrd);
    let result = result?;
    if !matches!(result.outcome, Outcome::Status(_)) {
        bail!("{name} did not finish ({:?}):\n{}", result.outcome, result.console);
    }
    let prefix = format!("run: {name} _start ran ");
    let ran = result
        .console
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .with_context(|| format!("the kernel did not report the run time of {name}:\n{}", result.console))?;
    let ran_ns: f64 = ran.trim_end_matches(" ns").trim().parse().context("parsing the kernel's run time")?;
    Ok((result.wall.as_secs_f64() * 1000.0, ran_ns / 1e6))
}

/// Median time to `_start` (ms) over `runs`; `prepare` makes the bytes each run ships
/// (its time counts too: the cache case's lookup).
fn time_to_start(
    vm: &VmArgs,
    kernel: &Path,
    (name, preloads): (&str, &[(String, Vec<u8>)]),
    runs: usize,
    mut prepare: impl FnMut() -> Result<Vec<u8>>,
) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let bytes = prepare()?;
        let host_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (wall, ran) = run_once(vm, kernel, name, &bytes, preloads)?;
        times.push(host_ms + wall - ran);
    }
    Ok(median(times))
}

/// Median wall time (ms) of booting each of `kernels` (ELF, command line) with no
/// initrd, `runs` times each. The boots are interleaved, one of each in turn, so a
/// change in the host's load over the runs weighs on every kernel alike instead of
/// biasing whichever batch it fell on.
fn boot_ms<const N: usize>(vm: &VmArgs, kernels: [(PathBuf, &str); N], runs: usize) -> Result<[f64; N]> {
    let configs = kernels
        .into_iter()
        .map(|(kernel, cmdline)| vm.config(kernel, cmdline.into(), None))
        .collect::<Result<Vec<_>>>()?;
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(runs));
    for _ in 0..runs {
        for (config, times) in configs.iter().zip(times.iter_mut()) {
            let result = config.run(ConsoleSink::Capture)?;
            if result.outcome != Outcome::Status(0) {
                bail!("a boot did not exit cleanly ({:?}):\n{}", result.outcome, result.console);
            }
            times.push(result.wall.as_secs_f64() * 1000.0);
        }
    }
    Ok(times.map(median))
}

/// Runs the benchmark on `module` and prints its report.
pub fn report(vm: &VmArgs, module: &Path, runs: usize) -> Result<u8> {
    let runs = runs.max(1);
    let wasm = crate::exit_status::read_input(module)?;
    let name = module.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "module.wasm".into());
    let target = Target { cpu: compile_cmd::vm_cpu(vm), fuel: false };
    println!(
        "compile benchmark: {} ({} KiB), {runs} runs each, {} MiB, CPU features {}, {} host threads",
        module.display(),
        wasm.len() >> 10,
        vm.memory,
        target.cpu.names(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // The host side: compile serially and on every core, serialize, deserialize.
    let mut config = wasmetal_runtime::Config::new();
    config.cpu_features(target.cpu).epoch_interruption(true);
    let mut compile_ms = |parallel: bool| -> Result<(f64, Vec<u8>)> {
        config.parallel_compilation(parallel);
        let engine = wasmetal_runtime::Engine::new(&config)?;
        let started = Instant::now();
        let compiled = wasmetal_runtime::Module::new(&engine, &wasm)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok((ms, compiled.serialize()?))
    };
    let (serial_ms, serial) = compile_ms(false)?;
    let (parallel_ms, artifact) = compile_ms(true)?;
    println!("compile host serial: {serial_ms:.0} ms");
    println!("compile host parallel: {parallel_ms:.0} ms ({:.2}x serial)", parallel_ms / serial_ms);
    println!(
        "compile artifact: {} KiB, parallel output identical to serial: {}",
        artifact.len() >> 10,
        serial == artifact
    );
    let engine = compile_cmd::engine(target)?;
    let mut deserialize = Vec::new();
    for _ in 0..runs.max(5) {
        let started = Instant::now();
        // SAFETY: the artifact was just written by `serialize` of this runtime.
        let loaded = unsafe { wasmetal_runtime::Module::deserialize(&engine, &artifact) }?;
        deserialize.push(started.elapsed().as_secs_f64() * 1000.0);
        drop(loaded);
    }
    println!("compile host deserialize: median {:.2} ms", median(deserialize));

    // In the VM.
    let full = vm.kernel_path()?;
    let runtime_only = vm.runtime_only_kernel_path()?;
    let empty = wat::parse_str("(module (func (export \"_start\")))")?;
    let empty_artifact = compile_cmd::compile("empty.wasm", &empty, target)?;
    let empty_ms = time_to_start(vm, &full, ("empty.wasm", &[]), runs, || Ok(empty.clone()))?;
    let empty_precompiled_ms =
        time_to_start(vm, &runtime_only, ("empty.wasm", &[]), runs, || Ok(empty_artifact.clone()))?;
    println!("start empty program (compiled in the VM, full kernel): median {empty_ms:.1} ms to exit");
    println!("start empty program (precompiled, runtime-only kernel): median {empty_precompiled_ms:.1} ms to exit");
    // The module's `bench` imports, compiled in the VM or precompiled like the module.
    let imports = wat::parse_str(BENCH_IMPORTS)?;
    let source = [("bench".to_string(), imports.clone())];
    let precompiled = [("bench".to_string(), compile_cmd::compile("bench.wasm", &imports, target)?)];
    let source_ms = time_to_start(vm, &full, (&name, &source), runs, || Ok(wasm.clone()))?;
    println!("start {name} compiled in the VM: median {source_ms:.1} ms to _start");
    let artifact_full_ms = time_to_start(vm, &full, (&name, &precompiled), runs, || Ok(artifact.clone()))?;
    println!("start {name} from its artifact, full kernel: median {artifact_full_ms:.1} ms to _start");
    let artifact_ms = time_to_start(vm, &runtime_only, (&name, &precompiled), runs, || Ok(artifact.clone()))?;
    println!(
        "start {name} from its artifact, runtime-only kernel: median {artifact_ms:.1} ms to _start \
         ({:.2}x the empty program's boot-to-exit, {:.1}x faster than compiling in the VM)",
        artifact_ms / empty_ms,
        source_ms / artifact_ms
    );
    let cache_dir = crate::workspace::scratch_dir().join(format!("wasmetal-bench-cache-{}", std::process::id()));
    let cache = Cache::new(cache_dir.clone(), u64::MAX);
    cache.get_or_compile(&name, &wasm, target)?;
    let cached_ms = time_to_start(vm, &runtime_only, (&name, &precompiled), runs, || {
        Ok(cache.get_or_compile(&name, &wasm, target)?.0)
    })?;
    let _ = std::fs::remove_dir_all(&cache_dir);
    println!("start {name} from the compile cache: median {cached_ms:.1} ms to _start (cache lookup included)");

    // The kernels' boot to exit.
    let empty_kernel = crate::workspace::scratch_dir().join("wasmetal-empty-pvh.elf");
    std::fs::write(&empty_kernel, crate::empty_kernel::image())
        .with_context(|| format!("writing {}", empty_kernel.display()))?;
    let [full_boot, runtime_boot, empty_boot] =
        boot_ms(vm, [(full.clone(), "quiet"), (runtime_only.clone(), "quiet"), (empty_kernel, "")], runs)?;
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len() >> 10).unwrap_or(0);
    println!("boot full kernel: {} KiB ELF, median {full_boot:.1} ms to exit", size(&full));
    println!(
        "boot runtime-only kernel: {} KiB ELF, median {runtime_boot:.1} ms to exit ({:.2}x the empty PVH kernel)",
        size(&runtime_only),
        runtime_boot / empty_boot
    );
    println!("boot empty PVH kernel: median {empty_boot:.1} ms to exit");
    Ok(0)
}
