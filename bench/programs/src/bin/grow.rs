//! Memory growth and first touch: grows linear memory by N MiB (default 64) and writes
//! one word per 4 KiB page, at once or (`steps`) 64 KiB at a time as a malloc's `sbrk`.
use wasmetal_bench_programs::{arg, workload};

fn main() {
    let mib = arg(64);
    let steps = std::env::args().nth(2).is_some_and(|arg| arg == "steps");
    let sum = workload("grow", || {
        let pages = mib * 16;
        let (grow_by, grows) = if steps { (1, pages) } else { (pages, 1) };
        let mut sum = 0u64;
        for _ in 0..grows {
            let old = core::arch::wasm32::memory_grow(0, grow_by);
            assert_ne!(old, usize::MAX, "memory.grow by {grow_by} pages failed");
            for at in (old * 65536..(old + grow_by) * 65536).step_by(4096) {
                // SAFETY: the page was just added to linear memory by memory.grow.
                unsafe { core::ptr::write_volatile(at as *mut u32, at as u32) };
                sum += at as u64;
            }
        }
        sum
    });
    println!("grow: {mib} MiB, sum {sum}");
}
