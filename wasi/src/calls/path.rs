//! `path_*`: opening, creating, removing, renaming, linking and inspecting names
//! relative to a directory descriptor, through `fs::path` resolution (which refuses
//! escapes and expands symbolic links inside the directory only). Each call first
//! checks the directory descriptor's rights, as Wasmtime does (`ENOTCAPABLE`).

use alloc::vec::Vec;

use crate::abi::layout::FILESTAT_SIZE;
use crate::abi::{filetype, oflags, rights};
use crate::calls::fd::{new_times, write_filestat};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fd_table::{Descriptor, Kind};
use crate::fs::{Access, Ino, Last, MountId, Stat, resolve};
use crate::guest_memory::GuestMemory;

/// `lookupflags::SYMLINK_FOLLOW`.
const SYMLINK_FOLLOW: u32 = 1;

/// The directory of `fd` (which must have `rights`) and a copy of the guest path.
fn dir_and_path(
    ctx: &mut WasiCtx,
    memory: &GuestMemory<'_>,
    fd: u32,
    rights: u64,
    path: u32,
    path_len: u32,
) -> Result<(MountId, Ino, Vec<u8>), Errno> {
    ctx.settle();
    let (mount, dir) = ctx.dir_fd(fd, rights)?;
    let path = memory.read_bytes(path, path_len)?;
    Ok((mount, dir, path))
}

pub fn path_create_directory(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_CREATE_DIRECTORY, path, path_len)?;
    let now = ctx.now();
    let fs = ctx.mount(mount)?;
    let lookup = resolve(fs, dir, &path, false)?;
    let name = lookup.name(Errno::Exist)?;
    fs.create_dir(lookup.dir, name, now).map(|_| ())
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
    memory.check(out, FILESTAT_SIZE)?;
    let (stat, device) = path_stat(ctx, memory, fd, flags, path, path_len)?;
    write_filestat(memory, out, &stat, device)
}

/// What `path_filestat_get` reports, and the device number.
pub(crate) fn path_stat(
    ctx: &mut WasiCtx,
    memory: &GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
) -> Result<(Stat, u64), Errno> {
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_FILESTAT_GET, path, path_len)?;
    let fs = ctx.mount(mount)?;
    let ino = resolve(fs, dir, &path, flags & SYMLINK_FOLLOW != 0)?.existing(fs)?;
    Ok((fs.stat(ino)?, fs.device()))
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_filestat_set_times(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> Result<(), Errno> {
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_FILESTAT_SET_TIMES, path, path_len)?;
    let (atim, mtim) = new_times(ctx, atim, mtim, fst_flags)?;
    let now = ctx.now();
    let fs = ctx.mount(mount)?;
    let ino = resolve(fs, dir, &path, flags & SYMLINK_FOLLOW != 0)?.existing(fs)?;
    fs.set_times(ino, atim, mtim, now)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_link(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_path_len: u32,
    new_fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> Result<(), Errno> {
    let (old_mount, old_dir, old_path) =
        dir_and_path(ctx, memory, old_fd, rights::PATH_LINK_SOURCE, old_path, old_path_len)?;
    let (new_mount, new_dir, new_path) =
        dir_and_path(ctx, memory, new_fd, rights::PATH_LINK_TARGET, new_path, new_path_len)?;
    if old_mount != new_mount {
        return Err(Errno::XDev);
    }
    let now = ctx.now();
    let fs = ctx.mount(old_mount)?;
    let source = resolve(fs, old_dir, &old_path, old_flags & SYMLINK_FOLLOW != 0)?;
    if source.trailing_slash {
        return Err(Errno::NoEnt);
    }
    let ino = source.existing(fs)?;
    if fs.filetype(ino)? == filetype::DIRECTORY {
        return Err(Errno::Perm);
    }
    let target = resolve(fs, new_dir, &new_path, false)?;
    let name = target.name(Errno::Exist)?;
    if target.trailing_slash || fs.lookup(target.dir, name)?.is_some() {
        return Err(Errno::Exist);
    }
    fs.link(ino, target.dir, name, now)
}

#[allow(clippy::too_many_arguments, reason = "the preview1 signature")]
pub fn path_open(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    dirflags: u32,
    path: u32,
    path_len: u32,
    open_flags: u32,
    rights_base: u64,
    _rights_inheriting: u64,
    fd_flags: u32,
    opened: u32,
) -> Result<(), Errno> {
    let open_flags = u16::try_from(open_flags).ok().filter(|flags| flags & !oflags::ALL == 0).ok_or(Errno::Inval)?;
    let create = open_flags & oflags::CREAT != 0;
    let want_dir = open_flags & oflags::DIRECTORY != 0;
    let truncate = open_flags & oflags::TRUNC != 0;
    let mut needed = rights::PATH_OPEN;
    if create {
        needed |= rights::PATH_CREATE_FILE;
    }
    if truncate {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, needed, path, path_len)?;
    let inheritable = ctx.fds.get(fd)?.rights_inheriting;
    memory.check(opened, 4)?;
    let fd_flags = u16::try_from(fd_flags).map_err(|_| Errno::Inval)?;
    WasiCtx::check_fdflags(fd_flags)?;
    let now = ctx.now();
    let fs = ctx.mount(mount)?;
    let lookup = resolve(fs, dir, &path, dirflags & SYMLINK_FOLLOW != 0)?;
    let exclusive = create && open_flags & oflags::EXCL != 0;
    // CREAT|EXCL of a plain name: the backend's create fails with EEXIST if the name
    // exists (as anything, a symlink too), so there is no need to look first.
    let target = match &lookup.last {
        Last::Name(_) if exclusive && !lookup.trailing_slash && !want_dir => None,
        _ => lookup.target(fs)?,
    };
    let ino = match target {
        Some(_) if exclusive => return Err(Errno::Exist),
        Some(_) => lookup.existing(fs)?,
        None if !create => return Err(Errno::NoEnt),
        None if want_dir => return Err(Errno::Inval),
        None if lookup.trailing_slash => return Err(Errno::IsDir),
        None => {
            let name = lookup.name(Errno::Exist)?;
            fs.create_file(lookup.dir, name, now)?
        }
    };
    let rights_base = rights_base & inheritable;
    let descriptor = match fs.filetype(ino)? {
        filetype::DIRECTORY => {
            if truncate || rights_base & rights::FD_WRITE != 0 {
                return Err(Errno::IsDir);
            }
            Descriptor {
                kind: Kind::Dir { mount, ino, preopen: None },
                flags: fd_flags,
                // What the parent passes on, whatever was asked (as Wasmtime: a
                // directory's rights follow from the preopen's, not the request).
                rights_base: inheritable & rights::DIRECTORY,
                // wasi-libc masks the rights of what it opens through this directory
                // with these: what the parent could pass on.
                rights_inheriting: inheritable & (rights::DIRECTORY | rights::FILE),
            }
        }
        // Not followed (no SYMLINK_FOLLOW): opening the link itself, as O_NOFOLLOW.
        filetype::SYMBOLIC_LINK => return Err(if want_dir { Errno::NotDir } else { Errno::Loop }),
        _ => {
            if want_dir {
                return Err(Errno::NotDir);
            }
            let base = rights_base & rights::FILE;
            let access = Access {
                read: base & (rights::FD_READ | rights::FD_READDIR) != 0,
                write: base & (rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE) != 0,
            };
            if truncate {
                fs.set_size(ino, 0, now)?;
            }
            let handle = fs.open(ino, access)?;
            Descriptor {
                kind: Kind::File { mount, ino, handle, position: 0 },
                flags: fd_flags,
                rights_base: base,
                rights_inheriting: 0,
            }
        }
    };
    let new_fd = match ctx.open_descriptor(descriptor.clone()) {
        Ok(new_fd) => new_fd,
        Err(error) => {
            if let Kind::File { handle, .. } = descriptor.kind {
                ctx.mount(mount)?.close(handle);
            }
            return Err(error);
        }
    };
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
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_READLINK, path, path_len)?;
    memory.check(buf, buf_len)?;
    memory.check(bufused, 4)?;
    let fs = ctx.mount(mount)?;
    let ino = resolve(fs, dir, &path, false)?.existing(fs)?;
    let target = fs.readlink(ino)?;
    // Like readlink(2): cut off at the buffer's end.
    let count = target.len().min(buf_len as usize);
    memory.write(buf, &target[..count])?;
    memory.write_u32(bufused, count as u32)
}

pub fn path_remove_directory(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_REMOVE_DIRECTORY, path, path_len)?;
    let now = ctx.now();
    let fs = ctx.mount(mount)?;
    let lookup = resolve(fs, dir, &path, false)?;
    let name = lookup.name(Errno::Inval)?;
    let target = lookup.target(fs)?.ok_or(Errno::NoEnt)?;
    if fs.filetype(target)? != filetype::DIRECTORY {
        return Err(Errno::NotDir);
    }
    fs.remove_dir(lookup.dir, name, now)
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
    let (old_mount, old_dir, old_path) =
        dir_and_path(ctx, memory, fd, rights::PATH_RENAME_SOURCE, old_path, old_path_len)?;
    let (new_mount, new_dir, new_path) =
        dir_and_path(ctx, memory, new_fd, rights::PATH_RENAME_TARGET, new_path, new_path_len)?;
    if old_mount != new_mount {
        return Err(Errno::XDev);
    }
    let now = ctx.now();
    let fs = ctx.mount(old_mount)?;
    let old = resolve(fs, old_dir, &old_path, false)?;
    let new = resolve(fs, new_dir, &new_path, false)?;
    let (Last::Name(old_name), Last::Name(new_name)) = (&old.last, &new.last) else { return Err(Errno::Inval) };
    let source = old.target(fs)?.ok_or(Errno::NoEnt)?;
    let source_is_dir = fs.filetype(source)? == filetype::DIRECTORY;
    if (old.trailing_slash || new.trailing_slash) && !source_is_dir {
        return Err(Errno::NotDir);
    }
    fs.rename(old.dir, old_name, new.dir, new_name, now)
}

pub fn path_symlink(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    old_path: u32,
    old_path_len: u32,
    fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> Result<(), Errno> {
    let target = memory.read_bytes(old_path, old_path_len)?;
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_SYMLINK, new_path, new_path_len)?;
    if target.contains(&0) {
        return Err(Errno::IlSeq);
    }
    let now = ctx.now();
    let fs = ctx.mount(mount)?;
    let lookup = resolve(fs, dir, &path, false)?;
    let name = lookup.name(Errno::Exist)?;
    if fs.lookup(lookup.dir, name)?.is_some() {
        return Err(Errno::Exist);
    }
    if lookup.trailing_slash {
        return Err(Errno::NoEnt);
    }
    fs.symlink(lookup.dir, name, &target, now)
}

pub fn path_unlink_file(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let (mount, dir, path) = dir_and_path(ctx, memory, fd, rights::PATH_UNLINK_FILE, path, path_len)?;
    let now = ctx.now();
    let fs = ctx.mount(mount)?;
    let lookup = resolve(fs, dir, &path, false)?;
    let name = lookup.name(Errno::IsDir)?;
    let target = lookup.target(fs)?.ok_or(Errno::NoEnt)?;
    let is_dir = fs.filetype(target)? == filetype::DIRECTORY;
    if lookup.trailing_slash {
        return Err(if is_dir { Errno::IsDir } else { Errno::NotDir });
    }
    if is_dir {
        return Err(Errno::IsDir);
    }
    fs.unlink_file(lookup.dir, name, now)
}
