//! Stacks wasm runs on: a reservation in the wasm region with an unmapped guard page
//! below; the top is mapped when the stack is made, the rest on demand.
//!
//! A dropped stack's frames go back at once, but its virtual range is kept for the next
//! stack: the wasm region never reuses space by itself, and every fresh 8 MiB range
//! needs page-table frames of its own, which unmapping does not free (the soak test
//! found ~1 frame lost per task before ranges were reused).

use alloc::vec::Vec;

use spin::Mutex;

use crate::memory::layout::PAGE_SIZE;
use crate::memory::wasm_region;
use crate::wasm::accounting::commit_kernel_range;
use crate::wasm::pager::decommit_kernel_range;

/// Bytes of a wasm stack (excluding its guard page).
pub const WASM_STACK_BYTES: u64 = 8 << 20;

/// Stack bytes kept free below wasm's limit for host calls and builtins.
pub const HOST_STACK_RESERVE: u64 = 256 << 10;

/// Bytes at the top of a new stack mapped right away: every task's first call runs
/// there, and its top page sits alone past a 2 MiB boundary (the range starts a guard
/// page after one), so on demand it took two faults of ~150 us each under PVM.
const EAGER_TOP_BYTES: u64 = 64 << 10;

/// Guard-page addresses of dropped stacks' ranges, reused before fresh space.
static FREE_RANGES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// One guarded stack.
pub struct WasmStack {
    guard: u64,
    top: u64,
}

impl WasmStack {
    /// Reserves and commits a stack (its top is mapped now, the rest as it is touched).
    pub fn new() -> Option<WasmStack> {
        let reused = wasmetal_arch::cpu::without_interrupts(|| FREE_RANGES.lock().pop());
        let (guard, top) = match reused {
            Some(guard) => (guard, guard + PAGE_SIZE + WASM_STACK_BYTES),
            None => {
                let reservation = wasm_region::reserve(WASM_STACK_BYTES + PAGE_SIZE).ok()?;
                (reservation.start, reservation.end())
            }
        };
        // A failed commit leaves only unused address space behind.
        if commit_kernel_range(guard + PAGE_SIZE, top) {
            crate::wasm::pager::map_zeroed(top - EAGER_TOP_BYTES, top);
            Some(WasmStack { guard, top })
        } else {
            wasmetal_arch::cpu::without_interrupts(|| FREE_RANGES.lock().push(guard));
            None
        }
    }

    /// The initial stack pointer (16-byte aligned).
    pub fn top(&self) -> *mut u8 {
        self.top as *mut u8
    }
}

impl Drop for WasmStack {
    fn drop(&mut self) {
        decommit_kernel_range(self.guard + PAGE_SIZE, self.top);
        wasmetal_arch::cpu::without_interrupts(|| FREE_RANGES.lock().push(self.guard));
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
