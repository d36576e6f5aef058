//! regex: compile a few patterns and count their matches over N MiB of text (default 8).
use wasmetal_bench_programs::{Rng, arg, text, workload};

fn main() {
    let mib = arg(8);
    let haystack = text(&mut Rng::new(13), mib << 20);
    let counts = workload("regex", || {
        let patterns = [
            r"[a-z0-9._]+@[a-z0-9.]+\.[a-z]{2,}",
            r"\b\d{4}-\d{2}-\d{2}\b",
            r"(?i)\b(alpha|zulu)\s+\w+",
            r"https?://[^\s]+",
            r"\b\d+\b",
        ];
        patterns
            .iter()
            .map(|pattern| regex::Regex::new(pattern).expect("compiles").find_iter(&haystack).count())
            .collect::<Vec<_>>()
    });
    assert!(counts.iter().all(|&count| count > 0), "every pattern matches somewhere");
    println!("regex: {counts:?}");
}
