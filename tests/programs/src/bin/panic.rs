//! Panics (under WASI the abort that follows is the wasm trap `unreachable`).
fn main() {
    println!("about to panic");
    let values: Vec<u32> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    if values.is_empty() {
        panic!("boom: no numbers given");
    }
    println!("sum {}", values.iter().sum::<u32>());
}
