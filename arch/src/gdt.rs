//! The 64-bit GDT and the TSS with its interrupt stacks (IST).
//!
//! #DF, #PF and NMI run on their own stacks so a fault on an overflowed or corrupt stack
//! (a wasm stack-guard hit, say) still has somewhere to run. The stacks are static: this
//! module never allocates.

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (1-based in the IDT, 0-based in the TSS array) per exception.
pub const IST_DOUBLE_FAULT: u16 = 1;
pub const IST_PAGE_FAULT: u16 = 2;
pub const IST_NMI: u16 = 3;

const IST_STACK_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK_BYTES]; 3]);

static mut IST_STACKS: IstStacks = IstStacks([[0; IST_STACK_BYTES]; 3]);
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static mut GDT: GlobalDescriptorTable = GlobalDescriptorTable::new();

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
        let tss = &mut *(&raw mut TSS);
        for (slot, ist) in [IST_DOUBLE_FAULT, IST_PAGE_FAULT, IST_NMI].into_iter().enumerate() {
            let base = (&raw mut (*stacks).0[slot]) as u64;
            tss.interrupt_stack_table[usize::from(ist - 1)] = VirtAddr::new(base + IST_STACK_BYTES as u64);
        }
        let gdt = &mut *(&raw mut GDT);
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_selector = gdt.append(Descriptor::tss_segment(&*(&raw const TSS)));
        (&*(&raw const GDT)).load();
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
