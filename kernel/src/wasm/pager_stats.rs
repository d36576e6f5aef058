//! The demand pager's counters: faults served and the TSC cycles they spent, by part.
//!
//! Counted always (a few relaxed atomic adds and `rdtsc` reads per fault, against
//! fault round trips of tens of microseconds under a hypervisor), reported by
//! `bench kernel` and, with `-v`, after each run. This module only counts; the pager
//! decides what to map.

use core::sync::atomic::{AtomicU64, Ordering};

/// What a fault (or an eager commit) mapped.
#[derive(Clone, Copy, Debug)]
pub enum Mapped {
    /// A run of 4 KiB pages (the fault-around block of a wasm page).
    Pages(u64),
    /// One 2 MiB block.
    Huge,
    /// An image's shared frame, read-only.
    ImageFrame,
    /// A private copy of an image frame after a write.
    Copy,
    /// A borrowed frame (code run in place from the initrd).
    Borrowed,
}

/// One counter set; the kernel keeps one global instance.
pub struct PagerStats {
    faults: AtomicU64,
    eager_maps: AtomicU64,
    pages_mapped: AtomicU64,
    huge_mapped: AtomicU64,
    image_mapped: AtomicU64,
    borrowed_mapped: AtomicU64,
    copies: AtomicU64,
    zeroing_skipped_pages: AtomicU64,
    fault_cycles: AtomicU64,
    eager_cycles: AtomicU64,
    zero_cycles: AtomicU64,
}

/// A snapshot of [`PagerStats`], for differences around a workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagerSnapshot {
    pub faults: u64,
    pub eager_maps: u64,
    pub pages_mapped: u64,
    pub huge_mapped: u64,
    pub image_mapped: u64,
    pub borrowed_mapped: u64,
    pub copies: u64,
    pub zeroing_skipped_pages: u64,
    pub fault_cycles: u64,
    pub eager_cycles: u64,
    pub zero_cycles: u64,
}

impl PagerSnapshot {
    /// Counts since `earlier`.
    pub fn since(&self, earlier: &PagerSnapshot) -> PagerSnapshot {
        PagerSnapshot {
            faults: self.faults - earlier.faults,
            eager_maps: self.eager_maps - earlier.eager_maps,
            pages_mapped: self.pages_mapped - earlier.pages_mapped,
            huge_mapped: self.huge_mapped - earlier.huge_mapped,
            image_mapped: self.image_mapped - earlier.image_mapped,
            borrowed_mapped: self.borrowed_mapped - earlier.borrowed_mapped,
            copies: self.copies - earlier.copies,
            zeroing_skipped_pages: self.zeroing_skipped_pages - earlier.zeroing_skipped_pages,
            fault_cycles: self.fault_cycles - earlier.fault_cycles,
            eager_cycles: self.eager_cycles - earlier.eager_cycles,
            zero_cycles: self.zero_cycles - earlier.zero_cycles,
        }
    }
}

impl core::fmt::Display for PagerSnapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let us = crate::timer::cycles_to_ns;
        write!(
            f,
            "{} faults ({} us in the pager), {} eager maps ({} us), mapped {} pages + {} huge blocks + {} image frames + {} borrowed frames, \
             {} copies, zeroing {} us, {} pages known zero",
            self.faults,
            us(self.fault_cycles) / 1000,
            self.eager_maps,
            us(self.eager_cycles) / 1000,
            self.pages_mapped,
            self.huge_mapped,
            self.image_mapped,
            self.borrowed_mapped,
            self.copies,
            us(self.zero_cycles) / 1000,
            self.zeroing_skipped_pages,
        )
    }
}

impl PagerStats {
    const fn new() -> Self {
        Self {
            faults: AtomicU64::new(0),
            eager_maps: AtomicU64::new(0),
            pages_mapped: AtomicU64::new(0),
            huge_mapped: AtomicU64::new(0),
            image_mapped: AtomicU64::new(0),
            borrowed_mapped: AtomicU64::new(0),
            copies: AtomicU64::new(0),
            zeroing_skipped_pages: AtomicU64::new(0),
            fault_cycles: AtomicU64::new(0),
            eager_cycles: AtomicU64::new(0),
            zero_cycles: AtomicU64::new(0),
        }
    }

    /// Records what a fault or an eager map did.
    pub fn mapped(&self, what: Mapped) {
        let counter = match what {
            Mapped::Pages(pages) => {
                self.pages_mapped.fetch_add(pages, Ordering::Relaxed);
                return;
            }
            Mapped::Huge => &self.huge_mapped,
            Mapped::ImageFrame => &self.image_mapped,
            Mapped::Borrowed => &self.borrowed_mapped,
            Mapped::Copy => &self.copies,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a demand fault that took `cycles` in the pager.
    pub fn fault(&self, cycles: u64) {
        self.faults.fetch_add(1, Ordering::Relaxed);
        self.fault_cycles.fetch_add(cycles, Ordering::Relaxed);
    }

    /// Records an eager map (at commit) that took `cycles`.
    pub fn eager(&self, cycles: u64) {
        self.eager_maps.fetch_add(1, Ordering::Relaxed);
        self.eager_cycles.fetch_add(cycles, Ordering::Relaxed);
    }

    /// Records `cycles` spent zeroing frames.
    pub fn zeroed(&self, cycles: u64) {
        self.zero_cycles.fetch_add(cycles, Ordering::Relaxed);
    }

    /// Records `pages` handed out without zeroing because they were known zero.
    pub fn known_zero(&self, pages: u64) {
        self.zeroing_skipped_pages.fetch_add(pages, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> PagerSnapshot {
        PagerSnapshot {
            faults: self.faults.load(Ordering::Relaxed),
            eager_maps: self.eager_maps.load(Ordering::Relaxed),
            pages_mapped: self.pages_mapped.load(Ordering::Relaxed),
            huge_mapped: self.huge_mapped.load(Ordering::Relaxed),
            image_mapped: self.image_mapped.load(Ordering::Relaxed),
            borrowed_mapped: self.borrowed_mapped.load(Ordering::Relaxed),
            copies: self.copies.load(Ordering::Relaxed),
            zeroing_skipped_pages: self.zeroing_skipped_pages.load(Ordering::Relaxed),
            fault_cycles: self.fault_cycles.load(Ordering::Relaxed),
            eager_cycles: self.eager_cycles.load(Ordering::Relaxed),
            zero_cycles: self.zero_cycles.load(Ordering::Relaxed),
        }
    }
}

/// The pager's counters.
pub static PAGER_STATS: PagerStats = PagerStats::new();
