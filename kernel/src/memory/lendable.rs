//! Physical memory the kernel may lend for mapping in place: the boot module (the
//! initrd), which QEMU loaded, the frame allocator never hands out, and nothing writes.
//!
//! Owns the one lendable range and the check that bytes lie in it. It must not map:
//! borrowers (the wasm pager) map the frames where they need them.

use spin::Once;

use super::frames::PhysRange;
use super::layout::{DIRECT_MAP_OFFSET, PAGE_SIZE};

static LENDABLE: Once<PhysRange> = Once::new();

/// Records `range` (reserved at init, never written) as lendable; once, at boot.
pub fn lend(range: PhysRange) {
    LENDABLE.call_once(|| range);
}

/// The physical address of `bytes` when they start on a page and lie, with the rest of
/// their last page, in the lendable range (reached through the direct map).
pub fn physical_pages_of(bytes: &'static [u8]) -> Option<u64> {
    let range = LENDABLE.get()?;
    let virt = bytes.as_ptr() as u64;
    let phys = virt.checked_sub(DIRECT_MAP_OFFSET)?;
    let end = phys.checked_add((bytes.len() as u64).next_multiple_of(PAGE_SIZE))?;
    // The frame allocator keeps whole frames out around a reserved range, so the last
    // page of the module is not handed out either.
    let lent_end = range.end.next_multiple_of(PAGE_SIZE);
    (phys.is_multiple_of(PAGE_SIZE) && phys >= range.start && end <= lent_end).then_some(phys)
}
