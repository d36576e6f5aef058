//! Instances as API handles: instantiation with explicit imports, and exports.

use crate::api::externals::{Extern, Global, Memory, Table};
use crate::api::func::{Func, TypedFunc, WasmParams, WasmResults};
use crate::api::module::Module;
use crate::api::store::{AsContextMut, StoreContextMut};
use crate::error::{Error, Result};
use crate::module::info::EntityIndex;
use crate::prelude::*;
use crate::types::FuncIndex;
use crate::vm::instance::{Instance as VmInstance, RawExtern, instantiate};
use crate::vm::invoke::call_func_ref;
use crate::vm::store::{StoreId, StoreOpaque};
use crate::vm::vmcontext::ValRaw;

/// An instantiated module in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    store: StoreId,
    index: usize,
}

impl Instance {
    pub(crate) fn from_index(store: StoreId, index: usize) -> Instance {
        Instance { store, index }
    }

    /// Instantiates `module` with `imports` given in the module's import order, then
    /// runs its start function.
    pub fn new(mut store: impl AsContextMut, module: &Module, imports: &[Extern]) -> Result<Instance> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        let mut raw = Vec::with_capacity(imports.len());
        for import in imports {
            raw.push(import.to_raw(opaque)?);
        }
        Instance::new_raw(opaque, module, &raw)
    }

    pub(crate) fn new_raw(store: &mut StoreOpaque, module: &Module, imports: &[RawExtern]) -> Result<Instance> {
        if !crate::api::engine::Engine::same(&store.engine, module.engine()) {
            return Err(Error::usage("module and store belong to different engines"));
        }
        let index = instantiate(store, module, imports)?;
        if let Some(start) = module.inner.info.start {
            let func_ref = store.instances[index].func_ref(start);
            // SAFETY: the start function belongs to this store's new instance and takes
            // and returns nothing.
            unsafe { call_func_ref(store, func_ref, &mut [ValRaw::default()])? };
        }
        Ok(Instance { store: store.id, index })
    }

    fn vm<'a>(&self, store: &'a mut StoreOpaque) -> Result<&'a mut VmInstance> {
        store.check(self.store)?;
        Ok(&mut store.instances[self.index])
    }

    /// The export named `name`.
    pub fn get_export(&self, mut store: impl AsContextMut, name: &str) -> Option<Extern> {
        let mut context = store.as_context_mut();
        let id = context.opaque_ref().id;
        let instance = self.vm(context.opaque()).ok()?;
        let entity = instance.module.inner.info.export(name)?;
        Some(export_extern(id, instance, entity))
    }

    /// All exports, in order.
    pub fn exports(&self, mut store: impl AsContextMut) -> Vec<(String, Extern)> {
        let mut context = store.as_context_mut();
        let id = context.opaque_ref().id;
        let Ok(instance) = self.vm(context.opaque()) else { return Vec::new() };
        let module = instance.module.clone();
        module
            .inner
            .info
            .exports
            .iter()
            .map(|(name, entity)| (name.clone(), export_extern(id, instance, *entity)))
            .collect()
    }

    pub fn get_func(&self, store: impl AsContextMut, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    pub fn get_memory(&self, store: impl AsContextMut, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    pub fn get_table(&self, store: impl AsContextMut, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    pub fn get_global(&self, store: impl AsContextMut, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }

    /// The exported function `name` with static types.
    pub fn get_typed_func<Params: WasmParams, Results: WasmResults>(
        &self,
        mut store: impl AsContextMut,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>> {
        let func = self
            .get_func(&mut store, name)
            .ok_or_else(|| Error::usage(format!("no exported function named `{name}`")))?;
        func.typed(&store)
    }

    /// The module this is an instance of.
    pub fn module<'a, T>(&self, store: &'a StoreContextMut<'_, T>) -> &'a Module {
        &store.opaque_ref().instances[self.index].module
    }
}

fn export_extern(id: StoreId, instance: &mut VmInstance, entity: EntityIndex) -> Extern {
    match entity {
        EntityIndex::Function(func) => {
            Extern::Func(Func::from_raw(id, instance.func_ref(FuncIndex(func.0))).expect("non-null"))
        }
        EntityIndex::Memory(memory) => Extern::Memory(Memory::from_raw(id, instance.memory(memory))),
        EntityIndex::Table(table) => Extern::Table(Table::from_raw(id, instance.table(table))),
        EntityIndex::Global(global) => {
            let ty = instance.module.inner.info.globals[global.index()];
            Extern::Global(Global::from_raw(id, instance.global(global), ty))
        }
    }
}
