//! `run` mode: the VM's job is to run the WASI programs described by the initrd's
//! manifest, each as a task, and to exit with the first non-zero exit status.
//!
//! Exit statuses: the program's own (`proc_exit` or 0), 134 when it traps (the trap
//! and its wasm backtrace go to its stderr), 1 when it cannot be loaded (malformed,
//! invalid, or an import is missing). `timeout_ms` becomes an epoch budget: a task
//! past it traps with `Interrupt` while the others keep running.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, Ordering};

use wasmetal_initrd::manifest::{self, Record};
use wasmetal_runtime::{Engine, EpochClock, Error, Linker, Store, UpdateDeadline};
use wasmetal_wasi::{System, WasiCtx};

use super::system::KernelSystem;
use crate::exit::{LOAD_FAILURE_STATUS, TRAP_STATUS};
use crate::{log, stat};

/// One program to run.
#[derive(Default)]
struct TaskSpec {
    name: String,
    program: String,
    args: Vec<String>,
    env: Vec<String>,
    dirs: Vec<(u32, String)>,
    preloads: Vec<(String, String)>,
    fuel: Option<u64>,
    stdin: Option<String>,
}

/// Epoch ticks a task runs between deadlines when no other task is left.
const SOLO_SLICE_TICKS: u64 = 10;

/// The engine's epoch clock, ticked by the timer while programs run.
static EPOCH: AtomicPtr<EpochClock> = AtomicPtr::new(core::ptr::null_mut());

fn tick() {
    let clock = EPOCH.load(Ordering::Acquire);
    if !clock.is_null() {
        // SAFETY: set from a live engine that outlives the run, cleared before it drops.
        unsafe { (*clock).tick() };
    }
}

/// Makes the timer bump `engine`'s epoch on every tick (the engine must outlive the
/// matching [`detach_epoch`]).
pub fn attach_epoch(engine: &Engine) {
    EPOCH.store(engine.epoch_clock() as *const EpochClock as *mut EpochClock, Ordering::Release);
    crate::timer::set_tick_hook(tick);
}

/// Stops bumping the epoch.
pub fn detach_epoch() {
    EPOCH.store(core::ptr::null_mut(), Ordering::Release);
}

fn file<'a>(initrd: &'a [u8], name: &str) -> Option<&'a [u8]> {
    wasmetal_initrd::entries(initrd).filter_map(Result::ok).find(|entry| entry.name == name).map(|entry| entry.data)
}

fn parse(manifest_bytes: &[u8]) -> Result<(Vec<TaskSpec>, Option<u64>), String> {
    let mut tasks: Vec<TaskSpec> = Vec::new();
    let mut timeout_ms = None;
    for record in manifest::records(manifest_bytes) {
        let record = record.map_err(|e| e.to_string())?;
        if let Record::Task(name) = record {
            tasks.push(TaskSpec { name: name.into(), ..Default::default() });
            continue;
        }
        if let Record::TimeoutMs(ms) = record {
            timeout_ms = Some(ms);
            continue;
        }
        if tasks.is_empty() {
            tasks.push(TaskSpec::default());
        }
        let task = tasks.last_mut().expect("just ensured");
        match record {
            Record::Program(path) => task.program = path.into(),
            Record::Arg(arg) => task.args.push(arg.into()),
            Record::Env(var) => task.env.push(var.into()),
            Record::Dir { index, guest } => task.dirs.push((index, guest.into())),
            Record::Preload { name, path } => task.preloads.push((name.into(), path.into())),
            Record::Fuel(fuel) => task.fuel = Some(fuel),
            Record::Stdin(path) => task.stdin = Some(path.into()),
            Record::Task(_) | Record::TimeoutMs(_) => {}
        }
    }
    for task in &mut tasks {
        if task.name.is_empty() {
            task.name = task.args.first().cloned().unwrap_or_else(|| task.program.clone());
        }
    }
    Ok((tasks, timeout_ms))
}

/// Runs the manifest's programs; returns the exit status.
pub fn run(initrd: &'static [u8], epoch_ns: Option<u64>, seed: Option<[u8; 32]>) -> u32 {
    super::system::init(epoch_ns, seed);
    let Some(manifest_bytes) = file(initrd, manifest::MANIFEST_PATH) else {
        log!("run: the initrd has no {}", manifest::MANIFEST_PATH);
        return LOAD_FAILURE_STATUS;
    };
    let (tasks, timeout_ms) = match parse(manifest_bytes) {
        Ok(parsed) => parsed,
        Err(error) => {
            log!("run: {error}");
            return LOAD_FAILURE_STATUS;
        }
    };
    let mut config = super::engine::config(*super::engine::CPU.get().expect("recorded at boot"));
    config.epoch_interruption(true).consume_fuel(tasks.iter().any(|t| t.fuel.is_some()));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(error) => {
            log!("run: engine: {error}");
            report(&mut KernelSystem::new(None), &format!("wasmetal: cannot run wasm on this CPU: {error}\n"));
            return LOAD_FAILURE_STATUS;
        }
    };
    if !engine.can_compile() {
        stat!("run: runtime-only kernel (built without the compiler): precompiled modules only");
    }
    attach_epoch(&engine);
    let hz = crate::timer::timer_hz().max(1);
    let timeout_ticks = timeout_ms.map(|ms| (ms * hz).div_ceil(1000).max(1));
    let several = tasks.len() > 1;
    // In-memory files live in the kernel heap, which the compiler and every other task
    // need too: each task's files may take a share of a quarter of it.
    let fs_budget = crate::memory::heap::HEAP.stats().free as u64 / (4 * tasks.len().max(1) as u64);
    for task in tasks {
        let engine = engine.clone();
        let name = task.name.clone();
        let prefix = several.then(|| format!("[{name}] "));
        let spawned = crate::sched::spawn(
            name.clone(),
            Box::new(move || run_task(&engine, initrd, task, prefix, timeout_ticks, fs_budget)),
        );
        if let Err(error) = spawned {
            log!("run: cannot start {name}: {error}");
            return LOAD_FAILURE_STATUS;
        }
    }
    wasmetal_arch::cpu::enable_interrupts();
    let finished = crate::sched::run();
    crate::net::deliver_before_exit();
    crate::net::log_stats();
    crate::virtio::stdio::log_stats();
    wasmetal_arch::cpu::disable_interrupts();
    detach_epoch();
    for (name, status) in &finished {
        stat!("run: {name} exited with status {status}");
    }
    let latencies = crate::sched::switch_latencies();
    if !latencies.is_empty() {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let max = sorted[sorted.len() - 1];
        stat!(
            "run: {} preemptions, tick-to-switch median {} cycles ({} us), max {} cycles ({} us)",
            sorted.len(),
            median,
            crate::timer::cycles_to_ns(median) / 1000,
            max,
            crate::timer::cycles_to_ns(max) / 1000
        );
    }
    finished.iter().map(|(_, status)| *status).find(|&status| status != 0).unwrap_or(0)
}

/// One preopened file: its path relative to the directory, and its bytes.
type DirFile = (Vec<u8>, Vec<u8>);

/// Copies preopened directory `index`'s files out of the initrd, failing (with the bytes
/// it needed) instead of panicking when the heap cannot hold them.
fn copy_dir(initrd: &[u8], index: u32) -> Result<Vec<DirFile>, u64> {
    let prefix = format!("fs/{index}/");
    let entries = || {
        wasmetal_initrd::entries(initrd)
            .filter_map(Result::ok)
            .filter_map(|entry| entry.name.strip_prefix(prefix.as_str()).map(|rel| (rel, entry.data)))
    };
    let needed: u64 = entries().map(|(rel, data)| (rel.len() + data.len()) as u64).sum();
    let mut files = Vec::new();
    files.try_reserve_exact(entries().count()).map_err(|_| needed)?;
    for (rel, data) in entries() {
        let mut name = Vec::new();
        name.try_reserve_exact(rel.len()).map_err(|_| needed)?;
        name.extend_from_slice(rel.as_bytes());
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(data.len()).map_err(|_| needed)?;
        bytes.extend_from_slice(data);
        files.push((name, bytes));
    }
    Ok(files)
}

/// Reports an error on the program's stderr channel.
fn report(system: &mut KernelSystem, text: &str) {
    let _ = system.write_stderr(text.as_bytes());
}

fn run_task(
    engine: &Engine,
    initrd: &'static [u8],
    task: TaskSpec,
    prefix: Option<String>,
    timeout_ticks: Option<u64>,
    fs_budget: u64,
) -> u32 {
    let mut errors = KernelSystem::new(prefix.clone());
    let name = task.name.clone();
    let Some(program) = file(initrd, &task.program) else {
        report(&mut errors, &format!("wasmetal: {} is missing from the initrd\n", task.program));
        return LOAD_FAILURE_STATUS;
    };
    // `--timeout` is wall-clock time from the task's start, as `wasmtime run` counts it:
    // it also ends host calls that wait (reads, slow writes, sleeps).
    let start_tick = crate::timer::ticks();
    let deadline_tick = timeout_ticks.map(|budget| start_tick + budget);
    let mut builder = WasiCtx::builder(Box::new(KernelSystem::new(prefix).with_deadline(deadline_tick)));
    builder = builder.args(task.args.iter().map(|a| a.as_bytes().to_vec()));
    builder = builder.envs(task.env.iter().map(|e| e.as_bytes().to_vec()));
    if let Some(stdin) = task.stdin.as_deref().and_then(|path| file(initrd, path))
        && !crate::virtio::stdio::present()
    {
        builder = builder.stdin(stdin.to_vec());
    }
    let mut preopened_bytes = 0;
    for (index, guest) in &task.dirs {
        // The host directory itself over 9P when the launcher attached it; else the
        // in-memory copy packed in the initrd.
        if let Some(shared) = crate::virtio::p9::session(*index as usize) {
            let read_only = shared.read_only;
            match crate::fs::host_dir::HostDir::attach(shared, 0x9000 + u64::from(*index)) {
                Ok(dir) => {
                    let root = dir.root();
                    builder = builder.preopen_backend(guest.as_bytes(), Box::new(dir), root, read_only);
                    continue;
                }
                Err(error) => {
                    report(&mut errors, &format!("wasmetal: {name}: --dir {guest}: {error}\n"));
                    return LOAD_FAILURE_STATUS;
                }
            }
        }
        let files = match copy_dir(initrd, *index) {
            Ok(files) => files,
            Err(needed) => {
                let mib = needed.div_ceil(1 << 20);
                let free = crate::memory::heap::HEAP.stats().free >> 20;
                log!("run: {name}: --dir {guest} needs {mib} MiB, the heap has {free} MiB free");
                report(
                    &mut errors,
                    &format!(
                        "wasmetal: {name}: the files of --dir {guest} ({mib} MiB) do not fit in the kernel heap \
                         ({free} MiB free); run with a larger --memory\n"
                    ),
                );
                return LOAD_FAILURE_STATUS;
            }
        };
        preopened_bytes += files.iter().map(|(_, data)| data.len() as u64).sum::<u64>();
        builder = builder.preopen_dir(guest.as_bytes(), files);
    }
    // `--tcplisten` sockets come after the directories, as Wasmtime numbers them.
    if let Some(listeners) = crate::net::listeners() {
        builder = builder.sockets(Box::new(crate::net::sockets::KernelSockets::new(deadline_tick)));
        for listener in listeners {
            builder = builder.preopen_socket(wasmetal_wasi::SocketHandle(listener.0));
        }
    }
    // The files given to the program always fit; what it writes comes out of the budget.
    builder = builder.max_total_file_bytes(preopened_bytes + fs_budget);
    let ctx = match builder.build() {
        Ok(ctx) => ctx,
        Err(error) => {
            report(&mut errors, &format!("wasmetal: {name}: {error:?}\n"));
            return LOAD_FAILURE_STATUS;
        }
    };
    // Every module is made before the linker: host functions then find the wasm-to-host
    // trampolines precompiled modules carry (a kernel without the compiler has no other).
    let load_started_ns = crate::timer::monotonic_ns();
    let module = match super::load::load(engine, program) {
        Ok(module) => module,
        Err(error) => {
            report(&mut errors, &format!("Error: failed to {} `{name}`: {error}\n", error.verb()));
            return LOAD_FAILURE_STATUS;
        }
    };
    let how = match (super::load::is_artifact(program), module.code_in_place()) {
        (true, true) => "loaded (code in place)",
        (true, false) => "loaded (code copied)",
        (false, _) => "compiled",
    };
    stat!("run: {name} {how} in {} ns", crate::timer::monotonic_ns() - load_started_ns);
    let mut libraries = Vec::new();
    for (library, path) in &task.preloads {
        let Some(bytes) = file(initrd, path) else {
            report(&mut errors, &format!("wasmetal: preload {path} is missing\n"));
            return LOAD_FAILURE_STATUS;
        };
        match super::load::load(engine, bytes) {
            Ok(module) => libraries.push((library, module)),
            Err(error) => {
                report(&mut errors, &format!("Error: failed to preload `{library}`: {error}\n"));
                return LOAD_FAILURE_STATUS;
            }
        }
    }
    let mut linker: Linker<WasiCtx> = Linker::new(engine);
    if let Err(error) = wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx) {
        report(&mut errors, &format!("wasmetal: {error}\n"));
        return LOAD_FAILURE_STATUS;
    }
    let mut store = Store::new(engine, ctx);
    if let Some(fuel) = task.fuel
        && let Err(error) = store.set_fuel(fuel)
    {
        report(&mut errors, &format!("wasmetal: {error}\n"));
        return LOAD_FAILURE_STATUS;
    }
    // A slice is one tick while other tasks share the CPU, and SOLO_SLICE_TICKS for a
    // task left alone (each slice's end costs a trip through the deadline's slow path);
    // past the timeout budget the task traps with Interrupt.
    let mut used_ticks = 0u64;
    let mut slice = 1u64;
    let task_name = name.clone();
    store.set_epoch_deadline(slice);
    store.epoch_deadline_callback(move |_| {
        used_ticks += slice;
        let now = crate::timer::ticks();
        match deadline_tick {
            Some(deadline) if now >= deadline => {
                log!(
                    "run: {task_name} ({used_ticks} ticks running) interrupted after {} ticks (budget {})",
                    now - start_tick,
                    deadline - start_tick
                );
                Err(Error::msg("timeout"))
            }
            _ => {
                crate::virtio::stdio::kick_outputs();
                slice = if crate::sched::alone() { SOLO_SLICE_TICKS } else { 1 };
                if let Some(deadline) = deadline_tick {
                    slice = slice.min(deadline - now);
                }
                Ok(UpdateDeadline::Yield(slice))
            }
        }
    });
    for (library, module) in &libraries {
        let loaded = linker
            .instantiate(&mut store, module)
            .and_then(|instance| linker.instance(&mut store, library, instance).map(|_| ()));
        if let Err(error) = loaded {
            report(&mut errors, &format!("Error: failed to preload `{library}`: {error}\n"));
            return LOAD_FAILURE_STATUS;
        }
    }
    let instance = match linker.instantiate(&mut store, &module) {
        Ok(instance) => instance,
        Err(error) => return failure(&mut errors, &name, &error),
    };
    let start = match instance.get_typed_func::<(), ()>(&mut store, "_start") {
        Ok(start) => start,
        Err(error) => {
            report(&mut errors, &format!("Error: `{name}` has no `_start` command entry: {error}\n"));
            return LOAD_FAILURE_STATUS;
        }
    };
    let started_ns = crate::timer::monotonic_ns();
    // For `bench compile`: boot to the program's first instruction.
    stat!("run: {name} _start at {} ns", started_ns);
    let pager_before = super::pager_stats::PAGER_STATS.snapshot();
    let result = start.call(&mut store, ());
    // The program's unfinished output lines go out before any report of ours.
    drop(store);
    // For `bench io` and anyone timing a program without its boot and compile.
    stat!("run: {name} _start ran {} ns", crate::timer::monotonic_ns() - started_ns);
    stat!("run: {name} pager: {}", super::pager_stats::PAGER_STATS.snapshot().since(&pager_before));
    match result {
        Ok(()) => 0,
        Err(error) => failure(&mut errors, &name, &error),
    }
}

/// The status and report for an error out of a program.
fn failure(errors: &mut KernelSystem, name: &str, error: &Error) -> u32 {
    if let Some(status) = error.exit_status() {
        return status as u32;
    }
    if error.as_trap().is_some() {
        report(errors, &format!("Error: failed to run main module `{name}`\n\nCaused by:\n    {error}\n"));
        return TRAP_STATUS;
    }
    report(errors, &format!("Error: failed to run main module `{name}`\n\nCaused by:\n    {error}\n"));
    LOAD_FAILURE_STATUS
}
