//! The pooling instance allocator: memory slots, table buffers and `VMContext`
//! buffers kept for reuse across instantiations (and stores).
//!
//! A freed memory slot keeps its reservation and its accessible pages; only their
//! contents are reset (the platform makes them read as zero again), so the next
//! instance of the same module touches no page tables at instantiation. Limits on live
//! instances, memories and tables give a clear error when exceeded.

use alloc::alloc::Layout;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use crate::error::{Error, Result};
use crate::memory::page_alloc::{PageAllocator, Region};
use crate::prelude::*;
use crate::vm::memory_image::MemoryImage;

/// Limits of the pooling allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolingConfig {
    /// Live instances at once (across all stores of the engine).
    pub max_instances: u32,
    /// Live linear memories at once.
    pub max_memories: u32,
    /// Largest size of a pooled memory, in 64 KiB pages.
    pub max_memory_pages: u64,
    /// Live tables at once.
    pub max_tables: u32,
    /// Largest size of a pooled table, in elements.
    pub max_table_elements: u64,
}

impl Default for PoolingConfig {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            max_memories: 1000,
            max_memory_pages: 16384,
            max_tables: 1000,
            max_table_elements: 100_000,
        }
    }
}

/// A memory slot waiting for reuse: `accessible` bytes from its base are committed
/// read-write and read as zero.
pub struct FreeMemory {
    pub region: Region,
    pub accessible: usize,
    /// The image still mapped in the slot (reset brought its contents back).
    pub image: Option<Arc<MemoryImage>>,
}

/// The pools of one engine.
pub struct Pool {
    pub config: PoolingConfig,
    pub allocator: Arc<PageAllocator>,
    memories: Mutex<Vec<FreeMemory>>,
    tables: Mutex<Vec<Vec<usize>>>,
    vmctxs: Mutex<Vec<(Layout, usize)>>,
    live_instances: AtomicU32,
    live_memories: AtomicU32,
    live_tables: AtomicU32,
}

fn take(counter: &AtomicU32, max: u32, what: &str) -> Result<()> {
    let previous = counter.fetch_add(1, Ordering::AcqRel);
    if previous >= max {
        counter.fetch_sub(1, Ordering::AcqRel);
        return Err(Error::resource(format!("pooling allocator: the limit of {max} live {what} is reached")));
    }
    Ok(())
}

impl Pool {
    pub fn new(config: PoolingConfig, allocator: Arc<PageAllocator>) -> Self {
        Self {
            config,
            allocator,
            memories: Mutex::new(Vec::new()),
            tables: Mutex::new(Vec::new()),
            vmctxs: Mutex::new(Vec::new()),
            live_instances: AtomicU32::new(0),
            live_memories: AtomicU32::new(0),
            live_tables: AtomicU32::new(0),
        }
    }

    /// A memory slot: preferably one that already maps `image`, else any free one, else
    /// a fresh reservation of `bytes`.
    pub fn take_memory(&self, bytes: usize, image: Option<&Arc<MemoryImage>>) -> Result<FreeMemory> {
        take(&self.live_memories, self.config.max_memories, "memories")?;
        let mut free = self.memories.lock();
        let same_image = image.and_then(|image| {
            free.iter().rposition(|slot| slot.image.as_ref().is_some_and(|mapped| Arc::ptr_eq(mapped, image)))
        });
        if let Some(slot) = same_image.map(|index| free.swap_remove(index)).or_else(|| free.pop()) {
            return Ok(slot);
        }
        drop(free);
        match self.allocator.allocate_aligned(bytes, crate::vm::memory::MEMORY_ALIGN) {
            Ok(region) => Ok(FreeMemory { region, accessible: 0, image: None }),
            Err(error) => {
                self.live_memories.fetch_sub(1, Ordering::AcqRel);
                Err(error)
            }
        }
    }

    /// Returns a memory slot whose first `accessible` bytes were reset to zero.
    pub fn return_memory(&self, slot: FreeMemory) {
        self.memories.lock().push(slot);
        self.live_memories.fetch_sub(1, Ordering::AcqRel);
    }

    /// Gives up a memory slot that could not be recycled.
    pub fn forget_memory(&self) {
        self.live_memories.fetch_sub(1, Ordering::AcqRel);
    }

    /// An element buffer for a table (empty, maybe with capacity).
    pub fn take_table(&self) -> Result<Vec<usize>> {
        take(&self.live_tables, self.config.max_tables, "tables")?;
        Ok(self.tables.lock().pop().unwrap_or_default())
    }

    /// Returns a table's buffer, zeroed (so a lazily initialized table can reuse it
    /// without clearing it at instantiation).
    pub fn return_table(&self, mut elements: Vec<usize>) {
        elements.fill(0);
        self.tables.lock().push(elements);
        self.live_tables.fetch_sub(1, Ordering::AcqRel);
    }

    /// Counts a new instance against the limit.
    pub fn take_instance(&self) -> Result<()> {
        take(&self.live_instances, self.config.max_instances, "instances")
    }

    pub fn return_instance(&self) {
        self.live_instances.fetch_sub(1, Ordering::AcqRel);
    }

    /// A `VMContext` buffer of exactly `layout`, reused when one is free.
    pub fn take_vmctx(&self, layout: Layout) -> Option<*mut u8> {
        let mut free = self.vmctxs.lock();
        let position = free.iter().position(|(free_layout, _)| *free_layout == layout)?;
        Some(free.swap_remove(position).1 as *mut u8)
    }

    /// Keeps a `VMContext` buffer for reuse.
    pub fn return_vmctx(&self, layout: Layout, buffer: *mut u8) {
        self.vmctxs.lock().push((layout, buffer as usize));
    }
}
