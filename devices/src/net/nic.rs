//! The network card as the stack sees it: frames in, frames out, a MAC address.
//!
//! Implemented here over `virtio-drivers`' raw virtio-net driver (receive buffers stay
//! posted and are recycled after smoltcp has read them; transmits are queued without
//! waiting). Tests implement it with an in-memory wire.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use virtio_drivers::Hal;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;

use super::transport::WithoutEventIdx;

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
    /// Acknowledges the card's interrupt (its line goes low, so the next used buffer
    /// raises it again). A card without interrupts has nothing to do.
    fn acknowledge_interrupt(&mut self) {}
}

/// Descriptors of each virtio-net queue: receive buffers kept posted, transmits in flight.
pub const VIRTIO_QUEUE_SIZE: usize = 128;
/// Bytes of each receive and transmit buffer: a full Ethernet frame plus the virtio-net
/// header.
pub const VIRTIO_BUFFER_BYTES: usize = 2048;

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

/// The virtio-net card over `virtio-drivers`' raw driver, without waiting on the device:
/// receive buffers stay posted, and a transmit is queued (the device is notified only
/// when its `NO_NOTIFY` flag asks to be, see `transport`) and reclaimed once the device
/// used it, so a burst of frames costs one notification rather than one round trip each.
pub struct VirtioNic<H: Hal, T: Transport> {
    raw: VirtIONetRaw<H, WithoutEventIdx<T>, VIRTIO_QUEUE_SIZE>,
    /// Posted receive buffers, by descriptor token.
    posted: Vec<Option<Box<[u8]>>>,
    /// Transmits the device has not used yet, by token, with the range lent.
    in_flight: Vec<Option<Lent>>,
    /// Transmit buffers to reuse (at most a queue's worth exist).
    spare: Vec<Box<[u8]>>,
    header_len: usize,
}

impl<H: Hal, T: Transport> VirtioNic<H, T> {
    /// Initializes the device and posts every receive buffer.
    pub fn new(transport: T) -> Result<Self, virtio_drivers::Error> {
        let raw = VirtIONetRaw::new(WithoutEventIdx::new(transport))?;
        let header_len = raw.fill_buffer_header(&mut [0u8; 64])?;
        let mut nic = VirtioNic {
            raw,
            posted: (0..VIRTIO_QUEUE_SIZE).map(|_| None).collect(),
            in_flight: (0..VIRTIO_QUEUE_SIZE).map(|_| None).collect(),
            spare: Vec::new(),
            header_len,
        };
        for _ in 0..VIRTIO_QUEUE_SIZE {
            nic.post(vec![0; VIRTIO_BUFFER_BYTES].into_boxed_slice())?;
        }
        Ok(nic)
    }

    fn post(&mut self, mut buffer: Box<[u8]>) -> Result<(), virtio_drivers::Error> {
        // SAFETY: the buffer's heap block is kept in `posted` under its token and not
        // touched until the device hands the token back (`receive`).
        let token = unsafe { self.raw.receive_begin(&mut buffer) }?;
        let slot = self.posted.get_mut(usize::from(token)).ok_or(virtio_drivers::Error::WrongToken)?;
        *slot = Some(buffer);
        Ok(())
    }

    /// Takes back the transmit buffers the device has used.
    fn reclaim(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some((buffer, lent)) = self.in_flight.get_mut(usize::from(token)).and_then(Option::take) else {
                return;
            };
            // SAFETY: the same bytes `send` gave `transmit_begin` for this token.
            let _ = unsafe { self.raw.transmit_complete(token, &buffer[lent]) };
            self.spare.push(buffer);
        }
    }
}

impl<H: Hal, T: Transport> Nic for VirtioNic<H, T> {
    type Rx = VirtioRx;
    type Tx = VirtioTx;

    fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    fn receive(&mut self) -> Option<VirtioRx> {
        let token = self.raw.poll_receive()?;
        let mut buffer = self.posted.get_mut(usize::from(token)).and_then(Option::take)?;
        // SAFETY: the buffer posted under this token, handed back by the device.
        let (start, len) = unsafe { self.raw.receive_complete(token, &mut buffer) }.ok()?;
        let len = len.min(buffer.len().saturating_sub(start));
        Some(VirtioRx { buffer, start, len })
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
        self.raw.can_send()
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
        self.raw.poll_receive().is_some()
    }

    fn acknowledge_interrupt(&mut self) {
        self.raw.ack_interrupt();
    }

    fn send(&mut self, tx: VirtioTx) -> bool {
        let VirtioTx { mut buffer, len } = tx;
        let total = HEADER_ROOM + len;
        // The frame was written after HEADER_ROOM bytes; the header goes right before it.
        let start = HEADER_ROOM - self.header_len;
        if self.raw.fill_buffer_header(&mut buffer[start..]).is_err() {
            return false;
        }
        // SAFETY: the heap block is kept in `in_flight` under its token and not touched
        // until the device has used it (`reclaim`).
        let token = match unsafe { self.raw.transmit_begin(&buffer[start..total]) } {
            Ok(token) => token,
            Err(_) => {
                self.spare.push(buffer);
                return false;
            }
        };
        match self.in_flight.get_mut(usize::from(token)) {
            Some(slot) => {
                *slot = Some((buffer, start..total));
                true
            }
            None => false,
        }
    }
}
