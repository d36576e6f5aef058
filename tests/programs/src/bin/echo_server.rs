//! A TCP echo server on the preopened listener (fd 3), one connection at a time, using
//! the preview1 calls directly through std (`read`/`write` are fd_read/fd_write).
//! With an argument N it exits after N connections.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::wasi::io::FromRawFd;

fn main() {
    let limit: Option<usize> = std::env::args().nth(1).and_then(|n| n.parse().ok());
    // SAFETY: fd 3 is the listening socket the runtime preopened (--tcplisten).
    let listener = unsafe { TcpListener::from_raw_fd(3) };
    println!("ready");
    let mut served = 0;
    for stream in listener.incoming() {
        let mut stream = stream.expect("accept");
        let mut buffer = [0u8; 16 * 1024];
        let mut total = 0usize;
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => {
                    total += count;
                    if stream.write_all(&buffer[..count]).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
        served += 1;
        println!("connection {served}: echoed {total} bytes");
        if limit == Some(served) {
            return;
        }
    }
}
