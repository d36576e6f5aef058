//! An HTTP/1.1 server on std's `TcpListener` from the preopened socket (fd 3), one
//! connection at a time, with keep-alive. `GET /` answers a greeting, `/bytes/N` N
//! bytes, `/exit` answers and then exits with its connection still open.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::wasi::io::FromRawFd;

/// Serves requests on `stream` until the client closes it or asks to; true on `/exit`.
fn serve(stream: &mut TcpStream) -> bool {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end + 4);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let close = head.to_ascii_lowercase().contains("connection: close");
        let body: Vec<u8> = match path.strip_prefix("/bytes/").and_then(|n| n.parse::<usize>().ok()) {
            Some(count) => (0..count).map(|i| b'a' + (i % 26) as u8).collect(),
            None => b"hello from wasmetal\n".to_vec(),
        };
        let header = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if stream.write_all(header.as_bytes()).and_then(|()| stream.write_all(&body)).is_err() {
            return false;
        }
        if path == "/exit" {
            return true;
        }
        if close {
            return false;
        }
    }
}

fn main() {
    // SAFETY: fd 3 is the listening socket the runtime preopened (--tcplisten).
    let listener = unsafe { TcpListener::from_raw_fd(3) };
    println!("ready");
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if serve(&mut stream) {
            println!("exiting with a connection open");
            std::process::exit(0);
        }
    }
}
