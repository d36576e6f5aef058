//! The kernel log: formatted lines on the serial console (COM1).
//!
//! Log lines never share a device with a workload's stdout/stderr, so the launcher can
//! keep them apart. The lock is taken with interrupts off, so an interrupt handler that
//! logs cannot deadlock against the code it interrupted.
//!
//! Every byte is a port write, a VM exit (about 45 us each under PVM on an AMD host),
//! so the UART is only programmed when the first line goes out, and figures nobody
//! asked for ([`stat!`]: boot and run times, pager and network counters) are only
//! written when the command line has `stats` or lacks `quiet`: a quiet run's ten such
//! lines cost it 20 ms.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;
use wasmetal_arch::serial::{COM1, SerialPort};

// SAFETY: COM1 is QEMU's `-serial` UART and only this console drives it.
static CONSOLE: Mutex<SerialPort> = Mutex::new(unsafe { SerialPort::new(COM1) });

/// Whether the UART has been programmed (by the first line written).
static PROGRAMMED: AtomicBool = AtomicBool::new(false);
/// Whether [`stat!`] lines are written.
static STATS: AtomicBool = AtomicBool::new(true);

/// Says whether [`stat!`] lines are written (from the command line, at boot).
pub fn set_stats(enabled: bool) {
    STATS.store(enabled, Ordering::Relaxed);
}

/// Whether [`stat!`] lines are written.
pub fn stats() -> bool {
    STATS.load(Ordering::Relaxed)
}

/// Collects formatted pieces so the UART gets whole FIFO-fulls (each port access may be
/// a VM exit), not one short write per piece.
struct Batched<'a> {
    port: &'a mut SerialPort,
    buffer: [u8; 128],
    len: usize,
}

impl Batched<'_> {
    fn flush(&mut self) {
        // The buffer only ever holds whole UTF-8 sequences (see `write_str`).
        self.port.send_str(core::str::from_utf8(&self.buffer[..self.len]).unwrap_or(""));
        self.len = 0;
    }
}

impl Write for Batched<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        if self.len + text.len() > self.buffer.len() {
            self.flush();
        }
        if text.len() > self.buffer.len() {
            self.port.send_str(text);
        } else {
            self.buffer[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
            self.len += text.len();
        }
        Ok(())
    }
}

/// Writes formatted text to the console.
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    wasmetal_arch::cpu::without_interrupts(|| {
        let mut port = CONSOLE.lock();
        if !PROGRAMMED.swap(true, Ordering::Relaxed) {
            port.init();
        }
        let mut batched = Batched { port: &mut port, buffer: [0; 128], len: 0 };
        let _ = batched.write_fmt(args);
        batched.flush();
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

/// Prints a line of figures (times, counters) to the kernel log when they were asked
/// for (see the module comment).
#[macro_export]
macro_rules! stat {
    ($($arg:tt)*) => {
        if $crate::console::stats() {
            $crate::log!($($arg)*)
        }
    };
}
