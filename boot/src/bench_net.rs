//! `wasmetal bench net`: an HTTP server and bulk TCP of a WASI program in the kernel,
//! measured from the host: requests/s and p50/p99 latency with `wrk` (keep-alive, a
//! bounded run on 127.0.0.1), MiB/s each way. `cargo bench -p wasmetal-bench --bench
//! net` runs the same programs under Wasmtime too and prints the ratios; the clients
//! here serve both.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::qemu::ConsoleSink;
use crate::stdio_devices::ProgramIo;
use crate::vm_args::VmArgs;

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug)]
pub struct HttpFigures {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Bulk TCP throughput.
#[derive(Clone, Copy, Debug)]
pub struct BulkFigures {
    /// Server to client (the program writes).
    pub from_server_mib_s: f64,
    /// Client to server (the program reads).
    pub to_server_mib_s: f64,
}

/// The wrk settings of every run.
#[derive(Clone, Copy, Debug)]
pub struct WrkRun {
    pub connections: u32,
    pub seconds: u32,
}

/// Bytes moved each way in the bulk runs.
pub const BULK_BYTES: u64 = 256 << 20;

/// The test programs the benchmark serves with (built by `cargo test`, or by the
/// command in `tests/programs/Cargo.toml`).
pub fn default_program(name: &str) -> PathBuf {
    crate::workspace::scratch_dir().join("programs/wasm32-wasip1/release").join(format!("{name}.wasm"))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until an HTTP request to `port` is answered (the server is up).
pub fn wait_for_http(port: u16, limit: Duration) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut reply = [0u8; 12];
            if stream.write_all(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && reply.starts_with(b"HTTP/1.1 200")
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the server on port {port} did not answer within {limit:?}")
}

/// Waits until a TCP connect to `port` is accepted and a line round trip works.
fn wait_for_tcp(port: u16, limit: Duration) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut count = String::new();
            if stream.write_all(b"recv\n").is_ok()
                && stream.shutdown(std::net::Shutdown::Write).is_ok()
                && stream.read_to_string(&mut count).is_ok()
                && count.trim() == "0"
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the bulk server on port {port} did not answer within {limit:?}")
}

/// Parses a wrk latency like `16.21ms`, `870.00us` or `1.70s` into milliseconds.
fn latency_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Parses `wrk --latency` output.
pub fn parse_wrk(output: &str) -> Option<HttpFigures> {
    let mut figures = HttpFigures { requests_per_s: f64::NAN, p50_ms: f64::NAN, p99_ms: f64::NAN };
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => figures.requests_per_s = rate.parse().ok()?,
            ["50%", latency] => figures.p50_ms = latency_ms(latency)?,
            ["99%", latency] => figures.p99_ms = latency_ms(latency)?,
            _ => {}
        }
    }
    (!figures.requests_per_s.is_nan() && !figures.p99_ms.is_nan()).then_some(figures)
}

/// Runs wrk against `GET /` on `port`.
pub fn wrk(port: u16, run: WrkRun) -> Result<HttpFigures> {
    let output = Command::new("wrk")
        .args(["-t", "1", "-c", &run.connections.to_string(), "-d", &format!("{}s", run.seconds), "--latency"])
        .args(["--timeout", "5s"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .context("running wrk (apt-get install -y wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

/// Bulk MiB/s both ways against a `bulk_server` on `port`.
pub fn bulk(port: u16) -> Result<BulkFigures> {
    let mib = BULK_BYTES as f64 / (1 << 20) as f64;
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let started = Instant::now();
    writeln!(stream, "send {BULK_BYTES}")?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        received += count as u64;
    }
    let from_server = started.elapsed();
    if received != BULK_BYTES {
        bail!("the server sent {received} of {BULK_BYTES} bytes");
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let started = Instant::now();
    stream.write_all(b"recv\n")?;
    let chunk = vec![0xa5u8; 1 << 16];
    let mut left = BULK_BYTES;
    while left > 0 {
        let take = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..take])?;
        left -= take as u64;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut count = String::new();
    stream.read_to_string(&mut count)?;
    let to_server = started.elapsed();
    if count.trim() != BULK_BYTES.to_string() {
        bail!("the server counted {count:?} bytes, expected {BULK_BYTES}");
    }
    Ok(BulkFigures {
        from_server_mib_s: mib / from_server.as_secs_f64(),
        to_server_mib_s: mib / to_server.as_secs_f64(),
    })
}

/// Ends a `bulk_server`.
pub fn stop_bulk(port: u16) {
    if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
        let _ = stream.write_all(b"exit\n");
    }
}

/// Ends an `http_server` / `event_server`.
pub fn stop_http(port: u16) {
    if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let _ = stream.write_all(b"GET /exit HTTP/1.1\r\nHost: b\r\n\r\n");
        let _ = stream.read(&mut [0u8; 256]);
    }
}

/// Boots the kernel running `wasm` with a `--tcplisten` on `port`, in a thread; the
/// program ends when asked through its protocol.
fn boot_server(vm: &VmArgs, wasm: &Path, port: u16) -> Result<std::thread::JoinHandle<Result<()>>> {
    let bytes = crate::exit_status::read_input(wasm)?;
    let spec = crate::run::RunSpec {
        wasm_name: "server.wasm".into(),
        wasm: bytes,
        memory_mib: vm.memory,
        tcp_listen: vec![SocketAddrV4::new([127, 0, 0, 1].into(), port)],
        ..Default::default()
    };
    let files = crate::run::initrd_files(&spec)?;
    let initrd = crate::run::write_initrd(&files)?;
    let mut config = vm.config(vm.kernel_path()?, crate::run::run_cmdline(vm.verbose), Some(initrd.clone()))?;
    config.program_output = true;
    config.program_io = ProgramIo::Fixed { stdin: std::sync::Arc::new(Vec::new()) };
    config.tcp_listen = spec.tcp_listen.clone();
    config.timeout = Some(Duration::from_secs(300));
    Ok(std::thread::spawn(move || {
        let result = config.run(ConsoleSink::Capture);
        let _ = std::fs::remove_file(&initrd);
        let result = result?;
        if result.outcome.exit_code() != 0 {
            bail!("the server VM ended with {:?}:\n{}", result.outcome, result.console);
        }
        Ok(())
    }))
}

/// The kernel's figures: wrk against `http` (an `event_server`), bulk against `bulk`.
pub fn kernel_figures(vm: &VmArgs, http: &Path, bulk_wasm: &Path, run: WrkRun) -> Result<(HttpFigures, BulkFigures)> {
    let port = free_port()?;
    let server = boot_server(vm, http, port)?;
    wait_for_http(port, Duration::from_secs(60))?;
    let figures = wrk(port, run);
    stop_http(port);
    server.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    let port = free_port()?;
    let server = boot_server(vm, bulk_wasm, port)?;
    wait_for_tcp(port, Duration::from_secs(60))?;
    let bulk_figures = bulk(port);
    stop_bulk(port);
    server.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    Ok((figures?, bulk_figures?))
}

/// `wasmetal bench net`: prints the kernel's figures.
pub fn report(vm: &VmArgs, http: &Path, bulk_wasm: &Path, run: WrkRun) -> Result<u8> {
    for program in [http, bulk_wasm] {
        if !program.exists() {
            bail!(
                "{} is missing: build the test programs with `cargo build --release --target wasm32-wasip1 \
                 --manifest-path tests/programs/Cargo.toml --target-dir target/programs`",
                program.display()
            );
        }
    }
    let (http_figures, bulk_figures) = kernel_figures(vm, http, bulk_wasm, run)?;
    println!(
        "http ({} connections, {} s): wasmetal-kernel {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        run.connections, run.seconds, http_figures.requests_per_s, http_figures.p50_ms, http_figures.p99_ms
    );
    println!(
        "bulk ({} MiB): wasmetal-kernel to client {:.0} MiB/s, from client {:.0} MiB/s",
        BULK_BYTES >> 20,
        bulk_figures.from_server_mib_s,
        bulk_figures.to_server_mib_s
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_parses() {
        let text = "  Latency Distribution\n     50%   16.21ms\n     75%   21.75ms\n     99%    1.70s\n\
                    Requests/sec:   1180.78\n";
        let figures = parse_wrk(text).unwrap();
        assert_eq!(figures.requests_per_s, 1180.78);
        assert!((figures.p50_ms - 16.21).abs() < 1e-9);
        assert!((figures.p99_ms - 1700.0).abs() < 1e-9);
        assert_eq!(latency_ms("870.00us"), Some(0.87));
        assert!(parse_wrk("garbage").is_none());
    }
}
