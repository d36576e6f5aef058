//! The programs' stdio on virtio consoles: stdout and stderr raw, stdin and the control
//! stream framed (`wasmetal_devices::stdio_link`). Tasks share the streams (their lines
//! are prefixed by the WASI system when several run). Each stream has its own lock,
//! taken with `try_lock` and a yield, because a task may wait for its device while
//! holding it and tasks are only switched at wasm safe points or when they yield.

use spin::Mutex;
use wasmetal_devices::stdio_link::{Decoder, GUEST_READY, OutStream, Read};
use wasmetal_devices::virtio::console::{Console, Wait};

use super::hal::KernelHal;

/// The four consoles the launcher attaches.
pub struct Consoles {
    pub stdout: Console<KernelHal>,
    pub stderr: Console<KernelHal>,
    pub stdin: Console<KernelHal>,
    pub control: Console<KernelHal>,
}

struct Output {
    console: Console<KernelHal>,
    /// The host side is gone (a `Closed` frame came on the control stream).
    closed: bool,
}

struct Input {
    console: Console<KernelHal>,
    decoder: Decoder,
}

static STDOUT: Mutex<Option<Output>> = Mutex::new(None);
static STDERR: Mutex<Option<Output>> = Mutex::new(None);
static STDIN: Mutex<Option<Input>> = Mutex::new(None);
static CONTROL: Mutex<Option<Input>> = Mutex::new(None);

/// Puts the consoles in service and tells the host that stdin may flow.
pub fn install(mut consoles: Consoles) {
    // Best effort: without it the host holds stdin back, which the program sees as a
    // stdin that never ends (its --timeout still applies).
    let mut spins = 0u32;
    let _ = consoles.stdin.write(&[GUEST_READY], &mut || {
        spins += 1;
        if spins < 10_000_000 { Wait::Continue } else { Wait::Abort }
    });
    *STDOUT.lock() = Some(Output { console: consoles.stdout, closed: false });
    *STDERR.lock() = Some(Output { console: consoles.stderr, closed: false });
    *STDIN.lock() = Some(Input { console: consoles.stdin, decoder: Decoder::new() });
    *CONTROL.lock() = Some(Input { console: consoles.control, decoder: Decoder::new() });
}

/// Whether stdio runs on virtio consoles (else the debugcon ports).
pub fn present() -> bool {
    STDOUT.lock().is_some()
}

/// Why a write did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The host side of the stream is gone (EPIPE).
    Closed,
    /// The waiter gave up (the task's time is up); `written` bytes went out.
    Interrupted { written: usize },
    /// The device failed.
    Device,
}

/// What a stdin read produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdinRead {
    Data(usize),
    Eof,
    /// The waiter gave up before data came.
    Interrupted,
}

/// Locks `lock` without spinning on a holder that waits for its device: yields instead.
fn lock<T>(lock: &'static Mutex<T>, wait: &mut dyn FnMut() -> Wait) -> Option<spin::MutexGuard<'static, T>> {
    loop {
        if let Some(guard) = lock.try_lock() {
            return Some(guard);
        }
        if wait() == Wait::Abort {
            return None;
        }
    }
}

/// Applies the control frames that have arrived.
fn poll_control() {
    let Some(mut control) = CONTROL.try_lock() else { return };
    let Some(control) = control.as_mut() else { return };
    loop {
        let Input { console, decoder } = control;
        let mut source = |buf: &mut [u8]| console.read(buf).unwrap_or(0);
        match decoder.read(&mut source, &mut []) {
            Read::Closed(stream) => {
                let target = if stream == OutStream::Stdout { &STDOUT } else { &STDERR };
                if let Some(output) = target.lock().as_mut() {
                    output.closed = true;
                }
            }
            Read::Data(_) => {}
            Read::Pending | Read::Eof | Read::Malformed => return,
        }
    }
}

/// Writes all of `bytes` to `stream`; returns once the device holds them.
pub fn write(stream: OutStream, bytes: &[u8], wait: &mut dyn FnMut() -> Wait) -> Result<(), WriteError> {
    poll_control();
    let target = if stream == OutStream::Stdout { &STDOUT } else { &STDERR };
    let mut guard = lock(target, wait).ok_or(WriteError::Interrupted { written: 0 })?;
    let output = guard.as_mut().ok_or(WriteError::Device)?;
    if output.closed {
        return Err(WriteError::Closed);
    }
    let written = output.console.write(bytes, wait).map_err(|_| WriteError::Device)?;
    if written < bytes.len() {
        return Err(WriteError::Interrupted { written });
    }
    Ok(())
}

/// How often a waiting stdin read reminds the device of its buffer.
const KICK_INTERVAL_NS: u64 = 500_000;

/// Reads stdin into `out`, waiting (through `wait`) until data or the end arrives.
pub fn read_stdin(out: &mut [u8], wait: &mut dyn FnMut() -> Wait) -> StdinRead {
    let Some(mut guard) = lock(&STDIN, wait) else { return StdinRead::Interrupted };
    let Some(input) = guard.as_mut() else { return StdinRead::Eof };
    let mut last_kick_ns = 0;
    loop {
        let Input { console, decoder } = input;
        let mut source = |buf: &mut [u8]| console.read(buf).unwrap_or(0);
        match decoder.read(&mut source, out) {
            Read::Data(n) => return StdinRead::Data(n),
            Read::Eof | Read::Malformed => return StdinRead::Eof,
            Read::Closed(_) => {}
            Read::Pending => {
                let now = crate::timer::monotonic_ns();
                if now.saturating_sub(last_kick_ns) >= KICK_INTERVAL_NS {
                    input.console.kick_receive();
                    last_kick_ns = now;
                }
                if wait() == Wait::Abort {
                    return StdinRead::Interrupted;
                }
            }
        }
    }
}

/// Whether a stdin read would return at once (data or the end is there).
pub fn stdin_ready() -> bool {
    let Some(mut guard) = STDIN.try_lock() else { return false };
    let Some(input) = guard.as_mut() else { return true };
    input.decoder.ended() || input.console.readable()
}
