//! Counts of virtio-net queue notifications (each one a device exit), for the figures.
//!
//! Why the card's driver manages its own notifications: `virtio-drivers` 0.13's
//! `VirtIONetRaw` notifies inside every transmit, and with `VIRTIO_F_EVENT_IDX` its test
//! `avail_idx >= avail_event + 1` (not the spec's `vring_need_event` window) is always
//! true against QEMU, which moves the receive queue's `avail_event` on every buffer it
//! takes: every recycled receive buffer was a notify, a VM exit per frame. The driver in
//! `nic` negotiates no event indices, follows the device's `NO_NOTIFY` flag, and
//! notifies once per batch of transmits.

use core::sync::atomic::AtomicU64;

/// Queue notifications made by the virtio-net driver since boot.
pub static NOTIFIES: AtomicU64 = AtomicU64::new(0);
