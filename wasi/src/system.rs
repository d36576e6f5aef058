//! The `System` trait: what the embedder supplies (clocks, randomness, the console,
//! sleeping). The kernel implements it with its timers and serial port; hosted tests
//! with a fake clock.

/// Why a console stream operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleError {
    /// Nothing reads the stream any more (the guest gets EPIPE).
    Closed,
    /// The wait was cut short (the program's time is up; the guest gets EINTR).
    Interrupted,
}

/// The services WASI needs from the machine it runs on.
pub trait System: Send {
    /// Nanoseconds on a clock that never goes backwards (any origin).
    fn monotonic_ns(&mut self) -> u64;

    /// Nanoseconds since 1970-01-01 00:00:00 UTC.
    fn realtime_ns(&mut self) -> u64;

    /// Fills `buf` with random bytes (cryptographic quality where the guest needs it).
    fn random_bytes(&mut self, buf: &mut [u8]);

    /// Bytes the guest wrote to fd 1, exactly as written; returns once they are out.
    fn write_stdout(&mut self, bytes: &[u8]) -> Result<(), ConsoleError>;

    /// Bytes the guest wrote to fd 2, exactly as written; returns once they are out.
    fn write_stderr(&mut self, bytes: &[u8]) -> Result<(), ConsoleError>;

    /// Reads the guest's stdin when the system streams it, waiting for data or the end
    /// (`Ok(0)`). `None`: stdin is the bytes given to [`WasiCtxBuilder::stdin`](crate::WasiCtxBuilder::stdin).
    fn read_stdin(&mut self, _buf: &mut [u8]) -> Option<Result<usize, ConsoleError>> {
        None
    }

    /// With streamed stdin: whether a read would return at once (data or the end).
    fn stdin_ready(&mut self) -> Option<bool> {
        None
    }

    /// Blocks until `monotonic_ns()` reaches `monotonic_ns` (returns at once if it has).
    fn sleep_until(&mut self, monotonic_ns: u64);

    /// Whether the program's time is up: calls that wait stop waiting (the embedder
    /// traps the program when it is back in wasm).
    fn interrupted(&mut self) -> bool {
        false
    }

    /// Lets other work run (`sched_yield`).
    fn yield_now(&mut self) {}
}
