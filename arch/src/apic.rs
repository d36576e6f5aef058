//! Local APIC: the periodic timer that drives ticks (and, later, the wasm epoch).
//!
//! x2APIC (MSR access) when the CPU has it, xAPIC through an MMIO window the kernel maps
//! otherwise. Calibration measures the APIC timer against the TSC, whose frequency the
//! caller already knows.

use crate::cpu::{rdmsr, rdtsc, wrmsr};

/// Physical address of the xAPIC MMIO page (the architectural default).
pub const XAPIC_DEFAULT_PHYS: u64 = 0xFEE0_0000;

const IA32_APIC_BASE: u32 = 0x1B;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

// Register offsets in the xAPIC MMIO page; x2APIC MSR = 0x800 + offset / 16.
const REG_ID: u32 = 0x020;
const REG_EOI: u32 = 0x0B0;
const REG_SPURIOUS: u32 = 0x0F0;
const REG_LVT_TIMER: u32 = 0x320;
const REG_TIMER_INITIAL: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3E0;

const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const SPURIOUS_ENABLE: u32 = 1 << 8;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;
const DIVISOR: u64 = 16;

/// How the APIC's registers are reached.
#[derive(Clone, Copy, Debug)]
pub enum ApicMode {
    X2Apic,
    /// xAPIC registers at this virtual address (an uncached mapping of the MMIO page).
    XApic {
        mmio: u64,
    },
}

/// The boot CPU's local APIC.
#[derive(Debug)]
pub struct LocalApic {
    mode: ApicMode,
    /// Timer input clock after the divider, in Hz (set by calibration).
    timer_hz: u64,
}

impl LocalApic {
    /// Enables the APIC in `mode` with `spurious_vector`, the timer masked.
    ///
    /// # Safety
    /// CPL0 (or CPL3, where the MSR accesses become monitor calls); for xAPIC, `mmio` must
    /// map the APIC page uncached. Call once.
    pub unsafe fn enable(mode: ApicMode, spurious_vector: u8) -> Self {
        // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting EN (and EXTD when
        // the caller chose x2APIC, which it only does when cpuid reports it) is allowed.
        unsafe {
            let base = rdmsr(IA32_APIC_BASE);
            let mut wanted = base | APIC_BASE_ENABLE;
            if matches!(mode, ApicMode::X2Apic) {
                wanted |= APIC_BASE_X2APIC;
            }
            if wanted != base {
                wrmsr(IA32_APIC_BASE, wanted);
            }
        }
        let apic = Self { mode, timer_hz: 0 };
        apic.write(REG_LVT_TIMER, LVT_MASKED);
        apic.write(REG_SPURIOUS, SPURIOUS_ENABLE | u32::from(spurious_vector));
        apic
    }

    fn write(&self, reg: u32, value: u32) {
        match self.mode {
            // SAFETY: x2APIC mode is enabled (see `enable`), so the MSR range exists.
            ApicMode::X2Apic => unsafe { wrmsr(0x800 + reg / 16, u64::from(value)) },
            // SAFETY: `mmio` maps the APIC page (enable's contract); reg is in the page.
            ApicMode::XApic { mmio } => unsafe {
                core::ptr::write_volatile((mmio + u64::from(reg)) as *mut u32, value)
            },
        }
    }

    fn read(&self, reg: u32) -> u32 {
        match self.mode {
            // SAFETY: as in `write`.
            ApicMode::X2Apic => unsafe { rdmsr(0x800 + reg / 16) as u32 },
            // SAFETY: as in `write`.
            ApicMode::XApic { mmio } => unsafe { core::ptr::read_volatile((mmio + u64::from(reg)) as *const u32) },
        }
    }

    /// Measures the timer's input clock against the TSC over `window_tsc` TSC cycles.
    pub fn calibrate(&mut self, tsc_hz: u64, window_tsc: u64) -> u64 {
        self.write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
        self.write(REG_LVT_TIMER, LVT_MASKED);
        self.write(REG_TIMER_INITIAL, u32::MAX);
        let (start, start_count) = self.sample_count();
        while rdtsc().wrapping_sub(start) < window_tsc {
            core::hint::spin_loop();
        }
        let (end, end_count) = self.sample_count();
        self.write(REG_TIMER_INITIAL, 0);
        let elapsed_tsc = (end - start).max(1);
        let counted = u64::from(start_count - end_count);
        self.timer_hz = counted * tsc_hz / elapsed_tsc;
        self.timer_hz * DIVISOR
    }

    /// Reads the current count with the TSC at the moment of the read: the midpoint of
    /// TSC readings around it, from the best of a few tries. A read may take long (a VM
    /// exit, a monitor call, the vCPU descheduled), and time lost between the TSC read
    /// and the count read would skew the calibration.
    fn sample_count(&self) -> (u64, u32) {
        let mut best = (u64::MAX, 0, 0);
        for _ in 0..3 {
            let before = rdtsc();
            let count = self.read(REG_TIMER_CURRENT);
            let after = rdtsc();
            let spread = after - before;
            if spread < best.0 {
                best = (spread, before + spread / 2, count);
            }
        }
        (best.1, best.2)
    }

    /// Starts the periodic timer at `hz` interrupts per second on `vector`.
    /// Returns the period actually programmed, in timer counts.
    pub fn start_periodic(&mut self, vector: u8, hz: u32) -> u32 {
        let count = (self.timer_hz / u64::from(hz.max(1))).clamp(1, u64::from(u32::MAX)) as u32;
        self.write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
        self.write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(vector));
        self.write(REG_TIMER_INITIAL, count);
        count
    }

    /// Stops the timer.
    pub fn stop_timer(&mut self) {
        self.write(REG_LVT_TIMER, LVT_MASKED);
        self.write(REG_TIMER_INITIAL, 0);
    }

    /// Signals end of interrupt.
    pub fn end_of_interrupt(&self) {
        self.write(REG_EOI, 0);
    }

    /// This APIC's id (what an I/O APIC entry names as the destination).
    pub fn id(&self) -> u32 {
        match self.mode {
            ApicMode::X2Apic => self.read(REG_ID),
            ApicMode::XApic { .. } => self.read(REG_ID) >> 24,
        }
    }

    /// Which register interface is in use.
    pub fn mode(&self) -> ApicMode {
        self.mode
    }
}

/// Masks every line of the legacy 8259 PICs so only the APIC delivers interrupts.
///
/// # Safety
/// Port access (CPL0, or CPL3 through the TSS I/O bitmap); the PICs (if present) are
/// not used by anything else.
pub unsafe fn mask_legacy_pic() {
    // SAFETY: writing the PIC data ports' mask registers, per the caller's contract.
    unsafe {
        crate::port::outb(0x21, 0xFF);
        crate::port::outb(0xA1, 0xFF);
    }
}
