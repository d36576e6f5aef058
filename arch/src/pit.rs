//! The 8254 PIT, used only to measure the TSC when no better clock reports it.
//!
//! Channel 0 is put in rate-generator mode with the largest reload and its counter is
//! polled (latch, read low and high byte); no interrupt is involved, and nothing needs
//! the speaker gate at port 0x61 (which QEMU's microvm machine does not have).

use crate::port::{inb, outb};

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;

const CHANNEL0: u16 = 0x40;
const COMMAND: u16 = 0x43;

/// # Safety
/// Port access (CPL0, or CPL3 through the TSS I/O bitmap); exclusive use of the PIT.
unsafe fn read_channel0() -> u16 {
    // SAFETY: per the caller's contract; command 0 latches channel 0's count.
    unsafe {
        outb(COMMAND, 0x00);
        let low = inb(CHANNEL0);
        let high = inb(CHANNEL0);
        u16::from_le_bytes([low, high])
    }
}

/// Counts TSC cycles across `ms` milliseconds of PIT time. Returns the TSC frequency in
/// Hz, or `None` when the PIT does not count.
///
/// # Safety
/// Port access (CPL0, or CPL3 through the TSS I/O bitmap); nothing else uses the PIT,
/// and its interrupt line is masked.
pub unsafe fn measure_tsc_hz(ms: u64) -> Option<u64> {
    let target = PIT_HZ * ms / 1000;
    // SAFETY: the caller owns the PIT.
    unsafe {
        // Channel 0, low then high byte, mode 2 (rate generator), binary; reload 65535.
        outb(COMMAND, 0b0011_0100);
        outb(CHANNEL0, 0xFF);
        outb(CHANNEL0, 0xFF);
        let mut last = read_channel0();
        let start_tsc = crate::cpu::rdtsc();
        let mut elapsed: u64 = 0;
        let mut reads: u64 = 0;
        while elapsed < target {
            let now = read_channel0();
            // The counter runs down and reloads at 65535: the distance is modulo 2^16.
            elapsed += u64::from(last.wrapping_sub(now));
            last = now;
            reads += 1;
            if reads > 50_000_000 {
                return None;
            }
        }
        let cycles = crate::cpu::rdtsc() - start_tsc;
        Some(cycles * PIT_HZ / elapsed)
    }
}
