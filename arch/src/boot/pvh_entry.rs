//! PVH entry: the ELF note QEMU looks for and the 32-bit code it jumps to.
//!
//! QEMU's PVH loader enters `pvh_start32` in 32-bit protected mode with paging off and
//! `%ebx` holding the physical address of `hvm_start_info`. This file completes the boot
//! page tables (the first 4 GiB identity-mapped, and mirrored at the direct-map offset,
//! with `paging::KERNEL_PAGE_PRIVILEGE`, since the kernel soon runs at CPL3), enables PAE, long mode, NX
//! and supervisor write protection, loads a 64-bit GDT and calls the kernel's
//! `kernel_main(start_info_phys: u64)` on the boot stack. It allocates nothing: the
//! tables and the stack are static.

use crate::paging::{PageTableFlags, TABLE_ENTRY_FLAGS};

/// Size of the stack `kernel_main` starts on.
pub const BOOT_STACK_BYTES: usize = 512 * 1024;

/// Where the boot tables mirror the low 4 GiB in the upper half (PML4 slot 384). Not
/// slot 256: KVM's PVM backend refuses CPL3 accesses there, and the kernel runs at CPL3.
pub const BOOT_DIRECT_MAP_OFFSET: u64 = 0xFFFF_C000_0000_0000;
const BOOT_DIRECT_MAP_SLOT: usize = ((BOOT_DIRECT_MAP_OFFSET >> 39) & 511) as usize;

/// TSC value read by the first instruction of the 32-bit entry, for the boot benchmark.
#[unsafe(no_mangle)]
pub static mut BOOT_ENTRY_TSC: u64 = 0;

#[repr(C, align(4096))]
struct BootStack([u8; BOOT_STACK_BYTES]);

#[unsafe(no_mangle)]
static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_BYTES]);

#[repr(C, align(4096))]
struct BootTables {
    pml4: [u64; 512],
    pdpt: [u64; 512],
    pd: [[u64; 512]; 4],
}

/// Present | writable | the kernel's privilege flag | 2 MiB page.
const BOOT_PDE_FLAGS: u64 = TABLE_ENTRY_FLAGS.union(PageTableFlags::HUGE_PAGE).bits();

/// The page directories' entries, fixed at build time: identity over 0..4 GiB in 2 MiB
/// pages. Filling them at boot would be a 2048-iteration loop of CPL0 code, which some
/// hypervisors emulate instruction by instruction (measured: 2.8 ms under KVM's PVM).
const fn identity_directories() -> [[u64; 512]; 4] {
    let mut directories = [[0u64; 512]; 4];
    let mut index = 0;
    while index < 2048 {
        directories[index / 512][index % 512] = ((index as u64) << 21) | BOOT_PDE_FLAGS;
        index += 1;
    }
    directories
}

#[unsafe(no_mangle)]
static mut BOOT_TABLES: BootTables = BootTables { pml4: [0; 512], pdpt: [0; 512], pd: identity_directories() };

// XEN_ELFNOTE_PHYS32_ENTRY = 18. The note lives in its own PT_NOTE segment
// (kernel/linker.ld), which is where QEMU's loader looks for it.
core::arch::global_asm!(
    r#"
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long pvh_start32
    .balign 4
    .popsection

    .pushsection .text.pvh, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi
    rdtsc
    mov %eax, BOOT_ENTRY_TSC
    mov %edx, BOOT_ENTRY_TSC + 4

    /* The page directories are static data (identity_directories). */
    /* PDPT[0..4] -> the four page directories (TABLE_ENTRY_FLAGS) */
    mov $BOOT_TABLES + 4096, %edi
    mov $BOOT_TABLES + 8192 + {table_flags}, %eax
    mov %eax, 0(%edi)
    add $4096, %eax
    mov %eax, 8(%edi)
    add $4096, %eax
    mov %eax, 16(%edi)
    add $4096, %eax
    mov %eax, 24(%edi)

    /* PML4[0] and PML4[direct-map slot] -> the PDPT */
    mov $BOOT_TABLES + 4096 + {table_flags}, %eax
    mov %eax, BOOT_TABLES
    mov %eax, BOOT_TABLES + {slot} * 8

    /* CR4.PAE */
    mov %cr4, %eax
    or $(1 << 5), %eax
    mov %eax, %cr4
    mov $BOOT_TABLES, %eax
    mov %eax, %cr3

    /* EFER.LME | EFER.NXE */
    mov $0xC0000080, %ecx
    rdmsr
    or $((1 << 8) | (1 << 11)), %eax
    wrmsr

    /* CR0.PG | CR0.WP | CR0.PE */
    mov %cr0, %eax
    or $((1 << 31) | (1 << 16) | 1), %eax
    mov %eax, %cr0

    lgdt pvh_gdt_pointer
    ljmp $0x08, $pvh_start64

    .code64
pvh_start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea BOOT_STACK + {stack_bytes}(%rip), %rsp
    xor %ebp, %ebp
    mov %esi, %edi
    call kernel_main
2:
    hlt
    jmp 2b
    .popsection

    .pushsection .rodata.pvh_gdt, "a"
    .balign 16
pvh_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF   /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00CF92000000FFFF   /* 0x10: data */
pvh_gdt_end:
    .balign 4
pvh_gdt_pointer:
    .word pvh_gdt_end - pvh_gdt - 1
    .long pvh_gdt
    .popsection
    "#,
    stack_bytes = const BOOT_STACK_BYTES,
    table_flags = const TABLE_ENTRY_FLAGS.bits(),
    slot = const BOOT_DIRECT_MAP_SLOT,
    options(att_syntax)
);
