//! Linear memories: a reservation from the page allocator, committed as it grows.
//!
//! A 32-bit memory reserves 4 GiB for its contents plus a 4 GiB guard region (and one
//! page), so any `index + offset + size` of a 32-bit access lands inside the
//! reservation and needs no bounds check; growing only commits pages and never moves
//! the memory. A 64-bit memory reserves the same 8 GiB, is bounds-checked by generated
//! code, and cannot grow past that reservation.

use crate::error::{Error, Result};
use crate::memory::page_alloc::{PageAllocator, Region};
use crate::platform::Protection;
use crate::prelude::*;
use crate::types::{MemoryType, WASM_PAGE_SIZE};
use crate::vm::memory_image::MemoryImage;
use crate::vm::pool::{FreeMemory, Pool};
use crate::vm::vmcontext::VMMemoryDefinition;

/// Bytes reserved for every memory: 4 GiB of contents, 4 GiB of guard, one page.
pub const MEMORY_RESERVATION: usize = (8 << 30) + WASM_PAGE_SIZE as usize;
/// Where every memory's base lies: a multiple of 2 MiB, so that growth counted in wasm
/// pages lines up with the platform's large pages and with a hypervisor's groups of
/// neighbouring page entries (a base off by one 4 KiB page cost every 64 KiB of growth
/// one more shadow fault under KVM).
pub const MEMORY_ALIGN: usize = 2 << 20;
/// Largest size of a 32-bit memory in bytes.
const MAX_32BIT_BYTES: u64 = 4 << 30;

/// One linear memory. The definition comes first so a `*mut VMMemoryDefinition` held
/// by generated code is also a `*mut MemoryInstance`.
#[repr(C)]
pub struct MemoryInstance {
    pub definition: VMMemoryDefinition,
    ty: MemoryType,
    region: Region,
    /// Bytes committed (accessible) from the base.
    committed: usize,
    /// Largest size this memory may reach, in bytes.
    maximum: u64,
    allocator: Arc<PageAllocator>,
    /// The pool this memory's slot returns to, if pooled.
    pool: Option<Arc<Pool>>,
    /// The image mapped copy-on-write at the start of the memory, if any.
    image: Option<Arc<MemoryImage>>,
}

// SAFETY: the raw base pointer refers to memory owned by this instance.
unsafe impl Send for MemoryInstance {}
// SAFETY: as above; mutation goes through &mut self.
unsafe impl Sync for MemoryInstance {}

impl MemoryInstance {
    /// Reserves and commits a memory of `ty.minimum` pages, limited to `limit_bytes`;
    /// from `pool` when given (reusing a slot), else from `allocator`.
    pub fn new(
        allocator: &Arc<PageAllocator>,
        pool: Option<&Arc<Pool>>,
        ty: MemoryType,
        limit_bytes: u64,
        image: Option<&Arc<MemoryImage>>,
    ) -> Result<Box<Self>> {
        let declared_max = ty.maximum.unwrap_or(ty.absolute_max_pages()).saturating_mul(WASM_PAGE_SIZE);
        let pool_max = pool.map_or(u64::MAX, |pool| pool.config.max_memory_pages.saturating_mul(WASM_PAGE_SIZE));
        let maximum = declared_max.min(MAX_32BIT_BYTES).min(limit_bytes).min(pool_max);
        let initial = ty.minimum.checked_mul(WASM_PAGE_SIZE).filter(|&bytes| bytes <= maximum).ok_or_else(|| {
            Error::resource(format!("memory of {} pages exceeds the limit of {} bytes", ty.minimum, maximum))
        })?;
        let (region, committed, mapped) = match pool {
            Some(pool) => {
                let slot = pool.take_memory(MEMORY_RESERVATION, image)?;
                (slot.region, slot.accessible, slot.image)
            }
            None => (allocator.allocate_aligned(MEMORY_RESERVATION, MEMORY_ALIGN)?, 0, None),
        };
        let mut memory = Box::new(MemoryInstance {
            definition: VMMemoryDefinition { base: region.base(), current_length: 0 },
            ty,
            region,
            committed,
            maximum,
            allocator: Arc::clone(allocator),
            pool: pool.cloned(),
            image: mapped,
        });
        let same_image = matches!((&memory.image, image), (Some(mapped), Some(wanted)) if Arc::ptr_eq(mapped, wanted));
        if !same_image {
            // Another module's image (or none) is mapped in a reused slot: drop it.
            memory.unmap_image()?;
        }
        if memory.committed > initial as usize {
            // A reused slot larger than needed: its excess must fault again.
            memory.allocator.decommit(&memory.region, initial as usize, memory.committed - initial as usize)?;
            memory.committed = initial as usize;
        }
        memory.commit_to(initial as usize)?;
        memory.definition.current_length = initial;
        if let (false, Some(image)) = (same_image, image) {
            memory.allocator.map_image(&memory.region, image.offset, image)?;
            memory.image = Some(Arc::clone(image));
        }
        Ok(memory)
    }

    /// Replaces the mapped image, if any, with zeroed read-write memory.
    fn unmap_image(&mut self) -> Result<()> {
        if let Some(image) = self.image.take() {
            self.allocator.unmap_image(&self.region, image.offset, image.len)?;
        }
        Ok(())
    }

    fn commit_to(&mut self, bytes: usize) -> Result<()> {
        if bytes > self.committed {
            self.allocator.commit(&self.region, self.committed, bytes - self.committed, Protection::ReadWrite)?;
            self.committed = bytes;
        }
        Ok(())
    }

    pub fn ty(&self) -> MemoryType {
        let mut ty = self.ty;
        ty.minimum = self.size_pages();
        ty
    }

    /// Current size in pages.
    pub fn size_pages(&self) -> u64 {
        self.definition.current_length / WASM_PAGE_SIZE
    }

    /// Current size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.definition.current_length as usize
    }

    /// Grows by `delta` pages; returns the old size in pages, or `None` when the
    /// maximum would be exceeded or memory ran out (the memory is then unchanged).
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old_pages = self.size_pages();
        let new_bytes = old_pages.checked_add(delta)?.checked_mul(WASM_PAGE_SIZE)?;
        if new_bytes > self.maximum {
            return None;
        }
        self.commit_to(new_bytes as usize).ok()?;
        self.definition.current_length = new_bytes;
        Some(old_pages)
    }

    /// The accessible bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `current_length` bytes from the base are committed read-write.
        unsafe { core::slice::from_raw_parts(self.definition.base, self.size_bytes()) }
    }

    /// The accessible bytes, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; `&mut self` excludes other Rust references.
        unsafe { core::slice::from_raw_parts_mut(self.definition.base, self.size_bytes()) }
    }

    /// A pointer to the definition generated code reads.
    pub fn definition_ptr(&mut self) -> *mut VMMemoryDefinition {
        &mut self.definition
    }
}

impl Drop for MemoryInstance {
    fn drop(&mut self) {
        match self.pool.take() {
            // Only touched contents are reset: the pages stay accessible for the next
            // instance, which sees zeros (and the image's contents where it is mapped).
            Some(pool) => {
                let region = core::mem::replace(&mut self.region, Region::dangling());
                match self.allocator.reset(&region, 0, self.committed) {
                    Ok(()) => {
                        pool.return_memory(FreeMemory { region, accessible: self.committed, image: self.image.take() })
                    }
                    Err(_) => {
                        self.allocator.free(region, self.committed);
                        pool.forget_memory();
                    }
                }
            }
            None => {
                let _ = self.unmap_image();
                let region = core::mem::replace(&mut self.region, Region::dangling());
                self.allocator.free(region, self.committed);
            }
        }
    }
}
