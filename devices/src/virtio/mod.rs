//! virtio devices over the MMIO transport.

pub mod serial;
