//! `wasmetal bench boot`: the kernel's boot-to-exit time against an empty PVH kernel.
//!
//! Both are booted `runs` times with identical QEMU settings; the median wall time of
//! each (spawn to exit) and their ratio are printed, plus the kernel's own cycle count
//! from its first instruction to the end of init (TSC, printed by the kernel).

use anyhow::{Context, Result, bail};

use crate::empty_kernel;
use crate::exit_status::Outcome;
use crate::qemu::ConsoleSink;
use crate::vm_args::VmArgs;
use crate::workspace;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
}

/// Parses `boot: entry to init done <cycles> cycles (<us> us)`.
fn init_figures(console: &str) -> Option<(u64, u64)> {
    let line = console.lines().find(|line| line.starts_with("boot: entry to init done "))?;
    let mut words = line.split_whitespace();
    let cycles = words.nth(5)?.parse().ok()?;
    let micros = words.nth(1)?.trim_start_matches('(').parse().ok()?;
    Some((cycles, micros))
}

/// Runs the boot benchmark and prints its report.
pub fn boot(vm: &VmArgs, runs: usize) -> Result<u8> {
    let runs = runs.max(1);
    let kernel = vm.kernel_path()?;
    let empty = workspace::scratch_dir().join("wasmetal-empty-pvh.elf");
    std::fs::write(&empty, empty_kernel::image()).with_context(|| format!("writing {}", empty.display()))?;
    let kernel_config = vm.config(kernel, "quiet stats".into(), None)?;
    let empty_config = vm.config(empty, String::new(), None)?;
    println!("boot benchmark: {runs} boots each, accel {:?}, {} MiB", kernel_config.accel(), vm.memory);

    let mut kernel_ms = Vec::new();
    let mut empty_ms = Vec::new();
    let mut init_us = Vec::new();
    let mut init_cycles = Vec::new();
    for _ in 0..runs {
        let result = kernel_config.run(ConsoleSink::Capture)?;
        if result.outcome != Outcome::Status(0) {
            bail!("the kernel did not boot cleanly ({:?}):\n{}", result.outcome, result.console);
        }
        let (cycles, micros) = init_figures(&result.console).context("the kernel did not print its init time")?;
        kernel_ms.push(result.wall.as_secs_f64() * 1000.0);
        init_us.push(micros as f64);
        init_cycles.push(cycles as f64);

        let result = empty_config.run(ConsoleSink::Capture)?;
        if result.outcome != Outcome::Status(0) {
            bail!("the empty kernel did not exit cleanly: {:?}", result.outcome);
        }
        empty_ms.push(result.wall.as_secs_f64() * 1000.0);
    }
    let kernel = median(&mut kernel_ms);
    let empty = median(&mut empty_ms);
    println!("boot wasmetal: median {kernel:.1} ms wall to exit");
    println!("boot empty-pvh: median {empty:.1} ms wall to exit");
    println!("boot ratio: {:.2}x the empty kernel", kernel / empty);
    println!(
        "boot init: median {:.0} us ({:.0} cycles) from the PVH entry to init done",
        median(&mut init_us),
        median(&mut init_cycles)
    );
    Ok(0)
}

/// Packs the benchmark modules, boots the kernel in `bench` mode and returns its
/// `bench ...` lines.
pub fn kernel(
    vm: &VmArgs,
    modules: &[std::path::PathBuf],
    programs: &[std::path::PathBuf],
    loop_n: u32,
) -> Result<Vec<String>> {
    use crate::bench_modules;
    let encode = |text: String| wat::parse_str(text).map_err(|e| anyhow::anyhow!("benchmark module: {e}"));
    let mut files = vec![
        ("bench/instantiate/small.wasm".to_string(), encode(bench_modules::small())?),
        ("bench/instantiate/large.wasm".to_string(), encode(bench_modules::large())?),
    ];
    for (name, text) in bench_modules::loops() {
        files.push((format!("bench/loops/{name}.wasm"), encode(text)?));
    }
    let stem = |path: &std::path::Path| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    for path in modules {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        files.push((format!("bench/instantiate/{}.wasm", stem(path)), bytes));
    }
    for path in programs {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        files.push((format!("bench/run/{}.wasm", stem(path)), bytes));
    }
    let mut writer = wasmetal_initrd::Writer::new();
    for (name, data) in &files {
        writer.add_file(name, data).map_err(|e| anyhow::anyhow!("packing {name}: {e:?}"))?;
    }
    let initrd = workspace::scratch_dir().join(format!("wasmetal-bench-{}.cpio", std::process::id()));
    std::fs::write(&initrd, writer.finish()).with_context(|| format!("writing {}", initrd.display()))?;
    let kernel = vm.kernel_path()?;
    let mut config = vm.config(kernel, format!("bench quiet loop_n={loop_n}"), Some(initrd.clone()))?;
    config.timeout = config.timeout.or(Some(std::time::Duration::from_secs(1800)));
    let result = config.run(if vm.verbose { ConsoleSink::Stderr } else { ConsoleSink::Capture });
    let _ = std::fs::remove_file(&initrd);
    let result = result?;
    if result.outcome != Outcome::Status(0) {
        bail!("the kernel benchmark failed ({:?}):\n{}", result.outcome, result.console);
    }
    Ok(result.console.lines().filter(|line| line.starts_with("bench ")).map(String::from).collect())
}

/// A kernel `bench run` line: first and best run time, and how many runs there were.
struct KernelRun {
    first_us: f64,
    best_us: f64,
    runs: usize,
}

/// Parses the kernel's `bench run NAME: first <us> us, best <us> us (<n> runs: ...)`
/// line for `name`.
fn kernel_run(lines: &[String], name: &str) -> Option<KernelRun> {
    let rest = lines.iter().find_map(|line| line.strip_prefix("bench run ")?.strip_prefix(name)?.strip_prefix(": "))?;
    if rest.contains("(failed)") {
        return None;
    }
    let mut words = rest.split_whitespace();
    let first_us = words.nth(1)?.parse().ok()?;
    let best_us = words.nth(2)?.parse().ok()?;
    let runs = words.nth(1)?.trim_start_matches('(').parse().ok()?;
    Some(KernelRun { first_us, best_us, runs })
}

/// Runs each program on the hosted runtime and prints it next to its in-kernel time:
/// `run NAME: kernel <ms> ms, hosted <ms> ms, ratio <r> (best of N; first runs ...)`.
pub fn compare_programs(lines: &[String], programs: &[std::path::PathBuf]) -> Result<()> {
    for path in programs {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let kernel =
            kernel_run(lines, &name).with_context(|| format!("the kernel did not run {name} to completion"))?;
        // As many fresh instances on the host as the kernel ran.
        let hosted = crate::hosted::run_program(path, &name, kernel.runs)?;
        let hosted_first = hosted.first.as_secs_f64() * 1e6;
        let hosted_best = hosted.best.as_secs_f64() * 1e6;
        println!(
            "run {name}: kernel {:.1} ms, hosted {:.1} ms, ratio {:.2} (best of {}; first runs: kernel {:.1} ms, hosted {:.1} ms, ratio {:.2}; hosted exit status {})",
            kernel.best_us / 1000.0,
            hosted_best / 1000.0,
            kernel.best_us / hosted_best,
            kernel.runs,
            kernel.first_us / 1000.0,
            hosted_first / 1000.0,
            kernel.first_us / hosted_first,
            hosted.exit_status
        );
    }
    Ok(())
}
