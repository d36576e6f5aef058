//! Network servers: the same wasm programs in the kernel (`wasmetal::bench_net`) and
//! under Wasmtime on this host, in the same run, measured by the same clients: `wrk`
//! requests/s and p50/p99 latency against the event-driven HTTP server, and bulk TCP
//! MiB/s both ways against the bulk server, with the ratios.
//!
//! Under Wasmtime the programs get a real listening socket as fd 3 through a small
//! preview1 host written here over libc (accept, readv/writev, poll(2) for
//! poll_oneoff): wasmtime-wasi 48 cannot preopen a socket and wasi-common, which could,
//! stopped at 46 (it would bring a second Wasmtime). The host does per call what
//! wasi-common did: one system call, no extra copies.
//!
//! Run with `cargo bench -p wasmetal-bench --bench net` after the test programs are
//! built (`cargo test`, or the command in `tests/programs/Cargo.toml`);
//! `WASMETAL_BENCH_NET_SECONDS` (default 10) and `..._CONNECTIONS` (default 50).

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::fd::{IntoRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use wasmetal::bench_net::{self, BulkFigures, HttpFigures, WrkRun};
use wasmtime::{Caller, Engine, Extern, Linker, Module, Store};

const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const EIO: i32 = 29;

/// One guest descriptor: a host fd and whether it is a socket.
struct HostFd {
    raw: RawFd,
    socket: bool,
}

struct Host {
    fds: HashMap<u32, HostFd>,
}

impl Host {
    fn raw(&self, fd: i32) -> Option<RawFd> {
        self.fds.get(&(fd as u32)).map(|entry| entry.raw)
    }
}

fn errno() -> i32 {
    match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
        libc::EAGAIN => 6,
        libc::ECONNRESET => 15,
        libc::EPIPE => 64,
        libc::EBADF => EBADF,
        libc::EINVAL => EINVAL,
        libc::EINTR => 27,
        libc::ENOTCONN => 53,
        _ => EIO,
    }
}

fn memory(caller: &mut Caller<'_, Host>) -> wasmtime::Memory {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => memory,
        _ => panic!("the module exports its memory"),
    }
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap())
}

fn read_u64(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().unwrap())
}

/// The guest's iovecs as host iovecs into its memory.
fn iovecs(data: &mut [u8], iovs: i32, len: i32) -> Vec<libc::iovec> {
    (0..len as usize)
        .map(|index| {
            let at = iovs as usize + index * 8;
            let (ptr, len) = (read_u32(data, at) as usize, read_u32(data, at + 4) as usize);
            libc::iovec { iov_base: data[ptr..ptr + len].as_mut_ptr().cast(), iov_len: len }
        })
        .collect()
}

/// readv or writev on `fd` with the guest's buffers; writes the count at `out`.
fn vectored(caller: &mut Caller<'_, Host>, fd: i32, iovs: i32, len: i32, out: i32, write: bool) -> i32 {
    let Some(raw) = caller.data().raw(fd) else { return EBADF };
    let memory = memory(caller);
    let data = memory.data_mut(caller);
    let vectors = iovecs(data, iovs, len);
    // SAFETY: every iovec points into guest memory, bounds-checked by the slicing above.
    let count = unsafe {
        if write {
            libc::writev(raw, vectors.as_ptr(), vectors.len() as i32)
        } else {
            libc::readv(raw, vectors.as_ptr(), vectors.len() as i32)
        }
    };
    if count < 0 {
        return errno();
    }
    data[out as usize..out as usize + 4].copy_from_slice(&(count as u32).to_le_bytes());
    0
}

fn set_nonblocking(raw: RawFd, nonblocking: bool) {
    // SAFETY: fcntl on a descriptor this host owns; only O_NONBLOCK changes.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        let flags = if nonblocking { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        libc::fcntl(raw, libc::F_SETFL, flags);
    }
}

fn nonblocking(raw: RawFd) -> bool {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    unsafe { libc::fcntl(raw, libc::F_GETFL) & libc::O_NONBLOCK != 0 }
}

/// `poll_oneoff` over poll(2).
fn poll_oneoff(caller: &mut Caller<'_, Host>, input: i32, output: i32, count: i32, nevents: i32) -> i32 {
    let memory = memory(caller);
    let now = Instant::now();
    let mut fds = Vec::new();
    let mut subs = Vec::new();
    let mut timeout_ns: Option<u64> = None;
    {
        let data = memory.data(&*caller);
        for index in 0..count as usize {
            let at = input as usize + index * 48;
            let userdata = read_u64(data, at);
            let tag = data[at + 8];
            match tag {
                0 => {
                    let id = read_u32(data, at + 16);
                    let timeout = read_u64(data, at + 24);
                    let flags = u16::from_le_bytes([data[at + 40], data[at + 41]]);
                    let relative = if flags & 1 != 0 {
                        let base = if id == 0 {
                            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
                        } else {
                            monotonic_ns()
                        };
                        timeout.saturating_sub(base)
                    } else {
                        timeout
                    };
                    timeout_ns = Some(timeout_ns.map_or(relative, |t| t.min(relative)));
                    subs.push((userdata, tag, None));
                }
                1 | 2 => {
                    let fd = read_u32(data, at + 16) as i32;
                    let Some(raw) = caller.data().raw(fd) else { return EBADF };
                    let events = if tag == 1 { libc::POLLIN } else { libc::POLLOUT };
                    subs.push((userdata, tag, Some(fds.len())));
                    fds.push(libc::pollfd { fd: raw, events, revents: 0 });
                }
                _ => return EINVAL,
            }
        }
    }
    let timeout_ms = timeout_ns.map_or(-1, |ns| ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ready < 0 {
        return errno();
    }
    let elapsed = now.elapsed().as_nanos() as u64;
    let data = memory.data_mut(caller);
    let mut written = 0usize;
    for (userdata, tag, slot) in subs {
        let (fired, flags) = match slot {
            None => (timeout_ns.is_some_and(|t| elapsed >= t) || ready == 0, 0u16),
            Some(slot) => {
                let revents = fds[slot].revents;
                (revents != 0, u16::from(revents & libc::POLLHUP != 0))
            }
        };
        if !fired {
            continue;
        }
        let at = output as usize + written * 32;
        data[at..at + 32].fill(0);
        data[at..at + 8].copy_from_slice(&userdata.to_le_bytes());
        data[at + 10] = tag;
        data[at + 24..at + 26].copy_from_slice(&flags.to_le_bytes());
        written += 1;
    }
    data[nevents as usize..nevents as usize + 4].copy_from_slice(&(written as u32).to_le_bytes());
    0
}

fn monotonic_ns() -> u64 {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time) };
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}

fn linker(engine: &Engine) -> wasmtime::Result<Linker<Host>> {
    let mut linker: Linker<Host> = Linker::new(engine);
    let wasi = "wasi_snapshot_preview1";
    linker.func_wrap(wasi, "fd_write", |mut c: Caller<'_, Host>, fd: i32, iovs: i32, len: i32, out: i32| {
        vectored(&mut c, fd, iovs, len, out, true)
    })?;
    linker.func_wrap(wasi, "fd_read", |mut c: Caller<'_, Host>, fd: i32, iovs: i32, len: i32, out: i32| {
        vectored(&mut c, fd, iovs, len, out, false)
    })?;
    linker.func_wrap(
        wasi,
        "sock_recv",
        |mut c: Caller<'_, Host>, fd: i32, iovs: i32, len: i32, _flags: i32, out: i32, oflags: i32| {
            let status = vectored(&mut c, fd, iovs, len, out, false);
            let memory = memory(&mut c);
            memory.data_mut(&mut c)[oflags as usize..oflags as usize + 2].fill(0);
            status
        },
    )?;
    linker.func_wrap(
        wasi,
        "sock_send",
        |mut c: Caller<'_, Host>, fd: i32, iovs: i32, len: i32, _flags: i32, out: i32| {
            vectored(&mut c, fd, iovs, len, out, true)
        },
    )?;
    linker.func_wrap(wasi, "sock_accept", |mut c: Caller<'_, Host>, fd: i32, flags: i32, out: i32| {
        let Some(raw) = c.data().raw(fd) else { return EBADF };
        // SAFETY: accept(2) on a listening socket this host owns; no address wanted.
        let new = unsafe { libc::accept4(raw, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
        if new < 0 {
            return errno();
        }
        set_nonblocking(new, flags & 4 != 0);
        let number = (3u32..).find(|n| !c.data().fds.contains_key(n)).unwrap();
        c.data_mut().fds.insert(number, HostFd { raw: new, socket: true });
        let memory = memory(&mut c);
        memory.data_mut(&mut c)[out as usize..out as usize + 4].copy_from_slice(&number.to_le_bytes());
        0
    })?;
    linker.func_wrap(wasi, "sock_shutdown", |c: Caller<'_, Host>, fd: i32, how: i32| {
        let Some(raw) = c.data().raw(fd) else { return EBADF };
        let how = match how {
            1 => libc::SHUT_RD,
            2 => libc::SHUT_WR,
            3 => libc::SHUT_RDWR,
            _ => return EINVAL,
        };
        // SAFETY: shutdown(2) on a socket this host owns.
        if unsafe { libc::shutdown(raw, how) } < 0 { errno() } else { 0 }
    })?;
    linker.func_wrap(wasi, "fd_close", |mut c: Caller<'_, Host>, fd: i32| {
        let Some(entry) = c.data_mut().fds.remove(&(fd as u32)) else { return EBADF };
        if entry.raw > 2 {
            // SAFETY: the descriptor was this host's and is forgotten now.
            unsafe { libc::close(entry.raw) };
        }
        0
    })?;
    linker.func_wrap(wasi, "fd_fdstat_get", |mut c: Caller<'_, Host>, fd: i32, out: i32| {
        let Some(entry) = c.data().fds.get(&(fd as u32)) else { return EBADF };
        let mut bytes = [0u8; 24];
        bytes[0] = if entry.socket { 6 } else { 2 };
        if nonblocking(entry.raw) {
            bytes[2] = 4;
        }
        bytes[8..16].fill(0xff);
        let memory = memory(&mut c);
        memory.data_mut(&mut c)[out as usize..out as usize + 24].copy_from_slice(&bytes);
        0
    })?;
    linker.func_wrap(wasi, "fd_fdstat_set_flags", |c: Caller<'_, Host>, fd: i32, flags: i32| {
        let Some(raw) = c.data().raw(fd) else { return EBADF };
        set_nonblocking(raw, flags & 4 != 0);
        0
    })?;
    linker.func_wrap(wasi, "fd_prestat_get", |_: Caller<'_, Host>, _fd: i32, _out: i32| EBADF)?;
    linker.func_wrap(wasi, "fd_prestat_dir_name", |_: Caller<'_, Host>, _fd: i32, _p: i32, _l: i32| EBADF)?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        linker.func_wrap(wasi, name, |mut c: Caller<'_, Host>, count: i32, size: i32| {
            let memory = memory(&mut c);
            let data = memory.data_mut(&mut c);
            data[count as usize..count as usize + 4].fill(0);
            data[size as usize..size as usize + 4].fill(0);
            0
        })?;
    }
    for name in ["environ_get", "args_get"] {
        linker.func_wrap(wasi, name, |_: Caller<'_, Host>, _a: i32, _b: i32| 0)?;
    }
    linker.func_wrap(wasi, "clock_time_get", |mut c: Caller<'_, Host>, id: i32, _precision: i64, out: i32| {
        let ns = if id == 0 {
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
        } else {
            monotonic_ns()
        };
        let memory = memory(&mut c);
        memory.data_mut(&mut c)[out as usize..out as usize + 8].copy_from_slice(&ns.to_le_bytes());
        0
    })?;
    linker.func_wrap(wasi, "random_get", |mut c: Caller<'_, Host>, buf: i32, len: i32| {
        let seed = monotonic_ns();
        let memory = memory(&mut c);
        for (index, byte) in memory.data_mut(&mut c)[buf as usize..(buf + len) as usize].iter_mut().enumerate() {
            *byte = (seed.wrapping_mul(6364136223846793005).wrapping_add(index as u64) >> 33) as u8;
        }
        0
    })?;
    linker.func_wrap(
        wasi,
        "poll_oneoff",
        |mut c: Caller<'_, Host>, input: i32, output: i32, count: i32, nevents: i32| {
            poll_oneoff(&mut c, input, output, count, nevents)
        },
    )?;
    linker.func_wrap(wasi, "sched_yield", |_: Caller<'_, Host>| 0)?;
    linker.func_wrap(wasi, "proc_exit", |_: Caller<'_, Host>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!("exit {code}")))
    })?;
    Ok(linker)
}

/// Runs `wasm` under Wasmtime with `listener` as fd 3, in a thread, until it exits.
fn wasmtime_server(engine: &Engine, wasm: &[u8], listener: TcpListener) -> std::thread::JoinHandle<()> {
    let module = Module::new(engine, wasm).expect("the server compiles under Wasmtime");
    let mut linker = linker(engine).expect("the preview1 host links");
    linker.define_unknown_imports_as_traps(&module).expect("stubs");
    let engine = engine.clone();
    std::thread::spawn(move || {
        let mut fds = HashMap::new();
        for stdio in 0..3 {
            fds.insert(stdio as u32, HostFd { raw: stdio, socket: false });
        }
        fds.insert(3, HostFd { raw: listener.into_raw_fd(), socket: true });
        let mut store = Store::new(&engine, Host { fds });
        let instance = linker.instantiate(&mut store, &module).expect("instantiating");
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start").expect("_start");
        let _ = start.call(&mut store, ());
    })
}

fn wasmtime_figures(engine: &Engine, http: &[u8], bulk: &[u8], run: WrkRun) -> (HttpFigures, BulkFigures) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = wasmtime_server(engine, http, listener);
    bench_net::wait_for_http(port, Duration::from_secs(30)).unwrap();
    let figures = bench_net::wrk(port, run).unwrap();
    bench_net::stop_http(port);
    server.join().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = wasmtime_server(engine, bulk, listener);
    let bulk_figures = bench_net::bulk(port).unwrap();
    bench_net::stop_bulk(port);
    server.join().unwrap();
    (figures, bulk_figures)
}

fn main() {
    let env = |name: &str, default: u32| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let run = WrkRun {
        connections: env("WASMETAL_BENCH_NET_CONNECTIONS", 50),
        seconds: env("WASMETAL_BENCH_NET_SECONDS", 10),
    };
    let vm = wasmetal::cli::Cli::parse_from(["wasmetal"]).vm;
    let (http_path, bulk_path) =
        (bench_net::default_program("event_server"), bench_net::default_program("bulk_server"));
    let http = std::fs::read(&http_path)
        .unwrap_or_else(|_| panic!("{} is missing: build the test programs", http_path.display()));
    let bulk = std::fs::read(&bulk_path)
        .unwrap_or_else(|_| panic!("{} is missing: build the test programs", bulk_path.display()));
    let engine = Engine::default();
    println!(
        "bench net: wrk -c {} -d {}s on 127.0.0.1, bulk {} MiB each way; the kernel under QEMU (user networking), \
         Wasmtime 48.0.8 on this host",
        run.connections,
        run.seconds,
        bench_net::BULK_BYTES >> 20
    );
    let (kernel_http, kernel_bulk) =
        bench_net::kernel_figures(&vm, &http_path, &bulk_path, run).expect("the kernel run");
    let (host_http, host_bulk) = wasmtime_figures(&engine, &http, &bulk, run);
    println!(
        "http requests/s: wasmetal-kernel {:.0}, wasmtime {:.0}, ratio {:.3}",
        kernel_http.requests_per_s,
        host_http.requests_per_s,
        kernel_http.requests_per_s / host_http.requests_per_s
    );
    println!(
        "http p50 ms: wasmetal-kernel {:.3}, wasmtime {:.3}, ratio {:.2}",
        kernel_http.p50_ms,
        host_http.p50_ms,
        kernel_http.p50_ms / host_http.p50_ms
    );
    println!(
        "http p99 ms: wasmetal-kernel {:.3}, wasmtime {:.3}, ratio {:.2}",
        kernel_http.p99_ms,
        host_http.p99_ms,
        kernel_http.p99_ms / host_http.p99_ms
    );
    println!(
        "bulk to client MiB/s: wasmetal-kernel {:.1}, wasmtime {:.1}, ratio {:.3}",
        kernel_bulk.from_server_mib_s,
        host_bulk.from_server_mib_s,
        kernel_bulk.from_server_mib_s / host_bulk.from_server_mib_s
    );
    println!(
        "bulk from client MiB/s: wasmetal-kernel {:.1}, wasmtime {:.1}, ratio {:.3}",
        kernel_bulk.to_server_mib_s,
        host_bulk.to_server_mib_s,
        kernel_bulk.to_server_mib_s / host_bulk.to_server_mib_s
    );
}
