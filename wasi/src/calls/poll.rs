//! `poll_oneoff`: waiting on clocks and descriptors.
//!
//! Files and the output console are always ready; stdin is ready when it is a buffer,
//! and when the system streams it, once data or its end has arrived; sockets as their
//! `Sockets::readiness` says (a listener is readable with a connection to accept). When
//! nothing is ready the call sleeps: in `Sockets::wait` when a socket is awaited (the
//! embedder wakes it on network activity), else through `System::sleep_until`; until the
//! earliest clock deadline, or in slices that re-check the awaited descriptors (and stop
//! when `System::interrupted` says the program's time is up). Relative timeouts and
//! absolute ones (`ABSTIME`, on any clock) are both supported.

use alloc::vec::Vec;

use crate::abi::layout::{EVENT_SIZE, SUBSCRIPTION_SIZE};
use crate::abi::{clockid, eventrwflags, eventtype, subclockflags};
use crate::calls::clock;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fd_table::Kind;
use crate::guest_memory::GuestMemory;

/// How long one sleep lasts while a descriptor is awaited (it is re-checked after).
const POLL_SLICE_NS: u64 = 1_000_000;

/// How long one wait lasts while only sockets are awaited (the network wakes it early).
const SOCKET_SLICE_NS: u64 = 10_000_000;

/// One `event` to write back.
struct Event {
    userdata: u64,
    error: Errno,
    kind: u8,
    nbytes: u64,
    /// `eventrwflags`.
    flags: u16,
}

/// The readiness of `fd` for reading (`FD_READ`) or writing (`FD_WRITE`).
fn fd_event(ctx: &mut WasiCtx, userdata: u64, fd: u32, kind: u8) -> Option<Event> {
    let ready = |nbytes: u64| Some(Event { userdata, error: Errno::Success, kind, nbytes, flags: 0 });
    let failed = |error: Errno| Some(Event { userdata, error, kind, nbytes: 0, flags: 0 });
    let Ok(descriptor) = ctx.fds.get(fd) else { return failed(Errno::BadF) };
    let reading = kind == eventtype::FD_READ;
    match (&descriptor.kind.clone(), reading) {
        (Kind::Stdin, true) => match ctx.system.stdin_ready() {
            Some(true) => ready(1),
            Some(false) => None,
            None => ready(ctx.stdin.len().saturating_sub(ctx.stdin_position) as u64),
        },
        (Kind::Stdout | Kind::Stderr, false) => ready(0),
        (Kind::File { mount, handle, position, .. }, true) => {
            let size = ctx.mount(*mount).and_then(|fs| fs.size(*handle)).unwrap_or(0);
            ready(size.saturating_sub(*position))
        }
        (Kind::File { .. }, false) => ready(0),
        (Kind::Socket { listener: true, .. }, false) => failed(Errno::BadF),
        (&Kind::Socket { handle, .. }, _) => {
            let Some(readiness) = ctx.sockets.as_mut().and_then(|sockets| sockets.readiness(handle)) else {
                return failed(Errno::BadF);
            };
            let flags = if readiness.hangup { eventrwflags::FD_READWRITE_HANGUP } else { 0 };
            let now = if reading { readiness.readable } else { readiness.writable };
            let nbytes = if reading { readiness.bytes } else { 0 };
            now.then_some(Event { userdata, error: Errno::Success, kind, nbytes, flags })
        }
        // Directories, and the console the wrong way round.
        _ => failed(Errno::BadF),
    }
}

/// A clock subscription's deadline on the monotonic clock.
fn deadline(ctx: &mut WasiCtx, id: u32, timeout: u64, flags: u16, now: u64) -> Result<u64, Errno> {
    let clock_now = clock::now(ctx, id)?;
    if flags & subclockflags::ABSTIME == 0 {
        return Ok(now.saturating_add(timeout));
    }
    Ok(match id {
        clockid::MONOTONIC => timeout,
        _ => now.saturating_add(timeout.saturating_sub(clock_now)),
    })
}

/// Where a clock subscription's fields sit: preview1's layout, or preview0's (which
/// has an 8-byte `identifier` first, so everything after moves by 8).
#[derive(Clone, Copy)]
pub(crate) struct SubscriptionLayout {
    pub size: u32,
    /// Offset added to preview1's clock field offsets.
    pub clock_shift: u32,
}

pub(crate) const PREVIEW1_SUBSCRIPTIONS: SubscriptionLayout =
    SubscriptionLayout { size: SUBSCRIPTION_SIZE, clock_shift: 0 };

pub fn poll_oneoff(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    input: u32,
    output: u32,
    count: u32,
    nevents: u32,
) -> Result<(), Errno> {
    poll_subscriptions(ctx, memory, input, output, count, nevents, PREVIEW1_SUBSCRIPTIONS)
}

/// `poll_oneoff` over subscriptions laid out as `layout` says.
#[allow(clippy::too_many_arguments, reason = "poll_oneoff's signature and the layout")]
pub(crate) fn poll_subscriptions(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    input: u32,
    output: u32,
    count: u32,
    nevents: u32,
    layout: SubscriptionLayout,
) -> Result<(), Errno> {
    if count == 0 {
        return Err(Errno::Inval);
    }
    memory.check(input, count.checked_mul(layout.size).ok_or(Errno::Fault)?)?;
    memory.check(output, count.checked_mul(EVENT_SIZE).ok_or(Errno::Fault)?)?;
    memory.check(nevents, 4)?;

    let now = ctx.system.monotonic_ns();
    if let Some(sockets) = ctx.sockets.as_mut() {
        // Bring the sockets' states up to date (a wait until a past time only polls).
        sockets.wait(0);
    }
    let mut events = Vec::new();
    let mut timers: Vec<(u64, u64)> = Vec::new();
    // Descriptors not ready yet (streamed stdin): polled again while waiting.
    let mut waiting: Vec<(u64, u32, u8)> = Vec::new();
    for index in 0..count {
        let sub = input + index * layout.size;
        let userdata = memory.read_u64(sub)?;
        let kind = memory.read_u8(sub + 8)?;
        match kind {
            eventtype::CLOCK => {
                let clock = sub + layout.clock_shift;
                let id = memory.read_u32(clock + 16)?;
                let timeout = memory.read_u64(clock + 24)?;
                let flags = memory.read_u16(clock + 40)?;
                match deadline(ctx, id, timeout, flags, now) {
                    Ok(deadline) => timers.push((deadline, userdata)),
                    Err(error) => events.push(Event { userdata, error, kind, nbytes: 0, flags: 0 }),
                }
            }
            eventtype::FD_READ | eventtype::FD_WRITE => {
                let fd = memory.read_u32(sub + 16)?;
                match fd_event(ctx, userdata, fd, kind) {
                    Some(event) => events.push(event),
                    None => waiting.push((userdata, fd, kind)),
                }
            }
            _ => return Err(Errno::Inval),
        }
    }

    let earliest = timers.iter().map(|&(deadline, _)| deadline).min();
    let mut fired_by = now;
    if events.is_empty() && waiting.is_empty() {
        if let Some(earliest) = earliest {
            if earliest > now {
                ctx.system.sleep_until(earliest);
            }
            fired_by = ctx.system.monotonic_ns().max(earliest);
        }
    } else if events.is_empty() {
        let mut on_sockets = false;
        let mut on_others = false;
        for &(_, fd, _) in &waiting {
            match ctx.fds.get(fd).map(|descriptor| &descriptor.kind) {
                Ok(Kind::Socket { .. }) => on_sockets = true,
                _ => on_others = true,
            }
        }
        // Wait for a descriptor or the earliest clock, in short sleeps that re-check.
        loop {
            let mut ready = Vec::new();
            for &(userdata, fd, kind) in &waiting {
                if let Some(event) = fd_event(ctx, userdata, fd, kind) {
                    ready.push(event);
                }
            }
            let now = ctx.system.monotonic_ns();
            fired_by = now;
            if !ready.is_empty() {
                events = ready;
                break;
            }
            if earliest.is_some_and(|earliest| earliest <= now) {
                break;
            }
            if ctx.system.interrupted() {
                // The program's time is up: report its subscriptions as fired so it
                // returns to wasm, where the pending interrupt trap lands.
                fired_by = u64::MAX;
                for &(userdata, _, kind) in &waiting {
                    events.push(Event { userdata, error: Errno::Intr, kind, nbytes: 0, flags: 0 });
                }
                break;
            }
            let slice = now.saturating_add(if on_others { POLL_SLICE_NS } else { SOCKET_SLICE_NS });
            let until = earliest.map_or(slice, |earliest| earliest.min(slice));
            match ctx.sockets.as_mut() {
                Some(sockets) if on_sockets => sockets.wait(until),
                _ => ctx.system.sleep_until(until),
            }
        }
    }
    for &(deadline, userdata) in &timers {
        if deadline <= fired_by {
            events.push(Event { userdata, error: Errno::Success, kind: eventtype::CLOCK, nbytes: 0, flags: 0 });
        }
    }

    for (index, event) in (0u32..).zip(&events) {
        let mut bytes = [0u8; EVENT_SIZE as usize];
        bytes[0..8].copy_from_slice(&event.userdata.to_le_bytes());
        bytes[8..10].copy_from_slice(&event.error.code().to_le_bytes());
        bytes[10] = event.kind;
        bytes[16..24].copy_from_slice(&event.nbytes.to_le_bytes());
        bytes[24..26].copy_from_slice(&event.flags.to_le_bytes());
        memory.write(output + index * EVENT_SIZE, &bytes)?;
    }
    memory.write_u32(nevents, events.len() as u32)
}
