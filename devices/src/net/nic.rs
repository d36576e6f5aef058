//! The network card as the stack sees it: frames in, frames out, a MAC address.
//!
//! Implemented here for virtio-net over `virtio-drivers`' virtqueues and transport (receive
//! buffers stay posted and are recycled after smoltcp has read them; transmits are queued
//! without waiting and the device is notified once per batch). Tests implement it with an
//! in-memory wire.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use bitflags::bitflags;
use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::Transport;

use super::transport::NOTIFIES;

/// Bytes kept before a transmit frame for the virtio-net header (12 bytes, or 10 for a
/// legacy device): the frame always starts at this offset.
const HEADER_ROOM: usize = 16;

/// A network card that moves whole Ethernet frames.
pub trait Nic {
    /// A received frame, lent by the card until [`Nic::recycle`].
    type Rx;
    /// A frame being built for transmission.
    type Tx;

    /// The card's Ethernet address.
    fn mac(&self) -> [u8; 6];
    /// The next received frame, if one has arrived.
    fn receive(&mut self) -> Option<Self::Rx>;
    /// The bytes of a received frame (Ethernet header first).
    fn rx_bytes(rx: &Self::Rx) -> &[u8];
    /// Gives a received frame's buffer back to the card.
    fn recycle(&mut self, rx: Self::Rx);
    /// Whether a frame can be sent now (reclaiming finished transmits).
    fn can_send(&mut self) -> bool;
    /// A transmit buffer of `len` bytes.
    fn tx_buffer(&mut self, len: usize) -> Self::Tx;
    /// The bytes of a transmit buffer, to fill in.
    fn tx_bytes(tx: &mut Self::Tx) -> &mut [u8];
    /// Sends a filled transmit buffer; false if the card refused it (the frame is lost,
    /// which TCP recovers from).
    fn send(&mut self, tx: Self::Tx) -> bool;
    /// Whether a received frame is waiting (a look at memory the card shares, no device
    /// access: cheap enough to spin on).
    fn frame_waiting(&self) -> bool;
    /// Lets the card interrupt when it hands back a buffer (`true`, before the caller
    /// sleeps on it) or stops it (`false`, while the caller polls). Only shared memory
    /// is written, no device register: under PVM every register access is an exit, and
    /// one that QEMU handles waits for its main loop's lock, which the busy network
    /// holds (measured: 0.2–0.5 ms per access under load). A card without interrupts
    /// has nothing to do.
    fn set_interrupts(&mut self, _enabled: bool) {}
    /// Tells the card about the frames sent since the last flush (one notification for a
    /// batch). A card that sends at once has nothing to do.
    fn flush(&mut self) {}
}

/// Descriptors of each virtio-net queue: receive buffers kept posted, transmits in flight.
pub const VIRTIO_QUEUE_SIZE: usize = 128;
/// Bytes of each receive and transmit buffer: a full Ethernet frame plus the virtio-net
/// header.
pub const VIRTIO_BUFFER_BYTES: usize = 2048;

const QUEUE_RECEIVE: u16 = 0;
const QUEUE_TRANSMIT: u16 = 1;
/// The virtio-net header: 12 bytes (`num_buffers` included) for a virtio 1.0 device, 10
/// for a legacy one. All zero: no checksum offload, no segmentation.
const HEADER_BYTES: usize = 12;
const LEGACY_HEADER_BYTES: usize = 10;

bitflags! {
    /// The virtio-net features this driver takes (virtio 1.2, 5.1.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct NetFeatures: u64 {
        /// The device has a MAC address in its config space.
        const MAC = 1 << 5;
        /// A virtio 1.0 device (not legacy).
        const VERSION_1 = 1 << 32;
    }
}

/// A received frame: its buffer and where the frame sits in it.
pub struct VirtioRx {
    buffer: Box<[u8]>,
    start: usize,
    len: usize,
}

/// A transmit the device holds: its buffer and the bytes lent to the device.
type Lent = (Box<[u8]>, core::ops::Range<usize>);

/// A frame being built: header room first, then `len` frame bytes.
pub struct VirtioTx {
    buffer: Box<[u8]>,
    len: usize,
}

/// The virtio-net card, driven over `virtio-drivers`' `VirtQueue` and `Transport` (its
/// own `VirtIONetRaw` notifies the device inside every transmit and tests event indices
/// in a way that notifies for every recycled receive buffer; see `transport`). Receive
/// buffers stay posted; a transmit is queued and reclaimed once the device used it, and
/// the device is notified once per batch ([`Nic::flush`]), only when its `NO_NOTIFY`
/// flag asks for it. No event indices (`VIRTIO_F_EVENT_IDX` is not negotiated).
pub struct VirtioNic<H: Hal, T: Transport> {
    transport: T,
    rx: VirtQueue<H, VIRTIO_QUEUE_SIZE>,
    tx: VirtQueue<H, VIRTIO_QUEUE_SIZE>,
    mac: [u8; 6],
    /// Posted receive buffers, by descriptor token.
    posted: Vec<Option<Box<[u8]>>>,
    /// Transmits the device has not used yet, by token, with the range lent.
    in_flight: Vec<Option<Lent>>,
    /// Transmit buffers to reuse (at most a queue's worth exist).
    spare: Vec<Box<[u8]>>,
    header_len: usize,
    /// Frames queued since the device was last told.
    unannounced: bool,
}

impl<H: Hal, T: Transport> VirtioNic<H, T> {
    /// Initializes the device and posts every receive buffer.
    pub fn new(mut transport: T) -> Result<Self, virtio_drivers::Error> {
        let features = transport.begin_init(NetFeatures::MAC | NetFeatures::VERSION_1);
        let mac: [u8; 6] =
            if features.contains(NetFeatures::MAC) { transport.read_config_space(0)? } else { [2, 0, 0, 0, 0, 1] };
        let rx = VirtQueue::new(&mut transport, QUEUE_RECEIVE, false, false)?;
        let tx = VirtQueue::new(&mut transport, QUEUE_TRANSMIT, false, false)?;
        transport.finish_init();
        let header_len = if features.contains(NetFeatures::VERSION_1) { HEADER_BYTES } else { LEGACY_HEADER_BYTES };
        let mut nic = VirtioNic {
            transport,
            rx,
            tx,
            mac,
            posted: (0..VIRTIO_QUEUE_SIZE).map(|_| None).collect(),
            in_flight: (0..VIRTIO_QUEUE_SIZE).map(|_| None).collect(),
            spare: Vec::new(),
            header_len,
            unannounced: false,
        };
        // Quiet until someone sleeps on the card.
        nic.set_interrupts(false);
        for _ in 0..VIRTIO_QUEUE_SIZE {
            nic.post(vec![0; VIRTIO_BUFFER_BYTES].into_boxed_slice())?;
        }
        Ok(nic)
    }

    fn notify(&mut self, queue: u16) {
        NOTIFIES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        self.transport.notify(queue);
    }

    fn post(&mut self, mut buffer: Box<[u8]>) -> Result<(), virtio_drivers::Error> {
        // SAFETY: the buffer's heap block is kept in `posted` under its token and not
        // touched until the device hands the token back (`receive`).
        let token = unsafe { self.rx.add(&[], &mut [&mut buffer]) }?;
        let slot = self.posted.get_mut(usize::from(token)).ok_or(virtio_drivers::Error::WrongToken)?;
        *slot = Some(buffer);
        // QEMU asks for this only when it ran out of receive buffers.
        if self.rx.should_notify() {
            self.notify(QUEUE_RECEIVE);
        }
        Ok(())
    }

    /// Takes back the transmit buffers the device has used.
    fn reclaim(&mut self) {
        while let Some(token) = self.tx.peek_used() {
            let Some((buffer, lent)) = self.in_flight.get_mut(usize::from(token)).and_then(Option::take) else {
                return;
            };
            // SAFETY: the same bytes `send` gave `add` for this token.
            let _ = unsafe { self.tx.pop_used(token, &[&buffer[lent]], &mut []) };
            self.spare.push(buffer);
        }
    }
}

impl<H: Hal, T: Transport> Nic for VirtioNic<H, T> {
    type Rx = VirtioRx;
    type Tx = VirtioTx;

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn receive(&mut self) -> Option<VirtioRx> {
        let token = self.rx.peek_used()?;
        let mut buffer = self.posted.get_mut(usize::from(token)).and_then(Option::take)?;
        // SAFETY: the buffer `post` lent under this token, which the device gave back.
        let used = unsafe { self.rx.pop_used(token, &[], &mut [&mut buffer]) }.ok()? as usize;
        let len = used.saturating_sub(self.header_len).min(buffer.len() - self.header_len);
        Some(VirtioRx { buffer, start: self.header_len, len })
    }

    fn rx_bytes(rx: &VirtioRx) -> &[u8] {
        &rx.buffer[rx.start..rx.start + rx.len]
    }

    fn recycle(&mut self, rx: VirtioRx) {
        // Fails only if the queue is full, which cannot be: this buffer's slot is free.
        let _ = self.post(rx.buffer);
    }

    fn can_send(&mut self) -> bool {
        self.reclaim();
        self.tx.available_desc() >= 1
    }

    fn tx_buffer(&mut self, len: usize) -> VirtioTx {
        self.reclaim();
        let buffer = self.spare.pop().unwrap_or_else(|| vec![0; VIRTIO_BUFFER_BYTES].into_boxed_slice());
        VirtioTx { buffer, len: len.min(VIRTIO_BUFFER_BYTES - HEADER_ROOM) }
    }

    fn tx_bytes(tx: &mut VirtioTx) -> &mut [u8] {
        &mut tx.buffer[HEADER_ROOM..HEADER_ROOM + tx.len]
    }

    fn frame_waiting(&self) -> bool {
        self.rx.can_pop()
    }

    fn set_interrupts(&mut self, enabled: bool) {
        // Virtio's VRING_AVAIL_F_NO_INTERRUPT in each queue's available ring. The line's
        // status is never acknowledged: QEMU asserts it again for every used buffer
        // and an edge-triggered I/O APIC line delivers every assertion.
        self.rx.set_dev_notify(enabled);
        self.tx.set_dev_notify(enabled);
    }

    fn flush(&mut self) {
        if core::mem::take(&mut self.unannounced) && self.tx.should_notify() {
            self.notify(QUEUE_TRANSMIT);
        }
    }

    fn send(&mut self, tx: VirtioTx) -> bool {
        let VirtioTx { mut buffer, len } = tx;
        let total = HEADER_ROOM + len;
        // The frame was written after HEADER_ROOM bytes; the (all-zero) header goes
        // right before it.
        let start = HEADER_ROOM - self.header_len;
        buffer[start..HEADER_ROOM].fill(0);
        // SAFETY: the heap block is kept in `in_flight` under its token and not touched
        // until the device has used it (`reclaim`).
        let token = match unsafe { self.tx.add(&[&buffer[start..total]], &mut []) } {
            Ok(token) => token,
            Err(_) => {
                self.spare.push(buffer);
                return false;
            }
        };
        self.unannounced = true;
        match self.in_flight.get_mut(usize::from(token)) {
            Some(slot) => {
                *slot = Some((buffer, start..total));
                true
            }
            None => false,
        }
    }
}
