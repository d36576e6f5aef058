//! The demand pager: frames for committed wasm-region pages on first touch.
//!
//! Committed pages are demand-zero: the page-fault handler maps zeroed frames on first
//! touch, a 64 KiB wasm page or a whole 2 MiB block at a time ([`handle_demand_fault`]),
//! or an image's shared frame read-only, copied on the first write (a small image's
//! frames all at once); borrowed frames (a boot module's code, run where it lies) are
//! mapped all at once ([`map_borrowed`]).
//! Unmapping frees the private frames and leaves the images' and borrowed frames alone
//! ([`release`], [`unmap_private`]).
//! The pager must not decide what is accessible: it maps only what the access map in
//! [`super::accounting`] says is committed, and tells it how many frames it holds.

use super::access_map::Backing;
use super::accounting;
use super::pager_stats::{Mapped, PAGER_STATS};
use crate::memory::address_space::{self, MapError, Protection, Unmapped};
use crate::memory::frames::{self, Contents, DirectMapped, FrameAddr};
use wasmetal_arch::cpu::rdtsc;

const PAGE: u64 = crate::memory::layout::PAGE_SIZE;

/// Resolves a page fault at `addr` in a committed range: a not-present page gets a
/// zeroed frame or its image frame (read-only); a write to an image frame gets a
/// private copy. Returns false when the address is not accessible (a guard), the fault
/// is a real protection violation, or no frame is left (the caller reports it).
pub fn handle_demand_fault(addr: u64, present: bool, write: bool) -> bool {
    let began = rdtsc();
    let handled = demand_fault(addr, present, write);
    if handled {
        PAGER_STATS.fault(rdtsc() - began);
    }
    handled
}

fn demand_fault(addr: u64, present: bool, write: bool) -> bool {
    let Some((start, range)) = accounting::lookup_for_fault(addr) else { return false };
    let page = addr & !(PAGE - 1);
    let image_frame = match range.backing {
        Backing::Image { image, first_page } => super::image::frame(image, first_page + (page - start) / PAGE),
        Backing::Zero => None,
        // Borrowed frames are never written: a fault on a present page is a violation.
        Backing::Borrowed { first_frame } => {
            return !present
                && map_borrowed_page(page, FrameAddr::from_phys(first_frame + (page - start)), range.rights);
        }
    };
    if present {
        // Only a write to a shared image page is ours: copy it.
        let (Some(shared), true, Protection::ReadWrite) = (image_frame, write, range.rights) else { return false };
        let Some(copy) = frames::with(|allocator| allocator.allocate()) else {
            crate::log!("wasm: out of physical memory copying {addr:#x}");
            return false;
        };
        // SAFETY: both frames are RAM reached through the direct map; `copy` is ours.
        unsafe { core::ptr::copy_nonoverlapping(shared.direct_map_ptr(), copy.direct_map_ptr(), PAGE as usize) };
        let _ = address_space::unmap(page);
        return match address_space::map(page, copy, Protection::ReadWrite) {
            Ok(()) => {
                accounting::resident_added(1);
                PAGER_STATS.mapped(Mapped::Copy);
                true
            }
            Err(_) => {
                frames::free(copy);
                false
            }
        };
    }
    let Some(shared) = image_frame else {
        // Neighbours in an image-backed range may have image frames: map only this page.
        let (start, end) = match range.backing {
            Backing::Zero => (start, range.end),
            Backing::Image { .. } | Backing::Borrowed { .. } => (page, page + PAGE),
        };
        let mapped = map_zeroed_block(page, start, end, range.rights);
        // A program's first fault is often in the block just below its data: the shadow
        // stack of a toolchain that puts the stack first. Only that block looks above.
        if mapped && matches!(range.backing, Backing::Zero) && range.end - page <= FAULT_AROUND_BYTES {
            map_small_image_at(range.end);
        }
        return mapped;
    };
    // A shared image page: read-only until the first write copies it.
    let mapped = address_space::map(page, shared, Protection::ReadOnly).is_ok();
    if mapped {
        PAGER_STATS.mapped(Mapped::ImageFrame);
        if let Backing::Image { image, first_page } = range.backing {
            let image = ImageRange { start, end: range.end, image, first_page };
            if image.is_small() {
                map_small_image(&image);
            } else {
                // A program reads its data segments all over, and each fault costs far
                // more than a page-table write: the rest of the block too.
                let (block_start, block_end) = fault_around_block(page, start, range.end);
                image.map_frames(block_start, block_end);
            }
        }
    }
    mapped
}

/// An image-backed range: `start..end` holds `image`'s frames from `first_page` on.
struct ImageRange {
    start: u64,
    end: u64,
    image: super::image::ImageHandle,
    first_page: u64,
}

impl ImageRange {
    /// Small enough to be mapped whole at its first fault ([`SMALL_IMAGE_BYTES`]).
    fn is_small(&self) -> bool {
        self.end - self.start <= SMALL_IMAGE_BYTES
    }

    /// Maps the image frames of `from..to` (inside the range) read-only; pages already
    /// mapped (a private copy, the faulting page) are left alone.
    fn map_frames(&self, from: u64, to: u64) {
        for page in (from..to).step_by(PAGE as usize) {
            let Some(frame) = super::image::frame(self.image, self.first_page + (page - self.start) / PAGE) else {
                continue;
            };
            if address_space::map(page, frame, Protection::ReadOnly).is_ok() {
                PAGER_STATS.mapped(Mapped::ImageFrame);
            }
        }
    }
}

/// Images up to this size are mapped whole at their first fault; a larger image's
/// frames are mapped a fault-around block at a time.
const SMALL_IMAGE_BYTES: u64 = 1 << 20;

/// Maps every frame of the small `image` read-only, and zeroed frames over the 64 KiB
/// blocks either side when they are still unmapped: a program reads its data segments
/// all over from its first calls and writes the stack below them (toolchains that put
/// the stack first) and the bss and heap above (regex: 8 faults of ~150 us under PVM
/// before, 2 after: the first and the copy of the first data page written). Done at the
/// first fault, not when the memory is made, so an instance that never runs costs
/// nothing (instantiation stays under a microsecond).
fn map_small_image(image: &ImageRange) {
    image.map_frames(image.start, image.end);
    for neighbour in [image.start - PAGE, image.end] {
        if address_space::translate(neighbour).is_none() {
            map_zero_neighbour(neighbour);
        }
    }
}

/// Maps the small image whose range starts at `addr` (just above a zero range that
/// faulted) unless its first page is mapped already.
fn map_small_image_at(addr: u64) {
    let Some((start, range)) = accounting::lookup_for_fault(addr) else { return };
    let Backing::Image { image, first_page } = range.backing else { return };
    let image = ImageRange { start, end: range.end, image, first_page };
    if start == addr && image.is_small() && address_space::translate(addr).is_none() {
        map_small_image(&image);
    }
}

/// Maps zeroed frames over the fault-around block holding `page` when `page` lies in a
/// committed, zero-backed, read-write range; nothing otherwise.
fn map_zero_neighbour(page: u64) {
    let Some((range_start, range)) = accounting::lookup_for_fault(page) else { return };
    if !matches!(range.backing, Backing::Zero) || range.rights != Protection::ReadWrite {
        return;
    }
    let (block_start, block_end) = fault_around_block(page, range_start, range.end);
    map_zeroed_pages(block_start, block_end, Protection::ReadWrite, None);
}

/// Maps every page of `start..end`, just committed with `rights` (never writable) as
/// `Backing::Borrowed { first_frame }`, to its borrowed frame now: code run in place is
/// touched all over at start, and one page-table write here costs far less than a
/// demand fault. A page that cannot be mapped now (no frame left for a page table) is
/// left to the fault handler.
pub fn map_borrowed(start: u64, end: u64, first_frame: u64, rights: Protection) {
    let began = rdtsc();
    for page in (start..end).step_by(PAGE as usize) {
        map_borrowed_page(page, FrameAddr::from_phys(first_frame + (page - start)), rights);
    }
    PAGER_STATS.eager(rdtsc() - began);
}

/// Maps borrowed `frame` at `page` with `rights` (never writable: the frame is not
/// ours to change). True when it is mapped (also by an earlier call).
fn map_borrowed_page(page: u64, frame: FrameAddr, rights: Protection) -> bool {
    if rights == Protection::ReadWrite {
        return false;
    }
    match address_space::map(page, frame, rights) {
        Ok(()) => {
            PAGER_STATS.mapped(Mapped::Borrowed);
            true
        }
        Err(error) => error == MapError::AlreadyMapped,
    }
}

/// Bytes a demand fault on zero-backed memory maps at once: a wasm page. A fault costs
/// far more than zeroing a page (a VM exit under a hypervisor), and memory is touched
/// mostly in order, so the neighbours are mapped in the same fault.
const FAULT_AROUND_BYTES: u64 = 64 * 1024;

/// Maps zeroed frames over the not-yet-mapped pages of the fault-around block holding
/// `page`, clipped to the accessible range `start..end`. True when `page` got one.
fn map_zeroed_block(page: u64, start: u64, end: u64, rights: Protection) -> bool {
    if rights == Protection::ReadWrite && map_zeroed_huge(page, start, end) {
        return true;
    }
    let (block_start, block_end) = fault_around_block(page, start, end);
    map_zeroed_pages(block_start, block_end, rights, Some(page))
}

/// The fault-around block holding `page`, clipped to the range `start..end`.
fn fault_around_block(page: u64, start: u64, end: u64) -> (u64, u64) {
    // Blocks are counted from the range's start, not from address zero: a range need
    // not start 64 KiB aligned (an image's data starts where its first segment does),
    // and a block straddling two wasm pages would cost each page's growth two faults.
    // Nor does a block cross a 2 MiB boundary: one page mapped beyond it would give the
    // next 2 MiB a page table and keep it from being mapped whole.
    let huge_start = page & !(frames::HUGE_BYTES - 1);
    let block_start = (start + ((page - start) & !(FAULT_AROUND_BYTES - 1))).max(huge_start);
    let block_end = (block_start + FAULT_AROUND_BYTES).min(end).min(huge_start + frames::HUGE_BYTES);
    (block_start, block_end)
}

/// Bytes of growth mapped at commit time at most; larger growth is left to demand
/// faults, which map 2 MiB blocks where they fit and only what is touched.
const EAGER_GROWTH_BYTES: u64 = 16 << 20;

/// Maps zeroed frames over `start..end` right away: for growth of a read-write memory
/// by up to [`EAGER_GROWTH_BYTES`], which a program (a malloc's `sbrk`) grows in order to
/// use it at once. Each fault it saves is a round trip through the CPL0 monitor, the
/// most expensive thing a first touch costs under a hypervisor that emulates CPL0.
/// Aligned 2 MiB blocks inside the growth get one huge mapping each. The range must be
/// committed. Running out of frames here is not an error: the rest stays demand-zero.
pub fn map_growth(start: u64, end: u64) {
    if end - start > EAGER_GROWTH_BYTES {
        return;
    }
    map_zeroed(start, end);
}

/// Maps zeroed frames over the committed, read-write, zero-backed `start..end` now:
/// aligned 2 MiB blocks as huge mappings, the rest page by page. What cannot be mapped
/// (no frame left) stays demand-zero.
pub fn map_zeroed(start: u64, end: u64) {
    let began = rdtsc();
    let mut at = start;
    while at < end {
        let aligned = at.is_multiple_of(frames::HUGE_BYTES);
        if aligned && map_zeroed_huge(at, start, end) {
            at += frames::HUGE_BYTES;
            continue;
        }
        // Pages up to the next 2 MiB boundary (which may start a huge block).
        let stop = ((at & !(frames::HUGE_BYTES - 1)) + frames::HUGE_BYTES).min(end);
        map_zeroed_pages(at, stop, Protection::ReadWrite, None);
        at = stop;
    }
    PAGER_STATS.eager(rdtsc() - began);
}

/// Pages [`map_zeroed_pages`] maps before it touches any of them: a hypervisor with
/// shadow page tables fills the entries of up to eight neighbouring present pages on
/// one shadow fault (KVM's prefetch), which it can do only for pages already mapped.
const BATCH_PAGES: usize = 64;

/// Maps zeroed frames over the not-yet-mapped pages of `start..end`; true when
/// `needed` (if any) got one. Each batch is mapped first and touched after.
fn map_zeroed_pages(start: u64, end: u64, rights: Protection, needed: Option<u64>) -> bool {
    let mut needed_mapped = false;
    let (mut mapped, mut known_zero, mut zero_cycles) = (0, 0, 0);
    let writable = rights == Protection::ReadWrite;
    let mut at = start;
    let mut out_of_frames = false;
    while at < end && !out_of_frames {
        let batch_start = at;
        // What each page of the batch got: `None` where it was mapped already.
        let mut batch = [None; BATCH_PAGES];
        for slot in batch.iter_mut().take(((end - at) / PAGE) as usize) {
            let Some((frame, contents)) = frames::with(|allocator| allocator.allocate_with_contents()) else {
                crate::log!("wasm: out of physical memory mapping {at:#x}");
                out_of_frames = true;
                break;
            };
            if !writable && contents == Contents::Unknown {
                let began = rdtsc();
                // SAFETY: the frame is ours and reached through the direct map.
                unsafe { core::ptr::write_bytes(frame.direct_map_ptr(), 0, PAGE as usize) };
                zero_cycles += rdtsc() - began;
            }
            match address_space::map(at, frame, rights) {
                Ok(()) => {
                    accounting::resident_added(1);
                    mapped += 1;
                    if contents == Contents::Zero {
                        known_zero += 1;
                    }
                    *slot = Some(contents);
                    needed_mapped |= Some(at) == needed;
                }
                // Already there (mapped by an earlier fault): keep it.
                Err(_) => frames::free(frame),
            }
            at += PAGE;
        }
        if writable {
            for (index, contents) in batch.iter().enumerate() {
                let Some(contents) = *contents else { continue };
                // Nothing else uses the page before the fault handler returns.
                // SAFETY: the page was just mapped writable to our frame, page-aligned.
                zero_cycles += unsafe { zero_through_mapping(batch_start + index as u64 * PAGE, PAGE, contents) };
            }
        }
    }
    PAGER_STATS.mapped(Mapped::Pages(mapped));
    PAGER_STATS.known_zero(known_zero);
    PAGER_STATS.zeroed(zero_cycles);
    needed_mapped
}

/// Maps a zeroed 2 MiB block over the aligned block holding `page` when the block lies
/// inside `start..end` and has nothing mapped yet. Large memories then cost one fault
/// (and, under a hypervisor with shadow page tables, one shadow entry) per 2 MiB rather
/// than per 64 KiB. False when the block does not qualify or no huge frame is left.
fn map_zeroed_huge(page: u64, start: u64, end: u64) -> bool {
    let block = page & !(frames::HUGE_BYTES - 1);
    if block < start || block + frames::HUGE_BYTES > end {
        return false;
    }
    let Some((frames_block, contents)) = frames::with(|allocator| allocator.allocate_huge_with_contents()) else {
        return false;
    };
    if address_space::map_huge(block, frames_block, Protection::ReadWrite).is_err() {
        frames::with(|allocator| allocator.free_huge(frames_block));
        return false;
    }
    accounting::resident_added(frames::FRAMES_PER_HUGE);
    PAGER_STATS.mapped(Mapped::Huge);
    if contents == Contents::Zero {
        PAGER_STATS.known_zero(frames::FRAMES_PER_HUGE);
    }
    // SAFETY: `block` was just mapped writable to our frames, and nothing runs before
    // this handler returns.
    PAGER_STATS.zeroed(unsafe { zero_through_mapping(block, frames::HUGE_BYTES, contents) });
    true
}

/// Makes the `bytes` at `addr`, just mapped writable to frames holding `contents`,
/// zero, through the new mapping rather than the direct map, so that the first touch of
/// each page (which a hypervisor charges for) happens once, at the address the program
/// uses. Known-zero frames only get one write per page: without it the program's first
/// access may be a read, which the host serves from its shared zero page and then pays
/// a second fault for at the first write. Returns the TSC cycles it took.
///
/// # Safety
/// `addr..addr + bytes` is mapped writable to frames the caller owns, page-aligned, and
/// nothing else uses them yet.
unsafe fn zero_through_mapping(addr: u64, bytes: u64, contents: Contents) -> u64 {
    let began = rdtsc();
    match contents {
        Contents::Zero => {
            for page in (addr..addr + bytes).step_by(PAGE as usize) {
                // SAFETY: per the contract, a page of ours, mapped writable.
                unsafe { core::ptr::write_volatile(page as *mut u64, 0) };
            }
        }
        // SAFETY: per the contract.
        Contents::Unknown => unsafe { core::ptr::write_bytes(addr as *mut u8, 0, bytes as usize) },
    }
    rdtsc() - began
}

/// Unmaps `start..end`, freeing private frames but not the shared frames of images.
/// The range stays committed: its pages fault in afresh.
pub fn unmap_private(start: u64, end: u64) {
    let shared_parts = accounting::shared_parts(start, end);
    let free_private = |unmapped| match unmapped {
        Unmapped::Page { frame, .. } => {
            frames::free(frame);
            accounting::resident_removed(1);
        }
        Unmapped::Huge { block } => {
            frames::with(|allocator| allocator.free_huge(block));
            accounting::resident_removed(frames::FRAMES_PER_HUGE);
        }
    };
    let mut cursor = start;
    for (part_start, part_end) in shared_parts {
        address_space::unmap_range(cursor, part_start, free_private);
        // Pages not writable in a shared range are the image's or the lender's frames
        // (borrowed frames are never mapped writable).
        address_space::unmap_range(part_start, part_end, |unmapped| {
            if !matches!(unmapped, Unmapped::Page { writable: false, .. }) {
                free_private(unmapped);
            }
        });
        cursor = part_end;
    }
    address_space::unmap_range(cursor, end, free_private);
}

/// Unmaps `start..end` (freeing its private frames) and makes it inaccessible.
pub fn release(start: u64, end: u64) {
    unmap_private(start, end);
    accounting::forget(start, end);
}

/// Drops a range committed with [`accounting::commit_kernel_range`] again, freeing its
/// frames.
pub fn decommit_kernel_range(start: u64, end: u64) {
    release(start, end);
}
