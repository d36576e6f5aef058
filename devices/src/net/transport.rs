//! The virtio-net card's transport without `VIRTIO_F_EVENT_IDX`, counting notifies.
//!
//! `virtio-drivers` 0.13 decides whether to notify the device with event indices as
//! `avail_idx >= avail_event + 1` rather than the spec's `vring_need_event` window.
//! QEMU moves the receive queue's `avail_event` on every buffer it takes, so with 128
//! buffers posted ahead that test is always true and every recycled receive buffer was
//! a notify: a VM exit per frame. Without event indices the crate follows the device's
//! `NO_NOTIFY` flag, which QEMU clears only when it ran out of receive buffers (and
//! while its transmit bottom half is idle). This wrapper hides the feature from the
//! driver and passes everything else through; it counts notifies for the figures.

use core::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{PhysAddr, Result};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// `VIRTIO_F_EVENT_IDX` (virtio 1.2, 6 Reserved Feature Bits).
const EVENT_IDX: u64 = 1 << 29;

/// Queue notifications made through any [`WithoutEventIdx`] (each one a device exit).
pub static NOTIFIES: AtomicU64 = AtomicU64::new(0);

/// `T` with event indices hidden from the driver.
pub struct WithoutEventIdx<T: Transport> {
    inner: T,
}

impl<T: Transport> WithoutEventIdx<T> {
    pub fn new(inner: T) -> Self {
        WithoutEventIdx { inner }
    }
}

impl<T: Transport> Transport for WithoutEventIdx<T> {
    fn device_type(&self) -> DeviceType {
        self.inner.device_type()
    }

    fn read_device_features(&mut self) -> u64 {
        self.inner.read_device_features() & !EVENT_IDX
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.inner.write_driver_features(driver_features & !EVENT_IDX);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.inner.max_queue_size(queue)
    }

    fn notify(&mut self, queue: u16) {
        NOTIFIES.fetch_add(1, Ordering::Relaxed);
        self.inner.notify(queue);
    }

    fn get_status(&self) -> DeviceStatus {
        self.inner.get_status()
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.inner.set_status(status);
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.inner.set_guest_page_size(guest_page_size);
    }

    fn requires_legacy_layout(&self) -> bool {
        self.inner.requires_legacy_layout()
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.inner.queue_set(queue, size, descriptors, driver_area, device_area);
    }

    fn queue_unset(&mut self, queue: u16) {
        self.inner.queue_unset(queue);
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.inner.queue_used(queue)
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.inner.ack_interrupt()
    }

    fn read_config_generation(&self) -> u32 {
        self.inner.read_config_generation()
    }

    fn read_config_space<C: FromBytes + IntoBytes>(&self, offset: usize) -> Result<C> {
        self.inner.read_config_space(offset)
    }

    fn write_config_space<C: IntoBytes + Immutable>(&mut self, offset: usize, value: C) -> Result<()> {
        self.inner.write_config_space(offset, value)
    }
}
