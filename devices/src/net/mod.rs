//! Networking: the NIC seam, a smoltcp `Device` over it, and the TCP socket table.
//!
//! `nic` is the one trait a network card implements (virtio-net through
//! `virtio-drivers`, an in-memory wire in tests); `device` adapts any `Nic` to smoltcp; `transport` counts the card's notifies (and
//! says why the driver manages them itself);
//! `stack` owns the smoltcp interface and the listening and connected sockets, with
//! fixed limits so no client can make it allocate without bound. Nothing here knows
//! WASI or touches hardware itself.

pub mod device;
pub mod nic;
pub mod stack;
pub mod transport;
