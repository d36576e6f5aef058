//! The kernel's one address space: its page tables and the operations on them.
//!
//! Built once at boot to replace the PVH boot tables: the kernel image with W^X
//! (text RX, rodata R, data RW NX), a direct map of RAM (RW NX), a device window for
//! MMIO, and an initially empty wasm region filled page by page through [`map`],
//! [`unmap`] and [`protect`]. All changes take one lock with interrupts off. Every
//! mapping carries `arch::paging::KERNEL_PAGE_PRIVILEGE` (user-accessible, since the kernel
//! itself runs at CPL3).

use spin::Mutex;
use wasmetal_arch::paging::{
    KERNEL_PAGE_PRIVILEGE, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysAddr, PhysFrame,
    Size1GiB, Size2MiB, Size4KiB, TABLE_ENTRY_FLAGS, Translate, VirtAddr,
};

use super::frames::{self, FrameAddr, PageTableFrames, PhysRange};
use super::layout::{DEVICE_WINDOW, DIRECT_MAP_OFFSET, KernelImage, PAGE_SIZE, phys_to_virt};

/// Access rights of a mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// The names mirror the runtime's `platform::Protection` (mprotect's pairs); without `Read` they would say less.
#[allow(clippy::enum_variant_names)]
pub enum Protection {
    ReadOnly,
    ReadWrite,
    ReadExecute,
}

impl Protection {
    fn flags(self) -> PageTableFlags {
        // Not GLOBAL: wasm-region mappings change and must go with a CR3 reload.
        // ACCESSED (and DIRTY where writable) are set up front: nothing here reads them,
        // and a hypervisor with shadow page tables prefetches the neighbours of a
        // faulting entry only when the guest's entries need no A/D update.
        let base = PageTableFlags::PRESENT | KERNEL_PAGE_PRIVILEGE | PageTableFlags::ACCESSED;
        match self {
            Protection::ReadOnly => base | PageTableFlags::NO_EXECUTE,
            Protection::ReadWrite => {
                base | PageTableFlags::WRITABLE | PageTableFlags::DIRTY | PageTableFlags::NO_EXECUTE
            }
            Protection::ReadExecute => base,
        }
    }
}

/// Why a mapping change failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame left for the page or for a page table.
    OutOfFrames,
    /// The page is already mapped.
    AlreadyMapped,
    /// The page is not mapped.
    NotMapped,
    /// A huge page covers the address (never the case in the wasm region).
    HugePage,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MapError::OutOfFrames => "out of physical memory",
            MapError::AlreadyMapped => "page already mapped",
            MapError::NotMapped => "page not mapped",
            MapError::HugePage => "address inside a huge page",
        })
    }
}

struct AddressSpace {
    root: u64,
    device_next: u64,
}

static SPACE: Mutex<AddressSpace> = Mutex::new(AddressSpace { root: 0, device_next: DEVICE_WINDOW });

fn mapper(root: u64) -> OffsetPageTable<'static> {
    // SAFETY: `root` is the kernel's PML4 frame, reached through the direct map, and is
    // only ever used under the SPACE lock (with interrupts off), so no alias is live.
    unsafe { OffsetPageTable::new(&mut *(phys_to_virt(root) as *mut PageTable), VirtAddr::new(DIRECT_MAP_OFFSET)) }
}

fn with_space<R>(f: impl FnOnce(&mut AddressSpace, &mut OffsetPageTable<'static>) -> R) -> R {
    wasmetal_arch::cpu::without_interrupts(|| {
        let mut space = SPACE.lock();
        let mut tables = mapper(space.root);
        f(&mut space, &mut tables)
    })
}

fn page(addr: u64) -> Page<Size4KiB> {
    Page::containing_address(VirtAddr::new(addr))
}

fn frame(phys: u64) -> PhysFrame<Size4KiB> {
    PhysFrame::containing_address(PhysAddr::new(phys))
}

/// Builds the kernel's page tables and switches to them.
///
/// Page tables come from the frame allocator, which hands out low frames first, so the
/// boot tables' direct map of the first 4 GiB reaches them while building.
///
/// # Safety
/// Call once, early, on the boot page tables; `image` must describe the running kernel
/// and `ram` every RAM range the kernel will touch through the direct map.
pub unsafe fn init(image: &KernelImage, ram: &[PhysRange], gigabyte_pages: bool) -> Result<(), MapError> {
    let root = frames::allocate_zeroed().ok_or(MapError::OutOfFrames)?;
    let mut tables = mapper(root.phys());
    let mut alloc = PageTableFrames;
    let global = PageTableFlags::GLOBAL | KERNEL_PAGE_PRIVILEGE;
    let sections = [
        (image.text, PageTableFlags::PRESENT | global),
        (image.rodata, PageTableFlags::PRESENT | PageTableFlags::NO_EXECUTE | global),
        (image.data, PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE | global),
    ];
    for ((start, end), flags) in sections {
        let mut addr = start;
        while addr < end {
            // SAFETY: identity-mapping the kernel's own pages with the rights its sections
            // need; the tables are not active yet.
            unsafe { tables.map_to(page(addr), frame(addr), flags, &mut alloc) }
                .map_err(|_| MapError::OutOfFrames)?
                .ignore();
            addr += PAGE_SIZE;
        }
    }
    let direct = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE | global;
    for range in ram {
        let huge = if gigabyte_pages { Size1GiB::SIZE } else { Size2MiB::SIZE };
        let mut phys = range.start & !(huge - 1);
        while phys < range.end {
            let virt = VirtAddr::new(phys + DIRECT_MAP_OFFSET);
            let already = matches!(tables.translate(virt), wasmetal_arch::paging::TranslateResult::Mapped { .. });
            if !already {
                // SAFETY: the direct map aliases RAM as data (NX); nothing else maps these
                // virtual addresses.
                let result = unsafe {
                    if gigabyte_pages {
                        tables
                            .map_to(
                                Page::<Size1GiB>::containing_address(virt),
                                PhysFrame::<Size1GiB>::containing_address(PhysAddr::new(phys)),
                                direct,
                                &mut alloc,
                            )
                            .map(|flush| flush.ignore())
                            .map_err(|_| MapError::OutOfFrames)
                    } else {
                        tables
                            .map_to(
                                Page::<Size2MiB>::containing_address(virt),
                                PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys)),
                                direct,
                                &mut alloc,
                            )
                            .map(|flush| flush.ignore())
                            .map_err(|_| MapError::OutOfFrames)
                    }
                };
                result?;
            }
            phys += huge;
        }
    }
    SPACE.lock().root = root.phys();
    // SAFETY: the new tables map the kernel image at its identity addresses (the boot
    // stack we run on included) and RAM at the same direct-map offset as the boot tables.
    unsafe { wasmetal_arch::paging::activate(PhysFrame::containing_address(PhysAddr::new(root.phys()))) };
    Ok(())
}

/// Maps the 4 KiB page at `addr` to `frame` with `protection`.
pub fn map(addr: u64, frame_addr: FrameAddr, protection: Protection) -> Result<(), MapError> {
    with_space(|_, tables| {
        // SAFETY: callers map fresh frames they own at addresses of the wasm region or
        // device window, which no kernel reference points into.
        // A page that was not present has no TLB entry to drop (the CPU caches present
        // translations only), so no invalidation, which would be a monitor call.
        match unsafe { tables.map_to(page(addr), frame(frame_addr.phys()), protection.flags(), &mut PageTableFrames) } {
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
            Err(x86_64::structures::paging::mapper::MapToError::PageAlreadyMapped(_)) => Err(MapError::AlreadyMapped),
            Err(x86_64::structures::paging::mapper::MapToError::ParentEntryHugePage) => Err(MapError::HugePage),
            Err(x86_64::structures::paging::mapper::MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
        }
    })
}

/// Maps the 2 MiB block at `addr` (aligned) to the huge frame block `block` with
/// `protection`. Fails with `AlreadyMapped` when any page of the block has a mapping or a
/// page table of its own.
pub fn map_huge(addr: u64, block: FrameAddr, protection: Protection) -> Result<(), MapError> {
    with_space(|_, tables| {
        let page = Page::<Size2MiB>::containing_address(VirtAddr::new(addr));
        let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(block.phys()));
        let flags = protection.flags() | PageTableFlags::HUGE_PAGE;
        // SAFETY: as for `map`, for a whole block of the wasm region; not present before,
        // so nothing to invalidate.
        match unsafe { tables.map_to(page, frame, flags, &mut PageTableFrames) } {
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
            Err(x86_64::structures::paging::mapper::MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
            Err(_) => Err(MapError::AlreadyMapped),
        }
    })
}

/// What [`unmap_range`] took away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmapped {
    /// A 4 KiB page and whether it was writable.
    Page { frame: FrameAddr, writable: bool },
    /// A whole 2 MiB block (always writable).
    Huge { block: FrameAddr },
}

/// Unmaps the page at `addr`, returning the frame that backed it.
pub fn unmap(addr: u64) -> Result<FrameAddr, MapError> {
    with_space(|_, tables| match tables.unmap(page(addr)) {
        Ok((frame, flush)) => {
            flush.ignore();
            wasmetal_arch::paging::flush(addr);
            Ok(FrameAddr::from_phys(frame.start_address().as_u64()))
        }
        Err(x86_64::structures::paging::mapper::UnmapError::ParentEntryHugePage) => Err(MapError::HugePage),
        Err(_) => Err(MapError::NotMapped),
    })
}

/// The physical address and rights behind `addr`, if mapped.
pub fn translate(addr: u64) -> Option<(u64, PageTableFlags)> {
    with_space(|_, tables| match tables.translate(VirtAddr::new(addr)) {
        wasmetal_arch::paging::TranslateResult::Mapped { frame, offset, flags } => {
            Some((frame.start_address().as_u64() + offset, flags))
        }
        _ => None,
    })
}

/// Maps one page of MMIO at `phys`, uncached, into the device window; returns its
/// virtual address.
pub fn map_device(phys: u64) -> Result<u64, MapError> {
    with_space(|space, tables| {
        let virt = space.device_next;
        let flags = PageTableFlags::PRESENT
            | KERNEL_PAGE_PRIVILEGE
            | PageTableFlags::WRITABLE
            | PageTableFlags::NO_EXECUTE
            | PageTableFlags::NO_CACHE
            | PageTableFlags::WRITE_THROUGH;
        // SAFETY: a fresh address in the device window; the device page is not RAM.
        unsafe { tables.map_to(page(virt), frame(phys), flags, &mut PageTableFrames) }
            .map_err(|_| MapError::OutOfFrames)?
            .ignore();
        space.device_next += PAGE_SIZE;
        Ok(virt)
    })
}

/// Unmaps every mapped page in `start..end` (page-aligned), calling `free` with what
/// each mapping held. A 2 MiB mapping wholly inside the range goes as one; one that
/// sticks out is split into 4 KiB pages first. Walks the tables and skips absent ones,
/// so a huge, mostly untouched range costs little.
pub fn unmap_range(start: u64, end: u64, mut free: impl FnMut(Unmapped)) {
    let mut unmapped_any = false;
    let mut record = |unmapped| {
        unmapped_any = true;
        free(unmapped);
    };
    with_space(|space, _| {
        let mut addr = start;
        while addr < end {
            let skip = unmap_walk(space.root, addr, end, &mut record);
            addr = (addr + skip) & !(skip - 1);
        }
    });
    // Nothing was mapped, nothing to invalidate (a flush is a monitor call at CPL3).
    if unmapped_any {
        wasmetal_arch::paging::flush_all();
    }
}

const SPANS: [u64; 4] = [1 << 39, 1 << 30, 1 << 21, 1 << 12];

fn table_indices(addr: u64) -> [usize; 4] {
    [(addr >> 39) as usize & 511, (addr >> 30) as usize & 511, (addr >> 21) as usize & 511, (addr >> 12) as usize & 511]
}

/// Unmaps what maps `addr` if present; returns how far the walk may jump (the size
/// covered by the first absent table level, or the mapping's size).
fn unmap_walk(root: u64, addr: u64, end: u64, free: &mut impl FnMut(Unmapped)) -> u64 {
    let indices = table_indices(addr);
    let mut table = root;
    for level in 0..4 {
        // SAFETY: `table` is a page-table frame of the kernel's tables, reached through
        // the direct map, and the SPACE lock is held by the caller.
        let entries = unsafe { &mut *(phys_to_virt(table) as *mut PageTable) };
        let entry = &mut entries[indices[level]];
        if entry.is_unused() {
            return SPANS[level];
        }
        if level == 3 {
            free(Unmapped::Page {
                frame: FrameAddr::from_phys(entry.addr().as_u64()),
                writable: entry.flags().contains(PageTableFlags::WRITABLE),
            });
            entry.set_unused();
            return SPANS[level];
        }
        if entry.flags().contains(PageTableFlags::HUGE_PAGE) {
            if level != 2 {
                return SPANS[level]; // The direct map's gigabyte pages: never unmapped.
            }
            let block_start = addr & !(SPANS[2] - 1);
            if addr == block_start && end >= block_start + SPANS[2] {
                free(Unmapped::Huge { block: FrameAddr::from_phys(entry.addr().as_u64()) });
                entry.set_unused();
                return SPANS[2];
            }
            if !split_huge(entry) {
                return SPANS[3]; // No frame for the table: leave the block mapped.
            }
        }
        table = entry.addr().as_u64();
    }
    PAGE_SIZE
}

/// Replaces a 2 MiB mapping by a page table mapping the same frames with the same
/// rights (so nothing needs invalidating). False when no frame is left for the table.
fn split_huge(entry: &mut wasmetal_arch::paging::PageTableEntry) -> bool {
    let Some(table_frame) = frames::allocate_zeroed() else { return false };
    let flags = entry.flags() - PageTableFlags::HUGE_PAGE;
    let base = entry.addr().as_u64();
    // SAFETY: a fresh frame, ours, reached through the direct map.
    let table = unsafe { &mut *(phys_to_virt(table_frame.phys()) as *mut PageTable) };
    for (index, page_entry) in table.iter_mut().enumerate() {
        page_entry.set_addr(PhysAddr::new(base + index as u64 * PAGE_SIZE), flags);
    }
    entry.set_addr(PhysAddr::new(table_frame.phys()), TABLE_ENTRY_FLAGS);
    true
}

/// Changes the rights of every mapped page in `start..end`; absent pages are skipped,
/// 2 MiB mappings are changed whole when the range covers them and split otherwise.
pub fn protect_range(start: u64, end: u64, protection: Protection) {
    let changed = with_space(|space, tables| {
        let mut changed = false;
        let mut addr = start;
        while addr < end {
            let block = addr & !(Size2MiB::SIZE - 1);
            let huge = Page::<Size2MiB>::containing_address(VirtAddr::new(addr));
            if is_huge_mapped(tables, addr) {
                if addr == block && end >= block + Size2MiB::SIZE {
                    let flags = protection.flags() | PageTableFlags::HUGE_PAGE;
                    // SAFETY: changing rights of a wasm-region block the runtime owns.
                    if let Ok(flush) = unsafe { tables.update_flags(huge, flags) } {
                        flush.ignore();
                        changed = true;
                    }
                    addr = block + Size2MiB::SIZE;
                    continue;
                }
                split_at(space.root, addr);
            }
            // SAFETY: changing rights of wasm-region pages the runtime owns.
            if let Ok(flush) = unsafe { tables.update_flags(page(addr), protection.flags()) } {
                flush.ignore();
                changed = true;
            }
            addr += PAGE_SIZE;
        }
        changed
    });
    if changed {
        wasmetal_arch::paging::flush_all();
    }
}

/// Whether a 2 MiB mapping covers `addr`. Not `Mapper::<Size2MiB>::translate_page`: it
/// only checks that the directory entry is present with a 2 MiB-aligned address, so an
/// entry pointing at a page table whose frame happens to be 2 MiB aligned passes too —
/// and splitting that "block" once turned a page table into data pages (the kernel
/// then ran code written into a page table).
fn is_huge_mapped(tables: &OffsetPageTable<'static>, addr: u64) -> bool {
    matches!(
        tables.translate(VirtAddr::new(addr)),
        wasmetal_arch::paging::TranslateResult::Mapped { flags, .. } if flags.contains(PageTableFlags::HUGE_PAGE)
    )
}

/// Splits the 2 MiB mapping covering `addr` into 4 KiB pages.
fn split_at(root: u64, addr: u64) {
    let indices = table_indices(addr);
    let mut table = root;
    for index in &indices[..2] {
        // SAFETY: as in `unmap_walk`; the caller holds the SPACE lock.
        let entries = unsafe { &*(phys_to_virt(table) as *const PageTable) };
        table = entries[*index].addr().as_u64();
    }
    // SAFETY: as above; `table` is the page directory holding the block's entry.
    let directory = unsafe { &mut *(phys_to_virt(table) as *mut PageTable) };
    split_huge(&mut directory[indices[2]]);
}
