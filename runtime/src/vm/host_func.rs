//! Host functions as wasm sees them: a context whose first words the wasm-to-host
//! trampoline reads (magic, entry point), holding the function reference and the
//! boxed Rust closure.

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

/// A host function living in a store.
#[repr(C)]
pub struct HostFuncContext {
    magic: u32,
    _pad: u32,
    entry: HostEntry,
    pub func_ref: VMFuncRef,
    pub ty: FuncType,
    pub store: *mut StoreOpaque,
    callback: HostCallback,
}

const _: () = assert!(core::mem::offset_of!(HostFuncContext, entry) == crate::compiler::trampolines::HOST_CONTEXT_ENTRY_OFFSET as usize);

/// Calls the callback; a failure is parked in the store and reported to the trampoline,
/// which traps so the error surfaces at the wasm call that led here.
unsafe extern "C" fn host_entry(context: *mut HostFuncContext, caller: *mut VMContext, values: *mut ValRaw, len: usize) -> bool {
    // SAFETY: the trampoline passes the context it was called with and a live array of
    // `len` slots on its own stack.
    let (context, values) = unsafe { (&*context, core::slice::from_raw_parts_mut(values, len)) };
    match (context.callback)(context.store, caller, values) {
        Ok(()) => true,
        Err(error) => {
            // SAFETY: the store outlives every call into it.
            unsafe { (*context.store).pending_error = Some(error) };
            false
        }
    }
}

impl HostFuncContext {
    /// A host function of type `ty` (engine type id `type_index`) called through
    /// `trampoline` (the engine's wasm-to-host trampoline for the type).
    pub fn new(store: *mut StoreOpaque, ty: FuncType, type_index: u32, trampoline: *const u8, callback: HostCallback) -> Box<Self> {
        let mut context = Box::new(HostFuncContext {
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
            store,
            callback,
        });
        context.func_ref.vmctx = &mut *context as *mut HostFuncContext as *mut VMContext;
        context
    }

    /// Calls the function directly from the host (no wasm in between).
    pub fn call(&self, values: &mut [ValRaw]) -> Result<()> {
        (self.callback)(self.store, core::ptr::null_mut(), values)
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
