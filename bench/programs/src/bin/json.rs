//! serde_json: serialize N records (default 100 000) to text and parse them back.
use serde::{Deserialize, Serialize};
use wasmetal_bench_programs::{Rng, WORDS, arg, workload};

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Record {
    id: u64,
    name: String,
    email: String,
    score: f64,
    tags: Vec<String>,
    active: bool,
    parent: Option<u64>,
}

fn main() {
    let count = arg(100_000);
    let mut rng = Rng::new(7);
    let records: Vec<Record> = (0..count as u64)
        .map(|id| Record {
            id,
            name: WORDS[rng.below(WORDS.len() as u64) as usize].to_string(),
            email: format!("user{}@example.com", rng.below(1_000_000)),
            score: rng.below(1_000_000) as f64 / 7.0,
            tags: (0..rng.below(5)).map(|_| WORDS[rng.below(WORDS.len() as u64) as usize].to_string()).collect(),
            active: rng.below(2) == 0,
            parent: (id > 0 && rng.below(3) == 0).then(|| rng.below(id)),
        })
        .collect();
    let (bytes, parsed) = workload("json", || {
        let text = serde_json::to_string(&records).expect("serializes");
        let parsed: Vec<Record> = serde_json::from_str(&text).expect("parses");
        let value: serde_json::Value = serde_json::from_str(&text).expect("parses as a value");
        assert_eq!(value.as_array().map(Vec::len), Some(count));
        (text.len(), parsed)
    });
    assert!(parsed == records, "the records came back changed");
    println!("json: {count} records, {bytes} bytes");
}
