//! Grows memory by N MiB (default 64) and writes one word per 4 KiB page; prints the
//! time the growth and the touches took on WASI's monotonic clock. Every word it reads
//! before writing must be zero, as memory.grow promises. With `steps` as the second
//! argument it grows one 64 KiB page at a time and touches it before the next growth,
//! the way a malloc's `sbrk` grows a heap. A third argument waits that many
//! milliseconds first (so another task can finish and leave its frames behind).
use std::time::Instant;

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(64);
    let steps = std::env::args().nth(2).is_some_and(|arg| arg == "steps");
    if let Some(ms) = std::env::args().nth(3).and_then(|arg| arg.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let began = Instant::now();
    let pages = mib * 16;
    let (grow_by, grows) = if steps { (1, pages) } else { (pages, 1) };
    let mut base = usize::MAX;
    for _ in 0..grows {
        let old = core::arch::wasm32::memory_grow(0, grow_by);
        assert_ne!(old, usize::MAX, "memory.grow by {grow_by} pages failed");
        base = base.min(old * 65536);
        for offset in (old * 65536..(old + grow_by) * 65536).step_by(4096) {
            touch(offset, (offset - base) as u32);
        }
    }
    let mut sum = 0u64;
    for offset in (0..mib << 20).step_by(4096) {
        // SAFETY: as above.
        sum += u64::from(unsafe { core::ptr::read_volatile((base + offset + 2048) as *const u32) });
    }
    let how = if steps { "in 64 KiB steps" } else { "at once" };
    println!("grow_touch: {mib} MiB {how} in {} us, sum {sum}", began.elapsed().as_micros());
}

/// Checks that the word in the middle of the page at `at` is still zero (the page is
/// fresh, whatever its frame held before) and writes `value` there. The middle, not the
/// start: the kernel may write the first word of a page it knows is zero.
fn touch(at: usize, value: u32) {
    let word = (at + 2048) as *mut u32;
    // SAFETY: the page at `at` is in memory memory.grow just added.
    let fresh = unsafe { core::ptr::read_volatile(word) };
    assert_eq!(fresh, 0, "grown memory at {:#x} is not zero", at + 2048);
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(word, value) };
}
