//! Sleeps for the given number of seconds, then prints "woke".
fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(60);
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    println!("woke");
}
