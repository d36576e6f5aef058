//! Tables: a growable array of pointer-sized elements behind a `VMTableDefinition`.
//!
//! Funcref elements use the lazy encoding (`0` = not yet initialized, `ptr | 1` =
//! initialized, `1` = null); externref elements are the raw reference (`0` = null).
//! A lazily initialized table remembers its owning instance, which resolves an element
//! from the module's precomputed initial contents on first access.

use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::{DefinedTableIndex, RefType, TableType};
use crate::vm::pool::Pool;
use crate::vm::vmcontext::{VMFuncRef, VMTableDefinition};

/// Largest number of elements a table may have.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

/// Where a lazily initialized table gets its initial elements from.
#[derive(Clone, Copy, Debug)]
pub struct LazyOrigin {
    pub instance: *mut crate::vm::instance::Instance,
    pub table: DefinedTableIndex,
}

/// One table. The definition comes first so a `*mut VMTableDefinition` is also a
/// `*mut TableInstance`.
#[repr(C)]
pub struct TableInstance {
    pub definition: VMTableDefinition,
    elements: Vec<usize>,
    ty: TableType,
    maximum: u64,
    pub lazy: Option<LazyOrigin>,
    /// The pool the element buffer returns to, if pooled.
    pool: Option<Arc<Pool>>,
}

/// The stored form of a funcref (tagged as initialized).
pub fn tag_funcref(func_ref: *mut VMFuncRef) -> usize {
    func_ref as usize | 1
}

impl TableInstance {
    /// A table of `ty.minimum` elements, each `init` (already in stored form); its
    /// element buffer comes from `pool` when given.
    pub fn new(ty: TableType, init: usize, lazy: Option<LazyOrigin>, pool: Option<&Arc<Pool>>) -> Result<Box<Self>> {
        let pool_max = pool.map_or(u64::MAX, |pool| pool.config.max_table_elements);
        let maximum = ty.maximum.unwrap_or(u64::MAX).min(MAX_TABLE_ELEMENTS).min(pool_max);
        if ty.minimum > maximum {
            return Err(Error::resource(format!("table of {} elements exceeds the limit of {maximum}", ty.minimum)));
        }
        let mut elements = match pool {
            Some(pool) => pool.take_table()?,
            None => Vec::new(),
        };
        let size = ty.minimum as usize;
        if init == 0 && elements.len() >= size {
            // A pooled buffer is kept zeroed: just shorten it.
            elements.truncate(size);
        } else if elements.is_empty() && init == 0 {
            // Zeroed allocation: fresh pages need no clearing.
            elements = vec![0; size];
        } else {
            elements.clear();
            if elements.try_reserve_exact(size).is_err() {
                if let Some(pool) = pool {
                    pool.return_table(elements);
                }
                return Err(Error::resource("out of memory for a table"));
            }
            elements.resize(size, init);
        }
        let mut table = Box::new(TableInstance {
            definition: VMTableDefinition { base: core::ptr::null_mut(), current_elements: 0 },
            elements,
            ty,
            maximum,
            lazy,
            pool: pool.cloned(),
        });
        table.sync();
        Ok(table)
    }

    fn sync(&mut self) {
        self.definition.base = self.elements.as_mut_ptr();
        self.definition.current_elements = self.elements.len() as u64;
    }

    pub fn ty(&self) -> TableType {
        let mut ty = self.ty;
        ty.minimum = self.size();
        ty
    }

    pub fn element_type(&self) -> RefType {
        self.ty.element
    }

    pub fn size(&self) -> u64 {
        self.elements.len() as u64
    }

    /// Grows by `delta` elements set to `init` (stored form); returns the old size.
    pub fn grow(&mut self, delta: u64, init: usize) -> Option<u64> {
        let old = self.size();
        let new = old.checked_add(delta)?;
        if new > self.maximum {
            return None;
        }
        self.elements.try_reserve_exact(delta as usize).ok()?;
        self.elements.resize(new as usize, init);
        self.sync();
        Some(old)
    }

    /// The raw stored element at `index` (funcrefs may still be `0`, uninitialized).
    pub fn raw(&self, index: u64) -> Option<usize> {
        self.elements.get(usize::try_from(index).ok()?).copied()
    }

    /// Stores a raw element.
    pub fn set_raw(&mut self, index: u64, value: usize) -> Option<()> {
        *self.elements.get_mut(usize::try_from(index).ok()?)? = value;
        Some(())
    }

    /// All elements, mutably (bulk operations).
    pub fn elements_mut(&mut self) -> &mut [usize] {
        &mut self.elements
    }

    pub fn definition_ptr(&mut self) -> *mut VMTableDefinition {
        &mut self.definition
    }
}

impl Drop for TableInstance {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.return_table(core::mem::take(&mut self.elements));
        }
    }
}
