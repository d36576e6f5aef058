//! Memory images in the kernel: a module's initial memory contents kept in frames,
//! shared read-only by every memory that maps them and copied on the first write.
//!
//! Owns the image table ([`ImageHandle`] to frames). It must not map anything: the
//! demand pager maps an image's frames where the access map says the image backs a
//! range.

use alloc::vec::Vec;

use spin::Mutex;

pub use super::access_map::ImageHandle;
use crate::memory::frames::{self, DirectMapped, FrameAddr};
use crate::memory::layout::PAGE_SIZE;

/// Live images by handle; a freed slot is `None`.
static IMAGES: Mutex<Vec<Option<Vec<FrameAddr>>>> = Mutex::new(Vec::new());

/// Copies `bytes` (a multiple of the page size) into fresh frames; returns the handle.
pub fn create(bytes: &[u8]) -> Option<ImageHandle> {
    // Without frames to spare the runtime copies the data at instantiation instead.
    if !super::accounting::can_take_frames(bytes.len().div_ceil(PAGE_SIZE as usize) as u64) {
        return None;
    }
    let mut pages = Vec::with_capacity(bytes.len() / PAGE_SIZE as usize);
    for chunk in bytes.chunks(PAGE_SIZE as usize) {
        let Some(frame) = frames::allocate_zeroed() else {
            pages.into_iter().for_each(frames::free);
            return None;
        };
        // SAFETY: the frame is ours and mapped through the direct map.
        unsafe { core::ptr::copy_nonoverlapping(chunk.as_ptr(), frame.direct_map_ptr(), chunk.len()) };
        pages.push(frame);
    }
    let stored = wasmetal_arch::cpu::without_interrupts(|| {
        let mut images = IMAGES.lock();
        let index = images.iter().position(Option::is_none).unwrap_or(images.len());
        // Past 32-bit handles (more images than any RAM holds frames for): refused.
        let Some(handle) = ImageHandle::from_index(index) else { return Err(pages) };
        if index == images.len() {
            images.push(Some(pages));
        } else {
            images[index] = Some(pages);
        }
        Ok(handle)
    });
    stored.map_err(|pages| pages.into_iter().for_each(frames::free)).ok()
}

/// The frame of page `page` of image `handle` (for the page-fault handler: never
/// blocks).
pub fn frame(handle: ImageHandle, page: u64) -> Option<FrameAddr> {
    let images = IMAGES.try_lock()?;
    images.get(handle.index())?.as_ref()?.get(page as usize).copied()
}

/// Frees an image's frames (nothing maps them any more).
pub fn free(handle: ImageHandle) {
    let pages = wasmetal_arch::cpu::without_interrupts(|| IMAGES.lock().get_mut(handle.index()).and_then(Option::take));
    pages.into_iter().flatten().for_each(frames::free);
}
