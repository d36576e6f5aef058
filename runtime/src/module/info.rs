//! What a module declares, in the runtime's own types: the result of parsing and
//! validation, shared by the compiler (offsets, signatures) and instantiation.

use core::ops::Range;

use hashbrown::HashMap;

use crate::module::const_expr::ConstExpr;
use crate::prelude::*;
use crate::types::*;

/// An import or export target in one of the four index spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityIndex {
    Function(FuncIndex),
    Table(TableIndex),
    Memory(MemoryIndex),
    Global(GlobalIndex),
}

/// One import.
#[derive(Clone, Debug)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub index: EntityIndex,
}

/// Where an element segment goes.
#[derive(Clone, Debug, PartialEq)]
pub enum ElementKind {
    Passive,
    Active { table: TableIndex, offset: ConstExpr },
    Declared,
}

/// The items of an element segment.
#[derive(Clone, Debug, PartialEq)]
pub enum ElementItems {
    /// Function indices (`None` never occurs in this form, but expressions can be null).
    Functions(Vec<FuncIndex>),
    /// Constant expressions (`ref.func`, `ref.null`, `global.get`).
    Expressions(Vec<ConstExpr>),
}

impl ElementItems {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            ElementItems::Functions(items) => items.len(),
            ElementItems::Expressions(items) => items.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element segment.
#[derive(Clone, Debug)]
pub struct ElementSegment {
    pub kind: ElementKind,
    pub element_type: RefType,
    pub items: ElementItems,
}

/// Where a data segment goes.
#[derive(Clone, Debug)]
pub enum DataKind {
    Passive,
    Active { memory: MemoryIndex, offset: ConstExpr },
}

/// A data segment; its bytes live in [`ModuleInfo::data_bytes`].
#[derive(Clone, Debug)]
pub struct DataSegment {
    pub kind: DataKind,
    pub bytes: Range<usize>,
}

/// A sentinel in precomputed table contents: the element is null.
pub const NULL_FUNC: u32 = u32::MAX;

/// The initial contents of a defined funcref table, when every active segment that
/// targets it has a constant offset: element `i` is `funcs[i]` (a `FuncIndex`, or
/// [`NULL_FUNC`]). Instantiation then leaves the table's elements lazily initialized.
#[derive(Clone, Debug, Default)]
pub struct PrecomputedTable {
    pub funcs: Vec<u32>,
}

/// How a defined table is initialized.
#[derive(Clone, Debug)]
pub enum TableInit {
    /// Lazily, from this precomputed array (funcref tables).
    Lazy(PrecomputedTable),
    /// Eagerly at instantiation (externref tables, or non-constant segment offsets).
    Eager,
}

/// A memory's initial contents: `bytes` (a multiple of the page size) belong at byte
/// `offset` (page-aligned); everything else starts as zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryImageSpec {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Pages in memory images are this large (the base page of every platform here).
pub const IMAGE_PAGE: u64 = 4096;

/// Everything the module declares.
#[derive(Clone, Debug, Default)]
pub struct ModuleInfo {
    pub types: Vec<FuncType>,
    /// Type of every function (imports first).
    pub functions: Vec<TypeIndex>,
    pub tables: Vec<TableType>,
    pub memories: Vec<MemoryType>,
    pub globals: Vec<GlobalType>,
    /// Initializers of the defined globals.
    pub global_inits: Vec<ConstExpr>,
    pub imports: Vec<Import>,
    pub exports: Vec<(String, EntityIndex)>,
    pub export_names: HashMap<String, usize>,
    pub start: Option<FuncIndex>,
    pub elements: Vec<ElementSegment>,
    pub data: Vec<DataSegment>,
    pub data_bytes: Vec<u8>,
    pub num_imported_funcs: usize,
    pub num_imported_tables: usize,
    pub num_imported_memories: usize,
    pub num_imported_globals: usize,
    /// Functions whose reference can be taken (exported, in an element segment or
    /// `ref.func`): each gets a slot in the instance's funcref array.
    pub escaping: Vec<bool>,
    /// Slot in the funcref array for each escaping function.
    pub funcref_slot: Vec<u32>,
    pub num_funcref_slots: usize,
    /// Initialization of each defined table.
    pub table_inits: Vec<TableInit>,
    /// The initial contents of each defined memory as a page-aligned image, when all
    /// its active data segments have constant offsets within its initial size.
    pub memory_images: Vec<Option<MemoryImageSpec>>,
    /// Active data segments whose bytes are already in their memory's image.
    pub data_in_image: Vec<bool>,
    pub module_name: Option<String>,
    pub func_names: HashMap<u32, String>,
}

impl ModuleInfo {
    /// Number of functions the module defines.
    pub fn num_defined_funcs(&self) -> usize {
        self.functions.len() - self.num_imported_funcs
    }

    pub fn num_defined_tables(&self) -> usize {
        self.tables.len() - self.num_imported_tables
    }

    pub fn num_defined_memories(&self) -> usize {
        self.memories.len() - self.num_imported_memories
    }

    pub fn num_defined_globals(&self) -> usize {
        self.globals.len() - self.num_imported_globals
    }

    /// The defined index of `func`, or `None` if it is imported.
    pub fn defined_func(&self, func: FuncIndex) -> Option<DefinedFuncIndex> {
        func.index().checked_sub(self.num_imported_funcs).map(DefinedFuncIndex::new)
    }

    pub fn func_index(&self, defined: DefinedFuncIndex) -> FuncIndex {
        FuncIndex::new(defined.index() + self.num_imported_funcs)
    }

    pub fn defined_table(&self, table: TableIndex) -> Option<DefinedTableIndex> {
        table.index().checked_sub(self.num_imported_tables).map(DefinedTableIndex::new)
    }

    pub fn defined_memory(&self, memory: MemoryIndex) -> Option<DefinedMemoryIndex> {
        memory.index().checked_sub(self.num_imported_memories).map(DefinedMemoryIndex::new)
    }

    pub fn defined_global(&self, global: GlobalIndex) -> Option<DefinedGlobalIndex> {
        global.index().checked_sub(self.num_imported_globals).map(DefinedGlobalIndex::new)
    }

    /// The signature of function `func`.
    pub fn func_type(&self, func: FuncIndex) -> &FuncType {
        &self.types[self.functions[func.index()].index()]
    }

    /// Looks up an export by name.
    pub fn export(&self, name: &str) -> Option<EntityIndex> {
        self.export_names.get(name).map(|&position| self.exports[position].1)
    }

    /// The type of an entity, as seen from outside.
    pub fn entity_type(&self, index: EntityIndex) -> ExternType {
        match index {
            EntityIndex::Function(func) => ExternType::Func(self.func_type(func).clone()),
            EntityIndex::Table(table) => ExternType::Table(self.tables[table.index()]),
            EntityIndex::Memory(memory) => ExternType::Memory(self.memories[memory.index()]),
            EntityIndex::Global(global) => ExternType::Global(self.globals[global.index()]),
        }
    }
}
