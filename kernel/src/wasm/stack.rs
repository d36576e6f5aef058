//! Stacks wasm runs on: a reservation in the wasm region with an unmapped guard page
//! below, backed on demand.

use crate::memory::layout::PAGE_SIZE;
use crate::memory::wasm_region;
use crate::wasm::accounting::commit_kernel_range;
use crate::wasm::pager::decommit_kernel_range;

/// Bytes of a wasm stack (excluding its guard page).
pub const WASM_STACK_BYTES: u64 = 8 << 20;

/// Stack bytes kept free below wasm's limit for host calls and builtins.
pub const HOST_STACK_RESERVE: u64 = 256 << 10;

/// One guarded stack.
pub struct WasmStack {
    guard: u64,
    top: u64,
}

impl WasmStack {
    /// Reserves and commits a stack (pages are mapped as they are touched).
    pub fn new() -> Option<WasmStack> {
        let reservation = wasm_region::reserve(WASM_STACK_BYTES + PAGE_SIZE).ok()?;
        let guard = reservation.start;
        let top = reservation.end();
        // A failed commit leaves only unused address space behind.
        commit_kernel_range(guard + PAGE_SIZE, top).then_some(WasmStack { guard, top })
    }

    /// The initial stack pointer (16-byte aligned).
    pub fn top(&self) -> *mut u8 {
        self.top as *mut u8
    }
}

impl Drop for WasmStack {
    fn drop(&mut self) {
        decommit_kernel_range(self.guard + PAGE_SIZE, self.top);
    }
}

/// Runs `f` on `stack` and returns its result.
pub fn run_on<R, F: FnOnce() -> R>(stack: &WasmStack, f: F) -> R {
    struct Call<F, R> {
        f: Option<F>,
        result: Option<R>,
    }
    unsafe extern "C" fn entry<F: FnOnce() -> R, R>(call: *mut u8) {
        // SAFETY: `call` points at the `Call` below, live for the whole switch.
        let call = unsafe { &mut *(call as *mut Call<F, R>) };
        if let Some(f) = call.f.take() {
            call.result = Some(f());
        }
    }
    let mut call: Call<F, R> = Call { f: Some(f), result: None };
    // SAFETY: the stack is mapped on demand, 16-byte aligned at its top and unused
    // while this call runs; `entry` only touches `call`.
    unsafe { wasmetal_arch::stack::call_on_stack(stack.top(), entry::<F, R>, &mut call as *mut Call<F, R> as *mut u8) };
    call.result.expect("the entry ran to completion")
}
