//! `sock_*`: there is no network; a valid descriptor gets `ENOTSUP`, an invalid one
//! `EBADF`.

use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::guest_memory::GuestMemory;

fn unsupported(ctx: &WasiCtx, fd: u32) -> Result<(), Errno> {
    ctx.fds.get(fd)?;
    Err(Errno::NotSup)
}

pub fn sock_accept(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    _flags: u32,
    _out: u32,
) -> Result<(), Errno> {
    unsupported(ctx, fd)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn sock_recv(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    _ri_data: u32,
    _ri_data_len: u32,
    _ri_flags: u32,
    _ro_datalen: u32,
    _ro_flags: u32,
) -> Result<(), Errno> {
    unsupported(ctx, fd)
}

pub fn sock_send(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    _si_data: u32,
    _si_data_len: u32,
    _si_flags: u32,
    _so_datalen: u32,
) -> Result<(), Errno> {
    unsupported(ctx, fd)
}

pub fn sock_shutdown(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32, _how: u32) -> Result<(), Errno> {
    unsupported(ctx, fd)
}
