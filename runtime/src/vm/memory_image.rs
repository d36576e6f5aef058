//! Memory images: a module's initial memory contents, created once per module on the
//! platform and mapped copy-on-write into each instance's memory, so instantiation
//! neither copies data segments nor touches their pages.

use crate::module::info::MemoryImageSpec;
use crate::platform::{ImageId, Platform};
use crate::prelude::*;

/// A platform image plus where it goes in the memory.
pub struct MemoryImage {
    platform: &'static dyn Platform,
    pub handle: ImageId,
    /// Byte offset in the memory (page-aligned).
    pub offset: usize,
    /// Bytes (a multiple of the page size).
    pub len: usize,
}

impl MemoryImage {
    /// Creates the image of `spec`, or `None` when the platform has no images.
    pub fn new(platform: &'static dyn Platform, spec: &MemoryImageSpec) -> Option<Arc<MemoryImage>> {
        let handle = platform.create_image(&spec.bytes)?;
        Some(Arc::new(MemoryImage { platform, handle, offset: spec.offset as usize, len: spec.bytes.len() }))
    }
}

impl Drop for MemoryImage {
    fn drop(&mut self) {
        // SAFETY: memories hold an `Arc` to the image they map, so when the last one is
        // gone nothing maps it.
        unsafe { self.platform.free_image(self.handle) };
    }
}
