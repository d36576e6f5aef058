//! Parsing and validating a module's sections into [`ModuleInfo`].
//!
//! Function bodies are not decoded here: they are handed to the compiler together with
//! their validators, which check each operator as it is translated (one pass over the
//! code, as Wasmtime does).

use wasmparser::{
    ExternalKind, FuncToValidate, FunctionBody, KnownCustom, Name, Parser, Payload, TypeRef, ValidPayload, Validator,
    ValidatorResources, WasmFeatures,
};

use crate::error::{Error, Result};
use crate::module::const_expr::{ConstExpr, ConstOp, ConstValue};
use crate::module::info::*;
use crate::prelude::*;
use crate::types::*;

/// Which optional WebAssembly features a module may use (all on by default). The
/// base is WebAssembly 2.0, whose fixed-width SIMD can be turned off too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub tail_call: bool,
    pub extended_const: bool,
    pub multi_memory: bool,
    pub memory64: bool,
    pub simd: bool,
    pub relaxed_simd: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            tail_call: true,
            extended_const: true,
            multi_memory: true,
            memory64: true,
            simd: true,
            relaxed_simd: true,
        }
    }
}

impl Features {
    /// The validator's feature set for these features.
    pub fn wasm_features(&self) -> WasmFeatures {
        let mut features = WasmFeatures::WASM2;
        features.set(WasmFeatures::SIMD, self.simd);
        // Relaxed SIMD builds on fixed-width SIMD: the validator wants both.
        features.set(WasmFeatures::RELAXED_SIMD, self.simd && self.relaxed_simd);
        features.set(WasmFeatures::TAIL_CALL, self.tail_call);
        features.set(WasmFeatures::EXTENDED_CONST, self.extended_const);
        features.set(WasmFeatures::MULTI_MEMORY, self.multi_memory);
        features.set(WasmFeatures::MEMORY64, self.memory64);
        features
    }
}

/// A function body waiting to be compiled, with the validator for its operators.
pub struct FunctionInput<'a> {
    pub body: FunctionBody<'a>,
    pub validator: FuncToValidate<ValidatorResources>,
}

/// The result of parsing: declarations plus the bodies to compile.
pub struct ModuleTranslation<'a> {
    pub info: ModuleInfo,
    pub functions: Vec<FunctionInput<'a>>,
}

pub(crate) fn val_type(ty: wasmparser::ValType) -> Result<ValType> {
    Ok(match ty {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::Ref(r) => ValType::Ref(ref_type(r)?),
        wasmparser::ValType::V128 => ValType::V128,
    })
}

pub(crate) fn ref_type(ty: wasmparser::RefType) -> Result<RefType> {
    if ty.is_func_ref() {
        Ok(RefType::FuncRef)
    } else if ty.is_extern_ref() {
        Ok(RefType::ExternRef)
    } else {
        Err(Error::unsupported(format!("reference type {ty}")))
    }
}

fn table_type(ty: wasmparser::TableType) -> Result<TableType> {
    Ok(TableType { element: ref_type(ty.element_type)?, minimum: ty.initial, maximum: ty.maximum, table64: ty.table64 })
}

fn memory_type(ty: wasmparser::MemoryType) -> Result<MemoryType> {
    if ty.shared {
        return Err(Error::unsupported("shared memories (threads)"));
    }
    if ty.page_size_log2.is_some_and(|log2| log2 != 16) {
        return Err(Error::unsupported("custom page sizes"));
    }
    Ok(MemoryType { minimum: ty.initial, maximum: ty.maximum, memory64: ty.memory64 })
}

fn global_type(ty: wasmparser::GlobalType) -> Result<GlobalType> {
    Ok(GlobalType {
        content: val_type(ty.content_type)?,
        mutability: if ty.mutable { Mutability::Var } else { Mutability::Const },
    })
}

/// Parses and validates `bytes` (function bodies are validated during compilation).
pub fn translate(bytes: &[u8], features: Features) -> Result<ModuleTranslation<'_>> {
    let mut validator = Validator::new_with_features(features.wasm_features());
    let mut info = ModuleInfo::default();
    let mut functions = Vec::new();
    let mut parser = Parser::new(0);
    parser.set_features(features.wasm_features());
    for payload in parser.parse_all(bytes) {
        let payload = payload?;
        match validator.payload(&payload)? {
            ValidPayload::Func(validator, body) => functions.push(FunctionInput { body, validator }),
            ValidPayload::Parser(_) => return Err(Error::unsupported("nested modules or components")),
            ValidPayload::Ok | ValidPayload::End(_) => {}
        }
        section(&mut info, payload)?;
    }
    finish(&mut info);
    Ok(ModuleTranslation { info, functions })
}

fn section(info: &mut ModuleInfo, payload: Payload<'_>) -> Result<()> {
    match payload {
        Payload::TypeSection(reader) => {
            for group in reader {
                for sub in group?.into_types() {
                    match &sub.composite_type.inner {
                        wasmparser::CompositeInnerType::Func(func) => {
                            let params = func.params().iter().map(|&t| val_type(t)).collect::<Result<Vec<_>>>()?;
                            let results = func.results().iter().map(|&t| val_type(t)).collect::<Result<Vec<_>>>()?;
                            info.types.push(FuncType::new(params, results));
                        }
                        _ => return Err(Error::unsupported("GC types")),
                    }
                }
            }
        }
        Payload::ImportSection(reader) => {
            for import in reader.into_imports() {
                let import = import?;
                let index = match import.ty {
                    TypeRef::Func(type_index) => {
                        info.functions.push(TypeIndex(type_index));
                        info.num_imported_funcs += 1;
                        EntityIndex::Function(FuncIndex::new(info.functions.len() - 1))
                    }
                    TypeRef::Table(ty) => {
                        info.tables.push(table_type(ty)?);
                        info.num_imported_tables += 1;
                        EntityIndex::Table(TableIndex::new(info.tables.len() - 1))
                    }
                    TypeRef::Memory(ty) => {
                        info.memories.push(memory_type(ty)?);
                        info.num_imported_memories += 1;
                        EntityIndex::Memory(MemoryIndex::new(info.memories.len() - 1))
                    }
                    TypeRef::Global(ty) => {
                        info.globals.push(global_type(ty)?);
                        info.num_imported_globals += 1;
                        EntityIndex::Global(GlobalIndex::new(info.globals.len() - 1))
                    }
                    _ => return Err(Error::unsupported("tag or exact-function imports")),
                };
                info.imports.push(Import { module: import.module.to_string(), name: import.name.to_string(), index });
            }
        }
        Payload::FunctionSection(reader) => {
            for type_index in reader {
                info.functions.push(TypeIndex(type_index?));
            }
        }
        Payload::TableSection(reader) => {
            for table in reader {
                let table = table?;
                if !matches!(table.init, wasmparser::TableInit::RefNull) {
                    return Err(Error::unsupported("table initializer expressions"));
                }
                info.tables.push(table_type(table.ty)?);
            }
        }
        Payload::MemorySection(reader) => {
            for memory in reader {
                info.memories.push(memory_type(memory?)?);
            }
        }
        Payload::GlobalSection(reader) => {
            for global in reader {
                let global = global?;
                info.globals.push(global_type(global.ty)?);
                info.global_inits.push(ConstExpr::from_reader(&global.init_expr)?);
            }
        }
        Payload::ExportSection(reader) => {
            for export in reader {
                let export = export?;
                let index = match export.kind {
                    ExternalKind::Func | ExternalKind::FuncExact => EntityIndex::Function(FuncIndex(export.index)),
                    ExternalKind::Table => EntityIndex::Table(TableIndex(export.index)),
                    ExternalKind::Memory => EntityIndex::Memory(MemoryIndex(export.index)),
                    ExternalKind::Global => EntityIndex::Global(GlobalIndex(export.index)),
                    ExternalKind::Tag => return Err(Error::unsupported("tag exports")),
                };
                info.export_names.insert(export.name.to_string(), info.exports.len());
                info.exports.push((export.name.to_string(), index));
            }
        }
        Payload::StartSection { func, .. } => info.start = Some(FuncIndex(func)),
        Payload::ElementSection(reader) => {
            for element in reader {
                let element = element?;
                let kind = match element.kind {
                    wasmparser::ElementKind::Passive => ElementKind::Passive,
                    wasmparser::ElementKind::Declared => ElementKind::Declared,
                    wasmparser::ElementKind::Active { table_index, offset_expr } => ElementKind::Active {
                        table: TableIndex(table_index.unwrap_or(0)),
                        offset: ConstExpr::from_reader(&offset_expr)?,
                    },
                };
                let (element_type, items) = match element.items {
                    wasmparser::ElementItems::Functions(reader) => {
                        let funcs = reader.into_iter().map(|f| f.map(FuncIndex)).collect::<Result<Vec<_>, _>>()?;
                        (RefType::FuncRef, ElementItems::Functions(funcs))
                    }
                    wasmparser::ElementItems::Expressions(ty, reader) => {
                        let mut exprs = Vec::new();
                        for expr in reader {
                            exprs.push(ConstExpr::from_reader(&expr?)?);
                        }
                        (ref_type(ty)?, ElementItems::Expressions(exprs))
                    }
                };
                info.elements.push(ElementSegment { kind, element_type, items });
            }
        }
        Payload::DataSection(reader) => {
            for data in reader {
                let data = data?;
                let kind = match data.kind {
                    wasmparser::DataKind::Passive => DataKind::Passive,
                    wasmparser::DataKind::Active { memory_index, offset_expr } => DataKind::Active {
                        memory: MemoryIndex(memory_index),
                        offset: ConstExpr::from_reader(&offset_expr)?,
                    },
                };
                let start = info.data_bytes.len();
                info.data_bytes.extend_from_slice(data.data);
                info.data.push(DataSegment { kind, bytes: start..info.data_bytes.len() });
            }
        }
        Payload::CustomSection(reader) => {
            if let KnownCustom::Name(names) = reader.as_known() {
                // A malformed name section is ignored, as the spec allows.
                for name in names.into_iter().flatten() {
                    match name {
                        Name::Module { name, .. } => info.module_name = Some(name.to_string()),
                        Name::Function(map) => {
                            for naming in map.into_iter().flatten() {
                                info.func_names.insert(naming.index, naming.name.to_string());
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Derived facts: which functions escape, and how each defined table starts out.
pub(crate) fn finish(info: &mut ModuleInfo) {
    let mut escaping = vec![false; info.functions.len()];
    let mut mark = |func: FuncIndex| {
        if let Some(slot) = escaping.get_mut(func.index()) {
            *slot = true;
        }
    };
    if let Some(start) = info.start {
        mark(start);
    }
    for (_, export) in &info.exports {
        if let EntityIndex::Function(func) = export {
            mark(*func);
        }
    }
    let mark_expr = |expr: &ConstExpr, mark: &mut dyn FnMut(FuncIndex)| {
        for op in &expr.ops {
            if let ConstOp::RefFunc(func) = op {
                mark(*func);
            }
        }
    };
    for init in &info.global_inits {
        mark_expr(init, &mut mark);
    }
    for segment in &info.elements {
        match &segment.items {
            ElementItems::Functions(funcs) => funcs.iter().for_each(|&f| mark(f)),
            ElementItems::Expressions(exprs) => exprs.iter().for_each(|e| mark_expr(e, &mut mark)),
        }
    }
    let mut slots = vec![u32::MAX; info.functions.len()];
    let mut next = 0u32;
    for (func, escapes) in escaping.iter().enumerate() {
        if *escapes {
            slots[func] = next;
            next += 1;
        }
    }
    info.escaping = escaping;
    info.funcref_slot = slots;
    info.num_funcref_slots = next as usize;
    info.table_inits = precompute_tables(info);
    precompute_memory_images(info);
}

/// A memory's image with the active data segments it holds, as `(start, segment index)`.
type BuiltImage = (MemoryImageSpec, Vec<(u64, usize)>);

/// Builds each defined memory's image from its active data segments, when every one of
/// them has a constant offset inside the initial size (otherwise the segments are
/// copied at instantiation, which also reports out-of-bounds segments as traps).
fn precompute_memory_images(info: &mut ModuleInfo) {
    let defined = info.num_defined_memories();
    let mut extents: Vec<Option<Vec<(u64, usize)>>> = vec![Some(Vec::new()); defined];
    for (index, segment) in info.data.iter().enumerate() {
        let DataKind::Active { memory, offset } = &segment.kind else { continue };
        let Some(memory_index) = info.defined_memory(*memory) else { continue };
        let Some(list) = &mut extents[memory_index.index()] else { continue };
        let initial = info.memories[memory.index()].minimum.saturating_mul(crate::types::WASM_PAGE_SIZE);
        match offset.as_constant() {
            Some(ConstValue::Bits(start))
                if start.checked_add(segment.bytes.len() as u64).is_some_and(|end| end <= initial) =>
            {
                list.push((start, index));
            }
            _ => extents[memory_index.index()] = None,
        }
    }
    info.data_in_image = vec![false; info.data.len()];
    let built: Vec<Option<BuiltImage>> = extents
        .into_iter()
        .map(|list| {
            let list = list?;
            if list.is_empty() {
                return None;
            }
            let low = list.iter().map(|&(start, _)| start).min()? & !(IMAGE_PAGE - 1);
            let high = list.iter().map(|&(start, index)| start + info.data[index].bytes.len() as u64).max()?;
            let len = (high - low).next_multiple_of(IMAGE_PAGE);
            // An image that is mostly zeros costs memory for nothing: leave sparse
            // contents to copying.
            let payload: u64 = list.iter().map(|&(_, index)| info.data[index].bytes.len() as u64).sum();
            if len == 0 || len > 64 << 20 || (len > 1 << 20 && payload * 4 < len) {
                return None;
            }
            let mut bytes = vec![0u8; len as usize];
            for &(start, index) in &list {
                let source = &info.data_bytes[info.data[index].bytes.clone()];
                let at = (start - low) as usize;
                bytes[at..at + source.len()].copy_from_slice(source);
            }
            Some((MemoryImageSpec { offset: low, bytes }, list))
        })
        .collect();
    info.memory_images = built
        .into_iter()
        .map(|image| {
            let (spec, list) = image?;
            for (_, index) in list {
                info.data_in_image[index] = true;
            }
            Some(spec)
        })
        .collect();
}

/// For each defined funcref table, the initial contents when all active segments into it
/// have constant offsets and stay in bounds; otherwise eager initialization.
fn precompute_tables(info: &ModuleInfo) -> Vec<TableInit> {
    let mut inits: Vec<TableInit> = info.tables[info.num_imported_tables..]
        .iter()
        .map(|table| match table.element {
            RefType::FuncRef if table.minimum <= 10_000_000 => {
                TableInit::Lazy(PrecomputedTable { funcs: vec![NULL_FUNC; table.minimum as usize] })
            }
            _ => TableInit::Eager,
        })
        .collect();
    for segment in &info.elements {
        let ElementKind::Active { table, offset } = &segment.kind else { continue };
        let Some(defined) = info.defined_table(*table) else { continue };
        let TableInit::Lazy(precomputed) = &mut inits[defined.index()] else { continue };
        let offset = match offset.as_constant() {
            Some(ConstValue::Bits(offset)) => offset,
            _ => {
                inits[defined.index()] = TableInit::Eager;
                continue;
            }
        };
        let funcs: Option<Vec<u32>> = match &segment.items {
            ElementItems::Functions(funcs) => Some(funcs.iter().map(|f| f.0).collect()),
            ElementItems::Expressions(exprs) => exprs
                .iter()
                .map(|expr| match expr.as_constant() {
                    Some(ConstValue::Func(func)) => Some(func.0),
                    Some(ConstValue::Null) => Some(NULL_FUNC),
                    _ => None,
                })
                .collect(),
        };
        let end = offset.checked_add(segment.items.len() as u64);
        match (funcs, end) {
            (Some(funcs), Some(end)) if end <= precomputed.funcs.len() as u64 => {
                precomputed.funcs[offset as usize..end as usize].copy_from_slice(&funcs);
            }
            // Out of bounds (instantiation will trap) or not constant: do it eagerly.
            _ => inits[defined.index()] = TableInit::Eager,
        }
    }
    inits
}
