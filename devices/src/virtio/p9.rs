//! A virtio 9P transport device (virtio 1.2, 5.11) over the MMIO transport: one
//! request queue, each request a device-readable T-message followed by a
//! device-writable reply buffer. It is the [`Channel`] a 9P session runs over.
//!
//! `virtio-drivers` 0.13 has no 9P device, so this drives its `VirtQueue` and
//! `MmioTransport` itself. Buffers are the session's own (heap memory the `Hal` can
//! share); waiting for a reply is the caller's policy (a callback), as for the serial
//! device. Up to four requests are in flight together (a session's bulk reads and
//! writes), besides up to [`MAX_POSTED`] posted ones (clunks, clones and reads made
//! ahead), whose buffers the device owns until their replies come in. A wait never
//! gives up with the device holding a buffer, since the buffer would be freed under it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::MmioTransport;
use virtio_drivers::transport::{DeviceType, Transport};

use crate::p9::session::{Channel, ChannelError};

/// Requests a bulk transfer has in flight together.
const BATCH: usize = 4;
/// Posted requests in flight at most (their replies wait in the device's buffers).
pub const MAX_POSTED: usize = 8;
/// Descriptors of the request queue: two per request, a batch and the posted ones.
const QUEUE_SIZE: usize = 32;
const _: () = assert!(2 * (BATCH + MAX_POSTED) <= QUEUE_SIZE);
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

/// A request sent without waiting: its token and the buffers the device holds.
struct Posted {
    token: u16,
    request: Vec<u8>,
    reply: Vec<u8>,
}

/// The device, with its mount tag.
pub struct P9Device<H: Hal> {
    transport: MmioTransport<'static>,
    queue: VirtQueue<H, QUEUE_SIZE>,
    tag: Vec<u8>,
    /// Called while the device works on a request (spin, yield, sleep: the caller's policy).
    wait: fn(),
    /// Posted requests the device has not answered yet.
    posted: Vec<Posted>,
    /// Replies to posted requests, not yet taken.
    replies: VecDeque<Vec<u8>>,
    /// A posted request went into the ring without a notification (the next one
    /// carries it: fewer device wake-ups).
    unnotified: bool,
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
        let mut queue = VirtQueue::new(&mut transport, REQUEST_QUEUE, false, false).map_err(P9DeviceError::Device)?;
        // Replies are polled for: an interrupt per reply would only cost the device a
        // system call and the guest an exit.
        queue.set_dev_notify(false);
        transport.finish_init();
        let mut tag = Vec::new();
        if features.contains(P9Features::MOUNT_TAG) {
            let len: u16 = transport.read_config_space(0).map_err(P9DeviceError::Device)?;
            for index in 0..len as usize {
                tag.push(transport.read_config_space::<u8>(2 + index).map_err(P9DeviceError::Device)?);
            }
        }
        Ok(P9Device { transport, queue, tag, wait, posted: Vec::new(), replies: VecDeque::new(), unnotified: false })
    }

    fn notify(&mut self) {
        self.unnotified = false;
        if self.queue.should_notify() {
            self.transport.notify(REQUEST_QUEUE);
        }
    }

    /// Takes the used buffer `token` if it is a posted request's: its reply joins the
    /// ones waiting to be taken. False for any other token.
    fn reap(&mut self, token: u16) -> Result<bool, ChannelError> {
        let Some(index) = self.posted.iter().position(|posted| posted.token == token) else {
            return Ok(false);
        };
        let mut posted = self.posted.swap_remove(index);
        // SAFETY: the buffers `add` lent with this token, owned by `posted` since.
        let len = unsafe { self.queue.pop_used(token, &[&posted.request], &mut [&mut posted.reply]) }
            .map_err(|_| ChannelError("the device returned another buffer"))?;
        posted.reply.truncate(len as usize);
        self.replies.push_back(posted.reply);
        Ok(true)
    }

    /// Takes every posted reply the device has given back, without waiting.
    fn reap_ready(&mut self) -> Result<(), ChannelError> {
        while let Some(token) = self.queue.peek_used() {
            if !self.reap(token)? {
                break;
            }
        }
        Ok(())
    }

    /// Waits until the device answers one posted request (there must be one).
    fn reap_one(&mut self) -> Result<(), ChannelError> {
        self.kick();
        loop {
            match self.queue.peek_used() {
                Some(token) if self.reap(token)? => return Ok(()),
                Some(_) => return Err(ChannelError("the device returned another buffer")),
                None => (self.wait)(),
            }
        }
    }

    /// Waits until `descriptors` are free, taking posted replies as they come.
    fn make_room(&mut self, descriptors: usize) -> Result<(), ChannelError> {
        while self.queue.available_desc() < descriptors {
            if self.posted.is_empty() {
                return Err(ChannelError("queue full"));
            }
            self.reap_one()?;
        }
        Ok(())
    }

    /// The export's mount tag (empty when the device offers none).
    pub fn mount_tag(&self) -> &[u8] {
        &self.tag
    }
}

impl<H: Hal> Drop for P9Device<H> {
    fn drop(&mut self) {
        // The device may still write into posted buffers: they are leaked, not freed.
        for posted in self.posted.drain(..) {
            core::mem::forget(posted);
        }
    }
}

impl<H: Hal> Channel for P9Device<H> {
    fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError> {
        let mut length = [0];
        self.exchange_batch(&[request], &mut [reply], &mut length)?;
        Ok(length[0])
    }

    fn in_flight(&self) -> usize {
        BATCH
    }

    fn exchange_batch(
        &mut self,
        requests: &[&[u8]],
        replies: &mut [&mut [u8]],
        lengths: &mut [usize],
    ) -> Result<(), ChannelError> {
        let mut tokens = [None; BATCH];
        let mut refused = None;
        self.make_room(2 * requests.len().min(BATCH))?;
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
        if tokens.iter().any(Option::is_some) {
            self.notify();
        }
        // The server answers in any order: take each reply as it comes.
        while tokens.iter().any(Option::is_some) {
            let Some(used) = self.queue.peek_used() else {
                (self.wait)();
                continue;
            };
            let Some(index) = tokens.iter().position(|&token| token == Some(used)) else {
                if self.reap(used)? {
                    continue;
                }
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

    fn can_post(&self) -> bool {
        true
    }

    fn post(&mut self, request: Vec<u8>, reply: Vec<u8>) -> Result<Option<Vec<u8>>, ChannelError> {
        while self.posted.len() >= MAX_POSTED {
            self.reap_one()?;
        }
        self.make_room(2)?;
        let mut posted = Posted { token: 0, request, reply };
        // SAFETY: the buffers' heap memory stays where it is while `posted` owns them
        // (moving a Vec does not move its contents); `reap` takes them back with this
        // token before they are dropped, and a dropped device leaks them.
        posted.token = unsafe { self.queue.add(&[&posted.request], &mut [&mut posted.reply]) }
            .map_err(|_| ChannelError("queue full"))?;
        self.posted.push(posted);
        self.unnotified = true;
        Ok(None)
    }

    fn kick(&mut self) {
        if self.unnotified {
            self.notify();
        }
    }

    fn take_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        self.reap_ready()?;
        Ok(self.replies.pop_front())
    }

    fn wait_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        if self.replies.is_empty() && !self.posted.is_empty() {
            self.reap_one()?;
        }
        Ok(self.replies.pop_front())
    }
}
