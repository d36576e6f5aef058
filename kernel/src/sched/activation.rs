//! The running context's innermost wasm activation: one slot, swapped per task.
//!
//! The runtime keeps its trap-catch record (opaque here) through the platform's
//! `activation` / `set_activation`. Trap state is per task, like a thread-local on a
//! host, so the scheduler swaps the slot on every switch into and out of a task. This
//! module only holds the pointer: it never reads through it and knows nothing of wasm.

use core::sync::atomic::{AtomicPtr, Ordering};

use wasmetal_runtime::platform::ActivationPtr;

/// The runtime's innermost activation record for one context, or none. Only the runtime
/// dereferences it; the kernel stores and swaps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activation(*mut u8);

impl Activation {
    /// No activation: the context is not inside a wasm call.
    pub const NONE: Activation = Activation(core::ptr::null_mut());

    /// Wraps the record the runtime hands to `Platform::set_activation`.
    pub fn from_runtime(record: ActivationPtr) -> Self {
        Self(record.0)
    }

    /// The record the runtime expects back from `Platform::activation`.
    pub fn to_runtime(self) -> ActivationPtr {
        ActivationPtr(self.0)
    }
}

/// The running context's activation.
static SLOT: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// The running context's activation.
pub fn current() -> Activation {
    Activation(SLOT.load(Ordering::Relaxed))
}

/// Replaces the running context's activation (the runtime entering or leaving a call).
pub fn set(activation: Activation) {
    SLOT.store(activation.0, Ordering::Relaxed);
}

/// Installs `activation` as the running context's and returns the one it replaces; the
/// scheduler calls it on every task switch.
pub fn swap(activation: Activation) -> Activation {
    Activation(SLOT.swap(activation.0, Ordering::Relaxed))
}
