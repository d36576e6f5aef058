//! Memories, tables and globals as API handles, and `Extern`, the sum of all four.

use crate::api::func::Func;
use crate::api::store::{AsContext, AsContextMut};
use crate::api::values::Val;
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::*;
use crate::vm::instance::RawExtern;
use crate::vm::memory::MemoryInstance;
use crate::vm::store::{HostGlobal, StoreId, StoreOpaque};
use crate::vm::table::{TableInstance, tag_funcref};
use crate::vm::vmcontext::{VMFuncRef, VMGlobalDefinition};

/// Anything an instance can import or export.
#[derive(Clone, Copy, Debug)]
pub enum Extern {
    Func(Func),
    Table(Table),
    Memory(Memory),
    Global(Global),
}

impl Extern {
    pub fn into_func(self) -> Option<Func> {
        if let Extern::Func(f) = self { Some(f) } else { None }
    }

    pub fn into_memory(self) -> Option<Memory> {
        if let Extern::Memory(m) = self { Some(m) } else { None }
    }

    pub fn into_table(self) -> Option<Table> {
        if let Extern::Table(t) = self { Some(t) } else { None }
    }

    pub fn into_global(self) -> Option<Global> {
        if let Extern::Global(g) = self { Some(g) } else { None }
    }

    /// The extern's type.
    pub fn ty(&self, store: impl AsContext) -> ExternType {
        match self {
            Extern::Func(f) => ExternType::Func(f.ty(store)),
            Extern::Table(t) => ExternType::Table(t.ty(store)),
            Extern::Memory(m) => ExternType::Memory(m.ty(store)),
            Extern::Global(g) => ExternType::Global(g.ty(store)),
        }
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> Result<RawExtern> {
        Ok(match self {
            Extern::Func(f) => {
                store.check(f.store_id())?;
                RawExtern::Func(f.func_ref_ptr())
            }
            Extern::Table(t) => {
                store.check(t.store)?;
                RawExtern::Table(t.table)
            }
            Extern::Memory(m) => {
                store.check(m.store)?;
                RawExtern::Memory(m.memory)
            }
            Extern::Global(g) => {
                store.check(g.store)?;
                RawExtern::Global(g.definition, g.ty)
            }
        })
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}

impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}

impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}

impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}

/// A linear memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    store: StoreId,
    memory: *mut MemoryInstance,
}

// SAFETY: a handle; access needs the store.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

impl Memory {
    pub(crate) fn from_raw(store: StoreId, memory: *mut MemoryInstance) -> Memory {
        Memory { store, memory }
    }

    /// A new memory owned by `store`.
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let limit = opaque.engine.inner.config.max_memory_bytes;
        let memory = MemoryInstance::new(&opaque.engine.inner.allocator, None, ty, limit, None)?;
        let pointer = opaque.push_memory(memory);
        Ok(Memory { store: opaque.id, memory: pointer })
    }

    fn instance<'a>(&self, store: &'a StoreOpaque) -> &'a MemoryInstance {
        assert_eq!(store.id, self.store, "memory used with the wrong store");
        // SAFETY: the memory lives as long as its store, which we borrow shared.
        unsafe { &*self.memory }
    }

    fn instance_mut<'a>(&self, store: &'a mut StoreOpaque) -> &'a mut MemoryInstance {
        assert_eq!(store.id, self.store, "memory used with the wrong store");
        // SAFETY: the memory is owned by the store, which we borrow exclusively.
        unsafe { &mut *self.memory }
    }

    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        self.instance(store.as_context().opaque()).ty()
    }

    /// Size in pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        self.instance(store.as_context().opaque()).size_pages()
    }

    /// Size in bytes.
    pub fn data_size(&self, store: impl AsContext) -> usize {
        self.instance(store.as_context().opaque()).size_bytes()
    }

    /// The memory's bytes.
    pub fn data<'a, T: 'a>(&self, store: impl Into<crate::api::store::StoreContext<'a, T>>) -> &'a [u8] {
        let context: crate::api::store::StoreContext<'a, T> = store.into();
        let opaque: &'a StoreOpaque = &context.0.opaque;
        self.instance(opaque).data()
    }

    /// The memory's bytes, mutably.
    pub fn data_mut<'a, T: 'a>(&self, store: impl Into<crate::api::store::StoreContextMut<'a, T>>) -> &'a mut [u8] {
        let context: crate::api::store::StoreContextMut<'a, T> = store.into();
        let opaque: &'a mut StoreOpaque = &mut context.0.opaque;
        self.instance_mut(opaque).data_mut()
    }

    /// The memory's bytes and the store's host data at once (host functions need both).
    pub fn data_and_store_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::api::store::StoreContextMut<'a, T>>,
    ) -> (&'a mut [u8], &'a mut T) {
        let context: crate::api::store::StoreContextMut<'a, T> = store.into();
        let inner = context.0;
        let data = self.instance_mut(&mut inner.opaque).data_mut();
        (data, &mut inner.data)
    }

    /// Grows by `delta` pages; returns the old size in pages.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        let mut context = store.as_context_mut();
        self.instance_mut(context.opaque())
            .grow(delta)
            .ok_or_else(|| Error::resource(format!("failed to grow memory by {delta} pages")))
    }

    /// Copies bytes out of the memory.
    pub fn read(&self, store: impl AsContext, offset: usize, buffer: &mut [u8]) -> Result<()> {
        let context = store.as_context();
        let data = self.instance(context.opaque()).data();
        let end = offset.checked_add(buffer.len()).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| Error::usage("out of bounds memory read"))?;
        buffer.copy_from_slice(&data[offset..end]);
        Ok(())
    }

    /// Copies bytes into the memory.
    pub fn write(&self, mut store: impl AsContextMut, offset: usize, bytes: &[u8]) -> Result<()> {
        let mut context = store.as_context_mut();
        let data = self.instance_mut(context.opaque()).data_mut();
        let end = offset.checked_add(bytes.len()).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| Error::usage("out of bounds memory write"))?;
        data[offset..end].copy_from_slice(bytes);
        Ok(())
    }
}

impl<'a, T> From<&'a crate::api::store::Store<T>> for crate::api::store::StoreContext<'a, T> {
    fn from(store: &'a crate::api::store::Store<T>) -> Self {
        store.as_context()
    }
}

impl<'a, T> From<&'a mut crate::api::store::Store<T>> for crate::api::store::StoreContext<'a, T> {
    fn from(store: &'a mut crate::api::store::Store<T>) -> Self {
        crate::api::store::StoreContext(store.as_context_mut().0)
    }
}

impl<'a, T> From<&'a mut crate::api::store::Store<T>> for crate::api::store::StoreContextMut<'a, T> {
    fn from(store: &'a mut crate::api::store::Store<T>) -> Self {
        store.as_context_mut()
    }
}

impl<'a, T> From<&'a mut crate::api::store::Caller<'_, T>> for crate::api::store::StoreContextMut<'a, T> {
    fn from(caller: &'a mut crate::api::store::Caller<'_, T>) -> Self {
        caller.as_context_mut()
    }
}

impl<'a, T> From<&'a crate::api::store::Caller<'_, T>> for crate::api::store::StoreContext<'a, T> {
    fn from(caller: &'a crate::api::store::Caller<'_, T>) -> Self {
        caller.as_context()
    }
}

/// A table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    store: StoreId,
    table: *mut TableInstance,
}

// SAFETY: a handle; access needs the store.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

impl Table {
    pub(crate) fn from_raw(store: StoreId, table: *mut TableInstance) -> Table {
        Table { store, table }
    }

    /// A new table of `ty.minimum` elements set to `init`.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Val) -> Result<Table> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let init = stored_element(opaque, ty.element, init)?;
        let table = TableInstance::new(ty, init, None, None)?;
        let pointer = opaque.push_table(table);
        Ok(Table { store: opaque.id, table: pointer })
    }

    fn instance<'a>(&self, store: &'a StoreOpaque) -> Result<&'a TableInstance> {
        store.check(self.store)?;
        // SAFETY: the table lives as long as its store, which we borrow shared.
        Ok(unsafe { &*self.table })
    }

    fn instance_mut<'a>(&self, store: &'a mut StoreOpaque) -> Result<&'a mut TableInstance> {
        store.check(self.store)?;
        // SAFETY: the table is owned by the store, which we borrow exclusively.
        Ok(unsafe { &mut *self.table })
    }

    pub fn ty(&self, store: impl AsContext) -> TableType {
        self.instance(store.as_context().opaque()).map(|t| t.ty()).expect("table used with the wrong store")
    }

    pub fn size(&self, store: impl AsContext) -> u64 {
        self.instance(store.as_context().opaque()).map(|t| t.size()).expect("table used with the wrong store")
    }

    /// Element `index`, or `None` when out of bounds.
    pub fn get(&self, mut store: impl AsContextMut, index: u64) -> Option<Val> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let table = self.instance_mut(opaque).ok()?;
        let mut raw = table.raw(index)?;
        if raw == 0 && table.element_type() == RefType::FuncRef {
            let origin = table.lazy?;
            // SAFETY: the origin instance lives as long as the store.
            raw = unsafe { (*origin.instance).lazy_element(origin.table, index) };
            table.set_raw(index, raw);
        }
        Some(match table.element_type() {
            RefType::FuncRef => Val::FuncRef(Func::from_raw(self.store, (raw & !1) as *mut VMFuncRef)),
            RefType::ExternRef => Val::ExternRef(crate::api::values::ExternRef::from_raw(self.store, raw)),
        })
    }

    /// Sets element `index`.
    pub fn set(&self, mut store: impl AsContextMut, index: u64, value: Val) -> Result<()> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let element = self.instance(opaque)?.element_type();
        let stored = stored_element(opaque, element, value)?;
        self.instance_mut(opaque)?.set_raw(index, stored).ok_or_else(|| Error::from(TrapCode::TableOutOfBounds))
    }

    /// Grows by `delta` elements set to `init`; returns the old size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64, init: Val) -> Result<u64> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let element = self.instance(opaque)?.element_type();
        let stored = stored_element(opaque, element, init)?;
        self.instance_mut(opaque)?
            .grow(delta, stored)
            .ok_or_else(|| Error::resource(format!("failed to grow table by {delta}")))
    }
}

use crate::trap::TrapCode;

/// The stored form of `value` for a table of `element` type.
fn stored_element(store: &StoreOpaque, element: RefType, value: Val) -> Result<usize> {
    match (element, value) {
        (RefType::FuncRef, Val::FuncRef(func)) => {
            let raw = Val::FuncRef(func).to_raw(store)?.u64() as usize;
            Ok(tag_funcref(raw as *mut VMFuncRef))
        }
        (RefType::ExternRef, Val::ExternRef(reference)) => Ok(Val::ExternRef(reference).to_raw(store)?.u64() as usize),
        (element, value) => {
            Err(Error::usage(format!("a {} table cannot hold a {} value", ValType::Ref(element), value.ty())))
        }
    }
}

/// A global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    store: StoreId,
    definition: *mut VMGlobalDefinition,
    ty: GlobalType,
}

// SAFETY: a handle; access needs the store.
unsafe impl Send for Global {}
// SAFETY: as above.
unsafe impl Sync for Global {}

impl Global {
    pub(crate) fn from_raw(store: StoreId, definition: *mut VMGlobalDefinition, ty: GlobalType) -> Global {
        Global { store, definition, ty }
    }

    /// A new global owned by `store`.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, value: Val) -> Result<Global> {
        if value.ty() != ty.content {
            return Err(Error::usage(format!("global of type {} initialized with a {}", ty.content, value.ty())));
        }
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let bits = value.to_raw(opaque)?.u128();
        let mut global = Box::new(HostGlobal { definition: VMGlobalDefinition::from_u128(bits), ty });
        let definition: *mut VMGlobalDefinition = &mut global.definition;
        opaque.globals.push(global);
        Ok(Global { store: opaque.id, definition, ty })
    }

    pub fn ty(&self, _store: impl AsContext) -> GlobalType {
        self.ty
    }

    /// The current value.
    pub fn get(&self, store: impl AsContext) -> Val {
        let context = store.as_context();
        assert_eq!(context.opaque().id, self.store, "global used with the wrong store");
        // SAFETY: the global lives as long as its store.
        let bits = unsafe { (*self.definition).get_u128() };
        Val::from_raw(self.store, crate::vm::vmcontext::ValRaw::from_u128(bits), self.ty.content)
    }

    /// Sets a mutable global.
    pub fn set(&self, mut store: impl AsContextMut, value: Val) -> Result<()> {
        if self.ty.mutability != Mutability::Var {
            return Err(Error::usage("cannot set an immutable global"));
        }
        if value.ty() != self.ty.content {
            return Err(Error::usage(format!("global of type {} set to a {}", self.ty.content, value.ty())));
        }
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        opaque.check(self.store)?;
        let bits = value.to_raw(opaque)?.u128();
        // SAFETY: as in `get`.
        unsafe { (*self.definition).set_u128(bits) };
        Ok(())
    }
}
