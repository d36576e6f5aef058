//! Entering CPL3, and running the kernel's fault handler there.
//!
//! `enter_user_mode` drops the caller to CPL3 for good. A fault from CPL3 is bounced
//! back by `upcall` (at CPL0): its `TrapFrame` is rebuilt on the event stack (the
//! interrupt-return words by `upcall`, the registers by the entry) and the CPL0 entry
//! returns into `wasmetal_user_fault_entry`, which calls the kernel's handler and
//! resumes the (possibly rewritten) frame without CPL0.

use core::sync::atomic::Ordering;

use super::counters::UPCALLS;
use super::interrupt_flag::RFLAGS_IF;
use crate::gdt::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::trap_frame::TrapFrame;

/// The always-one bit of RFLAGS.
const RFLAGS_FIXED: u64 = 1 << 1;

/// Returns to the caller at CPL3, on the same stack, with RFLAGS (IF included) unchanged.
///
/// # Safety
/// CPL0 only, after `gdt::init` and `idt::init`; every page the caller touches from now
/// on must be user-accessible.
pub unsafe fn enter_user_mode() {
    // SAFETY: per the contract; the stub builds an IRET frame that resumes at our return
    // address with the user selectors of the loaded GDT.
    unsafe { wasmetal_enter_user_mode() };
    // A hypervisor could report IF=1 here whatever it is; we know we came with IF=0
    // (boot runs with interrupts off), and MASKED/HARD_IF start in that state.
}

unsafe extern "C" {
    fn wasmetal_enter_user_mode();
    fn wasmetal_user_fault_entry();
}

// Assembled for the host too (never run there), so the crate's unit tests link.
core::arch::global_asm!(
    r#"
    .pushsection .text.wasmetal_privilege, "ax"
    .global wasmetal_enter_user_mode
    .p2align 4
wasmetal_enter_user_mode:
    pop rax
    mov rcx, rsp
    push {user_data}
    push rcx
    pushfq
    push {user_code}
    push rax
    iretq

    /* Entered from CPL0 (`upcall`) with RSP = a TrapFrame on the event stack, 16-byte
       aligned, whose vector, error code, fault address and interrupt-return words are
       filled in; every general register still holds the interrupted code's value, so
       they are stored here, at native speed, to complete the frame. Calls the kernel's
       handler, then resumes the frame at CPL3: RFLAGS and RIP go just below the frame's
       RSP, everything else is popped, and `popfq; ret` switches the rest. IF is left
       as it is (it was the interrupted code's already). */
    .global wasmetal_user_fault_entry
    .p2align 4
wasmetal_user_fault_entry:
    mov [rsp + {r15_off}], r15
    mov [rsp + {r14_off}], r14
    mov [rsp + {r13_off}], r13
    mov [rsp + {r12_off}], r12
    mov [rsp + {r11_off}], r11
    mov [rsp + {r10_off}], r10
    mov [rsp + {r9_off}], r9
    mov [rsp + {r8_off}], r8
    mov [rsp + {rbp_off}], rbp
    mov [rsp + {rdi_off}], rdi
    mov [rsp + {rsi_off}], rsi
    mov [rsp + {rdx_off}], rdx
    mov [rsp + {rcx_off}], rcx
    mov [rsp + {rbx_off}], rbx
    mov [rsp + {rax_off}], rax
    mov rdi, rsp
    cld
    call {dispatch}
    mov rax, [rsp + {rsp_off}]
    sub rax, 16
    mov rcx, [rsp + {rflags_off}]
    mov [rax], rcx
    mov rcx, [rsp + {rip_off}]
    mov [rax + 8], rcx
    mov [rsp + {rsp_off}], rax
    add rsp, 16
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    mov rsp, [rsp + 24]
    popfq
    ret
    .popsection
    "#,
    user_data = const USER_DATA_SELECTOR as u64,
    user_code = const USER_CODE_SELECTOR as u64,
    dispatch = sym dispatch_at_user_level,
    rsp_off = const core::mem::offset_of!(TrapFrame, rsp),
    rflags_off = const core::mem::offset_of!(TrapFrame, rflags),
    rip_off = const core::mem::offset_of!(TrapFrame, rip),
    r15_off = const core::mem::offset_of!(TrapFrame, r15),
    r14_off = const core::mem::offset_of!(TrapFrame, r14),
    r13_off = const core::mem::offset_of!(TrapFrame, r13),
    r12_off = const core::mem::offset_of!(TrapFrame, r12),
    r11_off = const core::mem::offset_of!(TrapFrame, r11),
    r10_off = const core::mem::offset_of!(TrapFrame, r10),
    r9_off = const core::mem::offset_of!(TrapFrame, r9),
    r8_off = const core::mem::offset_of!(TrapFrame, r8),
    rbp_off = const core::mem::offset_of!(TrapFrame, rbp),
    rdi_off = const core::mem::offset_of!(TrapFrame, rdi),
    rsi_off = const core::mem::offset_of!(TrapFrame, rsi),
    rdx_off = const core::mem::offset_of!(TrapFrame, rdx),
    rcx_off = const core::mem::offset_of!(TrapFrame, rcx),
    rbx_off = const core::mem::offset_of!(TrapFrame, rbx),
    rax_off = const core::mem::offset_of!(TrapFrame, rax),
);

extern "C" fn dispatch_at_user_level(frame: &mut TrapFrame) {
    crate::idt::run_handler(frame);
}

const EVENT_STACK_BYTES: usize = 64 * 1024;

/// Where faults from CPL3 are handled (at CPL3).
#[repr(C, align(16))]
struct EventStack([u8; EVENT_STACK_BYTES]);

static mut EVENT_STACK: EventStack = EventStack([0; EVENT_STACK_BYTES]);

/// Rewrites `frame` so that the return from this CPL0 entry lands in
/// `wasmetal_user_fault_entry` with the frame's non-register words on the event stack
/// (the entry completes the frame from the registers, which the return restores).
pub(super) fn upcall(frame: &mut TrapFrame) {
    UPCALLS.fetch_add(1, Ordering::Relaxed);
    let base = (&raw const EVENT_STACK) as u64;
    let top = base + EVENT_STACK_BYTES as u64;
    // A fault while handling a fault nests below the frame in progress.
    let below = if (base..top).contains(&frame.rsp) { frame.rsp - 128 } else { top };
    let sp = (below - core::mem::size_of::<TrapFrame>() as u64) & !15;
    if sp < base + 4096 {
        // Runaway nesting: handle it here, where the kernel will report it.
        crate::idt::run_handler(frame);
        return;
    }
    // Only the words the CPL3 entry cannot see in registers are written here: every
    // instruction at CPL0 may be emulated (PVM), and a 192-byte frame copy cost more
    // there than the rest of the upcall. The entry stores the general registers.
    let copy = sp as *mut TrapFrame;
    // SAFETY: `sp..sp + size_of::<TrapFrame>()` lies inside the event stack, below any
    // frame still in use, and is 16-byte aligned; only fields are written, through raw
    // pointers, so no reference to the not yet complete frame exists.
    unsafe {
        (&raw mut (*copy).fault_address).write(frame.fault_address);
        (&raw mut (*copy).vector).write(frame.vector);
        (&raw mut (*copy).error_code).write(frame.error_code);
        (&raw mut (*copy).rip).write(frame.rip);
        (&raw mut (*copy).cs).write(frame.cs);
        (&raw mut (*copy).rflags).write(frame.rflags);
        (&raw mut (*copy).rsp).write(frame.rsp);
        (&raw mut (*copy).ss).write(frame.ss);
    }
    frame.rip = wasmetal_user_fault_entry as *const () as u64;
    frame.rsp = sp;
    frame.rflags = (frame.rflags & RFLAGS_IF) | RFLAGS_FIXED;
}
