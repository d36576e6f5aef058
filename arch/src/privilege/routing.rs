//! Where an event that interrupted CPL3 code goes, decided at CPL0.
//!
//! Monitor calls are served, device interrupts handled here (or deferred when masked),
//! unrecoverable exceptions reported here, and every other fault bounced back to the
//! kernel's handler at CPL3 (`user_entry`).

use crate::trap_frame::{TrapFrame, vector};

/// Whether the code running now is at CPL3 (the low bits of CS).
#[inline]
pub fn at_user_level() -> bool {
    let cs: u16;
    // SAFETY: reading CS is unprivileged and has no side effect.
    unsafe { core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags)) };
    cs & 3 == 3
}

/// Routes an event that interrupted CPL3 code; called at CPL0 by the IDT's dispatcher.
pub(crate) fn from_user_level(frame: &mut TrapFrame) {
    match frame.vector {
        super::MONITOR_VECTOR => super::monitor::serve(frame),
        vector::SPURIOUS => {}
        v if v >= vector::TIMER => {
            if !super::interrupt_flag::defer_if_masked(frame) {
                crate::idt::run_handler(frame);
            }
        }
        // Nothing sensible can resume after these: report them from here.
        vector::NMI | vector::DOUBLE_FAULT | vector::MACHINE_CHECK => crate::idt::run_handler(frame),
        _ => super::user_entry::upcall(frame),
    }
}
