//! Entering wasm and getting out of it when it traps.
//!
//! `catch_traps` saves the callee-saved registers and stack pointer in an `Activation`
//! (a setjmp written in assembly in `vm::arch`, so no Rust function returns twice),
//! links it into the platform's activation slot, and calls into wasm. When wasm
//! faults, the platform's fault handler (a signal handler hosted, the IDT in the
//! kernel) calls `platform::handle_trap`, which asks [`handle_fault`]: if the faulting
//! PC is wasm code, the trap code and a backtrace are recorded and the handler resumes
//! at the trap landing, which restores the saved registers and makes `catch_traps`
//! return the trap. Only generated code and plain frames lie between the save and the
//! fault, so nothing with a destructor is skipped.
//!
//! One fault is not a trap at first: an armed epoch poll (a load carrying the
//! `Interrupt` code) resumes in `vm::epoch_poll`, which runs the store's deadline policy
//! and returns to the poll; only if the policy says "trap" does the poll's next fault
//! become an `Interrupt` trap.

use crate::platform::{ActivationPtr, FaultKind, Platform};
use crate::trap::{FrameInfo, Trap, TrapCode, WasmBacktrace};
use crate::vm::arch;
use crate::vm::code_memory::{self, with_code_at};
use crate::vm::store::StoreOpaque;

/// Most frames recorded at a trap.
const MAX_FRAMES: usize = 64;

/// One entry from the host into wasm, innermost first via `previous`.
#[repr(C)]
pub struct Activation {
    /// Stack pointer saved by `wasmetal_catch` (read by the landing). Must stay first.
    saved_sp: usize,
    previous: *mut Activation,
    trap: Option<TrapCode>,
    frames: [usize; MAX_FRAMES],
    frame_count: usize,
    /// The store whose code runs in this activation.
    store: *mut StoreOpaque,
    /// The store's epoch policy said "trap": the poll's next fault is the trap.
    epoch_trap: bool,
    /// The epoch poll that faulted last (where a "trap" verdict resumes).
    poll_pc: usize,
}

impl Activation {
    /// The store running in this activation.
    pub fn store(&self) -> *mut StoreOpaque {
        self.store
    }

    /// Makes the next fault of an epoch poll an `Interrupt` trap; returns the poll to
    /// resume at so it faults again.
    pub fn mark_epoch_trap(&mut self) -> usize {
        self.epoch_trap = true;
        self.poll_pc
    }
}

/// Where the fault handler must resume: set PC and SP, and the first argument register
/// when `arg` says so (every other register keeps its value). Applied to the port's
/// frame by `platform::handle_trap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    pub pc: usize,
    pub sp: usize,
    pub arg: Option<usize>,
}

unsafe extern "C" fn call_closure<F: FnOnce()>(payload: *mut u8) {
    // SAFETY: `payload` points at an `Option<F>` owned by `catch_traps`, taken once.
    let closure = unsafe { (*(payload as *mut Option<F>)).take() };
    if let Some(closure) = closure {
        closure();
    }
}

fn callback_for<F: FnOnce()>(_: &Option<F>) -> unsafe extern "C" fn(*mut u8) {
    call_closure::<F>
}

/// Approximate current stack pointer.
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    core::hint::black_box(&marker) as *const u8 as usize
}

/// Runs `call` (which enters wasm) so that a trap inside comes back as `Err`.
///
/// On the outermost entry the store's stack limit is set `max_stack` bytes below the
/// current stack pointer (and reset afterwards), so deep recursion traps with
/// `StackOverflow` long before the real stack ends.
///
/// # Safety
/// `store` must be the live store whose code `call` runs (its limits are the ones the
/// code reads). `call` may only hold plain data: a trap abandons its frame without
/// running destructors.
pub unsafe fn catch_traps(
    platform: &dyn Platform,
    store: *mut StoreOpaque,
    max_stack: usize,
    call: impl FnOnce(),
) -> Result<(), Trap> {
    platform.prepare_thread();
    let previous = platform.activation().0 as *mut Activation;
    let mut activation = Activation {
        saved_sp: 0,
        previous,
        trap: None,
        frames: [0; MAX_FRAMES],
        frame_count: 0,
        store,
        epoch_trap: false,
        poll_pc: 0,
    };
    // SAFETY: the caller guarantees the store is live; its limits are boxed.
    let limits = unsafe { &mut *(*store).limits };
    let outermost = previous.is_null();
    let saved_limit = limits.stack_limit;
    if outermost {
        limits.stack_limit = stack_pointer().saturating_sub(max_stack);
    }
    let mut closure = Some(call);
    let callback = callback_for(&closure);
    platform.set_activation(ActivationPtr(&mut activation as *mut Activation as *mut u8));
    // SAFETY: the activation's first word is its saved stack pointer and it outlives
    // the call; the callback leaves only by returning or through the landing (the
    // fault handler's `Resume`), and `call` holds plain data per the contract.
    let completed = unsafe {
        arch::catch(&mut activation as *mut Activation as *mut u8, callback, &mut closure as *mut Option<_> as *mut u8)
    };
    platform.set_activation(ActivationPtr(previous as *mut u8));
    if outermost {
        limits.stack_limit = saved_limit;
    }
    if completed {
        return Ok(());
    }
    let code = activation.trap.unwrap_or(TrapCode::UnreachableCodeReached);
    let frames = activation.frames[..activation.frame_count]
        .iter()
        .enumerate()
        .filter_map(|(index, &pc)| {
            // Return addresses point after the call; look up the call itself.
            let pc = if index == 0 { pc } else { pc - 1 };
            code_memory::lookup(pc).and_then(|info| info.frame_info(pc))
        })
        .collect::<alloc::vec::Vec<FrameInfo>>();
    Err(Trap { code, backtrace: WasmBacktrace { frames } })
}

/// The fault handler's question (asked through `platform::handle_trap`): is this a
/// wasm trap, and where to resume?
///
/// Allocation-free and lock-free (the code registry is only try-locked), so it is safe
/// in a signal handler or an exception handler.
/// `sp` and `fp` are the faulting code's stack and frame pointers.
pub(crate) fn handle_fault(
    platform: &dyn Platform,
    pc: usize,
    sp: usize,
    fp: usize,
    kind: FaultKind,
) -> Option<Resume> {
    let activation = platform.activation().0 as *mut Activation;
    if activation.is_null() {
        return None;
    }
    let (site, code_end) = with_code_at(pc, |info| (info.trap_at(pc), info.end))?;
    let epoch_poll = site == Some(TrapCode::Interrupt) && matches!(kind, FaultKind::Memory { .. });
    // SAFETY: the activation is live: it is unlinked before `catch_traps` returns.
    if epoch_poll && !unsafe { (*activation).epoch_trap } {
        // SAFETY: `pc..code_end` is registered code (looked up above), which stays
        // mapped readable while wasm runs.
        let code = unsafe { core::slice::from_raw_parts(pc as *const u8, (code_end - pc).min(16)) };
        if let Some(length) = arch::poll_load_length(code) {
            // SAFETY: as above.
            unsafe { (*activation).poll_pc = pc };
            // SAFETY: `sp` is the stack pointer of the faulting wasm code.
            let sp = unsafe { arch::push_call_frame(sp, pc + length, activation as usize) };
            return Some(Resume { pc: arch::epoch_poll_entry(), sp, arg: None });
        }
    }
    let code = site.unwrap_or(match kind {
        // A fault in wasm code away from any heap access: the stack guard.
        FaultKind::Memory { .. } => TrapCode::StackOverflow,
        FaultKind::IllegalInstruction => TrapCode::UnreachableCodeReached,
        FaultKind::Arithmetic => TrapCode::IntegerDivisionByZero,
    });
    // SAFETY: the activation is live: it is unlinked before `catch_traps` returns.
    let activation = unsafe { &mut *activation };
    activation.epoch_trap = false;
    activation.trap = Some(code);
    activation.frames[0] = pc;
    activation.frame_count = 1;
    let mut fp = fp;
    while activation.frame_count < MAX_FRAMES && fp != 0 && fp < activation.saved_sp {
        // SAFETY: `fp` is a kept frame pointer of generated code below the saved sp: live stack.
        let (next, ret) = unsafe { arch::older_frame(fp) };
        if !code_memory::is_wasm_pc(ret) {
            break;
        }
        activation.frames[activation.frame_count] = ret;
        activation.frame_count += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    Some(Resume {
        pc: arch::trap_landing(),
        sp: activation.saved_sp,
        arg: Some(activation as *mut Activation as usize),
    })
}
