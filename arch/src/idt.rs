//! The IDT and its entry stubs: naked functions that save a full [`TrapFrame`].
//!
//! Every vector the kernel uses gets a stub that pushes a uniform frame and calls the one
//! handler the kernel registered with [`set_handler`]. The handler may rewrite the frame
//! (RIP, RSP, registers); the common exit path restores from it and returns with `iretq`.
//! Events that interrupted CPL3 code are routed by `privilege` first (monitor calls,
//! masked interrupts, faults bounced back to CPL3). Nothing here allocates; the table is
//! a static.

use core::sync::atomic::{AtomicPtr, Ordering};

use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptDescriptorTable;

use crate::gdt::{IST_DOUBLE_FAULT, IST_NMI, IST_PAGE_FAULT};
use crate::trap_frame::{TrapFrame, vector};

/// The kernel's handler for every vector.
pub type Handler = fn(&mut TrapFrame);

static HANDLER: AtomicPtr<()> = AtomicPtr::new(unhandled as *mut ());

fn unhandled(_frame: &mut TrapFrame) {
    loop {
        x86_64::instructions::hlt();
    }
}

/// Installs the function every interrupt and exception is dispatched to.
pub fn set_handler(handler: Handler) {
    HANDLER.store(handler as *mut (), Ordering::Release);
}

extern "C" fn dispatch(frame: &mut TrapFrame) {
    if frame.cs & 3 == 3 {
        crate::privilege::from_user_level(frame);
    } else {
        run_handler(frame);
    }
}

/// Calls the kernel's handler (at whatever level we are running).
pub(crate) fn run_handler(frame: &mut TrapFrame) {
    let raw = HANDLER.load(Ordering::Acquire);
    // SAFETY: HANDLER only ever holds values stored from a `Handler` fn pointer.
    let handler: Handler = unsafe { core::mem::transmute::<*mut (), Handler>(raw) };
    handler(frame);
}

/// Saves the general registers below the vector/error-code pair the stub pushed, then
/// CR2 and a spare word, calls `dispatch(&mut TrapFrame)`, restores (possibly rewritten)
/// registers and returns. The CPU's frame (40 bytes) plus error code and vector plus 15
/// registers plus 2 words is 192 bytes from a 16-byte aligned RSP, so the call site is
/// aligned as the ABI wants.
#[unsafe(naked)]
unsafe extern "C" fn interrupt_common() {
    core::arch::naked_asm!(
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "push 0",
        "mov rax, cr2",
        "push rax",
        "cld",
        "mov rdi, rsp",
        "call {dispatch}",
        "add rsp, 16",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        "add rsp, 16",
        "iretq",
        dispatch = sym dispatch,
    )
}

macro_rules! stub {
    ($name:ident, $vector:expr, error_code) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "push {vector}",
                "jmp {common}",
                vector = const $vector,
                common = sym interrupt_common,
            )
        }
    };
    ($name:ident, $vector:expr) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "push 0",
                "push {vector}",
                "jmp {common}",
                vector = const $vector,
                common = sym interrupt_common,
            )
        }
    };
}

stub!(stub_de, 0);
stub!(stub_db, 1);
stub!(stub_nmi, 2);
stub!(stub_bp, 3);
stub!(stub_of, 4);
stub!(stub_br, 5);
stub!(stub_ud, 6);
stub!(stub_nm, 7);
stub!(stub_df, 8, error_code);
stub!(stub_ts, 10, error_code);
stub!(stub_np, 11, error_code);
stub!(stub_ss, 12, error_code);
stub!(stub_gp, 13, error_code);
stub!(stub_pf, 14, error_code);
stub!(stub_mf, 16);
stub!(stub_ac, 17, error_code);
stub!(stub_mc, 18);
stub!(stub_xm, 19);
stub!(stub_ve, 20);
stub!(stub_cp, 21, error_code);
stub!(stub_timer, 32);
stub!(stub_irq33, 33);
stub!(stub_irq34, 34);
stub!(stub_irq35, 35);
stub!(stub_irq36, 36);
stub!(stub_irq37, 37);
stub!(stub_irq38, 38);
stub!(stub_irq39, 39);
stub!(stub_spurious, 0xFF);

static mut IDT: InterruptDescriptorTable = InterruptDescriptorTable::new();

fn addr(stub: unsafe extern "C" fn()) -> VirtAddr {
    VirtAddr::new(stub as usize as u64)
}

/// Fills and loads the IDT: exceptions 0..=21, device vectors 32..=39 and the spurious
/// vector, all routed to the registered handler.
///
/// # Safety
/// Call once, after [`crate::gdt::init`] (the IST slots must exist), before enabling
/// interrupts.
pub unsafe fn init() {
    // SAFETY: single call before interrupts, so no concurrent access to IDT; each stub
    // is a valid interrupt entry point; IST indices refer to stacks gdt::init set up.
    unsafe {
        let idt_ptr = &raw mut IDT;
        let idt = &mut *idt_ptr;
        idt.divide_error.set_handler_addr(addr(stub_de));
        idt.debug.set_handler_addr(addr(stub_db));
        idt.non_maskable_interrupt.set_handler_addr(addr(stub_nmi)).set_stack_index(IST_NMI - 1);
        idt.breakpoint.set_handler_addr(addr(stub_bp));
        // Vector 4 doubles as the monitor-call gate, open to CPL3 (`privilege`).
        idt.overflow.set_handler_addr(addr(stub_of)).set_privilege_level(x86_64::PrivilegeLevel::Ring3);
        idt.bound_range_exceeded.set_handler_addr(addr(stub_br));
        idt.invalid_opcode.set_handler_addr(addr(stub_ud));
        idt.device_not_available.set_handler_addr(addr(stub_nm));
        idt.double_fault.set_handler_addr(addr(stub_df)).set_stack_index(IST_DOUBLE_FAULT - 1);
        idt.invalid_tss.set_handler_addr(addr(stub_ts));
        idt.segment_not_present.set_handler_addr(addr(stub_np));
        idt.stack_segment_fault.set_handler_addr(addr(stub_ss));
        idt.general_protection_fault.set_handler_addr(addr(stub_gp));
        idt.page_fault.set_handler_addr(addr(stub_pf)).set_stack_index(IST_PAGE_FAULT - 1);
        idt.x87_floating_point.set_handler_addr(addr(stub_mf));
        idt.alignment_check.set_handler_addr(addr(stub_ac));
        idt.machine_check.set_handler_addr(addr(stub_mc));
        idt.simd_floating_point.set_handler_addr(addr(stub_xm));
        idt.virtualization.set_handler_addr(addr(stub_ve));
        idt.cp_protection_exception.set_handler_addr(addr(stub_cp));
        let device: [unsafe extern "C" fn(); 8] =
            [stub_timer, stub_irq33, stub_irq34, stub_irq35, stub_irq36, stub_irq37, stub_irq38, stub_irq39];
        for (offset, stub) in device.into_iter().enumerate() {
            idt[vector::TIMER as u8 + offset as u8].set_handler_addr(addr(stub));
        }
        idt[vector::SPURIOUS as u8].set_handler_addr(addr(stub_spurious));
        (*idt_ptr).load();
    }
}
