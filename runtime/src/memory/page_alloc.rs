//! The runtime's own page allocator: carves big platform reservations into the slots
//! linear memories, code and stacks live in.
//!
//! Address space is reserved from the platform in large chunks (at least 64 GiB) and
//! handed out first-fit from a free list of ranges, coalesced on free. A freed range is
//! decommitted first, so it reads as zero and faults when touched until it is handed
//! out and committed again.

use alloc::collections::BTreeMap;
use core::ptr::NonNull;

use spin::Mutex;

use crate::error::{Error, Result};
use crate::platform::{Platform, Protection};
use crate::prelude::*;

/// Address space reserved from the platform at a time.
const CHUNK_BYTES: usize = 64 << 30;

/// A range of reserved address space owned by one user.
#[derive(Debug)]
pub struct Region {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a region is just an owned address range; access is coordinated by its owner.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An empty region owning nothing (a placeholder in destructors).
    pub fn dangling() -> Region {
        Region { base: NonNull::dangling(), len: 0 }
    }
}

/// First-fit allocator of page-aligned address ranges.
pub struct PageAllocator {
    platform: &'static dyn Platform,
    /// Free ranges: start address -> length.
    free: Mutex<BTreeMap<usize, usize>>,
}

impl PageAllocator {
    pub fn new(platform: &'static dyn Platform) -> Self {
        Self { platform, free: Mutex::new(BTreeMap::new()) }
    }

    pub fn platform(&self) -> &'static dyn Platform {
        self.platform
    }

    fn round(&self, bytes: usize) -> usize {
        bytes.next_multiple_of(self.platform.page_size())
    }

    /// Takes `bytes` (rounded up to pages) of inaccessible address space.
    pub fn allocate(&self, bytes: usize) -> Result<Region> {
        self.allocate_aligned(bytes, 1)
    }

    /// Takes `bytes` (rounded up to pages) of inaccessible address space starting at a
    /// multiple of `align` (a power of two; a page at least). The space skipped to align
    /// stays free for smaller users.
    pub fn allocate_aligned(&self, bytes: usize, align: usize) -> Result<Region> {
        debug_assert!(align.is_power_of_two());
        let len = self.round(bytes.max(1));
        let align = align.max(self.platform.page_size());
        let fits = |start: usize, size: usize| start.next_multiple_of(align) - start + len <= size;
        let mut free = self.free.lock();
        let found = free.iter().find(|&(&start, &size)| fits(start, size)).map(|(&start, &size)| (start, size));
        let (start, size) = match found {
            Some(found) => found,
            None => {
                let chunk = (len + align).max(CHUNK_BYTES);
                let base =
                    self.platform.reserve(chunk).map_err(|error| Error::resource(format!("address space: {error}")))?;
                (base.as_ptr() as usize, chunk)
            }
        };
        free.remove(&start);
        let aligned = start.next_multiple_of(align);
        if aligned > start {
            free.insert(start, aligned - start);
        }
        if start + size > aligned + len {
            free.insert(aligned + len, start + size - aligned - len);
        }
        Ok(Region { base: NonNull::new(aligned as *mut u8).expect("non-null reservation"), len })
    }

    /// Makes `bytes` at `offset` into `region` accessible with `protection`.
    pub fn commit(&self, region: &Region, offset: usize, bytes: usize, protection: Protection) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        debug_assert!(offset + bytes <= region.len);
        // SAFETY: the range lies inside a region this allocator handed out.
        unsafe {
            self.platform
                .commit(NonNull::new_unchecked(region.base().add(offset)), self.round(bytes), protection)
                .map_err(|error| Error::resource(format!("memory: {error}")))
        }
    }

    /// Changes the rights of committed pages of `region`.
    pub fn protect(&self, region: &Region, offset: usize, bytes: usize, protection: Protection) -> Result<()> {
        // SAFETY: as in commit.
        unsafe {
            self.platform
                .protect(NonNull::new_unchecked(region.base().add(offset)), self.round(bytes), protection)
                .map_err(|error| Error::resource(format!("memory: {error}")))
        }
    }

    /// Decommits `bytes` at `offset` (they read as zero when committed again).
    pub fn decommit(&self, region: &Region, offset: usize, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: as in commit.
        unsafe {
            self.platform
                .decommit(NonNull::new_unchecked(region.base().add(offset)), self.round(bytes))
                .map_err(|error| Error::resource(format!("memory: {error}")))
        }
    }

    /// Zeroes `bytes` at `offset` of `region`, keeping them accessible.
    pub fn reset(&self, region: &Region, offset: usize, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: as in commit.
        unsafe {
            self.platform
                .reset(NonNull::new_unchecked(region.base().add(offset)), self.round(bytes))
                .map_err(|error| Error::resource(format!("memory: {error}")))
        }
    }

    /// Maps `image` at `offset` of `region` copy-on-write.
    pub fn map_image(
        &self,
        region: &Region,
        offset: usize,
        image: &crate::vm::memory_image::MemoryImage,
    ) -> Result<()> {
        // SAFETY: the range lies inside a committed part of a region this allocator
        // handed out (the caller committed the memory's initial size first).
        unsafe {
            self.platform
                .map_image(NonNull::new_unchecked(region.base().add(offset)), image.handle, image.len)
                .map_err(|error| Error::resource(format!("memory image: {error}")))
        }
    }

    /// Maps `text` read-execute over the start of `region` where it lies, if the
    /// platform can (see [`Platform::map_code_in_place`]); false when it cannot.
    pub fn map_code_in_place(&self, region: &Region, text: &'static [u8]) -> Result<bool> {
        debug_assert!(text.len() <= region.len);
        // SAFETY: the region was handed out by this allocator, is not committed yet (the
        // caller just allocated it) and covers `text`; `text` is 'static and shared, so
        // nothing writes it.
        unsafe {
            self.platform
                .map_code_in_place(NonNull::new_unchecked(region.base()), text)
                .map_err(|error| Error::resource(format!("code: {error}")))
        }
    }

    /// Replaces an image mapping at `offset` of `region` with zeroed memory.
    pub fn unmap_image(&self, region: &Region, offset: usize, bytes: usize) -> Result<()> {
        // SAFETY: as in map_image.
        unsafe {
            self.platform
                .unmap_image(NonNull::new_unchecked(region.base().add(offset)), bytes)
                .map_err(|error| Error::resource(format!("memory image: {error}")))
        }
    }

    /// Returns a region: its pages are decommitted and the range joins the free list.
    pub fn free(&self, region: Region, committed: usize) {
        let _ = self.decommit(&region, 0, committed.min(region.len));
        let mut free = self.free.lock();
        let mut start = region.base() as usize;
        let mut len = region.len;
        if let Some((&next_start, &next_len)) = free.range(start + len..).next()
            && next_start == start + len
        {
            free.remove(&next_start);
            len += next_len;
        }
        if let Some((&prev_start, &prev_len)) = free.range(..start).next_back()
            && prev_start + prev_len == start
        {
            free.remove(&prev_start);
            start = prev_start;
            len += prev_len;
        }
        free.insert(start, len);
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::platform::hosted::HOSTED;

    #[test]
    fn aligned_regions_start_on_the_alignment_and_leave_the_gap_free() {
        let allocator = PageAllocator::new(&HOSTED);
        let align = 2 << 20;
        // A page-sized user first, so the next free address is not aligned.
        let small = allocator.allocate(4096).unwrap();
        let aligned = allocator.allocate_aligned(3 << 20, align).unwrap();
        assert_eq!(aligned.base() as usize % align, 0);
        assert_eq!(aligned.len(), 3 << 20);
        // The space skipped before the aligned region (if any: the reservation's start
        // may put the aligned address right after `small`) is handed out to small users.
        let skipped = aligned.base() as usize > small.base() as usize + 4096;
        let gap = allocator.allocate(4096).unwrap();
        assert_eq!((gap.base() as usize) < aligned.base() as usize, skipped);
        let another = allocator.allocate_aligned(4096, align).unwrap();
        assert_eq!(another.base() as usize % align, 0);
        assert!(another.base() as usize >= aligned.base() as usize + aligned.len());
        for region in [small, aligned, gap, another] {
            allocator.free(region, 0);
        }
        // Everything coalesced back into the one reservation.
        assert_eq!(allocator.free.lock().len(), 1);
    }
}
