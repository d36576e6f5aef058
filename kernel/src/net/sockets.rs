//! WASI's `Sockets` over the kernel's stack, with the kernel's waiting policy.
//!
//! An operation first tries the sockets as they are; only when it would block does it
//! poll the card (polling scans every socket, so it is not done on every call), and a
//! blocking call then waits with the task's `Waiter` (yield while other tasks can run,
//! else spin briefly, then sleep on the timer tick) until the stack has news or the
//! task's `--timeout` tick passes.

use wasmetal_devices::net::stack::{NetError, Received, Shutdown as StackShutdown, SocketId};
use wasmetal_devices::virtio::serial::Wait;
use wasmetal_wasi::{Errno, Readiness, Shutdown, SocketHandle, Sockets};

use super::{now_us, with_stack};
use crate::wasm::system::Waiter;

/// One task's view of the network.
pub struct KernelSockets {
    /// The tick at which the task's `--timeout` ends waits.
    deadline_tick: Option<u64>,
}

impl KernelSockets {
    pub fn new(deadline_tick: Option<u64>) -> Self {
        KernelSockets { deadline_tick }
    }

    /// Runs `attempt` until it is done (`Some`), polling the stack and waiting between
    /// tries while `blocking`; `EAGAIN` when it would block and must not.
    fn retry<T>(
        &mut self,
        blocking: bool,
        mut attempt: impl FnMut(&mut super::Stack) -> Result<Option<T>, NetError>,
    ) -> Result<T, Errno> {
        let mut waiter: Option<Waiter> = None;
        loop {
            let result = with_stack(|stack| match attempt(stack)? {
                Some(done) => Ok(Some(done)),
                None => {
                    stack.poll(now_us());
                    attempt(stack)
                }
            })
            .ok_or(Errno::NotSup)?;
            match result {
                Ok(Some(done)) => return Ok(done),
                Ok(None) if !blocking => return Err(Errno::Again),
                Ok(None) => {}
                Err(error) => return Err(errno(error)),
            }
            if waiter.get_or_insert_with(|| Waiter::new(self.deadline_tick)).wait() == Wait::Abort {
                return Err(Errno::Intr);
            }
        }
    }
}

fn errno(error: NetError) -> Errno {
    match error {
        NetError::NoSuchSocket => Errno::BadF,
        NetError::WrongKind => Errno::Inval,
        NetError::Reset => Errno::ConnReset,
        NetError::Shut => Errno::Pipe,
        NetError::BadPort(_) => Errno::AddrInUse,
    }
}

fn id(handle: SocketHandle) -> SocketId {
    SocketId(handle.0)
}

impl Sockets for KernelSockets {
    fn accept(&mut self, listener: SocketHandle, blocking: bool) -> Result<SocketHandle, Errno> {
        let stream = self.retry(blocking, |stack| stack.accept(id(listener)))?;
        Ok(SocketHandle(stream.0))
    }

    fn recv(&mut self, socket: SocketHandle, buf: &mut [u8], peek: bool, blocking: bool) -> Result<usize, Errno> {
        self.retry(blocking, |stack| {
            Ok(match stack.recv(id(socket), buf, peek)? {
                Received::Data(count) => Some(count),
                Received::End => Some(0),
                Received::WouldBlock => None,
            })
        })
    }

    fn send(&mut self, socket: SocketHandle, buf: &[u8], blocking: bool) -> Result<usize, Errno> {
        let sent = self.retry(blocking, |stack| {
            let count = stack.send(id(socket), buf)?;
            Ok((count > 0 || buf.is_empty()).then_some(count))
        })?;
        // Put the bytes on the wire now: the program may not call in again for a while.
        with_stack(|stack| stack.poll(now_us()));
        Ok(sent)
    }

    fn shutdown(&mut self, socket: SocketHandle, how: Shutdown) -> Result<(), Errno> {
        let how = match how {
            Shutdown::Read => StackShutdown::Read,
            Shutdown::Write => StackShutdown::Write,
            Shutdown::Both => StackShutdown::Both,
        };
        with_stack(|stack| {
            let result = stack.shutdown(id(socket), how);
            stack.poll(now_us());
            result
        })
        .ok_or(Errno::NotSup)?
        .map_err(|error| match error {
            NetError::WrongKind => Errno::NotConn,
            other => errno(other),
        })
    }

    fn close(&mut self, socket: SocketHandle) {
        with_stack(|stack| {
            let _ = stack.close(id(socket), now_us());
            stack.poll(now_us());
        });
    }

    fn readiness(&mut self, socket: SocketHandle) -> Option<Readiness> {
        let readiness = with_stack(|stack| stack.readiness(id(socket)).ok())??;
        Some(Readiness {
            readable: readiness.readable,
            writable: readiness.writable,
            hangup: readiness.hangup,
            bytes: readiness.bytes,
        })
    }

    fn wait(&mut self, until_ns: u64) {
        let mut waiter = Waiter::new(self.deadline_tick);
        loop {
            let changed = with_stack(|stack| stack.poll(now_us())).unwrap_or(true);
            if changed || crate::timer::monotonic_ns() >= until_ns || waiter.wait() == Wait::Abort {
                return;
            }
        }
    }
}
