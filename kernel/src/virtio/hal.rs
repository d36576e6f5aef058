//! The `virtio-drivers` HAL for this kernel: DMA memory from the kernel heap (which is
//! one physically contiguous range seen through the direct map), MMIO through the
//! device window. Buffers lent from elsewhere (a stack) are bounced through the heap.

use core::alloc::Layout;
use core::ptr::NonNull;

use wasmetal_devices::{BufferDirection, Hal, PhysAddr};

use crate::memory::address_space;
use crate::memory::layout::{DIRECT_MAP_OFFSET, PAGE_SIZE};

/// The kernel's virtio HAL.
pub struct KernelHal;

fn dma_layout(pages: usize) -> Layout {
    Layout::from_size_align(pages * PAGE_SIZE as usize, PAGE_SIZE as usize).expect("page-sized layout")
}

/// A bounce buffer: any heap block is one physical range (the heap is contiguous).
fn bounce_layout(len: usize) -> Layout {
    Layout::from_size_align(len, 8).expect("bounce layout")
}

/// The physical address of heap or direct-map memory at `virt`.
fn direct_map_phys(virt: u64) -> Option<u64> {
    virt.checked_sub(DIRECT_MAP_OFFSET)
}

// SAFETY: DMA regions are zeroed, page-aligned heap blocks that stay allocated until
// `dma_dealloc`, and their physical addresses are exact (the heap is one contiguous
// physical range in the direct map); MMIO pages are mapped uncached; `share` returns the
// physical address of the very bytes it is given.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: the layout has a non-zero size (virtio-drivers asks for >= 1 page).
        let block = unsafe { alloc::alloc::alloc_zeroed(dma_layout(pages.max(1))) };
        match NonNull::new(block) {
            Some(block) => (direct_map_phys(block.as_ptr() as u64).unwrap_or(0), block),
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller returns a block `dma_alloc` gave out with this page count.
        unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), dma_layout(pages.max(1))) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        let page = paddr & !(PAGE_SIZE - 1);
        let virt = address_space::map_device(page).expect("mapping a virtio MMIO page");
        NonNull::new((virt + (paddr - page)) as *mut u8).expect("the device window is not at zero")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        if let Some(phys) = direct_map_phys(virt) {
            return phys;
        }
        // Not heap memory (virtio-drivers lends its net header from the stack, which is
        // not physically contiguous): bounce it through a heap copy.
        let len = buffer.len().max(1);
        // SAFETY: a non-zero size with byte alignment.
        let bounce = unsafe { alloc::alloc::alloc_zeroed(bounce_layout(len)) };
        if bounce.is_null() {
            return 0;
        }
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller guarantees `buffer` is valid for reads; `bounce` holds
            // `len >= buffer.len()` fresh bytes.
            unsafe { core::ptr::copy_nonoverlapping(buffer.as_ptr() as *const u8, bounce, buffer.len()) };
        }
        direct_map_phys(bounce as u64).unwrap_or(0)
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        if direct_map_phys(virt).is_some() || paddr == 0 {
            return;
        }
        let bounce = (paddr + DIRECT_MAP_OFFSET) as *mut u8;
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: `share` made `bounce` with at least `buffer.len()` bytes; the caller
            // guarantees `buffer` is valid for writes.
            unsafe { core::ptr::copy_nonoverlapping(bounce, buffer.as_ptr() as *mut u8, buffer.len()) };
        }
        // SAFETY: `bounce` is the block `share` allocated for this buffer's length.
        unsafe { alloc::alloc::dealloc(bounce, bounce_layout(buffer.len().max(1))) };
    }
}
