//! Test harness: runs the real launcher (and through it QEMU) and captures the result.
//!
//! The kernel is built once per test binary (`wasmetal build-kernel`) and passed to each
//! run with `--kernel`, so the many runs do not each invoke cargo. Nothing here skips:
//! when QEMU or the kernel build is missing, the run fails with the launcher's message.

pub mod programs;
pub mod scratch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// One finished launcher run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run of a finished process.
    pub fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless stdout has a line containing `needle`.
    #[track_caller]
    pub fn expect_line(&self, needle: &str) -> &str {
        match self.stdout.lines().find(|line| line.contains(needle)) {
            Some(line) => line,
            None => panic!("no line containing {needle:?} in the output:\n{self}"),
        }
    }

    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code; output:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- exit code {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// The number that follows `phrase` in one of the kernel's stat lines (`net: ...`,
/// `stdio: ...`); panics with the line when the phrase or the number is missing.
#[track_caller]
pub fn number_after(line: &str, phrase: &str) -> u64 {
    let at = line.find(phrase).unwrap_or_else(|| panic!("no {phrase:?} in {line:?}")) + phrase.len();
    let word = line[at..].split_whitespace().next().unwrap_or("");
    word.trim_end_matches(',').parse().unwrap_or_else(|_| panic!("no number after {phrase:?} in {line:?}"))
}

/// The launcher binary under test.
pub struct Launcher {
    binary: PathBuf,
}

static KERNEL: OnceLock<PathBuf> = OnceLock::new();

impl Launcher {
    /// Wraps the launcher at `binary` (pass `env!("CARGO_BIN_EXE_wasmetal-under-test")`).
    pub fn new(binary: &str) -> Self {
        Launcher { binary: PathBuf::from(binary) }
    }

    /// The kernel ELF, built on first use.
    pub fn kernel(&self) -> &Path {
        KERNEL.get_or_init(|| {
            let output = Command::new(&self.binary)
                .arg("build-kernel")
                .env_remove("WASMETAL_KERNEL")
                .stderr(Stdio::inherit())
                .output()
                .expect("spawning the launcher");
            let run = Run::from(output);
            assert_eq!(run.code, Some(0), "building the kernel failed:\n{run}");
            PathBuf::from(run.stdout.trim())
        })
    }

    /// Runs the launcher with `args` against the prebuilt kernel.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// As [`run`](Self::run), feeding `stdin` to the launcher.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        self.run_full(args, stdin, &[])
    }

    /// As [`run`](Self::run), with environment variables `env` set for the launcher.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        self.run_full(args, None, env)
    }

    fn run_full(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &Path)]) -> Run {
        let kernel = self.kernel().to_path_buf();
        let mut command = Command::new(&self.binary);
        command.arg("--kernel").arg(kernel).args(args);
        command.envs(env.iter().map(|(name, value)| (name, value.as_os_str())));
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = command.spawn().expect("spawning the launcher");
        if let Some(bytes) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(bytes).expect("writing the launcher's stdin");
        }
        Run::from(child.wait_with_output().expect("waiting for the launcher"))
    }

    /// Boots the kernel with a raw command line (self-tests), with a generous timeout
    /// so a hung kernel fails the test instead of hanging it.
    pub fn kernel_cmdline(&self, append: &str) -> Run {
        self.run(&["--timeout", "120", "kernel", "--append", append])
    }
}
