//! The `System` trait: what the embedder supplies (clocks, randomness, the console,
//! sleeping). The kernel implements it with its timers and serial port; hosted tests
//! with a fake clock.

/// The services WASI needs from the machine it runs on.
pub trait System: Send {
    /// Nanoseconds on a clock that never goes backwards (any origin).
    fn monotonic_ns(&mut self) -> u64;

    /// Nanoseconds since 1970-01-01 00:00:00 UTC.
    fn realtime_ns(&mut self) -> u64;

    /// Fills `buf` with random bytes (cryptographic quality where the guest needs it).
    fn random_bytes(&mut self, buf: &mut [u8]);

    /// Bytes the guest wrote to fd 1, exactly as written.
    fn write_stdout(&mut self, bytes: &[u8]);

    /// Bytes the guest wrote to fd 2, exactly as written.
    fn write_stderr(&mut self, bytes: &[u8]);

    /// Blocks until `monotonic_ns()` reaches `monotonic_ns` (returns at once if it has).
    fn sleep_until(&mut self, monotonic_ns: u64);

    /// Lets other work run (`sched_yield`).
    fn yield_now(&mut self) {}
}
