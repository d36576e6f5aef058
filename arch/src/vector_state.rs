//! A context's vector registers (x87, SSE, AVX) saved to memory and loaded back.
//!
//! Generated wasm code is the only user of the vector registers (the kernel is built
//! soft-float), so a task switch saves the outgoing task's registers and loads the
//! incoming task's. With XSAVE the area holds every state component
//! [`enable_vector_state`](crate::cpu::enable_vector_state) turned on in XCR0 (x87, SSE
//! with MXCSR, and with AVX the upper YMM halves) and is as large as cpuid leaf 0xD
//! says; without it FXSAVE's 512 bytes. Both instructions are unprivileged, so they
//! run natively at CPL3. The caller owns the area (this module never allocates): it is
//! a slice of 64-byte aligned [`AreaChunk`]s, which XSAVE requires.

use crate::cpu::VectorState;

/// Which instruction pair saves and restores the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveFormat {
    /// `xsave64`/`xrstor64` of the state components in `components` (a mask of XCR0
    /// bits). The mask, not all-ones: the hardware's XCR0 may hold more components than
    /// the kernel enabled (a hypervisor's own), and those would be written past the
    /// area.
    Xsave { components: u64 },
    /// `fxsave64`/`fxrstor64`: x87 and SSE only.
    Fxsave,
}

/// How large a save area is and which instructions use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AreaLayout {
    pub format: SaveFormat,
    /// Bytes the instruction reads and writes.
    pub bytes: usize,
}

impl AreaLayout {
    /// The layout for the vector state the boot enabled.
    pub fn of(state: &VectorState) -> AreaLayout {
        if state.xsave {
            AreaLayout {
                format: SaveFormat::Xsave { components: state.xsave_components },
                bytes: state.save_area_bytes.max(FXSAVE_BYTES + XSAVE_HEADER_BYTES),
            }
        } else {
            AreaLayout { format: SaveFormat::Fxsave, bytes: FXSAVE_BYTES }
        }
    }

    /// Chunks an area needs.
    pub fn chunks(&self) -> usize {
        self.bytes.div_ceil(CHUNK_BYTES)
    }
}

const CHUNK_BYTES: usize = 64;
const FXSAVE_BYTES: usize = 512;
const XSAVE_HEADER_BYTES: usize = 64;
const FCW_OFFSET: usize = 0;
const MXCSR_OFFSET: usize = 24;

/// MXCSR at reset: every SSE exception masked, round to nearest (what wasm needs).
pub const DEFAULT_MXCSR: u32 = 0x1F80;
/// The x87 control word at `fninit`: every exception masked, 64-bit precision.
const DEFAULT_FCW: u16 = 0x037F;

/// 64 bytes of a save area, aligned as XSAVE requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct AreaChunk(pub [u8; CHUNK_BYTES]);

impl AreaChunk {
    pub const ZERO: AreaChunk = AreaChunk([0; CHUNK_BYTES]);
}

/// Why an area cannot be used with a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AreaTooSmall {
    pub needed_chunks: usize,
    pub got_chunks: usize,
}

impl core::fmt::Display for AreaTooSmall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "vector save area of {} chunks, {} needed", self.got_chunks, self.needed_chunks)
    }
}

fn check(layout: &AreaLayout, area: &[AreaChunk]) -> Result<(), AreaTooSmall> {
    if area.len() < layout.chunks() {
        return Err(AreaTooSmall { needed_chunks: layout.chunks(), got_chunks: area.len() });
    }
    Ok(())
}

/// Fills `area` with the state a fresh context starts in: registers zero, default
/// control words (restoring a zeroed area would unmask every SSE exception) and an
/// empty XSAVE header (components in their initial state).
pub fn initialize(layout: &AreaLayout, area: &mut [AreaChunk]) -> Result<(), AreaTooSmall> {
    check(layout, area)?;
    area.fill(AreaChunk::ZERO);
    let first = &mut area[0].0;
    first[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&DEFAULT_FCW.to_le_bytes());
    first[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
    Ok(())
}

/// The MXCSR value stored in `area`.
pub fn saved_mxcsr(area: &[AreaChunk]) -> u32 {
    let bytes = &area[0].0[MXCSR_OFFSET..MXCSR_OFFSET + 4];
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Saves the CPU's vector state into `area`.
pub fn save(layout: &AreaLayout, area: &mut [AreaChunk]) -> Result<(), AreaTooSmall> {
    check(layout, area)?;
    let pointer = area.as_mut_ptr().cast::<u8>();
    match layout.format {
        // `area` is 64-byte aligned and at least `layout.bytes` long, the size of the
        // components in the mask EDX:EAX, which bounds what the save writes.
        SaveFormat::Xsave { components } => {
            // SAFETY: the masked save stays inside the area (see above).
            unsafe {
                core::arch::asm!(
                    "xsave64 [{area}]",
                    area = in(reg) pointer,
                    in("eax") components as u32,
                    in("edx") (components >> 32) as u32,
                    options(nostack, preserves_flags),
                );
            }
        }
        // SAFETY: as above, with FXSAVE's fixed 512 bytes (16-byte alignment needed).
        SaveFormat::Fxsave => unsafe {
            core::arch::asm!("fxsave64 [{area}]", area = in(reg) pointer, options(nostack, preserves_flags));
        },
    }
    Ok(())
}

/// Loads the CPU's vector state from `area`.
///
/// # Safety
/// `area` must hold what [`initialize`] or [`save`] wrote with the same `layout` (a
/// malformed XSAVE header faults). The caller gives up every value it kept in vector
/// registers (on the host, the compiler is told they are clobbered).
pub unsafe fn restore(layout: &AreaLayout, area: &[AreaChunk]) -> Result<(), AreaTooSmall> {
    check(layout, area)?;
    let pointer = area.as_ptr().cast::<u8>();
    match layout.format {
        // `clobber_abi("C")` marks the vector registers clobbered where the target has
        // them (on the soft-float kernel target it names general registers only).
        SaveFormat::Xsave { components } => {
            // SAFETY: per the contract the area is a valid XSAVE image of this layout.
            unsafe {
                core::arch::asm!(
                    "xrstor64 [{area}]",
                    area = in(reg) pointer,
                    in("eax") components as u32,
                    in("edx") (components >> 32) as u32,
                    clobber_abi("C"),
                    options(nostack, preserves_flags),
                );
            }
        }
        // SAFETY: as above, an FXSAVE image.
        SaveFormat::Fxsave => unsafe {
            core::arch::asm!(
                "fxrstor64 [{area}]",
                area = in(reg) pointer,
                clobber_abi("C"),
                options(nostack, preserves_flags),
            );
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;

    use super::*;

    fn host_layouts() -> [AreaLayout; 2] {
        // x87, SSE and AVX (when the host has it), as the kernel enables them.
        let avx = core::arch::x86_64::__cpuid(1).ecx & (1 << 28) != 0;
        let components = if avx { 0b111 } else { 0b11 };
        let bytes = crate::cpu::xsave_area_bytes(components);
        [
            AreaLayout { format: SaveFormat::Xsave { components }, bytes },
            AreaLayout { format: SaveFormat::Fxsave, bytes: FXSAVE_BYTES },
        ]
    }

    fn read_mxcsr() -> u32 {
        let mut value = 0u32;
        // SAFETY: stores MXCSR into a local.
        unsafe { core::arch::asm!("stmxcsr [{}]", in(reg) &raw mut value, options(nostack, preserves_flags)) };
        value
    }

    fn write_mxcsr(value: u32) {
        // SAFETY: loads a valid MXCSR (only defined bits set) from a local.
        unsafe { core::arch::asm!("ldmxcsr [{}]", in(reg) &raw const value, options(nostack, preserves_flags)) };
    }

    #[test]
    fn a_saved_state_comes_back_and_a_fresh_one_has_default_control_words() {
        for layout in host_layouts() {
            let mut saved = vec![AreaChunk::ZERO; layout.chunks()];
            let mut fresh = vec![AreaChunk::ZERO; layout.chunks()];
            initialize(&layout, &mut saved).unwrap();
            initialize(&layout, &mut fresh).unwrap();
            assert_eq!(saved_mxcsr(&fresh), DEFAULT_MXCSR);
            // Flush-to-zero on: a state no context here would have by accident.
            write_mxcsr(DEFAULT_MXCSR | 0x8000);
            save(&layout, &mut saved).unwrap();
            // SAFETY: `fresh` was initialized with this layout.
            unsafe { restore(&layout, &fresh).unwrap() };
            let after_fresh = read_mxcsr();
            // SAFETY: `saved` was written by `save` with this layout.
            unsafe { restore(&layout, &saved).unwrap() };
            let after_saved = read_mxcsr();
            write_mxcsr(DEFAULT_MXCSR);
            assert_eq!(saved_mxcsr(&saved), DEFAULT_MXCSR | 0x8000, "{layout:?}");
            assert_eq!(after_fresh, DEFAULT_MXCSR, "{layout:?}");
            assert_eq!(after_saved, DEFAULT_MXCSR | 0x8000, "{layout:?}");
        }
    }

    /// The save writes only the masked components, whatever else the host's XCR0 holds
    /// (Linux enables AVX-512 and AMX where the CPU has them): nothing past the area.
    #[test]
    fn a_save_stays_inside_the_area_of_its_components() {
        let [layout, _] = host_layouts();
        let mut area = vec![AreaChunk([0xA5; CHUNK_BYTES]); layout.chunks() + 256];
        initialize(&layout, &mut area[..layout.chunks()]).unwrap();
        save(&layout, &mut area).unwrap();
        let past = &area[layout.chunks()..];
        assert!(past.iter().all(|chunk| chunk.0 == [0xA5; CHUNK_BYTES]), "xsave wrote past {} bytes", layout.bytes);
    }

    #[test]
    fn the_area_of_x87_sse_and_avx_is_832_bytes() {
        if core::arch::x86_64::__cpuid(1).ecx & (1 << 28) != 0 {
            assert_eq!(crate::cpu::xsave_area_bytes(0b111), 832);
        }
        assert_eq!(crate::cpu::xsave_area_bytes(0b11), 576);
    }

    #[test]
    fn a_short_area_is_refused_before_any_instruction_runs() {
        let layout = AreaLayout { format: SaveFormat::Xsave { components: 0b111 }, bytes: 832 };
        let mut area = [AreaChunk::ZERO; 4];
        assert_eq!(save(&layout, &mut area), Err(AreaTooSmall { needed_chunks: 13, got_chunks: 4 }));
        assert_eq!(initialize(&layout, &mut area), Err(AreaTooSmall { needed_chunks: 13, got_chunks: 4 }));
    }
}
