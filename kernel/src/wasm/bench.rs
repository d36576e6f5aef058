//! `bench` mode: figures measured with the TSC inside the kernel, printed as `bench ...`
//! lines for the launcher and the comparison benchmarks to collect.
//!
//! - `bench/instantiate/NAME.wasm`: instantiation time, default and pooling allocator
//!   (imports from WASI and `bench.start`/`bench.end` are satisfied);
//! - `bench/loops/NAME.wasm` exporting `run(i32) -> i64`: run time plain, with epoch
//!   checks and with fuel, as ratios to plain; then two such tasks preempting each other,
//!   with the tick-to-switch latency;
//! - `bench/run/NAME.wasm`: a WASI command's run time (compile excluded).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wasmetal_runtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingConfig, Store, UpdateDeadline,
};
use wasmetal_wasi::WasiCtx;

use super::system::KernelSystem;
use crate::log;

const INSTANTIATIONS: usize = 20;

fn cycles() -> u64 {
    wasmetal_arch::cpu::rdtsc()
}

fn us(cycles: u64) -> String {
    let ns = crate::timer::cycles_to_ns(cycles);
    format!("{}.{:01}", ns / 1000, (ns % 1000) / 100)
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn files<'a>(initrd: &'a [u8], prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
    wasmetal_initrd::entries(initrd).filter_map(Result::ok).filter_map(move |entry| {
        let name = entry.name.strip_prefix(prefix)?.strip_suffix(".wasm")?;
        Some((name, entry.data))
    })
}

fn engine(adjust: impl FnOnce(&mut Config)) -> Option<Engine> {
    let mut config = super::engine::config(*super::engine::CPU.get()?);
    adjust(&mut config);
    Engine::new(&config).map_err(|e| log!("bench: engine: {e}")).ok()
}

fn wasi_ctx() -> WasiCtx {
    WasiCtx::builder(Box::new(KernelSystem::new(None))).build().expect("an empty WASI context builds")
}

fn linker(engine: &Engine) -> Option<Linker<WasiCtx>> {
    let mut linker = Linker::new(engine);
    wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx).ok()?;
    linker.func_wrap("bench", "start", || {}).ok()?;
    linker.func_wrap("bench", "end", || {}).ok()?;
    Some(linker)
}

fn instantiation(initrd: &[u8]) {
    for (strategy, pooling) in [("default", false), ("pooling", true)] {
        let Some(engine) = engine(|config| {
            if pooling {
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(PoolingConfig::default()));
            }
        }) else {
            return;
        };
        let Some(linker) = linker(&engine) else { return };
        for (name, bytes) in files(initrd, "bench/instantiate/") {
            let start = cycles();
            crate::memory::heap::HEAP.reset_peak();
            let live_before = crate::memory::heap::HEAP.stats().live;
            let module = match Module::new(&engine, bytes) {
                Ok(module) => module,
                Err(error) => {
                    log!("bench: {name}: {error}");
                    continue;
                }
            };
            if !pooling {
                let elapsed = cycles() - start;
                let peak = crate::memory::heap::HEAP.stats().peak - live_before;
                log!(
                    "bench compile {name}: {} us, heap peak {} KiB for {} KiB of wasm",
                    us(elapsed),
                    peak >> 10,
                    bytes.len() >> 10
                );
            }
            let mut samples = Vec::new();
            let crossings_before = wasmetal_arch::privilege::crossing_counts();
            for _ in 0..INSTANTIATIONS {
                let mut store = Store::new(&engine, wasi_ctx());
                let start = cycles();
                let result = linker.instantiate(&mut store, &module);
                let elapsed = cycles() - start;
                if let Err(error) = result {
                    log!("bench: instantiating {name}: {error}");
                    break;
                }
                samples.push(elapsed);
                drop(store);
            }
            let crossings = wasmetal_arch::privilege::crossing_counts();
            if !samples.is_empty() {
                let runs = samples.len() as u64;
                let median = median(samples);
                log!(
                    "bench instantiate {name} {strategy}: {} us ({median} cycles; per instantiation {} faults handled, {} monitor calls)",
                    us(median),
                    (crossings.upcalls - crossings_before.upcalls) / runs,
                    (crossings.monitor_calls - crossings_before.monitor_calls) / runs
                );
            }
        }
    }
}

/// Runs `run(n)` of a loop module on an engine configured by `adjust`; returns the
/// best of three in cycles.
fn time_loop(bytes: &[u8], n: i32, adjust: impl FnOnce(&mut Config)) -> Option<(u64, i64)> {
    let engine = engine(adjust)?;
    let module = Module::new(&engine, bytes).ok()?;
    let mut store = Store::new(&engine, ());
    let _ = store.set_fuel(u64::MAX / 4);
    store.set_epoch_deadline(u64::MAX / 4);
    let instance = wasmetal_runtime::Instance::new(&mut store, &module, &[]).ok()?;
    let run = instance.get_typed_func::<i32, i64>(&mut store, "run").ok()?;
    let mut best = u64::MAX;
    let mut result = 0;
    for _ in 0..5 {
        let start = cycles();
        result = run.call(&mut store, n).ok()?;
        best = best.min(cycles() - start);
    }
    Some((best, result))
}

fn loops(initrd: &[u8], n: i32) {
    // Sums of (ratio - 1) and case counts per mode, for the closing summary.
    let mut overheads = [(0.0f64, 0u32); 2];
    for (name, bytes) in files(initrd, "bench/loops/") {
        let Some((plain, expected)) = time_loop(bytes, n, |_| {}) else {
            log!("bench: loop {name} failed");
            continue;
        };
        log!("bench loop {name} plain: {} us", us(plain));
        for (index, (mode, epoch, fuel)) in [("epoch", true, false), ("fuel", false, true)].into_iter().enumerate() {
            match time_loop(bytes, n, |config| {
                config.epoch_interruption(epoch).consume_fuel(fuel);
            }) {
                Some((time, result)) if result == expected => {
                    let ratio = time as f64 / plain as f64;
                    log!("bench loop {name} {mode}: {} us, {:.3}x plain", us(time), ratio);
                    overheads[index].0 += ratio - 1.0;
                    overheads[index].1 += 1;
                }
                _ => log!("bench: loop {name} {mode} failed or gave another result"),
            }
        }
    }
    for (mode, (sum, count)) in ["epoch", "fuel"].iter().zip(overheads) {
        log!("bench loop mean {mode} overhead: {:+.1}%", sum / f64::from(count.max(1)) * 100.0);
    }
}

fn preemption(initrd: &[u8], n: i32) {
    let Some((_, bytes)) = files(initrd, "bench/loops/").next() else { return };
    let Some(engine) = engine(|config| {
        config.epoch_interruption(true);
    }) else {
        return;
    };
    let Ok(module) = Module::new(&engine, bytes) else { return };
    super::run::attach_epoch(&engine);
    for index in 0..2 {
        let (engine, module) = (engine.clone(), module.clone());
        let task = Box::new(move || {
            let mut store = Store::new(&engine, ());
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
            let Ok(instance) = wasmetal_runtime::Instance::new(&mut store, &module, &[]) else { return 1 };
            let Ok(run) = instance.get_typed_func::<i32, i64>(&mut store, "run") else { return 1 };
            u32::from(run.call(&mut store, n.saturating_mul(4)).is_err())
        });
        if crate::sched::spawn(format!("spinner{index}"), task).is_err() {
            return;
        }
    }
    wasmetal_arch::cpu::enable_interrupts();
    let finished = crate::sched::run();
    wasmetal_arch::cpu::disable_interrupts();
    super::run::detach_epoch();
    let latencies = crate::sched::switch_latencies();
    if latencies.is_empty() || finished.iter().any(|(_, status)| *status != 0) {
        log!("bench: preemption run failed");
        return;
    }
    let count = latencies.len();
    let max = *latencies.iter().max().expect("non-empty");
    let median = median(latencies);
    let period_us = 1_000_000 / crate::timer::timer_hz().max(1);
    log!(
        "bench preemption: {count} switches, tick-to-switch median {median} cycles ({} us), max {max} cycles ({} us), tick period {period_us} us",
        us(median),
        us(max)
    );
}

/// Times of `_start` of a WASI command over [`PROGRAM_RUNS`] fresh instances: the first
/// run also pays for memory the VM never touched before (host-side page allocation),
/// later ones reuse frames.
const PROGRAM_RUNS: usize = 3;

fn programs(initrd: &[u8]) {
    let Some(engine) = engine(|_| {}) else { return };
    let Some(linker) = linker(&engine) else { return };
    for (name, bytes) in files(initrd, "bench/run/") {
        let Ok(module) = Module::new(&engine, bytes) else {
            log!("bench: {name} does not compile");
            continue;
        };
        let crossings_before = wasmetal_arch::privilege::crossing_counts();
        let mut times = Vec::new();
        let mut ok = true;
        for _ in 0..PROGRAM_RUNS {
            let ctx = WasiCtx::builder(Box::new(KernelSystem::new(None)))
                .arg(name.as_bytes().to_vec())
                .build()
                .expect("builds");
            let mut store = Store::new(&engine, ctx);
            let Ok(instance) = linker.instantiate(&mut store, &module) else { break };
            let Ok(start) = instance.get_typed_func::<(), ()>(&mut store, "_start") else { break };
            let begin = cycles();
            let result = start.call(&mut store, ());
            times.push(cycles() - begin);
            ok &= result.is_ok() || result.as_ref().err().and_then(|e| e.exit_status()) == Some(0);
        }
        let crossings = wasmetal_arch::privilege::crossing_counts();
        let (Some(&first), Some(&best)) = (times.first(), times.iter().min()) else { continue };
        log!(
            "bench run {name}: first {} us, best {} us{} ({} runs: {} faults handled, {} monitor calls)",
            us(first),
            us(best),
            if ok { "" } else { " (failed)" },
            times.len(),
            crossings.upcalls - crossings_before.upcalls,
            crossings.monitor_calls - crossings_before.monitor_calls
        );
    }
}

/// First and second touch of fresh committed memory, one write per 4 KiB page, through
/// the kernel platform (demand faults, huge blocks where they fit): what memory costs a
/// workload before its code runs.
fn memory_touch() {
    use wasmetal_runtime::platform::{Platform, Protection};
    const BYTES: usize = 64 << 20;
    let platform = &super::platform::KERNEL_PLATFORM;
    for round in 0..2 {
        let Ok(base) = platform.reserve(BYTES) else { return };
        // SAFETY: a fresh reservation of ours.
        if unsafe { platform.commit(base, BYTES, Protection::ReadWrite) }.is_err() {
            return;
        }
        let mut passes = [0u64; 2];
        for pass in &mut passes {
            let begin = cycles();
            for offset in (0..BYTES).step_by(4096) {
                // SAFETY: inside the committed range.
                unsafe { core::ptr::write_volatile(base.as_ptr().add(offset), 1) };
            }
            *pass = cycles() - begin;
        }
        log!("bench memory touch 64 MiB round {round}: first {} us, second {} us", us(passes[0]), us(passes[1]));
        // SAFETY: ours, no longer used.
        unsafe { platform.release(base, BYTES) };
    }
}

/// Memory grown 64 KiB at a time and touched (one write per 4 KiB page) before the next
/// growth, as a malloc's `sbrk` grows a heap: TSC cycles per step spent committing, in
/// the faulting first write (fault entry, the pager, the return) and in the other
/// writes, with what the pager itself accounts for.
fn memory_steps() {
    use wasmetal_runtime::platform::{Platform, Protection};
    const BYTES: usize = 32 << 20;
    const STEP: usize = 64 << 10;
    let platform = &super::platform::KERNEL_PLATFORM;
    let Ok(base) = platform.reserve(BYTES) else { return };
    let pager_before = super::pager_stats::PAGER_STATS.snapshot();
    let crossings_before = wasmetal_arch::privilege::crossing_counts();
    let (mut commit, mut first, mut rest) = (0u64, 0u64, 0u64);
    for step in (0..BYTES).step_by(STEP) {
        let began = cycles();
        // SAFETY: inside our fresh reservation, growing it in order.
        let Ok(()) = (unsafe { platform.commit(base.byte_add(step), STEP, Protection::ReadWrite) }) else { return };
        let committed = cycles();
        // SAFETY: just committed.
        unsafe { core::ptr::write_volatile(base.as_ptr().add(step), 1) };
        let touched = cycles();
        for offset in (step + 4096..step + STEP).step_by(4096) {
            // SAFETY: just committed.
            unsafe { core::ptr::write_volatile(base.as_ptr().add(offset), 1) };
        }
        commit += committed - began;
        first += touched - committed;
        rest += cycles() - touched;
    }
    let steps = (BYTES / STEP) as u64;
    let pager = super::pager_stats::PAGER_STATS.snapshot().since(&pager_before);
    let crossings = wasmetal_arch::privilege::crossing_counts();
    let ns = |total: u64| crate::timer::cycles_to_ns(total / steps);
    log!(
        "bench memory steps of 64 KiB ({steps} steps): per step commit {} ns, faulting write {} ns          (pager {} ns of it, zeroing {} ns), 15 more writes {} ns; {} upcalls, {} monitor calls",
        ns(commit),
        ns(first),
        ns(pager.fault_cycles),
        ns(pager.zero_cycles),
        ns(rest),
        crossings.upcalls - crossings_before.upcalls,
        crossings.monitor_calls - crossings_before.monitor_calls
    );
    // SAFETY: ours, no longer used.
    unsafe { platform.release(base, BYTES) };
}

/// Runs every benchmark the initrd holds; `n` is the loop count for loop modules.
pub fn run(initrd: &'static [u8], n: i32) -> u32 {
    let Some(stack) = super::stack::WasmStack::new() else { return 1 };
    super::stack::run_on(&stack, || {
        instantiation(initrd);
        loops(initrd, n);
        // Programs first: their first run meets RAM the VM never touched.
        programs(initrd);
        memory_touch();
        memory_steps();
    });
    preemption(initrd, n);
    0
}
