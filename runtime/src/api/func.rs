//! Functions: calling wasm from the host (dynamic and typed), and host functions
//! made from Rust closures.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::api::instance::Instance;
use crate::api::store::{AsContext, AsContextMut, Caller, StoreContextMut, StoreInner};
use crate::api::values::{ExternRef, V128, Val, check_types};
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::{FuncType, SharedTypeIndex, ValType};
use crate::vm::host_func::{HostCallback, HostFuncContext};
use crate::vm::instance::Instance as VmInstance;
use crate::vm::invoke::call_func_ref;
use crate::vm::store::{StoreId, StoreOpaque};
use crate::vm::vmcontext::{VMContext, VMFuncRef, ValRaw};

/// A function (wasm or host) in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    store: StoreId,
    func_ref: NonNull<VMFuncRef>,
}

// SAFETY: a Func is a handle; using it requires the store, which enforces exclusivity.
unsafe impl Send for Func {}
// SAFETY: as above.
unsafe impl Sync for Func {}

impl Func {
    pub(crate) fn from_raw(store: StoreId, func_ref: *mut VMFuncRef) -> Option<Func> {
        NonNull::new(func_ref).map(|func_ref| Func { store, func_ref })
    }

    pub(crate) fn store_id(&self) -> StoreId {
        self.store
    }

    pub(crate) fn func_ref_ptr(&self) -> *mut VMFuncRef {
        self.func_ref.as_ptr()
    }

    /// A host function of type `ty` from a closure over `Val`s.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<Func> {
        let callback = dynamic_callback(ty.clone(), func);
        Func::from_callback(store.as_context_mut().opaque(), ty, callback)
    }

    /// A host function from a Rust closure with typed parameters and results.
    pub fn wrap<T: 'static, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        func: impl IntoFunc<T, Params, Results>,
    ) -> Result<Func> {
        let (ty, callback) = func.into_func();
        Func::from_callback(store.as_context_mut().opaque(), ty, callback)
    }

    pub(crate) fn from_callback(store: &mut StoreOpaque, ty: FuncType, callback: HostCallback) -> Result<Func> {
        let context = host_context(&store.engine, ty, callback)?;
        Ok(Func::from_shared(store, &context))
    }

    /// A handle in `store` to a host function shared between stores.
    pub(crate) fn from_shared(store: &mut StoreOpaque, context: &Arc<HostFuncContext>) -> Func {
        let func_ref = context.func_ref_ptr();
        store.host_funcs.push(Arc::clone(context));
        Func::from_raw(store.id, func_ref).expect("non-null")
    }

    /// The function's type.
    pub fn ty(&self, store: impl AsContext) -> FuncType {
        let context = store.as_context();
        // SAFETY: the handle's function reference lives as long as its store.
        let id = unsafe { self.func_ref.as_ref().type_index };
        context.engine().func_type(SharedTypeIndex(id))
    }

    /// Calls the function with `params`, writing `results`.
    pub fn call(&self, mut store: impl AsContextMut, params: &[Val], results: &mut [Val]) -> Result<()> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        opaque.check(self.store)?;
        let ty = self.ty(&context);
        check_types("arguments", params, ty.params())?;
        if results.len() != ty.results().len() {
            return Err(Error::usage(format!(
                "expected room for {} results, got {}",
                ty.results().len(),
                results.len()
            )));
        }
        let mut values = vec![ValRaw::default(); ty.params().len().max(ty.results().len())];
        let opaque = context.opaque();
        for (slot, param) in values.iter_mut().zip(params) {
            *slot = param.to_raw(opaque)?;
        }
        // SAFETY: the function belongs to this store (checked) and the array fits its type.
        unsafe { call_func_ref(opaque, self.func_ref.as_ptr(), &mut values)? };
        for ((result, raw), &ty) in results.iter_mut().zip(&values).zip(ty.results()) {
            *result = Val::from_raw(self.store, *raw, ty);
        }
        Ok(())
    }

    /// A typed view of the function; fails if the types differ.
    pub fn typed<Params: WasmParams, Results: WasmResults>(
        &self,
        store: impl AsContext,
    ) -> Result<TypedFunc<Params, Results>> {
        let ty = self.ty(&store);
        if ty.params() != Params::types().as_slice() || ty.results() != Results::types().as_slice() {
            return Err(Error::usage(format!(
                "type mismatch: function is {ty}, requested {}",
                FuncType::new(Params::types(), Results::types())
            )));
        }
        Ok(TypedFunc { func: *self, _marker: PhantomData })
    }
}

fn dynamic_callback<T: 'static>(
    ty: FuncType,
    func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
) -> HostCallback {
    Box::new(move |store: *mut StoreOpaque, caller: *mut VMContext, values: &mut [ValRaw]| {
        // SAFETY: host functions of a Store<T> only ever run with that store.
        let (mut caller, id) = unsafe { make_caller::<T>(store, caller) };
        let params: Vec<Val> =
            ty.params().iter().zip(values.iter()).map(|(&t, &raw)| Val::from_raw(id, raw, t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        func(caller.reborrow(), &params, &mut results)?;
        check_types("results", &results, ty.results())?;
        let opaque = caller.store.opaque();
        for (slot, result) in values.iter_mut().zip(&results) {
            *slot = result.to_raw(opaque)?;
        }
        Ok(())
    })
}

/// A host function context for `engine`: its type registered, its trampoline compiled.
pub(crate) fn host_context(
    engine: &crate::Engine,
    ty: FuncType,
    callback: HostCallback,
) -> Result<Arc<HostFuncContext>> {
    let id = engine.register_type(&ty);
    let trampoline = engine.host_trampoline(&ty, id)?;
    Ok(HostFuncContext::new(ty, id.0, trampoline, callback))
}

/// Builds a `Caller` for a host call.
///
/// # Safety
/// `store` must be the `StoreOpaque` of a live `Store<T>`; `caller` a live vmctx or null.
unsafe fn make_caller<'a, T>(store: *mut StoreOpaque, caller: *mut VMContext) -> (Caller<'a, T>, StoreId) {
    // SAFETY: StoreInner<T> is repr(C) with the StoreOpaque first.
    let inner = unsafe { &mut *(store as *mut StoreInner<T>) };
    let id = inner.opaque.id;
    let instance = if caller.is_null() {
        None
    } else {
        // SAFETY: per the contract; only the index is read.
        let index = unsafe { VmInstance::from_vmctx(caller, |instance| instance.index) };
        Some(Instance::from_index(id, index))
    };
    (Caller { store: StoreContextMut(inner), instance }, id)
}

impl<T> Caller<'_, T> {
    fn reborrow(&mut self) -> Caller<'_, T> {
        Caller { store: StoreContextMut(self.store.0), instance: self.instance }
    }
}

/// A function with statically known parameter and result types.
pub struct TypedFunc<Params, Results> {
    func: Func,
    _marker: PhantomData<fn(Params) -> Results>,
}

impl<Params, Results> Clone for TypedFunc<Params, Results> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Params, Results> Copy for TypedFunc<Params, Results> {}

impl<Params: WasmParams, Results: WasmResults> TypedFunc<Params, Results> {
    /// The untyped function.
    pub fn func(&self) -> Func {
        self.func
    }

    /// Calls the function.
    pub fn call(&self, mut store: impl AsContextMut, params: Params) -> Result<Results> {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        opaque.check(self.func.store)?;
        let mut values = [ValRaw::default(); 16];
        let mut heap;
        let slots = Params::COUNT.max(Results::COUNT);
        let values: &mut [ValRaw] = if slots <= values.len() {
            &mut values[..slots]
        } else {
            heap = vec![ValRaw::default(); slots];
            &mut heap
        };
        params.store(opaque, values)?;
        // SAFETY: the function's type matches (checked by `typed`) and it is ours.
        unsafe { call_func_ref(opaque, self.func.func_ref.as_ptr(), values)? };
        Ok(Results::load(opaque.id, values))
    }
}

/// A Rust type that is a wasm value type.
pub trait WasmTy: Sized {
    fn valtype() -> ValType;
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw>;
    fn from_raw(store: StoreId, raw: ValRaw) -> Self;
}

macro_rules! numeric_ty {
    ($ty:ty, $valtype:ident, |$v:ident| $to:expr, |$raw:ident| $from:expr) => {
        impl WasmTy for $ty {
            fn valtype() -> ValType {
                ValType::$valtype
            }
            fn to_raw(self, _store: &StoreOpaque) -> Result<ValRaw> {
                let $v = self;
                Ok(ValRaw::from_u64($to))
            }
            fn from_raw(_store: StoreId, $raw: ValRaw) -> Self {
                $from
            }
        }
    };
}

numeric_ty!(i32, I32, |v| u64::from(v as u32), |raw| raw.u64() as u32 as i32);
numeric_ty!(u32, I32, |v| u64::from(v), |raw| raw.u64() as u32);
numeric_ty!(i64, I64, |v| v as u64, |raw| raw.u64() as i64);
numeric_ty!(u64, I64, |v| v, |raw| raw.u64());
numeric_ty!(f32, F32, |v| u64::from(v.to_bits()), |raw| f32::from_bits(raw.u64() as u32));
numeric_ty!(f64, F64, |v| v.to_bits(), |raw| f64::from_bits(raw.u64()));

macro_rules! vector_ty {
    ($ty:ty, |$v:ident| $to:expr, |$raw:ident| $from:expr) => {
        impl WasmTy for $ty {
            fn valtype() -> ValType {
                ValType::V128
            }
            fn to_raw(self, _store: &StoreOpaque) -> Result<ValRaw> {
                let $v = self;
                Ok(ValRaw::from_u128($to))
            }
            fn from_raw(_store: StoreId, $raw: ValRaw) -> Self {
                $from
            }
        }
    };
}

vector_ty!(u128, |v| v, |raw| raw.u128());
vector_ty!(V128, |v| v.as_u128(), |raw| V128::from_u128(raw.u128()));

impl WasmTy for Option<Func> {
    fn valtype() -> ValType {
        ValType::FUNCREF
    }
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Val::FuncRef(self).to_raw(store)
    }
    fn from_raw(store: StoreId, raw: ValRaw) -> Self {
        Func::from_raw(store, raw.u64() as usize as *mut VMFuncRef)
    }
}

impl WasmTy for Option<ExternRef> {
    fn valtype() -> ValType {
        ValType::EXTERNREF
    }
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Val::ExternRef(self).to_raw(store)
    }
    fn from_raw(store: StoreId, raw: ValRaw) -> Self {
        ExternRef::from_raw(store, raw.u64() as usize)
    }
}

/// Parameter lists: `()`, a single `WasmTy`, or tuples of them.
pub trait WasmParams: Sized {
    const COUNT: usize;
    fn types() -> Vec<ValType>;
    fn store(self, store: &StoreOpaque, values: &mut [ValRaw]) -> Result<()>;
    fn load(store: StoreId, values: &[ValRaw]) -> Self;
}

/// Result lists (the same shapes as parameters).
pub trait WasmResults: WasmParams {}
impl<T: WasmParams> WasmResults for T {}

impl<A: WasmTy> WasmParams for A {
    const COUNT: usize = 1;
    fn types() -> Vec<ValType> {
        vec![A::valtype()]
    }
    fn store(self, store: &StoreOpaque, values: &mut [ValRaw]) -> Result<()> {
        values[0] = self.to_raw(store)?;
        Ok(())
    }
    fn load(store: StoreId, values: &[ValRaw]) -> Self {
        A::from_raw(store, values[0])
    }
}

macro_rules! tuple_params {
    ($count:expr; $($name:ident $index:tt),*) => {
        impl<$($name: WasmTy),*> WasmParams for ($($name,)*) {
            const COUNT: usize = $count;
            fn types() -> Vec<ValType> {
                vec![$($name::valtype()),*]
            }
            #[allow(unused_variables, reason = "the empty tuple uses neither")]
            fn store(self, store: &StoreOpaque, values: &mut [ValRaw]) -> Result<()> {
                $(values[$index] = self.$index.to_raw(store)?;)*
                Ok(())
            }
            #[allow(unused_variables, clippy::unused_unit, reason = "the empty tuple uses neither")]
            fn load(store: StoreId, values: &[ValRaw]) -> Self {
                ($($name::from_raw(store, values[$index]),)*)
            }
        }
    };
}

tuple_params!(0;);
tuple_params!(1; A 0);
tuple_params!(2; A 0, B 1);
tuple_params!(3; A 0, B 1, C 2);
tuple_params!(4; A 0, B 1, C 2, D 3);
tuple_params!(5; A 0, B 1, C 2, D 3, E 4);
tuple_params!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_params!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_params!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_params!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_params!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

/// What a host closure may return: results, or `Result` of results.
pub trait WasmRet {
    type Results: WasmResults;
    fn into_result(self) -> Result<Self::Results>;
}

impl<R: WasmResults> WasmRet for R {
    type Results = R;
    fn into_result(self) -> Result<R> {
        Ok(self)
    }
}

impl<R: WasmResults> WasmRet for Result<R> {
    type Results = R;
    fn into_result(self) -> Result<R> {
        self
    }
}

/// Closures that can become host functions.
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    fn into_func(self) -> (FuncType, HostCallback);
}

macro_rules! into_func {
    ($($name:ident $index:tt),*) => {
        impl<T: 'static, F, R, $($name: WasmTy + 'static),*> IntoFunc<T, (Caller<'static, T>, $($name,)*), R> for F
        where
            F: Fn(Caller<'_, T>, $($name),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn into_func(self) -> (FuncType, HostCallback) {
                let ty = FuncType::new(vec![$($name::valtype()),*], R::Results::types());
                let callback: HostCallback = Box::new(move |store, caller, values: &mut [ValRaw]| {
                    // SAFETY: host functions of a Store<T> only ever run with that store.
                    #[allow(unused_variables, reason = "nullary closures read no parameters")]
                    let (caller, id) = unsafe { make_caller::<T>(store, caller) };
                    let results = self(caller, $($name::from_raw(id, values[$index])),*).into_result()?;
                    // SAFETY: as above.
                    let opaque = unsafe { &*store };
                    results.store(opaque, values)
                });
                (ty, callback)
            }
        }

        impl<T: 'static, F, R, $($name: WasmTy + 'static),*> IntoFunc<T, ($($name,)*), R> for F
        where
            F: Fn($($name),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            #[allow(unused_variables, reason = "nullary closures ignore the arguments")]
            fn into_func(self) -> (FuncType, HostCallback) {
                let ty = FuncType::new(vec![$($name::valtype()),*], R::Results::types());
                let callback: HostCallback = Box::new(move |store, _caller, values: &mut [ValRaw]| {
                    // SAFETY: the store is live for the call.
                    let opaque = unsafe { &*store };
                    let results = self($($name::from_raw(opaque.id, values[$index])),*).into_result()?;
                    results.store(opaque, values)
                });
                (ty, callback)
            }
        }
    };
}

into_func!();
into_func!(A 0);
into_func!(A 0, B 1);
into_func!(A 0, B 1, C 2);
into_func!(A 0, B 1, C 2, D 3);
into_func!(A 0, B 1, C 2, D 3, E 4);
into_func!(A 0, B 1, C 2, D 3, E 4, F2 5);
into_func!(A 0, B 1, C 2, D 3, E 4, F2 5, G 6);
into_func!(A 0, B 1, C 2, D 3, E 4, F2 5, G 6, H 7);
into_func!(A 0, B 1, C 2, D 3, E 4, F2 5, G 6, H 7, I 8);
into_func!(A 0, B 1, C 2, D 3, E 4, F2 5, G 6, H 7, I 8, J 9);

/// A host function over `Val`s, shareable between stores.
pub(crate) type DynamicHostFunc<T> = Arc<dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync>;

/// Turns a `Val` closure into a callback usable by the linker for any store of `T`.
pub(crate) fn dynamic_host_callback<T: 'static>(ty: FuncType, func: DynamicHostFunc<T>) -> HostCallback {
    dynamic_callback(ty, move |caller, params, results| func(caller, params, results))
}
