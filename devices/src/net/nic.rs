//! The network card as the stack sees it: frames in, frames out, a MAC address.
//!
//! Implemented here for `virtio-drivers`' `VirtIONet` (receive buffers stay posted and
//! are recycled after smoltcp has read them; a transmit returns once the device has
//! taken the frame). Tests implement it with an in-memory wire.

use virtio_drivers::Hal;
use virtio_drivers::device::net::{RxBuffer, TxBuffer, VirtIONet};
use virtio_drivers::transport::Transport;

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
    /// Whether a frame can be sent now.
    fn can_send(&self) -> bool;
    /// A transmit buffer of `len` bytes.
    fn tx_buffer(&mut self, len: usize) -> Self::Tx;
    /// The bytes of a transmit buffer, to fill in.
    fn tx_bytes(tx: &mut Self::Tx) -> &mut [u8];
    /// Sends a filled transmit buffer; false if the card refused it (the frame is lost,
    /// which TCP recovers from).
    fn send(&mut self, tx: Self::Tx) -> bool;
}

/// Receive buffers the virtio-net driver keeps posted.
pub const VIRTIO_RX_BUFFERS: usize = 128;
/// Bytes of each receive buffer: a full Ethernet frame plus the virtio-net header.
pub const VIRTIO_RX_BUFFER_BYTES: usize = 2048;

/// The virtio-net driver of `virtio-drivers` with this crate's queue size.
pub type VirtioNic<H, T> = VirtIONet<H, T, VIRTIO_RX_BUFFERS>;

impl<H: Hal, T: Transport> Nic for VirtIONet<H, T, VIRTIO_RX_BUFFERS> {
    type Rx = RxBuffer;
    type Tx = TxBuffer;

    fn mac(&self) -> [u8; 6] {
        self.mac_address()
    }

    fn receive(&mut self) -> Option<RxBuffer> {
        VirtIONet::receive(self).ok()
    }

    fn rx_bytes(rx: &RxBuffer) -> &[u8] {
        rx.packet()
    }

    fn recycle(&mut self, rx: RxBuffer) {
        // Fails only if the buffer was not this queue's, which `receive` rules out.
        let _ = self.recycle_rx_buffer(rx);
    }

    fn can_send(&self) -> bool {
        VirtIONet::can_send(self)
    }

    fn tx_buffer(&mut self, len: usize) -> TxBuffer {
        self.new_tx_buffer(len)
    }

    fn tx_bytes(tx: &mut TxBuffer) -> &mut [u8] {
        tx.packet_mut()
    }

    fn send(&mut self, tx: TxBuffer) -> bool {
        VirtIONet::send(self, tx).is_ok()
    }
}
