//! The untyped part of a store: everything a store owns, reachable from generated
//! code (through the `VMContext` header) and from host functions.
//!
//! Instances, memories, tables, globals, host function contexts and external
//! references all live as long as the store; handles are raw pointers or indices into
//! it, tagged with the store's id so a handle of another store is an error, not UB.

use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::api::engine::Engine;
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::GlobalType;
use crate::vm::epoch::SlotHandle;
use crate::vm::host_func::HostFuncContext;
use crate::vm::instance::Instance;
use crate::vm::memory::MemoryInstance;
use crate::vm::table::TableInstance;
use crate::vm::vmcontext::{VMGlobalDefinition, VMRuntimeLimits};

/// Identifies a store; handles carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StoreId(pub u64);

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// What to do when a store's epoch deadline passes.
pub enum EpochPolicy {
    /// Trap with `Interrupt` (the default).
    Trap,
    /// Ask the embedder; it returns the next deadline (or an error to trap).
    Callback(Box<dyn FnMut(*mut StoreOpaque) -> Result<UpdateDeadline> + Send>),
}

/// The embedder's answer when an epoch deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateDeadline {
    /// Go on; the new deadline is this many ticks after the current epoch.
    Continue(u64),
    /// Yield to the platform's scheduler first, then go on with the new deadline.
    Yield(u64),
}

/// A host-created global.
pub struct HostGlobal {
    pub definition: VMGlobalDefinition,
    pub ty: GlobalType,
}

/// What every store holds, independent of its host data type.
#[expect(
    clippy::vec_box,
    reason = "the boxes keep their addresses when a vector grows: VMContexts and generated code point into them"
)]
pub struct StoreOpaque {
    pub id: StoreId,
    pub limits: Box<VMRuntimeLimits>,
    pub instances: Vec<Box<Instance>>,
    pub memories: Vec<Box<MemoryInstance>>,
    pub tables: Vec<Box<TableInstance>>,
    pub globals: Vec<Box<HostGlobal>>,
    pub host_funcs: Vec<Arc<HostFuncContext>>,
    pub externrefs: Vec<Box<dyn Any + Send + Sync>>,
    /// The error of a host function that failed, until the call that reached it returns.
    pub pending_error: Option<Error>,
    pub epoch_policy: EpochPolicy,
    /// The store's slot in the engine's epoch clock (with epoch interruption).
    pub epoch: Option<SlotHandle>,
    /// Fuel handed out per slice when yielding on fuel; `None` traps when fuel runs out.
    pub fuel_yield_interval: Option<u64>,
    /// Fuel not yet handed out (with a yield interval).
    pub fuel_reserve: u64,
    /// Declared last so it drops last: the epoch slot above lives in the engine's clock,
    /// and instances and memories go back to its allocator and pool.
    pub engine: Engine,
}

impl StoreOpaque {
    pub fn new(engine: &Engine) -> Self {
        Self {
            id: StoreId(NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed)),
            engine: engine.clone(),
            limits: Box::new(VMRuntimeLimits::default()),
            instances: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            host_funcs: Vec::new(),
            externrefs: Vec::new(),
            pending_error: None,
            epoch_policy: EpochPolicy::Trap,
            epoch: engine.inner.config.epoch_interruption.then(|| engine.inner.epoch.claim()),
            fuel_yield_interval: None,
            fuel_reserve: 0,
        }
    }

    fn require_fuel(&self) -> Result<()> {
        if self.engine.inner.config.consume_fuel {
            Ok(())
        } else {
            Err(Error::usage("fuel is not enabled: use Config::consume_fuel(true)"))
        }
    }

    /// Sets the fuel left to `fuel`.
    pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.require_fuel()?;
        let active = match self.fuel_yield_interval {
            Some(interval) => fuel.min(interval),
            None => fuel,
        };
        self.fuel_reserve = fuel - active;
        self.limits.fuel_consumed = -(active.min(i64::MAX as u64) as i64);
        Ok(())
    }

    /// The fuel left.
    pub fn get_fuel(&self) -> Result<u64> {
        self.require_fuel()?;
        let active = u64::try_from(-self.limits.fuel_consumed.min(0)).unwrap_or(0);
        Ok(active + self.fuel_reserve)
    }

    /// Hands out fuel in slices of `interval`, yielding between slices (`None`: trap
    /// when fuel runs out).
    pub fn set_fuel_yield_interval(&mut self, interval: Option<u64>) -> Result<()> {
        self.require_fuel()?;
        let fuel = self.get_fuel()?;
        self.fuel_yield_interval = interval.filter(|&i| i > 0);
        self.set_fuel(fuel)
    }

    /// Sets the epoch deadline `ticks` after the engine's current epoch (no effect
    /// without epoch interruption).
    pub fn set_epoch_deadline(&mut self, ticks: u64) {
        if let Some(handle) = &self.epoch {
            let clock = &self.engine.inner.epoch;
            handle.slot().set_deadline(clock.now().saturating_add(ticks), clock);
        }
    }

    /// Called when an armed epoch poll faulted (`vm::epoch_poll`): true to trap with
    /// `Interrupt`. A poll armed by a tick that raced with a new deadline just goes on.
    pub fn epoch_poll_fault(&mut self) -> bool {
        let Some(handle) = &self.epoch else { return false };
        let slot = handle.slot();
        slot.disarm();
        // After the disarm: a tick from here on arms again if it reaches the deadline.
        if self.engine.inner.epoch.now() < slot.deadline() {
            return false;
        }
        let trap = self.new_epoch();
        if let (true, Some(handle)) = (trap, &self.epoch) {
            // The poll must fault again: that fault is the trap.
            handle.slot().arm();
        }
        trap
    }

    /// The deadline passed (called by the poll's slow path, and by generated code that
    /// compares, with fuel metering): the policy decides. True to trap with `Interrupt`.
    pub fn new_epoch(&mut self) -> bool {
        let this: *mut StoreOpaque = self;
        let update = match &mut self.epoch_policy {
            EpochPolicy::Trap => return true,
            EpochPolicy::Callback(callback) => callback(this),
        };
        let ticks = match update {
            Ok(UpdateDeadline::Continue(ticks)) => ticks,
            Ok(UpdateDeadline::Yield(ticks)) => {
                self.engine.inner.platform.yield_now();
                ticks
            }
            Err(_) => return true,
        };
        self.set_epoch_deadline(ticks.max(1));
        false
    }

    /// Called by generated code when fuel ran out: true when more fuel was handed out.
    pub fn out_of_fuel(&mut self) -> bool {
        let (Some(interval), true) = (self.fuel_yield_interval, self.fuel_reserve > 0) else {
            return false;
        };
        self.engine.inner.platform.yield_now();
        let slice = interval.min(self.fuel_reserve);
        self.fuel_reserve -= slice;
        self.limits.fuel_consumed -= slice as i64;
        true
    }

    /// Fails when a handle from store `id` is used with this store.
    pub fn check(&self, id: StoreId) -> Result<()> {
        if id == self.id { Ok(()) } else { Err(Error::usage("object used with the wrong store")) }
    }

    /// Keeps a memory alive for the store's lifetime; returns a stable pointer to it.
    pub fn push_memory(&mut self, mut memory: Box<MemoryInstance>) -> *mut MemoryInstance {
        let pointer: *mut MemoryInstance = &mut *memory;
        self.memories.push(memory);
        pointer
    }

    /// Keeps a table alive for the store's lifetime; returns a stable pointer to it.
    pub fn push_table(&mut self, mut table: Box<TableInstance>) -> *mut TableInstance {
        let pointer: *mut TableInstance = &mut *table;
        self.tables.push(table);
        pointer
    }
}
