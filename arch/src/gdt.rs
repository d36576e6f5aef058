//! The 64-bit GDT and the TSS with its interrupt stacks (IST) and I/O permission bitmap.
//!
//! #DF, #PF and NMI run on their own stacks so a fault on an overflowed or corrupt stack
//! (a wasm stack-guard hit, say) still has somewhere to run. The GDT also holds the CPL3
//! segments the kernel runs in after early init (see `privilege`); events from CPL3 enter
//! CPL0 on the TSS's RSP0 stack, and the I/O bitmap lets CPL3 use every port. The stacks
//! are static: this module never allocates.

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (1-based in the IDT, 0-based in the TSS array) per exception.
pub const IST_DOUBLE_FAULT: u16 = 1;
pub const IST_PAGE_FAULT: u16 = 2;
pub const IST_NMI: u16 = 3;

/// Selectors of the CPL3 segments (RPL 3), fixed by the order [`init`] appends them in.
pub const USER_DATA_SELECTOR: u16 = (3 << 3) | 3;
pub const USER_CODE_SELECTOR: u16 = (4 << 3) | 3;

const IST_STACK_BYTES: usize = 64 * 1024;
const RSP0_STACK_BYTES: usize = 64 * 1024;
/// One bit per port (all clear: allowed) and the terminating 0xFF byte.
const IO_BITMAP_BYTES: usize = 65536 / 8 + 1;

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK_BYTES]; 3]);

#[repr(C, align(16))]
struct Rsp0Stack([u8; RSP0_STACK_BYTES]);

/// The TSS followed by its I/O permission bitmap, as the CPU reads them.
#[repr(C)]
struct TssWithIoMap {
    tss: TaskStateSegment,
    io_bitmap: [u8; IO_BITMAP_BYTES],
}

static mut IST_STACKS: IstStacks = IstStacks([[0; IST_STACK_BYTES]; 3]);
static mut RSP0_STACK: Rsp0Stack = Rsp0Stack([0; RSP0_STACK_BYTES]);
static mut TSS: TssWithIoMap = TssWithIoMap { tss: TaskStateSegment::new(), io_bitmap: io_bitmap() };
static mut GDT: GlobalDescriptorTable = GlobalDescriptorTable::new();

const fn io_bitmap() -> [u8; IO_BITMAP_BYTES] {
    let mut bitmap = [0u8; IO_BITMAP_BYTES];
    bitmap[IO_BITMAP_BYTES - 1] = 0xFF;
    bitmap
}

/// Selectors of the loaded GDT.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    pub code: SegmentSelector,
    pub data: SegmentSelector,
    pub tss: SegmentSelector,
}

/// Builds and loads the GDT and TSS, and reloads the segment registers.
///
/// # Safety
/// Call once, on the boot CPU, before interrupts are enabled.
pub unsafe fn init() -> Selectors {
    // SAFETY: single call before interrupts (the caller's contract), so nothing else
    // reads or writes these statics concurrently; they live for the whole run, as the
    // CPU requires of a loaded GDT and TSS.
    unsafe {
        let stacks = &raw mut IST_STACKS;
        let tss_ptr = &raw mut TSS;
        let tss = &mut *tss_ptr;
        for (slot, ist) in [IST_DOUBLE_FAULT, IST_PAGE_FAULT, IST_NMI].into_iter().enumerate() {
            let base = (&raw mut (*stacks).0[slot]) as u64;
            tss.tss.interrupt_stack_table[usize::from(ist - 1)] = VirtAddr::new(base + IST_STACK_BYTES as u64);
        }
        let rsp0 = (&raw mut RSP0_STACK) as u64 + RSP0_STACK_BYTES as u64;
        tss.tss.privilege_stack_table[0] = VirtAddr::new(rsp0);
        tss.tss.iomap_base = core::mem::offset_of!(TssWithIoMap, io_bitmap) as u16;
        let gdt_ptr = &raw mut GDT;
        let gdt = &mut *gdt_ptr;
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        assert_eq!((user_data.0, user_code.0), (USER_DATA_SELECTOR, USER_CODE_SELECTOR));
        let tss = &*tss_ptr;
        let descriptor = match Descriptor::tss_segment_with_iomap(&tss.tss, &tss.io_bitmap) {
            Ok(descriptor) => descriptor,
            // The layout above is fixed, so this cannot happen; a TSS without a bitmap
            // still boots (CPL3 port I/O would fault and say so).
            Err(_) => Descriptor::tss_segment(&tss.tss),
        };
        let tss_selector = gdt.append(descriptor);
        (*gdt_ptr).load();
        CS::set_reg(code);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_selector);
        Selectors { code, data, tss: tss_selector }
    }
}

/// Whether `addr` lies inside one of the IST stacks (for diagnosing nested faults).
pub fn is_ist_stack(addr: u64) -> bool {
    let base = (&raw const IST_STACKS) as u64;
    (base..base + (3 * IST_STACK_BYTES) as u64).contains(&addr)
}
