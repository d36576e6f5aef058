//! The kernel heap: `linked_list_allocator` behind a `spin` lock, with a small-size front.
//!
//! The heap is one contiguous run of RAM (reached through the direct map), sized from
//! the amount of RAM at boot. Small requests (≤ 2 KiB, alignment ≤ 16) are served from
//! per-size-class free lists so the compiler's many tiny allocations do not walk the
//! linked list; everything else goes to the first-fit heap. Exhaustion returns null,
//! which `try_reserve`-style callers see as an error (and `alloc` turns into a panic).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use linked_list_allocator::Heap;
use spin::Mutex;

const CLASS_SIZES: [usize; 8] = [16, 32, 64, 128, 256, 512, 1024, 2048];
const CLASS_ALIGN: usize = 16;

struct State {
    heap: Heap,
    /// Heads of the per-class free lists (intrusive: each free block's first word).
    classes: [*mut u8; CLASS_SIZES.len()],
}

// SAFETY: the raw pointers are only touched with the mutex held.
unsafe impl Send for State {}

/// The global allocator.
pub struct KernelHeap {
    state: Mutex<State>,
    /// Bytes handed out and not yet returned (requested sizes), for leak checks.
    live_bytes: AtomicUsize,
    /// The most `live_bytes` has been since the last [`KernelHeap::reset_peak`].
    peak_bytes: AtomicUsize,
}

#[global_allocator]
pub static HEAP: KernelHeap = KernelHeap {
    state: Mutex::new(State { heap: Heap::empty(), classes: [core::ptr::null_mut(); CLASS_SIZES.len()] }),
    live_bytes: AtomicUsize::new(0),
    peak_bytes: AtomicUsize::new(0),
};

fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN {
        return None;
    }
    CLASS_SIZES.iter().position(|&size| layout.size() <= size)
}

/// Heap counters.
#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    pub size: usize,
    /// Bytes requested by live allocations.
    pub live: usize,
    /// The highest `live` since the last peak reset.
    pub peak: usize,
    /// Bytes the first-fit heap has free (blocks cached in size classes count as used).
    pub free: usize,
}

impl KernelHeap {
    /// Hands the heap its memory.
    ///
    /// # Safety
    /// `start..start + size` must be mapped, writable, unused memory that lives forever.
    pub unsafe fn init(&self, start: *mut u8, size: usize) {
        wasmetal_arch::cpu::without_interrupts(|| {
            // SAFETY: per the caller's contract.
            unsafe { self.state.lock().heap.init(start, size) };
        });
    }

    /// Current counters.
    pub fn stats(&self) -> HeapStats {
        wasmetal_arch::cpu::without_interrupts(|| {
            let state = self.state.lock();
            HeapStats {
                size: state.heap.size(),
                live: self.live_bytes.load(Ordering::Relaxed),
                peak: self.peak_bytes.load(Ordering::Relaxed),
                free: state.heap.free(),
            }
        })
    }

    /// Starts a new peak measurement from the current live bytes.
    pub fn reset_peak(&self) {
        self.peak_bytes.store(self.live_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

// SAFETY: blocks come from the first-fit heap (which honours size and alignment) or from
// a class list holding blocks of at least the class size at 16-byte alignment; a block
// is on at most one list, and all state is guarded by the mutex with interrupts off.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = wasmetal_arch::cpu::without_interrupts(|| {
            let mut state = self.state.lock();
            match class_of(layout) {
                Some(class) => {
                    let head = state.classes[class];
                    if head.is_null() {
                        let block =
                            Layout::from_size_align(CLASS_SIZES[class], CLASS_ALIGN).expect("valid class layout");
                        state.heap.allocate_first_fit(block).map_or(core::ptr::null_mut(), NonNull::as_ptr)
                    } else {
                        // SAFETY: a free block's first word is the next free block.
                        state.classes[class] = unsafe { *(head as *mut *mut u8) };
                        head
                    }
                }
                None => state.heap.allocate_first_fit(layout).map_or(core::ptr::null_mut(), NonNull::as_ptr),
            }
        });
        if !ptr.is_null() {
            let live = self.live_bytes.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak_bytes.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A block of a size class keeps its place while the new size fits the same class
        // (vectors growing by small steps, the compiler's commonest pattern).
        let new_layout = Layout::from_size_align(new_size, layout.align()).ok();
        if let (Some(class), Some(new_layout)) = (class_of(layout), new_layout)
            && class_of(new_layout) == Some(class)
        {
            if new_size >= layout.size() {
                let live =
                    self.live_bytes.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                self.peak_bytes.fetch_max(live, Ordering::Relaxed);
            } else {
                self.live_bytes.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
            return ptr;
        }
        // SAFETY: as for `GlobalAlloc::realloc`'s default: a new block, the overlap copied,
        // the old block freed with its own layout.
        unsafe {
            let Some(new_layout) = new_layout else { return core::ptr::null_mut() };
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live_bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        wasmetal_arch::cpu::without_interrupts(|| {
            let mut state = self.state.lock();
            match class_of(layout) {
                Some(class) => {
                    // SAFETY: the block is at least a class block, 16-aligned, and now unused.
                    unsafe { *(ptr as *mut *mut u8) = state.classes[class] };
                    state.classes[class] = ptr;
                }
                // SAFETY: `ptr` came from `allocate_first_fit` with this layout.
                None => unsafe { state.heap.deallocate(NonNull::new_unchecked(ptr), layout) },
            }
        });
    }
}
