//! The linker: named definitions (host functions, externs, whole instances) that
//! satisfy a module's imports by name.

use hashbrown::HashMap;

use crate::api::engine::Engine;
use crate::api::externals::Extern;
use crate::api::func::{DynamicHostFunc, Func, IntoFunc, dynamic_host_callback};
use crate::api::instance::Instance;
use crate::api::module::Module;
use crate::api::store::{AsContextMut, Caller};
use crate::api::values::Val;
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::FuncType;
use crate::vm::host_func::HostCallback;

type CallbackFactory = Arc<dyn Fn() -> HostCallback + Send + Sync>;

enum Definition {
    Extern(Extern),
    /// A host function not yet placed in a store: made per store on instantiation.
    HostFunc { ty: FuncType, make: CallbackFactory },
}

/// Resolves imports by `(module, name)`.
pub struct Linker<T> {
    engine: Engine,
    definitions: HashMap<(String, String), Definition>,
    allow_shadowing: bool,
    _marker: core::marker::PhantomData<fn(T)>,
}

impl<T: 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Self {
        Self { engine: engine.clone(), definitions: HashMap::new(), allow_shadowing: false, _marker: core::marker::PhantomData }
    }

    /// Whether a later definition may replace an earlier one of the same name.
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn insert(&mut self, module: &str, name: &str, definition: Definition) -> Result<()> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.definitions.contains_key(&key) {
            return Err(Error::link(format!("`{module}::{name}` is already defined")));
        }
        self.definitions.insert(key, definition);
        Ok(())
    }

    /// Defines `module::name` as `item` (which belongs to one store).
    pub fn define(&mut self, module: &str, name: &str, item: impl Into<Extern>) -> Result<&mut Self> {
        self.insert(module, name, Definition::Extern(item.into()))?;
        Ok(self)
    }

    /// Defines a host function from a typed Rust closure.
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<T, Params, Results> + Clone,
    ) -> Result<&mut Self> {
        let (ty, _) = func.clone().into_func();
        let make: CallbackFactory = Arc::new(move || func.clone().into_func().1);
        self.insert(module, name, Definition::HostFunc { ty, make })?;
        Ok(self)
    }

    /// Defines a host function of type `ty` from a closure over `Val`s.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let func: DynamicHostFunc<T> = Arc::new(func);
        let callback_ty = ty.clone();
        let make: CallbackFactory = Arc::new(move || dynamic_host_callback(callback_ty.clone(), Arc::clone(&func)));
        self.insert(module, name, Definition::HostFunc { ty, make })?;
        Ok(self)
    }

    /// Defines every export of `instance` under `module`.
    pub fn instance(&mut self, mut store: impl AsContextMut<Data = T>, module: &str, instance: Instance) -> Result<&mut Self> {
        for (name, export) in instance.exports(&mut store) {
            self.insert(module, &name, Definition::Extern(export))?;
        }
        Ok(self)
    }

    /// The definition of `module::name` as an extern of `store`.
    pub fn get(&self, mut store: impl AsContextMut<Data = T>, module: &str, name: &str) -> Option<Extern> {
        let definition = self.definitions.get(&(module.to_string(), name.to_string()))?;
        self.materialize(&mut store, definition).ok()
    }

    fn materialize(&self, store: &mut impl AsContextMut<Data = T>, definition: &Definition) -> Result<Extern> {
        Ok(match definition {
            Definition::Extern(item) => *item,
            Definition::HostFunc { ty, make } => {
                let mut context = store.as_context_mut();
                Extern::Func(Func::from_callback(context.opaque(), ty.clone(), make())?)
            }
        })
    }

    /// Instantiates `module`, resolving each import by name.
    pub fn instantiate(&self, mut store: impl AsContextMut<Data = T>, module: &Module) -> Result<Instance> {
        let mut imports = Vec::with_capacity(module.imports().len());
        for import in module.imports() {
            let definition = self.definitions.get(&(import.module.to_string(), import.name.to_string())).ok_or_else(|| {
                Error::link(format!("unknown import: `{}::{}` ({}) has not been defined", import.module, import.name, import.ty))
            })?;
            imports.push(self.materialize(&mut store, definition)?);
        }
        Instance::new(store, module, &imports)
    }

    /// Instantiates `module` and defines its exports under `name`.
    pub fn module(&mut self, mut store: impl AsContextMut<Data = T>, name: &str, module: &Module) -> Result<Instance> {
        let instance = self.instantiate(&mut store, module)?;
        self.instance(&mut store, name, instance)?;
        Ok(instance)
    }
}
