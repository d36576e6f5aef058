//! The task scheduler: wasm workloads as tasks on their own guarded stacks, run round
//! robin on the one CPU.
//!
//! Tasks are cooperative at the machine level but preempted at wasm safe points: the
//! timer bumps the engine's epoch, and a task whose slice is over yields from its epoch
//! callback ([`yield_now`]). Sleeping tasks (`poll_oneoff`, `sched_yield`) leave the run
//! queue until their time; tasks waiting on a device ([`device_wait`]) until it
//! interrupts or their time is up. The scheduler runs in the kernel's own context and switches
//! into a task with `arch::stack::switch_context`; a task switches back to it, and the
//! running context's wasm activation ([`activation`]) is swapped with it, and its vector
//! registers are loaded before and saved after each run ([`vector_area`]): wasm code
//! preempted at an epoch poll, waiting in a host call or switched out any other way gets
//! back its full XSAVE state (x87, SSE, AVX), whatever other tasks ran meanwhile. Nothing
//! here depends on the wasm platform; the platform calls in (`yield_now`, the slot).

pub mod activation;
pub mod device_wait;
pub mod task;
pub mod vector_area;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

use task::{State, Task};

/// Scheduler state. Only one context runs at a time and interrupt handlers never touch
/// it, so it lives in a cell reached through [`with`] without a lock.
struct Scheduler {
    tasks: Vec<Task>,
    current: Option<usize>,
    /// The scheduler context's saved stack pointer while a task runs.
    kernel_sp: usize,
    /// TSC at the last timer tick, for the preemption-latency figures.
    last_switch_latencies: Vec<u64>,
}

struct Cell(UnsafeCell<Scheduler>);
// SAFETY: one CPU; the scheduler is only touched from task or scheduler context (never
// from interrupt handlers), and never across a context switch.
unsafe impl Sync for Cell {}

static SCHED: Cell = Cell(UnsafeCell::new(Scheduler {
    tasks: Vec::new(),
    current: None,
    kernel_sp: 0,
    last_switch_latencies: Vec::new(),
}));

fn with<R>(f: impl FnOnce(&mut Scheduler) -> R) -> R {
    // SAFETY: see `Cell`: accesses never overlap, and no reference escapes `f`.
    f(unsafe { &mut *SCHED.0.get() })
}

/// Adds a task that runs `entry` and finishes with its status.
pub fn spawn(name: String, entry: Box<dyn FnOnce() -> u32>) -> Result<usize, &'static str> {
    let task = Task::new(name, entry)?;
    Ok(with(|sched| {
        sched.tasks.push(task);
        sched.tasks.len() - 1
    }))
}

/// The running task's index, if called from a task.
pub fn current() -> Option<usize> {
    with(|sched| sched.current)
}

/// Leaves the current task in `state` and switches to the scheduler; returns when the
/// scheduler resumes this task.
fn switch_out(state: State) {
    let (save, resume) = with(|sched| {
        let index = sched.current.expect("switch_out from a task");
        sched.tasks[index].state = state;
        (&raw mut sched.tasks[index].sp, sched.kernel_sp)
    });
    // SAFETY: the scheduler context saved its stack pointer when it switched to us and
    // is not running; our slot stays valid (tasks are never removed while running).
    unsafe { wasmetal_arch::stack::switch_context(save, resume) };
}

/// Gives the CPU to other ready tasks (no-op outside a task or when alone).
pub fn yield_now() {
    if current().is_none() {
        return;
    }
    let tick = crate::timer::last_tick_tsc();
    let now = wasmetal_arch::cpu::rdtsc();
    with(|sched| {
        if sched.last_switch_latencies.len() < 4096 {
            sched.last_switch_latencies.push(now.wrapping_sub(tick));
        }
    });
    switch_out(State::Ready);
}

/// Whether the running task is the only one not yet finished (none ready, none
/// sleeping): nothing would run if it yielded.
pub fn alone() -> bool {
    with(|sched| {
        let Some(current) = sched.current else { return true };
        sched.tasks.iter().enumerate().all(|(index, task)| index == current || matches!(task.state, State::Done { .. }))
    })
}

/// Sleeps the current task until the monotonic clock reaches `until_ns`.
pub fn sleep_until(until_ns: u64) {
    if current().is_none() {
        while crate::timer::monotonic_ns() < until_ns {
            wasmetal_arch::cpu::enable_interrupts();
            wasmetal_arch::cpu::halt();
        }
        return;
    }
    switch_out(State::Sleeping { until_ns });
}

/// Leaves the current task waiting for a device event after `mark` (see
/// [`device_wait::wait_for_device`]); returns what ended the wait.
fn switch_out_waiting(mark: device_wait::EventMark, until_ns: u64) -> device_wait::Woken {
    switch_out(State::Waiting { until_ns, mark });
    let woken = if device_wait::moved(mark) { device_wait::Woken::ByDevice } else { device_wait::Woken::ByTime };
    device_wait::count(woken);
    woken
}

/// Whether a sleeping or waiting task's time came or its device interrupted.
fn due(state: State, now: u64) -> bool {
    match state {
        State::Sleeping { until_ns } => until_ns <= now,
        State::Waiting { until_ns, mark } => until_ns <= now || device_wait::moved(mark),
        _ => false,
    }
}

/// Called by a task's entry when it is done.
pub(crate) fn finish(status: u32) -> ! {
    switch_out(State::Done { status });
    unreachable!("a finished task is never resumed");
}

/// Cycles from the last timer tick to each task switch caused by `yield_now`.
pub fn switch_latencies() -> Vec<u64> {
    with(|sched| core::mem::take(&mut sched.last_switch_latencies))
}

/// Runs every task to completion; returns `(name, status)` in completion order.
pub fn run() -> Vec<(String, u32)> {
    let mut finished = Vec::new();
    let mut last = usize::MAX;
    loop {
        let next = with(|sched| {
            let count = sched.tasks.len();
            let now = crate::timer::monotonic_ns();
            for task in sched.tasks.iter_mut() {
                if due(task.state, now) {
                    task.state = State::Ready;
                }
            }
            let start = if last == usize::MAX { 0 } else { last + 1 };
            (0..count).map(|offset| (start + offset) % count.max(1)).find(|&i| sched.tasks[i].state == State::Ready)
        });
        match next {
            Some(index) => {
                last = index;
                let (save, resume, theirs) = with(|sched| {
                    sched.current = Some(index);
                    sched.tasks[index].state = State::Running;
                    sched.tasks[index].vectors.restore();
                    (&raw mut sched.kernel_sp, sched.tasks[index].sp, sched.tasks[index].activation)
                });
                // A trap must unwind to the catch point of the task it happened in.
                let own = activation::swap(theirs);
                // SAFETY: the task's saved stack pointer comes from `Task::new` or its
                // last switch_out; `kernel_sp` lives in the static scheduler.
                unsafe { wasmetal_arch::stack::switch_context(save, resume) };
                let theirs = activation::swap(own);
                with(|sched| {
                    sched.current = None;
                    // Nothing between the switch and here touched vector registers
                    // (soft-float), so they still hold the task's.
                    sched.tasks[index].vectors.save();
                    sched.tasks[index].activation = theirs;
                    if let State::Done { status } = sched.tasks[index].state {
                        finished.push((sched.tasks[index].name.clone(), status));
                        sched.tasks[index].release();
                    }
                });
            }
            None => {
                let asleep = |state: State| matches!(state, State::Sleeping { .. } | State::Waiting { .. });
                let any_asleep = with(|sched| sched.tasks.iter().any(|t| asleep(t.state)));
                if !any_asleep {
                    // Every task is done: their slots (name, vector area) go too, or each
                    // task ever spawned would keep ~1 KiB of heap (found by the soak test).
                    with(|sched| sched.tasks.clear());
                    break;
                }
                // Everyone sleeps or waits: halt until an interrupt (a device's or the
                // next tick), unless one came since the wake-up pass above.
                wasmetal_arch::cpu::disable_interrupts();
                let now = crate::timer::monotonic_ns();
                if with(|sched| sched.tasks.iter().any(|t| due(t.state, now))) {
                    wasmetal_arch::cpu::enable_interrupts();
                } else {
                    wasmetal_arch::cpu::enable_interrupts_and_halt();
                }
            }
        }
    }
    finished
}
