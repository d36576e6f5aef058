//! Frame accounting for the wasm region: what is committed, and frames promised to it.
//!
//! Owns the access map (which ranges are accessible, with what rights and backing) and
//! the count of private frames mapped into them. A range is only made accessible while
//! every committed page not yet backed by a frame could still get one
//! ([`can_promise`]). Physical memory running out therefore shows up as a failed
//! `memory.grow` (or instantiation) in the workload that asked, never as a page fault
//! nobody can satisfy, which would otherwise hit whichever workload (or kernel code)
//! touched memory next. This module must not map, unmap or free frames: the demand
//! pager does, and reports here what it mapped.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::access_map::{AccessMap, Backing, Range};
use crate::memory::address_space::Protection;
use crate::memory::frames;

static ACCESS: Mutex<AccessMap> = Mutex::new(AccessMap::new());
/// Private frames currently mapped into accessible ranges (image frames excluded).
static RESIDENT_PAGES: AtomicU64 = AtomicU64::new(0);

/// Frames kept out of every promise: page tables for the mappings, and slack.
const RESERVE_FRAMES: u64 = 2048;

const PAGE: u64 = crate::memory::layout::PAGE_SIZE;

fn with_access<R>(f: impl FnOnce(&mut AccessMap) -> R) -> R {
    wasmetal_arch::cpu::without_interrupts(|| f(&mut ACCESS.lock()))
}

/// Committed pages that have no frame yet: each may take one when first touched.
fn promised_pages(map: &AccessMap) -> u64 {
    (map.committed_bytes() / PAGE).saturating_sub(RESIDENT_PAGES.load(Ordering::Relaxed))
}

/// Whether `extra_pages` more frames can be promised (on top of the pages already
/// committed but untouched) and still leave the reserve free.
fn can_promise(map: &AccessMap, extra_pages: u64) -> bool {
    let free = frames::with(|allocator| allocator.stats()).free_frames;
    promised_pages(map) + extra_pages + RESERVE_FRAMES <= free
}

/// Makes `start..end` accessible with `rights` and `backing` if its not-yet-committed
/// pages can be promised frames; false (and nothing changed) otherwise.
#[must_use]
pub fn commit(start: u64, end: u64, rights: Protection, backing: Backing) -> bool {
    with_access(|map| {
        let extra = (end - start - map.covered(start, end)) / PAGE;
        if extra > 0 && !can_promise(map, extra) {
            return false;
        }
        map.set(start, end, Some((rights, backing)));
        true
    })
}

/// Whether committing `start..` would grow a read-write, zero-backed accessible range
/// that ends at `start` (a linear memory's `memory.grow`), rather than open a new one.
pub fn grows_zero_range(start: u64) -> bool {
    let below = start.checked_sub(1).and_then(|last| with_access(|map| map.lookup(last)));
    matches!(below, Some((_, range)) if range.end == start
        && range.rights == Protection::ReadWrite
        && matches!(range.backing, Backing::Zero))
}

/// Makes `start..end` inaccessible (a guard) and drops its promises. Its frames must
/// already be unmapped ([`super::pager::release`] does both).
pub fn forget(start: u64, end: u64) {
    with_access(|map| map.set(start, end, None));
}

/// Whether `pages` frames may be taken outright (for an image) without breaking the
/// promises already made.
pub fn can_take_frames(pages: u64) -> bool {
    with_access(|map| can_promise(map, pages))
}

/// The accessible range holding `addr`, with its start, for the page-fault handler:
/// never blocks, and answers `None` while the map is being changed (a fault then is not
/// a demand fault).
pub fn lookup_for_fault(addr: u64) -> Option<(u64, Range)> {
    ACCESS.try_lock().and_then(|map| map.lookup(addr))
}

/// The parts of `start..end` whose frames are not their own (images, borrowed frames).
pub fn shared_parts(start: u64, end: u64) -> Vec<(u64, u64)> {
    with_access(|map| map.shared_parts(start, end))
}

/// Records `pages` private frames newly mapped into accessible ranges.
pub fn resident_added(pages: u64) {
    RESIDENT_PAGES.fetch_add(pages, Ordering::Relaxed);
}

/// Records `pages` private frames unmapped and freed.
pub fn resident_removed(pages: u64) {
    RESIDENT_PAGES.fetch_sub(pages, Ordering::Relaxed);
}

/// Marks `start..end` accessible (demand-zero) for kernel-owned wasm structures such as
/// stacks; false when the frames cannot be promised.
#[must_use]
pub fn commit_kernel_range(start: u64, end: u64) -> bool {
    commit(start, end, Protection::ReadWrite, Backing::Zero)
}
