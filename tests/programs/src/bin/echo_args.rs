//! Prints each argument and each environment variable, in order.
fn main() {
    for (index, arg) in std::env::args().enumerate() {
        println!("arg {index}: {arg}");
    }
    for (key, value) in std::env::vars() {
        println!("env {key}={value}");
    }
}
