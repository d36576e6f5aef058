//! Stores and contexts: who owns instances and host state, and how API calls reach it.
//!
//! Every API function takes `impl AsContext` or `impl AsContextMut`, so a `&mut Store<T>`
//! and a host function's `Caller<'_, T>` work alike (as in Wasmtime).

use crate::api::engine::Engine;
use crate::api::externals::Extern;
use crate::api::instance::Instance;
use crate::prelude::*;
use crate::vm::store::{EpochPolicy, StoreOpaque, UpdateDeadline};

/// The store's state: the untyped part first, so `*mut StoreOpaque` casts to it.
#[repr(C)]
pub(crate) struct StoreInner<T> {
    pub opaque: StoreOpaque,
    pub data: T,
}

/// Owns instances, memories, tables, globals and host functions, plus host data `T`.
pub struct Store<T> {
    inner: Box<StoreInner<T>>,
}

impl<T> Store<T> {
    /// An empty store for `engine` holding `data`.
    pub fn new(engine: &Engine, data: T) -> Self {
        Self { inner: Box::new(StoreInner { opaque: StoreOpaque::new(engine), data }) }
    }

    pub fn data(&self) -> &T {
        &self.inner.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    pub fn into_data(self) -> T {
        self.inner.data
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.opaque.engine
    }

    /// Sets the fuel left (requires `Config::consume_fuel`).
    pub fn set_fuel(&mut self, fuel: u64) -> crate::Result<()> {
        self.inner.opaque.set_fuel(fuel)
    }

    /// The fuel left.
    pub fn get_fuel(&self) -> crate::Result<u64> {
        self.inner.opaque.get_fuel()
    }

    /// Hands fuel out in slices of `interval`, yielding to the platform between slices,
    /// instead of trapping when a slice runs out (Wasmtime's `fuel_async_yield_interval`).
    pub fn fuel_yield_interval(&mut self, interval: Option<u64>) -> crate::Result<()> {
        self.inner.opaque.set_fuel_yield_interval(interval)
    }

    /// Sets the epoch deadline `ticks` epochs from now (requires `Config::epoch_interruption`).
    pub fn set_epoch_deadline(&mut self, ticks: u64) {
        self.inner.opaque.set_epoch_deadline(ticks);
    }

    /// When the deadline passes, trap with `Interrupt` (the default).
    pub fn epoch_deadline_trap(&mut self) {
        self.inner.opaque.epoch_policy = EpochPolicy::Trap;
    }

    /// When the deadline passes, ask `callback` for the next one (or an error to trap).
    pub fn epoch_deadline_callback(
        &mut self,
        mut callback: impl FnMut(StoreContextMut<'_, T>) -> crate::Result<UpdateDeadline> + Send + 'static,
    ) where
        T: 'static,
    {
        self.inner.opaque.epoch_policy = EpochPolicy::Callback(Box::new(move |store: *mut StoreOpaque| {
            // SAFETY: the callback only runs with the store it was installed in, whose
            // `StoreInner<T>` starts with this `StoreOpaque`.
            let inner = unsafe { &mut *(store as *mut StoreInner<T>) };
            callback(StoreContextMut(inner))
        }));
    }
}

/// Shared access to a store.
pub struct StoreContext<'a, T>(pub(crate) &'a StoreInner<T>);

/// Exclusive access to a store.
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut StoreInner<T>);

impl<T> StoreContext<'_, T> {
    pub(crate) fn opaque(&self) -> &StoreOpaque {
        &self.0.opaque
    }

    pub fn data(&self) -> &T {
        &self.0.data
    }

    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }
}

impl<T> StoreContextMut<'_, T> {
    pub(crate) fn opaque(&mut self) -> &mut StoreOpaque {
        &mut self.0.opaque
    }

    pub(crate) fn opaque_ref(&self) -> &StoreOpaque {
        &self.0.opaque
    }

    pub fn data(&self) -> &T {
        &self.0.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.0.data
    }

    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }
}

/// Things that give shared access to a store.
pub trait AsContext {
    type Data;
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Things that give exclusive access to a store.
pub trait AsContextMut: AsContext {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(&self.inner)
    }
}

impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(&mut self.inner)
    }
}

impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}

impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        (**self).as_context_mut()
    }
}

/// What a host function sees of its caller: the store, and the calling instance.
pub struct Caller<'a, T> {
    pub(crate) store: StoreContextMut<'a, T>,
    pub(crate) instance: Option<Instance>,
}

impl<T> Caller<'_, T> {
    pub fn data(&self) -> &T {
        self.store.data()
    }

    pub fn data_mut(&mut self) -> &mut T {
        self.store.data_mut()
    }

    pub fn engine(&self) -> &Engine {
        self.store.engine()
    }

    /// The fuel left.
    pub fn get_fuel(&self) -> crate::Result<u64> {
        self.store.0.opaque.get_fuel()
    }

    /// Sets the fuel left.
    pub fn set_fuel(&mut self, fuel: u64) -> crate::Result<()> {
        self.store.0.opaque.set_fuel(fuel)
    }

    /// An export of the calling instance (`memory`, typically).
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        let instance = self.instance?;
        instance.get_export(&mut self.store, name)
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        self.store.as_context()
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        self.store.as_context_mut()
    }
}
