//! The byte moves behind `memory.copy` and `memory.fill`, fast for short lengths.
//!
//! Compiled code calls these builtins for every copy, and programs built by LLVM emit
//! `memory.copy` for copies of a few bytes (a `copy_from_slice` of a dynamic length,
//! say), so the builtins do lengths up to [`SHORT_BYTES`] inline, with overlapping
//! unaligned word moves and no loop, instead of calling the platform's `memmove` or
//! `memset`; longer ones go to `core::ptr`. The short moves are public so a platform
//! that provides its own `memmove` (the kernel does) can use them without a loop the
//! compiler might turn back into a call. This module only moves bytes; bounds are the
//! caller's.

/// The longest copy or fill done without calling the platform.
pub const SHORT_BYTES: usize = 32;

/// Copies `len <= SHORT_BYTES` bytes; every load happens before any store, so the
/// ranges may overlap.
///
/// # Safety
/// `src..src+len` must be readable, `dst..dst+len` writable, and `len <= SHORT_BYTES`.
#[inline(always)]
pub unsafe fn copy_short(dst: *mut u8, src: *const u8, len: usize) {
    debug_assert!(len <= SHORT_BYTES);
    // SAFETY: in every arm, each access lies within the ranges the caller vouches for;
    // all loads happen before the stores.
    unsafe {
        match len {
            0 => {}
            1..=3 => {
                let first = src.read();
                let middle = src.add(len / 2).read();
                let last = src.add(len - 1).read();
                dst.write(first);
                dst.add(len / 2).write(middle);
                dst.add(len - 1).write(last);
            }
            4..=7 => {
                let head = (src as *const u32).read_unaligned();
                let tail = (src.add(len - 4) as *const u32).read_unaligned();
                (dst as *mut u32).write_unaligned(head);
                (dst.add(len - 4) as *mut u32).write_unaligned(tail);
            }
            8..=16 => {
                let head = (src as *const u64).read_unaligned();
                let tail = (src.add(len - 8) as *const u64).read_unaligned();
                (dst as *mut u64).write_unaligned(head);
                (dst.add(len - 8) as *mut u64).write_unaligned(tail);
            }
            _ => {
                let a = (src as *const u64).read_unaligned();
                let b = (src.add(8) as *const u64).read_unaligned();
                let c = (src.add(len - 16) as *const u64).read_unaligned();
                let d = (src.add(len - 8) as *const u64).read_unaligned();
                (dst as *mut u64).write_unaligned(a);
                (dst.add(8) as *mut u64).write_unaligned(b);
                (dst.add(len - 16) as *mut u64).write_unaligned(c);
                (dst.add(len - 8) as *mut u64).write_unaligned(d);
            }
        }
    }
}

/// Sets `len <= SHORT_BYTES` bytes at `dst` to `byte`.
///
/// # Safety
/// `dst..dst+len` must be writable and `len <= SHORT_BYTES`.
#[inline(always)]
pub unsafe fn fill_short(dst: *mut u8, byte: u8, len: usize) {
    debug_assert!(len <= SHORT_BYTES);
    let word = u64::from(byte) * 0x0101_0101_0101_0101;
    // SAFETY: in every arm, each store lies within `dst..dst+len`.
    unsafe {
        match len {
            0 => {}
            1..=3 => {
                dst.write(byte);
                dst.add(len / 2).write(byte);
                dst.add(len - 1).write(byte);
            }
            4..=7 => {
                (dst as *mut u32).write_unaligned(word as u32);
                (dst.add(len - 4) as *mut u32).write_unaligned(word as u32);
            }
            8..=16 => {
                (dst as *mut u64).write_unaligned(word);
                (dst.add(len - 8) as *mut u64).write_unaligned(word);
            }
            _ => {
                (dst as *mut u64).write_unaligned(word);
                (dst.add(8) as *mut u64).write_unaligned(word);
                (dst.add(len - 16) as *mut u64).write_unaligned(word);
                (dst.add(len - 8) as *mut u64).write_unaligned(word);
            }
        }
    }
}

/// Copies `len` bytes from `src` to `dst`; the ranges may overlap (memmove semantics).
///
/// # Safety
/// `src..src+len` must be readable and `dst..dst+len` writable.
#[inline]
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: per the caller's contract.
    unsafe {
        if len <= SHORT_BYTES {
            copy_short(dst, src, len);
        } else {
            core::ptr::copy(src, dst, len);
        }
    }
}

/// Sets `len` bytes at `dst` to `byte`.
///
/// # Safety
/// `dst..dst+len` must be writable.
#[inline]
pub(crate) unsafe fn fill(dst: *mut u8, byte: u8, len: usize) {
    // SAFETY: per the caller's contract.
    unsafe {
        if len <= SHORT_BYTES {
            fill_short(dst, byte, len);
        } else {
            core::ptr::write_bytes(dst, byte, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_short_length_and_overlap_like_memmove() {
        for len in 0..=40 {
            for shift in [0isize, -5, -1, 1, 5, 17] {
                let mut ours: [u8; 96] = core::array::from_fn(|i| i as u8);
                let mut expected = ours;
                let src = 32usize;
                let dst = (32 + shift) as usize;
                expected.copy_within(src..src + len, dst);
                // SAFETY: both ranges lie inside the array.
                unsafe { copy(ours.as_mut_ptr().add(dst), ours.as_ptr().add(src), len) };
                assert_eq!(ours, expected, "len {len} shift {shift}");
            }
        }
    }

    #[test]
    fn fills_every_short_length_exactly() {
        for len in 0..=40 {
            let mut bytes = [0u8; 64];
            // SAFETY: inside the array.
            unsafe { fill(bytes.as_mut_ptr().add(8), 0xAB, len) };
            for (index, &byte) in bytes.iter().enumerate() {
                let inside = (8..8 + len).contains(&index);
                assert_eq!(byte, if inside { 0xAB } else { 0 }, "len {len} index {index}");
            }
        }
    }
}
