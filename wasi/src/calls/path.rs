//! `path_*`: opening, creating, removing, renaming and inspecting names relative to
//! a directory descriptor, through `fs::path` resolution (which refuses escapes).
//! Links and symlinks do not exist in the in-memory filesystem.

use alloc::vec::Vec;

use crate::abi::layout::FILESTAT_SIZE;
use crate::abi::{oflags, rights};
use crate::calls::fd::{new_times, write_filestat};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fd_table::{Descriptor, Kind};
use crate::fs::{Last, resolve};
use crate::guest_memory::GuestMemory;

/// The directory node of `fd` and a copy of the guest path.
fn dir_and_path(
    ctx: &WasiCtx,
    memory: &GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(u64, Vec<u8>), Errno> {
    let dir = ctx.dir_fd(fd)?;
    let path = memory.read_bytes(path, path_len)?;
    Ok((dir, path))
}

pub fn path_create_directory(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    let lookup = resolve(&ctx.fs, dir, &path)?;
    let name = lookup.name(Errno::Exist)?;
    let now = ctx.now();
    ctx.fs.create_dir(lookup.dir, name, now).map(|_| ())
}

pub fn path_filestat_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    _flags: u32,
    path: u32,
    path_len: u32,
    out: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    memory.check(out, FILESTAT_SIZE)?;
    let ino = resolve(&ctx.fs, dir, &path)?.existing(&ctx.fs)?;
    let stat = ctx.fs.stat(ino)?;
    write_filestat(memory, out, &stat, 1)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_filestat_set_times(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    _flags: u32,
    path: u32,
    path_len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    let ino = resolve(&ctx.fs, dir, &path)?.existing(&ctx.fs)?;
    let (atim, mtim) = new_times(ctx, atim, mtim, fst_flags)?;
    let now = ctx.now();
    ctx.fs.set_times(ino, atim, mtim, now)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_link(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    old_fd: u32,
    _old_flags: u32,
    _old_path: u32,
    _old_path_len: u32,
    new_fd: u32,
    _new_path: u32,
    _new_path_len: u32,
) -> Result<(), Errno> {
    ctx.dir_fd(old_fd)?;
    ctx.dir_fd(new_fd)?;
    Err(Errno::NotSup)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_open(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    _dirflags: u32,
    path: u32,
    path_len: u32,
    open_flags: u32,
    rights_base: u64,
    _rights_inheriting: u64,
    fd_flags: u32,
    opened: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    memory.check(opened, 4)?;
    let open_flags = u16::try_from(open_flags).ok().filter(|flags| flags & !oflags::ALL == 0).ok_or(Errno::Inval)?;
    let fd_flags = u16::try_from(fd_flags).map_err(|_| Errno::Inval)?;
    WasiCtx::check_fdflags(fd_flags)?;
    let create = open_flags & oflags::CREAT != 0;
    let want_dir = open_flags & oflags::DIRECTORY != 0;
    let truncate = open_flags & oflags::TRUNC != 0;

    let lookup = resolve(&ctx.fs, dir, &path)?;
    let now = ctx.now();
    let ino = match lookup.target(&ctx.fs)? {
        Some(_) if create && open_flags & oflags::EXCL != 0 => return Err(Errno::Exist),
        Some(_) => lookup.existing(&ctx.fs)?,
        None if !create => return Err(Errno::NoEnt),
        None if want_dir => return Err(Errno::Inval),
        None if lookup.trailing_slash => return Err(Errno::IsDir),
        None => {
            let name = lookup.name(Errno::Exist)?;
            ctx.fs.create_file(lookup.dir, name, now)?
        }
    };
    let descriptor = if ctx.fs.is_dir(ino) {
        if truncate || rights_base & rights::FD_WRITE != 0 {
            return Err(Errno::IsDir);
        }
        Descriptor {
            kind: Kind::Dir { ino, preopen: None },
            flags: fd_flags,
            rights_base: rights_base & rights::DIRECTORY,
            // Everything, whatever was asked: wasi-libc masks the rights of files it
            // opens through this directory with these, and they are not enforced.
            rights_inheriting: rights::DIRECTORY | rights::FILE,
        }
    } else {
        if want_dir {
            return Err(Errno::NotDir);
        }
        if truncate {
            ctx.fs.set_size(ino, 0, Some(now))?;
        }
        Descriptor {
            kind: Kind::File { ino, position: 0 },
            flags: fd_flags,
            rights_base: rights_base & rights::FILE,
            rights_inheriting: 0,
        }
    };
    let new_fd = ctx.open_descriptor(descriptor)?;
    memory.write_u32(opened, new_fd)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_readlink(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    memory.check(buf, buf_len)?;
    memory.check(bufused, 4)?;
    resolve(&ctx.fs, dir, &path)?.existing(&ctx.fs)?;
    // Nothing is a symbolic link.
    Err(Errno::Inval)
}

pub fn path_remove_directory(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    let lookup = resolve(&ctx.fs, dir, &path)?;
    let name = lookup.name(Errno::Inval)?;
    let now = ctx.now();
    ctx.fs.remove_dir(lookup.dir, name, now)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_rename(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    old_path: u32,
    old_path_len: u32,
    new_fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> Result<(), Errno> {
    let (old_dir, old_path) = dir_and_path(ctx, memory, fd, old_path, old_path_len)?;
    let (new_dir, new_path) = dir_and_path(ctx, memory, new_fd, new_path, new_path_len)?;
    let old = resolve(&ctx.fs, old_dir, &old_path)?;
    let new = resolve(&ctx.fs, new_dir, &new_path)?;
    let (Last::Name(old_name), Last::Name(new_name)) = (old.last, new.last) else { return Err(Errno::Inval) };
    let source = old.existing(&ctx.fs)?;
    if new.trailing_slash && !ctx.fs.is_dir(source) {
        return Err(Errno::NotDir);
    }
    let now = ctx.now();
    ctx.fs.rename(old.dir, old_name, new.dir, new_name, now)
}

pub fn path_symlink(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    _old_path: u32,
    _old_path_len: u32,
    fd: u32,
    _new_path: u32,
    _new_path_len: u32,
) -> Result<(), Errno> {
    ctx.dir_fd(fd)?;
    Err(Errno::NotSup)
}

pub fn path_unlink_file(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let (dir, path) = dir_and_path(ctx, memory, fd, path, path_len)?;
    let lookup = resolve(&ctx.fs, dir, &path)?;
    let name = lookup.name(Errno::IsDir)?;
    let target = lookup.target(&ctx.fs)?.ok_or(Errno::NoEnt)?;
    if lookup.trailing_slash {
        return Err(if ctx.fs.is_dir(target) { Errno::IsDir } else { Errno::NotDir });
    }
    let now = ctx.now();
    ctx.fs.unlink_file(lookup.dir, name, now)
}
