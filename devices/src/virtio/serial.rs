//! A multiport virtio serial device (virtio-console with `VIRTIO_CONSOLE_F_MULTIPORT`)
//! over the MMIO transport, built on `virtio-drivers`' transport and split virtqueues.
//!
//! Why multiport, and why not `virtio_drivers::device::console`: that driver speaks
//! only port 0, which QEMU reserves for a `virtconsole`, and QEMU *drops* console data
//! when its chardev would block (a host reader slower than the guest loses bytes:
//! measured, 12 MiB of 64 lost). Ports 1.. are `virtserialport`s, which QEMU throttles
//! instead, so a write completes only when the host has taken the bytes. The crate's
//! console also spins on the used ring with no way out, where a program's `--timeout`
//! must be able to end a write; here waiting is the caller's policy (a callback).
//!
//! A write is staged in a ring of bounce buffers (the one copy: guest linear memory is
//! not physically contiguous) and returns once queued to the device; receive keeps
//! sixteen 4 KiB buffers posted per port.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::MmioTransport;
use virtio_drivers::transport::{DeviceType, Transport};

/// Descriptors per control queue.
const QUEUE_SIZE: usize = 4;
/// Buffers (and descriptors) of a port's receive queue.
const RECEIVE_BUFFERS: usize = 16;
/// Descriptors per port transmit queue: pieces of small writes in flight at once.
const TRANSMIT_QUEUE_SIZE: usize = 128;
/// Bytes of a port's staging ring (writes go in pieces of a quarter of it at most).
pub const TRANSMIT_BYTES: usize = 256 * 1024;
/// Bytes of a port's posted receive buffers together (4 KiB each: QEMU fills one per
/// read of its chardev, which reads at most 4 KiB).
pub const RECEIVE_BYTES: usize = 64 * 1024;
/// Bytes of the posted control receive buffer (a message plus a port name).
const CONTROL_BYTES: usize = 256;

/// `VIRTIO_CONSOLE_F_MULTIPORT`.
const MULTIPORT: u64 = 1 << 1;

/// The control queues (virtio 1.2, 5.3.2: queue 2 receives, 3 transmits).
const CONTROL_RECEIVE: u16 = 2;
const CONTROL_TRANSMIT: u16 = 3;

/// Control events (virtio 1.2, 5.3.6.2).
const DEVICE_READY: u16 = 0;
const DEVICE_ADD: u16 = 1;
const PORT_READY: u16 = 3;
const PORT_OPEN: u16 = 6;

/// Bytes of `struct virtio_console_control` (le32 id, le16 event, le16 value).
const CONTROL_MESSAGE: usize = 8;

/// Control receive buffers kept posted: the device drops a control message when none
/// is, and it announces all ports at once.
const CONTROL_BUFFERS: usize = 8;

bitflags::bitflags! {
    /// The feature bits this driver negotiates.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct ConsoleFeatures: u64 {
        const MULTIPORT = MULTIPORT;
        const VERSION_1 = 1 << 32;
    }
}

/// The queues of port `id` (ports 1.. sit after the control pair).
fn port_queues(id: u32) -> (u16, u16) {
    let receive = 2 + 2 * id as u16;
    (receive, receive + 1)
}

/// What went wrong with the device.
#[derive(Debug)]
pub enum SerialError {
    /// The slot holds another kind of device.
    NotAConsole(DeviceType),
    /// The device does not offer multiple ports.
    NoMultiport,
    /// A port id out of range for this driver.
    BadPort(u32),
    /// The device did not announce every port it was asked for before `wait` gave up.
    PortsMissing,
    /// The transport or a queue refused (the device is broken or not as virtio says).
    Device(virtio_drivers::Error),
}

impl core::fmt::Display for SerialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SerialError::NotAConsole(kind) => write!(f, "the slot holds a {kind:?} device, not a console"),
            SerialError::NoMultiport => f.write_str("the console device has no multiport support"),
            SerialError::BadPort(id) => write!(f, "port {id} is out of range"),
            SerialError::PortsMissing => f.write_str("the device did not announce every expected port"),
            SerialError::Device(error) => write!(f, "virtio serial: {error}"),
        }
    }
}

impl From<virtio_drivers::Error> for SerialError {
    fn from(error: virtio_drivers::Error) -> Self {
        SerialError::Device(error)
    }
}

/// What the caller's wait callback decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Keep waiting.
    Continue,
    /// Stop waiting.
    Abort,
}

/// The caller's waiting policy, called while the driver waits for its device.
pub trait Waiting {
    /// One step of waiting; `Abort` ends the wait.
    fn wait(&mut self) -> Wait;

    /// Whether the next step halts the CPU until an interrupt: the driver then lets
    /// the device interrupt first. A policy that spins or sleeps on the clock says no.
    fn halts_next(&mut self) -> bool {
        false
    }
}

impl<F: FnMut() -> Wait> Waiting for F {
    fn wait(&mut self) -> Wait {
        self()
    }
}

/// The transport, shared by the ports for notifications only (never held while waiting).
type SharedTransport = Arc<spin::Mutex<MmioTransport<'static>>>;

fn notify(transport: &SharedTransport, queue: u16) {
    transport.lock().notify(queue);
}

/// Where one receive buffer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// Ours and empty: to be posted.
    Free,
    /// Lent to the device under this token.
    Posted(u16),
    /// Given back with bytes not all read yet (it is in `Receiver::filled`).
    Filled,
}

/// A virtqueue with several device-writable buffers kept posted. QEMU fills one buffer
/// per read of its chardev (at most 4 KiB each) and hands it back at once, however
/// large it is; with several posted it reads on while the guest copies out.
struct Receiver<H: Hal> {
    queue: VirtQueue<H, RECEIVE_BUFFERS>,
    index: u16,
    buffers: Vec<Box<[u8]>>,
    states: Vec<SlotState>,
    /// Filled buffers in the order the device gave them back: (buffer, read up to,
    /// bytes received).
    filled: VecDeque<(usize, usize, usize)>,
}

impl<H: Hal> Receiver<H> {
    fn new(mut queue: VirtQueue<H, RECEIVE_BUFFERS>, index: u16, bytes: usize) -> Self {
        let each = (bytes / RECEIVE_BUFFERS).max(1);
        // Quiet until a reader waits (see `wait_for_input`).
        queue.set_dev_notify(false);
        Receiver {
            queue,
            index,
            buffers: (0..RECEIVE_BUFFERS).map(|_| vec![0; each].into_boxed_slice()).collect(),
            states: vec![SlotState::Free; RECEIVE_BUFFERS],
            filled: VecDeque::with_capacity(RECEIVE_BUFFERS),
        }
    }

    /// Posts the free buffers: all of them when none is posted (the device has nowhere
    /// to write), else once half are free, so that a stream of small reads does not cost
    /// a notification (a VM exit) each.
    fn post(&mut self, transport: &SharedTransport) -> Result<(), SerialError> {
        let free = self.states.iter().filter(|&&state| state == SlotState::Free).count();
        let posted = self.states.iter().filter(|state| matches!(state, SlotState::Posted(_))).count();
        if free == 0 || (posted > 0 && free < RECEIVE_BUFFERS / 2) {
            return Ok(());
        }
        for (buffer, state) in self.buffers.iter_mut().zip(self.states.iter_mut()) {
            if *state == SlotState::Free {
                // SAFETY: the buffer is owned by `self` and not touched until `pop_used`
                // returns it (its state says it is lent).
                let token = unsafe { self.queue.add(&[], &mut [&mut buffer[..]]) }?;
                *state = SlotState::Posted(token);
            }
        }
        if self.queue.should_notify() {
            notify(transport, self.index);
        }
        Ok(())
    }

    /// Takes back every buffer the device has filled, in its order.
    fn finish(&mut self) -> Result<(), SerialError> {
        while let Some(used) = self.queue.peek_used() {
            let Some(slot) = self.states.iter().position(|&state| state == SlotState::Posted(used)) else {
                return Err(SerialError::Device(virtio_drivers::Error::WrongToken));
            };
            // SAFETY: buffer `slot` is the one `post` lent under this token.
            let len = unsafe { self.queue.pop_used(used, &[], &mut [&mut self.buffers[slot][..]]) }?;
            self.states[slot] = SlotState::Filled;
            self.filled.push_back((slot, 0, (len as usize).min(self.buffers[slot].len())));
        }
        Ok(())
    }

    /// Copies what has arrived into `out` (from as many buffers as it fills) and posts
    /// the emptied buffers again.
    fn read(&mut self, out: &mut [u8], transport: &SharedTransport) -> Result<usize, SerialError> {
        self.finish()?;
        let mut count = 0;
        while count < out.len() {
            let Some((slot, at, received)) = self.filled.front_mut() else { break };
            let available = &self.buffers[*slot][*at..*received];
            let take = available.len().min(out.len() - count);
            out[count..count + take].copy_from_slice(&available[..take]);
            count += take;
            *at += take;
            if *at == *received {
                self.states[*slot] = SlotState::Free;
                self.filled.pop_front();
            }
        }
        self.post(transport)?;
        Ok(count)
    }

    fn readable(&mut self) -> bool {
        let _ = self.finish();
        self.filled.iter().any(|&(_, at, received)| at < received)
    }

    /// One wait for input: the device may interrupt while `wait` runs, unless a buffer
    /// came back already (then no wait at all).
    fn wait_for_input(&mut self, wait: &mut dyn Waiting) -> Wait {
        if self.readable() {
            return Wait::Continue;
        }
        armed_wait(&mut self.queue, wait)
    }
}

/// One step of `wait`; when the step halts the CPU, with the device allowed to
/// interrupt as it gives a buffer of `queue` back (and no step at all when one is back
/// already: its interrupt may have been suppressed). The queue is quiet otherwise: a
/// busy device costs no interrupts while the driver spins or works.
fn armed_wait<H: Hal, const SIZE: usize>(queue: &mut VirtQueue<H, SIZE>, wait: &mut dyn Waiting) -> Wait {
    if !wait.halts_next() {
        return wait.wait();
    }
    queue.set_dev_notify(true);
    // The flag must be visible before the used ring is read again: a buffer given back
    // after this look interrupts, one given back before it is seen here.
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    let verdict = if queue.can_pop() { Wait::Continue } else { wait.wait() };
    queue.set_dev_notify(false);
    verdict
}

/// A transmit the device has not given back yet: its token and where its bytes sit in
/// the staging ring.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    token: u16,
    start: usize,
    len: usize,
}

/// A virtqueue the driver writes through a staging ring: a write is copied in, handed
/// to the device and returns without waiting for the device to finish, so small writes
/// cost no exit each and large ones overlap with the host draining the previous piece.
/// The device is notified only when it may be idle (everything handed to it before was
/// already back when the new piece was queued); [`Transmitter::flush`] waits until the
/// device has taken everything (before the VM ends or the program waits for input).
struct Transmitter<H: Hal, const SIZE: usize> {
    queue: VirtQueue<H, SIZE>,
    index: u16,
    ring: Box<[u8]>,
    /// Largest piece a write is cut into (a control message must go whole; a port's
    /// pieces are a quarter of its ring, so that several are in flight at once).
    max_piece: usize,
    /// Where the next piece goes when it fits there.
    head: usize,
    /// Oldest first; device-readable bytes of `ring` until given back.
    in_flight: VecDeque<InFlight>,
    /// Pieces queued since the device was last notified.
    unannounced: bool,
    /// Small writes gathered into one piece not yet handed to the device: where it
    /// starts in the ring (a [`COALESCE_BYTES`] slot kept free for it) and its length.
    gathering: Option<(usize, usize)>,
    /// When the device was last notified ([`Clock`] nanoseconds).
    notified_ns: u64,
    clock: Clock,
}

/// A monotonic clock in nanoseconds, the caller's: paces notifications.
pub type Clock = fn() -> u64;

/// How long after a notification small writes are gathered rather than handed over: a
/// burst of tiny writes then costs the host one buffer and the guest one notification
/// (a VM exit) per gathered piece instead of one per write.
const NOTIFY_HOLDOFF_NS: u64 = 200_000;

/// Waits for room in a full ring between two repeated notifications (a wait lasts
/// until the device gives a piece back, or about a millisecond when it does not).
const ROOM_WAITS_PER_NOTIFY: u32 = 64;

/// Writes smaller than this are gathered into one piece of at most this size (the host
/// then moves one buffer, not one per write), handed to the device after the holdoff,
/// when full, before a larger write, or when the caller kicks.
const COALESCE_BYTES: usize = 4096;

impl<H: Hal, const SIZE: usize> Transmitter<H, SIZE> {
    fn new(mut queue: VirtQueue<H, SIZE>, index: u16, bytes: usize, max_piece: usize, clock: Clock) -> Self {
        // Quiet until the driver waits for room (see `armed_wait`).
        queue.set_dev_notify(false);
        Transmitter {
            notified_ns: 0,
            clock,
            queue,
            index,
            ring: vec![0; bytes].into_boxed_slice(),
            max_piece,
            head: 0,
            in_flight: VecDeque::new(),
            unannounced: false,
            gathering: None,
        }
    }

    /// Takes back what the device has finished with.
    fn reclaim(&mut self) -> Result<(), SerialError> {
        while let Some(token) = self.queue.peek_used() {
            let Some(position) = self.in_flight.iter().position(|piece| piece.token == token) else {
                return Err(SerialError::Device(virtio_drivers::Error::WrongToken));
            };
            let piece = self.in_flight[position];
            // SAFETY: the same ring bytes `queue_piece` lent with this token.
            unsafe { self.queue.pop_used(token, &[&self.ring[piece.start..piece.start + piece.len]], &mut []) }?;
            self.in_flight.remove(position);
        }
        if self.in_flight.is_empty() {
            self.head = 0;
        }
        Ok(())
    }

    /// Where `len` bytes fit in the ring now, if they do.
    fn room(&self, len: usize) -> Option<usize> {
        if self.queue.available_desc() == 0 {
            return None;
        }
        let Some(oldest) = self.in_flight.front() else { return Some(0) };
        if self.head > oldest.start {
            if self.ring.len() - self.head >= len {
                return Some(self.head);
            }
            // Wrap: the space before the oldest piece.
            return (oldest.start >= len).then_some(0);
        }
        (oldest.start - self.head >= len).then_some(self.head)
    }

    fn notify(&mut self, transport: &SharedTransport) {
        notify(transport, self.index);
        self.unannounced = false;
        self.notified_ns = (self.clock)();
    }

    /// Queues `chunk` (at most `max_piece` bytes) once it fits; false when `wait`
    /// gave up first.
    fn queue_piece(
        &mut self,
        chunk: &[u8],
        transport: &SharedTransport,
        wait: &mut dyn Waiting,
    ) -> Result<bool, SerialError> {
        let Some(at) = self.wait_for_room(chunk.len(), transport, wait)? else { return Ok(false) };
        self.ring[at..at + chunk.len()].copy_from_slice(chunk);
        self.hand_over(at, chunk.len(), transport)?;
        Ok(true)
    }

    /// Waits for room for `len` bytes; where they fit, or `None` when `wait` gave up.
    fn wait_for_room(
        &mut self,
        len: usize,
        transport: &SharedTransport,
        wait: &mut dyn Waiting,
    ) -> Result<Option<usize>, SerialError> {
        let mut waits = 0u32;
        loop {
            self.reclaim()?;
            if let Some(at) = self.room(len) {
                return Ok(Some(at));
            }
            // Full: the device must be working on what it has; make sure it knows, and
            // now and then again (a notification that raced with the device going idle
            // must not leave the ring full forever).
            if self.unannounced || waits % ROOM_WAITS_PER_NOTIFY == ROOM_WAITS_PER_NOTIFY - 1 {
                self.notify(transport);
            }
            waits = waits.wrapping_add(1);
            if armed_wait(&mut self.queue, wait) == Wait::Abort {
                return Ok(None);
            }
        }
    }

    /// Hands the gathered small writes to the device as one piece.
    fn publish(&mut self, transport: &SharedTransport) -> Result<(), SerialError> {
        let Some((at, len)) = self.gathering.take() else { return Ok(()) };
        if len == 0 {
            return Ok(());
        }
        self.hand_over(at, len, transport)
    }

    /// Adds `ring[at..at + len]` to the queue and notifies the device if it may be idle
    /// (and the holdoff allows it, for small pieces).
    fn hand_over(&mut self, at: usize, len: usize, transport: &SharedTransport) -> Result<(), SerialError> {
        // SAFETY: these ring bytes are not written again until `reclaim` pops this token.
        let token = unsafe { self.queue.add(&[&self.ring[at..at + len]], &mut []) }?;
        self.in_flight.push_back(InFlight { token, start: at, len });
        self.head = at + len;
        self.unannounced = true;
        // A busy device finds the new piece by itself: it looks at the ring again after
        // giving back each piece, so if anything older is still out it will. The fence
        // orders the ring update before reading the used ring.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.reclaim()?;
        if self.in_flight.len() == 1 {
            self.notify(transport);
        }
        Ok(())
    }

    /// Gathers a small write; false when `wait` gave up before there was room.
    fn gather(
        &mut self,
        bytes: &[u8],
        transport: &SharedTransport,
        wait: &mut dyn Waiting,
    ) -> Result<bool, SerialError> {
        if self.gathering.is_some_and(|(_, len)| len + bytes.len() > COALESCE_BYTES) {
            self.publish(transport)?;
        }
        let (at, len) = match self.gathering {
            Some(slot) => slot,
            None => match self.wait_for_room(COALESCE_BYTES, transport, wait)? {
                Some(at) => (at, 0),
                None => return Ok(false),
            },
        };
        self.ring[at + len..at + len + bytes.len()].copy_from_slice(bytes);
        self.gathering = Some((at, len + bytes.len()));
        if (self.clock)().saturating_sub(self.notified_ns) >= NOTIFY_HOLDOFF_NS {
            self.publish(transport)?;
        }
        Ok(true)
    }

    /// Queues all of `bytes`; returns the count queued when `wait` aborts.
    fn write(
        &mut self,
        bytes: &[u8],
        transport: &SharedTransport,
        wait: &mut dyn Waiting,
    ) -> Result<usize, SerialError> {
        if bytes.len() < COALESCE_BYTES.min(self.max_piece + 1) && self.ring.len() >= 4 * COALESCE_BYTES {
            return Ok(if self.gather(bytes, transport, wait)? { bytes.len() } else { 0 });
        }
        self.publish(transport)?;
        let mut written = 0;
        for chunk in bytes.chunks(self.max_piece) {
            if !self.queue_piece(chunk, transport, wait)? {
                return Ok(written);
            }
            written += chunk.len();
        }
        Ok(written)
    }

    /// Notifies the device if anything is still out (cheap insurance before the
    /// program blocks: a notification lost to a race with the device going idle).
    fn kick(&mut self, transport: &SharedTransport) -> Result<(), SerialError> {
        self.publish(transport)?;
        self.reclaim()?;
        if !self.in_flight.is_empty() {
            self.notify(transport);
        }
        Ok(())
    }

    /// Waits until the device has taken everything queued; false when `wait` gave up.
    fn flush(&mut self, transport: &SharedTransport, wait: &mut dyn Waiting) -> Result<bool, SerialError> {
        self.publish(transport)?;
        let mut waits = 0u32;
        loop {
            self.reclaim()?;
            if self.in_flight.is_empty() {
                return Ok(true);
            }
            // Notify again now and then: a notification that raced with the device going
            // idle must not leave the bytes waiting forever.
            if self.unannounced || waits.is_multiple_of(4096) {
                self.notify(transport);
            }
            waits = waits.wrapping_add(1);
            if armed_wait(&mut self.queue, wait) == Wait::Abort {
                return Ok(false);
            }
        }
    }
}

/// One port of the device: a byte stream each way.
pub struct Port<H: Hal> {
    id: u32,
    transport: SharedTransport,
    receiver: Receiver<H>,
    transmitter: Transmitter<H, TRANSMIT_QUEUE_SIZE>,
}

// SAFETY: the queues' DMA memory belongs to this port alone and the shared transport is
// behind a lock; moving the port to another context moves that ownership with it.
unsafe impl<H: Hal> Send for Port<H> {}

impl<H: Hal> Port<H> {
    /// The port's id (its `nr` in QEMU).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Copies bytes that have arrived into `out`; 0 when none are available now.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, SerialError> {
        self.receiver.read(out, &self.transport)
    }

    /// Whether bytes are waiting to be read.
    pub fn readable(&mut self) -> bool {
        self.receiver.readable()
    }

    /// One step of waiting for bytes to arrive: calls `wait` (unless some are there)
    /// with the device allowed to interrupt when they do.
    pub fn wait_for_input(&mut self, wait: &mut dyn Waiting) -> Wait {
        self.receiver.wait_for_input(wait)
    }

    /// Writes `bytes`, returning once the device has them all queued (it reads them
    /// from the staging ring as the host drains the port), or when `wait` (called while
    /// the ring is full) aborts: then the count queued.
    pub fn write(&mut self, bytes: &[u8], wait: &mut dyn Waiting) -> Result<usize, SerialError> {
        self.transmitter.write(bytes, &self.transport, wait)
    }

    /// Makes sure the device knows about every byte written (no waiting).
    pub fn kick(&mut self) -> Result<(), SerialError> {
        self.transmitter.kick(&self.transport)
    }

    /// Waits until the device has taken every byte written; false when `wait` aborts.
    pub fn flush(&mut self, wait: &mut dyn Waiting) -> Result<bool, SerialError> {
        self.transmitter.flush(&self.transport, wait)
    }
}

/// The control receive queue, with several buffers posted.
struct ControlReceiver<H: Hal> {
    queue: VirtQueue<H, CONTROL_BUFFERS>,
    /// Each buffer and the token it is lent under.
    buffers: Vec<(Box<[u8]>, Option<u16>)>,
}

impl<H: Hal> ControlReceiver<H> {
    fn post_all(&mut self, transport: &SharedTransport) -> Result<(), SerialError> {
        for (buffer, token) in &mut self.buffers {
            if token.is_none() {
                // SAFETY: the buffer is owned by `self` and not touched until `pop_used`
                // returns it.
                *token = Some(unsafe { self.queue.add(&[], &mut [&mut buffer[..]]) }?);
            }
        }
        if self.queue.should_notify() {
            notify(transport, CONTROL_RECEIVE);
        }
        Ok(())
    }

    /// The next message the device sent, copied out, with the buffer posted again.
    fn next(&mut self, transport: &SharedTransport) -> Result<Option<[u8; CONTROL_MESSAGE]>, SerialError> {
        let Some(used) = self.queue.peek_used() else { return Ok(None) };
        let Some((buffer, token)) = self.buffers.iter_mut().find(|(_, token)| *token == Some(used)) else {
            return Err(SerialError::Device(virtio_drivers::Error::WrongToken));
        };
        // SAFETY: the same buffer `post_all` lent with this token.
        let len = unsafe { self.queue.pop_used(used, &[], &mut [&mut buffer[..]]) }?;
        *token = None;
        let mut message = [0u8; CONTROL_MESSAGE];
        let complete = len as usize >= CONTROL_MESSAGE;
        if complete {
            message.copy_from_slice(&buffer[..CONTROL_MESSAGE]);
        }
        self.post_all(transport)?;
        Ok(complete.then_some(message))
    }
}

/// The device's control channel; it must outlive the ports (the device may still
/// write into its posted buffers).
pub struct Control<H: Hal> {
    transport: SharedTransport,
    receiver: ControlReceiver<H>,
    transmitter: Transmitter<H, QUEUE_SIZE>,
}

// SAFETY: as for `Port`.
unsafe impl<H: Hal> Send for Control<H> {}

impl<H: Hal> Control<H> {
    fn send(&mut self, id: u32, event: u16, value: u16, wait: &mut dyn Waiting) -> Result<bool, SerialError> {
        let mut message = [0u8; CONTROL_MESSAGE];
        message[0..4].copy_from_slice(&id.to_le_bytes());
        message[4..6].copy_from_slice(&event.to_le_bytes());
        message[6..8].copy_from_slice(&value.to_le_bytes());
        Ok(self.transmitter.write(&message, &self.transport, wait)? == CONTROL_MESSAGE
            && self.transmitter.flush(&self.transport, wait)?)
    }

    /// The next control message from the device: (id, event, value), if one came (a
    /// port name riding after its header is dropped).
    fn receive(&mut self) -> Result<Option<(u32, u16, u16)>, SerialError> {
        let Some(message) = self.receiver.next(&self.transport)? else { return Ok(None) };
        let id = u32::from_le_bytes([message[0], message[1], message[2], message[3]]);
        let event = u16::from_le_bytes([message[4], message[5]]);
        let value = u16::from_le_bytes([message[6], message[7]]);
        Ok(Some((id, event, value)))
    }
}

/// Initializes the multiport device behind `transport` and opens ports `ids` (each
/// 1..=30). `clock` paces transmit notifications; `wait` paces the handshake with the
/// device and may give up.
pub fn open<H: Hal>(
    mut transport: MmioTransport<'static>,
    ids: &[u32],
    clock: Clock,
    wait: &mut dyn Waiting,
) -> Result<(Control<H>, Vec<Port<H>>), SerialError> {
    if transport.device_type() != DeviceType::Console {
        return Err(SerialError::NotAConsole(transport.device_type()));
    }
    if let Some(&bad) = ids.iter().find(|&&id| id == 0 || id > 30) {
        return Err(SerialError::BadPort(bad));
    }
    let features = transport.begin_init(ConsoleFeatures::MULTIPORT | ConsoleFeatures::VERSION_1);
    if !features.contains(ConsoleFeatures::MULTIPORT) {
        return Err(SerialError::NoMultiport);
    }
    let control_receive = VirtQueue::new(&mut transport, CONTROL_RECEIVE, false, false)?;
    let control_transmit = VirtQueue::new(&mut transport, CONTROL_TRANSMIT, false, false)?;
    let mut queues = Vec::new();
    for &id in ids {
        let (receive, transmit) = port_queues(id);
        queues.push((
            id,
            VirtQueue::new(&mut transport, receive, false, false)?,
            VirtQueue::<H, TRANSMIT_QUEUE_SIZE>::new(&mut transport, transmit, false, false)?,
        ));
    }
    transport.finish_init();
    let transport: SharedTransport = Arc::new(spin::Mutex::new(transport));
    let mut control = Control {
        transport: Arc::clone(&transport),
        receiver: ControlReceiver {
            queue: control_receive,
            buffers: (0..CONTROL_BUFFERS).map(|_| (vec![0; CONTROL_BYTES].into_boxed_slice(), None)).collect(),
        },
        transmitter: Transmitter::new(
            control_transmit,
            CONTROL_TRANSMIT,
            QUEUE_SIZE * CONTROL_MESSAGE,
            CONTROL_MESSAGE,
            clock,
        ),
    };
    control.receiver.post_all(&transport)?;
    let mut ports: Vec<Port<H>> = Vec::new();
    for (id, receive, transmit) in queues {
        let (receive_index, transmit_index) = port_queues(id);
        let mut port = Port {
            id,
            transport: Arc::clone(&transport),
            receiver: Receiver::new(receive, receive_index, RECEIVE_BYTES),
            transmitter: Transmitter::new(transmit, transmit_index, TRANSMIT_BYTES, TRANSMIT_BYTES / 4, clock),
        };
        port.receiver.post(&transport)?;
        ports.push(port);
    }
    if !control.send(0, DEVICE_READY, 1, wait)? {
        return Err(SerialError::PortsMissing);
    }
    // The device announces each port (DEVICE_ADD); each must be answered PORT_READY,
    // then opened from our side (PORT_OPEN) so that the host may send to it.
    let mut ready = vec![false; ids.len()];
    while ready.iter().any(|r| !r) {
        match control.receive()? {
            Some((id, DEVICE_ADD, _)) => {
                let wanted = ids.iter().position(|&wanted| wanted == id);
                if !control.send(id, PORT_READY, u16::from(wanted.is_some()), wait)? {
                    return Err(SerialError::PortsMissing);
                }
                if let Some(index) = wanted {
                    ready[index] = true;
                }
            }
            Some(_) => {}
            None => {
                if wait.wait() == Wait::Abort {
                    return Err(SerialError::PortsMissing);
                }
            }
        }
    }
    for &id in ids {
        if !control.send(id, PORT_OPEN, 1, wait)? {
            return Err(SerialError::PortsMissing);
        }
    }
    Ok((control, ports))
}
