//! Reads the monotonic and realtime clocks, sleeps 50 ms, and checks the elapsed time.
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let start = Instant::now();
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    println!("realtime after 2020: {}", wall.as_secs() > 1_577_836_800);
    std::thread::sleep(Duration::from_millis(50));
    let elapsed = start.elapsed();
    println!("slept at least 50 ms: {}", elapsed >= Duration::from_millis(50));
    let later = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    println!("realtime advanced: {}", later >= wall);
}
