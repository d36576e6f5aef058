//! One task: a guarded stack, its saved context (registers and vector registers), and
//! its state.

use alloc::boxed::Box;
use alloc::string::String;

use super::activation::Activation;
use super::vector_area::VectorArea;
use crate::wasm::stack::WasmStack;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ready,
    Running,
    Sleeping {
        until_ns: u64,
    },
    /// Until a device interrupts after `mark` (`device_wait`) or `until_ns` passes.
    Waiting {
        until_ns: u64,
        mark: super::device_wait::EventMark,
    },
    Done {
        status: u32,
    },
}

/// A task.
pub struct Task {
    pub name: String,
    pub state: State,
    /// Saved stack pointer while not running.
    pub sp: usize,
    /// The task's innermost wasm activation (the runtime's trap-catch record) while
    /// it is switched out: trap state is per task, like a thread-local on a host.
    pub activation: Activation,
    /// The task's vector registers while it is switched out (its wasm code's SIMD and
    /// float values; the kernel itself never touches them).
    pub vectors: VectorArea,
    stack: Option<WasmStack>,
}

unsafe extern "C" fn task_start(entry: usize) -> ! {
    // SAFETY: `entry` is the pointer leaked from `Task::new`, used exactly once here.
    let entry = unsafe { Box::from_raw(entry as *mut Box<dyn FnOnce() -> u32>) };
    let status = entry();
    super::finish(status)
}

impl Task {
    /// A ready task on a fresh stack that will run `entry`.
    pub fn new(name: String, entry: Box<dyn FnOnce() -> u32>) -> Result<Task, &'static str> {
        let stack = WasmStack::new().ok_or("no address space for a task stack")?;
        let vectors = VectorArea::new()?;
        // Boxed twice so a thin pointer reaches the start shim.
        let raw = Box::into_raw(Box::new(entry)) as usize;
        // SAFETY: the stack is fresh, mapped on demand and 16-byte aligned at its top.
        let sp = unsafe { wasmetal_arch::stack::prepare_stack(stack.top(), task_start, raw) };
        Ok(Task { name, state: State::Ready, sp, activation: Activation::NONE, vectors, stack: Some(stack) })
    }

    /// Frees the stack of a finished task.
    pub fn release(&mut self) {
        self.stack = None;
    }
}
