//! A virtio 9P transport device (virtio 1.2, 5.11) over the MMIO transport: one
//! request queue, each request a device-readable T-message followed by a
//! device-writable reply buffer. It is the [`Channel`] a 9P session runs over.
//!
//! `virtio-drivers` 0.13 has no 9P device, so this drives its `VirtQueue` and
//! `MmioTransport` itself. Buffers are the session's own (heap memory the `Hal` can
//! share); waiting for a reply is the caller's policy (a callback), as for the serial
//! device. Up to four requests are in flight (a session's bulk reads and writes); a
//! wait never gives up with the device holding a buffer, since the buffer would be
//! freed under it.

use alloc::vec::Vec;

use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::MmioTransport;
use virtio_drivers::transport::{DeviceType, Transport};

use crate::p9::session::{Channel, ChannelError};

/// Descriptors of the request queue (two per request).
const QUEUE_SIZE: usize = 8;
/// The request queue's index.
const REQUEST_QUEUE: u16 = 0;

bitflags::bitflags! {
    /// The feature bits this driver negotiates.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct P9Features: u64 {
        /// The config space holds the export's mount tag.
        const MOUNT_TAG = 1 << 0;
        const VERSION_1 = 1 << 32;
    }
}

/// What went wrong setting up the device.
#[derive(Debug)]
pub enum P9DeviceError {
    /// The slot holds another kind of device.
    Not9P(DeviceType),
    /// The transport or the queue refused.
    Device(virtio_drivers::Error),
}

impl core::fmt::Display for P9DeviceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            P9DeviceError::Not9P(kind) => write!(f, "the slot holds a {kind:?} device, not 9P"),
            P9DeviceError::Device(error) => write!(f, "virtio 9P: {error}"),
        }
    }
}

/// The device, with its mount tag.
pub struct P9Device<H: Hal> {
    transport: MmioTransport<'static>,
    queue: VirtQueue<H, QUEUE_SIZE>,
    tag: Vec<u8>,
    /// Called while the device works on a request (spin, yield, sleep: the caller's policy).
    wait: fn(),
}

// SAFETY: the queue's DMA memory and the register block belong to this device alone;
// moving it moves that ownership.
unsafe impl<H: Hal> Send for P9Device<H> {}

impl<H: Hal> P9Device<H> {
    /// Initializes the device behind `transport`; `wait` is called between polls of
    /// the used ring.
    pub fn new(mut transport: MmioTransport<'static>, wait: fn()) -> Result<Self, P9DeviceError> {
        if transport.device_type() != DeviceType::_9P {
            return Err(P9DeviceError::Not9P(transport.device_type()));
        }
        let features = transport.begin_init(P9Features::MOUNT_TAG | P9Features::VERSION_1);
        let queue = VirtQueue::new(&mut transport, REQUEST_QUEUE, false, false).map_err(P9DeviceError::Device)?;
        transport.finish_init();
        let mut tag = Vec::new();
        if features.contains(P9Features::MOUNT_TAG) {
            let len: u16 = transport.read_config_space(0).map_err(P9DeviceError::Device)?;
            for index in 0..len as usize {
                tag.push(transport.read_config_space::<u8>(2 + index).map_err(P9DeviceError::Device)?);
            }
        }
        Ok(P9Device { transport, queue, tag, wait })
    }

    /// The export's mount tag (empty when the device offers none).
    pub fn mount_tag(&self) -> &[u8] {
        &self.tag
    }
}

impl<H: Hal> Channel for P9Device<H> {
    fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError> {
        // SAFETY: both buffers stay borrowed (alive and untouched) until `pop_used`
        // below gives them back: this function does not return before that.
        let token = unsafe { self.queue.add(&[request], &mut [reply]) }.map_err(|_| ChannelError("queue full"))?;
        if self.queue.should_notify() {
            self.transport.notify(REQUEST_QUEUE);
        }
        while self.queue.peek_used() != Some(token) {
            (self.wait)();
        }
        // SAFETY: the same buffers `add` lent with this token.
        let len = unsafe { self.queue.pop_used(token, &[request], &mut [reply]) }
            .map_err(|_| ChannelError("the device returned another buffer"))?;
        Ok(len as usize)
    }

    fn in_flight(&self) -> usize {
        QUEUE_SIZE / 2
    }

    fn exchange_batch(
        &mut self,
        requests: &[&[u8]],
        replies: &mut [&mut [u8]],
        lengths: &mut [usize],
    ) -> Result<(), ChannelError> {
        let mut tokens = [None; QUEUE_SIZE / 2];
        let mut refused = None;
        for (index, (request, reply)) in requests.iter().zip(replies.iter_mut()).enumerate().take(tokens.len()) {
            // SAFETY: every buffer lent here stays borrowed (alive and untouched) until
            // `pop_used` below gives it back: this function waits for all of them.
            match unsafe { self.queue.add(&[request], &mut [&mut reply[..]]) } {
                Ok(token) => tokens[index] = Some(token),
                Err(_) => {
                    refused = Some(ChannelError("queue full"));
                    break;
                }
            }
        }
        if requests.len() > tokens.len() {
            refused = Some(ChannelError("more requests than the queue holds"));
        }
        if tokens.iter().any(Option::is_some) && self.queue.should_notify() {
            self.transport.notify(REQUEST_QUEUE);
        }
        // The server answers in any order: take each reply as it comes.
        while tokens.iter().any(Option::is_some) {
            let Some(used) = self.queue.peek_used() else {
                (self.wait)();
                continue;
            };
            let Some(index) = tokens.iter().position(|&token| token == Some(used)) else {
                return Err(ChannelError("the device returned another buffer"));
            };
            // SAFETY: the same buffers `add` lent with this token.
            let len = unsafe { self.queue.pop_used(used, &[requests[index]], &mut [&mut replies[index][..]]) }
                .map_err(|_| ChannelError("the device returned another buffer"))?;
            lengths[index] = len as usize;
            tokens[index] = None;
        }
        refused.map_or(Ok(()), Err)
    }
}
