//! Where each part of a module's `VMContext` lives, computed once per module.
//!
//! ```text
//! header (vm::vmcontext::header)
//! imported functions   [VMFunctionImport; imported funcs]
//! memories             [*mut VMMemoryDefinition; all memories]   (imports first)
//! tables               [*mut VMTableDefinition; all tables]      (imports first)
//! imported globals     [*mut VMGlobalDefinition; imported globals]
//! defined globals      [VMGlobalDefinition; defined globals]     (16-byte aligned)
//! function references  [VMFuncRef; escaping functions]           (written lazily)
//! type ids             [u32; module types]                       (engine-wide ids)
//! ```
//!
//! `call_indirect` compares the callee's engine-wide type id with the one in this
//! vmctx's type-id array rather than with a constant in the code, so compiled code
//! names no engine's ids and a serialized module runs in any engine.
//!
//! Memories and tables are reached through a pointer whether imported or defined, so
//! generated code treats both alike and grown tables/memories update in one place.

use crate::module::info::ModuleInfo;
use crate::types::*;
use crate::vm::vmcontext::{field, header};

/// Byte offsets of the regions of a `VMContext` for one module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VMOffsets {
    pub imported_functions: u32,
    pub memories: u32,
    pub tables: u32,
    pub imported_globals: u32,
    pub defined_globals: u32,
    pub func_refs: u32,
    pub type_ids: u32,
    pub size: u32,
}

impl VMOffsets {
    /// Lays out the regions in the order above.
    pub fn new(info: &ModuleInfo) -> Self {
        let mut at = header::SIZE;
        let mut take = |count: usize, each: u32, align: u32| {
            at = at.next_multiple_of(align);
            let start = at;
            at += count as u32 * each;
            start
        };
        let imported_functions = take(info.num_imported_funcs, field::IMPORT_FUNC_SIZE, 8);
        let memories = take(info.memories.len(), 8, 8);
        let tables = take(info.tables.len(), 8, 8);
        let imported_globals = take(info.num_imported_globals, 8, 8);
        let defined_globals = take(info.num_defined_globals(), field::GLOBAL_DEFINITION_SIZE, 16);
        let func_refs = take(info.num_funcref_slots, field::FUNC_REF_SIZE, 16);
        let type_ids = take(info.types.len(), 4, 4);
        let size = take(0, 0, 16);
        Self { imported_functions, memories, tables, imported_globals, defined_globals, func_refs, type_ids, size }
    }

    pub fn imported_function(&self, index: FuncIndex) -> u32 {
        self.imported_functions + index.0 * field::IMPORT_FUNC_SIZE
    }

    /// The slot holding memory `index`'s definition pointer.
    pub fn memory(&self, index: MemoryIndex) -> u32 {
        self.memories + index.0 * 8
    }

    /// The slot holding table `index`'s definition pointer.
    pub fn table(&self, index: TableIndex) -> u32 {
        self.tables + index.0 * 8
    }

    /// The slot holding imported global `index`'s definition pointer.
    pub fn imported_global(&self, index: GlobalIndex) -> u32 {
        self.imported_globals + index.0 * 8
    }

    pub fn defined_global(&self, index: DefinedGlobalIndex) -> u32 {
        self.defined_globals + index.0 * field::GLOBAL_DEFINITION_SIZE
    }

    /// The slot holding the engine-wide id of module type `index`.
    pub fn type_id(&self, index: TypeIndex) -> u32 {
        self.type_ids + index.0 * 4
    }

    pub fn func_ref(&self, slot: u32) -> u32 {
        self.func_refs + slot * field::FUNC_REF_SIZE
    }
}
