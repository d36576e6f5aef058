//! What every benchmark program shares: the workload marker and a deterministic input.
//!
//! Each program times its workload alone with WASI's monotonic clock and prints
//! `workload NAME: N us` (startup, module compile and exit are not in the figure), so the
//! same line means the same thing inside the kernel and under Wasmtime.

use std::time::Instant;

/// Runs `work`, prints its time as the marker line, and returns its result.
pub fn workload<T>(name: &str, work: impl FnOnce() -> T) -> T {
    let began = Instant::now();
    let result = work();
    println!("workload {name}: {} us", began.elapsed().as_micros());
    result
}

/// A small deterministic generator (xorshift64*), so inputs are the same in every engine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// Words for generated text.
pub const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu", "2024-05-17", "10.0.0.1", "user@example.com", "https://example.org/a/b",
];

/// About `bytes` of text: words, numbers and punctuation, one sentence a line.
pub fn text(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    while out.len() < bytes {
        let words = 5 + rng.below(12);
        for index in 0..words {
            if index > 0 {
                out.push(' ');
            }
            if rng.below(7) == 0 {
                out.push_str(&rng.below(100_000).to_string());
            } else {
                out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            }
        }
        out.push_str(".\n");
    }
    out
}

/// The first argument as a number, or `default`.
pub fn arg(default: usize) -> usize {
    std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(default)
}
