//! Writes `out N` lines to stdout and `err N` lines to stderr, alternating, N times.
use std::io::Write;

fn main() {
    let count: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    for i in 0..count {
        writeln!(out, "out {i}").unwrap();
        writeln!(err, "err {i}").unwrap();
    }
}
