//! Device interrupt lines: the I/O APIC's routes and what each device vector counts.
//!
//! Owns the I/O APIC (mapped on the first route, every line masked until routed), the
//! vector of each routed device and a count of the interrupts each one took. A routed
//! line stays unmasked: the handler (CPL0, any context) only counts and bumps the
//! scheduler's device-event count, which ends the waits of tasks blocked on devices
//! (`sched::device_wait`). Whether a device interrupts at all is the device's business,
//! told through memory it shares (virtio's NO_INTERRUPT flag, see `net`): a task lets it
//! interrupt just before it sleeps and stops it once it polls again. So a busy device
//! costs no interrupts, and sleeping costs no register access: under PVM each I/O APIC
//! or virtio register access is an exit, and one QEMU handles waits for its main loop's
//! lock, which a busy network holds (0.2–0.5 ms per access was measured). KVM's I/O
//! APIC, like QEMU's, delivers an edge-triggered line on every assertion, even while
//! the line stays high, so the device's interrupt status is never acknowledged.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use wasmetal_arch::ioapic::{IOAPIC_DEFAULT_PHYS, IoApic, IoApicError, Line, Trigger};
use wasmetal_arch::trap_frame::vector;

/// A device that interrupts through the I/O APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The virtio-net card.
    Net,
    /// The serial device carrying stdio.
    Serial,
}

impl Device {
    const ALL: [Device; 2] = [Device::Net, Device::Serial];

    fn index(self) -> usize {
        self as usize
    }

    /// The vector its line is delivered as: the ones after the timer's.
    fn vector(self) -> u8 {
        vector::TIMER as u8 + 1 + self as u8
    }
}

/// Why a device's line could not be routed (its waits then end on timer ticks).
#[derive(Clone, Copy, Debug)]
pub enum IrqError {
    /// The I/O APIC's register page could not be mapped.
    Mapping,
    /// The I/O APIC refused the route.
    Route(IoApicError),
}

impl core::fmt::Display for IrqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IrqError::Mapping => f.write_str("cannot map the I/O APIC's registers"),
            IrqError::Route(error) => write!(f, "{error}"),
        }
    }
}

/// How device lines signal: QEMU's virtio-mmio raises microvm's lines active high.
const TRIGGER: Trigger = Trigger::EdgeHigh;

static IOAPIC: Mutex<Option<IoApic>> = Mutex::new(None);
static TAKEN: [AtomicU64; Device::ALL.len()] = [const { AtomicU64::new(0) }; Device::ALL.len()];
static ROUTED: [AtomicBool; Device::ALL.len()] = [const { AtomicBool::new(false) }; Device::ALL.len()];

/// Routes `line` (the slot's `virtio_mmio.device=..:IRQ`) to `device`'s vector on this
/// CPU, edge-triggered, active high (how QEMU's virtio-mmio drives microvm's lines).
pub fn route(device: Device, line: u32) -> Result<(), IrqError> {
    let mut ioapic = IOAPIC.lock();
    if ioapic.is_none() {
        let mmio = crate::memory::address_space::map_device(IOAPIC_DEFAULT_PHYS).map_err(|_| IrqError::Mapping)?;
        // SAFETY: `mmio` maps the I/O APIC's page uncached for the kernel's life, and
        // only this module programs it.
        let fresh = unsafe { IoApic::new(mmio) };
        fresh.mask_all();
        *ioapic = Some(fresh);
    }
    let Some(ioapic) = ioapic.as_ref() else { return Err(IrqError::Mapping) };
    // IDs of QEMU's boot CPU fit the entry's 8-bit physical destination.
    let apic_id = crate::timer::apic_id() as u8;
    wasmetal_arch::cpu::without_interrupts(|| ioapic.route(Line(line), device.vector(), apic_id, TRIGGER))
        .map_err(IrqError::Route)?;
    ROUTED[device.index()].store(true, Ordering::Release);
    Ok(())
}

/// Whether `device`'s line is routed (its waits can halt until it interrupts).
pub fn routed(device: Device) -> bool {
    ROUTED[device.index()].load(Ordering::Acquire)
}

/// Called by the interrupt handler for `vector`: true when it is a device's (counted,
/// waiters woken; the caller signals end of interrupt).
pub fn on_interrupt(vector: u64) -> bool {
    let Some(device) = Device::ALL.into_iter().find(|device| u64::from(device.vector()) == vector) else {
        return false;
    };
    TAKEN[device.index()].fetch_add(1, Ordering::Relaxed);
    crate::sched::device_wait::note_device_event();
    true
}

/// Interrupts `device` has taken since boot.
pub fn taken(device: Device) -> u64 {
    TAKEN[device.index()].load(Ordering::Relaxed)
}
