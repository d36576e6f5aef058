//! Paging primitives: the page-table types, CR3, TLB invalidation.
//!
//! Building and changing address spaces is the kernel's policy (`kernel/src/memory`);
//! this module only exposes the hardware formats (from the `x86_64` crate) and the
//! privileged instructions that make a change visible.

pub use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysFrame, Size1GiB, Size2MiB,
    mapper::TranslateResult,
    Size4KiB, Translate,
};
pub use x86_64::{PhysAddr, VirtAddr};

/// Size of the base page.
pub const PAGE_SIZE: u64 = 4096;

/// The physical frame of the active top-level table.
pub fn active_root() -> PhysFrame {
    x86_64::registers::control::Cr3::read().0
}

/// Switches to the address space rooted at `root`.
///
/// # Safety
/// `root` must map everything the running code touches next (its code, stack and data)
/// at the addresses it uses now.
pub unsafe fn activate(root: PhysFrame) {
    let (_, flags) = x86_64::registers::control::Cr3::read();
    // SAFETY: per the caller's contract the new tables keep the kernel running.
    unsafe { x86_64::registers::control::Cr3::write(root, flags) };
}

/// Drops any TLB entry for the page containing `addr`.
#[inline]
pub fn flush(addr: u64) {
    x86_64::instructions::tlb::flush(VirtAddr::new_truncate(addr));
}

/// Drops every non-global TLB entry.
#[inline]
pub fn flush_all() {
    x86_64::instructions::tlb::flush_all();
}

/// Turns on supervisor write protection (CR0.WP) and no-execute (EFER.NXE).
///
/// # Safety
/// Ring 0; the kernel's mappings must already be correct for W^X.
pub unsafe fn enable_protection() {
    use x86_64::registers::control::{Cr0, Cr0Flags};
    use x86_64::registers::model_specific::{Efer, EferFlags};
    // SAFETY: per the caller's contract.
    unsafe {
        Cr0::update(|flags| flags.insert(Cr0Flags::WRITE_PROTECT));
        Efer::update(|flags| flags.insert(EferFlags::NO_EXECUTE_ENABLE));
    }
}
