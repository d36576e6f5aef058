//! CPU-bound work that reports progress: prints `tick N` after each slice of work, for
//! `argv[1]` ticks (default 20). Two of these as tasks must interleave.

fn main() {
    let ticks: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for tick in 0..ticks {
        for _ in 0..2_000_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
        }
        println!("tick {tick} {:08x}", state as u32);
    }
}
