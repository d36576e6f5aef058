//! Never returns: an infinite loop that only an interruption can end.

fn main() {
    println!("spinning");
    let mut x = 1u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
