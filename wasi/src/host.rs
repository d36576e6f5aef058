//! [`HostSystem`]: the [`System`] of a WASI program run on the host (feature `std`), for
//! the launcher's hosted comparison runs: the host's monotonic and wall clocks, the
//! kernel's random source (`getrandom`), and the process's own stdout and stderr (or
//! nowhere, or stdout into memory, for benchmarks).
//!
//! It must not reach anything else of the host: files stay in the in-memory tree.

extern crate std;

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::System;

/// Where the guest's console output goes.
#[derive(Clone, Debug)]
pub enum Output {
    /// The host process's stdout and stderr.
    Inherit,
    /// Dropped (benchmarks compare run time, not output).
    Discard,
    /// stdout appended to this buffer (benchmarks read the program's own timing line
    /// from it), stderr to the host process's.
    Capture(std::sync::Arc<std::sync::Mutex<std::vec::Vec<u8>>>),
}

/// Clocks, randomness, output and sleep from the host OS.
pub struct HostSystem {
    start: Instant,
    output: Output,
}

impl HostSystem {
    /// A system whose monotonic clock starts now.
    pub fn new(output: Output) -> HostSystem {
        HostSystem { start: Instant::now(), output }
    }
}

/// A host write error as the guest sees it.
fn console_error(error: std::io::Error) -> crate::ConsoleError {
    match error.kind() {
        std::io::ErrorKind::Interrupted => crate::ConsoleError::Interrupted,
        _ => crate::ConsoleError::Closed,
    }
}

impl System for HostSystem {
    fn monotonic_ns(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn realtime_ns(&mut self) -> u64 {
        // Before 1970 the host clock is wrong; report the epoch rather than wrapping.
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn random_bytes(&mut self, buf: &mut [u8]) {
        let mut filled = 0;
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            // SAFETY: `rest` is a live, writable buffer of `rest.len()` bytes.
            let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if got > 0 {
                filled += got as usize;
            } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                // No entropy source at all: the guest asked for randomness we cannot
                // give, and handing it zeros silently would be worse than stopping.
                panic!("getrandom failed: {}", std::io::Error::last_os_error());
            }
        }
    }

    fn write_stdout(&mut self, bytes: &[u8]) -> Result<(), crate::ConsoleError> {
        match &self.output {
            Output::Inherit => std::io::stdout().write_all(bytes).map_err(console_error),
            Output::Capture(buffer) => {
                buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
                Ok(())
            }
            Output::Discard => Ok(()),
        }
    }

    fn write_stderr(&mut self, bytes: &[u8]) -> Result<(), crate::ConsoleError> {
        match self.output {
            Output::Inherit | Output::Capture(_) => std::io::stderr().write_all(bytes).map_err(console_error),
            Output::Discard => Ok(()),
        }
    }

    fn sleep_until(&mut self, monotonic_ns: u64) {
        let now = self.monotonic_ns();
        if monotonic_ns > now {
            std::thread::sleep(std::time::Duration::from_nanos(monotonic_ns - now));
        }
    }

    fn yield_now(&mut self) {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward_and_sleep_reaches_its_deadline() {
        let mut system = HostSystem::new(Output::Discard);
        let before = system.monotonic_ns();
        system.sleep_until(before + 2_000_000);
        assert!(system.monotonic_ns() >= before + 2_000_000);
        // 2020-01-01: any host clock this runs on is later.
        assert!(system.realtime_ns() > 1_577_836_800_000_000_000);
    }

    #[test]
    fn captured_stdout_lands_in_the_buffer_in_order() {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(std::vec::Vec::new()));
        let mut system = HostSystem::new(Output::Capture(buffer.clone()));
        system.write_stdout(b"workload x: ").unwrap();
        system.write_stdout(b"12 us\n").unwrap();
        assert_eq!(buffer.lock().unwrap().as_slice(), b"workload x: 12 us\n");
    }

    #[test]
    fn random_bytes_fill_the_whole_buffer() {
        let mut system = HostSystem::new(Output::Discard);
        let mut a = [0u8; 4096];
        let mut b = [0u8; 4096];
        system.random_bytes(&mut a);
        system.random_bytes(&mut b);
        assert_ne!(a, b);
        // The tail is filled too: 64 zero bytes in a row from getrandom is ~2^-512.
        assert!(a[4032..].iter().any(|&byte| byte != 0));
    }
}
