//! Instances: a module's `VMContext` and the state behind it, and instantiation.
//!
//! An instance's `VMContext` is one allocation laid out by `VMOffsets`. Everything in it
//! is written at instantiation except the function references of escaping functions,
//! which stay uninitialized until a reference is taken ([`Instance::func_ref`]).

use alloc::alloc::{Layout, alloc, dealloc};
use core::ptr::NonNull;

use crate::api::module::Module;
use crate::error::{Error, Result};
use crate::module::const_expr::{ConstExpr, ConstValue};
use crate::module::info::{DataKind, ElementItems, ElementKind, EntityIndex, NULL_FUNC, TableInit};
use crate::prelude::*;
use crate::trap::TrapCode;
use crate::types::*;
use crate::vm::epoch::EpochSlot;
use crate::vm::libcalls::BUILTINS;
use crate::vm::memory::MemoryInstance;
use crate::vm::pool::Pool;
use crate::vm::store::StoreOpaque;
use crate::vm::table::{LazyOrigin, TableInstance, tag_funcref};
use crate::vm::vmcontext::{
    VMContext, VMFuncRef, VMFunctionImport, VMGlobalDefinition, VMMemoryDefinition, VMTableDefinition, header,
};

/// An import resolved to the runtime object that satisfies it.
#[derive(Clone, Copy, Debug)]
pub enum RawExtern {
    Func(*mut VMFuncRef),
    Table(*mut TableInstance),
    Memory(*mut MemoryInstance),
    Global(*mut VMGlobalDefinition, GlobalType),
}

/// A live instance, owned by its store.
pub struct Instance {
    pub module: Module,
    vmctx: NonNull<u8>,
    layout: Layout,
    pub store: *mut StoreOpaque,
    /// Position in the store's instance list.
    pub index: usize,
    dropped_elements: Vec<bool>,
    dropped_data: Vec<bool>,
    /// The pool the `VMContext` buffer returns to, if pooled.
    pool: Option<Arc<Pool>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        match self.pool.take() {
            Some(pool) => {
                pool.return_vmctx(self.layout, self.vmctx.as_ptr());
                pool.return_instance();
            }
            // SAFETY: allocated in `instantiate` with this layout; the store drops
            // instances only when nothing can call into them any more.
            None => unsafe { dealloc(self.vmctx.as_ptr(), self.layout) },
        }
    }
}

impl Instance {
    /// Runs `f` with the instance owning `vmctx`; the borrow ends with `f`, so nothing
    /// can keep it past the call (take raw pointers to memories and tables out of it,
    /// not references).
    ///
    /// # Safety
    /// `vmctx` must be the `VMContext` of a live instance, and no other reference to
    /// that instance may be used while `f` runs.
    #[inline]
    pub unsafe fn from_vmctx<R>(vmctx: *mut VMContext, f: impl FnOnce(&mut Instance) -> R) -> R {
        // SAFETY: the header's instance slot is written at instantiation with the boxed
        // instance, live per the contract; the contract also makes this borrow unique.
        let instance = unsafe { &mut **((vmctx as *mut u8).add(header::INSTANCE as usize) as *mut *mut Instance) };
        f(instance)
    }

    pub fn vmctx(&self) -> *mut VMContext {
        self.vmctx.as_ptr() as *mut VMContext
    }

    fn slot<T>(&self, offset: u32) -> *mut T {
        // SAFETY: offsets come from this module's VMOffsets, within the allocation.
        unsafe { self.vmctx.as_ptr().add(offset as usize) as *mut T }
    }

    /// The memory at `index` (imported or defined).
    pub fn memory(&self, index: MemoryIndex) -> *mut MemoryInstance {
        let offset = self.module.inner.offsets.memory(index);
        // SAFETY: the slot was written at instantiation with a live memory.
        unsafe { *self.slot::<*mut VMMemoryDefinition>(offset) as *mut MemoryInstance }
    }

    /// The table at `index` (imported or defined).
    pub fn table(&self, index: TableIndex) -> *mut TableInstance {
        let offset = self.module.inner.offsets.table(index);
        // SAFETY: as for `memory`.
        unsafe { *self.slot::<*mut VMTableDefinition>(offset) as *mut TableInstance }
    }

    /// The storage of global `index` (imported or defined).
    pub fn global(&self, index: GlobalIndex) -> *mut VMGlobalDefinition {
        let offsets = &self.module.inner.offsets;
        match self.module.inner.info.defined_global(index) {
            Some(defined) => self.slot(offsets.defined_global(defined)),
            // SAFETY: the slot was written at instantiation with a live global.
            None => unsafe { *self.slot::<*mut VMGlobalDefinition>(offsets.imported_global(index)) },
        }
    }

    /// The function reference of `func`, writing it first if it is this instance's own.
    pub fn func_ref(&mut self, func: FuncIndex) -> *mut VMFuncRef {
        let inner = &self.module.inner;
        let info = &inner.info;
        let Some(defined) = info.defined_func(func) else {
            let import = self.slot::<VMFunctionImport>(inner.offsets.imported_function(func));
            // SAFETY: written at instantiation.
            return unsafe { (*import).func_ref };
        };
        let slot = info.funcref_slot[func.index()];
        debug_assert!(slot != u32::MAX, "only escaping functions have references");
        let type_id = inner.type_ids[info.functions[func.index()].index()];
        let func_ref = self.slot::<VMFuncRef>(inner.offsets.func_ref(slot));
        let value = VMFuncRef {
            wasm_call: inner.code.address(inner.code.info().functions[defined.index()].start),
            array_call: inner.array_trampolines.get(&type_id).copied().unwrap_or(0) as *const u8,
            type_index: type_id.0,
            _pad: 0,
            vmctx: self.vmctx(),
        };
        // SAFETY: the slot belongs to this instance; rewriting it with the same value
        // is harmless to concurrent readers on this (single) thread.
        unsafe { func_ref.write(value) };
        func_ref
    }

    /// Evaluates a constant expression to raw bits (references: untagged pointers).
    fn eval(&mut self, expr: &ConstExpr) -> u64 {
        self.eval_wide(expr, false) as u64
    }

    /// Evaluates a global's initializer, which may be a `v128` (`global_is_v128`).
    fn eval_wide(&mut self, expr: &ConstExpr, global_is_v128: bool) -> u128 {
        let this = self as *mut Instance;
        let value = expr.eval(&mut |global| {
            // SAFETY: `this` is live for the evaluation.
            let definition = unsafe { (*this).global(global) };
            // SAFETY: globals are live for the store's lifetime.
            let bits = unsafe { (*definition).get_u128() };
            Some(if global_is_v128 { ConstValue::V128(bits) } else { ConstValue::Bits(bits as u64) })
        });
        match value {
            Some(ConstValue::Bits(bits)) => u128::from(bits),
            Some(ConstValue::V128(bits)) => bits,
            Some(ConstValue::Func(func)) => self.func_ref(func) as u128,
            Some(ConstValue::Null) | None => 0,
        }
    }

    /// The raw value (untagged) of item `index` of element segment `segment`.
    fn element_item(&mut self, items: &ElementItems, index: usize) -> usize {
        match items {
            ElementItems::Functions(funcs) => self.func_ref(funcs[index]) as usize,
            ElementItems::Expressions(exprs) => {
                let expr = exprs[index].clone();
                self.eval(&expr) as usize
            }
        }
    }

    /// `table.init`: copies `len` items from `segment` at `src` to `table` at `dst`.
    pub fn table_init(
        &mut self,
        table: TableIndex,
        segment: ElemIndex,
        dst: u64,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let module = self.module.clone();
        let element = &module.inner.info.elements[segment.index()];
        let available = if self.dropped_elements[segment.index()] { 0 } else { element.items.len() as u64 };
        // SAFETY: tables live as long as the store.
        let table_instance = unsafe { &mut *self.table(table) };
        let (src, len) = (u64::from(src), u64::from(len));
        if src.checked_add(len).is_none_or(|end| end > available)
            || dst.checked_add(len).is_none_or(|end| end > table_instance.size())
        {
            return Err(TrapCode::TableOutOfBounds);
        }
        let funcref = table_instance.element_type() == RefType::FuncRef;
        for i in 0..len {
            let raw = self.element_item(&element.items, (src + i) as usize);
            let stored = if funcref { tag_funcref(raw as *mut VMFuncRef) } else { raw };
            // SAFETY: as above.
            unsafe { (*self.table(table)).set_raw(dst + i, stored) };
        }
        Ok(())
    }

    pub fn elem_drop(&mut self, segment: ElemIndex) {
        self.dropped_elements[segment.index()] = true;
    }

    /// `memory.init`: copies `len` bytes of data segment `segment` at `src` to `dst`.
    pub fn memory_init(
        &mut self,
        memory: MemoryIndex,
        segment: DataIndex,
        dst: u64,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let inner = &self.module.inner;
        let range = inner.info.data[segment.index()].bytes.clone();
        let bytes = if self.dropped_data[segment.index()] { &[][..] } else { &inner.info.data_bytes[range] };
        // SAFETY: memories live as long as the store.
        let memory = unsafe { &mut *self.memory(memory) };
        let (src, len) = (src as usize, len as usize);
        let dst = usize::try_from(dst).map_err(|_| TrapCode::MemoryOutOfBounds)?;
        if src.checked_add(len).is_none_or(|end| end > bytes.len())
            || dst.checked_add(len).is_none_or(|end| end > memory.size_bytes())
        {
            return Err(TrapCode::MemoryOutOfBounds);
        }
        memory.data_mut()[dst..dst + len].copy_from_slice(&bytes[src..src + len]);
        Ok(())
    }

    pub fn data_drop(&mut self, segment: DataIndex) {
        self.dropped_data[segment.index()] = true;
    }

    /// Initializes the lazy funcref element `index` of `table` (whose origin is this
    /// instance's defined table `defined`); returns the stored (tagged) element.
    pub fn lazy_element(&mut self, defined: DefinedTableIndex, index: u64) -> usize {
        let module = self.module.clone();
        let func = match &module.inner.info.table_inits[defined.index()] {
            TableInit::Lazy(precomputed) => precomputed.funcs.get(index as usize).copied().unwrap_or(NULL_FUNC),
            TableInit::Eager => NULL_FUNC,
        };
        if func == NULL_FUNC { 1 } else { tag_funcref(self.func_ref(FuncIndex(func))) }
    }
}

fn describe(extern_: &RawExtern) -> String {
    match extern_ {
        RawExtern::Func(func_ref) => {
            // SAFETY: handles point at live function references.
            let _ = unsafe { (**func_ref).type_index };
            "a function".into()
        }
        RawExtern::Table(_) => "a table".into(),
        RawExtern::Memory(_) => "a memory".into(),
        RawExtern::Global(_, ty) => format!("{ty}"),
    }
}

fn limits_match(actual_min: u64, actual_max: Option<u64>, wanted_min: u64, wanted_max: Option<u64>) -> bool {
    actual_min >= wanted_min
        && match wanted_max {
            None => true,
            Some(wanted) => actual_max.is_some_and(|actual| actual <= wanted),
        }
}

/// Checks that `extern_` satisfies import `index` of `module`.
fn check_import(module: &Module, index: usize, extern_: &RawExtern) -> Result<()> {
    let info = &module.inner.info;
    let import = &info.imports[index];
    let ok = match (import.index, extern_) {
        (EntityIndex::Function(func), RawExtern::Func(func_ref)) => {
            let wanted_id = module.inner.type_ids[info.functions[func.index()].index()];
            // SAFETY: handles point at live function references.
            unsafe { (**func_ref).type_index == wanted_id.0 }
        }
        (EntityIndex::Table(table), RawExtern::Table(actual)) => {
            let wanted = info.tables[table.index()];
            // SAFETY: handles point at live tables.
            let actual = unsafe { (**actual).ty() };
            actual.element == wanted.element
                && actual.table64 == wanted.table64
                && limits_match(actual.minimum, actual.maximum, wanted.minimum, wanted.maximum)
        }
        (EntityIndex::Memory(memory), RawExtern::Memory(actual)) => {
            let wanted = info.memories[memory.index()];
            // SAFETY: handles point at live memories.
            let actual = unsafe { (**actual).ty() };
            actual.memory64 == wanted.memory64
                && limits_match(actual.minimum, actual.maximum, wanted.minimum, wanted.maximum)
        }
        (EntityIndex::Global(global), RawExtern::Global(_, ty)) => info.globals[global.index()] == *ty,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let wanted = info.entity_type(import.index);
    let found = match extern_ {
        RawExtern::Func(func_ref) => {
            // SAFETY: as above.
            let id = unsafe { (**func_ref).type_index };
            format!("{}", module.engine().func_type(SharedTypeIndex(id)))
        }
        // SAFETY: handles point at live tables and memories of this store.
        RawExtern::Table(table) => format!("{}", unsafe { (**table).ty() }),
        // SAFETY: as above.
        RawExtern::Memory(memory) => format!("{}", unsafe { (**memory).ty() }),
        other => describe(other),
    };
    Err(Error::link(format!(
        "incompatible import type for `{}::{}`: expected {wanted}, found {found}",
        import.module, import.name
    )))
}

/// Creates an instance of `module` in `store` with `imports` (in import order).
///
/// Returns the instance's index in the store. When a segment traps, the instance stays
/// in the store (imported tables may already point into it) and the trap is returned.
pub fn instantiate(store: &mut StoreOpaque, module: &Module, imports: &[RawExtern]) -> Result<usize> {
    let inner = &module.inner;
    let info = &inner.info;
    if imports.len() != info.imports.len() {
        return Err(Error::link(format!("expected {} imports, found {}", info.imports.len(), imports.len())));
    }
    for (index, extern_) in imports.iter().enumerate() {
        check_import(module, index, extern_)?;
    }
    let layout = Layout::from_size_align(inner.offsets.size.max(16) as usize, 16).expect("valid vmctx layout");
    let pool = store.engine.inner.pool.clone();
    if let Some(pool) = &pool {
        pool.take_instance()?;
    }
    // SAFETY: non-zero size; the memory is fully written below except the lazily
    // written function references.
    let buffer = pool.as_ref().and_then(|pool| pool.take_vmctx(layout)).unwrap_or_else(|| unsafe { alloc(layout) });
    let Some(vmctx) = NonNull::new(buffer) else {
        if let Some(pool) = &pool {
            pool.return_instance();
        }
        return Err(Error::resource("out of memory for an instance"));
    };
    let store_ptr: *mut StoreOpaque = store;
    let index = store.instances.len();
    store.instances.push(Box::new(Instance {
        module: module.clone(),
        vmctx,
        layout,
        store: store_ptr,
        index,
        // Eager segments are applied below before they count as dropped; without any,
        // the plan's final state can be taken at once.
        dropped_elements: if inner.plan.eager_elements.is_empty() {
            inner.plan.dropped_elements.clone()
        } else {
            vec![false; info.elements.len()]
        },
        dropped_data: if inner.plan.eager_data.is_empty() {
            inner.plan.dropped_data.clone()
        } else {
            vec![false; info.data.len()]
        },
        pool: pool.clone(),
    }));
    let instance: *mut Instance = &mut *store.instances[index];
    // SAFETY: the instance is boxed in the store and stays put.
    let instance = unsafe { &mut *instance };
    let offsets = inner.offsets;

    // SAFETY: the header offsets lie within the vmctx allocation, and every value
    // written lives as long as the instance (store, limits, engine epoch, epoch slot,
    // builtins).
    unsafe {
        *instance.slot::<u32>(header::MAGIC_OFFSET) = header::MAGIC;
        *instance.slot::<*mut u8>(header::RUNTIME_LIMITS) = &mut *store.limits as *mut _ as *mut u8;
        *instance.slot::<*const usize>(header::BUILTINS) = BUILTINS.as_ptr();
        *instance.slot::<*const u8>(header::EPOCH_PTR) = store.engine.epoch_clock().counter() as *const _ as *const u8;
        *instance.slot::<*const EpochSlot>(header::EPOCH_SLOT) =
            store.epoch.as_ref().map_or(core::ptr::null(), |handle| handle.as_ptr());
        *instance.slot::<*mut StoreOpaque>(header::STORE) = store_ptr;
        *instance.slot::<*mut Instance>(header::INSTANCE) = instance;
        for (index, id) in inner.type_ids.iter().enumerate() {
            *instance.slot::<u32>(offsets.type_id(TypeIndex::new(index))) = id.0;
        }
    }

    let mut func_imports = 0;
    let mut memory_imports = 0;
    let mut table_imports = 0;
    let mut global_imports = 0;
    for extern_ in imports {
        // SAFETY: as above; imported objects are live in this store.
        unsafe {
            match *extern_ {
                RawExtern::Func(func_ref) => {
                    let slot = instance.slot::<VMFunctionImport>(offsets.imported_function(FuncIndex(func_imports)));
                    slot.write(VMFunctionImport {
                        wasm_call: (*func_ref).wasm_call,
                        array_call: (*func_ref).array_call,
                        vmctx: (*func_ref).vmctx,
                        func_ref,
                    });
                    func_imports += 1;
                }
                RawExtern::Memory(memory) => {
                    *instance.slot::<*mut MemoryInstance>(offsets.memory(MemoryIndex(memory_imports))) = memory;
                    memory_imports += 1;
                }
                RawExtern::Table(table) => {
                    *instance.slot::<*mut TableInstance>(offsets.table(TableIndex(table_imports))) = table;
                    table_imports += 1;
                }
                RawExtern::Global(global, _) => {
                    *instance.slot::<*mut VMGlobalDefinition>(offsets.imported_global(GlobalIndex(global_imports))) =
                        global;
                    global_imports += 1;
                }
            }
        }
    }

    let limit = store.engine.inner.config.max_memory_bytes;
    for (defined, ty) in info.memories[info.num_imported_memories..].iter().enumerate() {
        let image = inner.memory_images.get(defined).and_then(Option::as_ref);
        let memory = MemoryInstance::new(&store.engine.inner.allocator, pool.as_ref(), *ty, limit, image)?;
        let pointer = store.push_memory(memory);
        let index = MemoryIndex::new(info.num_imported_memories + defined);
        // SAFETY: as above.
        unsafe { *instance.slot::<*mut MemoryInstance>(offsets.memory(index)) = pointer };
    }
    for (defined, ty) in info.tables[info.num_imported_tables..].iter().enumerate() {
        let table = match (&info.table_inits[defined], ty.element) {
            (TableInit::Lazy(_), _) => TableInstance::new(
                *ty,
                0,
                Some(LazyOrigin { instance, table: DefinedTableIndex::new(defined) }),
                pool.as_ref(),
            )?,
            (TableInit::Eager, RefType::FuncRef) => TableInstance::new(*ty, 1, None, pool.as_ref())?,
            (TableInit::Eager, RefType::ExternRef) => TableInstance::new(*ty, 0, None, pool.as_ref())?,
        };
        let pointer = store.push_table(table);
        let index = TableIndex::new(info.num_imported_tables + defined);
        // SAFETY: as above.
        unsafe { *instance.slot::<*mut TableInstance>(offsets.table(index)) = pointer };
    }
    for (defined, init) in info.global_inits.iter().enumerate() {
        let global = GlobalIndex::new(info.num_imported_globals + defined);
        let value = instance.eval_wide(init, info.globals[global.index()].content == ValType::V128);
        let slot = instance.slot::<VMGlobalDefinition>(offsets.defined_global(DefinedGlobalIndex::new(defined)));
        // SAFETY: as above.
        unsafe { slot.write(VMGlobalDefinition::from_u128(value)) };
    }

    // Element segments, then data segments, in order; a trap stops instantiation. Only
    // the segments the plan lists need work: the rest are in precomputed tables and
    // memory images.
    let plan = &inner.plan;
    for &segment_index in &plan.eager_elements {
        let segment = &info.elements[segment_index as usize];
        let ElementKind::Active { table, offset } = &segment.kind else { continue };
        let offset = instance.eval(offset);
        let offset = if info.tables[table.index()].table64 { offset } else { offset & 0xFFFF_FFFF };
        instance
            .table_init(*table, ElemIndex(segment_index), offset, 0, segment.items.len() as u32)
            .map_err(Error::from)?;
        instance.elem_drop(ElemIndex(segment_index));
    }
    for &segment_index in &plan.eager_data {
        let segment = &info.data[segment_index as usize];
        let DataKind::Active { memory, offset } = &segment.kind else { continue };
        let offset = instance.eval(offset);
        let offset = if info.memories[memory.index()].memory64 { offset } else { offset & 0xFFFF_FFFF };
        instance
            .memory_init(*memory, DataIndex(segment_index), offset, 0, segment.bytes.len() as u32)
            .map_err(Error::from)?;
        instance.data_drop(DataIndex(segment_index));
    }
    if !plan.eager_elements.is_empty() {
        instance.dropped_elements.clone_from(&plan.dropped_elements);
    }
    if !plan.eager_data.is_empty() {
        instance.dropped_data.clone_from(&plan.dropped_data);
    }
    Ok(index)
}
