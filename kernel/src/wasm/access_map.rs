//! Which pages of the wasm region are accessible, with what rights, and what backs them.
//!
//! The runtime commits ranges (linear memories as they grow, code, stacks); the kernel
//! only records them and maps a frame when a page is first touched, so an untouched
//! page costs nothing. A page is backed by a fresh zeroed frame, or by a frame of a
//! memory image (mapped read-only and copied on the first write). Pages outside every
//! range are guards.

use alloc::collections::BTreeMap;

use crate::memory::address_space::Protection;

/// A memory image: a module's initial memory contents kept in frames (`super::image`).
/// Handles are small indexes into the kernel's image table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHandle(u32);

impl ImageHandle {
    /// The handle at `index` of the image table; `None` past 32 bits (never a valid
    /// handle: the table would hold more images than there are frames).
    pub fn from_index(index: usize) -> Option<Self> {
        u32::try_from(index).ok().map(Self)
    }

    /// The handle's index in the image table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a range's pages start out as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Zeroed frames.
    Zero,
    /// Frames of image `image`, starting at its page `first_page` for the range start.
    Image { image: ImageHandle, first_page: u64 },
}

/// One accessible range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub end: u64,
    pub rights: Protection,
    pub backing: Backing,
}

/// Accessible ranges by start address, non-overlapping.
#[derive(Default)]
pub struct AccessMap {
    ranges: BTreeMap<u64, Range>,
    /// Bytes covered by `ranges`: each may need a private frame when touched.
    committed: u64,
}

const PAGE: u64 = crate::memory::layout::PAGE_SIZE;

/// The part of `range` (starting at `start`) that begins at `at`.
fn tail(start: u64, range: Range, at: u64) -> Range {
    let backing = match range.backing {
        Backing::Zero => Backing::Zero,
        Backing::Image { image, first_page } => Backing::Image { image, first_page: first_page + (at - start) / PAGE },
    };
    Range { backing, ..range }
}

impl AccessMap {
    pub const fn new() -> Self {
        Self { ranges: BTreeMap::new(), committed: 0 }
    }

    /// Bytes in accessible ranges.
    pub fn committed_bytes(&self) -> u64 {
        self.committed
    }

    /// Bytes of `start..end` already in accessible ranges.
    pub fn covered(&self, start: u64, end: u64) -> u64 {
        self.ranges
            .range(..end)
            .rev()
            .take_while(|(_, range)| range.end > start)
            .map(|(&s, range)| range.end.min(end) - s.max(start))
            .sum()
    }

    /// Makes `start..end` accessible with `rights` and `backing`, or inaccessible with
    /// `None`.
    pub fn set(&mut self, start: u64, end: u64, value: Option<(Protection, Backing)>) {
        if start >= end {
            return;
        }
        self.committed -= self.covered(start, end);
        if value.is_some() {
            self.committed += end - start;
        }
        // Cut out every range overlapping start..end, keeping the parts outside it.
        let overlapping: alloc::vec::Vec<(u64, Range)> =
            self.ranges.range(..end).rev().take_while(|(_, range)| range.end > start).map(|(&s, &r)| (s, r)).collect();
        for (range_start, range) in overlapping {
            self.ranges.remove(&range_start);
            if range_start < start {
                self.ranges.insert(range_start, Range { end: start, ..range });
            }
            if range.end > end {
                self.ranges.insert(end, tail(range_start, range, end));
            }
        }
        let Some((rights, backing)) = value else { return };
        let mut new_start = start;
        let mut new = Range { end, rights, backing };
        // Merge zero-backed neighbours of the same rights so growth keeps the map small.
        if backing == Backing::Zero {
            if let Some((&prev_start, &prev)) = self.ranges.range(..start).next_back()
                && prev.end == start
                && prev.rights == rights
                && prev.backing == Backing::Zero
            {
                self.ranges.remove(&prev_start);
                new_start = prev_start;
            }
            if let Some(&next) = self.ranges.get(&end)
                && next.rights == rights
                && next.backing == Backing::Zero
            {
                self.ranges.remove(&end);
                new.end = next.end;
            }
        }
        self.ranges.insert(new_start, new);
    }

    /// The range containing `addr`, with its start.
    pub fn lookup(&self, addr: u64) -> Option<(u64, Range)> {
        let (&start, &range) = self.ranges.range(..=addr).next_back()?;
        (addr < range.end).then_some((start, range))
    }

    /// The image-backed parts of `start..end`.
    pub fn image_parts(&self, start: u64, end: u64) -> alloc::vec::Vec<(u64, u64)> {
        self.ranges
            .range(..end)
            .filter(|&(&s, range)| range.end > start && s < end && matches!(range.backing, Backing::Image { .. }))
            .map(|(&s, range)| (s.max(start), range.end.min(end)))
            .collect()
    }
}
