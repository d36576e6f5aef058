//! Running the kernel at CPL3 over a small CPL0 monitor.
//!
//! After early init the kernel drops to CPL3 ([`enter_user_mode`]) and stays there:
//! some hypervisors (KVM's PVM backend, the one this project is developed on) run guest
//! CPL0 code in an instruction emulator and only CPL3 code natively, so a kernel that
//! compiles and runs wasm at CPL0 would crawl. Everything that needs CPL0 goes through
//! the monitor here:
//!
//! - privileged instructions (CR3, INVLPG, MSRs, HLT, the interrupt flag) are
//!   [`MonitorCall`]s, made with `int 4` through a DPL3 gate; the functions of
//!   `cpu` and `paging` make them when they find themselves at CPL3;
//! - device interrupts are handled at CPL0 (they are short), unless the kernel has them
//!   masked: CPL3 cannot use `cli`/`sti`, so [`without_interrupts`] sets a flag in memory
//!   and the CPL0 entry defers a masked interrupt (and clears IF) until the kernel
//!   unmasks, like Xen's event-channel mask;
//! - faults from CPL3 (page faults, #UD, #DE, #GP...) are bounced back to CPL3: the CPL0
//!   entry copies the [`TrapFrame`] onto a CPL3 event stack and resumes at an entry that
//!   calls the kernel's handler natively; the handler may rewrite the frame (a wasm trap
//!   landing, a probe fixup), and the frame is then resumed without returning to CPL0.
//!
//! The kernel gives up nothing by this: all its pages are user-accessible, and the
//! monitor trusts it. Wasm stays confined by the runtime (guard pages, checks), as
//! before. Port I/O is allowed to CPL3 by the TSS I/O bitmap (see `gdt`).
//! This module owns the routing decisions and the CPL3 entry/exit sequences; what a
//! vector means is the kernel's handler's business.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::gdt::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::trap_frame::{TrapFrame, vector};

/// The vector of monitor calls (`int 4`; `into`, its only other source, does not
/// exist in 64-bit mode).
pub const MONITOR_VECTOR: u64 = vector::OVERFLOW;

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
/// The always-one bit of RFLAGS.
const RFLAGS_FIXED: u64 = 1 << 1;

/// What a monitor call asks CPL0 to do. Arguments travel in RDI and RSI, the result in
/// RAX.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorCall {
    /// RAX = CR3.
    ReadCr3 = 1,
    /// CR3 = RDI.
    WriteCr3 = 2,
    /// INVLPG [RDI].
    InvalidatePage = 3,
    /// Reload CR3: drops every non-global TLB entry.
    FlushTlb = 4,
    /// RAX = MSR[RDI].
    ReadMsr = 5,
    /// MSR[RDI] = RSI.
    WriteMsr = 6,
    /// Enable interrupts and halt until the next one.
    Halt = 7,
    /// Deliver deferred interrupts and set IF.
    EnableInterrupts = 8,
}

impl MonitorCall {
    fn from_raw(raw: u64) -> Option<Self> {
        Some(match raw {
            1 => Self::ReadCr3,
            2 => Self::WriteCr3,
            3 => Self::InvalidatePage,
            4 => Self::FlushTlb,
            5 => Self::ReadMsr,
            6 => Self::WriteMsr,
            7 => Self::Halt,
            8 => Self::EnableInterrupts,
            _ => return None,
        })
    }
}

/// Whether the code running now is at CPL3 (the low bits of CS).
#[inline]
pub fn at_user_level() -> bool {
    let cs: u16;
    // SAFETY: reading CS is unprivileged and has no side effect.
    unsafe { core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags)) };
    cs & 3 == 3
}

/// Makes a monitor call from CPL3.
///
/// # Safety
/// The call's effect (a new CR3, an MSR write...) must be sound for the caller, as the
/// instruction itself would have to be at CPL0.
#[inline]
pub unsafe fn monitor_call(call: MonitorCall, arg0: u64, arg1: u64) -> u64 {
    let result: u64;
    // SAFETY: vector 4 is a DPL3 gate into `serve`, which preserves every register but
    // RAX (the stub saves and restores the full frame). It may touch any memory (a new
    // CR3, say), so no `nomem`.
    unsafe {
        core::arch::asm!(
            "int 4",
            inlateout("rax") call as u64 => result,
            in("rdi") arg0,
            in("rsi") arg1,
            options(nostack),
        );
    }
    result
}

// --- counters -------------------------------------------------------------------------

static MONITOR_CALLS: AtomicU64 = AtomicU64::new(0);
static UPCALLS: AtomicU64 = AtomicU64::new(0);
static DEFERRED: AtomicU64 = AtomicU64::new(0);

/// How often CPL3 code needed CPL0 since boot (each crossing is costly under a
/// hypervisor that emulates CPL0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrossingCounts {
    /// Monitor calls made.
    pub monitor_calls: u64,
    /// Faults from CPL3 handed back to the CPL3 handler.
    pub upcalls: u64,
    /// Device interrupts that arrived while masked and were delivered later.
    pub deferred_interrupts: u64,
}

/// The counters so far.
pub fn crossing_counts() -> CrossingCounts {
    CrossingCounts {
        monitor_calls: MONITOR_CALLS.load(Ordering::Relaxed),
        upcalls: UPCALLS.load(Ordering::Relaxed),
        deferred_interrupts: DEFERRED.load(Ordering::Relaxed),
    }
}

// --- the virtual interrupt flag -------------------------------------------------------

/// The kernel at CPL3 has interrupts masked: CPL0 defers device interrupts.
/// Starts set: the kernel enters CPL3 with interrupts off.
static MASKED: AtomicBool = AtomicBool::new(true);
/// Deferred device interrupts, bit `v - 32` for vector `v`.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Whether RFLAGS.IF is set at CPL3 (CPL3 cannot read it reliably: some hypervisors
/// report IF=1 to `pushfq` whatever it is).
static HARD_IF: AtomicBool = AtomicBool::new(false);

/// Unmasks interrupts at CPL3, delivering any that were deferred.
pub fn enable_interrupts() {
    MASKED.store(false, Ordering::SeqCst);
    if !HARD_IF.load(Ordering::SeqCst) || PENDING.load(Ordering::SeqCst) != 0 {
        // SAFETY: enabling interrupts is what the caller asked for.
        unsafe { monitor_call(MonitorCall::EnableInterrupts, 0, 0) };
    }
}

/// Masks interrupts at CPL3: until [`enable_interrupts`], device interrupts are deferred.
pub fn disable_interrupts() {
    MASKED.store(true, Ordering::SeqCst);
}

/// Runs `f` with interrupts masked at CPL3, restoring the previous state afterwards.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let was_masked = MASKED.swap(true, Ordering::SeqCst);
    let result = f();
    if !was_masked {
        MASKED.store(false, Ordering::SeqCst);
        if PENDING.load(Ordering::SeqCst) != 0 {
            // SAFETY: interrupts were enabled before `f`; this delivers what came meanwhile.
            unsafe { monitor_call(MonitorCall::EnableInterrupts, 0, 0) };
        }
    }
    result
}

// --- entering CPL3 --------------------------------------------------------------------

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

    /* Entered from CPL0 (`upcall`) with RSP = RDI = a TrapFrame copy on the event
       stack, 16-byte aligned. Calls the kernel's handler, then resumes the frame at
       CPL3: RFLAGS and RIP go just below the frame's RSP, everything else is popped,
       and `popfq; ret` switches the rest. IF is left as it is (it was the interrupted
       code's already). */
    .global wasmetal_user_fault_entry
    .p2align 4
wasmetal_user_fault_entry:
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
);

extern "C" fn dispatch_at_user_level(frame: &mut TrapFrame) {
    crate::idt::run_handler(frame);
}

// --- the CPL0 side --------------------------------------------------------------------

const EVENT_STACK_BYTES: usize = 64 * 1024;

/// Where faults from CPL3 are handled (at CPL3).
#[repr(C, align(16))]
struct EventStack([u8; EVENT_STACK_BYTES]);

static mut EVENT_STACK: EventStack = EventStack([0; EVENT_STACK_BYTES]);

/// Routes an event that interrupted CPL3 code; called at CPL0 by the IDT's dispatcher.
pub(crate) fn from_user_level(frame: &mut TrapFrame) {
    match frame.vector {
        MONITOR_VECTOR => serve(frame),
        vector::SPURIOUS => {}
        v if v >= vector::TIMER => {
            if MASKED.load(Ordering::SeqCst) {
                // Keep it in service (no EOI) and stop more from coming until unmasked.
                PENDING.fetch_or(1 << ((v - vector::TIMER) & 63), Ordering::SeqCst);
                DEFERRED.fetch_add(1, Ordering::Relaxed);
                HARD_IF.store(false, Ordering::SeqCst);
                frame.rflags &= !RFLAGS_IF;
            } else {
                crate::idt::run_handler(frame);
            }
        }
        // Nothing sensible can resume after these: report them from here.
        vector::NMI | vector::DOUBLE_FAULT | vector::MACHINE_CHECK => crate::idt::run_handler(frame),
        _ => upcall(frame),
    }
}

/// Rewrites `frame` so that the return from this CPL0 entry lands in
/// `wasmetal_user_fault_entry` with a copy of the frame on the event stack.
fn upcall(frame: &mut TrapFrame) {
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
    // SAFETY: `sp..sp + size_of::<TrapFrame>()` lies inside the event stack, below any
    // frame still in use, and is 16-byte aligned.
    unsafe { core::ptr::write(sp as *mut TrapFrame, *frame) };
    frame.rip = wasmetal_user_fault_entry as *const () as u64;
    frame.rsp = sp;
    frame.rdi = sp;
    frame.rflags = (frame.rflags & RFLAGS_IF) | RFLAGS_FIXED;
}

/// Carries out a monitor call; the result goes to the caller's RAX.
fn serve(frame: &mut TrapFrame) {
    MONITOR_CALLS.fetch_add(1, Ordering::Relaxed);
    let Some(call) = MonitorCall::from_raw(frame.rax) else {
        frame.rax = u64::MAX;
        return;
    };
    let (arg0, arg1) = (frame.rdi, frame.rsi);
    // The caller at CPL3 is the kernel, which made the call under `monitor_call`'s
    // contract: the effect is sound for it, as the instruction would be at CPL0.
    frame.rax = match call {
        MonitorCall::ReadCr3 => {
            let value: u64;
            // SAFETY: reading CR3 has no effect.
            unsafe { core::arch::asm!("mov {}, cr3", out(reg) value, options(nomem, nostack, preserves_flags)) };
            value
        }
        MonitorCall::WriteCr3 => {
            // SAFETY: per the call's contract, the new tables keep the kernel running.
            unsafe { core::arch::asm!("mov cr3, {}", in(reg) arg0, options(nostack, preserves_flags)) };
            0
        }
        MonitorCall::InvalidatePage => {
            // SAFETY: dropping a TLB entry only makes the CPU re-read the tables.
            unsafe { core::arch::asm!("invlpg [{}]", in(reg) arg0, options(nostack, preserves_flags)) };
            0
        }
        MonitorCall::FlushTlb => {
            // SAFETY: reloading the same CR3 only drops non-global TLB entries.
            unsafe { core::arch::asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags)) };
            0
        }
        // SAFETY: per the call's contract, the MSR exists and reading it is the kernel's.
        MonitorCall::ReadMsr => unsafe { crate::cpu::rdmsr_cpl0(arg0 as u32) },
        MonitorCall::WriteMsr => {
            // SAFETY: per the call's contract, the value is valid for the MSR.
            unsafe { crate::cpu::wrmsr_cpl0(arg0 as u32, arg1) };
            0
        }
        MonitorCall::Halt => {
            // SAFETY: waiting for an interrupt touches no memory; interrupts taken here
            // nest at CPL0 and are handled directly, then IF is cleared again as the
            // gate left it.
            unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
            0
        }
        MonitorCall::EnableInterrupts => {
            deliver_pending(frame);
            HARD_IF.store(true, Ordering::SeqCst);
            frame.rflags |= RFLAGS_IF;
            0
        }
    };
}

/// Runs the handler for each deferred interrupt, as if it had just arrived.
fn deliver_pending(frame: &mut TrapFrame) {
    let pending = PENDING.swap(0, Ordering::SeqCst);
    let saved_vector = frame.vector;
    for bit in 0..64 {
        if pending & (1 << bit) != 0 {
            frame.vector = vector::TIMER + bit;
            crate::idt::run_handler(frame);
        }
    }
    frame.vector = saved_vector;
}
