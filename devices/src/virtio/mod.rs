//! virtio devices over the MMIO transport.

pub mod p9;
pub mod serial;
