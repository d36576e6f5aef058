//! WASI's view of the machine: clocks, randomness, console output and sleeping, as
//! this kernel provides them.
//!
//! Monotonic time is the TSC; wall-clock time is the launcher's `epoch_ns=` (or the
//! CMOS RTC) plus monotonic time since boot. Randomness is RDRAND when the CPU has it,
//! else ChaCha20 keyed from the launcher's `seed=`. Output goes to the debugcon
//! channels the launcher connects to its stdout and stderr, prefixed per line with the
//! task name when several tasks run. Sleeping parks the task in the scheduler.

use alloc::string::String;
use alloc::vec::Vec;

use spin::Mutex;
use wasmetal_arch::debugcon::{STDERR_PORT, STDOUT_PORT};

use crate::random::ChaCha20;

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

/// The WASI system of one task.
pub struct KernelSystem {
    /// Line prefix for output (`[name] `) when several tasks share the console.
    prefix: Option<String>,
    /// With a prefix: each stream's unfinished line, held back so that lines of
    /// different tasks never interleave mid-line.
    pending: [Vec<u8>; 2],
    /// With a prefix: whether the stream's next byte starts a line.
    at_line_start: [bool; 2],
}

const PORTS: [u16; 2] = [STDOUT_PORT, STDERR_PORT];

impl KernelSystem {
    pub fn new(prefix: Option<String>) -> Self {
        Self { prefix, pending: [Vec::new(), Vec::new()], at_line_start: [true, true] }
    }

    fn write(&mut self, stream: usize, bytes: &[u8]) {
        let Some(prefix) = &self.prefix else {
            // SAFETY: the launcher attaches debugcon devices at these ports (or nothing).
            unsafe { wasmetal_arch::debugcon::write(PORTS[stream], bytes) };
            return;
        };
        let pending = &mut self.pending[stream];
        pending.extend_from_slice(bytes);
        let complete = match pending.iter().rposition(|&byte| byte == b'\n') {
            Some(last_newline) => last_newline + 1,
            None if pending.len() > MAX_PENDING_LINE => pending.len(),
            None => return,
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
        // SAFETY: as above.
        unsafe { wasmetal_arch::debugcon::write(PORTS[stream], &out) };
    }

    /// Writes out unfinished lines (the task is done with its output).
    fn flush(&mut self) {
        for stream in 0..2 {
            if !self.pending[stream].is_empty() {
                self.pending[stream].push(b'\n');
                self.write(stream, &[]);
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

    fn write_stdout(&mut self, bytes: &[u8]) {
        self.write(0, bytes);
    }

    fn write_stderr(&mut self, bytes: &[u8]) {
        self.write(1, bytes);
    }

    fn sleep_until(&mut self, monotonic_ns: u64) {
        crate::sched::sleep_until(monotonic_ns);
    }

    fn yield_now(&mut self) {
        crate::sched::yield_now();
    }
}
