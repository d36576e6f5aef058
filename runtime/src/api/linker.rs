//! The linker: named definitions (host functions, externs, whole instances) that
//! satisfy a module's imports by name.

use hashbrown::HashMap;

use crate::api::engine::Engine;
use crate::api::externals::Extern;
use crate::api::func::{DynamicHostFunc, Func, IntoFunc, dynamic_host_callback, host_context};
use crate::api::instance::Instance;
use crate::api::module::Module;
use crate::api::store::{AsContextMut, Caller};
use crate::api::values::Val;
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::FuncType;
use crate::vm::host_func::HostFuncContext;

enum Definition {
    Extern(Extern),
    /// A host function shared by every store the linker instantiates into.
    HostFunc(Arc<HostFuncContext>),
}

/// Resolves imports by `(module, name)`.
pub struct Linker<T> {
    engine: Engine,
    /// Definitions by module name, then item name (looked up by `&str`, no allocation).
    definitions: HashMap<String, HashMap<String, Definition>>,
    allow_shadowing: bool,
    _marker: core::marker::PhantomData<fn(T)>,
}

impl<T: 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Self {
        Self {
            engine: engine.clone(),
            definitions: HashMap::new(),
            allow_shadowing: false,
            _marker: core::marker::PhantomData,
        }
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
        let items = self.definitions.entry(module.to_string()).or_default();
        if !self.allow_shadowing && items.contains_key(name) {
            return Err(Error::link(format!("`{module}::{name}` is already defined")));
        }
        items.insert(name.to_string(), definition);
        Ok(())
    }

    fn lookup(&self, module: &str, name: &str) -> Option<&Definition> {
        self.definitions.get(module)?.get(name)
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
        func: impl IntoFunc<T, Params, Results>,
    ) -> Result<&mut Self> {
        let (ty, callback) = func.into_func();
        let context = host_context(&self.engine, ty, callback)?;
        self.insert(module, name, Definition::HostFunc(context))?;
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
        let context = host_context(&self.engine, ty.clone(), dynamic_host_callback(ty, func))?;
        self.insert(module, name, Definition::HostFunc(context))?;
        Ok(self)
    }

    /// Defines every export of `instance` under `module`.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        for (name, export) in instance.exports(&mut store) {
            self.insert(module, &name, Definition::Extern(export))?;
        }
        Ok(self)
    }

    /// The definition of `module::name` as an extern of `store`.
    pub fn get(&self, mut store: impl AsContextMut<Data = T>, module: &str, name: &str) -> Option<Extern> {
        let definition = self.lookup(module, name)?;
        self.materialize(&mut store, definition).ok()
    }

    fn materialize(&self, store: &mut impl AsContextMut<Data = T>, definition: &Definition) -> Result<Extern> {
        Ok(match definition {
            Definition::Extern(item) => *item,
            Definition::HostFunc(host) => {
                let mut context = store.as_context_mut();
                Extern::Func(Func::from_shared(context.opaque(), host))
            }
        })
    }

    /// Instantiates `module`, resolving each import by name.
    pub fn instantiate(&self, mut store: impl AsContextMut<Data = T>, module: &Module) -> Result<Instance> {
        let info = &module.inner.info;
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        // Straight to raw imports with their final sizes: on big modules, growing
        // vectors here cost more than the instantiation itself.
        let mut imports = Vec::with_capacity(info.imports.len());
        opaque.host_funcs.reserve(info.imports.len());
        for import in &info.imports {
            let definition = self.lookup(&import.module, &import.name).ok_or_else(|| {
                let ty = info.entity_type(import.index);
                Error::link(format!("unknown import: `{}::{}` ({ty}) has not been defined", import.module, import.name))
            })?;
            let item = match definition {
                Definition::Extern(item) => *item,
                Definition::HostFunc(host) => Extern::Func(Func::from_shared(opaque, host)),
            };
            imports.push(item.to_raw(opaque)?);
        }
        Instance::new_raw(opaque, module, &imports)
    }

    /// Instantiates `module` and defines its exports under `name`.
    pub fn module(&mut self, mut store: impl AsContextMut<Data = T>, name: &str, module: &Module) -> Result<Instance> {
        let instance = self.instantiate(&mut store, module)?;
        self.instance(&mut store, name, instance)?;
        Ok(instance)
    }
}
