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
use crate::vm::host_func::HostFuncContext;
use crate::vm::instance::Instance;
use crate::vm::memory::MemoryInstance;
use crate::vm::table::TableInstance;
use crate::vm::vmcontext::{VMGlobalDefinition, VMRuntimeLimits};

/// Identifies a store; handles carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StoreId(pub u64);

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// A host-created global.
pub struct HostGlobal {
    pub definition: VMGlobalDefinition,
    pub ty: GlobalType,
}

/// What every store holds, independent of its host data type.
pub struct StoreOpaque {
    pub id: StoreId,
    pub engine: Engine,
    pub limits: Box<VMRuntimeLimits>,
    pub instances: Vec<Box<Instance>>,
    pub memories: Vec<Box<MemoryInstance>>,
    pub tables: Vec<Box<TableInstance>>,
    pub globals: Vec<Box<HostGlobal>>,
    pub host_funcs: Vec<Box<HostFuncContext>>,
    pub externrefs: Vec<Box<dyn Any + Send + Sync>>,
    /// The error of a host function that failed, until the call that reached it returns.
    pub pending_error: Option<Error>,
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
        }
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
