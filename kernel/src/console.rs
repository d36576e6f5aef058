//! The kernel log: formatted lines on the serial console (COM1).
//!
//! Log lines never share a device with a workload's stdout/stderr, so the launcher can
//! keep them apart. The lock is taken with interrupts off, so an interrupt handler that
//! logs cannot deadlock against the code it interrupted.

use core::fmt::Write;

use spin::Mutex;
use wasmetal_arch::serial::{COM1, SerialPort};

// SAFETY: COM1 is QEMU's `-serial` UART and only this console drives it.
static CONSOLE: Mutex<SerialPort> = Mutex::new(unsafe { SerialPort::new(COM1) });

/// Programs the UART. Until this runs, output may be garbled (QEMU tolerates it).
pub fn init() {
    wasmetal_arch::cpu::without_interrupts(|| CONSOLE.lock().init());
}

/// Writes formatted text to the console.
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    wasmetal_arch::cpu::without_interrupts(|| {
        let _ = CONSOLE.lock().write_fmt(args);
    });
}

/// Writes formatted text even if the console lock is held (it may be held by the code
/// that panicked). Only for the panic path.
pub fn write_fmt_forced(args: core::fmt::Arguments<'_>) {
    if CONSOLE.is_locked() {
        // SAFETY: we are on the panic path and will never return to the lock holder;
        // at worst a line interleaves with the one that was being written.
        unsafe { CONSOLE.force_unlock() };
    }
    write_fmt(args);
}

/// Prints a line to the kernel log.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}
