//! Calling a function reference from the host, with traps caught.

use crate::error::Result;
use crate::trap::TrapCode;
use crate::vm::host_func::HostFuncContext;
use crate::vm::store::StoreOpaque;
use crate::vm::traphandler::catch_traps;
use crate::vm::vmcontext::{VMContext, VMFuncRef, ValRaw};

/// The array-call entry of wasm functions (an array-to-wasm trampoline).
type ArrayCall = unsafe extern "C" fn(*const u8, *mut VMContext, *mut VMContext, *mut ValRaw);

/// Calls `func_ref` with parameters in `values`; results are written back to `values`
/// (which must have room for the larger of the two).
///
/// # Safety
/// `store` must own `func_ref`, and `values` must match its type.
pub unsafe fn call_func_ref(store: *mut StoreOpaque, func_ref: *mut VMFuncRef, values: &mut [ValRaw]) -> Result<()> {
    // SAFETY: per the contract, func_ref is live.
    if let Some(host) = unsafe { HostFuncContext::of(func_ref) } {
        // SAFETY: the host context is kept alive by the store.
        return unsafe { (*host).call(store, values) };
    }
    // SAFETY: per the contract, `store` and `func_ref` are live; both are only read.
    let (func, platform, max_stack) = unsafe {
        let store = &*store;
        (*func_ref, store.engine.inner.platform, store.engine.inner.config.max_wasm_stack)
    };
    // SAFETY: wasm functions' `array_call` is the array-to-wasm trampoline for their type.
    let trampoline: ArrayCall = unsafe { core::mem::transmute::<*const u8, ArrayCall>(func.array_call) };
    let values_ptr = values.as_mut_ptr();
    // SAFETY: the closure holds only plain data; the trampoline reads params from and
    // writes results to `values`, which outlives the call.
    let result = unsafe {
        catch_traps(platform, store, max_stack, move || {
            trampoline(func.wasm_call, func.vmctx, func.vmctx, values_ptr);
        })
    };
    match result {
        Ok(()) => Ok(()),
        Err(trap) if trap.code == TrapCode::HostError => {
            // SAFETY: the store is live; the host function parked its error there.
            let pending = unsafe { (*store).pending_error.take() };
            Err(pending.unwrap_or_else(|| trap.into()))
        }
        Err(trap) => Err(trap.into()),
    }
}
