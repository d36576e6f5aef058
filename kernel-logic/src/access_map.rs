//! Which pages of the wasm region are accessible, with what rights, and what backs them.
//!
//! The runtime commits ranges (linear memories as they grow, code, stacks); the kernel
//! only records them and maps a frame when a page is first touched, so an untouched
//! page costs nothing. A page is backed by a fresh zeroed frame, by a frame of a
//! memory image (mapped read-only and copied on the first write), or by a borrowed
//! frame (memory owned elsewhere for good, such as a boot module: mapped where it
//! lies, never freed). Pages outside every range are guards.
//!
//! The map is generic over the rights type (the kernel's page protections) and knows
//! nothing of page tables: it must not map, allocate frames or take locks; the kernel's
//! frame accounting keeps the one instance.

use crate::PAGE_SIZE as PAGE;
use crate::prelude::*;

/// A memory image: a module's initial memory contents kept in frames (the kernel's
/// `wasm::image`). Handles are small indexes into the kernel's image table.
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
    /// Physically contiguous frames owned elsewhere for as long as the kernel runs (a
    /// boot module), starting at physical address `first_frame` for the range start:
    /// mapped with the range's rights, never copied or freed.
    Borrowed { first_frame: u64 },
}

impl Backing {
    /// Whether the frames are someone else's (an image's or borrowed): unmapping must
    /// not free them.
    pub fn is_shared(&self) -> bool {
        !matches!(self, Backing::Zero)
    }
}

/// One accessible range, with rights of type `R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range<R> {
    pub end: u64,
    pub rights: R,
    pub backing: Backing,
}

/// Accessible ranges by start address, non-overlapping.
pub struct AccessMap<R> {
    ranges: BTreeMap<u64, Range<R>>,
    /// Bytes covered by `ranges`: each may need a private frame when touched.
    committed: u64,
}

impl<R: Copy + Eq> Default for AccessMap<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// The part of `range` (starting at `start`) that begins at `at`.
fn tail<R>(start: u64, range: Range<R>, at: u64) -> Range<R> {
    let backing = match range.backing {
        Backing::Zero => Backing::Zero,
        Backing::Image { image, first_page } => Backing::Image { image, first_page: first_page + (at - start) / PAGE },
        Backing::Borrowed { first_frame } => Backing::Borrowed { first_frame: first_frame + (at - start) },
    };
    Range { backing, ..range }
}

impl<R: Copy + Eq> AccessMap<R> {
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
    pub fn set(&mut self, start: u64, end: u64, value: Option<(R, Backing)>) {
        if start >= end {
            return;
        }
        self.committed -= self.covered(start, end);
        if value.is_some() {
            self.committed += end - start;
        }
        // Cut out every range overlapping start..end, keeping the parts outside it.
        let overlapping: Vec<(u64, Range<R>)> =
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
    pub fn lookup(&self, addr: u64) -> Option<(u64, Range<R>)> {
        let (&start, &range) = self.ranges.range(..=addr).next_back()?;
        (addr < range.end).then_some((start, range))
    }

    /// The parts of `start..end` backed by frames that are not the range's own (images,
    /// borrowed frames; see [`Backing::is_shared`]).
    pub fn shared_parts(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.ranges
            .range(..end)
            .filter(|&(&s, range)| range.end > start && s < end && range.backing.is_shared())
            .map(|(&s, range)| (s.max(start), range.end.min(end)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rights for the tests: the map only compares them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Rights {
        Read,
        Write,
    }

    const A: u64 = 0x1000_0000;

    fn image(index: usize, first_page: u64) -> Backing {
        Backing::Image { image: ImageHandle::from_index(index).unwrap(), first_page }
    }

    fn ranges(map: &AccessMap<Rights>) -> Vec<(u64, Range<Rights>)> {
        map.ranges.iter().map(|(&start, &range)| (start, range)).collect()
    }

    #[test]
    fn set_records_ranges_and_committed_bytes() {
        let mut map = AccessMap::new();
        map.set(A, A + 4 * PAGE, Some((Rights::Write, Backing::Zero)));
        assert_eq!(map.committed_bytes(), 4 * PAGE);
        assert_eq!(map.covered(A - PAGE, A + PAGE), PAGE);
        assert_eq!(map.covered(A + 4 * PAGE, A + 8 * PAGE), 0);
        // Committing an overlapping range counts only the new bytes.
        map.set(A + 2 * PAGE, A + 6 * PAGE, Some((Rights::Write, Backing::Zero)));
        assert_eq!(map.committed_bytes(), 6 * PAGE);
        // Empty and inverted ranges change nothing.
        map.set(A, A, None);
        map.set(A + PAGE, A, None);
        assert_eq!(map.committed_bytes(), 6 * PAGE);
    }

    #[test]
    fn lookup_finds_the_range_and_not_guards() {
        let mut map = AccessMap::new();
        map.set(A, A + 2 * PAGE, Some((Rights::Read, Backing::Zero)));
        let (start, range) = map.lookup(A + PAGE + 5).unwrap();
        assert_eq!((start, range.end, range.rights), (A, A + 2 * PAGE, Rights::Read));
        assert_eq!(map.lookup(A - 1), None);
        assert_eq!(map.lookup(A + 2 * PAGE), None, "the end is exclusive");
    }

    #[test]
    fn clearing_the_middle_splits_a_range() {
        let mut map = AccessMap::new();
        map.set(A, A + 6 * PAGE, Some((Rights::Write, Backing::Zero)));
        map.set(A + 2 * PAGE, A + 3 * PAGE, None);
        assert_eq!(map.committed_bytes(), 5 * PAGE);
        assert_eq!(map.lookup(A + 2 * PAGE), None);
        assert_eq!(map.lookup(A + PAGE).map(|(start, range)| (start, range.end)), Some((A, A + 2 * PAGE)));
        assert_eq!(
            map.lookup(A + 5 * PAGE).map(|(start, range)| (start, range.end)),
            Some((A + 3 * PAGE, A + 6 * PAGE))
        );
    }

    #[test]
    fn the_tail_of_a_cut_image_range_keeps_its_page_offset() {
        let mut map = AccessMap::new();
        map.set(A, A + 8 * PAGE, Some((Rights::Write, image(3, 10))));
        map.set(A, A + 3 * PAGE, None);
        let (start, range) = map.lookup(A + 3 * PAGE).unwrap();
        assert_eq!(start, A + 3 * PAGE);
        assert_eq!(range.backing, image(3, 13), "page 3 of the range is page 13 of the image");
        // The head keeps the original offset.
        map.set(A + 5 * PAGE, A + 8 * PAGE, None);
        assert_eq!(
            map.lookup(A + 4 * PAGE).unwrap().1,
            Range { end: A + 5 * PAGE, rights: Rights::Write, backing: image(3, 13) }
        );
    }

    #[test]
    fn zero_backed_neighbours_of_the_same_rights_merge() {
        let mut map = AccessMap::new();
        map.set(A, A + PAGE, Some((Rights::Write, Backing::Zero)));
        map.set(A + 2 * PAGE, A + 3 * PAGE, Some((Rights::Write, Backing::Zero)));
        map.set(A + PAGE, A + 2 * PAGE, Some((Rights::Write, Backing::Zero)));
        assert_eq!(ranges(&map), [(A, Range { end: A + 3 * PAGE, rights: Rights::Write, backing: Backing::Zero })]);
        // Other rights, or image backing, stay separate.
        map.set(A + 3 * PAGE, A + 4 * PAGE, Some((Rights::Read, Backing::Zero)));
        map.set(A + 4 * PAGE, A + 5 * PAGE, Some((Rights::Read, image(0, 0))));
        map.set(A + 5 * PAGE, A + 6 * PAGE, Some((Rights::Read, image(0, 1))));
        assert_eq!(ranges(&map).len(), 4);
        assert_eq!(map.committed_bytes(), 6 * PAGE);
    }

    #[test]
    fn the_tail_of_a_cut_borrowed_range_starts_at_its_own_frame() {
        let mut map = AccessMap::new();
        let first_frame = 0x40_0000;
        map.set(A, A + 4 * PAGE, Some((Rights::Read, Backing::Borrowed { first_frame })));
        map.set(A, A + PAGE, None);
        let (start, range) = map.lookup(A + 2 * PAGE).unwrap();
        assert_eq!(start, A + PAGE);
        assert_eq!(range.backing, Backing::Borrowed { first_frame: first_frame + PAGE });
        assert_eq!(map.shared_parts(A, A + 8 * PAGE), [(A + PAGE, A + 4 * PAGE)]);
    }

    #[test]
    fn shared_parts_are_clipped_to_the_query() {
        let mut map = AccessMap::new();
        map.set(A, A + 2 * PAGE, Some((Rights::Write, Backing::Zero)));
        map.set(A + 2 * PAGE, A + 4 * PAGE, Some((Rights::Write, image(1, 0))));
        map.set(A + 6 * PAGE, A + 8 * PAGE, Some((Rights::Write, image(2, 0))));
        assert_eq!(
            map.shared_parts(A + PAGE, A + 7 * PAGE),
            [(A + 2 * PAGE, A + 4 * PAGE), (A + 6 * PAGE, A + 7 * PAGE)]
        );
        assert_eq!(map.shared_parts(A, A + 2 * PAGE), []);
    }

    #[test]
    fn image_handles_past_32_bits_are_refused() {
        assert_eq!(ImageHandle::from_index(7).map(ImageHandle::index), Some(7));
        assert_eq!(ImageHandle::from_index(u32::MAX as usize + 1), None);
    }
}
