//! Device protocols for the wasmetal kernel (no_std + alloc, host-testable): finding
//! virtio-mmio devices, driving a virtio console and a virtio 9P transport, a 9P2000.L
//! client, and the framing the launcher and the kernel speak over the console streams.
//! It knows no WASI and touches no hardware itself: register access goes through the
//! `virtio-drivers` transport, memory through the kernel's [`Hal`](virtio_drivers::Hal).

#![no_std]

extern crate alloc;

pub mod mmio_slot;
pub mod net;
pub mod p9;
pub mod stdio_link;
pub mod virtio;

pub use virtio_drivers;
pub use virtio_drivers::transport::mmio::MmioTransport;
pub use virtio_drivers::{BufferDirection, Hal, PhysAddr};
