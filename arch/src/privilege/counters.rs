//! How often CPL3 code crossed into CPL0, for benchmarks and diagnostics.
//!
//! Incremented by the CPL0 side; read by anyone. Owns no policy.

use core::sync::atomic::{AtomicU64, Ordering};

pub(super) static MONITOR_CALLS: AtomicU64 = AtomicU64::new(0);
pub(super) static UPCALLS: AtomicU64 = AtomicU64::new(0);
pub(super) static DEFERRED: AtomicU64 = AtomicU64::new(0);

/// How often CPL3 code needed CPL0 since boot (each crossing is costly under a
/// hypervisor that emulates CPL0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrossingCounts {
    /// Monitor calls made.
    pub monitor_calls: u64,
    /// Faults from CPL3 handed back to the CPL3 handler.
    pub upcalls: u64,
    /// Device interrupts that arrived while masked and were delivered later.
    pub deferred_interrupts: u64,
}

/// The counters so far.
pub fn crossing_counts() -> CrossingCounts {
    CrossingCounts {
        monitor_calls: MONITOR_CALLS.load(Ordering::Relaxed),
        upcalls: UPCALLS.load(Ordering::Relaxed),
        deferred_interrupts: DEFERRED.load(Ordering::Relaxed),
    }
}
