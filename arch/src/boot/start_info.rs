//! The PVH boot protocol's `hvm_start_info` structures, as QEMU lays them out.
//!
//! Plain `#[repr(C)]` data: reading them through a physical-to-virtual mapping is the
//! kernel's job (it knows where RAM is mapped); this module only names the fields.

/// `hvm_start_info.magic`: "xEn3" with the 0x80 bit set in the last byte.
pub const HVM_START_MAGIC: u32 = 0x336e_c578;

/// `hvm_start_info`, version 1 (memory map fields included).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HvmStartInfo {
    pub magic: u32,
    pub version: u32,
    pub flags: u32,
    pub nr_modules: u32,
    pub modlist_paddr: u64,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}

/// One boot module (QEMU passes the `-initrd` file as module 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HvmModlistEntry {
    pub paddr: u64,
    pub size: u64,
    pub cmdline_paddr: u64,
    pub reserved: u64,
}

/// One e820-style memory map entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HvmMemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    pub reserved: u32,
}

/// e820 type of RAM the kernel may use.
pub const MEMMAP_TYPE_RAM: u32 = 1;

impl HvmMemmapEntry {
    /// Whether this range is usable RAM.
    pub fn is_ram(&self) -> bool {
        self.kind == MEMMAP_TYPE_RAM
    }

    /// Human-readable name of the e820 type.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            1 => "ram",
            2 => "reserved",
            3 => "acpi",
            4 => "nvs",
            5 => "unusable",
            _ => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_match_the_pvh_abi() {
        assert_eq!(size_of::<HvmStartInfo>(), 56);
        assert_eq!(size_of::<HvmModlistEntry>(), 32);
        assert_eq!(size_of::<HvmMemmapEntry>(), 24);
    }
}
