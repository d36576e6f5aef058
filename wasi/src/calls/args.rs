//! `args_*` and `environ_*`: the program's arguments and environment, copied into
//! guest memory as NUL-terminated strings with a pointer array.

use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::guest_memory::GuestMemory;
use alloc::vec::Vec;

/// Number of strings and the bytes they take with their NULs.
fn sizes(strings: &[Vec<u8>]) -> Result<(u32, u32), Errno> {
    let count = u32::try_from(strings.len()).map_err(|_| Errno::TooBig)?;
    let bytes: u64 = strings.iter().map(|s| s.len() as u64 + 1).sum();
    Ok((count, u32::try_from(bytes).map_err(|_| Errno::TooBig)?))
}

fn write_sizes(memory: &mut GuestMemory<'_>, strings: &[Vec<u8>], count_ptr: u32, size_ptr: u32) -> Result<(), Errno> {
    let (count, size) = sizes(strings)?;
    memory.check(count_ptr, 4)?;
    memory.check(size_ptr, 4)?;
    memory.write_u32(count_ptr, count)?;
    memory.write_u32(size_ptr, size)
}

fn write_strings(memory: &mut GuestMemory<'_>, strings: &[Vec<u8>], pointers: u32, buffer: u32) -> Result<(), Errno> {
    let (count, size) = sizes(strings)?;
    memory.check(pointers, count.checked_mul(4).ok_or(Errno::Fault)?)?;
    memory.check(buffer, size)?;
    let mut cursor = buffer;
    for (index, string) in (0u32..).zip(strings) {
        memory.write_u32(pointers + index * 4, cursor)?;
        memory.write(cursor, string)?;
        let end = cursor + string.len() as u32;
        memory.write_u8(end, 0)?;
        cursor = end + 1;
    }
    Ok(())
}

pub fn args_sizes_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    argc: u32,
    argv_buf_size: u32,
) -> Result<(), Errno> {
    write_sizes(memory, &ctx.args, argc, argv_buf_size)
}

pub fn args_get(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, argv: u32, argv_buf: u32) -> Result<(), Errno> {
    write_strings(memory, &ctx.args, argv, argv_buf)
}

pub fn environ_sizes_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    count: u32,
    buf_size: u32,
) -> Result<(), Errno> {
    write_sizes(memory, &ctx.env, count, buf_size)
}

pub fn environ_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    environ: u32,
    environ_buf: u32,
) -> Result<(), Errno> {
    write_strings(memory, &ctx.env, environ, environ_buf)
}
