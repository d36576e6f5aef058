//! The network of this VM: the virtio-net card the launcher attached (`net.virtio=BASE`),
//! the smoltcp stack over it (`wasmetal_devices::net`), and the ports the programs
//! listen on (`net.listen=PORT,PORT..`, from `--tcplisten`, in order). Policy only: the
//! protocols live in `wasmetal-devices`, the WASI view in `sockets`.
//!
//! The stack sits behind one spin lock that is only held for one stack operation, never
//! while waiting (tasks switch only when they yield, and they never yield holding it).
//! The card may interrupt only while a task sleeps on it (`arm_interrupt` before the
//! sleep, `disarm_interrupt` after; see `device_irq`), so while the kernel is busy
//! polling, frames cost no interrupts.

pub mod sockets;

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use wasmetal_devices::MmioTransport;
use wasmetal_devices::mmio_slot::MmioSlot;
use wasmetal_devices::net::nic::VirtioNic;
use wasmetal_devices::net::stack::{IpConfig, Limits, NetError, NetStack, SocketId};
use wasmetal_devices::{Hal, virtio_drivers};

use crate::boot_info::BootInfo;
use crate::device_irq::Device;
use crate::virtio::hal::KernelHal;

/// The stack over the virtio-net card.
pub type Stack = NetStack<VirtioNic<KernelHal, MmioTransport<'static>>>;

struct Network {
    stack: Stack,
    /// The listeners of `net.listen=`, in the order the launcher gave them.
    listeners: Vec<SocketId>,
    /// Whether the card's line is routed (else waits end on their time, polling).
    interrupts: bool,
    /// Tasks between `arm_interrupt` and `disarm_interrupt`: the card may interrupt
    /// while there is one.
    sleepers: u32,
}

static NETWORK: Mutex<Option<Network>> = Mutex::new(None);

/// Why the network could not be set up.
#[derive(Debug)]
pub enum NetInitError {
    /// `net.virtio=` or `net.listen=` does not parse.
    BadCommandLine(&'static str),
    /// The launcher named a slot QEMU did not report.
    NoSuchSlot(u64),
    /// The slot's registers are not a virtio device.
    Transport(u64),
    /// The virtio-net driver would not initialize.
    Device(u64, virtio_drivers::Error),
    /// A port could not be listened on.
    Listen(u16, NetError),
}

impl core::fmt::Display for NetInitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetInitError::BadCommandLine(what) => write!(f, "malformed {what} on the command line"),
            NetInitError::NoSuchSlot(base) => write!(f, "no virtio-mmio device at {base:#x}"),
            NetInitError::Transport(base) => write!(f, "the device at {base:#x} is not virtio-mmio"),
            NetInitError::Device(base, error) => write!(f, "virtio-net at {base:#x}: {error}"),
            NetInitError::Listen(port, error) => write!(f, "listening on port {port}: {error}"),
        }
    }
}

/// Microseconds on the monotonic clock (smoltcp's time).
pub(crate) fn now_us() -> u64 {
    crate::timer::monotonic_ns() / 1000
}

/// Opens the virtio-net card named by `net.virtio=` and listens on `net.listen=`'s
/// ports. Without `net.virtio=` there is no network (sockets calls see no sockets).
pub fn init(boot: &BootInfo, slots: &[MmioSlot]) -> Result<(), NetInitError> {
    let Some(base) = boot.option("net.virtio") else { return Ok(()) };
    let base = base
        .strip_prefix("0x")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or(NetInitError::BadCommandLine("net.virtio"))?;
    let mut ports = Vec::new();
    for port in boot.option("net.listen").unwrap_or("").split(',').filter(|port| !port.is_empty()) {
        ports.push(port.parse::<u16>().map_err(|_| NetInitError::BadCommandLine("net.listen"))?);
    }
    let slot = slots.iter().find(|slot| slot.base == base).ok_or(NetInitError::NoSuchSlot(base))?;
    // SAFETY: QEMU reported a virtio-mmio register block of `slot.size` bytes at
    // `slot.base`; the mapping is uncached and stays for the kernel's life.
    let header = unsafe { KernelHal::mmio_phys_to_virt(slot.base, slot.size as usize) };
    // SAFETY: as above; nothing else maps or drives this slot.
    let transport = unsafe { MmioTransport::new(NonNull::cast(header), slot.size as usize) }
        .map_err(|_| NetInitError::Transport(base))?;
    let nic = VirtioNic::<KernelHal, _>::new(transport).map_err(|error| NetInitError::Device(base, error))?;
    let seed = wasmetal_arch::cpu::rdtsc();
    let mut stack = NetStack::new(nic, IpConfig::QEMU_USER, Limits::DEFAULT, seed, now_us());
    let mut listeners = Vec::new();
    for port in ports {
        listeners.push(stack.listen(port).map_err(|error| NetInitError::Listen(port, error))?);
    }
    // Without the interrupt the network still works, polled on timer ticks.
    let interrupts = match crate::device_irq::route(Device::Net, slot.irq) {
        Ok(()) => true,
        Err(error) => {
            crate::log!("net: interrupt line {} not routed ({error}); polling on ticks", slot.irq);
            false
        }
    };
    *NETWORK.lock() = Some(Network { stack, listeners, interrupts, sleepers: 0 });
    Ok(())
}

/// The listeners to preopen for a program, in `--tcplisten` order (`None`: no network).
pub fn listeners() -> Option<Vec<SocketId>> {
    NETWORK.lock().as_ref().map(|network| network.listeners.clone())
}

static POLLS: AtomicU64 = AtomicU64::new(0);
static POLL_CYCLES: AtomicU64 = AtomicU64::new(0);

/// Polls the stack (frames in and out, timers), counting the polls and their cycles for
/// the end-of-run figures.
pub(crate) fn poll(stack: &mut Stack) -> bool {
    let start = wasmetal_arch::cpu::rdtsc();
    let changed = stack.poll(now_us());
    POLL_CYCLES.fetch_add(wasmetal_arch::cpu::rdtsc().wrapping_sub(start), Ordering::Relaxed);
    POLLS.fetch_add(1, Ordering::Relaxed);
    changed
}

/// Runs `f` on the stack (`None`: no network).
pub(crate) fn with_stack<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    NETWORK.lock().as_mut().map(|network| f(&mut network.stack))
}

/// Before sleeping on the card: lets it interrupt; true when the caller must not sleep
/// (a frame came meanwhile) or cannot count on the interrupt (not routed).
/// Each call is paired with a [`disarm_interrupt`] after the sleep.
pub(crate) fn arm_interrupt() -> bool {
    NETWORK.lock().as_mut().is_none_or(|network| {
        network.sleepers += 1;
        !network.interrupts || network.stack.arm_interrupt()
    })
}

/// After a sleep on the card: stops its interrupts again once no other task sleeps on
/// it (they would only cost exits while the caller polls).
pub(crate) fn disarm_interrupt() {
    if let Some(network) = NETWORK.lock().as_mut() {
        network.sleepers = network.sleepers.saturating_sub(1);
        if network.sleepers == 0 {
            network.stack.disarm_interrupt();
        }
    }
}

/// Whether a frame waits for the stack (cheap enough to spin on).
pub(crate) fn frame_waiting() -> bool {
    NETWORK.lock().as_ref().is_none_or(|network| network.stack.frame_waiting())
}

/// Longest the network stays up after the programs exited, for what they sent to be
/// acknowledged.
const EXIT_LINGER_NS: u64 = 2_000_000_000;

/// How often the linger polls when no frame comes (the stack's retransmit timers).
const EXIT_POLL_NS: u64 = 1_000_000;

/// After the programs exited: polls until the peers acknowledged everything the
/// programs sent (a last answer on a connection left open, or closed just before), or
/// [`EXIT_LINGER_NS`] passed. Powering off at once would lose what still sits in the
/// card's ring or waits for a retransmit, as a host OS does not. It spins rather than
/// halts: this is one round trip, usually, and nothing else runs.
pub fn deliver_before_exit() {
    let deadline = crate::timer::monotonic_ns() + EXIT_LINGER_NS;
    loop {
        let Some(owed) = with_stack(|stack| {
            poll(stack);
            stack.unacknowledged_bytes()
        }) else {
            return;
        };
        if owed == 0 {
            return;
        }
        let now = crate::timer::monotonic_ns();
        if now >= deadline {
            crate::log!(
                "net: {owed} bytes sent were still unacknowledged {} s after the exit; dropped",
                EXIT_LINGER_NS / 1_000_000_000
            );
            return;
        }
        let next = (now + EXIT_POLL_NS).min(deadline);
        while crate::timer::monotonic_ns() < next && !frame_waiting() {
            core::hint::spin_loop();
        }
    }
}

/// Logs what the stack holds (after the programs ran: the tests read it to check that
/// clients that went away left nothing behind).
pub fn log_stats() {
    let Some(network) = NETWORK.try_lock() else { return };
    let Some(network) = network.as_ref() else { return };
    let heap = crate::memory::heap::HEAP.stats();
    let (by_device, by_time) = crate::sched::device_wait::wake_counts();
    let polls = POLLS.load(Ordering::Relaxed);
    let poll_ns = crate::timer::cycles_to_ns(POLL_CYCLES.load(Ordering::Relaxed)) / polls.max(1);
    crate::stat!(
        "net: {} sockets, {} connections, {} frames dropped, heap {} KiB live, {} interrupts, \
         waits woken {} by interrupt {} by time, {} polls of {} ns, frames {} in {} out, {} notifies",
        network.stack.sockets(),
        network.stack.connections(),
        network.stack.dropped_frames(),
        heap.live >> 10,
        crate::device_irq::taken(Device::Net),
        by_device,
        by_time,
        polls,
        poll_ns,
        network.stack.frames().0,
        network.stack.frames().1,
        wasmetal_devices::net::transport::NOTIFIES.load(Ordering::Relaxed)
    );
}
