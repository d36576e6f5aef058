//! wasmetal-runtime's `Platform` on this kernel: an adapter, with no state of its own.
//!
//! Each call of the runtime's seam is translated into the kernel's pieces: reservations
//! come from the wasm region, commits go through the frame accounting
//! ([`super::accounting`]: a range is accessible only while its frames can be
//! promised), frames are mapped on first touch and freed by the demand pager
//! ([`super::pager`]), precompiled code in the initrd is mapped where it lies
//! ([`crate::memory::lendable`]), memory images live in [`super::image`], and the activation slot
//! and yields belong to the scheduler ([`crate::sched`]). Faults in wasm code are
//! answered by the runtime's `platform::handle_trap` from the kernel's exception
//! handlers. This module must not hold state or policy: it only converts and forwards.

use core::ptr::NonNull;

use wasmetal_runtime::platform::{ActivationPtr, ImageId, Platform, PlatformError, Protection as RuntimeProtection};

use super::access_map::Backing;
use super::image::ImageHandle;
use super::{accounting, pager};
use crate::memory::address_space::{self, Protection};
use crate::memory::{lendable, wasm_region};
use crate::sched::activation::{self, Activation};

/// The kernel's platform instance.
pub static KERNEL_PLATFORM: KernelPlatform = KernelPlatform;

/// The kernel's implementation of the runtime's platform seam.
pub struct KernelPlatform;

fn rights(protection: RuntimeProtection) -> Option<Protection> {
    match protection {
        RuntimeProtection::None => None,
        RuntimeProtection::ReadOnly => Some(Protection::ReadOnly),
        RuntimeProtection::ReadWrite => Some(Protection::ReadWrite),
        RuntimeProtection::ReadExecute => Some(Protection::ReadExecute),
    }
}

/// The `(start, end)` addresses of `bytes` at `addr`.
fn span(addr: NonNull<u8>, bytes: usize) -> (u64, u64) {
    let start = addr.as_ptr() as u64;
    (start, start + bytes as u64)
}

impl Platform for KernelPlatform {
    fn page_size(&self) -> usize {
        4096
    }

    fn reserve(&self, bytes: usize) -> Result<NonNull<u8>, PlatformError> {
        let reservation =
            wasm_region::reserve(bytes as u64).map_err(|_| PlatformError { operation: "reserve", bytes })?;
        NonNull::new(reservation.start as *mut u8).ok_or(PlatformError { operation: "reserve", bytes })
    }

    unsafe fn release(&self, base: NonNull<u8>, bytes: usize) {
        let (start, end) = span(base, bytes);
        pager::release(start, end);
    }

    unsafe fn commit(
        &self,
        addr: NonNull<u8>,
        bytes: usize,
        protection: RuntimeProtection,
    ) -> Result<(), PlatformError> {
        let (start, end) = span(addr, bytes);
        match rights(protection) {
            Some(Protection::ReadWrite) => {
                let growth = accounting::grows_zero_range(start);
                if !accounting::commit(start, end, Protection::ReadWrite, Backing::Zero) {
                    return Err(PlatformError { operation: "commit (out of physical memory)", bytes });
                }
                if growth {
                    pager::map_growth(start, end);
                }
                Ok(())
            }
            Some(rights) if !accounting::commit(start, end, rights, Backing::Zero) => {
                Err(PlatformError { operation: "commit (out of physical memory)", bytes })
            }
            Some(_) => Ok(()),
            None => {
                accounting::forget(start, end);
                Ok(())
            }
        }
    }

    unsafe fn protect(
        &self,
        addr: NonNull<u8>,
        bytes: usize,
        protection: RuntimeProtection,
    ) -> Result<(), PlatformError> {
        // Used for code (written read-write, then made executable): zero-backed ranges.
        let (start, end) = span(addr, bytes);
        match rights(protection) {
            Some(rights) => {
                if !accounting::commit(start, end, rights, Backing::Zero) {
                    return Err(PlatformError { operation: "protect (out of physical memory)", bytes });
                }
                address_space::protect_range(start, end, rights);
            }
            None => pager::release(start, end),
        }
        Ok(())
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        let (start, end) = span(addr, bytes);
        pager::release(start, end);
        Ok(())
    }

    unsafe fn reset(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        // Pages stay committed (with their image, if any) and fault in afresh.
        let (start, end) = span(addr, bytes);
        pager::unmap_private(start, end);
        Ok(())
    }

    fn create_image(&self, bytes: &[u8]) -> Option<ImageId> {
        super::image::create(bytes).map(|image| ImageId(image.index()))
    }

    unsafe fn map_image(&self, addr: NonNull<u8>, image: ImageId, bytes: usize) -> Result<(), PlatformError> {
        let (start, end) = span(addr, bytes);
        let image =
            ImageHandle::from_index(image.0).ok_or(PlatformError { operation: "map image (no such image)", bytes })?;
        pager::unmap_private(start, end);
        let backing = Backing::Image { image, first_page: 0 };
        if !accounting::commit(start, end, Protection::ReadWrite, backing) {
            return Err(PlatformError { operation: "map image (out of physical memory)", bytes });
        }
        Ok(())
    }

    unsafe fn unmap_image(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        let (start, end) = span(addr, bytes);
        pager::unmap_private(start, end);
        if !accounting::commit(start, end, Protection::ReadWrite, Backing::Zero) {
            return Err(PlatformError { operation: "unmap image (out of physical memory)", bytes });
        }
        Ok(())
    }

    unsafe fn free_image(&self, image: ImageId) {
        if let Some(image) = ImageHandle::from_index(image.0) {
            super::image::free(image);
        }
    }

    unsafe fn map_code_in_place(&self, addr: NonNull<u8>, text: &'static [u8]) -> Result<bool, PlatformError> {
        let Some(first_frame) = lendable::physical_pages_of(text) else { return Ok(false) };
        let (start, end) = span(addr, text.len().next_multiple_of(self.page_size()));
        if !accounting::commit(start, end, Protection::ReadExecute, Backing::Borrowed { first_frame }) {
            return Err(PlatformError { operation: "map code (out of physical memory)", bytes: text.len() });
        }
        pager::map_borrowed(start, end, first_frame, Protection::ReadExecute);
        Ok(true)
    }

    fn activation(&self) -> ActivationPtr {
        activation::current().to_runtime()
    }

    fn set_activation(&self, record: ActivationPtr) {
        activation::set(Activation::from_runtime(record));
    }

    fn yield_now(&self) {
        crate::sched::yield_now();
    }

    fn init_trap_handling(&self) -> Result<(), PlatformError> {
        // The IDT is always installed; `interrupts.rs` routes wasm faults to the runtime.
        Ok(())
    }
}
