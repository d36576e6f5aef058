//! Host functions as wasm sees them: a context whose first words the wasm-to-host
//! trampoline reads (magic, entry point), holding the function reference and the
//! boxed Rust closure.
//!
//! A context belongs to no store: the store a call runs in comes from the caller's
//! `VMContext` (or from the host, for direct calls). So a `Linker` creates each host
//! function once, and every store that links it only holds another reference.

use crate::error::Result;
use crate::prelude::*;
use crate::types::FuncType;
use crate::vm::store::StoreOpaque;
use crate::vm::vmcontext::{VMContext, VMFuncRef, ValRaw};

/// Magic at offset 0 of a host function context (a `VMContext` has its own).
pub const HOST_MAGIC: u32 = u32::from_le_bytes(*b"wmhf");

/// The Rust side of a host function: `(store, caller vmctx, values)`. Parameters are
/// in `values` on entry, results are written back to it.
pub type HostCallback = Box<dyn Fn(*mut StoreOpaque, *mut VMContext, &mut [ValRaw]) -> Result<()> + Send + Sync>;

/// The entry point every host function context has at offset 8.
pub type HostEntry = unsafe extern "C" fn(*mut HostFuncContext, *mut VMContext, *mut ValRaw, usize) -> bool;

/// A host function, shareable between stores of one engine.
#[repr(C)]
pub struct HostFuncContext {
    magic: u32,
    _pad: u32,
    entry: HostEntry,
    pub func_ref: VMFuncRef,
    pub ty: FuncType,
    callback: HostCallback,
}

// SAFETY: the raw pointers in the function reference point at code and at this context
// itself; the callback is Send + Sync.
unsafe impl Send for HostFuncContext {}
// SAFETY: as above; nothing in the context changes after creation.
unsafe impl Sync for HostFuncContext {}

#[cfg(feature = "compiler")]
const _: () = assert!(
    core::mem::offset_of!(HostFuncContext, entry) == crate::compiler::trampolines::HOST_CONTEXT_ENTRY_OFFSET as usize
);

/// Calls the callback; a failure is parked in the store and reported to the trampoline,
/// which traps so the error surfaces at the wasm call that led here.
unsafe extern "C" fn host_entry(
    context: *mut HostFuncContext,
    caller: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool {
    // SAFETY: the trampoline passes the context it was called with and a live array of
    // `len` slots on its own stack; the caller is wasm, so its vmctx header names the
    // store the call runs in.
    let (context, values, store) = unsafe {
        let store = *((caller as *mut u8).add(crate::vm::vmcontext::header::STORE as usize) as *mut *mut StoreOpaque);
        (&*context, core::slice::from_raw_parts_mut(values, len), store)
    };
    match (context.callback)(store, caller, values) {
        Ok(()) => true,
        Err(error) => {
            // SAFETY: the store outlives every call into it.
            unsafe { (*store).pending_error = Some(error) };
            false
        }
    }
}

impl HostFuncContext {
    /// A host function of type `ty` (engine type id `type_index`) called through
    /// `trampoline` (the engine's wasm-to-host trampoline for the type).
    pub fn new(ty: FuncType, type_index: u32, trampoline: *const u8, callback: HostCallback) -> Arc<Self> {
        let mut context = Arc::new(HostFuncContext {
            magic: HOST_MAGIC,
            _pad: 0,
            entry: host_entry,
            func_ref: VMFuncRef {
                wasm_call: trampoline,
                array_call: core::ptr::null(),
                type_index,
                _pad: 0,
                vmctx: core::ptr::null_mut(),
            },
            ty,
            callback,
        });
        // The function reference points at the context itself, which the Arc keeps in
        // place; the Arc is still unique here.
        let address = Arc::as_ptr(&context) as *mut VMContext;
        Arc::get_mut(&mut context).expect("a fresh Arc is unique").func_ref.vmctx = address;
        context
    }

    /// Calls the function directly from the host (no wasm in between) in `store`.
    pub fn call(&self, store: *mut StoreOpaque, values: &mut [ValRaw]) -> Result<()> {
        (self.callback)(store, core::ptr::null_mut(), values)
    }

    /// The function reference wasm calls this function through.
    pub fn func_ref_ptr(self: &Arc<Self>) -> *mut VMFuncRef {
        &self.func_ref as *const VMFuncRef as *mut VMFuncRef
    }

    /// Whether a function reference's context is a host function context.
    ///
    /// # Safety
    /// `func_ref` must be a live function reference.
    pub unsafe fn of(func_ref: *const VMFuncRef) -> Option<*mut HostFuncContext> {
        // SAFETY: per the contract `func_ref` is live; every vmctx (a VMContext or a host
        // context) starts with a u32 magic.
        let magic = unsafe { *((*func_ref).vmctx as *const u32) };
        // SAFETY: as above.
        (magic == HOST_MAGIC).then_some(unsafe { (*func_ref).vmctx } as *mut HostFuncContext)
    }
}
