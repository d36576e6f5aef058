//! The `FileSystem` trait: what WASI's file calls need from a backend (the in-memory
//! tree, or a host directory over 9P in the kernel), by node number within it.
//!
//! Nodes are named by [`Ino`]s the backend hands out from `lookup`; an open file is a
//! [`Handle`] from `open`. A node the context holds (`hold`) stays valid until
//! `release`; any other node number is valid until the next `settle`, which the
//! context calls between host calls. Paths and confinement are not the backend's job:
//! `fs::path` resolves them, one name at a time, by WASI's rules.

use alloc::vec::Vec;

use crate::errno::Errno;
use crate::fs::mem::{Ino, Stat};

/// Which filesystem of the context a descriptor's node lives in (0: the in-memory tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MountId(pub u32);

/// An open file of a backend.
pub type Handle = u64;

/// How a file is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

/// One directory entry as `fd_readdir` reports it; `next` is the cookie after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: Ino,
    pub filetype: u8,
    pub next: u64,
}

/// A filesystem backend. Times are nanoseconds since the Unix epoch.
pub trait FileSystem {
    /// The node `name` in directory `dir`, if any (`ENOTDIR` if `dir` is not one).
    fn lookup(&mut self, dir: Ino, name: &[u8]) -> Result<Option<Ino>, Errno>;
    /// The node's WASI file type.
    fn filetype(&mut self, ino: Ino) -> Result<u8, Errno>;
    fn stat(&mut self, ino: Ino) -> Result<Stat, Errno>;
    fn set_times(&mut self, ino: Ino, atim: Option<u64>, mtim: Option<u64>, now: u64) -> Result<(), Errno>;
    /// Truncates or zero-extends a regular file.
    fn set_size(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno>;
    /// Opens a regular file for I/O.
    fn open(&mut self, ino: Ino, access: Access) -> Result<Handle, Errno>;
    fn close(&mut self, handle: Handle);
    /// Reads at `offset` into `out`; fewer bytes than asked only at the end of the file.
    fn read(&mut self, handle: Handle, offset: u64, out: &mut [u8]) -> Result<usize, Errno>;
    /// Writes all of `bytes` at `offset` unless an error stops it: returns the count
    /// written (an error after some bytes is reported as the short count).
    fn write(&mut self, handle: Handle, offset: u64, bytes: &[u8], now: u64) -> Result<usize, Errno>;
    /// The file's current size.
    fn size(&mut self, handle: Handle) -> Result<u64, Errno>;
    /// Makes the file at least `size` bytes long.
    fn allocate(&mut self, handle: Handle, size: u64) -> Result<(), Errno>;
    /// Makes written data (and with `!data_only` the metadata) durable.
    fn sync(&mut self, handle: Handle, data_only: bool) -> Result<(), Errno>;
    fn create_file(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<Ino, Errno>;
    fn create_dir(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<Ino, Errno>;
    /// Removes `name` (not a directory) from `dir`.
    fn unlink_file(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno>;
    /// Removes the empty directory `name` from `dir`.
    fn remove_dir(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno>;
    /// Moves an entry, replacing a file (or an empty directory, for a directory).
    fn rename(&mut self, src_dir: Ino, src_name: &[u8], dst_dir: Ino, dst_name: &[u8], now: u64) -> Result<(), Errno>;
    /// Makes `name` in `dir` a symbolic link holding `target`.
    fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8], now: u64) -> Result<(), Errno>;
    /// A symbolic link's target (`EINVAL` for anything else).
    fn readlink(&mut self, ino: Ino) -> Result<Vec<u8>, Errno>;
    /// Adds a hard link `dir/name` to `ino`.
    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno>;
    /// Lists directory `dir` from `cookie` (0: the start; else an entry's `next`),
    /// calling `visit` per entry until it returns false or the listing ends.
    fn read_dir(&mut self, dir: Ino, cookie: u64, visit: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno>;
    /// A descriptor (or a preopen) now refers to `ino`: it stays valid.
    fn hold(&mut self, ino: Ino);
    /// A holder of `ino` is gone.
    fn release(&mut self, ino: Ino);
    /// Between host calls: forget nodes nobody holds.
    fn settle(&mut self) {}
    /// The `dev` number `filestat` reports for this filesystem's nodes.
    fn device(&self) -> u64;
}
