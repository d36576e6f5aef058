//! virtio devices of this VM: finding them (the `virtio_mmio.device=` entries QEMU
//! appends to the command line), and which one serves what (`console.stdout=BASE` and
//! friends from the launcher). Policy only; the protocols live in `wasmetal-devices`.

pub mod hal;
pub mod stdio;

use core::ptr::NonNull;

use wasmetal_devices::Hal;
use wasmetal_devices::MmioTransport;
use wasmetal_devices::mmio_slot::{self, MmioSlot};
use wasmetal_devices::virtio::console::Console;

use crate::boot_info::BootInfo;
use hal::KernelHal;

/// Why a virtio device could not be used.
#[derive(Debug)]
pub enum DeviceError {
    /// A `virtio_mmio.device=` entry or a `console.*=` address does not parse.
    BadCommandLine(&'static str),
    /// The launcher named a device QEMU did not report.
    NoSuchSlot(u64),
    /// The slot's registers are not a virtio device.
    Transport(u64),
    /// The console would not initialize.
    Console(u64, wasmetal_devices::virtio::console::ConsoleError),
}

impl core::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeviceError::BadCommandLine(what) => write!(f, "malformed {what} on the command line"),
            DeviceError::NoSuchSlot(base) => write!(f, "no virtio-mmio device at {base:#x}"),
            DeviceError::Transport(base) => write!(f, "the device at {base:#x} is not virtio-mmio"),
            DeviceError::Console(base, error) => write!(f, "console at {base:#x}: {error}"),
        }
    }
}

/// Opens the console in the slot at `base`.
fn console(slots: &[MmioSlot], base: u64) -> Result<Console<KernelHal>, DeviceError> {
    let slot = slots.iter().find(|slot| slot.base == base).ok_or(DeviceError::NoSuchSlot(base))?;
    // SAFETY: QEMU reported a virtio-mmio register block of `slot.size` bytes at
    // `slot.base`; the mapping is uncached and stays for the kernel's life.
    let header = unsafe { KernelHal::mmio_phys_to_virt(slot.base, slot.size as usize) };
    // SAFETY: as above; nothing else maps or drives this slot.
    let transport = unsafe { MmioTransport::new(NonNull::cast(header), slot.size as usize) }
        .map_err(|_| DeviceError::Transport(base))?;
    Console::new(transport).map_err(|error| DeviceError::Console(base, error))
}

fn address(boot: &BootInfo, key: &'static str) -> Result<Option<u64>, DeviceError> {
    let Some(value) = boot.option(key) else { return Ok(None) };
    let hex = value.strip_prefix("0x").ok_or(DeviceError::BadCommandLine(key))?;
    u64::from_str_radix(hex, 16).map(Some).map_err(|_| DeviceError::BadCommandLine(key))
}

/// Finds the devices the launcher attached and sets up the stdio consoles. Without
/// `console.*` options (raw boots, self-tests) stdio stays on debugcon.
pub fn init(boot: &BootInfo) -> Result<(), DeviceError> {
    let mut slots = alloc::vec::Vec::new();
    for slot in mmio_slot::slots(boot.cmdline()) {
        slots.push(slot.map_err(|_| DeviceError::BadCommandLine("virtio_mmio.device"))?);
    }
    let roles = [
        address(boot, "console.stdout")?,
        address(boot, "console.stderr")?,
        address(boot, "console.stdin")?,
        address(boot, "console.control")?,
    ];
    let [Some(stdout), Some(stderr), Some(stdin), Some(control)] = roles else {
        return Ok(());
    };
    let consoles = stdio::Consoles {
        stdout: console(&slots, stdout)?,
        stderr: console(&slots, stderr)?,
        stdin: console(&slots, stdin)?,
        control: console(&slots, control)?,
    };
    stdio::install(consoles);
    Ok(())
}
