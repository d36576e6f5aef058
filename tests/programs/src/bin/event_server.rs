//! An event-driven HTTP/1.1 keep-alive server on mio (poll_oneoff underneath) over the
//! preopened listener (fd 3): many connections at once, non-blocking. `GET /stats`
//! answers how many connections are open, `/bytes/N` N bytes, `/exit` answers and
//! exits with all open.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::wasi::io::FromRawFd;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Connection {
    stream: TcpStream,
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    close_after: bool,
    writable_interest: bool,
}

/// Answers the complete requests in `inbound`; true when one was `/exit`.
fn answer(connection: &mut Connection, open: usize) -> bool {
    let mut exit = false;
    while let Some(end) = connection.inbound.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&connection.inbound[..end]).into_owned();
        connection.inbound.drain(..end + 4);
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        let body = match (path, path.strip_prefix("/bytes/").and_then(|n| n.parse::<usize>().ok())) {
            ("/stats", _) => format!("open {open}\n"),
            (_, Some(count)) => "x".repeat(count),
            _ => "hello from wasmetal\n".to_string(),
        };
        exit |= path == "/exit";
        connection.close_after |= head.to_ascii_lowercase().contains("connection: close");
        let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n", body.len());
        connection.outbound.extend_from_slice(header.as_bytes());
        connection.outbound.extend_from_slice(body.as_bytes());
    }
    exit
}

/// Writes what is pending; false when the connection is finished.
fn flush(connection: &mut Connection) -> bool {
    while !connection.outbound.is_empty() {
        match connection.stream.write(&connection.outbound) {
            Ok(0) => return false,
            Ok(count) => {
                connection.outbound.drain(..count);
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => return true,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    !connection.close_after
}

/// Reads what has arrived and answers it; `None` when the connection is finished,
/// `Some(true)` on `/exit`.
fn readable(connection: &mut Connection, open: usize) -> Option<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        match connection.stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(count) => {
                connection.inbound.extend_from_slice(&chunk[..count]);
                // A client sending a head without end cannot make us hold more than this.
                if connection.inbound.len() > 64 * 1024 {
                    return None;
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let exit = answer(connection, open);
    if !flush(connection) && connection.outbound.is_empty() {
        return if exit { Some(true) } else { None };
    }
    Some(exit)
}

fn main() {
    // SAFETY: fd 3 is the listening socket the runtime preopened (--tcplisten).
    let std_listener = unsafe { std::net::TcpListener::from_raw_fd(3) };
    std_listener.set_nonblocking(true).expect("non-blocking listener");
    let mut listener = TcpListener::from_std(std_listener);
    let mut poll = Poll::new().expect("poll");
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).expect("register the listener");
    let mut events = Events::with_capacity(1024);
    let mut connections: HashMap<usize, Connection> = HashMap::new();
    let mut next_token = 0usize;
    println!("ready");
    loop {
        if let Err(error) = poll.poll(&mut events, None) {
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            panic!("poll: {error}");
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let token = Token(next_token);
                            next_token += 1;
                            poll.registry().register(&mut stream, token, Interest::READABLE).expect("register");
                            let connection = Connection {
                                stream,
                                inbound: Vec::new(),
                                outbound: Vec::new(),
                                close_after: false,
                                writable_interest: false,
                            };
                            connections.insert(token.0, connection);
                        }
                        Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                        Err(error) => {
                            eprintln!("accept: {error}");
                            break;
                        }
                    }
                }
                continue;
            }
            let open = connections.len();
            let Some(connection) = connections.get_mut(&event.token().0) else { continue };
            let mut keep = true;
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                match readable(connection, open) {
                    None => keep = false,
                    Some(true) => {
                        println!("exiting with {open} connections open");
                        std::process::exit(0);
                    }
                    Some(false) => {}
                }
            }
            if keep && event.is_writable() {
                keep = flush(connection) || !connection.outbound.is_empty();
            }
            if !keep {
                let mut connection = connections.remove(&event.token().0).expect("present");
                let _ = poll.registry().deregister(&mut connection.stream);
                continue;
            }
            let want_write = !connection.outbound.is_empty();
            if want_write != connection.writable_interest {
                let interest = if want_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                let _ = poll.registry().reregister(&mut connection.stream, event.token(), interest);
                connection.writable_interest = want_write;
            }
        }
    }
}
