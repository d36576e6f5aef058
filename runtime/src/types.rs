//! WebAssembly types and the index newtypes the runtime uses.
//!
//! Indices carry which space they index (`FuncIndex`, `DefinedMemoryIndex`, ...), so a
//! defined index can never be passed where a module-wide one is expected.

use core::fmt;

use crate::prelude::*;

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            /// The index as a `usize`, for indexing vectors.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }

            /// Builds the index from a `usize` position.
            ///
            /// # Panics
            /// If `index` does not fit in 32 bits. Positions come from index spaces
            /// the validator bounds far below that, so this is a runtime bug, never
            /// something a module can cause.
            #[inline]
            #[track_caller]
            pub fn new(index: usize) -> Self {
                match u32::try_from(index) {
                    Ok(index) => Self(index),
                    Err(_) => panic!(concat!(stringify!($name), " {} does not fit in 32 bits"), index),
                }
            }
        }
    };
}

index_type!(/// A function in the module's function space (imports first).
    FuncIndex);
index_type!(/// A function defined (not imported) by the module.
    DefinedFuncIndex);
index_type!(/// A type in the module's type section.
    TypeIndex);
index_type!(/// A table in the module's table space (imports first).
    TableIndex);
index_type!(/// A table defined by the module.
    DefinedTableIndex);
index_type!(/// A memory in the module's memory space (imports first).
    MemoryIndex);
index_type!(/// A memory defined by the module.
    DefinedMemoryIndex);
index_type!(/// A global in the module's global space (imports first).
    GlobalIndex);
index_type!(/// A global defined by the module.
    DefinedGlobalIndex);
index_type!(/// An element segment.
    ElemIndex);
index_type!(/// A data segment.
    DataIndex);
index_type!(/// A function type registered engine-wide; equal ids mean equal types.
    SharedTypeIndex);

/// A reference type (this runtime supports the two of WebAssembly 2.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefType {
    FuncRef,
    ExternRef,
}

/// A value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    /// A 128-bit SIMD vector (fixed-width and relaxed SIMD).
    V128,
    Ref(RefType),
}

impl ValType {
    pub const FUNCREF: ValType = ValType::Ref(RefType::FuncRef);
    pub const EXTERNREF: ValType = ValType::Ref(RefType::ExternRef);
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::Ref(RefType::FuncRef) => "funcref",
            ValType::Ref(RefType::ExternRef) => "externref",
        })
    }
}

/// A function signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    params: Box<[ValType]>,
    results: Box<[ValType]>,
}

impl FuncType {
    /// A signature with these parameters and results.
    pub fn new(params: impl IntoIterator<Item = ValType>, results: impl IntoIterator<Item = ValType>) -> Self {
        Self { params: params.into_iter().collect(), results: results.into_iter().collect() }
    }

    pub fn params(&self) -> &[ValType] {
        &self.params
    }

    pub fn results(&self) -> &[ValType] {
        &self.results
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(func")?;
        if !self.params.is_empty() {
            f.write_str(" (param")?;
            for param in self.params.iter() {
                write!(f, " {param}")?;
            }
            f.write_str(")")?;
        }
        if !self.results.is_empty() {
            f.write_str(" (result")?;
            for result in self.results.iter() {
                write!(f, " {result}")?;
            }
            f.write_str(")")?;
        }
        f.write_str(")")
    }
}

/// Size of a WebAssembly page in bytes.
pub const WASM_PAGE_SIZE: u64 = 65536;

/// A memory's limits, in 64 KiB pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryType {
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub memory64: bool,
}

impl MemoryType {
    /// A 32-bit memory of `minimum` pages, growing up to `maximum`.
    pub fn new(minimum: u32, maximum: Option<u32>) -> Self {
        Self { minimum: u64::from(minimum), maximum: maximum.map(u64::from), memory64: false }
    }

    /// A 64-bit memory.
    pub fn new64(minimum: u64, maximum: Option<u64>) -> Self {
        Self { minimum, maximum, memory64: true }
    }

    /// The largest number of pages the index type allows.
    pub fn absolute_max_pages(&self) -> u64 {
        if self.memory64 { 1 << 48 } else { 1 << 16 }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(memory{} {}", if self.memory64 { " i64" } else { "" }, self.minimum)?;
        if let Some(max) = self.maximum {
            write!(f, " {max}")?;
        }
        f.write_str(")")
    }
}

/// A table's element type and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableType {
    pub element: RefType,
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub table64: bool,
}

impl TableType {
    /// A 32-bit-indexed table.
    pub fn new(element: RefType, minimum: u32, maximum: Option<u32>) -> Self {
        Self { element, minimum: u64::from(minimum), maximum: maximum.map(u64::from), table64: false }
    }
}

impl fmt::Display for TableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(table {}", self.minimum)?;
        if let Some(max) = self.maximum {
            write!(f, " {max}")?;
        }
        write!(f, " {})", ValType::Ref(self.element))
    }
}

/// Whether a global can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutability {
    Const,
    Var,
}

/// A global's content type and mutability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalType {
    pub content: ValType,
    pub mutability: Mutability,
}

impl GlobalType {
    pub fn new(content: ValType, mutability: Mutability) -> Self {
        Self { content, mutability }
    }
}

impl fmt::Display for GlobalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mutability {
            Mutability::Const => write!(f, "(global {})", self.content),
            Mutability::Var => write!(f, "(global (mut {}))", self.content),
        }
    }
}

/// The type of an import or export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternType {
    Func(FuncType),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
}

impl fmt::Display for ExternType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternType::Func(ty) => ty.fmt(f),
            ExternType::Table(ty) => ty.fmt(f),
            ExternType::Memory(ty) => ty.fmt(f),
            ExternType::Global(ty) => ty.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_round_trip_every_32_bit_position() {
        assert_eq!(FuncIndex::new(0).index(), 0);
        assert_eq!(DefinedTableIndex::new(7).index(), 7);
        assert_eq!(SharedTypeIndex::new(u32::MAX as usize), SharedTypeIndex(u32::MAX));
    }

    #[test]
    #[should_panic(expected = "MemoryIndex 4294967296 does not fit in 32 bits")]
    fn an_index_past_32_bits_is_refused_not_truncated() {
        let _ = MemoryIndex::new(u32::MAX as usize + 1);
    }
}
