//! `soak` mode: many instantiations and many concurrent tasks in one boot, with the
//! kernel's own counters as the leak check.
//!
//! Phase 1 instantiates a small module (from the initrd) 1 000 times in a row (each instance touches its
//! memory, a table and a global, then is dropped) and reports the mean TSC cycles of the
//! first and last 100. Phase 2 runs 100 tasks at once, each instantiating the module
//! and looping long enough to be preempted many times (epoch slices of one tick), and
//! checks each result; it runs five times, the first round mapping most of the page
//! tables that 100 live stacks and memories need. Around each phase: live heap bytes and free frames, which must
//! come back to where they were (the QEMU test `tests/tests/soak.rs` asserts on the
//! lines). Owns no policy beyond that; instantiation is the runtime's.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use wasmetal_runtime::{Engine, Instance, Module, Store, UpdateDeadline};

use crate::log;

const SEQUENTIAL: usize = 1000;
const CONCURRENT: usize = 100;
const CONCURRENT_ROUNDS: u32 = 5;
/// Iterations of each concurrent task's loop (a few timer ticks of work each).
const TASK_LOOP: i32 = 3_000_000;

/// Where the launcher puts the module (the test assembles it from WAT: memory, a
/// table and a global; `touch(v)` writes through all three and returns `v` + the
/// global's new value; `spin(n)` runs the recurrence of [`spin_expected`]).
const MODULE_PATH: &str = "soak/module.wasm";

/// The result `spin(n)` must give (the same recurrence in Rust).
fn spin_expected(mut n: i32) -> i32 {
    let mut acc: i32 = 0;
    loop {
        acc = acc.wrapping_mul(31).wrapping_add(n);
        n = n.wrapping_sub(1);
        if n == 0 {
            return acc;
        }
    }
}

/// Live heap bytes and free frames.
fn usage() -> (usize, u64) {
    let heap = crate::memory::heap::HEAP.stats().live;
    let frames = crate::memory::frames::with(|frames| frames.stats().free_frames);
    (heap, frames)
}

fn instantiate_once(engine: &Engine, module: &Module, value: i32) -> Result<i32, wasmetal_runtime::Error> {
    let mut store = Store::new(engine, ());
    store.set_epoch_deadline(1 << 40);
    let instance = Instance::new(&mut store, module, &[])?;
    let touch = instance.get_typed_func::<i32, i32>(&mut store, "touch")?;
    touch.call(&mut store, value)
}

pub fn run(initrd: &[u8]) -> u32 {
    let Some(bytes) = wasmetal_initrd::entries(initrd).filter_map(Result::ok).find(|e| e.name == MODULE_PATH) else {
        log!("soak: the initrd has no {MODULE_PATH}");
        return 1;
    };
    let Some(stack) = crate::wasm::stack::WasmStack::new() else {
        log!("soak: no wasm stack");
        return 1;
    };
    let mut config = crate::wasm::engine::config(*crate::wasm::engine::CPU.get().expect("recorded at boot"));
    config.epoch_interruption(true);
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(error) => {
            log!("soak: engine: {error}");
            return 1;
        }
    };
    let module = match Module::new(&engine, bytes.data) {
        Ok(module) => module,
        Err(error) => {
            log!("soak: module: {error}");
            return 1;
        }
    };
    let sequential_ok = crate::wasm::stack::run_on(&stack, || sequential(&engine, &module));
    drop(stack);
    // The first round maps page tables for 100 stacks and memories at addresses not
    // used before; those stay mapped (unmapping frees frames, not page tables) and are
    // reused, so later rounds add fewer and fewer: a high-water mark, not a leak.
    let concurrent_ok = (1..=CONCURRENT_ROUNDS).all(|round| concurrent(&engine, &module, round));
    if sequential_ok && concurrent_ok {
        log!("soak: ok");
        0
    } else {
        1
    }
}

fn sequential(engine: &Engine, module: &Module) -> bool {
    // One instantiation first: lazily made engine state (trampolines, type entries)
    // belongs to the engine, not to an instance.
    if let Err(error) = instantiate_once(engine, module, 0) {
        log!("soak: warm-up instantiation: {error}");
        return false;
    }
    let before = usage();
    let mut cycles = Vec::with_capacity(SEQUENTIAL);
    for round in 0..SEQUENTIAL {
        let start = wasmetal_arch::cpu::rdtsc();
        let result = instantiate_once(engine, module, round as i32);
        cycles.push(wasmetal_arch::cpu::rdtsc() - start);
        match result {
            Ok(value) if value == round as i32 + 1 => {}
            Ok(value) => {
                log!("soak: instantiation {round} computed {value}, expected {}", round + 1);
                return false;
            }
            Err(error) => {
                log!("soak: instantiation {round}: {error}");
                return false;
            }
        }
    }
    let mean = |slice: &[u64]| slice.iter().sum::<u64>() / slice.len() as u64;
    let (first, last) = (mean(&cycles[..100]), mean(&cycles[SEQUENTIAL - 100..]));
    drop(cycles);
    let after = usage();
    log!(
        "soak: {SEQUENTIAL} sequential instantiations: first 100 mean {first} cycles ({} ns), last 100 mean {last} \
         cycles ({} ns), ratio {}.{:02}",
        crate::timer::cycles_to_ns(first),
        crate::timer::cycles_to_ns(last),
        last / first.max(1),
        (last * 100 / first.max(1)) % 100
    );
    log!("soak: sequential: heap live {} -> {} bytes, free frames {} -> {}", before.0, after.0, before.1, after.1);
    true
}

fn concurrent(engine: &Engine, module: &Module, round: u32) -> bool {
    crate::wasm::run::attach_epoch(engine);
    let before = usage();
    for index in 0..CONCURRENT {
        let (engine, module) = (engine.clone(), module.clone());
        let spawned = crate::sched::spawn(
            format!("soak-{index}"),
            Box::new(move || {
                let mut store = Store::new(&engine, ());
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
                let n = TASK_LOOP + index as i32;
                let result = Instance::new(&mut store, &module, &[])
                    .and_then(|instance| instance.get_typed_func::<i32, i32>(&mut store, "spin"))
                    .and_then(|spin| spin.call(&mut store, n));
                match result {
                    Ok(value) if value == spin_expected(n) => 0,
                    Ok(value) => {
                        log!("soak: task {index} computed {value}, expected {}", spin_expected(n));
                        2
                    }
                    Err(error) => {
                        log!("soak: task {index}: {error}");
                        3
                    }
                }
            }),
        );
        if let Err(error) = spawned {
            log!("soak: cannot start task {index}: {error}");
            return false;
        }
    }
    wasmetal_arch::cpu::enable_interrupts();
    let finished = crate::sched::run();
    wasmetal_arch::cpu::disable_interrupts();
    crate::wasm::run::detach_epoch();
    let preemptions = crate::sched::switch_latencies().len();
    let passed = finished.iter().filter(|(_, status)| *status == 0).count();
    drop(finished);
    let after = usage();
    log!("soak: round {round}: {CONCURRENT} concurrent tasks: {passed} passed, {preemptions} preemptions");
    log!(
        "soak: concurrent round {round}: heap live {} -> {} bytes, free frames {} -> {}",
        before.0,
        after.0,
        before.1,
        after.1
    );
    passed == CONCURRENT
}
