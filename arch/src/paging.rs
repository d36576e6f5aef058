//! Paging primitives: the page-table types, CR3, TLB invalidation.
//!
//! Building and changing address spaces is the kernel's policy (`kernel/src/memory`);
//! this module only exposes the hardware formats (from the `x86_64` crate) and the
//! privileged instructions that make a change visible (monitor calls at CPL3). Write
//! protection (CR0.WP) and no-execute (EFER.NXE) are on from the PVH entry onwards.

pub use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysFrame, Size1GiB, Size2MiB,
    Size4KiB, Translate, mapper::TranslateResult, page_table::PageTableEntry,
};
pub use x86_64::{PhysAddr, VirtAddr};

use crate::privilege::{MonitorCall, at_user_level, monitor_call};

/// Size of the base page.
pub const PAGE_SIZE: u64 = 4096;

/// The privilege flag every mapping the kernel makes carries, decided here once: the
/// kernel drops to CPL3 after its prologue and stays there ([`crate::privilege`]), so a
/// supervisor-only page would fault in the kernel itself. Page-table entries at every
/// level (the boot tables too) take it; a kernel at CPL0 would make this empty.
pub const KERNEL_PAGE_PRIVILEGE: PageTableFlags = PageTableFlags::USER_ACCESSIBLE;

/// Flags of a table entry pointing at a lower-level table: present, writable, and the
/// kernel's privilege flag (the leaf entries narrow the rights).
pub const TABLE_ENTRY_FLAGS: PageTableFlags =
    PageTableFlags::PRESENT.union(PageTableFlags::WRITABLE).union(KERNEL_PAGE_PRIVILEGE);

/// The physical frame of the active top-level table.
pub fn active_root() -> PhysFrame {
    if at_user_level() {
        // SAFETY: reading CR3 has no effect.
        let cr3 = unsafe { monitor_call(MonitorCall::ReadCr3, 0, 0) };
        return PhysFrame::containing_address(PhysAddr::new(cr3 & 0x000F_FFFF_FFFF_F000));
    }
    x86_64::registers::control::Cr3::read().0
}

/// Switches to the address space rooted at `root`.
///
/// # Safety
/// `root` must map everything the running code touches next (its code, stack and data)
/// at the addresses it uses now.
pub unsafe fn activate(root: PhysFrame) {
    if at_user_level() {
        // SAFETY: per the caller's contract the new tables keep the kernel running.
        unsafe { monitor_call(MonitorCall::WriteCr3, root.start_address().as_u64(), 0) };
        return;
    }
    let (_, flags) = x86_64::registers::control::Cr3::read();
    // SAFETY: per the caller's contract the new tables keep the kernel running.
    unsafe { x86_64::registers::control::Cr3::write(root, flags) };
}

/// Drops any TLB entry for the page containing `addr`.
#[inline]
pub fn flush(addr: u64) {
    if at_user_level() {
        // SAFETY: invalidating a translation only makes the CPU re-read the tables.
        unsafe { monitor_call(MonitorCall::InvalidatePage, addr, 0) };
    } else {
        x86_64::instructions::tlb::flush(VirtAddr::new_truncate(addr));
    }
}

/// Drops every non-global TLB entry.
#[inline]
pub fn flush_all() {
    if at_user_level() {
        // SAFETY: as for `flush`.
        unsafe { monitor_call(MonitorCall::FlushTlb, 0, 0) };
    } else {
        x86_64::instructions::tlb::flush_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_mappings_are_reachable_from_cpl3() {
        assert!(KERNEL_PAGE_PRIVILEGE.contains(PageTableFlags::USER_ACCESSIBLE));
        // Present | writable | user: what the boot tables' table entries always held.
        assert_eq!(TABLE_ENTRY_FLAGS.bits(), 0x7);
    }
}
