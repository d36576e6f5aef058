//! The wasm region: virtual space for linear memories, stacks and code.
//!
//! The kernel hands out virtual ranges (reservations), backs pages with zeroed frames
//! on request, and tells a fault inside a reservation's unbacked pages (a guard-page
//! hit) from a stray access. What a reservation is for, and which of its pages must be
//! accessible, is the runtime's business.

use spin::Mutex;

use super::address_space::{self, MapError, Protection};
use super::frames;
use super::layout::{PAGE_SIZE, WASM_REGION_END, WASM_REGION_START};

/// A reserved range of the wasm region, page-aligned, initially unmapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub start: u64,
    pub len: u64,
}

impl Reservation {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// Why a reservation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionFull;

static NEXT: Mutex<u64> = Mutex::new(WASM_REGION_START);

/// Reserves `len` bytes (rounded up to pages) of fresh virtual space.
pub fn reserve(len: u64) -> Result<Reservation, RegionFull> {
    let len = len.next_multiple_of(PAGE_SIZE);
    wasmetal_arch::cpu::without_interrupts(|| {
        let mut next = NEXT.lock();
        let start = *next;
        if WASM_REGION_END - start < len {
            return Err(RegionFull);
        }
        *next = start + len;
        Ok(Reservation { start, len })
    })
}

/// Backs `pages` pages from `addr` with zeroed frames.
pub fn map_zeroed(addr: u64, pages: u64, protection: Protection) -> Result<(), MapError> {
    for index in 0..pages {
        let frame = frames::allocate_zeroed().ok_or(MapError::OutOfFrames)?;
        if let Err(error) = address_space::map(addr + index * PAGE_SIZE, frame, protection) {
            frames::free(frame);
            return Err(error);
        }
    }
    Ok(())
}

/// Unmaps `pages` pages from `addr` and frees their frames; unmapped pages are skipped.
pub fn unmap(addr: u64, pages: u64) {
    for index in 0..pages {
        if let Ok(frame) = address_space::unmap(addr + index * PAGE_SIZE) {
            frames::free(frame);
        }
    }
}

/// Whether `addr` lies in the wasm region and is not backed by a page.
pub fn is_unbacked(addr: u64) -> bool {
    super::layout::in_wasm_region(addr) && address_space::translate(addr).is_none()
}
