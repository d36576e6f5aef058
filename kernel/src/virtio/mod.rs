//! virtio devices of this VM: finding them (the `virtio_mmio.device=` entries QEMU
//! appends to the command line), and which one serves what (`console.serial=BASE` from
//! the launcher: the multiport serial device whose ports carry stdio). Policy only;
//! the protocols live in `wasmetal-devices`.

pub mod hal;
pub mod p9;
pub mod stdio;

use core::ptr::NonNull;

use wasmetal_devices::Hal;
use wasmetal_devices::MmioTransport;
use wasmetal_devices::mmio_slot::{self, MmioSlot};
use wasmetal_devices::stdio_link::{CONTROL_PORT, STDERR_PORT, STDIN_PORT, STDOUT_PORT};
use wasmetal_devices::virtio::serial::{self, SerialError, Wait};

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
    /// The serial device would not initialize.
    Serial(u64, SerialError),
    /// A 9P device (`--dir`) would not initialize.
    P9(u64, p9::P9InitError),
    /// The network card or stack would not come up.
    Net(crate::net::NetInitError),
}

impl core::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeviceError::BadCommandLine(what) => write!(f, "malformed {what} on the command line"),
            DeviceError::NoSuchSlot(base) => write!(f, "no virtio-mmio device at {base:#x}"),
            DeviceError::Transport(base) => write!(f, "the device at {base:#x} is not virtio-mmio"),
            DeviceError::Serial(base, error) => write!(f, "serial device at {base:#x}: {error}"),
            DeviceError::P9(base, error) => write!(f, "9P device at {base:#x}: {error}"),
            DeviceError::Net(error) => write!(f, "network: {error}"),
        }
    }
}

/// Opens the serial device in the slot at `base` with the stdio ports.
fn serial(slots: &[MmioSlot], base: u64) -> Result<stdio::Consoles, DeviceError> {
    let slot = slots.iter().find(|slot| slot.base == base).ok_or(DeviceError::NoSuchSlot(base))?;
    // SAFETY: QEMU reported a virtio-mmio register block of `slot.size` bytes at
    // `slot.base`; the mapping is uncached and stays for the kernel's life.
    let header = unsafe { KernelHal::mmio_phys_to_virt(slot.base, slot.size as usize) };
    // SAFETY: as above; nothing else maps or drives this slot.
    let transport = unsafe { MmioTransport::new(NonNull::cast(header), slot.size as usize) }
        .map_err(|_| DeviceError::Transport(base))?;
    // The handshake is a few device round trips; a second is far more than it needs.
    let give_up = crate::timer::monotonic_ns() + 1_000_000_000;
    let mut wait = || {
        if crate::timer::monotonic_ns() < give_up { Wait::Continue } else { Wait::Abort }
    };
    let ids = [STDOUT_PORT, STDERR_PORT, STDIN_PORT, CONTROL_PORT];
    let (control, ports) = serial::open::<KernelHal>(transport, &ids, crate::timer::monotonic_ns, &mut wait)
        .map_err(|error| DeviceError::Serial(base, error))?;
    // Without the interrupt stdio still works: its waits then end on timer ticks.
    if let Err(error) = crate::device_irq::route(crate::device_irq::Device::Serial, slot.irq) {
        crate::log!("stdio: interrupt line {} not routed ({error}); waits end on ticks", slot.irq);
    }
    let mut ports = ports.into_iter();
    let mut next = || ports.next().ok_or(DeviceError::Serial(base, SerialError::PortsMissing));
    Ok(stdio::Consoles { control_channel: control, stdout: next()?, stderr: next()?, stdin: next()?, control: next()? })
}

/// Finds the devices the launcher attached and sets up stdio. Without a
/// `console.serial=` option (raw boots, self-tests) stdio stays on debugcon.
pub fn init(boot: &BootInfo) -> Result<(), DeviceError> {
    let mut slots = alloc::vec::Vec::new();
    for slot in mmio_slot::slots(boot.cmdline()) {
        slots.push(slot.map_err(|_| DeviceError::BadCommandLine("virtio_mmio.device"))?);
    }
    open_dirs(boot, &slots)?;
    crate::net::init(boot, &slots).map_err(DeviceError::Net)?;
    let Some(base) = address(boot, "console.serial")? else { return Ok(()) };
    stdio::install(serial(&slots, base)?);
    Ok(())
}

/// Opens the 9P device of each `--dir` the launcher named (`p9.N=BASE`).
fn open_dirs(boot: &BootInfo, slots: &[MmioSlot]) -> Result<(), DeviceError> {
    for index in 0..p9::MAX_DEVICES {
        let key = alloc::format!("p9.{index}");
        let Some(base) = parse_address(boot.option(&key), "p9.N")? else { continue };
        let slot = slots.iter().find(|slot| slot.base == base).ok_or(DeviceError::NoSuchSlot(base))?;
        let read_only = boot.option(&alloc::format!("p9.{index}.ro")).is_some();
        p9::open(index, slot, read_only).map_err(|error| DeviceError::P9(base, error))?;
    }
    Ok(())
}

fn address(boot: &BootInfo, key: &'static str) -> Result<Option<u64>, DeviceError> {
    parse_address(boot.option(key), key)
}

fn parse_address(value: Option<&str>, key: &'static str) -> Result<Option<u64>, DeviceError> {
    let Some(value) = value else { return Ok(None) };
    let hex = value.strip_prefix("0x").ok_or(DeviceError::BadCommandLine(key))?;
    u64::from_str_radix(hex, 16).map(Some).map_err(|_| DeviceError::BadCommandLine(key))
}
