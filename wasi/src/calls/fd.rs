//! `fd_*`: reading, writing, seeking and inspecting open descriptors (stdio, files,
//! directories), preopen discovery and directory listing.

use alloc::vec::Vec;
use core::ops::Range;

use crate::abi::layout::{DIRENT_SIZE, FDSTAT_SIZE, FILESTAT_SIZE, PRESTAT_SIZE};
use crate::abi::{ADVICE_MAX, PREOPENTYPE_DIR, filetype, fstflags, rights, whence};
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::fd_table::{Descriptor, Kind};
use crate::fs::{Handle, Ino, MountId, Stat};
use crate::guest_memory::GuestMemory;
use crate::sockets::SocketHandle;
use crate::system::ConsoleError;

/// What a read or write goes to.
enum Target {
    Stdin,
    Stdout,
    Stderr,
    /// A regular file, with the descriptor's position.
    File(OpenFile),
    Dir,
    /// A socket: its handle, whether it listens, whether it is non-blocking.
    Socket(SocketHandle, bool, bool),
}

/// An open regular file: where it lives, its backend handle, the descriptor's position.
#[derive(Clone, Copy)]
struct OpenFile {
    mount: MountId,
    ino: Ino,
    handle: Handle,
    position: u64,
}

fn target(descriptor: &Descriptor) -> Target {
    match descriptor.kind {
        Kind::Stdin => Target::Stdin,
        Kind::Stdout => Target::Stdout,
        Kind::Stderr => Target::Stderr,
        Kind::File { mount, ino, handle, position } => Target::File(OpenFile { mount, ino, handle, position }),
        Kind::Dir { .. } => Target::Dir,
        Kind::Socket { handle, listener } => Target::Socket(handle, listener, descriptor.nonblocking()),
    }
}

/// A regular file, for calls that need one: `ESPIPE` on stdio, `EISDIR` on
/// directories.
fn file_of(descriptor: &Descriptor) -> Result<OpenFile, Errno> {
    match target(descriptor) {
        Target::File(file) => Ok(file),
        Target::Dir => Err(Errno::IsDir),
        _ => Err(Errno::SPipe),
    }
}

fn set_position(ctx: &mut WasiCtx, fd: u32, new_position: u64) -> Result<(), Errno> {
    if let Kind::File { position, .. } = &mut ctx.fds.get_mut(fd)?.kind {
        *position = new_position;
    }
    Ok(())
}

/// Reads `file` from `offset` into the guest buffers (straight into guest memory, in
/// pieces as the backend moves them); returns the bytes read.
fn read_file(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    file: OpenFile,
    offset: u64,
    buffers: &[Range<usize>],
) -> Result<u64, Errno> {
    let fs = ctx.mount(file.mount)?;
    let mut total = 0u64;
    for buffer in buffers {
        let count = match fs.read(file.handle, offset.saturating_add(total), memory.at_mut(buffer.clone())) {
            Ok(count) => count,
            Err(_) if total > 0 => break,
            Err(error) => return Err(error),
        };
        total += count as u64;
        if count < buffer.len() {
            break;
        }
    }
    Ok(total)
}

/// Writes the guest buffers to `file` at `offset`; returns the bytes written.
fn write_file(
    ctx: &mut WasiCtx,
    memory: &GuestMemory<'_>,
    file: OpenFile,
    offset: u64,
    buffers: &[Range<usize>],
) -> Result<u64, Errno> {
    let now = ctx.now();
    let fs = ctx.mount(file.mount)?;
    let mut total = 0u64;
    for buffer in buffers {
        let at = offset.checked_add(total).ok_or(Errno::FBig)?;
        match fs.write(file.handle, at, memory.at(buffer.clone()), now) {
            Ok(count) => {
                total += count as u64;
                if count < buffer.len() {
                    break;
                }
            }
            // A short write reports what was written; only a write of nothing fails.
            Err(_) if total > 0 => break,
            Err(error) => return Err(error),
        }
    }
    Ok(total)
}

fn write_console(
    ctx: &mut WasiCtx,
    memory: &GuestMemory<'_>,
    buffers: &[Range<usize>],
    stderr: bool,
) -> Result<u64, Errno> {
    let mut emit = |bytes: &[u8]| {
        if stderr { ctx.system.write_stderr(bytes) } else { ctx.system.write_stdout(bytes) }
    };
    let nonempty: Vec<&Range<usize>> = buffers.iter().filter(|buffer| !buffer.is_empty()).collect();
    let written = match nonempty.as_slice() {
        [] => Ok(()),
        [only] => emit(memory.at((*only).clone())),
        many => {
            let mut joined = Vec::new();
            for buffer in many {
                joined.extend_from_slice(memory.at((*buffer).clone()));
            }
            emit(&joined)
        }
    };
    match written {
        Ok(()) => Ok(nonempty.iter().map(|buffer| buffer.len() as u64).sum()),
        Err(ConsoleError::Closed) => Err(Errno::Pipe),
        Err(ConsoleError::Interrupted) => Err(Errno::Intr),
    }
}

/// Reads stdin into the guest buffers: from the system's stream when it has one (one
/// wait, then what has arrived), else from the builder's bytes.
fn read_stdin(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, buffers: &[Range<usize>]) -> Result<u64, Errno> {
    let Some(first) = buffers.iter().find(|buffer| !buffer.is_empty()) else { return Ok(0) };
    if let Some(result) = ctx.system.read_stdin(memory.at_mut(first.clone())) {
        return match result {
            Ok(count) => Ok(count as u64),
            Err(ConsoleError::Closed) => Ok(0),
            Err(ConsoleError::Interrupted) => Err(Errno::Intr),
        };
    }
    let mut total = 0usize;
    for buffer in buffers {
        let available = &ctx.stdin[ctx.stdin_position.min(ctx.stdin.len())..];
        let count = available.len().min(buffer.len());
        memory.at_mut(buffer.start..buffer.start + count).copy_from_slice(&available[..count]);
        ctx.stdin_position += count;
        total += count;
    }
    Ok(total as u64)
}

fn write_size(memory: &mut GuestMemory<'_>, ptr: u32, value: u64) -> Result<(), Errno> {
    memory.write_u32(ptr, u32::try_from(value).map_err(|_| Errno::Overflow)?)
}

pub fn fd_read(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nread: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let target = target(descriptor);
    let readable = descriptor.readable();
    memory.check(nread, 4)?;
    let buffers = memory.iovecs(iovs, iovs_len)?;
    let total = match target {
        Target::Stdin => read_stdin(ctx, memory, &buffers)?,
        Target::File(file) => {
            if !readable {
                return Err(Errno::BadF);
            }
            let total = read_file(ctx, memory, file, file.position, &buffers)?;
            set_position(ctx, fd, file.position + total)?;
            total
        }
        Target::Dir => return Err(Errno::IsDir),
        Target::Socket(_, true, _) => return Err(Errno::NotConn),
        Target::Socket(socket, false, nonblocking) => {
            super::sock::read_socket(ctx, memory, socket, &buffers, false, !nonblocking, false)?
        }
        Target::Stdout | Target::Stderr => return Err(Errno::BadF),
    };
    write_size(memory, nread, total)
}

pub fn fd_write(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nwritten: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let target = target(descriptor);
    let (writable, append) = (descriptor.writable(), descriptor.append());
    memory.check(nwritten, 4)?;
    let buffers = memory.iovecs(iovs, iovs_len)?;
    let total = match target {
        Target::Stdout => write_console(ctx, memory, &buffers, false)?,
        Target::Stderr => write_console(ctx, memory, &buffers, true)?,
        Target::File(file) => {
            if !writable {
                return Err(Errno::BadF);
            }
            let start = if append { ctx.mount(file.mount)?.size(file.handle)? } else { file.position };
            let total = write_file(ctx, memory, file, start, &buffers)?;
            set_position(ctx, fd, start + total)?;
            total
        }
        Target::Socket(_, true, _) => return Err(Errno::NotConn),
        Target::Socket(socket, false, nonblocking) => {
            super::sock::write_socket(ctx, memory, socket, &buffers, !nonblocking)?
        }
        Target::Stdin | Target::Dir => return Err(Errno::BadF),
    };
    write_size(memory, nwritten, total)
}

pub fn fd_pread(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nread: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let file = file_of(descriptor)?;
    if !descriptor.readable() {
        return Err(Errno::BadF);
    }
    memory.check(nread, 4)?;
    let buffers = memory.iovecs(iovs, iovs_len)?;
    let total = read_file(ctx, memory, file, offset, &buffers)?;
    write_size(memory, nread, total)
}

pub fn fd_pwrite(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nwritten: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let file = file_of(descriptor)?;
    if !descriptor.writable() {
        return Err(Errno::BadF);
    }
    memory.check(nwritten, 4)?;
    let buffers = memory.iovecs(iovs, iovs_len)?;
    let total = write_file(ctx, memory, file, offset, &buffers)?;
    write_size(memory, nwritten, total)
}

pub fn fd_seek(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    whence: u32,
    new_offset: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let file = match file_of(descriptor) {
        Err(Errno::IsDir) => return Err(Errno::BadF),
        other => other?,
    };
    memory.check(new_offset, 8)?;
    let offset = offset as i64;
    let base = match u8::try_from(whence).map_err(|_| Errno::Inval)? {
        whence::SET => 0,
        whence::CUR => file.position,
        whence::END => ctx.mount(file.mount)?.size(file.handle)?,
        _ => return Err(Errno::Inval),
    };
    let target = i64::try_from(base).ok().and_then(|base| base.checked_add(offset)).ok_or(Errno::Inval)?;
    let target = u64::try_from(target).map_err(|_| Errno::Inval)?;
    set_position(ctx, fd, target)?;
    memory.write_u64(new_offset, target)
}

pub fn fd_tell(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, fd: u32, offset: u32) -> Result<(), Errno> {
    let file = match file_of(ctx.fds.get(fd)?) {
        Err(Errno::IsDir) => return Err(Errno::BadF),
        other => other?,
    };
    memory.write_u64(offset, file.position)
}

pub fn fd_close(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32) -> Result<(), Errno> {
    let descriptor = ctx.fds.remove(fd)?;
    ctx.drop_descriptor(descriptor);
    Ok(())
}

pub fn fd_renumber(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, from: u32, to: u32) -> Result<(), Errno> {
    if let Some(replaced) = ctx.fds.renumber(from, to)? {
        ctx.drop_descriptor(replaced);
    }
    Ok(())
}

pub fn fd_advise(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    _offset: u64,
    _len: u64,
    advice: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    if advice > u32::from(ADVICE_MAX) {
        return Err(Errno::Inval);
    }
    match target(descriptor) {
        Target::File(..) | Target::Dir => Ok(()),
        _ => Err(Errno::SPipe),
    }
}

pub fn fd_allocate(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    len: u64,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let file = file_of(descriptor)?;
    if !descriptor.writable() {
        return Err(Errno::BadF);
    }
    let end = offset.checked_add(len).ok_or(Errno::FBig)?;
    ctx.mount(file.mount)?.allocate(file.handle, end)
}

/// `fd_sync`/`fd_datasync`: a file's data goes to the backend's stable storage;
/// directories and stdio have nothing buffered.
fn sync(ctx: &mut WasiCtx, fd: u32, data_only: bool) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    match target(descriptor) {
        Target::File(file) => ctx.mount(file.mount)?.sync(file.handle, data_only),
        _ => Ok(()),
    }
}

pub fn fd_datasync(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32) -> Result<(), Errno> {
    sync(ctx, fd, true)
}

pub fn fd_sync(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32) -> Result<(), Errno> {
    sync(ctx, fd, false)
}

pub fn fd_fdstat_get(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, fd: u32, out: u32) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let mut bytes = [0u8; FDSTAT_SIZE as usize];
    bytes[0] = descriptor.filetype();
    bytes[2..4].copy_from_slice(&descriptor.flags.to_le_bytes());
    bytes[8..16].copy_from_slice(&descriptor.rights_base.to_le_bytes());
    bytes[16..24].copy_from_slice(&descriptor.rights_inheriting.to_le_bytes());
    memory.write(out, &bytes)
}

pub fn fd_fdstat_set_flags(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32, flags: u32) -> Result<(), Errno> {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    WasiCtx::check_fdflags(flags)?;
    ctx.fds.get_mut(fd)?.flags = flags;
    Ok(())
}

pub fn fd_fdstat_set_rights(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    base: u64,
    inheriting: u64,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get_mut(fd)?;
    if base & !descriptor.rights_base != 0 || inheriting & !descriptor.rights_inheriting != 0 {
        return Err(Errno::NotCapable);
    }
    descriptor.rights_base = base;
    descriptor.rights_inheriting = inheriting;
    Ok(())
}

/// Writes a `filestat` (device 1 is the in-memory filesystem, 0 the console).
pub(crate) fn write_filestat(memory: &mut GuestMemory<'_>, out: u32, stat: &Stat, device: u64) -> Result<(), Errno> {
    let mut bytes = [0u8; FILESTAT_SIZE as usize];
    bytes[0..8].copy_from_slice(&device.to_le_bytes());
    bytes[8..16].copy_from_slice(&stat.ino.to_le_bytes());
    bytes[16] = stat.filetype;
    bytes[24..32].copy_from_slice(&stat.nlink.to_le_bytes());
    bytes[32..40].copy_from_slice(&stat.size.to_le_bytes());
    bytes[40..48].copy_from_slice(&stat.atim.to_le_bytes());
    bytes[48..56].copy_from_slice(&stat.mtim.to_le_bytes());
    bytes[56..64].copy_from_slice(&stat.ctim.to_le_bytes());
    memory.write(out, &bytes)
}

/// What `fd_filestat_get` reports for `fd`, and the device number (0: the console).
pub(crate) fn fd_stat(ctx: &mut WasiCtx, fd: u32) -> Result<(Stat, u64), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    match descriptor.ino() {
        Some((mount, ino)) => {
            let fs = ctx.mount(mount)?;
            let stat = fs.stat(ino)?;
            Ok((stat, fs.device()))
        }
        None => {
            let stat = Stat {
                ino: u64::from(fd),
                filetype: if descriptor.filetype() == filetype::SOCKET_STREAM {
                    filetype::SOCKET_STREAM
                } else {
                    filetype::CHARACTER_DEVICE
                },
                nlink: 1,
                size: 0,
                atim: 0,
                mtim: 0,
                ctim: 0,
            };
            Ok((stat, 0))
        }
    }
}

pub fn fd_filestat_get(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, fd: u32, out: u32) -> Result<(), Errno> {
    let (stat, device) = fd_stat(ctx, fd)?;
    write_filestat(memory, out, &stat, device)
}

pub fn fd_filestat_set_size(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, fd: u32, size: u64) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let file = match file_of(descriptor) {
        Err(Errno::SPipe) => return Err(Errno::Inval),
        other => other?,
    };
    if !descriptor.writable() {
        return Err(Errno::BadF);
    }
    let now = ctx.now();
    ctx.mount(file.mount)?.set_size(file.ino, size, now)
}

/// The new (atim, mtim) from `fstflags`: `None` leaves a time as it is.
pub(crate) fn new_times(
    ctx: &mut WasiCtx,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> Result<(Option<u64>, Option<u64>), Errno> {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    if flags & !fstflags::ALL != 0
        || (flags & fstflags::ATIM != 0 && flags & fstflags::ATIM_NOW != 0)
        || (flags & fstflags::MTIM != 0 && flags & fstflags::MTIM_NOW != 0)
    {
        return Err(Errno::Inval);
    }
    let now = ctx.now();
    let pick = |set: u16, set_now: u16, value: u64| {
        if flags & set_now != 0 {
            Some(now)
        } else if flags & set != 0 {
            Some(value)
        } else {
            None
        }
    };
    Ok((pick(fstflags::ATIM, fstflags::ATIM_NOW, atim), pick(fstflags::MTIM, fstflags::MTIM_NOW, mtim)))
}

pub fn fd_filestat_set_times(
    ctx: &mut WasiCtx,
    _memory: &mut GuestMemory<'_>,
    fd: u32,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> Result<(), Errno> {
    let node = ctx.fds.get(fd)?.ino();
    let (atim, mtim) = new_times(ctx, atim, mtim, flags)?;
    match node {
        Some((mount, ino)) => {
            let now = ctx.now();
            ctx.mount(mount)?.set_times(ino, atim, mtim, now)
        }
        None => Ok(()),
    }
}

pub fn fd_prestat_get(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, fd: u32, out: u32) -> Result<(), Errno> {
    let Kind::Dir { preopen: Some(name), .. } = &ctx.fds.get(fd)?.kind else { return Err(Errno::BadF) };
    let mut bytes = [0u8; PRESTAT_SIZE as usize];
    bytes[0] = PREOPENTYPE_DIR;
    let len = u32::try_from(name.len()).map_err(|_| Errno::NameTooLong)?;
    bytes[4..8].copy_from_slice(&len.to_le_bytes());
    memory.write(out, &bytes)
}

pub fn fd_prestat_dir_name(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Result<(), Errno> {
    let Kind::Dir { preopen: Some(name), .. } = &ctx.fds.get(fd)?.kind else { return Err(Errno::BadF) };
    memory.check(path, path_len)?;
    if (path_len as usize) < name.len() {
        return Err(Errno::NameTooLong);
    }
    memory.write(path, name)
}

pub fn fd_readdir(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    bufused: u32,
) -> Result<(), Errno> {
    let descriptor = ctx.fds.get(fd)?;
    let Kind::Dir { mount, ino, .. } = descriptor.kind else { return Err(Errno::NotDir) };
    descriptor.require(rights::FD_READDIR)?;
    memory.check(buf, buf_len)?;
    memory.check(bufused, 4)?;
    let capacity = buf_len as usize;
    let mut out = Vec::new();
    ctx.mount(mount)?.read_dir(ino, cookie, &mut |entry| {
        let mut header = [0u8; DIRENT_SIZE as usize];
        header[0..8].copy_from_slice(&entry.next.to_le_bytes());
        header[8..16].copy_from_slice(&entry.ino.to_le_bytes());
        header[16..20].copy_from_slice(&(entry.name.len() as u32).to_le_bytes());
        header[20] = entry.filetype;
        out.extend_from_slice(&header);
        out.extend_from_slice(&entry.name);
        out.len() < capacity
    })?;
    // The last entry may not fit: the spec lets it be cut off at the buffer's end.
    out.truncate(capacity);
    memory.write(buf, &out)?;
    memory.write_u32(bufused, out.len() as u32)
}
