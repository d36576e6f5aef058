//! Monitor calls: privileged instructions made on behalf of the kernel at CPL3.
//!
//! The caller side (`int 4` through a DPL3 gate) and the CPL0 side that carries each call
//! out. The monitor trusts its caller, the kernel; it decides nothing.

use core::sync::atomic::Ordering;

use super::counters::MONITOR_CALLS;
use crate::trap_frame::{TrapFrame, vector};

/// The vector of monitor calls (`int 4`; `into`, its only other source, does not
/// exist in 64-bit mode).
pub const MONITOR_VECTOR: u64 = vector::OVERFLOW;

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
    /// Enable interrupts and halt until the next one (at once if one is deferred).
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

/// Carries out a monitor call; the result goes to the caller's RAX.
pub(super) fn serve(frame: &mut TrapFrame) {
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
            // An interrupt deferred while the kernel had them masked is the one it would
            // wait for: deliver it instead of halting (so mask, check, halt has no window
            // in which a wake-up is lost until the next tick).
            if super::interrupt_flag::any_pending() {
                super::interrupt_flag::deliver_pending_and_enable(frame);
            } else {
                // SAFETY: waiting for an interrupt touches no memory; interrupts taken
                // here nest at CPL0 and are handled directly, then IF is cleared again
                // as the gate left it.
                unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
            }
            0
        }
        MonitorCall::EnableInterrupts => {
            super::interrupt_flag::deliver_pending_and_enable(frame);
            0
        }
    };
}
