//! The programs' stdio on virtio consoles: stdout and stderr raw, stdin and the control
//! stream framed (`wasmetal_devices::stdio_link`). Tasks share the streams (their lines
//! are prefixed by the WASI system when several run). Each stream has its own lock,
//! taken with `try_lock` and a yield, because a task may wait for its device while
//! holding it and tasks are only switched at wasm safe points or when they yield.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;
use wasmetal_devices::stdio_link::{Decoder, GUEST_READY, OutStream, Read};
use wasmetal_devices::virtio::serial::{Control, Port, Wait, Waiting};

use super::hal::KernelHal;

/// The serial device's control channel and its four stdio ports.
pub struct Consoles {
    pub control_channel: Control<KernelHal>,
    pub stdout: Port<KernelHal>,
    pub stderr: Port<KernelHal>,
    pub stdin: Port<KernelHal>,
    pub control: Port<KernelHal>,
}

/// Kept for the kernel's life: the device may write into its posted buffers.
static CONTROL_CHANNEL: Mutex<Option<Control<KernelHal>>> = Mutex::new(None);

struct Output {
    console: Port<KernelHal>,
}

/// The host side of stdout / stderr is gone (a `Closed` frame came on the control
/// stream); flags, not fields, so that noting it never waits for a stream's lock.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

struct Input {
    console: Port<KernelHal>,
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
    *STDOUT.lock() = Some(Output { console: consoles.stdout });
    *STDERR.lock() = Some(Output { console: consoles.stderr });
    *STDIN.lock() = Some(Input { console: consoles.stdin, decoder: Decoder::new() });
    *CONTROL.lock() = Some(Input { console: consoles.control, decoder: Decoder::new() });
    *CONTROL_CHANNEL.lock() = Some(consoles.control_channel);
    PRESENT.store(true, Ordering::Release);
}

/// Set once the consoles are installed (read without taking a stream's lock, which a
/// task waiting for its device may hold).
static PRESENT: AtomicBool = AtomicBool::new(false);

/// Whether stdio runs on virtio consoles (else the debugcon ports).
pub fn present() -> bool {
    PRESENT.load(Ordering::Acquire)
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
fn lock<T>(lock: &'static Mutex<T>, wait: &mut dyn Waiting) -> Option<spin::MutexGuard<'static, T>> {
    loop {
        if let Some(guard) = lock.try_lock() {
            return Some(guard);
        }
        if wait.wait() == Wait::Abort {
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
                let closed = if stream == OutStream::Stdout { &STDOUT_CLOSED } else { &STDERR_CLOSED };
                closed.store(true, Ordering::Release);
            }
            Read::Data(_) => {}
            Read::Pending | Read::Eof | Read::Malformed => return,
        }
    }
}

/// Makes sure the device knows about everything written to stdout and stderr, without
/// waiting: before a task blocks or sleeps and at the end of each time slice, so that
/// output held back by the notification holdoff shows.
pub fn kick_outputs() {
    if !present() {
        return;
    }
    for target in [&STDOUT, &STDERR] {
        if let Some(mut guard) = target.try_lock()
            && let Some(output) = guard.as_mut()
        {
            let _ = output.console.kick();
        }
    }
}

/// Waits until the device has taken everything written to stdout and stderr (the VM is
/// about to end); false when `wait` gave up or a stream's device failed.
pub fn flush_outputs(wait: &mut dyn Waiting) -> bool {
    if !present() {
        return true;
    }
    let mut flushed = true;
    for target in [&STDOUT, &STDERR] {
        let Some(mut guard) = lock(target, wait) else { return false };
        if let Some(output) = guard.as_mut() {
            flushed &= output.console.flush(wait).unwrap_or(false);
        }
    }
    flushed
}

/// Writes all of `bytes` to `stream`; returns once the device has them queued (it
/// takes them as the host drains the port; [`flush_outputs`] waits for that).
pub fn write(stream: OutStream, bytes: &[u8], wait: &mut dyn Waiting) -> Result<(), WriteError> {
    poll_control();
    let (target, closed) =
        if stream == OutStream::Stdout { (&STDOUT, &STDOUT_CLOSED) } else { (&STDERR, &STDERR_CLOSED) };
    if closed.load(Ordering::Acquire) {
        return Err(WriteError::Closed);
    }
    let mut guard = lock(target, wait).ok_or(WriteError::Interrupted { written: 0 })?;
    let output = guard.as_mut().ok_or(WriteError::Device)?;
    let written = output.console.write(bytes, wait).map_err(|_| WriteError::Device)?;
    if written < bytes.len() {
        return Err(WriteError::Interrupted { written });
    }
    Ok(())
}

/// Reads stdin into `out`, waiting (through `wait`) until data or the end arrives.
pub fn read_stdin(out: &mut [u8], wait: &mut dyn Waiting) -> StdinRead {
    let Some(mut guard) = lock(&STDIN, wait) else { return StdinRead::Interrupted };
    let Some(input) = guard.as_mut() else { return StdinRead::Eof };
    loop {
        let Input { console, decoder } = input;
        let mut source = |buf: &mut [u8]| console.read(buf).unwrap_or(0);
        match decoder.read(&mut source, out) {
            Read::Data(n) => return StdinRead::Data(n),
            Read::Eof | Read::Malformed => return StdinRead::Eof,
            Read::Closed(_) => {}
            Read::Pending => {
                kick_outputs();
                if console.wait_for_input(wait) == Wait::Abort {
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

/// Logs how stdio's device waits went (after the programs ran: the tests read it to
/// check that a reader blocked on stdin is woken by the device, not by the clock).
pub fn log_stats() {
    if !present() {
        return;
    }
    let (by_device, by_time) = crate::sched::device_wait::wake_counts();
    crate::stat!(
        "stdio: {} interrupts, waits woken {} by interrupt {} by time",
        crate::device_irq::taken(crate::device_irq::Device::Serial),
        by_device,
        by_time
    );
}
