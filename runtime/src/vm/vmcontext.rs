//! The data layouts generated code reads and writes: defined once here, `#[repr(C)]`,
//! pinned by `offset_of!` tests. The translator only ever uses the offsets exported by
//! this module and [`super::offsets::VMOffsets`].

/// Opaque: generated code only ever holds pointers to it.
#[repr(C)]
pub struct VMContext {
    _opaque: [u8; 0],
}

/// A function reference ("anyfunc"): everything needed to call a function.
///
/// Instances keep an array of these for their escaping functions, written lazily the
/// first time a reference is taken. Host functions keep theirs in their context.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VMFuncRef {
    /// Entry with the wasm calling convention: `(vmctx, caller_vmctx, params..) -> results`.
    pub wasm_call: *const u8,
    /// Entry with the array convention: `extern "C" fn(wasm_call, vmctx, caller_vmctx, values)`.
    pub array_call: *const u8,
    /// Engine-wide id of the function's type (`SharedTypeIndex`).
    pub type_index: u32,
    pub _pad: u32,
    /// The callee's context: an instance's `VMContext`, or a host function's context.
    pub vmctx: *mut VMContext,
}

/// An imported function as the importer sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VMFunctionImport {
    pub wasm_call: *const u8,
    pub array_call: *const u8,
    pub vmctx: *mut VMContext,
    /// The exporter's function reference (so `ref.func` of an import is the original).
    pub func_ref: *mut VMFuncRef,
}

/// A table's storage as generated code sees it. Elements are pointer-sized: for
/// funcref tables `0` = not yet initialized, `ptr | 1` = initialized (`1` = null).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VMTableDefinition {
    pub base: *mut usize,
    pub current_elements: u64,
}

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VMMemoryDefinition {
    /// Start of the memory. Never moves for 32-bit memories (they live in a fixed
    /// reservation); 64-bit memories reload it at every access.
    pub base: *mut u8,
    /// Accessible bytes.
    pub current_length: u64,
}

/// A global's storage: the value's bits, little-endian, at offset 0.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct VMGlobalDefinition {
    pub bits: [u8; 16],
}

impl VMGlobalDefinition {
    pub fn from_u64(value: u64) -> Self {
        let mut bits = [0; 16];
        bits[..8].copy_from_slice(&value.to_le_bytes());
        Self { bits }
    }

    pub fn get_u64(&self) -> u64 {
        u64::from_le_bytes(self.bits[..8].try_into().expect("8 bytes"))
    }

    pub fn set_u64(&mut self, value: u64) {
        self.bits[..8].copy_from_slice(&value.to_le_bytes());
    }

    /// All 16 bytes (a `v128` global; narrower values are zero-extended).
    pub fn from_u128(value: u128) -> Self {
        Self { bits: value.to_le_bytes() }
    }

    pub fn get_u128(&self) -> u128 {
        u128::from_le_bytes(self.bits)
    }

    pub fn set_u128(&mut self, value: u128) {
        self.bits = value.to_le_bytes();
    }
}

/// Per-store limits that generated code checks: the stack limit (function prologues)
/// and fuel. (The epoch deadline lives in the store's `vm::epoch::EpochSlot`.)
#[repr(C)]
#[derive(Debug)]
pub struct VMRuntimeLimits {
    /// Lowest stack address wasm may use; prologues trap below it.
    pub stack_limit: usize,
    /// Fuel consumed, biased negative: execution may go on while it is below zero.
    pub fuel_consumed: i64,
    /// Verdict of the last instrumentation builtin (`NewEpoch`, `OutOfFuel`): they
    /// preserve every register, so they answer here; 0 = go on, otherwise trap.
    pub builtin_status: u64,
}

impl Default for VMRuntimeLimits {
    fn default() -> Self {
        Self { stack_limit: usize::MAX, fuel_consumed: 0, builtin_status: 0 }
    }
}

/// A raw value slot of the array calling convention (16 bytes, little-endian bits).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValRaw {
    pub bits: u128,
}

impl ValRaw {
    pub fn from_u64(value: u64) -> Self {
        Self { bits: u128::from(value) }
    }

    pub fn u64(self) -> u64 {
        self.bits as u64
    }

    pub fn from_u128(value: u128) -> Self {
        Self { bits: value }
    }

    pub fn u128(self) -> u128 {
        self.bits
    }
}

/// The fixed header of every `VMContext`.
pub mod header {
    /// `u32` magic, to catch bad pointers in debug assertions.
    pub const MAGIC: u32 = u32::from_le_bytes(*b"wmvc");
    pub const MAGIC_OFFSET: u32 = 0;
    pub const RUNTIME_LIMITS: u32 = 8;
    pub const BUILTINS: u32 = 16;
    /// The engine's epoch counter.
    pub const EPOCH_PTR: u32 = 24;
    pub const STORE: u32 = 32;
    pub const INSTANCE: u32 = 40;
    /// The store's `vm::epoch::EpochSlot` (null without epoch interruption).
    pub const EPOCH_SLOT: u32 = 48;
    pub const SIZE: u32 = 56;
}

/// Offsets within the shared structures (generated code's view: unused without the
/// compiler).
#[cfg_attr(not(feature = "compiler"), allow(dead_code))]
pub mod field {
    use super::*;
    use core::mem::offset_of;

    pub const FUNC_REF_WASM_CALL: u32 = offset_of!(VMFuncRef, wasm_call) as u32;
    #[cfg_attr(not(test), expect(dead_code, reason = "pinned by the layout test; no code reads it"))]
    pub const FUNC_REF_ARRAY_CALL: u32 = offset_of!(VMFuncRef, array_call) as u32;
    pub const FUNC_REF_TYPE_INDEX: u32 = offset_of!(VMFuncRef, type_index) as u32;
    pub const FUNC_REF_VMCTX: u32 = offset_of!(VMFuncRef, vmctx) as u32;
    pub const FUNC_REF_SIZE: u32 = core::mem::size_of::<VMFuncRef>() as u32;

    pub const IMPORT_FUNC_WASM_CALL: u32 = offset_of!(VMFunctionImport, wasm_call) as u32;
    pub const IMPORT_FUNC_VMCTX: u32 = offset_of!(VMFunctionImport, vmctx) as u32;
    #[cfg_attr(not(test), expect(dead_code, reason = "pinned by the layout test; no code reads it"))]
    pub const IMPORT_FUNC_FUNC_REF: u32 = offset_of!(VMFunctionImport, func_ref) as u32;
    pub const IMPORT_FUNC_SIZE: u32 = core::mem::size_of::<VMFunctionImport>() as u32;

    pub const TABLE_BASE: u32 = offset_of!(VMTableDefinition, base) as u32;
    pub const TABLE_CURRENT_ELEMENTS: u32 = offset_of!(VMTableDefinition, current_elements) as u32;
    #[cfg_attr(not(test), expect(dead_code, reason = "pinned by the layout test; no code reads it"))]
    pub const TABLE_DEFINITION_SIZE: u32 = core::mem::size_of::<VMTableDefinition>() as u32;

    pub const MEMORY_BASE: u32 = offset_of!(VMMemoryDefinition, base) as u32;
    pub const MEMORY_CURRENT_LENGTH: u32 = offset_of!(VMMemoryDefinition, current_length) as u32;
    #[cfg_attr(not(test), expect(dead_code, reason = "pinned by the layout test; no code reads it"))]
    pub const MEMORY_DEFINITION_SIZE: u32 = core::mem::size_of::<VMMemoryDefinition>() as u32;

    pub const GLOBAL_DEFINITION_SIZE: u32 = core::mem::size_of::<VMGlobalDefinition>() as u32;

    pub const LIMITS_STACK_LIMIT: u32 = offset_of!(VMRuntimeLimits, stack_limit) as u32;
    pub const LIMITS_FUEL_CONSUMED: u32 = offset_of!(VMRuntimeLimits, fuel_consumed) as u32;
    pub const LIMITS_BUILTIN_STATUS: u32 = offset_of!(VMRuntimeLimits, builtin_status) as u32;

    pub const VAL_RAW_SIZE: u32 = core::mem::size_of::<ValRaw>() as u32;
}

#[cfg(test)]
mod tests {
    use super::field::*;

    #[test]
    fn layouts_are_pinned() {
        assert_eq!(
            (FUNC_REF_WASM_CALL, FUNC_REF_ARRAY_CALL, FUNC_REF_TYPE_INDEX, FUNC_REF_VMCTX, FUNC_REF_SIZE),
            (0, 8, 16, 24, 32)
        );
        assert_eq!((IMPORT_FUNC_WASM_CALL, IMPORT_FUNC_VMCTX, IMPORT_FUNC_FUNC_REF, IMPORT_FUNC_SIZE), (0, 16, 24, 32));
        assert_eq!((TABLE_BASE, TABLE_CURRENT_ELEMENTS, TABLE_DEFINITION_SIZE), (0, 8, 16));
        assert_eq!((MEMORY_BASE, MEMORY_CURRENT_LENGTH, MEMORY_DEFINITION_SIZE), (0, 8, 16));
        assert_eq!((GLOBAL_DEFINITION_SIZE, VAL_RAW_SIZE), (16, 16));
        assert_eq!((LIMITS_STACK_LIMIT, LIMITS_FUEL_CONSUMED, LIMITS_BUILTIN_STATUS), (0, 8, 16));
    }
}
