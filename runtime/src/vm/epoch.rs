//! The engine's epoch clock and the per-store slots its ticks arm.
//!
//! Generated code does not compare the epoch with a deadline in its loops: it reads
//! the store's *poll word* and loads a byte through it (two loads, no branch; see
//! `compiler::translate::instrument`). The word points at a readable byte while the
//! deadline is ahead; [`EpochClock::tick`] bumps the epoch and, for every store whose
//! deadline it reached, sets the word to null, so that store's next check faults and
//! the trap handler sends it to the slow path (`vm::epoch_poll`).
//!
//! A tick is an atomic add plus a scan of the claimed slots: no lock, no allocation,
//! so a timer interrupt handler calls it directly. Slots live in chunks the clock owns
//! until the engine is dropped, so a tick racing with a store's drop touches memory
//! that stays valid. Arming is conservative: a spurious arm (a tick that read a
//! deadline just replaced) costs the store one trip to the slow path, which looks
//! again and disarms; a missed arm cannot happen, because a new deadline is published
//! before the epoch is read again ([`EpochSlot::set_deadline`]).
//!
//! This module owns no policy: what happens at a passed deadline is the store's.

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::prelude::*;

/// Slots per chunk.
const CHUNK_SLOTS: usize = 64;
const _: () = assert!(CHUNK_SLOTS == u64::BITS as usize);

/// What a disarmed poll word points at (generated code only reads it).
static READABLE: u8 = 0;

const fn disarmed() -> *mut u8 {
    (&raw const READABLE).cast_mut()
}

/// The armed poll word: loading through it faults at address 0, which neither the
/// hosted platform nor the kernel maps. (A non-canonical address, raising #GP instead,
/// was tried: under this machine's PVM hypervisor its first fault took 8 ms.)
const ARMED: *mut u8 = core::ptr::null_mut();

/// One store's epoch state, as generated code and the clock see it.
#[repr(C, align(64))]
pub struct EpochSlot {
    /// What generated code loads through: readable, or [`ARMED`]. Must stay first.
    poll: AtomicPtr<u8>,
    /// Epoch value at which the store's deadline passes.
    deadline: AtomicU64,
}

impl EpochSlot {
    const fn new() -> Self {
        Self { poll: AtomicPtr::new(disarmed()), deadline: AtomicU64::new(u64::MAX) }
    }

    /// Offset of the poll word (generated code's first load).
    pub const POLL_OFFSET: u32 = core::mem::offset_of!(EpochSlot, poll) as u32;
    /// Offset of the deadline (read by generated code that checks by comparing).
    pub const DEADLINE_OFFSET: u32 = core::mem::offset_of!(EpochSlot, deadline) as u32;

    /// The current deadline.
    pub fn deadline(&self) -> u64 {
        self.deadline.load(Ordering::SeqCst)
    }

    /// Makes `deadline` the store's deadline and arms or disarms the poll for it, given
    /// the clock's `now` read *after* the deadline was published.
    pub fn set_deadline(&self, deadline: u64, clock: &EpochClock) {
        self.deadline.store(deadline, Ordering::SeqCst);
        self.disarm();
        // A tick between the store above and this load either saw the new deadline
        // (and armed if due) or is seen here; SeqCst on both sides makes one of them so.
        if clock.now() >= deadline {
            self.arm();
        }
    }

    /// Whether the poll word is armed.
    pub fn armed(&self) -> bool {
        self.poll.load(Ordering::SeqCst).is_null()
    }

    /// Makes the store's next check fault.
    pub fn arm(&self) {
        self.poll.store(ARMED, Ordering::SeqCst);
    }

    /// Stops the store faulting at its checks.
    pub fn disarm(&self) {
        self.poll.store(disarmed(), Ordering::SeqCst);
    }
}

// Generated code loads the poll word at the slot's address.
const _: () = assert!(EpochSlot::POLL_OFFSET == 0);

struct Chunk {
    slots: [EpochSlot; CHUNK_SLOTS],
    /// Bit `i` set: slot `i` belongs to a live store. One word, so a tick visits only
    /// claimed slots (it may run at an emulated CPL0, where every instruction counts).
    claimed: AtomicU64,
    /// The chunk published before this one (fixed once this one is published).
    next: *mut Chunk,
}

/// The epoch counter and the slots its ticks arm.
pub struct EpochClock {
    now: AtomicU64,
    /// Newest chunk first; chunks are only ever added (and freed with the clock).
    chunks: AtomicPtr<Chunk>,
}

/// A claimed slot; released on drop.
pub struct SlotHandle {
    chunk: *const Chunk,
    index: usize,
}

// SAFETY: the slot is made of atomics and outlives the handle (the clock frees chunks
// only when the engine, which every store keeps alive, is dropped).
unsafe impl Send for SlotHandle {}
// SAFETY: as above.
unsafe impl Sync for SlotHandle {}

impl SlotHandle {
    /// The slot (valid while the handle lives).
    pub fn slot(&self) -> &EpochSlot {
        &self.chunk().slots[self.index]
    }

    fn chunk(&self) -> &Chunk {
        // SAFETY: see the Send impl: the chunk outlives every handle into it.
        unsafe { &*self.chunk }
    }

    /// The slot's address, for the `VMContext` header.
    pub fn as_ptr(&self) -> *const EpochSlot {
        self.slot()
    }
}

impl Drop for SlotHandle {
    fn drop(&mut self) {
        let slot = self.slot();
        slot.deadline.store(u64::MAX, Ordering::SeqCst);
        slot.disarm();
        self.chunk().claimed.fetch_and(!(1 << self.index), Ordering::Release);
    }
}

impl Default for EpochClock {
    fn default() -> Self {
        Self::new()
    }
}

impl EpochClock {
    pub const fn new() -> Self {
        Self { now: AtomicU64::new(0), chunks: AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// The current epoch.
    #[inline]
    pub fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    /// The counter itself (generated code that compares reads it).
    pub fn counter(&self) -> &AtomicU64 {
        &self.now
    }

    /// Every chunk, newest first.
    fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        let mut chunk = self.chunks.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            // SAFETY: published chunks stay allocated until the clock is dropped, and
            // their `next` never changes after publication.
            let current = unsafe { chunk.as_ref()? };
            chunk = current.next;
            Some(current)
        })
    }

    /// Advances the epoch by one and arms every claimed slot whose deadline it reached.
    /// Lock-free and allocation-free: safe from an interrupt handler.
    pub fn tick(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        for chunk in self.chunks() {
            let mut claimed = chunk.claimed.load(Ordering::Acquire);
            while claimed != 0 {
                let slot = &chunk.slots[claimed.trailing_zeros() as usize];
                claimed &= claimed - 1;
                if now >= slot.deadline.load(Ordering::SeqCst) && !slot.armed() {
                    slot.arm();
                }
            }
        }
    }

    /// Claims a slot for a new store, with no deadline yet (adds a chunk when every
    /// slot is taken).
    pub fn claim(&self) -> SlotHandle {
        loop {
            for chunk in self.chunks() {
                let mut claimed = chunk.claimed.load(Ordering::Acquire);
                while claimed != u64::MAX {
                    let index = (!claimed).trailing_zeros() as usize;
                    match chunk.claimed.compare_exchange(
                        claimed,
                        claimed | 1 << index,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            // A tick may look at the slot from here on: a stale deadline
                            // at most arms it spuriously, and this disarms it again.
                            let slot = &chunk.slots[index];
                            slot.deadline.store(u64::MAX, Ordering::SeqCst);
                            slot.disarm();
                            return SlotHandle { chunk, index };
                        }
                        Err(now) => claimed = now,
                    }
                }
            }
            let head = self.chunks.load(Ordering::Acquire);
            let fresh = Box::into_raw(Box::new(Chunk {
                slots: [const { EpochSlot::new() }; CHUNK_SLOTS],
                claimed: AtomicU64::new(0),
                next: head,
            }));
            if self.chunks.compare_exchange(head, fresh, Ordering::AcqRel, Ordering::Acquire).is_err() {
                // Another claimer added a chunk first: look again.
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }
}

impl Drop for EpochClock {
    fn drop(&mut self) {
        let mut chunk = *self.chunks.get_mut();
        while !chunk.is_null() {
            // SAFETY: the engine is being dropped, so no store (and no handle) is left;
            // every chunk was made by `Box::into_raw` in `claim`.
            let owned = unsafe { Box::from_raw(chunk) };
            chunk = owned.next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_arms_exactly_the_slots_it_reaches() {
        let clock = EpochClock::new();
        let soon = clock.claim();
        let later = clock.claim();
        let never = clock.claim();
        soon.slot().set_deadline(1, &clock);
        later.slot().set_deadline(3, &clock);
        assert!(!soon.slot().armed() && !later.slot().armed() && !never.slot().armed());
        clock.tick();
        assert!(soon.slot().armed());
        assert!(!later.slot().armed() && !never.slot().armed());
        clock.tick();
        clock.tick();
        assert!(later.slot().armed());
        assert!(!never.slot().armed());
    }

    #[test]
    fn a_deadline_already_passed_arms_at_once() {
        let clock = EpochClock::new();
        clock.tick();
        clock.tick();
        let handle = clock.claim();
        handle.slot().set_deadline(clock.now(), &clock);
        assert!(handle.slot().armed());
        handle.slot().set_deadline(clock.now() + 1, &clock);
        assert!(!handle.slot().armed());
    }

    #[test]
    fn released_slots_are_reused_and_chunks_grow() {
        let clock = EpochClock::new();
        let handles: Vec<SlotHandle> = (0..CHUNK_SLOTS * 2 + 1).map(|_| clock.claim()).collect();
        assert_eq!(clock.chunks().count(), 3);
        let released: Vec<*const EpochSlot> = handles.iter().map(SlotHandle::as_ptr).collect();
        drop(handles);
        let again = clock.claim();
        assert!(released.contains(&again.as_ptr()));
        assert_eq!(clock.chunks().count(), 3);
        assert_eq!(again.slot().deadline(), u64::MAX);
        assert!(!again.slot().armed());
    }
}
