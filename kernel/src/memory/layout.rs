//! Where things live in the kernel's virtual address space.
//!
//! ```text
//! 0x0000_0000_0020_0000  kernel image, identity-mapped (text RX, rodata R, data RW NX)
//! 0x0000_1000_0000_0000  wasm region (96 TiB): memories, stacks, code; 4 KiB pages
//! 0x0000_7000_0000_0000  end of the wasm region
//! 0xFFFF_C000_0000_0000  direct map of all RAM (RW NX, 2 MiB or 1 GiB pages)
//! 0xFFFF_FF00_0000_0000  device window (uncached MMIO pages, e.g. the xAPIC)
//! ```
//!
//! Every mapping is user-accessible: the kernel runs at CPL3 (`wasmetal_arch::privilege`).

use wasmetal_arch::boot::pvh_entry::BOOT_DIRECT_MAP_OFFSET;

/// Virtual address of physical address 0 in the direct map.
pub const DIRECT_MAP_OFFSET: u64 = BOOT_DIRECT_MAP_OFFSET;
/// First address of the wasm region (PML4 slot 32).
pub const WASM_REGION_START: u64 = 0x0000_1000_0000_0000;
/// One past the last address of the wasm region (PML4 slot 224).
pub const WASM_REGION_END: u64 = 0x0000_7000_0000_0000;
/// Device window for MMIO mappings (PML4 slot 510).
pub const DEVICE_WINDOW: u64 = 0xFFFF_FF00_0000_0000;

/// Size of a base page in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// The virtual address at which physical address `phys` can be accessed.
pub const fn phys_to_virt(phys: u64) -> u64 {
    phys + DIRECT_MAP_OFFSET
}

/// Whether `addr` lies in the wasm region.
pub const fn in_wasm_region(addr: u64) -> bool {
    addr >= WASM_REGION_START && addr < WASM_REGION_END
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __kernel_end: u8;
}

/// The kernel image's sections, from the linker script's symbols (identity-mapped, so
/// each address is also the physical address).
#[derive(Clone, Copy, Debug)]
pub struct KernelImage {
    pub start: u64,
    pub text: (u64, u64),
    pub rodata: (u64, u64),
    pub data: (u64, u64),
    pub end: u64,
}

/// Reads the section bounds the linker script exports.
pub fn kernel_image() -> KernelImage {
    let addr = |symbol: *const u8| symbol as u64;
    KernelImage {
        start: addr(&raw const __kernel_start),
        text: (addr(&raw const __text_start), addr(&raw const __text_end)),
        rodata: (addr(&raw const __rodata_start), addr(&raw const __rodata_end)),
        data: (addr(&raw const __data_start), addr(&raw const __data_end)),
        end: addr(&raw const __kernel_end),
    }
}
