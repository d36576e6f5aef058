//! The physical frame allocator: every usable 4 KiB frame of RAM, handed out once.
//!
//! Frames come from the e820 RAM ranges minus what is already in use (the first MiB,
//! the kernel image, the boot structures, the initrd). Fresh frames are bumped from the
//! ranges in ascending order (so early page tables land low, inside the boot map);
//! freed frames go on an intrusive stack threaded through the direct map. Huge blocks
//! (2 MiB, aligned, for large mappings) are bumped the same way and have a stack of
//! their own, so they stay whole. Contiguous runs (the heap) are carved from the bottom
//! of the largest range.

use spin::Mutex;

use super::layout::{PAGE_SIZE, phys_to_virt};

const MAX_RANGES: usize = 64;

/// Bytes in a huge block: what one page-directory entry maps.
pub const HUGE_BYTES: u64 = 2 << 20;
/// 4 KiB frames in a huge block.
pub const FRAMES_PER_HUGE: u64 = HUGE_BYTES / PAGE_SIZE;

/// A half-open range of physical addresses, page-aligned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    /// Bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A physical frame's address (4 KiB aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameAddr(u64);

impl FrameAddr {
    /// The frame's physical address.
    pub fn phys(self) -> u64 {
        self.0
    }

    /// Names the frame at `phys`, which must be page-aligned.
    pub fn from_phys(phys: u64) -> Self {
        debug_assert_eq!(phys % PAGE_SIZE, 0);
        Self(phys)
    }

    /// A pointer to the frame's bytes through the direct map.
    pub fn as_mut_ptr(self) -> *mut u8 {
        phys_to_virt(self.0) as *mut u8
    }
}

/// Counters for the memory report and leak checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameStats {
    pub total_frames: u64,
    pub free_frames: u64,
}

/// The allocator's state; one global instance behind a lock ([`FRAMES`]).
pub struct FrameAllocator {
    ranges: [PhysRange; MAX_RANGES],
    range_count: usize,
    /// Index of the range the bump cursor is in.
    cursor_range: usize,
    /// Next never-used frame in `ranges[cursor_range]`.
    cursor: u64,
    /// Top of the stack of freed frames (physical address), 0 when empty.
    free_stack: u64,
    /// Top of the stack of freed huge blocks, 0 when empty.
    huge_stack: u64,
    stats: FrameStats,
}

/// The global frame allocator. Taken with interrupts off (see `with`).
pub static FRAMES: Mutex<FrameAllocator> = Mutex::new(FrameAllocator::empty());

impl FrameAllocator {
    const fn empty() -> Self {
        Self {
            ranges: [PhysRange { start: 0, end: 0 }; MAX_RANGES],
            range_count: 0,
            cursor_range: 0,
            cursor: 0,
            free_stack: 0,
            huge_stack: 0,
            stats: FrameStats { total_frames: 0, free_frames: 0 },
        }
    }

    /// Adds usable RAM, minus every range in `reserved`. Ranges are page-aligned inward.
    pub fn add_ram(&mut self, ram: PhysRange, reserved: &[PhysRange]) {
        let start = ram.start.next_multiple_of(PAGE_SIZE);
        let end = ram.end & !(PAGE_SIZE - 1);
        self.add_minus(PhysRange { start, end }, reserved);
    }

    fn add_minus(&mut self, range: PhysRange, reserved: &[PhysRange]) {
        if range.is_empty() {
            return;
        }
        for (index, hole) in reserved.iter().enumerate() {
            let hole_start = hole.start & !(PAGE_SIZE - 1);
            let hole_end = hole.end.next_multiple_of(PAGE_SIZE);
            if hole_start < range.end && hole_end > range.start {
                let rest = &reserved[index + 1..];
                self.add_minus(PhysRange { start: range.start, end: hole_start.max(range.start) }, rest);
                self.add_minus(PhysRange { start: hole_end.min(range.end), end: range.end }, rest);
                return;
            }
        }
        if self.range_count == MAX_RANGES {
            return; // More fragments than we track: the rest of RAM stays unused.
        }
        // Keep ranges sorted so the bump cursor walks RAM upwards.
        let mut at = self.range_count;
        while at > 0 && self.ranges[at - 1].start > range.start {
            self.ranges[at] = self.ranges[at - 1];
            at -= 1;
        }
        self.ranges[at] = range;
        self.range_count += 1;
        let frames = range.len() / PAGE_SIZE;
        self.stats.total_frames += frames;
        self.stats.free_frames += frames;
        self.cursor_range = 0;
        self.cursor = self.ranges[0].start;
    }

    /// Takes one frame (contents undefined).
    pub fn allocate(&mut self) -> Option<FrameAddr> {
        if self.free_stack != 0 {
            let frame = self.free_stack;
            // SAFETY: frames on the free stack are ours and mapped in the direct map; the
            // first word holds the next entry (written by `free`).
            self.free_stack = unsafe { core::ptr::read(phys_to_virt(frame) as *const u64) };
            self.stats.free_frames -= 1;
            return Some(FrameAddr(frame));
        }
        while self.cursor_range < self.range_count {
            let range = self.ranges[self.cursor_range];
            if self.cursor < range.end {
                let frame = self.cursor;
                self.cursor += PAGE_SIZE;
                self.stats.free_frames -= 1;
                return Some(FrameAddr(frame));
            }
            self.cursor_range += 1;
            if let Some(next) = self.ranges.get(self.cursor_range) {
                self.cursor = next.start;
            }
        }
        None
    }

    /// Returns a frame. It must have come from this allocator and be unused.
    pub fn free(&mut self, frame: FrameAddr) {
        self.push_free(frame.0);
        self.stats.free_frames += 1;
    }

    /// Moves the never-used frames `start..end` onto the free stack (they stay counted
    /// as free).
    fn push_free_run(&mut self, start: u64, end: u64) {
        let mut frame = start;
        while frame < end {
            self.push_free(frame);
            frame += PAGE_SIZE;
        }
    }

    fn push_free(&mut self, frame: u64) {
        // SAFETY: the frame is free and ours; it is mapped in the direct map like all RAM.
        unsafe { core::ptr::write(phys_to_virt(frame) as *mut u64, self.free_stack) };
        self.free_stack = frame;
    }

    /// Takes a huge block: [`FRAMES_PER_HUGE`] contiguous frames, [`HUGE_BYTES`]-aligned
    /// (contents undefined), from the huge stack or the bump region. `None` when no
    /// aligned block is left in one piece; single frames may still be.
    pub fn allocate_huge(&mut self) -> Option<FrameAddr> {
        if self.huge_stack != 0 {
            let block = self.huge_stack;
            // SAFETY: blocks on the huge stack are ours, mapped in the direct map; the
            // first word holds the next entry (written by `free_huge`).
            self.huge_stack = unsafe { core::ptr::read(phys_to_virt(block) as *const u64) };
            self.stats.free_frames -= FRAMES_PER_HUGE;
            return Some(FrameAddr(block));
        }
        while self.cursor_range < self.range_count {
            let range = self.ranges[self.cursor_range];
            let aligned = self.cursor.next_multiple_of(HUGE_BYTES);
            if aligned + HUGE_BYTES <= range.end {
                // Frames skipped for alignment stay free, as single frames.
                self.push_free_run(self.cursor, aligned);
                self.cursor = aligned + HUGE_BYTES;
                self.stats.free_frames -= FRAMES_PER_HUGE;
                return Some(FrameAddr(aligned));
            }
            // No aligned block left in this range (less than 4 MiB remain): its last
            // frames stay free as single frames, and the bump moves on.
            self.push_free_run(self.cursor, range.end);
            self.cursor_range += 1;
            if let Some(next) = self.ranges.get(self.cursor_range) {
                self.cursor = next.start;
            }
        }
        None
    }

    /// Returns a huge block taken with [`allocate_huge`](Self::allocate_huge), whole.
    pub fn free_huge(&mut self, block: FrameAddr) {
        // SAFETY: as in `push_free`, for the block's first frame.
        unsafe { core::ptr::write(phys_to_virt(block.0) as *mut u64, self.huge_stack) };
        self.huge_stack = block.0;
        self.stats.free_frames += FRAMES_PER_HUGE;
    }

    /// Carves `bytes` of contiguous, never-used RAM from the bottom of the largest free
    /// run (above the bump cursor when it is in that range). Used once, for the kernel
    /// heap: the bottom lies next to memory already in use, which a hypervisor has
    /// already backed, while the top of RAM may never have been touched (backing it
    /// costs milliseconds per 2 MiB under KVM's PVM).
    pub fn allocate_contiguous(&mut self, bytes: u64) -> Option<PhysRange> {
        let bytes = bytes.next_multiple_of(PAGE_SIZE);
        let usable_start = |allocator: &Self, index: usize| {
            if index == allocator.cursor_range { allocator.cursor } else { allocator.ranges[index].start }
        };
        let (index, _) = self.ranges[..self.range_count]
            .iter()
            .enumerate()
            .filter(|&(index, range)| {
                index >= self.cursor_range && range.end.saturating_sub(usable_start(self, index)) >= bytes
            })
            .max_by_key(|(_, range)| range.len())?;
        let start = usable_start(self, index);
        if index == self.cursor_range {
            self.cursor = start + bytes;
        } else {
            self.ranges[index].start = start + bytes;
        }
        self.stats.free_frames -= bytes / PAGE_SIZE;
        Some(PhysRange { start, end: start + bytes })
    }

    /// Current counters.
    pub fn stats(&self) -> FrameStats {
        self.stats
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
    unsafe { core::ptr::write_bytes(frame.as_mut_ptr(), 0, PAGE_SIZE as usize) };
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
