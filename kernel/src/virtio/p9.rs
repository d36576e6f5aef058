//! The virtio 9P devices the launcher attached, one per `--dir` (`p9.N=BASE` on the
//! command line names the slot of directory N), each with one 9P session shared by
//! every task. Policy only: the protocol is `wasmetal_devices::p9`.
//!
//! A session is taken with `try_lock` and a yield, never a spinning `lock`: a task
//! waiting for the device yields while holding it, and tasks switch only then.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ptr::NonNull;

use spin::Mutex;
use wasmetal_devices::mmio_slot::MmioSlot;
use wasmetal_devices::p9::session::{Session, SessionError};
use wasmetal_devices::virtio::p9::{P9Device, P9DeviceError};
use wasmetal_devices::{Hal, MmioTransport};

use super::hal::KernelHal;

/// The bytes per 9P message this kernel asks for: a read or write moves up to this
/// much per device round trip (QEMU grants it; it caps at its own maximum otherwise).
pub const MSIZE: u32 = 1024 * 1024 + 4096;

/// The most `--dir` devices (the launcher puts them on virtio-mmio buses 0..=5).
pub const MAX_DEVICES: usize = 6;

/// One export's session.
pub type P9Session = Session<P9Device<KernelHal>>;

/// A session shared by the tasks.
pub struct SharedSession {
    session: Mutex<P9Session>,
    /// The launcher exported the directory read-only (`--dir HOST::GUEST::ro`).
    pub read_only: bool,
}

impl SharedSession {
    /// Runs `f` on the session, yielding while another task has it.
    pub fn with<R>(&self, f: impl FnOnce(&mut P9Session) -> R) -> R {
        loop {
            if let Some(mut session) = self.session.try_lock() {
                return f(&mut session);
            }
            crate::sched::yield_now();
            core::hint::spin_loop();
        }
    }
}

static DEVICES: Mutex<Vec<Option<Arc<SharedSession>>>> = Mutex::new(Vec::new());

/// Why a 9P device could not be used.
#[derive(Debug)]
pub enum P9InitError {
    /// The slot's registers are not a virtio-mmio device.
    Transport,
    Device(P9DeviceError),
    Session(SessionError),
}

impl core::fmt::Display for P9InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            P9InitError::Transport => f.write_str("the slot is not a virtio-mmio device"),
            P9InitError::Device(error) => write!(f, "{error}"),
            P9InitError::Session(error) => write!(f, "{error}"),
        }
    }
}

/// What a task does while the device works: let the others run, else spin (a 9P
/// round trip is tens of microseconds; QEMU answers every request).
fn wait() {
    if crate::sched::alone() {
        core::hint::spin_loop();
    } else {
        crate::sched::yield_now();
    }
}

/// Opens the 9P device in `slot` as directory `index` and negotiates its session.
pub fn open(index: usize, slot: &MmioSlot, read_only: bool) -> Result<(), P9InitError> {
    // SAFETY: QEMU reported a virtio-mmio register block of `slot.size` bytes at
    // `slot.base`; the mapping is uncached and stays for the kernel's life.
    let header = unsafe { KernelHal::mmio_phys_to_virt(slot.base, slot.size as usize) };
    // SAFETY: as above; nothing else maps or drives this slot.
    let transport =
        unsafe { MmioTransport::new(NonNull::cast(header), slot.size as usize) }.map_err(|_| P9InitError::Transport)?;
    let device = P9Device::<KernelHal>::new(transport, wait).map_err(P9InitError::Device)?;
    let session = Session::connect(device, MSIZE).map_err(P9InitError::Session)?;
    let mut devices = DEVICES.lock();
    if devices.len() <= index {
        devices.resize_with(index + 1, || None);
    }
    devices[index] = Some(Arc::new(SharedSession { session: Mutex::new(session), read_only }));
    Ok(())
}

/// The session of directory `index`, if the launcher attached a device for it.
pub fn session(index: usize) -> Option<Arc<SharedSession>> {
    DEVICES.lock().get(index).cloned().flatten()
}
