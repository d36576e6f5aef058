//! `memcpy`, `memmove` and `memset` for the kernel, fast at every length.
//!
//! Rust and its dependencies call these symbols for every struct move and buffer copy
//! (Cranelift does so constantly, and so does the runtime for `memory.copy`). The
//! bare-metal defaults from `compiler_builtins` are weak symbols built on `rep movsq` +
//! `rep movsb`, whose start-up cost is tens of cycles, far more than an 8-byte copy, and
//! whose overlapping `memmove` runs with the direction flag set, a byte per cycle. These
//! strong definitions replace them: short lengths with overlapping unaligned word moves
//! (the runtime's, which its `memory.copy` uses inline), long forward ones with word
//! string moves to an aligned destination, long backward ones with a word loop. Loops use volatile accesses so the optimizer
//! cannot turn them back into calls to these very functions.

use wasmetal_runtime::platform::{SHORT_BYTES as SHORT, copy_short, fill_short};

/// Copies forward: bytes up to the next 8-byte boundary of `dst`, then words with
/// `rep movsq`, then the tail bytes (word string moves are the fast case on every
/// x86-64, with or without ERMSB).
///
/// # Safety
/// As for `memcpy`; if the ranges overlap, `dst` must not lie above `src`.
#[inline(always)]
unsafe fn copy_forward_long(dst: *mut u8, src: *const u8, len: usize) {
    let head = (dst as usize).wrapping_neg() & 7;
    let words = (len - head) / 8;
    let tail = (len - head) % 8;
    // SAFETY: the three string moves copy exactly `head + 8 * words + tail == len`
    // bytes upwards, each continuing where the last stopped; DF is clear per the ABI.
    unsafe {
        core::arch::asm!(
            "rep movsb",
            "mov rcx, {words}",
            "rep movsq",
            "mov rcx, {tail}",
            "rep movsb",
            words = in(reg) words,
            tail = in(reg) tail,
            inout("rcx") head => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags)
        );
    }
}

/// Copies backward (for an overlapping `memmove` with `dst` above `src`) in words.
///
/// # Safety
/// As for `memmove`, with `len > SHORT`.
#[inline(always)]
unsafe fn copy_backward_long(dst: *mut u8, src: *const u8, len: usize) {
    let mut end = len;
    // SAFETY: every access lies within the ranges; each word is read before it is
    // written, and words further down are read only after higher ones were written,
    // which with `dst > src` never clobbers a byte not yet read.
    unsafe {
        while end >= 8 {
            end -= 8;
            let word = (src.add(end) as *const u64).read_volatile();
            (dst.add(end) as *mut u64).write_volatile(word);
        }
        while end > 0 {
            end -= 1;
            dst.add(end).write_volatile(src.add(end).read_volatile());
        }
    }
}

/// # Safety
/// The C contract: `src..src+len` readable, `dst..dst+len` writable, no overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    // SAFETY: per the C contract.
    unsafe {
        if len <= SHORT {
            copy_short(dst, src, len);
        } else {
            copy_forward_long(dst, src, len);
        }
    }
    dst
}

/// # Safety
/// The C contract: `src..src+len` readable, `dst..dst+len` writable; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    // SAFETY: per the C contract; a forward copy is safe unless `dst` lies inside the
    // source range above `src`.
    unsafe {
        if len <= SHORT {
            copy_short(dst, src, len);
        } else if (dst as usize).wrapping_sub(src as usize) >= len {
            copy_forward_long(dst, src, len);
        } else {
            copy_backward_long(dst, src, len);
        }
    }
    dst
}

/// # Safety
/// The C contract: `dst..dst+len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, byte: i32, len: usize) -> *mut u8 {
    let byte = byte as u8;
    // SAFETY: per the C contract; the string stores write exactly `len` bytes upwards
    // (head bytes to an 8-byte boundary, words, tail bytes).
    unsafe {
        if len <= SHORT {
            fill_short(dst, byte, len);
        } else {
            let head = (dst as usize).wrapping_neg() & 7;
            let word = u64::from(byte) * 0x0101_0101_0101_0101;
            core::arch::asm!(
                "rep stosb",
                "mov rcx, {words}",
                "rep stosq",
                "mov rcx, {tail}",
                "rep stosb",
                words = in(reg) (len - head) / 8,
                tail = in(reg) (len - head) % 8,
                inout("rcx") head => _,
                inout("rdi") dst => _,
                in("rax") word,
                options(nostack, preserves_flags)
            );
        }
    }
    dst
}
