//! The `Sockets` trait: the TCP network an embedder gives WASI programs.
//!
//! The kernel implements it over its smoltcp stack, a hosted embedder could over real
//! sockets. WASI code only sees handles: preopened listeners (`--tcplisten`) and the
//! connections `accept` returns. Blocking is the embedder's policy (it may run other
//! work or halt); a call that is cut short (the program's time is up) fails with EINTR.

use crate::errno::Errno;

/// The embedder's handle of a listener or connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketHandle(pub u32);

/// Which directions `sock_shutdown` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// Whether a socket's operations would complete now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A read (an accept, for a listener) would not block.
    pub readable: bool,
    /// A write would not block.
    pub writable: bool,
    /// The peer is done sending (`event_rwflags::FD_READWRITE_HANGUP`).
    pub hangup: bool,
    /// Bytes waiting to be read (connections waiting, for a listener).
    pub bytes: u64,
}

/// The network, as WASI uses it. Errors are WASI's: `EAGAIN` when a non-blocking call
/// would block, `ECONNRESET`, `EPIPE` after a shutdown, `EINTR` when a wait is cut
/// short, `ENOTCONN` or `EINVAL` for the wrong kind of socket.
pub trait Sockets: Send {
    /// A connection waiting on `listener` (waits for one when `blocking`).
    fn accept(&mut self, listener: SocketHandle, blocking: bool) -> Result<SocketHandle, Errno>;

    /// Reads into `buf`; `Ok(0)` is the end of the stream. `peek` leaves the bytes queued.
    fn recv(&mut self, socket: SocketHandle, buf: &mut [u8], peek: bool, blocking: bool) -> Result<usize, Errno>;

    /// Writes from `buf`, returning how many bytes were taken (waits for room, but not for
    /// all of it, when `blocking`).
    fn send(&mut self, socket: SocketHandle, buf: &[u8], blocking: bool) -> Result<usize, Errno>;

    /// Shuts down one or both directions.
    fn shutdown(&mut self, socket: SocketHandle, how: Shutdown) -> Result<(), Errno>;

    /// Closes the socket (the handle is dead afterwards).
    fn close(&mut self, socket: SocketHandle);

    /// Whether operations on `socket` would complete now (`None`: no such socket).
    fn readiness(&mut self, socket: SocketHandle) -> Option<Readiness>;

    /// Brings the sockets' states up to date, then waits until some socket may have
    /// changed or the monotonic clock reaches `until_ns`, whichever is first
    /// (`poll_oneoff`; a time already past only updates).
    fn wait(&mut self, until_ns: u64);
}
