//! The I/O APIC: routes device interrupt lines to vectors of the boot CPU.
//!
//! microvm has one I/O APIC at the architectural address, its 24 input lines wired to
//! the legacy IRQ numbers (the virtio-mmio slots' `:IRQ` of the command line). This
//! module programs redirection entries through the indirect register window the
//! caller mapped; it does not decide which line goes where (the kernel does) and never
//! touches the devices behind the lines.

/// Physical address of the (first) I/O APIC.
pub const IOAPIC_DEFAULT_PHYS: u64 = 0xFEC0_0000;

// The register window: write a register number to IOREGSEL, then read/write IOWIN.
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;

const ENTRY_MASKED: u32 = 1 << 16;
const ENTRY_LEVEL: u32 = 1 << 15;
const ENTRY_ACTIVE_LOW: u32 = 1 << 13;

/// An input line (global system interrupt) of the I/O APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line(pub u32);

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Active-high edge: one interrupt per rising edge (ISA-style lines).
    EdgeHigh,
    /// Active-high level: interrupts repeat while the line stays high after EOI.
    LevelHigh,
    /// Active-low level (PCI-style lines).
    LevelLow,
}

/// Why a line could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    /// The I/O APIC has no such input line.
    NoSuchLine { line: u32, lines: u32 },
    /// Vectors below 32 are exceptions.
    ReservedVector(u8),
}

impl core::fmt::Display for IoApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IoApicError::NoSuchLine { line, lines } => {
                write!(f, "I/O APIC line {line} does not exist (it has {lines})")
            }
            IoApicError::ReservedVector(vector) => write!(f, "vector {vector} is an exception vector"),
        }
    }
}

/// The redirection entry's low word for `vector` with `trigger`, unmasked, fixed
/// delivery, physical destination.
fn entry_low(vector: u8, trigger: Trigger) -> u32 {
    let mode = match trigger {
        Trigger::EdgeHigh => 0,
        Trigger::LevelHigh => ENTRY_LEVEL,
        Trigger::LevelLow => ENTRY_LEVEL | ENTRY_ACTIVE_LOW,
    };
    u32::from(vector) | mode
}

/// The I/O APIC's register window.
#[derive(Debug)]
pub struct IoApic {
    /// Virtual address of an uncached mapping of the register page.
    mmio: u64,
}

impl IoApic {
    /// The I/O APIC whose registers `mmio` maps.
    ///
    /// # Safety
    /// `mmio` maps the I/O APIC's register page uncached, for as long as the value lives,
    /// and nothing else programs it meanwhile.
    pub unsafe fn new(mmio: u64) -> Self {
        IoApic { mmio }
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: the window is mapped (`new`'s contract); selecting then reading a
        // register has no effect beyond the I/O APIC.
        unsafe {
            core::ptr::write_volatile((self.mmio + IOREGSEL) as *mut u32, reg);
            core::ptr::read_volatile((self.mmio + IOWIN) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`; the caller chose the register and value.
        unsafe {
            core::ptr::write_volatile((self.mmio + IOREGSEL) as *mut u32, reg);
            core::ptr::write_volatile((self.mmio + IOWIN) as *mut u32, value);
        }
    }

    /// Input lines this I/O APIC has (its highest redirection entry plus one).
    pub fn lines(&self) -> u32 {
        ((self.read(REG_VERSION) >> 16) & 0xFF) + 1
    }

    /// Masks every line (the state to start from: nothing routed that the kernel did
    /// not ask for).
    pub fn mask_all(&self) {
        for line in 0..self.lines() {
            self.write(REG_REDIRECTION + 2 * line, ENTRY_MASKED);
        }
    }

    /// Delivers `line` as `vector` to the local APIC with id `apic_id`.
    pub fn route(&self, line: Line, vector: u8, apic_id: u8, trigger: Trigger) -> Result<(), IoApicError> {
        let lines = self.lines();
        if line.0 >= lines {
            return Err(IoApicError::NoSuchLine { line: line.0, lines });
        }
        if vector < 32 {
            return Err(IoApicError::ReservedVector(vector));
        }
        let reg = REG_REDIRECTION + 2 * line.0;
        // Masked while the destination is written, so a half-written entry never fires.
        self.write(reg, ENTRY_MASKED);
        self.write(reg + 1, u32::from(apic_id) << 24);
        self.write(reg, entry_low(vector, trigger));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_encode_vector_and_trigger() {
        assert_eq!(entry_low(33, Trigger::EdgeHigh), 33);
        assert_eq!(entry_low(40, Trigger::LevelHigh), 40 | 1 << 15);
        assert_eq!(entry_low(41, Trigger::LevelLow), 41 | 1 << 15 | 1 << 13);
    }
}
