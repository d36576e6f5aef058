//! Starting QEMU: finding (or installing) it, choosing the accelerator, building the
//! command line, streaming the console, enforcing the timeout.
//!
//! The machine is always `microvm` (no firmware; the kernel is entered through PVH), one
//! CPU, `-no-reboot` so a triple fault ends QEMU instead of looping, and an
//! isa-debug-exit device at port 0xf4 through which the kernel reports its verdict.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::exit_status::Outcome;

/// The QEMU binary the launcher drives.
pub const QEMU: &str = "qemu-system-x86_64";

/// Which accelerator to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// KVM when /dev/kvm opens and a backend that runs the kernel natively is loaded,
    /// TCG otherwise.
    Auto,
    Kvm,
    Tcg,
}

/// The accelerator actually chosen, with the reason when it was not the first choice.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub accel: Accel,
    pub note: Option<String>,
}

/// Whether KVM can run the kernel natively here: hardware-assisted (VMX/SVM), or KVM's
/// PVM backend, which runs guest CPL3 code natively; the kernel runs at CPL3 for that
/// reason (see `wasmetal_arch::privilege` and docs/architecture.md).
fn kvm_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|error| format!("cannot open /dev/kvm ({error})"))?;
    let backends = ["/sys/module/kvm_intel", "/sys/module/kvm_amd", "/sys/module/kvm_pvm"];
    if !backends.iter().any(|module| Path::new(module).exists()) {
        return Err("no KVM backend found (kvm_intel, kvm_amd or kvm_pvm)".into());
    }
    Ok(())
}

/// Resolves `Auto` to a concrete accelerator.
pub fn choose(accel: Accel) -> Chosen {
    match accel {
        Accel::Auto => match kvm_usable() {
            Ok(()) => Chosen { accel: Accel::Kvm, note: None },
            Err(why) => Chosen { accel: Accel::Tcg, note: Some(format!("{why}; using TCG")) },
        },
        other => Chosen { accel: other, note: None },
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

/// Finds QEMU, installing it with apt-get when missing and running as root on Debian or
/// Ubuntu; otherwise fails with a one-line instruction.
pub fn ensure_installed() -> Result<PathBuf> {
    if let Some(path) = on_path(QEMU) {
        return Ok(path);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let debian = Path::new("/etc/debian_version").exists();
    if !(root && debian) {
        bail!("{QEMU} not found: install it with `sudo apt-get install -y qemu-system-x86`");
    }
    eprintln!("wasmetal: {QEMU} not found, installing qemu-system-x86 with apt-get");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "qemu-system-x86"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    let mut status = install().context("running apt-get")?;
    if !status.success() {
        Command::new("apt-get").arg("update").status().context("running apt-get update")?;
        status = install().context("running apt-get")?;
    }
    if !status.success() {
        bail!("apt-get could not install qemu-system-x86: install it by hand and retry");
    }
    on_path(QEMU).with_context(|| format!("{QEMU} still not on PATH after installing qemu-system-x86"))
}

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
        let cache = crate::workspace::target_dir().join("wasmetal-host-tsc");
        if let Ok(text) = std::fs::read_to_string(&cache)
            && let Some((id, khz)) = text.trim().split_once(' ')
            && id == boot_id.trim()
            && let Ok(khz) = khz.parse()
        {
            return Some(khz);
        }
        let khz = measure_tsc_khz();
        let _ = std::fs::create_dir_all(crate::workspace::target_dir());
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
    pub accel: Accel,
    pub timeout: Option<Duration>,
    /// Connect the program's stdout/stderr debugcon channels to our stdout/stderr.
    pub program_output: bool,
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
}

impl VmConfig {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.qemu);
        command
            .args(["-machine", "microvm,x-option-roms=off,acpi=off,rtc=on,isa-serial=on"])
            .args(["-cpu", "max", "-smp", "1"])
            .arg("-m")
            .arg(format!("{}M", self.memory_mib))
            .args(["-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot"])
            .args(["-serial", "stdio"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .arg("-kernel")
            .arg(&self.kernel);
        let mut cmdline = self.cmdline.clone();
        match self.accel {
            Accel::Kvm => {
                command.args(["-accel", "kvm"]);
            }
            Accel::Tcg | Accel::Auto => {
                command.args(["-accel", "tcg"]);
                if let Some(khz) = host_tsc_khz() {
                    cmdline = format!("{cmdline} tsc_khz={khz}");
                }
            }
        }
        command.arg("-append").arg(cmdline.trim());
        if let Some(initrd) = &self.initrd {
            command.arg("-initrd").arg(initrd);
        }
        command
    }

    /// Boots the VM and waits for it to end (or for the timeout).
    pub fn run(&self, sink: ConsoleSink) -> Result<RunResult> {
        let mut command = self.command();
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let channels = if self.program_output { Some(ProgramChannels::attach(&mut command)?) } else { None };
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", self.qemu.display()))?;
        let forwarders = channels.map(ProgramChannels::forward);
        let pid = child.id();
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
        for forwarder in forwarders.into_iter().flatten() {
            let _ = forwarder.join();
        }
        let qemu_errors = errors.join().unwrap_or_default();
        let console = std::mem::take(&mut *console.lock().expect("console lock"));
        let outcome = if timed_out {
            Outcome::Timeout
        } else {
            match Outcome::from_qemu(status, &console) {
                Outcome::NoVerdict(why) if !qemu_errors.trim().is_empty() => {
                    Outcome::NoVerdict(format!("{why}; QEMU said: {}", qemu_errors.trim()))
                }
                other => other,
            }
        };
        Ok(RunResult { outcome, console, wall })
    }
}

/// Pipes carrying the program's stdout and stderr from QEMU's debugcon devices (ports
/// 0xe9 and 0xea) to ours, byte for byte.
struct ProgramChannels {
    stdout_read: std::os::fd::OwnedFd,
    stderr_read: std::os::fd::OwnedFd,
    /// Our copies of the write ends: QEMU inherits them; we close ours after spawning.
    write_ends: [std::os::fd::OwnedFd; 2],
}

fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`; both are close-on-exec, and
    // the write end is made inheritable for QEMU only (in `attach`'s pre_exec).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) })
}

impl ProgramChannels {
    /// Creates the pipes and adds the debugcon devices writing into them to `command`.
    fn attach(command: &mut Command) -> Result<Self> {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let (out_fd, err_fd) = (stdout_write.as_raw_fd(), stderr_write.as_raw_fd());
        command
            .arg("-chardev")
            .arg(format!("file,id=program-stdout,path=/proc/self/fd/{out_fd}"))
            .args(["-device", "isa-debugcon,iobase=0xe9,chardev=program-stdout"])
            .arg("-chardev")
            .arg(format!("file,id=program-stderr,path=/proc/self/fd/{err_fd}"))
            .args(["-device", "isa-debugcon,iobase=0xea,chardev=program-stderr"]);
        // SAFETY: between fork and exec only async-signal-safe fcntl calls run; they
        // clear close-on-exec on the two write ends so QEMU inherits them.
        unsafe {
            command.pre_exec(move || {
                for fd in [out_fd, err_fd] {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok(Self { stdout_read, stderr_read, write_ends: [stdout_write, stderr_write] })
    }

    /// Closes our copies of the write ends (so the pipes end when QEMU exits) and copies
    /// both pipes to our own stdout and stderr.
    fn forward(self) -> Vec<std::thread::JoinHandle<()>> {
        drop(self.write_ends);
        let copy = |from: std::os::fd::OwnedFd, to_stdout: bool| {
            std::thread::spawn(move || {
                let mut from = std::fs::File::from(from);
                let mut buffer = [0u8; 65536];
                loop {
                    match from.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) if to_stdout => {
                            let mut out = std::io::stdout().lock();
                            let _ = out.write_all(&buffer[..n]);
                            let _ = out.flush();
                        }
                        Ok(n) => {
                            let mut err = std::io::stderr().lock();
                            let _ = err.write_all(&buffer[..n]);
                            let _ = err.flush();
                        }
                    }
                }
            })
        };
        vec![copy(self.stdout_read, true), copy(self.stderr_read, false)]
    }
}
