//! The artifact's tables: a module's declarations and its code tables, encoded and
//! decoded with every index, length and offset checked.
//!
//! Owns the encoding of [`ModuleInfo`]'s declared parts and of the code tables
//! (function ranges, trap sites, trampolines). Derived facts (escaping functions,
//! funcref slots, lazy table contents, memory images) are not stored: decoding
//! recomputes them with the same code compilation uses, so they cannot disagree with
//! the declarations. It must not touch code bytes (they are trusted, see `artifact`).

use core::ops::Range;

use hashbrown::HashMap;

use super::bytes::{Reader, Writer};
use super::error::ArtifactError;
use crate::module::const_expr::{ConstExpr, ConstOp};
use crate::module::info::*;
use crate::prelude::*;
use crate::trap::TrapCode;
use crate::types::*;
use crate::vm::code_memory::TrapSite;

/// The code tables of a compiled module: offsets into its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeTables {
    /// Code range of each defined function, in definition order.
    pub functions: Vec<Range<u32>>,
    /// Trap sites, sorted by offset.
    pub traps: Vec<TrapSite>,
    /// Array-to-wasm trampoline per module type of escaping functions.
    pub array_trampolines: Vec<(TypeIndex, u32)>,
    /// Wasm-to-host trampoline per module type of imported functions.
    pub host_trampolines: Vec<(TypeIndex, u32)>,
}

fn valtype_tag(ty: ValType) -> u8 {
    match ty {
        ValType::I32 => 0,
        ValType::I64 => 1,
        ValType::F32 => 2,
        ValType::F64 => 3,
        ValType::V128 => 4,
        ValType::Ref(RefType::FuncRef) => 5,
        ValType::Ref(RefType::ExternRef) => 6,
    }
}

fn reftype_tag(ty: RefType) -> u8 {
    match ty {
        RefType::FuncRef => 0,
        RefType::ExternRef => 1,
    }
}

fn entity(w: &mut Writer, index: EntityIndex) {
    let (tag, value) = match index {
        EntityIndex::Function(i) => (0, i.0),
        EntityIndex::Table(i) => (1, i.0),
        EntityIndex::Memory(i) => (2, i.0),
        EntityIndex::Global(i) => (3, i.0),
    };
    w.u8(tag);
    w.u32(value);
}

fn const_expr(w: &mut Writer, expr: &ConstExpr) {
    w.len(expr.ops.len());
    for op in &expr.ops {
        match *op {
            ConstOp::I32Const(v) => {
                w.u8(0);
                w.u32(v as u32);
            }
            ConstOp::I64Const(v) => {
                w.u8(1);
                w.u64(v as u64);
            }
            ConstOp::F32Const(bits) => {
                w.u8(2);
                w.u32(bits);
            }
            ConstOp::F64Const(bits) => {
                w.u8(3);
                w.u64(bits);
            }
            ConstOp::V128Const(bits) => {
                w.u8(4);
                w.u128(bits);
            }
            ConstOp::RefNull => w.u8(5),
            ConstOp::RefFunc(f) => {
                w.u8(6);
                w.u32(f.0);
            }
            ConstOp::GlobalGet(g) => {
                w.u8(7);
                w.u32(g.0);
            }
            ConstOp::I32Add => w.u8(8),
            ConstOp::I32Sub => w.u8(9),
            ConstOp::I32Mul => w.u8(10),
            ConstOp::I64Add => w.u8(11),
            ConstOp::I64Sub => w.u8(12),
            ConstOp::I64Mul => w.u8(13),
        }
    }
}

/// Appends the declarations of `info` and the code tables.
pub fn encode(w: &mut Writer, info: &ModuleInfo, func_names: &HashMap<u32, String>, code: &CodeTables) {
    w.len(info.types.len());
    for ty in &info.types {
        w.len(ty.params().len());
        ty.params().iter().for_each(|&p| w.u8(valtype_tag(p)));
        w.len(ty.results().len());
        ty.results().iter().for_each(|&r| w.u8(valtype_tag(r)));
    }
    w.len(info.functions.len());
    info.functions.iter().for_each(|ty| w.u32(ty.0));
    w.len(info.tables.len());
    for table in &info.tables {
        w.u8(reftype_tag(table.element));
        w.u64(table.minimum);
        w.opt_u64(table.maximum);
        w.bool(table.table64);
    }
    w.len(info.memories.len());
    for memory in &info.memories {
        w.u64(memory.minimum);
        w.opt_u64(memory.maximum);
        w.bool(memory.memory64);
    }
    w.len(info.globals.len());
    for global in &info.globals {
        w.u8(valtype_tag(global.content));
        w.bool(global.mutability == Mutability::Var);
    }
    w.len(info.global_inits.len());
    info.global_inits.iter().for_each(|init| const_expr(w, init));
    w.len(info.imports.len());
    for import in &info.imports {
        w.str(&import.module);
        w.str(&import.name);
        entity(w, import.index);
    }
    w.len(info.exports.len());
    for (name, index) in &info.exports {
        w.str(name);
        entity(w, *index);
    }
    w.opt_u64(info.start.map(|f| u64::from(f.0)));
    w.len(info.elements.len());
    for segment in &info.elements {
        match &segment.kind {
            ElementKind::Passive => w.u8(0),
            ElementKind::Active { table, offset } => {
                w.u8(1);
                w.u32(table.0);
                const_expr(w, offset);
            }
            ElementKind::Declared => w.u8(2),
        }
        w.u8(reftype_tag(segment.element_type));
        match &segment.items {
            ElementItems::Functions(funcs) => {
                w.u8(0);
                w.len(funcs.len());
                funcs.iter().for_each(|f| w.u32(f.0));
            }
            ElementItems::Expressions(exprs) => {
                w.u8(1);
                w.len(exprs.len());
                exprs.iter().for_each(|e| const_expr(w, e));
            }
        }
    }
    w.len(info.data.len());
    for segment in &info.data {
        match &segment.kind {
            DataKind::Passive => w.u8(0),
            DataKind::Active { memory, offset } => {
                w.u8(1);
                w.u32(memory.0);
                const_expr(w, offset);
            }
        }
        w.u64(segment.bytes.start as u64);
        w.u64(segment.bytes.end as u64);
    }
    w.bytes(&info.data_bytes);
    match &info.module_name {
        Some(name) => {
            w.u8(1);
            w.str(name);
        }
        None => w.u8(0),
    }
    // Sorted, so the same module always serializes to the same bytes.
    let mut names: Vec<(&u32, &String)> = func_names.iter().collect();
    names.sort_unstable();
    w.len(names.len());
    for (index, name) in names {
        w.u32(*index);
        w.str(name);
    }

    w.len(code.functions.len());
    for range in &code.functions {
        w.u32(range.start);
        w.u32(range.end);
    }
    w.len(code.traps.len());
    for site in &code.traps {
        w.u32(site.offset);
        w.u8(site.code.to_u8());
    }
    for trampolines in [&code.array_trampolines, &code.host_trampolines] {
        w.len(trampolines.len());
        for (ty, offset) in trampolines {
            w.u32(ty.0);
            w.u32(*offset);
        }
    }
}

fn valtype(r: &mut Reader<'_>, what: &'static str) -> Result<ValType, ArtifactError> {
    Ok(match r.u8(what)? {
        0 => ValType::I32,
        1 => ValType::I64,
        2 => ValType::F32,
        3 => ValType::F64,
        4 => ValType::V128,
        5 => ValType::FUNCREF,
        6 => ValType::EXTERNREF,
        tag => return Err(r.corrupt(what, format!("unknown value type tag {tag}"))),
    })
}

fn reftype(r: &mut Reader<'_>, what: &'static str) -> Result<RefType, ArtifactError> {
    Ok(match r.u8(what)? {
        0 => RefType::FuncRef,
        1 => RefType::ExternRef,
        tag => return Err(r.corrupt(what, format!("unknown reference type tag {tag}"))),
    })
}

fn read_entity(r: &mut Reader<'_>, what: &'static str) -> Result<EntityIndex, ArtifactError> {
    let tag = r.u8(what)?;
    let index = r.u32(what)?;
    Ok(match tag {
        0 => EntityIndex::Function(FuncIndex(index)),
        1 => EntityIndex::Table(TableIndex(index)),
        2 => EntityIndex::Memory(MemoryIndex(index)),
        3 => EntityIndex::Global(GlobalIndex(index)),
        tag => return Err(r.corrupt(what, format!("unknown entity kind {tag}"))),
    })
}

fn read_const_expr(r: &mut Reader<'_>, what: &'static str) -> Result<ConstExpr, ArtifactError> {
    let count = r.count(what, 1)?;
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        ops.push(match r.u8(what)? {
            0 => ConstOp::I32Const(r.u32(what)? as i32),
            1 => ConstOp::I64Const(r.u64(what)? as i64),
            2 => ConstOp::F32Const(r.u32(what)?),
            3 => ConstOp::F64Const(r.u64(what)?),
            4 => ConstOp::V128Const(r.u128(what)?),
            5 => ConstOp::RefNull,
            6 => ConstOp::RefFunc(FuncIndex(r.u32(what)?)),
            7 => ConstOp::GlobalGet(GlobalIndex(r.u32(what)?)),
            8 => ConstOp::I32Add,
            9 => ConstOp::I32Sub,
            10 => ConstOp::I32Mul,
            11 => ConstOp::I64Add,
            12 => ConstOp::I64Sub,
            13 => ConstOp::I64Mul,
            tag => return Err(r.corrupt(what, format!("unknown constant operator {tag}"))),
        });
    }
    Ok(ConstExpr { ops })
}

/// Checks an index against the length of its space.
fn index(r: &Reader<'_>, what: &'static str, value: u32, len: usize) -> Result<(), ArtifactError> {
    if (value as usize) < len {
        Ok(())
    } else {
        Err(r.corrupt(what, format!("index {value} is out of range (there are {len})")))
    }
}

/// The type a constant expression leaves: `None` for `ref.null` (any reference).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConstType {
    Val(ValType),
    NullRef,
}

/// Type-checks `expr` as the validator did: it must leave exactly one value of type
/// `expected`, read only globals below `globals_visible`, and name existing functions.
fn check_const(
    r: &Reader<'_>,
    what: &'static str,
    expr: &ConstExpr,
    info: &ModuleInfo,
    globals_visible: usize,
    expected: ValType,
) -> Result<(), ArtifactError> {
    let mut stack: Vec<ConstType> = Vec::with_capacity(2);
    for op in &expr.ops {
        let ty = match *op {
            ConstOp::I32Const(_) => ConstType::Val(ValType::I32),
            ConstOp::I64Const(_) => ConstType::Val(ValType::I64),
            ConstOp::F32Const(_) => ConstType::Val(ValType::F32),
            ConstOp::F64Const(_) => ConstType::Val(ValType::F64),
            ConstOp::V128Const(_) => ConstType::Val(ValType::V128),
            ConstOp::RefNull => ConstType::NullRef,
            ConstOp::RefFunc(func) => {
                index(r, what, func.0, info.functions.len())?;
                ConstType::Val(ValType::FUNCREF)
            }
            ConstOp::GlobalGet(global) => {
                index(r, what, global.0, globals_visible)?;
                ConstType::Val(info.globals[global.index()].content)
            }
            ConstOp::I32Add
            | ConstOp::I32Sub
            | ConstOp::I32Mul
            | ConstOp::I64Add
            | ConstOp::I64Sub
            | ConstOp::I64Mul => {
                let int = if matches!(op, ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul) {
                    ValType::I32
                } else {
                    ValType::I64
                };
                let operands = (stack.pop(), stack.pop());
                if operands != (Some(ConstType::Val(int)), Some(ConstType::Val(int))) {
                    return Err(r.corrupt(what, "arithmetic on operands of the wrong type"));
                }
                ConstType::Val(int)
            }
        };
        stack.push(ty);
    }
    let fits = match stack.as_slice() {
        [ConstType::Val(ty)] => *ty == expected,
        [ConstType::NullRef] => matches!(expected, ValType::Ref(_)),
        _ => false,
    };
    if fits { Ok(()) } else { Err(r.corrupt(what, format!("constant expression is not one {expected}"))) }
}

fn limits(r: &Reader<'_>, what: &'static str, min: u64, max: Option<u64>, absolute: u64) -> Result<(), ArtifactError> {
    if min > absolute || max.is_some_and(|max| max < min || max > absolute) {
        return Err(r.corrupt(what, format!("limits {min}..{max:?} are impossible")));
    }
    Ok(())
}

/// Decodes and checks what [`encode`] wrote. `text_len` bounds the code offsets.
pub fn decode(r: &mut Reader<'_>, text_len: usize) -> Result<(ModuleInfo, CodeTables), ArtifactError> {
    let mut info = ModuleInfo::default();
    let count = r.count("the type section", 8)?;
    for _ in 0..count {
        let params = r.count("a function type", 1)?;
        let params: Vec<ValType> = (0..params).map(|_| valtype(r, "a function type")).collect::<Result<_, _>>()?;
        let results = r.count("a function type", 1)?;
        let results: Vec<ValType> = (0..results).map(|_| valtype(r, "a function type")).collect::<Result<_, _>>()?;
        info.types.push(FuncType::new(params, results));
    }
    let count = r.count("the function section", 4)?;
    for _ in 0..count {
        let ty = r.u32("a function's type")?;
        index(r, "a function's type", ty, info.types.len())?;
        info.functions.push(TypeIndex(ty));
    }
    let count = r.count("the table section", 11)?;
    for _ in 0..count {
        let element = reftype(r, "a table type")?;
        let (minimum, maximum, table64) = (r.u64("a table type")?, r.opt_u64("a table type")?, r.bool("a table type")?);
        limits(r, "a table type", minimum, maximum, if table64 { u64::MAX } else { u64::from(u32::MAX) })?;
        info.tables.push(TableType { element, minimum, maximum, table64 });
    }
    let count = r.count("the memory section", 10)?;
    for _ in 0..count {
        let (minimum, maximum, memory64) =
            (r.u64("a memory type")?, r.opt_u64("a memory type")?, r.bool("a memory type")?);
        let memory = MemoryType { minimum, maximum, memory64 };
        limits(r, "a memory type", minimum, maximum, memory.absolute_max_pages())?;
        info.memories.push(memory);
    }
    let count = r.count("the global section", 2)?;
    for _ in 0..count {
        let content = valtype(r, "a global type")?;
        let mutability = if r.bool("a global type")? { Mutability::Var } else { Mutability::Const };
        info.globals.push(GlobalType { content, mutability });
    }
    let count = r.count("the global initializers", 4)?;
    let global_inits: Vec<ConstExpr> =
        (0..count).map(|_| read_const_expr(r, "a global initializer")).collect::<Result<_, _>>()?;

    let count = r.count("the import section", 13)?;
    let (mut funcs, mut tables, mut memories, mut globals) = (0u32, 0u32, 0u32, 0u32);
    for _ in 0..count {
        let module = r.str("an import's module name")?.to_string();
        let name = r.str("an import's name")?.to_string();
        let entity = read_entity(r, "an import")?;
        // Imports come first in each index space, in import order.
        let (counter, value, len) = match entity {
            EntityIndex::Function(i) => (&mut funcs, i.0, info.functions.len()),
            EntityIndex::Table(i) => (&mut tables, i.0, info.tables.len()),
            EntityIndex::Memory(i) => (&mut memories, i.0, info.memories.len()),
            EntityIndex::Global(i) => (&mut globals, i.0, info.globals.len()),
        };
        let next = *counter == value;
        *counter += 1;
        index(r, "an import", value, len)?;
        if !next {
            return Err(r.corrupt("an import", "imports are not the first entries of their index space"));
        }
        info.imports.push(Import { module, name, index: entity });
    }
    info.num_imported_funcs = funcs as usize;
    info.num_imported_tables = tables as usize;
    info.num_imported_memories = memories as usize;
    info.num_imported_globals = globals as usize;

    if global_inits.len() != info.num_defined_globals() {
        return Err(r.corrupt("the global initializers", "one per defined global expected"));
    }
    // As the validator says: constant expressions read imported globals only.
    for (defined, init) in global_inits.iter().enumerate() {
        let global = info.num_imported_globals + defined;
        check_const(r, "a global initializer", init, &info, info.num_imported_globals, info.globals[global].content)?;
    }
    info.global_inits = global_inits;

    let count = r.count("the export section", 9)?;
    for position in 0..count {
        let name = r.str("an export's name")?.to_string();
        let entity = read_entity(r, "an export")?;
        let (value, len) = match entity {
            EntityIndex::Function(i) => (i.0, info.functions.len()),
            EntityIndex::Table(i) => (i.0, info.tables.len()),
            EntityIndex::Memory(i) => (i.0, info.memories.len()),
            EntityIndex::Global(i) => (i.0, info.globals.len()),
        };
        index(r, "an export", value, len)?;
        if info.export_names.insert(name.clone(), position).is_some() {
            return Err(r.corrupt("an export", format!("export name {name:?} appears twice")));
        }
        info.exports.push((name, entity));
    }
    if let Some(start) = r.opt_u64("the start function")? {
        let start = u32::try_from(start).map_err(|_| r.corrupt("the start function", "index past 32 bits"))?;
        index(r, "the start function", start, info.functions.len())?;
        let ty = info.func_type(FuncIndex(start));
        if !ty.params().is_empty() || !ty.results().is_empty() {
            return Err(r.corrupt("the start function", "its type is not [] -> []"));
        }
        info.start = Some(FuncIndex(start));
    }

    let count = r.count("the element section", 3)?;
    for _ in 0..count {
        let what = "an element segment";
        let kind = match r.u8(what)? {
            0 => ElementKind::Passive,
            1 => {
                let table = r.u32(what)?;
                index(r, what, table, info.tables.len())?;
                let offset = read_const_expr(r, what)?;
                let table_type = info.tables[table as usize];
                let ty = if table_type.table64 { ValType::I64 } else { ValType::I32 };
                check_const(r, what, &offset, &info, info.num_imported_globals, ty)?;
                ElementKind::Active { table: TableIndex(table), offset }
            }
            2 => ElementKind::Declared,
            tag => return Err(r.corrupt(what, format!("unknown segment kind {tag}"))),
        };
        let element_type = reftype(r, what)?;
        if let ElementKind::Active { table, .. } = &kind
            && info.tables[table.index()].element != element_type
        {
            return Err(r.corrupt(what, "element type differs from its table's"));
        }
        let items = match r.u8(what)? {
            0 => {
                let count = r.count(what, 4)?;
                let mut funcs = Vec::with_capacity(count);
                for _ in 0..count {
                    let func = r.u32(what)?;
                    index(r, what, func, info.functions.len())?;
                    funcs.push(FuncIndex(func));
                }
                if element_type != RefType::FuncRef {
                    return Err(r.corrupt(what, "function items in a segment of externrefs"));
                }
                ElementItems::Functions(funcs)
            }
            1 => {
                let count = r.count(what, 4)?;
                let mut exprs = Vec::with_capacity(count);
                for _ in 0..count {
                    let expr = read_const_expr(r, what)?;
                    check_const(r, what, &expr, &info, info.num_imported_globals, ValType::Ref(element_type))?;
                    exprs.push(expr);
                }
                ElementItems::Expressions(exprs)
            }
            tag => return Err(r.corrupt(what, format!("unknown item kind {tag}"))),
        };
        info.elements.push(ElementSegment { kind, element_type, items });
    }

    let count = r.count("the data section", 17)?;
    let mut ranges = Vec::with_capacity(count);
    for _ in 0..count {
        let what = "a data segment";
        let kind = match r.u8(what)? {
            0 => DataKind::Passive,
            1 => {
                let memory = r.u32(what)?;
                index(r, what, memory, info.memories.len())?;
                let offset = read_const_expr(r, what)?;
                let ty = if info.memories[memory as usize].memory64 { ValType::I64 } else { ValType::I32 };
                check_const(r, what, &offset, &info, info.num_imported_globals, ty)?;
                DataKind::Active { memory: MemoryIndex(memory), offset }
            }
            tag => return Err(r.corrupt(what, format!("unknown segment kind {tag}"))),
        };
        let (start, end) = (r.u64(what)?, r.u64(what)?);
        ranges.push((start, end, r.offset()));
        info.data.push(DataSegment { kind, bytes: 0..0 });
    }
    info.data_bytes = r.bytes("the data bytes")?.to_vec();
    for (segment, (start, end, at)) in info.data.iter_mut().zip(ranges) {
        if start > end || end > info.data_bytes.len() as u64 {
            let detail = format!("bytes {start}..{end} are outside the {} data bytes", info.data_bytes.len());
            return Err(ArtifactError::Corrupt { what: "a data segment", offset: at, detail });
        }
        segment.bytes = start as usize..end as usize;
    }
    info.module_name = match r.u8("the module name")? {
        0 => None,
        1 => Some(r.str("the module name")?.to_string()),
        tag => return Err(r.corrupt("the module name", format!("unknown tag {tag}"))),
    };
    let count = r.count("the function names", 8)?;
    let mut func_names = HashMap::with_capacity(count);
    for _ in 0..count {
        let index = r.u32("a function name")?;
        func_names.insert(index, r.str("a function name")?.to_string());
    }
    info.func_names = func_names;

    let code = decode_code(r, &info, text_len)?;
    Ok((info, code))
}

fn code_offset(r: &Reader<'_>, what: &'static str, offset: u32, text_len: usize) -> Result<(), ArtifactError> {
    if (offset as usize) < text_len {
        Ok(())
    } else {
        Err(r.corrupt(what, format!("code offset {offset} is past the {text_len} bytes of code")))
    }
}

fn decode_code(r: &mut Reader<'_>, info: &ModuleInfo, text_len: usize) -> Result<CodeTables, ArtifactError> {
    let mut code = CodeTables::default();
    let count = r.count("the function table", 8)?;
    if count != info.num_defined_funcs() {
        return Err(
            r.corrupt("the function table", format!("{count} entries for {} functions", info.num_defined_funcs()))
        );
    }
    let mut previous_end = 0;
    for _ in 0..count {
        let (start, end) = (r.u32("the function table")?, r.u32("the function table")?);
        if start < previous_end || end < start || end as usize > text_len {
            return Err(
                r.corrupt("the function table", format!("range {start}..{end} is out of order or past the code"))
            );
        }
        previous_end = end;
        code.functions.push(start..end);
    }
    let count = r.count("the trap table", 5)?;
    code.traps.reserve_exact(count);
    let mut previous = 0;
    for _ in 0..count {
        let offset = r.u32("the trap table")?;
        let tag = r.u8("the trap table")?;
        code_offset(r, "the trap table", offset, text_len)?;
        let Some(trap) = TrapCode::from_u8(tag) else {
            return Err(r.corrupt("the trap table", format!("unknown trap code {tag}")));
        };
        if offset < previous {
            return Err(r.corrupt("the trap table", "trap sites are not sorted"));
        }
        previous = offset;
        code.traps.push(TrapSite { offset, code: trap });
    }
    for (what, list) in
        [("the array trampolines", &mut code.array_trampolines), ("the host trampolines", &mut code.host_trampolines)]
    {
        let count = r.count(what, 8)?;
        for _ in 0..count {
            let (ty, offset) = (r.u32(what)?, r.u32(what)?);
            index(r, what, ty, info.types.len())?;
            code_offset(r, what, offset, text_len)?;
            list.push((TypeIndex(ty), offset));
        }
    }
    if !r.is_empty() {
        return Err(r.corrupt("the tables", "bytes left over after the last table"));
    }
    Ok(code)
}

/// After the derived facts are recomputed: every function that can be called from the
/// host has its type's array trampoline.
pub fn check_trampolines(info: &ModuleInfo, code: &CodeTables) -> Result<(), ArtifactError> {
    let with_trampoline: hashbrown::HashSet<&FuncType> =
        code.array_trampolines.iter().map(|(ty, _)| &info.types[ty.index()]).collect();
    for (func, escapes) in info.escaping.iter().enumerate() {
        if !escapes || func < info.num_imported_funcs {
            continue;
        }
        let ty = &info.types[info.functions[func].index()];
        if !with_trampoline.contains(ty) {
            return Err(ArtifactError::Corrupt {
                what: "the array trampolines",
                offset: 0,
                detail: format!("none for {ty}, the type of escaping function {func}"),
            });
        }
    }
    Ok(())
}
