//! The builtins generated code calls, and the table they are reached through.
//!
//! The list of builtins and their signatures is `vm::builtin::foreach_builtin!`; the
//! table is generated from it, and each function here is checked against its entry.
//!
//! Each takes the calling instance's `vmctx` and plain integers. Those that can fail
//! return a status instead of unwinding: the generated code traps at the call site, so
//! a trap never crosses a Rust frame. They are `#[inline(never)]`: only the table
//! reaches them, and one copy of each keeps its address unique (a small function may
//! otherwise be copied into every codegen unit that names it).

use crate::trap::TrapCode;
use crate::types::*;
use crate::vm::arch;
use crate::vm::builtin::{BUILTIN_TRAP, Builtin, foreach_builtin};
use crate::vm::instance::Instance;
use crate::vm::table::{TableInstance, tag_funcref};
use crate::vm::vmcontext::{VMContext, VMFuncRef};

/// Runs `f` with the calling instance. The borrow ends with `f`: builtins take raw
/// pointers to memories, tables and the store out of it, never references.
///
/// # Safety
/// `vmctx` must be the `VMContext` of a live instance (generated code passes its own),
/// and nothing else may use that instance while `f` runs (generated code is stopped
/// in the call; the store does not touch its instances during a builtin).
#[inline]
unsafe fn with_instance<R>(vmctx: *mut VMContext, f: impl FnOnce(&mut Instance) -> R) -> R {
    // SAFETY: per the caller's contract.
    unsafe { Instance::from_vmctx(vmctx, f) }
}

fn status(result: Result<(), TrapCode>) -> u32 {
    if result.is_ok() { 0 } else { BUILTIN_TRAP }
}

#[inline(never)]
unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, memory: u32, delta: u64) -> u64 {
    // SAFETY: generated code passes its own vmctx.
    let memory = unsafe { with_instance(vmctx, |instance| instance.memory(MemoryIndex(memory))) };
    // SAFETY: memories outlive their instances, and nothing else refers to this one
    // during the call.
    let memory = unsafe { &mut *memory };
    memory.grow(delta).unwrap_or(u64::MAX)
}

#[inline(never)]
unsafe extern "C" fn memory_fill(vmctx: *mut VMContext, memory: u32, dst: u64, byte: u32, len: u64) -> u32 {
    // SAFETY: as in memory_grow.
    let memory = unsafe { &mut *with_instance(vmctx, |instance| instance.memory(MemoryIndex(memory))) };
    let size = memory.size_bytes() as u64;
    if dst.checked_add(len).is_none_or(|end| end > size) {
        return BUILTIN_TRAP;
    }
    let bytes = &mut memory.data_mut()[dst as usize..(dst + len) as usize];
    // SAFETY: `bytes` is the checked destination range.
    unsafe { super::bulk_memory::fill(bytes.as_mut_ptr(), byte as u8, bytes.len()) };
    0
}

#[inline(never)]
unsafe extern "C" fn memory_copy(
    vmctx: *mut VMContext,
    dst_memory: u32,
    dst: u64,
    src_memory: u32,
    src: u64,
    len: u64,
) -> u32 {
    // SAFETY: generated code passes its own vmctx.
    let (dst_memory, src_memory) = unsafe {
        with_instance(vmctx, |instance| {
            (instance.memory(MemoryIndex(dst_memory)), instance.memory(MemoryIndex(src_memory)))
        })
    };
    // SAFETY: both memories are live (they outlive their instances). They may be the
    // same memory, so no reference to either is held: each size is read through a
    // shared borrow that ends at once, and the bytes move through raw pointers into
    // the checked ranges with memmove semantics.
    unsafe {
        if src.checked_add(len).is_none_or(|end| end > (*src_memory).size_bytes() as u64)
            || dst.checked_add(len).is_none_or(|end| end > (*dst_memory).size_bytes() as u64)
        {
            return BUILTIN_TRAP;
        }
        let from = (*src_memory).definition.base.add(src as usize);
        let to = (*dst_memory).definition.base.add(dst as usize);
        super::bulk_memory::copy(to, from, len as usize);
    }
    0
}

#[inline(never)]
unsafe extern "C" fn memory_init(vmctx: *mut VMContext, memory: u32, data: u32, dst: u64, src: u32, len: u32) -> u32 {
    // SAFETY: generated code passes its own vmctx.
    status(unsafe {
        with_instance(vmctx, |instance| instance.memory_init(MemoryIndex(memory), DataIndex(data), dst, src, len))
    })
}

#[inline(never)]
unsafe extern "C" fn data_drop(vmctx: *mut VMContext, data: u32) {
    // SAFETY: generated code passes its own vmctx.
    unsafe { with_instance(vmctx, |instance| instance.data_drop(DataIndex(data))) };
}

/// The stored form of a reference value for a table of `table`'s element type.
fn stored(table: &TableInstance, value: usize) -> usize {
    match table.element_type() {
        RefType::FuncRef => tag_funcref(value as *mut VMFuncRef),
        RefType::ExternRef => value,
    }
}

#[inline(never)]
unsafe extern "C" fn table_grow(vmctx: *mut VMContext, table: u32, delta: u64, init: usize) -> u64 {
    // SAFETY: generated code passes its own vmctx.
    let table = unsafe { with_instance(vmctx, |instance| instance.table(TableIndex(table))) };
    // SAFETY: tables outlive their instances, and nothing else refers to this one
    // during the call.
    let table = unsafe { &mut *table };
    let init = stored(table, init);
    table.grow(delta, init).unwrap_or(u64::MAX)
}

#[inline(never)]
unsafe extern "C" fn table_fill(vmctx: *mut VMContext, table: u32, dst: u64, value: usize, len: u64) -> u32 {
    // SAFETY: as in table_grow.
    let table = unsafe { &mut *with_instance(vmctx, |instance| instance.table(TableIndex(table))) };
    if dst.checked_add(len).is_none_or(|end| end > table.size()) {
        return BUILTIN_TRAP;
    }
    let value = stored(table, value);
    table.elements_mut()[dst as usize..(dst + len) as usize].fill(value);
    0
}

/// Makes every element of `range` of `table` initialized (so copies carry values,
/// not "uninitialized" markers that only mean something in the origin table).
///
/// # Safety
/// `table` must be live.
unsafe fn materialize(table: *mut TableInstance, start: u64, len: u64) {
    // SAFETY: per the contract.
    let origin = unsafe { (*table).lazy };
    let Some(origin) = origin else { return };
    for index in start..start + len {
        // SAFETY: per the contract; the origin instance is live as long as the table.
        unsafe {
            if (*table).raw(index) == Some(0) {
                let element = (*origin.instance).lazy_element(origin.table, index);
                (*table).set_raw(index, element);
            }
        }
    }
}

#[inline(never)]
unsafe extern "C" fn table_copy(
    vmctx: *mut VMContext,
    dst_table: u32,
    src_table: u32,
    dst: u64,
    src: u64,
    len: u64,
) -> u32 {
    let tables =
        |instance: &mut Instance| (instance.table(TableIndex(dst_table)), instance.table(TableIndex(src_table)));
    // SAFETY: generated code passes its own vmctx, which names a live instance.
    let (dst_table, src_table) = unsafe { with_instance(vmctx, tables) };
    // SAFETY: both tables are live; they may be the same table, so raw pointers only.
    unsafe {
        if src.checked_add(len).is_none_or(|end| end > (*src_table).size())
            || dst.checked_add(len).is_none_or(|end| end > (*dst_table).size())
        {
            return BUILTIN_TRAP;
        }
        materialize(src_table, src, len);
        let from = (*src_table).definition.base.add(src as usize);
        let to = (*dst_table).definition.base.add(dst as usize);
        core::ptr::copy(from, to, len as usize);
    }
    0
}

#[inline(never)]
unsafe extern "C" fn table_init(vmctx: *mut VMContext, table: u32, elem: u32, dst: u64, src: u32, len: u32) -> u32 {
    // SAFETY: generated code passes its own vmctx.
    status(unsafe {
        with_instance(vmctx, |instance| instance.table_init(TableIndex(table), ElemIndex(elem), dst, src, len))
    })
}

#[inline(never)]
unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, elem: u32) {
    // SAFETY: generated code passes its own vmctx.
    unsafe { with_instance(vmctx, |instance| instance.elem_drop(ElemIndex(elem))) };
}

#[inline(never)]
unsafe extern "C" fn table_get_lazy_init(vmctx: *mut VMContext, table: u32, index: u64) -> *mut VMFuncRef {
    // SAFETY: generated code passes its own vmctx.
    let table = unsafe { with_instance(vmctx, |instance| instance.table(TableIndex(table))) };
    // SAFETY: the table is live; generated code has bounds-checked `index`. The
    // instance borrow above has ended, so materializing may borrow the origin
    // instance (which can be the caller).
    unsafe {
        materialize(table, index, 1);
        let element = (*table).raw(index).unwrap_or(1);
        (element & !1) as *mut VMFuncRef
    }
}

#[inline(never)]
unsafe extern "C" fn ref_func(vmctx: *mut VMContext, func: u32) -> *mut VMFuncRef {
    // SAFETY: generated code passes its own vmctx.
    unsafe { with_instance(vmctx, |instance| instance.func_ref(FuncIndex(func))) }
}

/// Fused multiply-add in software (`libm`, integer and soft-float safe): floats cross
/// as their bits, since the kernel is soft-float.
extern "C" fn fma_f32(_vmctx: *mut VMContext, a: u32, b: u32, c: u32) -> u32 {
    libm::fmaf(f32::from_bits(a), f32::from_bits(b), f32::from_bits(c)).to_bits()
}

/// As [`fma_f32`], for f64.
extern "C" fn fma_f64(_vmctx: *mut VMContext, a: u64, b: u64, c: u64) -> u64 {
    libm::fma(f64::from_bits(a), f64::from_bits(b), f64::from_bits(c)).to_bits()
}

/// Behind `wasmetal_new_epoch`: the store's epoch policy decides; the verdict goes to
/// the limits' `builtin_status`.
#[inline(never)]
unsafe extern "C" fn new_epoch(vmctx: *mut VMContext) {
    // SAFETY: generated code passes its own vmctx.
    let store = unsafe { with_instance(vmctx, |instance| instance.store) };
    // SAFETY: the store outlives the call, and the instance borrow has ended.
    let store = unsafe { &mut *store };
    let trap = store.new_epoch();
    store.limits.builtin_status = u64::from(trap);
}

/// Behind `wasmetal_out_of_fuel`: refill or trap, answered in `builtin_status`.
#[inline(never)]
unsafe extern "C" fn out_of_fuel(vmctx: *mut VMContext) {
    // SAFETY: as in new_epoch.
    let store = unsafe { &mut *with_instance(vmctx, |instance| instance.store) };
    let refilled = store.out_of_fuel();
    store.limits.builtin_status = u64::from(!refilled);
}

macro_rules! builtin_table {
    (
        plain {
            $($(#[$doc:meta])* $name:ident = $func:ident($($param:ident: $ty:ty),*) $(-> $result:ty)?;)*
        }
        preserve_all {
            $($(#[$pdoc:meta])* $pname:ident = $pfunc:ident() via $entry:ident;)*
        }
    ) => {
        $(arch::preserving_entry!($entry, $pfunc);)*

        unsafe extern "C" {
            $(fn $entry();)*
        }

        /// The builtins table every `VMContext` points to, in `Builtin` order. Each
        /// function is checked against its signature in the list.
        pub static BUILTINS: BuiltinTable = BuiltinTable([
            $({
                let entry: unsafe extern "C" fn(*mut VMContext $(, $ty)*) $(-> $result)? = $func;
                entry as *const ()
            },)*
            $({
                let _: unsafe extern "C" fn(*mut VMContext) = $pfunc;
                $entry as *const ()
            },)*
        ]);
    };
}

foreach_builtin!(builtin_table);

/// The table of builtin entry points (function pointers are shareable).
#[repr(transparent)]
pub struct BuiltinTable(pub [*const (); Builtin::ALL.len()]);

// SAFETY: the table is immutable and holds function addresses only.
unsafe impl Sync for BuiltinTable {}

impl BuiltinTable {
    pub fn as_ptr(&self) -> *const usize {
        self.0.as_ptr() as *const usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::builtin::BuiltinType::{self, I32, I64, Pointer};

    /// Every builtin as the compiler and the table must see it, written out by hand so
    /// the list and both things generated from it are checked against a second source.
    fn expected() -> [(Builtin, &'static [BuiltinType], Option<BuiltinType>, *const ()); 16] {
        [
            (Builtin::MemoryGrow, &[I32, I64], Some(I64), memory_grow as *const ()),
            (Builtin::MemoryFill, &[I32, I64, I32, I64], Some(I32), memory_fill as *const ()),
            (Builtin::MemoryCopy, &[I32, I64, I32, I64, I64], Some(I32), memory_copy as *const ()),
            (Builtin::MemoryInit, &[I32, I32, I64, I32, I32], Some(I32), memory_init as *const ()),
            (Builtin::DataDrop, &[I32], None, data_drop as *const ()),
            (Builtin::TableGrow, &[I32, I64, Pointer], Some(I64), table_grow as *const ()),
            (Builtin::TableFill, &[I32, I64, Pointer, I64], Some(I32), table_fill as *const ()),
            (Builtin::TableCopy, &[I32, I32, I64, I64, I64], Some(I32), table_copy as *const ()),
            (Builtin::TableInit, &[I32, I32, I64, I32, I32], Some(I32), table_init as *const ()),
            (Builtin::ElemDrop, &[I32], None, elem_drop as *const ()),
            (Builtin::TableGetLazyInit, &[I32, I64], Some(Pointer), table_get_lazy_init as *const ()),
            (Builtin::RefFunc, &[I32], Some(Pointer), ref_func as *const ()),
            (Builtin::FmaF32, &[I32, I32, I32], Some(I32), fma_f32 as *const ()),
            (Builtin::FmaF64, &[I64, I64, I64], Some(I64), fma_f64 as *const ()),
            (Builtin::NewEpoch, &[], None, wasmetal_new_epoch as *const ()),
            (Builtin::OutOfFuel, &[], None, wasmetal_out_of_fuel as *const ()),
        ]
    }

    #[test]
    fn every_builtin_has_its_index_signature_and_table_slot() {
        let expected = expected();
        assert_eq!(Builtin::ALL.len(), expected.len());
        assert_eq!(BUILTINS.0.len(), expected.len());
        for (index, (builtin, params, result, entry)) in expected.into_iter().enumerate() {
            assert_eq!(builtin as usize, index, "{builtin:?}");
            assert_eq!(Builtin::ALL[index], builtin, "{builtin:?}");
            assert_eq!(builtin.params(), params, "{builtin:?}");
            assert_eq!(builtin.result(), result, "{builtin:?}");
            assert_eq!(BUILTINS.0[index], entry, "{builtin:?}");
            let preserving = matches!(builtin, Builtin::NewEpoch | Builtin::OutOfFuel);
            assert_eq!(builtin.preserves_all(), preserving, "{builtin:?}");
            // A register-preserving entry answers in `builtin_status`, not in registers.
            assert!(!preserving || (params.is_empty() && result.is_none()), "{builtin:?}");
        }
    }
}
