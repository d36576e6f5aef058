//! WASI's view of the machine: clocks, randomness, console output and sleeping, as
//! this kernel provides them.
//!
//! Monotonic time is the TSC; wall-clock time is the launcher's `epoch_ns=` (or the
//! CMOS RTC) plus monotonic time since boot. Randomness is RDRAND when the CPU has it,
//! else ChaCha20 keyed from the launcher's `seed=`. stdio goes through the virtio
//! consoles the launcher attaches (`crate::virtio::stdio`; the debugcon ports when there
//! are none), output prefixed per line with the task name when several tasks run.
//! Sleeping and waiting park the task in the scheduler.

use alloc::string::String;
use alloc::vec::Vec;

use spin::Mutex;
use wasmetal_arch::debugcon::{STDERR_PORT, STDOUT_PORT};

use wasmetal_devices::stdio_link::OutStream;
use wasmetal_devices::virtio::serial::{Wait, Waiting};
use wasmetal_wasi::ConsoleError;

use crate::device_irq;
use crate::random::ChaCha20;
use crate::sched::device_wait::{self, EventMark};
use crate::virtio::stdio::{StdinRead, WriteError};

/// Wall-clock nanoseconds at monotonic time zero.
static REALTIME_BASE_NS: Mutex<u64> = Mutex::new(0);
static RNG: Mutex<Option<ChaCha20>> = Mutex::new(None);

/// Records the wall-clock time and the random seed (from the command line), once.
pub fn init(epoch_ns: Option<u64>, seed: Option<[u8; 32]>) {
    let now_mono = crate::timer::monotonic_ns();
    let wall = epoch_ns.or_else(|| {
        // SAFETY: the I/O bitmap allows the CMOS ports, which nothing else uses.
        unsafe { wasmetal_arch::cmos::unix_seconds() }.map(|s| s * 1_000_000_000)
    });
    *REALTIME_BASE_NS.lock() = wall.unwrap_or(0).saturating_sub(now_mono);
    let mut key = seed.unwrap_or([0; 32]);
    // Mix in the TSC so two boots with the same seed still differ.
    for (byte, tsc) in key.iter_mut().zip(wasmetal_arch::cpu::rdtsc().to_le_bytes().iter().cycle()) {
        *byte ^= tsc;
    }
    *RNG.lock() = Some(ChaCha20::new(key));
}

/// Fills `buffer` with random bytes.
pub fn random_bytes(buffer: &mut [u8]) {
    let features = wasmetal_arch::cpu::features();
    let mut chunks = buffer.chunks_mut(8);
    for chunk in chunks.by_ref() {
        match wasmetal_arch::cpu::rdrand64(&features) {
            Some(value) => chunk.copy_from_slice(&value.to_le_bytes()[..chunk.len()]),
            None => {
                let mut rng = RNG.lock();
                let rng = rng.get_or_insert_with(|| ChaCha20::new([0x5a; 32]));
                rng.fill(chunk);
            }
        }
    }
}

/// A partial line longer than this is written out without waiting for its end.
const MAX_PENDING_LINE: usize = 4096;

/// How long a waiting host call spins before it halts or sleeps: device completions
/// usually come within microseconds, and halting for each costs more than it saves
/// (measured: stdin 64 KiB reads 600 -> 135 MiB/s, stdout unchanged, on the Intel/PVM
/// host; KVM polls a halted vCPU for up to 200 µs anyway); a terminal or a slow reader
/// can take seconds.
const SPIN_BEFORE_SLEEP_NS: u64 = 2_000_000;

/// Longest halt of a wait the device did not end (the device interrupts only for the
/// queue the caller looks at; a kick or a lock another task held is looked at again
/// after this, or at the next timer tick if that comes later).
const DEVICE_WAIT_NS: u64 = 1_000_000;

/// The waiting policy of host calls on stdio: yield while other tasks can run; else
/// spin briefly, then halt until the device interrupts (the driver lets it just before
/// each wait, see `serial::armed_wait`), or, when its line is not routed, sleep a
/// timer tick at a time; give up once `deadline_tick` has passed.
pub struct Waiter {
    deadline_tick: Option<u64>,
    started_ns: u64,
    /// `halts_next` told the driver this step halts (it let the device interrupt), so
    /// the step does; decided once, so the driver and the step never disagree.
    halt_next: bool,
    /// Device events up to just before the caller last looked at its device: an
    /// interrupt after that ends the next halt at once, so no wake-up is lost.
    mark: EventMark,
}

impl Waiter {
    pub fn new(deadline_tick: Option<u64>) -> Self {
        Waiter {
            deadline_tick,
            started_ns: crate::timer::monotonic_ns(),
            halt_next: false,
            mark: device_wait::events(),
        }
    }

    /// Whether spinning is over: a lone task then halts (or sleeps) instead.
    fn spun_out(&self, now: u64) -> bool {
        now.saturating_sub(self.started_ns) >= SPIN_BEFORE_SLEEP_NS && crate::sched::alone()
    }
}

impl Waiting for Waiter {
    fn wait(&mut self) -> Wait {
        if self.deadline_tick.is_some_and(|deadline| crate::timer::ticks() >= deadline) {
            return Wait::Abort;
        }
        let now = crate::timer::monotonic_ns();
        if core::mem::take(&mut self.halt_next) {
            device_wait::wait_for_device(self.mark, now + DEVICE_WAIT_NS);
        } else if !crate::sched::alone() {
            crate::sched::yield_now();
        } else if !self.spun_out(now) || device_irq::routed(device_irq::Device::Serial) {
            // Past the spin with the line routed, only a step the driver armed halts.
            core::hint::spin_loop();
        } else {
            crate::virtio::stdio::kick_outputs();
            crate::sched::sleep_until(now + 1_000_000);
        }
        // The caller looks at its device after this returns.
        self.mark = device_wait::events();
        Wait::Continue
    }

    fn halts_next(&mut self) -> bool {
        self.halt_next = self.spun_out(crate::timer::monotonic_ns()) && device_irq::routed(device_irq::Device::Serial);
        self.halt_next
    }
}

/// The WASI system of one task.
pub struct KernelSystem {
    /// Line prefix for output (`[name] `) when several tasks share the console.
    prefix: Option<String>,
    /// With a prefix: each stream's unfinished line, held back so that lines of
    /// different tasks never interleave mid-line.
    pending: [Vec<u8>; 2],
    /// With a prefix: whether the stream's next byte starts a line.
    at_line_start: [bool; 2],
    /// The tick at which the task's `--timeout` runs out.
    deadline_tick: Option<u64>,
}

const PORTS: [u16; 2] = [STDOUT_PORT, STDERR_PORT];

impl KernelSystem {
    pub fn new(prefix: Option<String>) -> Self {
        Self { prefix, pending: [Vec::new(), Vec::new()], at_line_start: [true, true], deadline_tick: None }
    }

    /// Host calls stop waiting at `tick` (the task's `--timeout`).
    pub fn with_deadline(mut self, tick: Option<u64>) -> Self {
        self.deadline_tick = tick;
        self
    }

    /// Sends bytes to stream 0 (stdout) or 1 (stderr): the virtio console when the
    /// launcher attached one, else the debugcon port.
    fn emit(&mut self, stream: usize, bytes: &[u8]) -> Result<(), ConsoleError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !crate::virtio::stdio::present() {
            // SAFETY: the launcher attaches debugcon devices at these ports (or nothing).
            unsafe { wasmetal_arch::debugcon::write(PORTS[stream], bytes) };
            return Ok(());
        }
        let target = if stream == 0 { OutStream::Stdout } else { OutStream::Stderr };
        let mut waiter = Waiter::new(self.deadline_tick);
        match crate::virtio::stdio::write(target, bytes, &mut waiter) {
            Ok(()) => Ok(()),
            Err(WriteError::Closed | WriteError::Device) => Err(ConsoleError::Closed),
            Err(WriteError::Interrupted { .. }) => Err(ConsoleError::Interrupted),
        }
    }

    fn write(&mut self, stream: usize, bytes: &[u8]) -> Result<(), ConsoleError> {
        let Some(prefix) = &self.prefix else {
            return self.emit(stream, bytes);
        };
        let pending = &mut self.pending[stream];
        pending.extend_from_slice(bytes);
        let complete = match pending.iter().rposition(|&byte| byte == b'\n') {
            Some(last_newline) => last_newline + 1,
            None if pending.len() > MAX_PENDING_LINE => pending.len(),
            None => return Ok(()),
        };
        let mut out = Vec::with_capacity(complete + prefix.len() * 2);
        for &byte in &pending[..complete] {
            if self.at_line_start[stream] {
                out.extend_from_slice(prefix.as_bytes());
            }
            out.push(byte);
            self.at_line_start[stream] = byte == b'\n';
        }
        pending.drain(..complete);
        self.emit(stream, &out)
    }

    /// Writes out unfinished lines (the task is done with its output).
    fn flush(&mut self) {
        for stream in 0..2 {
            if !self.pending[stream].is_empty() {
                self.pending[stream].push(b'\n');
                let _ = self.write(stream, &[]);
            }
        }
    }
}

impl Drop for KernelSystem {
    fn drop(&mut self) {
        self.flush();
    }
}

impl wasmetal_wasi::System for KernelSystem {
    fn monotonic_ns(&mut self) -> u64 {
        crate::timer::monotonic_ns()
    }

    fn realtime_ns(&mut self) -> u64 {
        *REALTIME_BASE_NS.lock() + crate::timer::monotonic_ns()
    }

    fn random_bytes(&mut self, buf: &mut [u8]) {
        random_bytes(buf);
    }

    fn write_stdout(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.write(0, bytes)
    }

    fn write_stderr(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.write(1, bytes)
    }

    fn read_stdin(&mut self, buf: &mut [u8]) -> Option<Result<usize, ConsoleError>> {
        if !crate::virtio::stdio::present() {
            return None;
        }
        let mut waiter = Waiter::new(self.deadline_tick);
        Some(match crate::virtio::stdio::read_stdin(buf, &mut waiter) {
            StdinRead::Data(count) => Ok(count),
            StdinRead::Eof => Ok(0),
            StdinRead::Interrupted => Err(ConsoleError::Interrupted),
        })
    }

    fn stdin_ready(&mut self) -> Option<bool> {
        crate::virtio::stdio::present().then(crate::virtio::stdio::stdin_ready)
    }

    fn interrupted(&mut self) -> bool {
        self.deadline_tick.is_some_and(|deadline| crate::timer::ticks() >= deadline)
    }

    fn sleep_until(&mut self, monotonic_ns: u64) {
        crate::virtio::stdio::kick_outputs();
        // In slices, so that a `--timeout` ends a long sleep on its tick.
        loop {
            let now = crate::timer::monotonic_ns();
            if now >= monotonic_ns || self.interrupted() {
                return;
            }
            crate::sched::sleep_until(monotonic_ns.min(now + 10_000_000));
        }
    }

    fn yield_now(&mut self) {
        crate::sched::yield_now();
    }
}
