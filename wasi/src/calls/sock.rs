//! `sock_*`, and reads and writes on socket descriptors (`fd_read`/`fd_write` come
//! here too), over the embedder's [`Sockets`](crate::sockets::Sockets), as Wasmtime
//! implements them: `sock_accept` honours `NONBLOCK` in its flags and the listener's,
//! `sock_recv` takes `RECV_PEEK` and `RECV_WAITALL`, `sock_shutdown` on a descriptor
//! that is no socket is `ENOTSOCK`.

use core::ops::Range;

use crate::abi::{fdflags, riflags, sdflags};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fd_table::Descriptor;
use crate::guest_memory::GuestMemory;
use crate::sockets::{Shutdown, SocketHandle};

/// Reads from `socket` into the guest buffers: waits (when blocking) for the first
/// bytes, then takes what has arrived; with `wait_all`, waits until every buffer is
/// full or the stream ends.
pub(crate) fn read_socket(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    socket: SocketHandle,
    buffers: &[Range<usize>],
    peek: bool,
    blocking: bool,
    wait_all: bool,
) -> Result<u64, Errno> {
    let network = ctx.network()?;
    let mut total = 0u64;
    for buffer in buffers.iter().filter(|buffer| !buffer.is_empty()) {
        let mut at = buffer.start;
        while at < buffer.end {
            let block = blocking && (total == 0 || wait_all);
            // A peek reads the queue from its start: only the first buffer can take it.
            let result = network.recv(socket, memory.at_mut(at..buffer.end), peek, block);
            match result {
                Ok(0) => return Ok(total),
                Ok(count) => {
                    total += count as u64;
                    at += count;
                    if peek {
                        return Ok(total);
                    }
                    if !wait_all && at < buffer.end {
                        return Ok(total);
                    }
                }
                Err(_) if total > 0 => return Ok(total),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(total)
}

/// Writes the guest buffers to `socket`: all of them when blocking, else what fits
/// (`EAGAIN` if nothing does).
pub(crate) fn write_socket(
    ctx: &mut WasiCtx,
    memory: &GuestMemory<'_>,
    socket: SocketHandle,
    buffers: &[Range<usize>],
    blocking: bool,
) -> Result<u64, Errno> {
    let network = ctx.network()?;
    let mut total = 0u64;
    for buffer in buffers.iter().filter(|buffer| !buffer.is_empty()) {
        let mut at = buffer.start;
        while at < buffer.end {
            match network.send(socket, memory.at(at..buffer.end), blocking) {
                Ok(0) => return if total > 0 { Ok(total) } else { Err(Errno::Again) },
                Ok(count) => {
                    total += count as u64;
                    at += count;
                    if !blocking && at < buffer.end {
                        return Ok(total);
                    }
                }
                Err(_) if total > 0 => return Ok(total),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(total)
}

pub fn sock_accept(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    out: u32,
) -> Result<(), Errno> {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    let (listener, is_listener, nonblocking) = ctx.socket_fd(fd)?;
    if flags & !fdflags::NONBLOCK != 0 || !is_listener {
        return Err(Errno::Inval);
    }
    memory.check(out, 4)?;
    let connection = ctx.network()?.accept(listener, !nonblocking)?;
    match ctx.fds.insert(Descriptor::socket(connection, false, flags)) {
        Ok(new_fd) => memory.write_u32(out, new_fd),
        Err(error) => {
            ctx.network()?.close(connection);
            Err(error)
        }
    }
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn sock_recv(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    ri_data: u32,
    ri_data_len: u32,
    ri_flags: u32,
    ro_datalen: u32,
    ro_flags: u32,
) -> Result<(), Errno> {
    let flags = u16::try_from(ri_flags).map_err(|_| Errno::Inval)?;
    let (socket, listener, nonblocking) = ctx.socket_fd(fd)?;
    if flags & !riflags::ALL != 0 {
        return Err(Errno::Inval);
    }
    if listener {
        return Err(Errno::NotConn);
    }
    memory.check(ro_datalen, 4)?;
    memory.check(ro_flags, 2)?;
    let buffers = memory.iovecs(ri_data, ri_data_len)?;
    let peek = flags & riflags::RECV_PEEK != 0;
    let wait_all = flags & riflags::RECV_WAITALL != 0;
    let total = read_socket(ctx, memory, socket, &buffers, peek, !nonblocking, wait_all)?;
    memory.write_u32(ro_datalen, u32::try_from(total).map_err(|_| Errno::Overflow)?)?;
    // No `RECV_DATA_TRUNCATED`: a stream never truncates.
    memory.write_u16(ro_flags, 0)
}

pub fn sock_send(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    si_data: u32,
    si_data_len: u32,
    _si_flags: u32,
    so_datalen: u32,
) -> Result<(), Errno> {
    let (socket, listener, nonblocking) = ctx.socket_fd(fd)?;
    if listener {
        return Err(Errno::NotConn);
    }
    memory.check(so_datalen, 4)?;
    let buffers = memory.iovecs(si_data, si_data_len)?;
    let total = write_socket(ctx, memory, socket, &buffers, !nonblocking)?;
    memory.write_u32(so_datalen, u32::try_from(total).map_err(|_| Errno::Overflow)?)
}

pub fn sock_shutdown(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32, how: u32) -> Result<(), Errno> {
    let (socket, listener, _) = ctx.socket_fd(fd)?;
    let how = match u8::try_from(how).map_err(|_| Errno::Inval)? {
        sdflags::RD => Shutdown::Read,
        sdflags::WR => Shutdown::Write,
        both if both == sdflags::RD | sdflags::WR => Shutdown::Both,
        _ => return Err(Errno::Inval),
    };
    if listener {
        return Err(Errno::NotConn);
    }
    ctx.network()?.shutdown(socket, how)
}
