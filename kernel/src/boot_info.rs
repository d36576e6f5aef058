//! What the PVH loader told us: memory map, command line, boot modules (the initrd).
//!
//! Copied out of the loader's structures into fixed-size storage at the very start, so
//! nothing later depends on where QEMU put them (the frame allocator may reuse that RAM
//! only after this copy, and it reserves the modules themselves).

use wasmetal_arch::boot::start_info::{HVM_START_MAGIC, HvmMemmapEntry, HvmModlistEntry, HvmStartInfo};

use crate::memory::frames::PhysRange;
use crate::memory::layout::phys_to_virt;

const MAX_MEMMAP: usize = 64;
const MAX_CMDLINE: usize = 4096;

/// The boot information the kernel keeps.
pub struct BootInfo {
    memmap: [HvmMemmapEntry; MAX_MEMMAP],
    memmap_len: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// The first boot module (QEMU's `-initrd`), if any.
    pub initrd: Option<PhysRange>,
    /// Where the loader's own structures sit, to keep the frame allocator off them
    /// until copied (they are copied by the time it runs, but the initrd is not).
    pub start_info: PhysRange,
}

/// Why the start info could not be read.
#[derive(Clone, Copy, Debug)]
pub enum BootInfoError {
    BadMagic(u32),
}

fn read<T: Copy>(phys: u64) -> T {
    // SAFETY: the PVH loader placed these structures in RAM below 4 GiB, which the boot
    // page tables map at the direct-map offset; `read_unaligned` tolerates any alignment.
    unsafe { core::ptr::read_unaligned(phys_to_virt(phys) as *const T) }
}

impl BootInfo {
    /// Parses `hvm_start_info` at physical address `start_info_phys`.
    pub fn parse(start_info_phys: u64) -> Result<Self, BootInfoError> {
        let info: HvmStartInfo = read(start_info_phys);
        if info.magic != HVM_START_MAGIC {
            return Err(BootInfoError::BadMagic(info.magic));
        }
        let mut boot = BootInfo {
            memmap: [HvmMemmapEntry { addr: 0, size: 0, kind: 0, reserved: 0 }; MAX_MEMMAP],
            memmap_len: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            initrd: None,
            start_info: PhysRange { start: start_info_phys, end: start_info_phys + 64 },
        };
        if info.version >= 1 && info.memmap_paddr != 0 {
            let count = (info.memmap_entries as usize).min(MAX_MEMMAP);
            for index in 0..count {
                let entry: HvmMemmapEntry = read(info.memmap_paddr + (index * size_of::<HvmMemmapEntry>()) as u64);
                if entry.size > 0 {
                    boot.memmap[boot.memmap_len] = entry;
                    boot.memmap_len += 1;
                }
            }
        }
        if info.cmdline_paddr != 0 {
            while boot.cmdline_len < MAX_CMDLINE {
                let byte: u8 = read(info.cmdline_paddr + boot.cmdline_len as u64);
                if byte == 0 {
                    break;
                }
                boot.cmdline[boot.cmdline_len] = byte;
                boot.cmdline_len += 1;
            }
        }
        if info.nr_modules > 0 && info.modlist_paddr != 0 {
            let module: HvmModlistEntry = read(info.modlist_paddr);
            if module.size > 0 {
                boot.initrd = Some(PhysRange { start: module.paddr, end: module.paddr + module.size });
            }
        }
        Ok(boot)
    }

    /// The e820 memory map.
    pub fn memory_map(&self) -> &[HvmMemmapEntry] {
        &self.memmap[..self.memmap_len]
    }

    /// The kernel command line (`-append`), or "" if it was not UTF-8.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// The value of `key=value` on the command line, or `Some("")` for a bare `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.cmdline().split_ascii_whitespace().find_map(|word| match word.split_once('=') {
            Some((name, value)) if name == key => Some(value),
            None if word == key => Some(""),
            _ => None,
        })
    }

    /// The initrd's bytes through the direct map.
    pub fn initrd_bytes(&self) -> Option<&'static [u8]> {
        let range = self.initrd?;
        // SAFETY: the module is RAM that the frame allocator never hands out (it is
        // reserved at init) and nothing writes it, so a shared 'static view is sound.
        Some(unsafe { core::slice::from_raw_parts(phys_to_virt(range.start) as *const u8, range.len() as usize) })
    }
}
