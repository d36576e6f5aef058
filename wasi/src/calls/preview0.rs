//! `wasi_unstable` (preview0): the same implementation as preview1, with preview0's
//! differences handled as Wasmtime does: `whence` numbered CUR, END, SET; `filestat`
//! with a 32-bit `nlink` (56 bytes); clock subscriptions with an 8-byte `identifier`
//! before the clock id (56 bytes); no `sock_accept`. Everything else is shared
//! (`calls::add_module` defines it under both names).

use wasmetal_runtime::{Caller, Error, Linker};

use crate::abi::whence;
use crate::calls::poll::SubscriptionLayout;
use crate::calls::{dispatch, fd, path, poll};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fs::Stat;
use crate::guest_memory::GuestMemory;

/// The preview0 import module.
pub const MODULE: &str = "wasi_unstable";

/// preview0's `filestat`: dev @0, ino @8, filetype u8 @16, nlink u32 @20, size @24,
/// atim @32, mtim @40, ctim @48.
const FILESTAT_SIZE: usize = 56;

/// preview0's subscriptions: 56 bytes, the clock's fields 8 bytes later.
const SUBSCRIPTIONS: SubscriptionLayout = SubscriptionLayout { size: 56, clock_shift: 8 };

fn write_filestat(memory: &mut GuestMemory<'_>, out: u32, stat: &Stat, device: u64) -> Result<(), Errno> {
    let mut bytes = [0u8; FILESTAT_SIZE];
    bytes[0..8].copy_from_slice(&device.to_le_bytes());
    bytes[8..16].copy_from_slice(&stat.ino.to_le_bytes());
    bytes[16] = stat.filetype;
    bytes[20..24].copy_from_slice(&u32::try_from(stat.nlink).unwrap_or(u32::MAX).to_le_bytes());
    bytes[24..32].copy_from_slice(&stat.size.to_le_bytes());
    bytes[32..40].copy_from_slice(&stat.atim.to_le_bytes());
    bytes[40..48].copy_from_slice(&stat.mtim.to_le_bytes());
    bytes[48..56].copy_from_slice(&stat.ctim.to_le_bytes());
    memory.write(out, &bytes)
}

/// preview0's `whence` (CUR 0, END 1, SET 2) as preview1's.
fn preview1_whence(preview0: u32) -> Result<u32, Errno> {
    Ok(u32::from(match preview0 {
        0 => whence::CUR,
        1 => whence::END,
        2 => whence::SET,
        _ => return Err(Errno::Inval),
    }))
}

pub fn fd_seek(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    whence: u32,
    new_offset: u32,
) -> Result<(), Errno> {
    fd::fd_seek(ctx, memory, fd, offset, preview1_whence(whence)?, new_offset)
}

pub fn fd_filestat_get(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, fd: u32, out: u32) -> Result<(), Errno> {
    memory.check(out, FILESTAT_SIZE as u32)?;
    let (stat, device) = fd::fd_stat(ctx, fd)?;
    write_filestat(memory, out, &stat, device)
}

pub fn path_filestat_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    out: u32,
) -> Result<(), Errno> {
    memory.check(out, FILESTAT_SIZE as u32)?;
    let (stat, device) = path::path_stat(ctx, memory, fd, flags, path, path_len)?;
    write_filestat(memory, out, &stat, device)
}

pub fn poll_oneoff(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    input: u32,
    output: u32,
    count: u32,
    nevents: u32,
) -> Result<(), Errno> {
    poll::poll_subscriptions(ctx, memory, input, output, count, nevents, SUBSCRIPTIONS)
}

/// Defines the preview0 functions that differ from preview1's.
pub(crate) fn add_differences<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut WasiCtx,
) -> Result<(), Error> {
    linker.func_wrap(
        MODULE,
        "fd_seek",
        move |mut caller: Caller<'_, T>, fd: u32, offset: u64, whence: u32, new_offset: u32| -> i32 {
            dispatch(&mut caller, get, |ctx, memory| fd_seek(ctx, memory, fd, offset, whence, new_offset))
        },
    )?;
    linker.func_wrap(MODULE, "fd_filestat_get", move |mut caller: Caller<'_, T>, fd: u32, out: u32| -> i32 {
        dispatch(&mut caller, get, |ctx, memory| fd_filestat_get(ctx, memory, fd, out))
    })?;
    linker.func_wrap(
        MODULE,
        "path_filestat_get",
        move |mut caller: Caller<'_, T>, fd: u32, flags: u32, path: u32, path_len: u32, out: u32| -> i32 {
            dispatch(&mut caller, get, |ctx, memory| path_filestat_get(ctx, memory, fd, flags, path, path_len, out))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "poll_oneoff",
        move |mut caller: Caller<'_, T>, input: u32, output: u32, count: u32, nevents: u32| -> i32 {
            dispatch(&mut caller, get, |ctx, memory| poll_oneoff(ctx, memory, input, output, count, nevents))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whence_is_renumbered() {
        assert_eq!(preview1_whence(0), Ok(u32::from(whence::CUR)));
        assert_eq!(preview1_whence(1), Ok(u32::from(whence::END)));
        assert_eq!(preview1_whence(2), Ok(u32::from(whence::SET)));
        assert_eq!(preview1_whence(3), Err(Errno::Inval));
    }
}
