//! A task's saved vector registers: the XSAVE (or FXSAVE) area the scheduler fills
//! when the task switches out and loads when it switches back in.
//!
//! This module owns the areas' memory, the boot-time layout and the staging buffer the
//! instructions run on; the format and the instructions are `wasmetal_arch::vector_state`'s.
//! Only [`VectorArea::save`] and the initialization write an area, which is what makes
//! loading it sound.
//!
//! Why staging: under KVM's PVM backend, `xrstor` at CPL3 from an address in the upper
//! half (the direct map, where the heap lives) faults with CR2 = 0, though ordinary loads
//! from there work and `xsave`/`xrstor` on the kernel image's identity-mapped pages do
//! (measured on this machine). So the instructions always run on one buffer in the
//! kernel image and the task's area is a copy of it: two 832-byte copies per switch.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

use spin::Once;
use wasmetal_arch::cpu::VectorState;
use wasmetal_arch::vector_state::{self, AreaChunk, AreaLayout, SaveFormat};

/// The save-area layout for the vector state the boot enabled.
static LAYOUT: Once<AreaLayout> = Once::new();

/// Staging chunks: 4 KiB, room for every component XCR0 may enable here (x87, SSE and
/// AVX need 832 bytes; the boot enables no more).
const STAGING_CHUNKS: usize = 64;

struct Staging(UnsafeCell<[AreaChunk; STAGING_CHUNKS]>);

// SAFETY: one CPU; only the scheduler context touches the buffer, inside one call of
// `with_staging` at a time (never re-entered, never from an interrupt handler).
unsafe impl Sync for Staging {}

/// In `.bss`: the kernel image is identity-mapped in the lower half.
static STAGING: Staging = Staging(UnsafeCell::new([AreaChunk::ZERO; STAGING_CHUNKS]));

fn with_staging<R>(f: impl FnOnce(&mut [AreaChunk; STAGING_CHUNKS]) -> R) -> R {
    // SAFETY: see `Staging`: no other reference to the buffer exists during `f`.
    f(unsafe { &mut *STAGING.0.get() })
}

/// Records the layout for `state` (once, at boot, before any task exists). A state
/// larger than the staging buffer falls back to FXSAVE's x87 and SSE registers, which
/// are all that generated code uses.
pub fn record_layout(state: &VectorState) {
    LAYOUT.call_once(|| {
        let layout = AreaLayout::of(state);
        if layout.chunks() <= STAGING_CHUNKS { layout } else { AreaLayout { format: SaveFormat::Fxsave, bytes: 512 } }
    });
}

/// The recorded layout.
pub fn layout() -> AreaLayout {
    *LAYOUT.get().expect("the vector-state layout is recorded at boot")
}

/// One context's vector registers while it is switched out.
pub struct VectorArea {
    layout: AreaLayout,
    chunks: Box<[AreaChunk]>,
}

impl VectorArea {
    /// An area holding the initial state (zero registers, default MXCSR).
    pub fn new() -> Result<VectorArea, &'static str> {
        let layout = layout();
        let mut chunks = Vec::new();
        chunks.try_reserve_exact(layout.chunks()).map_err(|_| "no memory for a task's vector-register area")?;
        chunks.resize(layout.chunks(), AreaChunk::ZERO);
        let mut chunks = chunks.into_boxed_slice();
        vector_state::initialize(&layout, &mut chunks).map_err(|_| "vector-register area sized below its layout")?;
        Ok(VectorArea { layout, chunks })
    }

    /// Saves the CPU's vector registers here (the task just switched out).
    pub fn save(&mut self) {
        let count = self.chunks.len();
        with_staging(|staging| {
            let staging = &mut staging[..count];
            vector_state::save(&self.layout, staging).expect("the layout fits the staging buffer");
            self.chunks.copy_from_slice(staging);
        });
    }

    /// Loads the CPU's vector registers from here (the task is about to run).
    pub fn restore(&self) {
        let count = self.chunks.len();
        with_staging(|staging| {
            let staging = &mut staging[..count];
            staging.copy_from_slice(&self.chunks);
            // SAFETY: the chunks were written only by `new` (initialize) and `save`, with
            // this layout, and copied unchanged; the scheduler keeps no values in vector
            // registers (soft-float kernel).
            unsafe { vector_state::restore(&self.layout, staging) }.expect("the layout fits the staging buffer");
        });
    }
}
