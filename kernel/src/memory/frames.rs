//! The physical frame allocator: the global instance, reached through the direct map.
//!
//! The bookkeeping (RAM ranges, the bump cursor, the free stacks of frames and 2 MiB
//! blocks, the counters) is `wasmetal_kernel_logic::frames`, unit-tested on the host;
//! this module owns the one instance behind a lock taken with interrupts off, and the
//! free stacks' links, kept in the first word of each free frame through the direct
//! map. It must not decide which frames are free: the bookkeeping does.

use spin::Mutex;
pub use wasmetal_kernel_logic::frames::{Contents, FRAMES_PER_HUGE, FrameAddr, FrameLinks, HUGE_BYTES, PhysRange};

use super::layout::{PAGE_SIZE, phys_to_virt};

const _: () = assert!(wasmetal_kernel_logic::PAGE_SIZE == PAGE_SIZE);

/// The free stacks' links, in the first word of each free frame, through the direct map.
pub struct DirectMapLinks;

impl FrameLinks for DirectMapLinks {
    unsafe fn read(&self, frame: u64) -> u64 {
        // SAFETY: per the caller's contract the frame is free, so its first word is the
        // link it wrote; all RAM is mapped in the direct map.
        unsafe { core::ptr::read(phys_to_virt(frame) as *const u64) }
    }

    unsafe fn write(&mut self, frame: u64, next: u64) {
        // SAFETY: per the caller's contract the frame is free and ours; it is mapped in
        // the direct map like all RAM.
        unsafe { core::ptr::write(phys_to_virt(frame) as *mut u64, next) };
    }
}

/// The kernel's frame allocator.
pub type FrameAllocator = wasmetal_kernel_logic::frames::FrameAllocator<DirectMapLinks>;

/// The global frame allocator. Taken with interrupts off (see `with`).
pub static FRAMES: Mutex<FrameAllocator> = Mutex::new(FrameAllocator::new(DirectMapLinks));

/// A frame's bytes, through the direct map.
pub trait DirectMapped {
    /// A pointer to the frame's bytes through the direct map.
    fn direct_map_ptr(self) -> *mut u8;
}

impl DirectMapped for FrameAddr {
    fn direct_map_ptr(self) -> *mut u8 {
        phys_to_virt(self.phys()) as *mut u8
    }
}

/// Runs `f` on the global allocator with interrupts off.
pub fn with<R>(f: impl FnOnce(&mut FrameAllocator) -> R) -> R {
    wasmetal_arch::cpu::without_interrupts(|| f(&mut FRAMES.lock()))
}

/// Takes one zeroed frame.
pub fn allocate_zeroed() -> Option<FrameAddr> {
    let frame = with(|frames| frames.allocate())?;
    // SAFETY: the frame is ours and mapped through the direct map.
    unsafe { core::ptr::write_bytes(frame.direct_map_ptr(), 0, PAGE_SIZE as usize) };
    Some(frame)
}

/// Gives one frame back.
pub fn free(frame: FrameAddr) {
    with(|frames| frames.free(frame));
}

/// Adapter so the `x86_64` crate's page-table mapper can take frames from us.
pub struct PageTableFrames;

// SAFETY: every frame returned is unused RAM owned by the caller from now on (the
// mapper zeroes new tables itself).
unsafe impl wasmetal_arch::paging::FrameAllocator<wasmetal_arch::paging::Size4KiB> for PageTableFrames {
    fn allocate_frame(&mut self) -> Option<wasmetal_arch::paging::PhysFrame> {
        let frame = with(|frames| frames.allocate())?;
        Some(wasmetal_arch::paging::PhysFrame::containing_address(wasmetal_arch::paging::PhysAddr::new(frame.phys())))
    }
}
