//! Recurses to the depth given as the first argument and prints it.
use std::hint::black_box;

fn depth(n: u64) -> u64 {
    if n == 0 { 0 } else { 1 + black_box(depth(black_box(n - 1))) }
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(1000);
    println!("depth {}", depth(n));
}
