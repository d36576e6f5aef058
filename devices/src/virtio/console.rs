//! A virtio console (one port, no multiport) over the MMIO transport, built on
//! `virtio-drivers`' transport and split virtqueues.
//!
//! Not `virtio_drivers::device::console::VirtIOConsole`: its `send_bytes` spins on the
//! used ring with no way out (a program's `--timeout` must be able to end a write the
//! host is slow to take), and its receive side hands out one byte per call from a
//! single page. Here a write is staged in a bounce buffer (the one copy: guest linear
//! memory is not physically contiguous), and waiting is the caller's policy through a
//! callback; receive keeps a 64 KiB buffer posted and copies out in slices.

use alloc::boxed::Box;
use alloc::vec;

use virtio_drivers::Hal;
use virtio_drivers::device::common::Feature;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::MmioTransport;
use virtio_drivers::transport::{DeviceType, Transport};

/// Queue indices of port 0.
const RECEIVE_QUEUE: u16 = 0;
const TRANSMIT_QUEUE: u16 = 1;
/// Descriptors per queue: one buffer in flight each way is all this driver uses.
const QUEUE_SIZE: usize = 4;
/// Bytes staged per transmit (larger writes go in several).
pub const TRANSMIT_BYTES: usize = 64 * 1024;
/// Bytes of the posted receive buffer.
pub const RECEIVE_BYTES: usize = 64 * 1024;

/// What went wrong with a console.
#[derive(Debug)]
pub enum ConsoleError {
    /// The slot holds another kind of device.
    NotAConsole(DeviceType),
    /// The transport or a queue refused (the device is broken or not as virtio says).
    Device(virtio_drivers::Error),
}

impl core::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConsoleError::NotAConsole(kind) => write!(f, "the slot holds a {kind:?} device, not a console"),
            ConsoleError::Device(error) => write!(f, "virtio console: {error}"),
        }
    }
}

impl From<virtio_drivers::Error> for ConsoleError {
    fn from(error: virtio_drivers::Error) -> Self {
        ConsoleError::Device(error)
    }
}

/// What the caller's wait callback decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Keep waiting.
    Continue,
    /// Stop waiting (the write reports what the device already took).
    Abort,
}

/// One virtio console.
pub struct Console<H: Hal> {
    transport: MmioTransport<'static>,
    receive: VirtQueue<H, QUEUE_SIZE>,
    transmit: VirtQueue<H, QUEUE_SIZE>,
    /// Posted to the device while `receive_token` is set; holds `received` bytes from
    /// `receive_at` on otherwise.
    receive_buffer: Box<[u8]>,
    receive_token: Option<u16>,
    receive_at: usize,
    received: usize,
    transmit_buffer: Box<[u8]>,
    /// A transmit the device has not finished (after an aborted wait): its token and length.
    transmit_in_flight: Option<(u16, usize)>,
}

// SAFETY: the transport's MMIO pointers and the queues' DMA memory belong to this value
// alone; moving it to another thread moves that ownership with it.
unsafe impl<H: Hal> Send for Console<H> {}

impl<H: Hal> Console<H> {
    /// Initializes the console behind `transport` and posts the first receive buffer.
    pub fn new(mut transport: MmioTransport<'static>) -> Result<Self, ConsoleError> {
        if transport.device_type() != DeviceType::Console {
            return Err(ConsoleError::NotAConsole(transport.device_type()));
        }
        let features = transport.begin_init(Feature::VERSION_1);
        let _ = features;
        let receive = VirtQueue::new(&mut transport, RECEIVE_QUEUE, false, false)?;
        let transmit = VirtQueue::new(&mut transport, TRANSMIT_QUEUE, false, false)?;
        transport.finish_init();
        let mut console = Console {
            transport,
            receive,
            transmit,
            receive_buffer: vec![0; RECEIVE_BYTES].into_boxed_slice(),
            receive_token: None,
            receive_at: 0,
            received: 0,
            transmit_buffer: vec![0; TRANSMIT_BYTES].into_boxed_slice(),
            transmit_in_flight: None,
        };
        console.post_receive()?;
        Ok(console)
    }

    fn post_receive(&mut self) -> Result<(), ConsoleError> {
        if self.receive_token.is_some() || self.receive_at < self.received {
            return Ok(());
        }
        // SAFETY: the buffer is owned by `self` and not touched until `pop_used` returns
        // it (`receive_token` marks it lent).
        let token = unsafe { self.receive.add(&[], &mut [&mut self.receive_buffer[..]]) }?;
        self.receive_token = Some(token);
        if self.receive.should_notify() {
            self.transport.notify(RECEIVE_QUEUE);
        }
        Ok(())
    }

    /// Completes the posted receive if the device has filled it.
    fn finish_receive(&mut self) -> Result<(), ConsoleError> {
        if let Some(token) = self.receive_token
            && self.receive.peek_used() == Some(token)
        {
            // SAFETY: the same buffer `post_receive` lent with this token.
            let len = unsafe { self.receive.pop_used(token, &[], &mut [&mut self.receive_buffer[..]]) }?;
            self.receive_token = None;
            self.receive_at = 0;
            self.received = (len as usize).min(self.receive_buffer.len());
        }
        Ok(())
    }

    /// Copies bytes that have arrived into `out`; 0 when none are available now.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, ConsoleError> {
        if self.receive_at == self.received {
            self.finish_receive()?;
        }
        let available = &self.receive_buffer[self.receive_at..self.received];
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.receive_at += count;
        self.post_receive()?;
        Ok(count)
    }

    /// Notifies the device again about the posted receive buffer. QEMU's chardevs only
    /// look for host input when their main loop wakes; after the buffer is posted
    /// nothing may wake it (measured: stdin that was already waiting when QEMU started
    /// stayed unread), and a notify does.
    pub fn kick_receive(&mut self) {
        if self.receive_token.is_some() {
            self.transport.notify(RECEIVE_QUEUE);
        }
    }

    /// Whether bytes are waiting to be read.
    pub fn readable(&mut self) -> bool {
        if self.receive_at == self.received {
            let _ = self.finish_receive();
        }
        self.receive_at < self.received
    }

    /// Waits for the in-flight transmit to finish; false when `wait` gave up.
    fn finish_transmit(&mut self, wait: &mut dyn FnMut() -> Wait) -> Result<bool, ConsoleError> {
        let Some((token, len)) = self.transmit_in_flight else { return Ok(true) };
        while self.transmit.peek_used() != Some(token) {
            if wait() == Wait::Abort {
                return Ok(false);
            }
        }
        // SAFETY: the same buffer `write` lent with this token.
        unsafe { self.transmit.pop_used(token, &[&self.transmit_buffer[..len]], &mut []) }?;
        self.transmit_in_flight = None;
        Ok(true)
    }

    /// Writes `bytes`, returning once the device holds them all, or when `wait` (called
    /// while the device is busy) aborts: then the count the device has taken.
    pub fn write(&mut self, bytes: &[u8], wait: &mut dyn FnMut() -> Wait) -> Result<usize, ConsoleError> {
        let mut written = 0;
        for chunk in bytes.chunks(TRANSMIT_BYTES) {
            if !self.finish_transmit(wait)? {
                return Ok(written);
            }
            self.transmit_buffer[..chunk.len()].copy_from_slice(chunk);
            // SAFETY: the staging buffer is owned by `self` and not written again until
            // `finish_transmit` pops this token.
            let token = unsafe { self.transmit.add(&[&self.transmit_buffer[..chunk.len()]], &mut []) }?;
            self.transmit_in_flight = Some((token, chunk.len()));
            if self.transmit.should_notify() {
                self.transport.notify(TRANSMIT_QUEUE);
            }
            if !self.finish_transmit(wait)? {
                return Ok(written);
            }
            written += chunk.len();
        }
        Ok(written)
    }
}
