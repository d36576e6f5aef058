//! From a faulting epoch poll to the store's deadline policy, and back.
//!
//! An armed poll (see `vm::epoch`) faults in the middle of a wasm function, where
//! every register may hold a live value. The trap handler does not decide there: it
//! makes the fault look like a call to `wasmetal_epoch_poll` returning just past the
//! faulting load (return address and activation pushed on the wasm stack, nothing
//! else touched) and resumes. That entry saves every register and the flags, runs the
//! store's policy as ordinary Rust on the wasm stack (so a yield may switch stacks),
//! restores everything and returns:
//!
//! - deadline moved on (or the arm was spurious): to the instruction after the poll's
//!   byte load, whose result nothing uses, so the loop goes on as if nothing happened
//!   (returning to the load itself would fault again: its address register still
//!   holds the armed word it read before the policy disarmed it);
//! - verdict "trap": to the load, which faults again; the activation is marked, so the
//!   handler turns that fault into an `Interrupt` trap.
//!
//! Owns only this round trip; the policy is `StoreOpaque::new_epoch`'s, the entry's
//! assembly and the decoding of the poll are `vm::arch`'s.

use crate::vm::traphandler::Activation;

/// The slow path behind a faulting poll.
///
/// # Safety
/// Called only from `wasmetal_epoch_poll` with the activation the trap handler pushed,
/// which is live (its `catch_traps` frame is below on this stack), and the address of
/// the entry's return address.
pub(crate) unsafe extern "C" fn epoch_poll_slow(activation: *mut Activation, return_address: *mut usize) {
    // SAFETY: per the contract.
    let activation = unsafe { &mut *activation };
    // SAFETY: the activation's store entered wasm and outlives the call.
    let store = unsafe { &mut *activation.store() };
    if store.epoch_poll_fault() {
        // SAFETY: per the contract, the return slot is on this stack, above our frame.
        unsafe { return_address.write(activation.mark_epoch_trap()) };
    }
}
