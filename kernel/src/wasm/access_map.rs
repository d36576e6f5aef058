//! Which pages of the wasm region are accessible, and with what rights.
//!
//! The runtime commits ranges (linear memories as they grow, code, stacks); the kernel
//! only records them and maps a zeroed frame when a page is first touched, so an
//! untouched page costs nothing. Pages outside every committed range are guards.

use alloc::collections::BTreeMap;

use crate::memory::address_space::Protection;

/// Accessible ranges: start -> (end, rights), non-overlapping.
#[derive(Default)]
pub struct AccessMap {
    ranges: BTreeMap<u64, (u64, Protection)>,
}

impl AccessMap {
    pub const fn new() -> Self {
        Self { ranges: BTreeMap::new() }
    }

    /// Makes `start..end` accessible with `protection`, or inaccessible with `None`.
    pub fn set(&mut self, start: u64, end: u64, protection: Option<Protection>) {
        if start >= end {
            return;
        }
        // Cut out every range overlapping start..end, keeping the parts outside it.
        let overlapping: alloc::vec::Vec<(u64, (u64, Protection))> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(_, (range_end, _))| *range_end > start)
            .map(|(&s, &v)| (s, v))
            .collect();
        for (range_start, (range_end, rights)) in overlapping {
            self.ranges.remove(&range_start);
            if range_start < start {
                self.ranges.insert(range_start, (start, rights));
            }
            if range_end > end {
                self.ranges.insert(end, (range_end, rights));
            }
        }
        let Some(protection) = protection else { return };
        let mut new_start = start;
        let mut new_end = end;
        // Merge with neighbours of the same rights so growth keeps the map small.
        if let Some((&prev_start, &(prev_end, prev_rights))) = self.ranges.range(..start).next_back()
            && prev_end == start
            && prev_rights == protection
        {
            self.ranges.remove(&prev_start);
            new_start = prev_start;
        }
        if let Some(&(next_end, next_rights)) = self.ranges.get(&end)
            && next_rights == protection
        {
            self.ranges.remove(&end);
            new_end = next_end;
        }
        self.ranges.insert(new_start, (new_end, protection));
    }

    /// The rights at `addr`, if accessible.
    pub fn lookup(&self, addr: u64) -> Option<Protection> {
        let (_, &(end, rights)) = self.ranges.range(..=addr).next_back()?;
        (addr < end).then_some(rights)
    }
}
