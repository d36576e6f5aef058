//! smoltcp's `Device` over any [`Nic`]: tokens borrow one frame each, no copies.
//!
//! A received frame goes back to the card on the next `receive` (smoltcp reads it
//! inside the token's closure, after which the buffer is free again).

use alloc::vec::Vec;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::nic::Nic;

/// The largest Ethernet frame (header included) sent or received: no jumbo frames.
pub const ETHERNET_MTU: usize = 1514;

/// A [`Nic`] as a smoltcp device.
pub struct NicDevice<N: Nic> {
    nic: N,
    /// Frames smoltcp has read, to hand back to the card.
    used: Vec<N::Rx>,
    /// Frames the card refused to send.
    pub dropped: u64,
    /// Frames received and sent (for the kernel's figures).
    pub received: u64,
    pub sent: u64,
}

impl<N: Nic> NicDevice<N> {
    pub fn new(nic: N) -> Self {
        NicDevice { nic, used: Vec::new(), dropped: 0, received: 0, sent: 0 }
    }

    /// The card.
    pub fn nic(&self) -> &N {
        &self.nic
    }

    /// The card, mutably (interrupt acknowledgement and the like).
    pub fn nic_mut(&mut self) -> &mut N {
        &mut self.nic
    }

    fn recycle(&mut self) {
        for rx in self.used.drain(..) {
            self.nic.recycle(rx);
        }
    }
}

/// One received frame.
pub struct RxToken<'a, N: Nic> {
    frame: N::Rx,
    used: &'a mut Vec<N::Rx>,
}

/// Permission to send one frame.
pub struct TxToken<'a, N: Nic> {
    nic: &'a mut N,
    dropped: &'a mut u64,
    sent: &'a mut u64,
}

impl<N: Nic> phy::RxToken for RxToken<'_, N> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(N::rx_bytes(&self.frame));
        self.used.push(self.frame);
        result
    }
}

impl<N: Nic> phy::TxToken for TxToken<'_, N> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut tx = self.nic.tx_buffer(len);
        let result = f(N::tx_bytes(&mut tx));
        if self.nic.send(tx) {
            *self.sent += 1;
        } else {
            *self.dropped += 1;
        }
        result
    }
}

impl<N: Nic> Device for NicDevice<N> {
    type RxToken<'a>
        = RxToken<'a, N>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, N>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_, N>, TxToken<'_, N>)> {
        self.recycle();
        let frame = self.nic.receive()?;
        self.received += 1;
        let tx = TxToken { nic: &mut self.nic, dropped: &mut self.dropped, sent: &mut self.sent };
        Some((RxToken { frame, used: &mut self.used }, tx))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_, N>> {
        self.recycle();
        if !self.nic.can_send() {
            return None;
        }
        Some(TxToken { nic: &mut self.nic, dropped: &mut self.dropped, sent: &mut self.sent })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = ETHERNET_MTU;
        caps
    }
}
