//! Copies stdin to stdout in reads of up to 64 KiB, then prints nothing more.
use std::io::{Read, Write};

fn main() {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = stdin.read(&mut buffer).expect("reading stdin");
        if n == 0 {
            break;
        }
        stdout.write_all(&buffer[..n]).expect("writing stdout");
    }
}
