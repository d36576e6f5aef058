//! wasmetal-runtime's `Platform` on this kernel.
//!
//! Reservations are carved from the wasm region; committed pages are demand-zero (the
//! page-fault handler maps zeroed frames on first touch, a 64 KiB wasm page or a whole
//! 2 MiB block at a time, see [`handle_demand_fault`]); decommit unmaps and frees frames. Faults in wasm code are answered by the runtime's
//! `platform::handle_trap` from the kernel's exception handlers.
//!
//! Commits are accounted: a range is only made accessible while every committed page
//! not yet backed by a frame could still get one ([`can_promise`]). Physical memory
//! running out therefore shows up as a failed `memory.grow` (or instantiation) in the
//! workload that asked, never as a page fault nobody can satisfy, which would otherwise
//! hit whichever workload (or kernel code) touched memory next.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use spin::Mutex;
use wasmetal_runtime::platform::{Platform, PlatformError, Protection as RuntimeProtection};

use super::access_map::{AccessMap, Backing};
use crate::memory::address_space::{self, Protection, Unmapped};
use crate::memory::{frames, wasm_region};

/// The kernel's platform instance.
pub static KERNEL_PLATFORM: KernelPlatform = KernelPlatform;

static ACCESS: Mutex<AccessMap> = Mutex::new(AccessMap::new());
static ACTIVATION: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// Private frames currently mapped into accessible ranges (image frames excluded).
static RESIDENT_PAGES: AtomicU64 = AtomicU64::new(0);

/// Frames kept out of every promise: page tables for the mappings, and slack.
const RESERVE_FRAMES: u64 = 2048;

const PAGE: u64 = crate::memory::layout::PAGE_SIZE;

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

/// Makes `start..end` accessible if its not-yet-committed pages can be promised frames.
fn commit_accounted(start: u64, end: u64, value: (Protection, Backing)) -> bool {
    with_access(|map| {
        let extra = (end - start - map.covered(start, end)) / PAGE;
        if extra > 0 && !can_promise(map, extra) {
            return false;
        }
        map.set(start, end, Some(value));
        true
    })
}

/// Whether `pages` frames may be taken outright (for an image) without breaking the
/// promises already made.
pub fn can_take_frames(pages: u64) -> bool {
    with_access(|map| can_promise(map, pages))
}

/// Installs `activation` as the running context's innermost wasm activation and returns
/// the one it replaces; the scheduler swaps it on every task switch.
pub fn swap_activation(activation: *mut u8) -> *mut u8 {
    ACTIVATION.swap(activation, Ordering::Relaxed)
}

/// The kernel's implementation of the runtime's platform seam.
pub struct KernelPlatform;

fn rights(protection: RuntimeProtection) -> Option<Protection> {
    match protection {
        RuntimeProtection::None => None,
        RuntimeProtection::ReadOnly => Some(Protection::ReadOnly),
        RuntimeProtection::ReadWrite => Some(Protection::ReadWrite),
        RuntimeProtection::ReadExecute => Some(Protection::ReadExecute),
    }
}

fn with_access<R>(f: impl FnOnce(&mut AccessMap) -> R) -> R {
    wasmetal_arch::cpu::without_interrupts(|| f(&mut ACCESS.lock()))
}

/// Resolves a page fault at `addr` in a committed range: a not-present page gets a
/// zeroed frame or its image frame (read-only); a write to an image frame gets a
/// private copy. Returns false when the address is not accessible (a guard), the fault
/// is a real protection violation, or no frame is left (the caller reports it).
pub fn handle_demand_fault(addr: u64, present: bool, write: bool) -> bool {
    // try_lock: a fault while the map is being changed is not a demand fault.
    let Some((start, range)) = ACCESS.try_lock().and_then(|map| map.lookup(addr)) else { return false };
    let page = addr & !(crate::memory::layout::PAGE_SIZE - 1);
    let image_frame = match range.backing {
        Backing::Image { image, first_page } => {
            super::image::frame(image, first_page + (page - start) / crate::memory::layout::PAGE_SIZE)
        }
        Backing::Zero => None,
    };
    if present {
        // Only a write to a shared image page is ours: copy it.
        let (Some(shared), true, Protection::ReadWrite) = (image_frame, write, range.rights) else { return false };
        let Some(copy) = frames::with(|allocator| allocator.allocate()) else {
            crate::log!("wasm: out of physical memory copying {addr:#x}");
            return false;
        };
        // SAFETY: both frames are RAM reached through the direct map; `copy` is ours.
        unsafe {
            core::ptr::copy_nonoverlapping(
                shared.as_mut_ptr(),
                copy.as_mut_ptr(),
                crate::memory::layout::PAGE_SIZE as usize,
            )
        };
        let _ = address_space::unmap(page);
        return match address_space::map(page, copy, Protection::ReadWrite) {
            Ok(()) => {
                RESIDENT_PAGES.fetch_add(1, Ordering::Relaxed);
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
            Backing::Image { .. } => (page, page + PAGE),
        };
        return map_zeroed_block(page, start, end, range.rights);
    };
    // A shared image page: read-only until the first write copies it.
    address_space::map(page, shared, Protection::ReadOnly).is_ok()
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
    let block_start = (page & !(FAULT_AROUND_BYTES - 1)).max(start);
    let block_end = ((page & !(FAULT_AROUND_BYTES - 1)) + FAULT_AROUND_BYTES).min(end);
    let mut faulting_page_mapped = false;
    let mut at = block_start;
    while at < block_end {
        let Some(frame) = frames::with(|allocator| allocator.allocate()) else {
            crate::log!("wasm: out of physical memory touching {page:#x}");
            return faulting_page_mapped;
        };
        let writable = rights == Protection::ReadWrite;
        if !writable {
            // SAFETY: the frame is ours and reached through the direct map.
            unsafe { core::ptr::write_bytes(frame.as_mut_ptr(), 0, PAGE as usize) };
        }
        match address_space::map(at, frame, rights) {
            Ok(()) => {
                RESIDENT_PAGES.fetch_add(1, Ordering::Relaxed);
                if writable {
                    // Zeroed through the new mapping, not the direct map: the page's
                    // first touch then happens once, where the program will use it.
                    // SAFETY: `at` was just mapped writable to our frame, and nothing
                    // runs before this handler returns.
                    unsafe { core::ptr::write_bytes(at as *mut u8, 0, PAGE as usize) };
                }
                faulting_page_mapped |= at == page;
            }
            // Already there (mapped by an earlier fault): keep it.
            Err(_) => frames::free(frame),
        }
        at += PAGE;
    }
    faulting_page_mapped
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
    let Some(frames_block) = frames::with(|allocator| allocator.allocate_huge()) else { return false };
    if address_space::map_huge(block, frames_block, Protection::ReadWrite).is_err() {
        frames::with(|allocator| allocator.free_huge(frames_block));
        return false;
    }
    RESIDENT_PAGES.fetch_add(frames::FRAMES_PER_HUGE, Ordering::Relaxed);
    // SAFETY: `block` was just mapped writable to our frames, and nothing runs before
    // this handler returns.
    unsafe { core::ptr::write_bytes(block as *mut u8, 0, frames::HUGE_BYTES as usize) };
    true
}

/// Unmaps `start..end`, freeing private frames but not the shared frames of images.
fn unmap_private(start: u64, end: u64) {
    let image_parts = with_access(|map| map.image_parts(start, end));
    let free_private = |unmapped| match unmapped {
        Unmapped::Page { frame, .. } => {
            frames::free(frame);
            RESIDENT_PAGES.fetch_sub(1, Ordering::Relaxed);
        }
        Unmapped::Huge { block } => {
            frames::with(|allocator| allocator.free_huge(block));
            RESIDENT_PAGES.fetch_sub(frames::FRAMES_PER_HUGE, Ordering::Relaxed);
        }
    };
    let mut cursor = start;
    for (part_start, part_end) in image_parts {
        address_space::unmap_range(cursor, part_start, free_private);
        // Read-only pages of an image range are the image's own frames.
        address_space::unmap_range(part_start, part_end, |unmapped| {
            if !matches!(unmapped, Unmapped::Page { writable: false, .. }) {
                free_private(unmapped);
            }
        });
        cursor = part_end;
    }
    address_space::unmap_range(cursor, end, free_private);
}

impl Platform for KernelPlatform {
    fn page_size(&self) -> usize {
        4096
    }

    fn reserve(&self, bytes: usize) -> Result<NonNull<u8>, PlatformError> {
        let reservation =
            wasm_region::reserve(bytes as u64).map_err(|_| PlatformError { operation: "reserve", bytes })?;
        NonNull::new(reservation.start as *mut u8).ok_or(PlatformError { operation: "reserve", bytes })
    }

    unsafe fn release(&self, base: NonNull<u8>, bytes: usize) {
        let start = base.as_ptr() as u64;
        unmap_private(start, start + bytes as u64);
        with_access(|map| map.set(start, start + bytes as u64, None));
    }

    unsafe fn commit(
        &self,
        addr: NonNull<u8>,
        bytes: usize,
        protection: RuntimeProtection,
    ) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        match rights(protection) {
            Some(rights) if !commit_accounted(start, end, (rights, Backing::Zero)) => {
                Err(PlatformError { operation: "commit (out of physical memory)", bytes })
            }
            Some(_) => Ok(()),
            None => {
                with_access(|map| map.set(start, end, None));
                Ok(())
            }
        }
    }

    unsafe fn protect(
        &self,
        addr: NonNull<u8>,
        bytes: usize,
        protection: RuntimeProtection,
    ) -> Result<(), PlatformError> {
        // Used for code (written read-write, then made executable): zero-backed ranges.
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        match rights(protection) {
            Some(rights) => {
                if !commit_accounted(start, end, (rights, Backing::Zero)) {
                    return Err(PlatformError { operation: "protect (out of physical memory)", bytes });
                }
                address_space::protect_range(start, end, rights);
            }
            None => {
                unmap_private(start, end);
                with_access(|map| map.set(start, end, None));
            }
        }
        Ok(())
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        unmap_private(start, end);
        with_access(|map| map.set(start, end, None));
        Ok(())
    }

    unsafe fn reset(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        // Pages stay committed (with their image, if any) and fault in afresh.
        let start = addr.as_ptr() as u64;
        unmap_private(start, start + bytes as u64);
        Ok(())
    }

    fn create_image(&self, bytes: &[u8]) -> Option<usize> {
        super::image::create(bytes)
    }

    unsafe fn map_image(&self, addr: NonNull<u8>, image: usize, bytes: usize) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        unmap_private(start, end);
        let backing = Backing::Image { image: image as u32, first_page: 0 };
        if !commit_accounted(start, end, (Protection::ReadWrite, backing)) {
            return Err(PlatformError { operation: "map image (out of physical memory)", bytes });
        }
        Ok(())
    }

    unsafe fn unmap_image(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        unmap_private(start, end);
        if !commit_accounted(start, end, (Protection::ReadWrite, Backing::Zero)) {
            return Err(PlatformError { operation: "unmap image (out of physical memory)", bytes });
        }
        Ok(())
    }

    unsafe fn free_image(&self, image: usize) {
        super::image::free(image);
    }

    fn activation(&self) -> *mut u8 {
        ACTIVATION.load(Ordering::Relaxed)
    }

    fn set_activation(&self, activation: *mut u8) {
        ACTIVATION.store(activation, Ordering::Relaxed);
    }

    fn yield_now(&self) {
        crate::sched::yield_now();
    }

    fn init_trap_handling(&self) -> Result<(), PlatformError> {
        // The IDT is always installed; `interrupts.rs` routes wasm faults to the runtime.
        Ok(())
    }
}

/// Marks `start..end` accessible (demand-zero) for kernel-owned wasm structures such as
/// stacks; false when the frames cannot be promised.
#[must_use]
pub fn commit_kernel_range(start: u64, end: u64) -> bool {
    commit_accounted(start, end, (Protection::ReadWrite, Backing::Zero))
}

/// Drops `start..end` again, freeing its frames.
pub fn decommit_kernel_range(start: u64, end: u64) {
    unmap_private(start, end);
    with_access(|map| map.set(start, end, None));
}
