//! The launcher's exit codes, and how QEMU's exit status maps to them.
//!
//! The kernel ends every run by printing `wasmetal: exit <status>` on its console (a
//! quiet kernel only for statuses above 123) and writing a 7-bit value to the
//! isa-debug-exit device; QEMU then exits with
//! `(value << 1) | 1`. Values below 124 are the status itself, 125 is a kernel failure,
//! 126 means "the status is on the verdict line" (for statuses above 123, such as 134
//! for a trap).

use std::process::ExitStatus;

/// The wall-clock `--timeout` expired (as `timeout(1)` reports).
pub const TIMEOUT: u8 = 124;
/// The kernel panicked, faulted, or stopped without a verdict; or the launcher failed.
pub const KERNEL_FAILURE: u8 = 125;
/// The launcher itself failed (QEMU missing, cannot write its files).
pub const LAUNCHER_FAILURE: u8 = 125;
/// The user's input cannot be run: a program file that is missing or unreadable, a
/// request the guest cannot hold (as `wasmtime run` exits 1 for these).
pub const INPUT_ERROR: u8 = 1;

/// An error in what the user asked for (exit [`INPUT_ERROR`], not a kernel failure).
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Reads a file the user named; failing is an [`InputError`] naming the path and why.
pub fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| InputError(format!("cannot read {}: {error}", path.display())).into())
}

const EXTENDED: i32 = 126;

/// The verdict the kernel printed last, if any.
pub fn verdict_line(console: &str) -> Option<u32> {
    console.lines().rev().find_map(|line| line.trim().strip_prefix("wasmetal: exit ")?.trim().parse().ok())
}

/// What became of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel reported a status (a workload's exit status or a test verdict).
    Status(u32),
    /// The kernel reported a failure of its own (panic, unexpected exception).
    KernelFailure,
    /// QEMU ended without the kernel reporting anything (triple fault, QEMU error).
    NoVerdict(String),
    /// The wall-clock timeout expired and QEMU was killed.
    Timeout,
}

impl Outcome {
    /// Decodes QEMU's exit status together with the console output.
    pub fn from_qemu(status: ExitStatus, console: &str) -> Outcome {
        let Some(code) = status.code() else {
            return Outcome::NoVerdict(format!("QEMU was killed ({status})"));
        };
        if code == 0 {
            return Outcome::NoVerdict("the kernel stopped without an exit code (triple fault or reset?)".into());
        }
        if code & 1 == 0 {
            return Outcome::NoVerdict(format!("QEMU failed with exit code {code}"));
        }
        match code >> 1 {
            value @ 0..=123 => Outcome::Status(value as u32),
            125 => Outcome::KernelFailure,
            EXTENDED => match verdict_line(console) {
                Some(status) => Outcome::Status(status),
                None => Outcome::NoVerdict("the kernel's verdict line is missing".into()),
            },
            other => Outcome::NoVerdict(format!("unknown debug-exit value {other}")),
        }
    }

    /// The launcher's exit code for this outcome.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Status(status) => (*status & 0xFF) as u8,
            Outcome::KernelFailure | Outcome::NoVerdict(_) => KERNEL_FAILURE,
            Outcome::Timeout => TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn small_statuses_come_from_the_exit_code() {
        assert_eq!(Outcome::from_qemu(exited(1), ""), Outcome::Status(0));
        assert_eq!(Outcome::from_qemu(exited(7), ""), Outcome::Status(3));
        assert_eq!(Outcome::from_qemu(exited(247), ""), Outcome::Status(123));
    }

    #[test]
    fn large_statuses_come_from_the_verdict_line() {
        let console = "hello\nwasmetal: exit 134\n";
        let outcome = Outcome::from_qemu(exited((126 << 1) | 1), console);
        assert_eq!(outcome, Outcome::Status(134));
        assert_eq!(outcome.exit_code(), 134);
        assert_eq!(Outcome::from_qemu(exited((126 << 1) | 1), "nothing").exit_code(), KERNEL_FAILURE);
    }

    #[test]
    fn failures_are_told_apart() {
        assert_eq!(Outcome::from_qemu(exited((125 << 1) | 1), ""), Outcome::KernelFailure);
        assert!(matches!(Outcome::from_qemu(exited(0), ""), Outcome::NoVerdict(_)));
        assert!(matches!(Outcome::from_qemu(exited(2), ""), Outcome::NoVerdict(_)));
        assert!(matches!(Outcome::from_qemu(ExitStatus::from_raw(9), ""), Outcome::NoVerdict(_)));
        assert_eq!(Outcome::Timeout.exit_code(), TIMEOUT);
    }
}
