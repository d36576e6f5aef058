//! Widens the listen backlog of QEMU's user-networking forwards after QEMU starts.
//!
//! libslirp listens on each `hostfwd` port with a backlog of 1 (`listen(s, 1)`), so a
//! burst of connects overflows the host's accept queue and the host kernel drops the
//! SYNs it cannot queue; clients retry them after 1, 3, 7.. s (250 parallel connects
//! took 77 s). Linux lets a listening socket's backlog be raised by calling `listen`
//! again, on any descriptor of it: this takes a duplicate of QEMU's listening socket
//! with `pidfd_getfd` (QEMU is our child, so the ptrace check passes), calls `listen`
//! with a real backlog and closes the duplicate. It only reads /proc and touches those
//! sockets; when it cannot (an older kernel, a ptrace policy), forwards keep slirp's
//! backlog and work as before.

use std::collections::HashSet;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The backlog given to each forward (the host caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 4096;
/// How long to look for QEMU's listening sockets (it makes them before the guest runs).
const SEARCH: Duration = Duration::from_secs(5);

/// Inodes of the listening TCP sockets on `ports` in `pid`'s network namespace.
fn listening_inodes(pid: u32, ports: &[u16]) -> HashSet<String> {
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else { return HashSet::new() };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            // State 0A is TCP_LISTEN.
            (*fields.get(3)? == "0A" && ports.contains(&port)).then(|| fields.get(9).map(|inode| inode.to_string()))?
        })
        .collect()
}

/// QEMU's descriptors that are sockets with one of `inodes`.
fn socket_fds(pid: u32, inodes: &HashSet<String>) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            let inode = target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
            inodes.contains(inode).then(|| entry.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

/// Raises the backlog of QEMU's (`pid`) forwards on `ports`; how many it raised.
fn widen(pid: u32, ports: &[u16]) -> usize {
    let fds = socket_fds(pid, &listening_inodes(pid, ports));
    if fds.is_empty() {
        return 0;
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    if pidfd < 0 {
        return 0;
    }
    // SAFETY: a descriptor pidfd_open just returned, owned here alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut widened = 0;
    for fd in fds {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_getfd duplicates QEMU's descriptor `fd` into this process (or -1).
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if copy < 0 {
            continue;
        }
        // SAFETY: a descriptor pidfd_getfd just returned, owned here alone.
        let copy = unsafe { OwnedFd::from_raw_fd(copy as i32) };
        // SAFETY: `copy` is a listening TCP socket; listen again only sets its backlog.
        if unsafe { libc::listen(copy.as_raw_fd(), BACKLOG) } == 0 {
            widened += 1;
        }
    }
    widened
}

/// In the background: waits for QEMU (`pid`) to listen on all of `ports` and widens
/// those backlogs; `verbose` says what it did.
pub fn widen_in_background(pid: u32, ports: Vec<u16>, verbose: bool) {
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < SEARCH {
            if listening_inodes(pid, &ports).len() >= ports.len() {
                let widened = widen(pid, &ports);
                if verbose {
                    eprintln!("wasmetal: host forwards: listen backlog {BACKLOG} on {widened} of {}", ports.len());
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if verbose {
            eprintln!("wasmetal: host forwards: QEMU's listening sockets not found; slirp's backlog of 1 stays");
        }
    });
}
