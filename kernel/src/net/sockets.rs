//! WASI's `Sockets` over the kernel's stack, with the kernel's waiting policy.
//!
//! An operation first tries the sockets as they are; only when it would block does it
//! poll the card (polling scans every socket, so it is not done on every call; a
//! non-blocking one only when a frame waits), a send only flushes what it queued, and a
//! blocking call then waits for news: while no other task could run it first spins up
//! to [`SPIN_NS`] looking at the card's receive ring (memory it shares with the card,
//! no exit), then arms the card's interrupt and sleeps (`sched::device_wait`: other
//! tasks run, or the CPU halts) until the card interrupts, the stack's next timer
//! (retransmits, delayed ACKs) is due, at most [`MAX_WAIT_NS`] passed, or the task's
//! `--timeout` tick. Without a routed interrupt the same sleeps end on their time:
//! polling on timer ticks.
//!
//! Why spin first: under PVM an interrupt goes through the CPL0 monitor, which the
//! hypervisor emulates, and a halted vCPU is a host thread that sleeps and must be
//! scheduled again; both cost far more than a frame takes to come on a busy link.

use wasmetal_devices::net::stack::{NetError, Received, Shutdown as StackShutdown, SocketId};
use wasmetal_devices::virtio::serial::Wait;
use wasmetal_wasi::{Errno, Readiness, Shutdown, SocketHandle, Sockets};

use super::{now_us, with_stack};
use crate::sched::device_wait::{self, EventMark};

/// Longest a wait goes without polling the stack (what bounds a wake-up's latency when
/// the card's line is not routed, and a missed one's when it is).
pub const MAX_WAIT_NS: u64 = 10_000_000;

/// How long a wait spins on the receive ring before it sleeps on the interrupt.
pub const SPIN_NS: u64 = 2_000_000;

/// One task's view of the network.
pub struct KernelSockets {
    /// The tick at which the task's `--timeout` ends waits.
    deadline_tick: Option<u64>,
}

impl KernelSockets {
    pub fn new(deadline_tick: Option<u64>) -> Self {
        KernelSockets { deadline_tick }
    }

    /// Waits for news after `mark` (a frame, an interrupt), the stack's next timer or
    /// `until_ns`, whichever is first; `Abort` once the task's `--timeout` passed.
    fn wait_for_news(&self, mark: EventMark, until_ns: u64) -> Wait {
        if self.deadline_tick.is_some_and(|deadline| crate::timer::ticks() >= deadline) {
            return Wait::Abort;
        }
        let now = crate::timer::monotonic_ns();
        let timer_ns = with_stack(|stack| stack.poll_delay_us(now / 1000)).flatten().map(|us| us * 1000);
        let until = until_ns.min(now + timer_ns.unwrap_or(MAX_WAIT_NS).min(MAX_WAIT_NS));
        if crate::sched::alone() {
            let spin_until = until.min(now + SPIN_NS);
            while crate::timer::monotonic_ns() < spin_until {
                if super::frame_waiting() || device_wait::moved(mark) {
                    return Wait::Continue;
                }
                core::hint::spin_loop();
            }
        }
        if !super::arm_interrupt() {
            device_wait::wait_for_device(mark, until);
        }
        super::disarm_interrupt();
        Wait::Continue
    }

    /// Runs `attempt` until it is done (`Some`), polling the stack and waiting between
    /// tries while `blocking`; `EAGAIN` when it would block and must not.
    fn retry<T>(
        &mut self,
        blocking: bool,
        mut attempt: impl FnMut(&mut super::Stack) -> Result<Option<T>, NetError>,
    ) -> Result<T, Errno> {
        loop {
            // Read before looking, so an interrupt from here on ends the wait below.
            let mark = device_wait::events();
            let result = with_stack(|stack| match attempt(stack)? {
                Some(done) => Ok(Some(done)),
                // A non-blocking call (an event loop's) polls only when a frame came:
                // the loop's next poll_oneoff polls anyway.
                None if !blocking && !stack.frame_waiting() => Ok(None),
                None => {
                    super::poll(stack);
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
            if self.wait_for_news(mark, u64::MAX) == Wait::Abort {
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
        with_stack(|stack| stack.flush(now_us()));
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
            super::poll(stack);
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
            super::poll(stack);
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
        loop {
            let mark = device_wait::events();
            let changed = with_stack(super::poll).unwrap_or(true);
            if changed || crate::timer::monotonic_ns() >= until_ns || self.wait_for_news(mark, until_ns) == Wait::Abort
            {
                return;
            }
        }
    }
}
