//! The program's stdio as four ports of one multiport virtio serial device on the
//! microvm (`virtserialport`s, which QEMU throttles rather than drops data on, unlike
//! `virtconsole`): their QEMU arguments, the pipes and FIFOs behind them, and the
//! threads that connect them to our own stdin, stdout and stderr.
//!
//! - stdout and stderr: a pipe each (QEMU's `file` chardev writes the write end),
//!   spliced to ours (no copy through the launcher; copied byte for byte where ours
//!   cannot take a splice, a terminal say). When ours is closed (EPIPE) a `Closed` frame goes to
//!   the guest on the control console and the pipe is drained from then on.
//! - stdin: a FIFO (QEMU's `pipe` chardev reads it); our stdin is streamed into it as
//!   it arrives, in `Data` frames, then one `Eof` (`wasmetal_devices::stdio_link`).
//! - control: a FIFO carrying `Closed` frames.
//!
//! Both ends open the FIFOs read-write, so neither open blocks and QEMU never sees an
//! end of file; the framing says where stdin ends. Input that is already waiting when
//! the virtconsole starts is never read by QEMU 7.2 (measured: 11 bytes written before
//! boot stayed unread while the guest had a buffer posted and kicked the queue 91
//! times; the same bytes 100 ms later arrived), so stdin is only streamed after the
//! guest says it is ready: it writes [`GUEST_READY`] on the stdin console, which QEMU
//! puts in `stdin.out`.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use wasmetal_devices::stdio_link::{
    CONTROL_PORT, GUEST_READY, Header, MAX_DATA_FRAME, OutStream, STDERR_PORT, STDIN_PORT, STDOUT_PORT,
};

/// microvm's virtio-mmio slots: slot N's registers sit at BASE + N * STRIDE.
const MMIO_BASE: u64 = 0xfeb0_0000;
const MMIO_STRIDE: u64 = 0x200;

/// The slot the serial device takes (the top one, where QEMU would put it anyway).
const SERIAL_SLOT: u64 = 7;

/// The kernel command-line option naming the serial device.
pub fn cmdline_options() -> String {
    format!("console.serial={:#x}", MMIO_BASE + SERIAL_SLOT * MMIO_STRIDE)
}

/// Bytes of the output pipes' buffers.
const PIPE_BYTES: libc::c_int = 1 << 20;

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`; both are close-on-exec, and
    // the write end is made inheritable for QEMU only (in `attach`'s pre_exec).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // A larger pipe lets QEMU hand over a whole 64 KiB write without throttling the port
    // while we are between reads (best effort: the default 64 KiB still works).
    // SAFETY: fcntl on a descriptor we own; F_SETPIPE_SZ only resizes its buffer.
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_BYTES) };
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Where the program's stdio goes on the host.
#[derive(Clone, Debug, Default)]
pub enum ProgramIo {
    /// Our own stdin, stdout and stderr.
    #[default]
    Inherit,
    /// Benchmarks: stdin is these bytes, output is read and dropped.
    Fixed { stdin: std::sync::Arc<Vec<u8>> },
}

/// The devices of one QEMU start, before it runs.
pub struct StdioDevices {
    dir: PathBuf,
    stdout_read: OwnedFd,
    stderr_read: OwnedFd,
    /// Our copies of the write ends: QEMU inherits them; we close ours after spawning.
    write_ends: [OwnedFd; 2],
    stdin_fifo: std::fs::File,
    /// Where QEMU puts what the guest writes on the stdin console (its ready byte).
    stdin_ready: std::fs::File,
    control_fifo: std::fs::File,
}

/// The forwarding threads of a running QEMU.
pub struct Forwarding {
    dir: PathBuf,
    outputs: Vec<JoinHandle<()>>,
}

/// Makes a FIFO at `path` and opens it read-write (which never blocks on Linux).
fn fifo(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).context("a FIFO path with a NUL byte")?;
    // SAFETY: mkfifo reads the NUL-terminated path and creates a file; no memory is shared.
    if unsafe { libc::mkfifo(name.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("creating FIFO {}", path.display()));
    }
    std::fs::OpenOptions::new().read(true).write(true).open(path).with_context(|| format!("opening {}", path.display()))
}

impl StdioDevices {
    /// Creates the pipes and sockets and adds the consoles to `command`.
    pub fn attach(command: &mut Command, scratch: &std::path::Path) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let dir = scratch.join(format!("wasmetal-stdio-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let stdin_path = dir.join("stdin");
        let control_path = dir.join("control");
        // Port 0 stays empty: QEMU reserves it for a virtconsole.
        command.arg("-device").arg(format!(
            "virtio-serial-device,id=wasmetal-serial,max_ports={},bus=virtio-mmio-bus.{SERIAL_SLOT}",
            CONTROL_PORT + 1
        ));
        let stdin_fifo = fifo(&dir.join("stdin.in"))?;
        let stdin_ready = fifo(&dir.join("stdin.out"))?;
        let control_fifo = fifo(&control_path)?;
        let (out_fd, err_fd) = (stdout_write.as_raw_fd(), stderr_write.as_raw_fd());
        let ports = [
            ("stdout", STDOUT_PORT, format!("file,id=stdout,path=/proc/self/fd/{out_fd}")),
            ("stderr", STDERR_PORT, format!("file,id=stderr,path=/proc/self/fd/{err_fd}")),
            ("stdin", STDIN_PORT, format!("pipe,id=stdin,path={}", stdin_path.display())),
            ("control", CONTROL_PORT, format!("pipe,id=control,path={}", control_path.display())),
        ];
        for (name, nr, chardev) in ports {
            command
                .arg("-chardev")
                .arg(chardev)
                .arg("-device")
                .arg(format!("virtserialport,chardev={name},bus=wasmetal-serial.0,nr={nr}"));
        }
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
        Ok(StdioDevices {
            dir,
            stdout_read,
            stderr_read,
            write_ends: [stdout_write, stderr_write],
            stdin_fifo,
            stdin_ready,
            control_fifo,
        })
    }

    /// Starts forwarding once QEMU is spawned: closes our write ends (so the pipes end
    /// when QEMU exits), copies the output pipes, streams stdin.
    pub fn forward(self, io: &ProgramIo) -> Forwarding {
        drop(self.write_ends);
        let control = Arc::new(Mutex::new(self.control_fifo));
        let keep = matches!(io, ProgramIo::Inherit);
        let outputs = vec![
            copy_output(self.stdout_read, OutStream::Stdout, Arc::clone(&control), keep),
            copy_output(self.stderr_read, OutStream::Stderr, control, keep),
        ];
        let (stdin_fifo, stdin_ready) = (self.stdin_fifo, self.stdin_ready);
        let source: Box<dyn Read + Send> = match io {
            ProgramIo::Inherit => Box::new(std::io::stdin()),
            ProgramIo::Fixed { stdin } => Box::new(std::io::Cursor::new(SharedBytes(Arc::clone(stdin)))),
        };
        // Detached: it may sit in a read of a terminal after the VM is gone.
        std::thread::spawn(move || stream_stdin(stdin_ready, stdin_fifo, source));
        Forwarding { dir: self.dir, outputs }
    }
}

impl Forwarding {
    /// Waits for the outputs to drain (QEMU has exited) and cleans up.
    pub fn finish(self) {
        for output in self.outputs {
            let _ = output.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Bytes shared with the benchmark that owns them.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A per-process counter, so each QEMU start gets fresh socket paths.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What moving bytes from a pipe to our stdout or stderr with `splice` came to.
enum Spliced {
    /// QEMU closed its end: nothing more will come.
    End,
    /// Ours cannot take a splice (a terminal, say): copy instead.
    Unsupported,
    /// Ours failed (its reader is gone).
    Failed,
}

/// Moves everything from the pipe `from` to our stream `to` (fd 1 or 2) with `splice`,
/// which hands pipe pages over without copying them through user space (the host side
/// of stdout then costs what a program writing to the pipe itself would).
fn splice_output(from: &std::fs::File, to: libc::c_int) -> Spliced {
    let mut moved_any = false;
    loop {
        // SAFETY: both descriptors stay open for the call; null offsets mean "the
        // descriptors' own", as pipes need.
        let n = unsafe {
            libc::splice(from.as_raw_fd(), std::ptr::null_mut(), to, std::ptr::null_mut(), 1 << 20, libc::SPLICE_F_MOVE)
        };
        match n {
            0 => return Spliced::End,
            n if n > 0 => moved_any = true,
            _ => match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) => {}
                // Nothing moved yet, so nothing is lost by copying from here on.
                Some(libc::EINVAL) if !moved_any => return Spliced::Unsupported,
                _ => return Spliced::Failed,
            },
        }
    }
}

/// Copies one output pipe to our stdout or stderr. When ours fails, tells the guest on
/// the control stream and keeps draining so that QEMU never blocks on the pipe.
fn copy_output(from: OwnedFd, stream: OutStream, control: Arc<Mutex<std::fs::File>>, keep: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut from = std::fs::File::from(from);
        let mut buffer = vec![0u8; 1 << 16];
        let mut open = keep;
        if open {
            // Our own buffered writes go out first; no lock is held while splicing (the
            // kernel log may be written to stderr meanwhile, and must not wait for the
            // end of the run).
            let spliced = match stream {
                OutStream::Stdout => {
                    let _ = std::io::stdout().flush();
                    splice_output(&from, libc::STDOUT_FILENO)
                }
                OutStream::Stderr => splice_output(&from, libc::STDERR_FILENO),
            };
            match spliced {
                Spliced::End => return,
                Spliced::Unsupported => {}
                Spliced::Failed => {
                    open = false;
                    let _ = control.lock().expect("control lock").write_all(&Header::Closed(stream).encode());
                }
            }
        }
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !open {
                continue;
            }
            let written = match stream {
                OutStream::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&buffer[..n]).and_then(|()| out.flush())
                }
                OutStream::Stderr => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&buffer[..n]).and_then(|()| err.flush())
                }
            };
            if written.is_err() {
                open = false;
                let _ = control.lock().expect("control lock").write_all(&Header::Closed(stream).encode());
            }
        }
    })
}

/// Streams our stdin to the guest as it arrives (a terminal line by line), then EOF,
/// once the guest has said it is ready.
fn stream_stdin(mut ready: std::fs::File, mut to: std::fs::File, mut stdin: Box<dyn Read + Send>) {
    let mut byte = [0u8; 1];
    loop {
        match ready.read(&mut byte) {
            Ok(1) if byte[0] == GUEST_READY => break,
            Ok(1) => {}
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
    let mut buffer = vec![0u8; MAX_DATA_FRAME];
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        if n == 0 {
            let _ = to.write_all(&Header::Eof.encode());
            return;
        }
        let header = Header::Data { len: n as u32 }.encode();
        if to.write_all(&header).and_then(|()| to.write_all(&buffer[..n])).is_err() {
            return;
        }
    }
}
