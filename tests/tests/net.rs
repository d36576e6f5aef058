//! Networking through the launcher: `--tcplisten` forwards a host port into the VM and
//! the program serves it. Host clients (Rust std) check HTTP keep-alive, an echo, the
//! preview1 error cases, concurrent keep-alive connections, and that idle, half-request and
//! resetting clients neither stall the others nor leave sockets behind; a program that
//! exits with connections open leaves the launcher exiting cleanly. Every test picks
//! free ephemeral ports, so they run in parallel.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmetal_tests::programs::program;
use wasmetal_tests::{Launcher, number_after};

/// How long a client waits on one read before the test fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A free port on 127.0.0.1 (the kernel of the OS picks it; it is released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port").local_addr().unwrap().port()
}

/// A launcher running a server program with one `--tcplisten`.
struct Server {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Server {
    /// Boots `name` listening on a free port and waits for its `ready` line.
    fn start(name: &str, args: &[&str]) -> Server {
        let launcher = Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"));
        let kernel = launcher.kernel().to_path_buf();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
            .arg("--kernel")
            .arg(kernel)
            .args(["--verbose", "--timeout", "120", "run", "--tcplisten", &listen])
            .arg(program(name))
            .arg("--")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the launcher");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let server = Server { child, port, lines, stderr };
        let ready = server.lines.recv_timeout(Duration::from_secs(60)).expect("the server never said ready");
        assert_eq!(ready, "ready");
        server
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to the forwarded port");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// Waits (bounded) for the launcher to exit: its code, stdout lines and stderr.
    fn finish(mut self) -> (Option<i32>, Vec<String>, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("the launcher did not exit after the program did");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        (status.code(), lines, self.stderr.join().unwrap())
    }
}

/// Sends one GET on `stream` and reads the response: (status line, body).
fn get(stream: &mut TcpStream, path: &str) -> (String, Vec<u8>) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("sending a request");
    read_response(stream)
}

fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("reading a response head"), 1, "connection closed mid-head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("reading a response body");
    (head.lines().next().unwrap().to_string(), body)
}

/// The kernel's `net:` line at the end of the run: (sockets, connections).
fn net_stats(stderr: &str) -> (usize, usize) {
    let line = stderr.lines().find(|line| line.contains("net: ")).unwrap_or_else(|| panic!("no net line:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "net:").unwrap();
    (words[at + 1].parse().unwrap(), words[at + 3].parse().unwrap())
}

/// The card's interrupts and how the kernel's device waits ended, from the `net:` line:
/// (interrupts, waits woken by an interrupt, waits that ran out their time).
fn net_wakeups(stderr: &str) -> (u64, u64, u64) {
    let line = stderr.lines().find(|line| line.contains("net: ")).unwrap_or_else(|| panic!("no net line:\n{stderr}"));
    let number_before = |word: &str| -> u64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| w.trim_end_matches(',') == word).unwrap_or_else(|| panic!("{word}: {line}"));
        words[at - 1].parse().unwrap()
    };
    (number_before("interrupts"), number_after(line, "waits woken "), number_after(line, "by interrupt "))
}

/// A task blocked on the network is woken by the card's interrupt, not only by its time
/// running out (the timer-tick fallback).
fn assert_woken_by_interrupts(stderr: &str) {
    let (interrupts, by_interrupt, by_time) = net_wakeups(stderr);
    assert!(interrupts > 0, "the card never interrupted:\n{stderr}");
    assert!(by_interrupt > 0, "no wait was ended by an interrupt ({by_time} by time):\n{stderr}");
}

#[test]
fn http_keep_alive_and_an_exit_with_a_connection_open() {
    let server = Server::start("http_server", &[]);
    let mut stream = server.connect();
    for _ in 0..3 {
        let (status, body) = get(&mut stream, "/");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, b"hello from wasmetal\n");
    }
    let (_, body) = get(&mut stream, "/bytes/300000");
    assert_eq!(body.len(), 300_000);
    assert!(body.iter().enumerate().all(|(i, &b)| b == b'a' + (i % 26) as u8), "the body is not the pattern");
    // Pauses longer than the kernel's spin before it sleeps: the server is blocked in
    // sock_recv, asleep, when each request comes, and the card's interrupt wakes it.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(50));
        let (status, _) = get(&mut stream, "/");
        assert_eq!(status, "HTTP/1.1 200 OK");
    }
    drop(stream);
    let mut last = server.connect();
    let (status, _) = get(&mut last, "/exit");
    assert_eq!(status, "HTTP/1.1 200 OK");
    // `last` stays open while the program exits.
    let (code, lines, stderr) = server.finish();
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    assert!(lines.iter().any(|line| line == "exiting with a connection open"), "{lines:?}");
    assert_woken_by_interrupts(&stderr);
    drop(last);
}

#[test]
fn echo_is_byte_exact() {
    let server = Server::start("echo_server", &["2"]);
    let payload: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sent = payload.clone();
    let feeder = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).expect("reading the echo");
    feeder.join().unwrap();
    assert!(echoed == payload, "the echo differs ({} of {} bytes)", echoed.len(), payload.len());
    let mut small = server.connect();
    small.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    small.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
    small.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(small.read(&mut reply).unwrap(), 0, "the server closes after the end");
    let (code, lines, stderr) = server.finish();
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    assert!(lines.contains(&"connection 1: echoed 1048576 bytes".to_string()), "{lines:?}");
}

#[test]
fn preview1_socket_errors_match_wasmtime() {
    let launcher = Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"));
    let listen = format!("127.0.0.1:{}", free_port());
    let run =
        launcher.run(&["--timeout", "60", "run", "--tcplisten", &listen, program("sock_errors").to_str().unwrap()]);
    run.expect_code(0);
    // ENOTSOCK 57, EINVAL 28, ENOTCONN 53, EAGAIN 6, EBADF 8; filetype 6 = socket_stream.
    for (name, expected) in [
        ("shutdown stdin", "57"),
        ("shutdown listener bad how", "28"),
        ("shutdown listener", "53"),
        ("set listener nonblocking", "0"),
        ("accept nonblocking", "6"),
        ("accept bad flags", "28"),
        ("accept stdout", "57"),
        ("accept closed fd", "8"),
        ("recv listener", "53"),
        ("fdstat listener", "0 filetype 6 flags 4"),
    ] {
        let line = run.expect_line(&format!("{name} = "));
        assert_eq!(line, format!("{name} = {expected}"), "output:\n{run}");
    }
}

/// Concurrent keep-alive connections the event-driven server holds and answers at once.
const CONCURRENT: usize = 1000;

#[test]
fn concurrent_keep_alive_connections() {
    let server = Server::start("event_server", &[]);
    // All connects at once: a burst of SYNs into the guest. (QEMU's user networking
    // listens with a backlog of 1; the launcher widens it, see boot/src/slirp_backlog.rs,
    // else most of these connects would wait for the host's SYN retries.)
    let mut streams: Vec<TcpStream> = (0..CONCURRENT).map(|_| server.connect()).collect();
    for round in 0..2 {
        for stream in &mut streams {
            write!(stream, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        }
        for (index, stream) in streams.iter_mut().enumerate() {
            let (status, body) = read_response(stream);
            assert_eq!(
                (status.as_str(), body.as_slice()),
                ("HTTP/1.1 200 OK", &b"hello from wasmetal\n"[..]),
                "connection {index}, round {round}"
            );
        }
    }
    let (_, body) = get(&mut streams[0], "/stats");
    assert_eq!(String::from_utf8(body).unwrap(), format!("open {CONCURRENT}\n"));
    drop(streams);
    let mut last = server.connect();
    get(&mut last, "/exit");
    let (code, _, stderr) = server.finish();
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    assert_woken_by_interrupts(&stderr);
}

#[test]
fn idle_half_request_and_resetting_clients_stall_nobody_and_leave_nothing() {
    let server = Server::start("event_server", &[]);
    for _wave in 0..3 {
        let idle: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
        let half: Vec<TcpStream> = (0..20)
            .map(|_| {
                let mut stream = server.connect();
                stream.write_all(b"GET / HTTP/1.1\r\nHost: te").unwrap();
                stream
            })
            .collect();
        for _ in 0..10 {
            // Ask for 4 MiB, take a little, and close with the rest unread: a reset.
            let mut stream = server.connect();
            stream.write_all(b"GET /bytes/4194304 HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
            let mut some = [0u8; 1024];
            stream.read_exact(&mut some).unwrap();
        }
        // Well-behaved clients are served meanwhile, each within the read timeout.
        for _ in 0..20 {
            let mut stream = server.connect();
            let (status, body) = get(&mut stream, "/");
            assert_eq!(status, "HTTP/1.1 200 OK");
            assert_eq!(body, b"hello from wasmetal\n");
        }
        drop(idle);
        drop(half);
    }
    // Let the server see the last closes, then check nothing is left open.
    std::thread::sleep(Duration::from_millis(500));
    let mut probe = server.connect();
    let (_, body) = get(&mut probe, "/stats");
    assert_eq!(String::from_utf8(body).unwrap(), "open 1\n");
    get(&mut probe, "/exit");
    let (code, _, stderr) = server.finish();
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    // The kernel's stack: the listener's backlog and at most the probe connection.
    let (sockets, connections) = net_stats(&stderr);
    assert!(connections <= 1, "{connections} connections left:\n{stderr}");
    assert!(sockets <= 17, "{sockets} sockets left:\n{stderr}");
}

#[test]
fn bad_tcplisten_is_a_one_line_error() {
    let launcher = Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"));
    let hello = program("hello");
    let hello = hello.to_str().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    for spec in ["nonsense", "127.0.0.1:0", taken.as_str()] {
        let run = launcher.run(&["run", "--tcplisten", spec, hello]);
        run.expect_code(1);
        assert!(run.stderr.contains("--tcplisten"), "{spec}: {run}");
    }
}
