//! The physical frame allocator's bookkeeping: every usable 4 KiB frame, handed out once.
//!
//! Frames come from the e820 RAM ranges minus what is already in use (the first MiB,
//! the kernel image, the boot structures, the initrd). Fresh frames are bumped from the
//! ranges in ascending order (so early page tables land low, inside the boot map);
//! freed frames go on an intrusive stack threaded through the frames themselves. Huge
//! blocks (2 MiB, aligned, for large mappings) are bumped the same way and have a stack
//! of their own, so they stay whole. Contiguous runs (the heap) are carved from the
//! bottom of the largest range. The allocator reaches a frame's bytes only through
//! [`FrameLinks`] (the kernel's direct map); it must not touch memory itself.

use crate::PAGE_SIZE;

/// RAM ranges tracked; fragments past this many stay unused.
pub const MAX_RANGES: usize = 64;

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
}

/// What a frame (or huge block) holds when it is handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Zero bytes: never used since boot, and RAM was zero when the VM started
    /// ([`FrameAllocator::assume_fresh_ram_zeroed`]). Zeroing it again is wasted work
    /// and, under a hypervisor, an early first touch of memory the program may never use.
    Zero,
    /// Whatever its last user left.
    Unknown,
}

/// Counters for the memory report and leak checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameStats {
    pub total_frames: u64,
    pub free_frames: u64,
}

/// Where the free stacks keep their links: the first word of each free frame. The
/// kernel reaches it through its direct map; a test keeps the words in a table.
pub trait FrameLinks {
    /// The link stored in `frame`.
    ///
    /// # Safety
    /// `frame` is on one of the calling allocator's free stacks (its first word holds
    /// the link written when it was pushed).
    unsafe fn read(&self, frame: u64) -> u64;

    /// Stores `next` as the link of `frame`.
    ///
    /// # Safety
    /// `frame` is RAM the calling allocator holds free: nothing else uses its bytes.
    unsafe fn write(&mut self, frame: u64, next: u64);
}

/// The allocator's state; the kernel keeps one instance behind a lock.
pub struct FrameAllocator<L> {
    links: L,
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
    /// Whether never-used frames hold zeros (the VM's RAM started zeroed).
    fresh_is_zero: bool,
    stats: FrameStats,
}

impl<L: FrameLinks> FrameAllocator<L> {
    /// An allocator with no RAM yet, keeping its free-stack links through `links`.
    pub const fn new(links: L) -> Self {
        Self {
            links,
            ranges: [PhysRange { start: 0, end: 0 }; MAX_RANGES],
            range_count: 0,
            cursor_range: 0,
            cursor: 0,
            free_stack: 0,
            huge_stack: 0,
            fresh_is_zero: false,
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

    /// Declares that RAM held zeros when the VM started (QEMU backs guest RAM with
    /// zeroed anonymous memory; what it loaded there is in the reserved ranges), so
    /// frames the bump hands out are [`Contents::Zero`].
    pub fn assume_fresh_ram_zeroed(&mut self) {
        self.fresh_is_zero = true;
    }

    fn fresh(&self) -> Contents {
        if self.fresh_is_zero { Contents::Zero } else { Contents::Unknown }
    }

    /// Takes one frame (contents undefined).
    pub fn allocate(&mut self) -> Option<FrameAddr> {
        self.allocate_with_contents().map(|(frame, _)| frame)
    }

    /// Takes one frame and says what it holds. Freed frames come first (last in, first
    /// out: recently used memory is the cheapest to touch again), then never-used ones.
    pub fn allocate_with_contents(&mut self) -> Option<(FrameAddr, Contents)> {
        if self.free_stack != 0 {
            let frame = self.free_stack;
            // SAFETY: `frame` is the top of the free stack; its link was written when it
            // was pushed.
            self.free_stack = unsafe { self.links.read(frame) };
            self.stats.free_frames -= 1;
            return Some((FrameAddr(frame), Contents::Unknown));
        }
        while self.cursor_range < self.range_count {
            let range = self.ranges[self.cursor_range];
            if self.cursor < range.end {
                let frame = self.cursor;
                self.cursor += PAGE_SIZE;
                self.stats.free_frames -= 1;
                return Some((FrameAddr(frame), self.fresh()));
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
        // SAFETY: the frame is free and ours: never handed out (a bump remainder), or
        // given back through `free`, whose caller no longer uses it.
        unsafe { self.links.write(frame, self.free_stack) };
        self.free_stack = frame;
    }

    /// Takes a huge block: [`FRAMES_PER_HUGE`] contiguous frames, [`HUGE_BYTES`]-aligned
    /// (contents undefined), from the huge stack or the bump region. `None` when no
    /// aligned block is left in one piece; single frames may still be.
    pub fn allocate_huge(&mut self) -> Option<FrameAddr> {
        self.allocate_huge_with_contents().map(|(block, _)| block)
    }

    /// [`allocate_huge`](Self::allocate_huge), saying what the block holds.
    pub fn allocate_huge_with_contents(&mut self) -> Option<(FrameAddr, Contents)> {
        if self.huge_stack != 0 {
            let block = self.huge_stack;
            // SAFETY: `block` is the top of the huge stack; its first frame's link was
            // written by `free_huge`.
            self.huge_stack = unsafe { self.links.read(block) };
            self.stats.free_frames -= FRAMES_PER_HUGE;
            return Some((FrameAddr(block), Contents::Unknown));
        }
        while self.cursor_range < self.range_count {
            let range = self.ranges[self.cursor_range];
            let aligned = self.cursor.next_multiple_of(HUGE_BYTES);
            if aligned + HUGE_BYTES <= range.end {
                // Frames skipped for alignment stay free, as single frames.
                self.push_free_run(self.cursor, aligned);
                self.cursor = aligned + HUGE_BYTES;
                self.stats.free_frames -= FRAMES_PER_HUGE;
                return Some((FrameAddr(aligned), self.fresh()));
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
        unsafe { self.links.write(block.0, self.huge_stack) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    /// Links kept in a table: the frames are not real memory here.
    #[derive(Default)]
    struct TableLinks(BTreeMap<u64, u64>);

    impl FrameLinks for TableLinks {
        unsafe fn read(&self, frame: u64) -> u64 {
            *self.0.get(&frame).expect("a link is read only after it was written")
        }

        unsafe fn write(&mut self, frame: u64, next: u64) {
            self.0.insert(frame, next);
        }
    }

    const MIB: u64 = 1 << 20;

    fn allocator(ram: &[PhysRange], reserved: &[PhysRange]) -> FrameAllocator<TableLinks> {
        let mut allocator = FrameAllocator::new(TableLinks::default());
        for &range in ram {
            allocator.add_ram(range, reserved);
        }
        allocator
    }

    fn range(start: u64, end: u64) -> PhysRange {
        PhysRange { start, end }
    }

    fn drain(allocator: &mut FrameAllocator<TableLinks>) -> Vec<u64> {
        core::iter::from_fn(|| allocator.allocate().map(FrameAddr::phys)).collect()
    }

    #[test]
    fn ram_is_aligned_inward_and_reserved_holes_are_left_out() {
        // 0x2000..0x6000 after inward alignment; the hole covers the frame 0x3000.
        let mut frames = allocator(&[range(0x1010, 0x6ff0)], &[range(0x3100, 0x3200)]);
        assert_eq!(frames.stats().total_frames, 3);
        assert_eq!(frames.stats().free_frames, 3);
        assert_eq!(drain(&mut frames), [0x2000, 0x4000, 0x5000]);
        assert_eq!(frames.stats().free_frames, 0);
        assert_eq!(frames.stats().total_frames, 3);
    }

    #[test]
    fn frames_are_bumped_in_ascending_order_across_ranges() {
        // Added out of order: the allocator sorts them.
        let mut frames = allocator(&[range(0x10_0000, 0x10_2000), range(0x8000, 0x9000)], &[]);
        assert_eq!(drain(&mut frames), [0x8000, 0x10_0000, 0x10_1000]);
        assert_eq!(frames.allocate(), None, "exhausted");
    }

    #[test]
    fn freed_frames_are_reused_last_in_first_out() {
        let mut frames = allocator(&[range(0x1000, 0x5000)], &[]);
        let first = frames.allocate().unwrap();
        let second = frames.allocate().unwrap();
        assert_eq!(frames.stats().free_frames, 2);
        frames.free(first);
        frames.free(second);
        assert_eq!(frames.stats().free_frames, 4);
        assert_eq!(frames.allocate(), Some(second));
        assert_eq!(frames.allocate(), Some(first));
        // Then the bump continues where it was.
        assert_eq!(drain(&mut frames), [0x3000, 0x4000]);
    }

    #[test]
    fn huge_blocks_are_aligned_and_the_skipped_frames_stay_free() {
        // RAM from 1 MiB to 6 MiB: one aligned 2 MiB block at 2 MiB, and one at 4 MiB.
        let mut frames = allocator(&[range(MIB, 6 * MIB)], &[]);
        let total = frames.stats().free_frames;
        let block = frames.allocate_huge().unwrap();
        assert_eq!(block.phys(), 2 * MIB);
        assert_eq!(frames.stats().free_frames, total - FRAMES_PER_HUGE);
        assert_eq!(frames.allocate_huge().map(FrameAddr::phys), Some(4 * MIB));
        assert_eq!(frames.allocate_huge(), None, "no aligned block left");
        // The frames below 2 MiB went to the free stack as single frames: 1 MiB of them.
        let singles = drain(&mut frames);
        assert_eq!(singles.len() as u64, MIB / PAGE_SIZE);
        assert!(singles.iter().all(|&frame| (MIB..2 * MIB).contains(&frame)));
        assert_eq!(frames.stats().free_frames, 0);
        // A freed block comes back whole.
        frames.free_huge(block);
        assert_eq!(frames.stats().free_frames, FRAMES_PER_HUGE);
        assert_eq!(frames.allocate_huge(), Some(block));
    }

    #[test]
    fn only_never_used_frames_are_known_zero_and_only_when_ram_started_zeroed() {
        let mut unknown = allocator(&[range(MIB, 6 * MIB)], &[]);
        assert_eq!(unknown.allocate_with_contents().map(|(_, contents)| contents), Some(Contents::Unknown));
        let mut frames = allocator(&[range(MIB, 6 * MIB)], &[]);
        frames.assume_fresh_ram_zeroed();
        let (first, contents) = frames.allocate_with_contents().unwrap();
        assert_eq!(contents, Contents::Zero, "bumped");
        let (block, contents) = frames.allocate_huge_with_contents().unwrap();
        assert_eq!(contents, Contents::Zero, "bumped block");
        frames.free(first);
        assert_eq!(frames.allocate_with_contents(), Some((first, Contents::Unknown)), "freed, then reused");
        // Frames skipped for the block's alignment carry free-stack links: not zero.
        assert_eq!(frames.allocate_with_contents().map(|(_, contents)| contents), Some(Contents::Unknown));
        frames.free_huge(block);
        assert_eq!(frames.allocate_huge_with_contents(), Some((block, Contents::Unknown)));
    }

    #[test]
    fn a_range_too_small_for_a_block_keeps_its_frames_as_singles() {
        let mut frames = allocator(&[range(2 * MIB, 3 * MIB)], &[]);
        assert_eq!(frames.allocate_huge(), None);
        assert_eq!(frames.stats().free_frames, MIB / PAGE_SIZE);
        assert_eq!(drain(&mut frames).len() as u64, MIB / PAGE_SIZE);
    }

    #[test]
    fn contiguous_runs_come_from_the_bottom_of_the_largest_range() {
        let mut frames = allocator(&[range(MIB, 2 * MIB), range(8 * MIB, 16 * MIB)], &[]);
        let free = frames.stats().free_frames;
        let run = frames.allocate_contiguous(3 * MIB + 1).unwrap();
        assert_eq!(run, range(8 * MIB, 8 * MIB + 3 * MIB + PAGE_SIZE), "rounded up to whole frames");
        assert_eq!(frames.stats().free_frames, free - run.len() / PAGE_SIZE);
        assert_eq!(frames.allocate_contiguous(16 * MIB), None);
        // Single frames never land inside the run.
        let singles = drain(&mut frames);
        assert!(singles.iter().all(|&frame| frame + PAGE_SIZE <= run.start || frame >= run.end));
        assert_eq!(singles.len() as u64, free - run.len() / PAGE_SIZE);
    }

    #[test]
    fn fragments_past_the_limit_stay_unused() {
        let ram: Vec<PhysRange> = (0..MAX_RANGES as u64 + 4)
            .map(|index| range(index * 2 * PAGE_SIZE, index * 2 * PAGE_SIZE + PAGE_SIZE))
            .collect();
        let mut frames = allocator(&ram, &[]);
        assert_eq!(frames.stats().total_frames, MAX_RANGES as u64);
        assert_eq!(drain(&mut frames).len(), MAX_RANGES);
    }
}
