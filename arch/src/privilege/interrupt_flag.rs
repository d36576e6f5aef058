//! The virtual interrupt flag of the kernel at CPL3.
//!
//! CPL3 cannot `cli`/`sti` (under KVM's PVM not even with IOPL 3), so masking is a flag
//! in memory: an interrupt that arrives while it is set is deferred by the CPL0 entry
//! (kept in service, IF cleared in the interrupted frame) and delivered by a monitor
//! call when the kernel unmasks. This module owns that state; routing is `routing`'s.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::counters::DEFERRED;
use super::monitor::{MonitorCall, monitor_call};
use crate::trap_frame::{TrapFrame, vector};

/// RFLAGS.IF.
pub(super) const RFLAGS_IF: u64 = 1 << 9;

/// The kernel at CPL3 has interrupts masked: CPL0 defers device interrupts.
/// Starts set: the kernel enters CPL3 with interrupts off.
static MASKED: AtomicBool = AtomicBool::new(true);
/// Deferred device interrupts, bit `v - 32` for vector `v`.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Whether RFLAGS.IF is set at CPL3 (CPL3 cannot read it reliably: some hypervisors
/// report IF=1 to `pushfq` whatever it is).
static HARD_IF: AtomicBool = AtomicBool::new(false);

/// Unmasks interrupts at CPL3, delivering any that were deferred.
pub fn enable_interrupts() {
    MASKED.store(false, Ordering::SeqCst);
    if !HARD_IF.load(Ordering::SeqCst) || PENDING.load(Ordering::SeqCst) != 0 {
        // SAFETY: enabling interrupts is what the caller asked for.
        unsafe { monitor_call(MonitorCall::EnableInterrupts, 0, 0) };
    }
}

/// Masks interrupts at CPL3: until [`enable_interrupts`], device interrupts are deferred.
pub fn disable_interrupts() {
    MASKED.store(true, Ordering::SeqCst);
}

/// Runs `f` with interrupts masked at CPL3, restoring the previous state afterwards.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let was_masked = MASKED.swap(true, Ordering::SeqCst);
    let result = f();
    if !was_masked {
        MASKED.store(false, Ordering::SeqCst);
        if PENDING.load(Ordering::SeqCst) != 0 {
            // SAFETY: interrupts were enabled before `f`; this delivers what came meanwhile.
            unsafe { monitor_call(MonitorCall::EnableInterrupts, 0, 0) };
        }
    }
    result
}

/// Whether device interrupts wait to be delivered (they came while masked).
pub(super) fn any_pending() -> bool {
    PENDING.load(Ordering::SeqCst) != 0
}

/// At CPL0: whether a device interrupt from CPL3 must wait; if so, records it as
/// pending and clears IF in `frame` so no more come until the kernel unmasks.
pub(super) fn defer_if_masked(frame: &mut TrapFrame) -> bool {
    if !MASKED.load(Ordering::SeqCst) {
        return false;
    }
    // Keep it in service (no EOI) and stop more from coming until unmasked.
    PENDING.fetch_or(1 << ((frame.vector - vector::TIMER) & 63), Ordering::SeqCst);
    DEFERRED.fetch_add(1, Ordering::Relaxed);
    HARD_IF.store(false, Ordering::SeqCst);
    frame.rflags &= !RFLAGS_IF;
    true
}

/// At CPL0, serving `EnableInterrupts`: runs the handler for each deferred interrupt, as
/// if it had just arrived, and sets IF in the caller's frame.
pub(super) fn deliver_pending_and_enable(frame: &mut TrapFrame) {
    let pending = PENDING.swap(0, Ordering::SeqCst);
    let saved_vector = frame.vector;
    for bit in 0..64 {
        if pending & (1 << bit) != 0 {
            frame.vector = vector::TIMER + bit;
            crate::idt::run_handler(frame);
        }
    }
    frame.vector = saved_vector;
    HARD_IF.store(true, Ordering::SeqCst);
    frame.rflags |= RFLAGS_IF;
}
