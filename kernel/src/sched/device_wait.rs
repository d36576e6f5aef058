//! Waiting on devices: a count of device interrupts, and task waits that end on it.
//!
//! A waiter reads the count ([`events`]) before it looks at its device; if the device
//! has nothing, it waits ([`wait_for_device`]) until the count moves past what it read
//! or its time is up. An interrupt between the look and the wait has moved the count,
//! so the wait returns at once: no wake-up is lost. The scheduler runs other tasks
//! meanwhile, or halts the CPU without a window for a lost interrupt
//! (`arch::cpu::enable_interrupts_and_halt`). The interrupt side only bumps atomics; it
//! never touches the scheduler.

use core::sync::atomic::{AtomicU64, Ordering};

/// The device-event count at some moment: what a wait compares against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventMark(pub(super) u64);

/// Why a device wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// A device interrupted since the mark.
    ByDevice,
    /// The time given passed first.
    ByTime,
}

static EVENTS: AtomicU64 = AtomicU64::new(0);
static WOKEN_BY_DEVICE: AtomicU64 = AtomicU64::new(0);
static WOKEN_BY_TIME: AtomicU64 = AtomicU64::new(0);

/// From a device interrupt handler: something happened on a device.
pub fn note_device_event() {
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

/// The current device-event count.
pub fn events() -> EventMark {
    EventMark(EVENTS.load(Ordering::SeqCst))
}

/// Whether a device interrupted since `mark`.
pub fn moved(mark: EventMark) -> bool {
    EVENTS.load(Ordering::SeqCst) != mark.0
}

pub(super) fn count(woken: Woken) {
    let counter = match woken {
        Woken::ByDevice => &WOKEN_BY_DEVICE,
        Woken::ByTime => &WOKEN_BY_TIME,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Device waits since boot: (ended by a device interrupt, ended by their time).
pub fn wake_counts() -> (u64, u64) {
    (WOKEN_BY_DEVICE.load(Ordering::Relaxed), WOKEN_BY_TIME.load(Ordering::Relaxed))
}

/// Waits until a device interrupts after `mark` or the monotonic clock reaches
/// `until_ns`; other tasks run meanwhile.
pub fn wait_for_device(mark: EventMark, until_ns: u64) -> Woken {
    if super::current().is_some() {
        return super::switch_out_waiting(mark, until_ns);
    }
    loop {
        wasmetal_arch::cpu::disable_interrupts();
        let woken = if moved(mark) {
            Some(Woken::ByDevice)
        } else if crate::timer::monotonic_ns() >= until_ns {
            Some(Woken::ByTime)
        } else {
            None
        };
        if let Some(woken) = woken {
            wasmetal_arch::cpu::enable_interrupts();
            count(woken);
            return woken;
        }
        wasmetal_arch::cpu::enable_interrupts_and_halt();
    }
}
