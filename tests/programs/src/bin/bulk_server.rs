//! Bulk TCP on the preopened listener (fd 3), one connection at a time: a first line
//! `send N` makes it write N bytes (64 KiB writes) and close; `recv` makes it read to
//! the end and answer the byte count; `exit` ends the program.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::wasi::io::FromRawFd;

fn main() {
    // SAFETY: fd 3 is the listening socket the runtime preopened (--tcplisten).
    let listener = unsafe { TcpListener::from_raw_fd(3) };
    println!("ready");
    let chunk = vec![0x5au8; 64 * 1024];
    let mut buffer = vec![0u8; 64 * 1024];
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 64 && stream.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        if let Some(count) = line.strip_prefix("send ").and_then(|n| n.trim().parse::<u64>().ok()) {
            let mut left = count;
            while left > 0 {
                let take = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..take]).is_err() {
                    break;
                }
                left -= take as u64;
            }
        } else if line.trim() == "exit" {
            return;
        } else if line.trim() == "recv" {
            let mut total = 0u64;
            while let Ok(count) = stream.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                total += count as u64;
            }
            let _ = writeln!(stream, "{total}");
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}
