//! Interrupt and exception policy: what each vector means to the kernel.
//!
//! Timer ticks go to `timer` and device interrupts to `device_irq` (both handled at
//! CPL0, short, lock-free but for the local APIC's end of interrupt); faults are handled at CPL3, where the
//! kernel runs (`wasmetal_arch::privilege`). A not-present fault on a committed
//! wasm-region page maps zeroed frames (demand-zero); a fault in wasm code becomes a wasm trap (the runtime
//! says where to resume); a fault at a probe instruction resumes at its fixup; a fault
//! on an unbacked page of the wasm region is a guard-page hit; anything else is a
//! kernel bug and panics with the frame (which ends the VM with the failure code).

use wasmetal_arch::trap_frame::{TrapFrame, page_fault_error, vector};
use wasmetal_runtime::platform::{FaultFrame, FaultKind, handle_trap};

/// Loads the GDT/TSS and IDT and routes every vector to [`handle`].
///
/// # Safety
/// Call once, early, with interrupts disabled.
pub unsafe fn init() {
    // SAFETY: per the caller's contract (once, interrupts off, gdt before idt).
    unsafe {
        wasmetal_arch::gdt::init();
        wasmetal_arch::idt::init();
    }
    wasmetal_arch::idt::set_handler(handle);
}

fn handle(frame: &mut TrapFrame) {
    match frame.vector {
        vector::TIMER => crate::timer::on_tick(),
        vector::SPURIOUS => {}
        v if v > vector::TIMER => {
            crate::device_irq::on_interrupt(v);
            crate::timer::end_of_interrupt();
        }
        vector::PAGE_FAULT => page_fault(frame),
        _ => exception(frame),
    }
}

/// Describes a page-fault error code in words.
pub struct PageFaultKind(pub u64);

impl core::fmt::Display for PageFaultKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let code = self.0;
        let access = if code & page_fault_error::INSTRUCTION_FETCH != 0 {
            "execute"
        } else if code & page_fault_error::WRITE != 0 {
            "write"
        } else {
            "read"
        };
        let cause = if code & page_fault_error::PRESENT != 0 { "protection violation" } else { "not present" };
        write!(f, "{access}, {cause}")
    }
}

/// Asks the runtime whether a fault at the frame's RIP is a wasm trap or an armed epoch
/// poll; if so, the runtime has rewritten the registers it hands back, and they go
/// into the frame to resume where it says (its trap landing, or its epoch slow path).
fn wasm_trap(frame: &mut TrapFrame, kind: FaultKind) -> bool {
    let mut fault = FaultFrame {
        pc: frame.rip as usize,
        sp: frame.rsp as usize,
        fp: frame.rbp as usize,
        arg: frame.rdi as usize,
        kind,
    };
    if !handle_trap(&crate::wasm::platform::KERNEL_PLATFORM, &mut fault) {
        return false;
    }
    frame.rip = fault.pc as u64;
    frame.rsp = fault.sp as u64;
    frame.rbp = fault.fp as u64;
    frame.rdi = fault.arg as u64;
    true
}

fn page_fault(frame: &mut TrapFrame) {
    let addr = frame.fault_address;
    let present = frame.error_code & page_fault_error::PRESENT != 0;
    let write = frame.error_code & page_fault_error::WRITE != 0;
    if crate::memory::layout::in_wasm_region(addr) && crate::wasm::pager::handle_demand_fault(addr, present, write) {
        return;
    }
    if wasm_trap(frame, FaultKind::Memory { addr: addr as usize }) {
        return;
    }
    let guard_hit = crate::memory::wasm_region::is_unbacked(addr);
    if let Some(fixup) = wasmetal_arch::probe::fixup_for(frame.rip) {
        if guard_hit {
            crate::log!("guard page hit at {addr:#x} ({}), probe resumed", PageFaultKind(frame.error_code));
        } else {
            crate::log!("page fault at {addr:#x} ({}), probe resumed", PageFaultKind(frame.error_code));
        }
        frame.rip = fixup;
        return;
    }
    if guard_hit {
        panic!(
            "guard page hit at {addr:#x} ({}) by kernel code at rip {:#x}",
            PageFaultKind(frame.error_code),
            frame.rip
        );
    }
    panic!(
        "kernel page fault at {addr:#x} ({}), rip {:#x}, rsp {:#x}",
        PageFaultKind(frame.error_code),
        frame.rip,
        frame.rsp
    );
}

fn exception(frame: &mut TrapFrame) {
    let kind = match frame.vector {
        vector::INVALID_OPCODE => Some(FaultKind::IllegalInstruction),
        vector::DIVIDE_ERROR => Some(FaultKind::Arithmetic),
        vector::GENERAL_PROTECTION | vector::STACK_SEGMENT => Some(FaultKind::Memory { addr: 0 }),
        _ => None,
    };
    if let Some(kind) = kind
        && wasm_trap(frame, kind)
    {
        return;
    }
    if let Some(fixup) = wasmetal_arch::probe::fixup_for(frame.rip) {
        frame.rip = fixup;
        return;
    }
    panic!(
        "unhandled {} (vector {}, error {:#x}) at rip {:#x}, rsp {:#x}",
        vector::name(frame.vector),
        frame.vector,
        frame.error_code,
        frame.rip,
        frame.rsp
    );
}
