//! 16550 UART driver for the serial console (polled, no interrupts).
//!
//! Owns the register protocol only; what gets printed and the lock around it belong to
//! the kernel's console. Text goes out a FIFO-full at a time: once the transmitter is
//! empty, 16 bytes fit, written with one `rep outsb`. Under a hypervisor every port
//! access is a VM exit, so this is 1 status read and 1 string write per 16 bytes rather
//! than 2 exits per byte.

use crate::port::{inb, outb, outsb};

/// Bytes the transmit FIFO holds once the line status says it is empty.
const FIFO_BYTES: usize = 16;

/// Base port of COM1, where QEMU's `-serial` device sits.
pub const COM1: u16 = 0x3F8;

const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
const LINE_STATUS_THR_EMPTY: u8 = 1 << 5;

/// A 16550-compatible UART at a fixed I/O base.
pub struct SerialPort {
    base: u16,
}

impl SerialPort {
    /// Names the UART at `base`, without touching it.
    ///
    /// # Safety
    /// `base` must be a 16550 UART that nothing else drives.
    pub const unsafe fn new(base: u16) -> Self {
        Self { base }
    }

    /// Programs 115200 baud, 8N1, FIFOs on, interrupts off.
    pub fn init(&mut self) {
        // SAFETY: `new`'s contract gives us exclusive use of the UART's ports.
        unsafe {
            outb(self.base + INTERRUPT_ENABLE, 0x00);
            outb(self.base + LINE_CONTROL, 0x80); // DLAB: next two writes set the divisor
            outb(self.base + DATA, 0x01); // divisor 1 = 115200 baud
            outb(self.base + INTERRUPT_ENABLE, 0x00);
            outb(self.base + LINE_CONTROL, 0x03); // 8 bits, no parity, one stop bit
            outb(self.base + FIFO_CONTROL, 0xC7); // enable and clear FIFOs
            outb(self.base + MODEM_CONTROL, 0x03); // DTR | RTS
        }
    }

    /// Waits until the transmitter is empty (the FIFO can take [`FIFO_BYTES`]).
    fn wait_empty(&mut self) {
        while self.line_status() & LINE_STATUS_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
    }

    /// Reads the line status register.
    fn line_status(&self) -> u8 {
        // SAFETY: exclusive use of the UART's ports, per `new`; reading LSR has no effect
        // beyond clearing error bits nobody else reads.
        unsafe { inb(self.base + LINE_STATUS) }
    }

    /// Sends at most [`FIFO_BYTES`] bytes once the FIFO is empty.
    fn send_chunk(&mut self, chunk: &[u8]) {
        debug_assert!(chunk.len() <= FIFO_BYTES);
        self.wait_empty();
        // SAFETY: exclusive use of the UART's ports; an empty FIFO takes the whole chunk
        // without further status polling.
        unsafe { outsb(self.base + DATA, chunk) };
    }

    /// Sends a byte string, turning `\n` into `\r\n`.
    pub fn send_str(&mut self, text: &str) {
        let mut chunk = [0u8; FIFO_BYTES];
        let mut len = 0;
        for byte in text.bytes() {
            if len + 2 > FIFO_BYTES {
                self.send_chunk(&chunk[..len]);
                len = 0;
            }
            if byte == b'\n' {
                chunk[len] = b'\r';
                len += 1;
            }
            chunk[len] = byte;
            len += 1;
        }
        if len > 0 {
            self.send_chunk(&chunk[..len]);
        }
    }
}

impl core::fmt::Write for SerialPort {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.send_str(text);
        Ok(())
    }
}
