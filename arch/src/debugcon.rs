//! QEMU's debug console devices: byte sinks at an I/O port, used as the program's
//! stdout and stderr so they stay apart from the kernel log on the serial port.
//!
//! A `rep outsb` hands a whole buffer to the device in one instruction; the device has
//! no status register and never drops bytes (QEMU writes them through to its chardev).

/// Port of the debugcon the launcher connects to the program's stdout.
pub const STDOUT_PORT: u16 = 0xE9;
/// Port of the debugcon the launcher connects to the program's stderr.
pub const STDERR_PORT: u16 = 0xEA;

/// Writes `bytes` to the debugcon at `port`.
///
/// # Safety
/// A debugcon device (or nothing) must sit at `port`; writes to an absent port are
/// ignored by the machine.
pub unsafe fn write(port: u16, bytes: &[u8]) {
    for chunk in bytes.chunks(4096) {
        // SAFETY: per the contract, the port belongs to a debugcon or nothing.
        unsafe { crate::port::outsb(port, chunk) };
    }
}
