//! Starting QEMU: building the command line, streaming the console, enforcing the
//! timeout, and falling back to the plan's next attempt when QEMU dies before the guest
//! prints a byte.
//!
//! The machine is always `microvm` (no firmware; the kernel is entered through PVH), one
//! CPU, `-no-reboot` so a triple fault ends QEMU instead of looping, and an
//! isa-debug-exit device at port 0xf4 through which the kernel reports its verdict.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::exit_status::Outcome;
use crate::stdio_devices::{ProgramIo, StdioDevices};
use crate::vm_plan::{Accelerator, Attempt};

/// Set to make the first attempt of every run fail for real (an unknown `-cpu` model,
/// so QEMU exits before the guest starts): tests of the fallback path use it.
pub const FAIL_FIRST_START_VAR: &str = "WASMETAL_TEST_FAIL_FIRST_START";

/// The model the forced first failure asks for; no QEMU has it.
const NO_SUCH_MODEL: &str = "wasmetal-no-such-cpu-model";

/// The host's TSC frequency in kHz. Under TCG the guest reads the host's TSC unchanged,
/// so passing this spares the kernel a timed calibration at every boot.
///
/// From cpuid (leaf 0x15 or the hypervisor timing leaf) when the CPU reports it, else
/// measured once against CLOCK_MONOTONIC and cached per host boot in the target dir.
pub fn host_tsc_khz() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        let max = __cpuid(0).eax;
        if max >= 0x15 {
            let leaf = __cpuid(0x15);
            if leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0 {
                return Some(u64::from(leaf.ecx) * u64::from(leaf.ebx) / u64::from(leaf.eax) / 1000);
            }
        }
        if __cpuid(1).ecx & (1 << 31) != 0 && __cpuid(0x4000_0000).eax >= 0x4000_0010 {
            let khz = __cpuid(0x4000_0010).eax;
            if khz != 0 {
                return Some(u64::from(khz));
            }
        }
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let cache = crate::workspace::scratch_dir().join("wasmetal-host-tsc");
        if let Ok(text) = std::fs::read_to_string(&cache)
            && let Some((id, khz)) = text.trim().split_once(' ')
            && id == boot_id.trim()
            && let Ok(khz) = khz.parse()
        {
            return Some(khz);
        }
        let khz = measure_tsc_khz();
        let _ = std::fs::create_dir_all(crate::workspace::scratch_dir());
        let _ = std::fs::write(&cache, format!("{} {khz}\n", boot_id.trim()));
        Some(khz)
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Counts TSC cycles over 50 ms of CLOCK_MONOTONIC (best of three windows).
#[cfg(target_arch = "x86_64")]
fn measure_tsc_khz() -> u64 {
    use std::arch::x86_64::_rdtsc;
    (0..3)
        .map(|_| {
            let start = Instant::now();
            // SAFETY: rdtsc is available on every x86_64 CPU and has no side effects.
            let tsc_start = unsafe { _rdtsc() };
            while start.elapsed() < Duration::from_millis(50) {
                std::hint::spin_loop();
            }
            // SAFETY: as above.
            let cycles = unsafe { _rdtsc() } - tsc_start;
            let nanos = start.elapsed().as_nanos() as u64;
            cycles * 1_000_000 / nanos
        })
        .min()
        .unwrap_or(0)
}

/// One VM run's settings.
#[derive(Clone, Debug)]
pub struct VmConfig {
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub cmdline: String,
    pub initrd: Option<PathBuf>,
    pub memory_mib: u32,
    /// Back all guest memory before the guest starts (`-mem-prealloc`).
    pub prealloc_memory: bool,
    /// Let QEMU back guest RAM with transparent huge pages (see
    /// `vm_plan::huge_page_note`); when false, QEMU runs with THP disabled.
    pub host_huge_pages: bool,
    /// How to start QEMU: the first attempt, then fallbacks (see `vm_plan`).
    pub attempts: Vec<Attempt>,
    pub timeout: Option<Duration>,
    /// Attach the serial device for the program's stdio, connected as `program_io` says.
    pub program_output: bool,
    pub program_io: ProgramIo,
    /// `--tcplisten` addresses: forwarded into a virtio-net card (see `net_devices`).
    pub tcp_listen: Vec<std::net::SocketAddrV4>,
    /// Make the first attempt fail for real (see [`FAIL_FIRST_START_VAR`]).
    pub fail_first_start: bool,
    /// Host directories exported over 9P (`--dir`).
    pub dirs: Vec<crate::dir_devices::HostDir>,
}

/// Where the kernel console goes while the VM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleSink {
    /// Echo each line to the launcher's stdout as it arrives.
    Stdout,
    /// Echo each line to the launcher's stderr (when stdout carries a program's output).
    Stderr,
    /// Keep it for the result only.
    Capture,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub console: String,
    pub wall: Duration,
    /// The attempt that ran the guest (or the last one tried).
    pub attempt: Attempt,
}

/// One QEMU process's end.
struct Ended {
    status: ExitStatus,
    timed_out: bool,
    console: String,
    qemu_errors: String,
    wall: Duration,
}

impl Ended {
    /// QEMU gave up before the guest printed anything: killed by a signal (an
    /// assertion) or an error of its own on stderr (warnings alone do not count, and
    /// an empty PVH kernel that exits without a word is no failure).
    fn start_failed(&self) -> bool {
        if self.timed_out || !self.console.is_empty() {
            return false;
        }
        let qemu_error = self.qemu_errors.lines().any(|line| !line.trim().is_empty() && !line.contains("warning:"));
        self.status.code().is_none() || qemu_error
    }

    /// QEMU's first error line, for the one-line notes.
    fn first_error(&self) -> String {
        let line = self.qemu_errors.lines().find(|line| !line.contains("warning:")).unwrap_or("").trim();
        let line = line.strip_prefix("qemu-system-x86_64: ").unwrap_or(line);
        if line.is_empty() { format!("QEMU ended: {}", self.status) } else { line.to_string() }
    }
}

/// Starts `command` with transparent huge pages disabled for its process: QEMU
/// advises them for all guest RAM, and only this per-process switch overrides that.
fn disable_transparent_huge_pages(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and makes one system
    // call; it allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl VmConfig {
    /// The accelerator of the first attempt (what a run is expected to use).
    pub fn accel(&self) -> Accelerator {
        self.attempts.first().map_or(Accelerator::Tcg, |attempt| attempt.accel)
    }

    fn command(&self, attempt: &Attempt, cpu: &str) -> Command {
        let mut command = Command::new(&self.qemu);
        command
            .args(["-machine", "microvm,x-option-roms=off,acpi=off,rtc=on,isa-serial=on"])
            .arg("-cpu")
            .arg(cpu)
            .args(["-smp", "1"])
            .arg("-m")
            .arg(format!("{}M", self.memory_mib))
            .args(self.prealloc_memory.then_some("-mem-prealloc"))
            .args(["-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot"])
            .args(["-serial", "stdio"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .arg("-kernel")
            .arg(&self.kernel)
            .args(["-accel", attempt.accel.qemu_name()]);
        let mut cmdline = self.cmdline.clone();
        if self.program_output {
            cmdline = format!("{cmdline} {}", crate::stdio_devices::cmdline_options());
        }
        if !self.dirs.is_empty() {
            crate::dir_devices::attach(&mut command, &self.dirs);
            cmdline = format!("{cmdline} {}", crate::dir_devices::cmdline_options(&self.dirs));
        }
        if !self.tcp_listen.is_empty() {
            command.args(crate::net_devices::qemu_args(&self.tcp_listen));
            cmdline = format!("{cmdline} {}", crate::net_devices::cmdline_options(&self.tcp_listen));
        }
        if attempt.accel == Accelerator::Tcg
            && let Some(khz) = host_tsc_khz()
        {
            cmdline = format!("{cmdline} tsc_khz={khz}");
        }
        command.arg("-append").arg(cmdline.trim());
        if !self.host_huge_pages {
            disable_transparent_huge_pages(&mut command);
        }
        // Extra QEMU arguments, for debugging (`-d trace:virtio_* -D qemu.log`).
        if let Ok(extra) = std::env::var("WASMETAL_QEMU_ARGS") {
            command.args(extra.split_whitespace());
        }
        if let Some(initrd) = &self.initrd {
            command.arg("-initrd").arg(initrd);
        }
        command
    }

    /// Boots the VM and waits for it to end (or for the timeout). When QEMU dies before
    /// the guest prints a byte, the next attempt of the plan runs, with one line on
    /// stderr saying why.
    pub fn run(&self, sink: ConsoleSink) -> Result<RunResult> {
        let mut attempts = self.attempts.iter().enumerate().peekable();
        while let Some((index, attempt)) = attempts.next() {
            let cpu = if index == 0 && self.fail_first_start { NO_SUCH_MODEL } else { attempt.cpu.as_str() };
            let ended = self.run_once(attempt, cpu, sink)?;
            if ended.start_failed() {
                if let Some((_, next)) = attempts.peek() {
                    eprintln!(
                        "wasmetal: QEMU did not start with -accel {} -cpu {cpu} ({}); retrying with -accel {} -cpu {} ({})",
                        attempt.accel.qemu_name(),
                        ended.first_error(),
                        next.accel.qemu_name(),
                        next.cpu,
                        next.why,
                    );
                    continue;
                }
                let outcome = Outcome::NoVerdict(format!(
                    "QEMU did not start with -accel {} -cpu {cpu}: {}",
                    attempt.accel.qemu_name(),
                    ended.qemu_errors.trim()
                ));
                return Ok(RunResult { outcome, console: ended.console, wall: ended.wall, attempt: attempt.clone() });
            }
            let outcome = if ended.timed_out {
                Outcome::Timeout
            } else {
                match Outcome::from_qemu(ended.status, &ended.console) {
                    Outcome::NoVerdict(why) if !ended.qemu_errors.trim().is_empty() => {
                        Outcome::NoVerdict(format!("{why}; QEMU said: {}", ended.qemu_errors.trim()))
                    }
                    other => other,
                }
            };
            return Ok(RunResult { outcome, console: ended.console, wall: ended.wall, attempt: attempt.clone() });
        }
        anyhow::bail!("no way to start QEMU was planned")
    }

    fn run_once(&self, attempt: &Attempt, cpu: &str, sink: ConsoleSink) -> Result<Ended> {
        let mut command = self.command(attempt, cpu);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let devices =
            if self.program_output { Some(StdioDevices::attach(&mut command, &std::env::temp_dir())?) } else { None };
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", self.qemu.display()))?;
        let forwarding = devices.map(|devices| devices.forward(&self.program_io));
        let pid = child.id();
        if !self.tcp_listen.is_empty() {
            let ports = self.tcp_listen.iter().map(|addr| addr.port()).collect();
            crate::slirp_backlog::widen_in_background(pid, ports, sink != ConsoleSink::Capture);
        }
        let console = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let reader_console = Arc::clone(&console);
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                let text = String::from_utf8_lossy(&line).replace('\r', "");
                match sink {
                    ConsoleSink::Stdout => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(text.as_bytes());
                        let _ = out.flush();
                    }
                    ConsoleSink::Stderr => {
                        let mut err = std::io::stderr().lock();
                        let _ = err.write_all(text.as_bytes());
                        let _ = err.flush();
                    }
                    ConsoleSink::Capture => {}
                }
                reader_console.lock().expect("console lock").push_str(&text);
                line.clear();
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
            text
        });
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait();
            let _ = done_tx.send(());
            status
        });
        let timed_out = match self.timeout {
            Some(limit) => done_rx.recv_timeout(limit).is_err(),
            None => done_rx.recv().is_err(),
        };
        if timed_out {
            // SAFETY: kill(2) on our own child's pid; it has not been reaped yet because
            // the waiter thread has not returned.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let status = waiter.join().expect("waiter thread").context("waiting for QEMU")?;
        let wall = started.elapsed();
        let _ = reader.join();
        if let Some(forwarding) = forwarding {
            forwarding.finish();
        }
        let qemu_errors = errors.join().unwrap_or_default();
        let console = std::mem::take(&mut *console.lock().expect("console lock"));
        Ok(Ended { status, timed_out, console, qemu_errors, wall })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The switch reaches the child: Linux shows it as `THP_enabled: 0` in its status.
    #[test]
    fn a_command_can_be_started_without_transparent_huge_pages() {
        let thp_enabled = |disable: bool| {
            let mut command = Command::new("grep");
            command.args(["THP_enabled", "/proc/self/status"]);
            if disable {
                disable_transparent_huge_pages(&mut command);
            }
            let output = command.output().expect("running grep");
            String::from_utf8_lossy(&output.stdout).split_whitespace().last().map(str::to_string)
        };
        assert_eq!(thp_enabled(true).as_deref(), Some("0"));
        // A kernel built without THP shows 0 either way.
        let thp_built = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        assert_eq!(thp_enabled(false).as_deref(), Some(if thp_built { "1" } else { "0" }));
    }
}
