//! A host directory as a WASI [`FileSystem`]: each node is a 9P fid on the export,
//! named by the server's qid path (the host inode), over the device's shared session.
//!
//! Nodes the context holds (preopens, open descriptors) keep their fids; others stay
//! cached, with the (directory, name) entries that led to them, until `settle` finds
//! more than [`CACHED_NODES`] and clunks the unheld ones. An open file is a fid of its
//! own opened with `Tlopen`, except that the first open of a node takes the node's fid
//! itself (opened by `Tlcreate` for a file just created, else by this `Tlopen`);
//! reads and writes go through it in msize pieces, straight between guest memory and
//! the session's buffers (nothing is buffered here, so what a write returned is in the
//! host file). Clunks are posted, not waited for, and a create walks the directory's
//! next clone ahead (`Session::prepare_clone`), so creating a file is one round trip.
//! This module resolves no paths: WASI's
//! `fs::path` does, one name at a time, so `..` and symlinks never reach the server.

use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmetal_devices::p9::codec::{Fid, Qid, SetAttr, Time, mode, open_flags, qid_type, setattr};
use wasmetal_devices::p9::session::SessionError;
use wasmetal_wasi::Errno;
use wasmetal_wasi::abi::filetype;
use wasmetal_wasi::fs::{Access, DirEntry, FileSystem, Handle, Ino, Stat};

use super::linux_errno::to_wasi;
use crate::virtio::p9::{P9Session, SharedSession};

/// Unheld nodes kept before `settle` clunks them.
const CACHED_NODES: usize = 1024;

/// Bytes of directory entries asked for per `Treaddir` (a guest buffer is usually 4 KiB
/// or so; more would be read and thrown away).
const READDIR_BYTES: usize = 16 * 1024;

/// Mode bits of what the guest creates (the host's umask applies on top).
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

struct Node {
    fid: Fid,
    filetype: u8,
    holds: u32,
    /// The fid is open for I/O with this access (read-write for a file `create_file`
    /// made): it serves as the handle of an `open` that needs no more, saving a clone.
    opened: Option<Access>,
    /// That handle is out (its `close` keeps the fid, which is still the node's).
    lent: bool,
}

/// One task's view of one export.
pub struct HostDir {
    shared: Arc<SharedSession>,
    root: Ino,
    nodes: BTreeMap<Ino, Node>,
    /// (directory, name) -> node, for names looked up or created through this view.
    entries: BTreeMap<(Ino, Vec<u8>), Ino>,
    /// Handles that are a node's own fid, and the node.
    lent: BTreeMap<Handle, Ino>,
    device: u64,
}

fn filetype_of_qid(qid: Qid) -> u8 {
    if qid.kind & qid_type::DIR != 0 {
        filetype::DIRECTORY
    } else if qid.kind & qid_type::SYMLINK != 0 {
        filetype::SYMBOLIC_LINK
    } else {
        filetype::REGULAR_FILE
    }
}

fn filetype_of_mode(bits: u32) -> u8 {
    match bits & mode::FORMAT {
        mode::DIR => filetype::DIRECTORY,
        mode::REGULAR => filetype::REGULAR_FILE,
        mode::SYMLINK => filetype::SYMBOLIC_LINK,
        0o020000 => filetype::CHARACTER_DEVICE,
        0o060000 => filetype::BLOCK_DEVICE,
        0o140000 => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

fn filetype_of_dirent(kind: u8) -> u8 {
    match kind {
        4 => filetype::DIRECTORY,
        8 => filetype::REGULAR_FILE,
        10 => filetype::SYMBOLIC_LINK,
        2 => filetype::CHARACTER_DEVICE,
        6 => filetype::BLOCK_DEVICE,
        12 => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

fn time(ns: u64) -> Time {
    Time::from_ns(ns)
}

impl HostDir {
    /// Attaches to the export behind `shared` as device number `device`.
    pub fn attach(shared: Arc<SharedSession>, device: u64) -> Result<Self, SessionError> {
        let (fid, qid) = shared.with(|session| session.attach(b"", 0))?;
        let mut nodes = BTreeMap::new();
        nodes.insert(qid.path, Node { fid, filetype: filetype::DIRECTORY, holds: 0, opened: None, lent: false });
        Ok(HostDir { shared, root: qid.path, nodes, entries: BTreeMap::new(), lent: BTreeMap::new(), device })
    }

    /// The export's root directory.
    pub fn root(&self) -> Ino {
        self.root
    }

    fn with<R>(&self, f: impl FnOnce(&mut P9Session) -> Result<R, SessionError>) -> Result<R, Errno> {
        self.shared.with(f).map_err(to_wasi)
    }

    fn fid(&self, ino: Ino) -> Result<Fid, Errno> {
        self.nodes.get(&ino).map(|node| node.fid).ok_or(Errno::BadF)
    }

    fn dir_fid(&self, ino: Ino) -> Result<Fid, Errno> {
        match self.nodes.get(&ino) {
            Some(node) if node.filetype == filetype::DIRECTORY => Ok(node.fid),
            Some(_) => Err(Errno::NotDir),
            None => Err(Errno::BadF),
        }
    }

    /// Records `fid` as node `qid` (or clunks it when the node is known already).
    fn adopt(&mut self, fid: Fid, qid: Qid, opened: Option<Access>) -> Ino {
        match self.nodes.entry(qid.path) {
            Entry::Occupied(_) => {
                self.shared.with(|session| session.clunk_later(fid));
            }
            Entry::Vacant(slot) => {
                slot.insert(Node { fid, filetype: filetype_of_qid(qid), holds: 0, opened, lent: false });
            }
        }
        qid.path
    }

    /// Lends node `ino`'s own fid out as a handle.
    fn lend(&mut self, ino: Ino, fid: Fid) -> Handle {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lent = true;
        }
        let handle = u64::from(fid.0);
        self.lent.insert(handle, ino);
        handle
    }

    /// `dir/name` is gone: forget the entry, and the node too when nothing holds it
    /// (the host may give its inode number to another file).
    fn forget_entry(&mut self, dir: Ino, name: &[u8]) {
        let Some(ino) = self.entries.remove(&(dir, name.to_vec())) else { return };
        if self.nodes.get(&ino).is_some_and(|node| node.holds == 0 && !node.lent) && ino != self.root {
            if let Some(node) = self.nodes.remove(&ino) {
                self.shared.with(|session| session.clunk_later(node.fid));
            }
            self.entries.retain(|(parent, _), target| *parent != ino && *target != ino);
        }
    }
}

impl FileSystem for HostDir {
    fn lookup(&mut self, dir: Ino, name: &[u8]) -> Result<Option<Ino>, Errno> {
        if let Some(&ino) = self.entries.get(&(dir, name.to_vec()))
            && self.nodes.contains_key(&ino)
        {
            return Ok(Some(ino));
        }
        let dir_fid = self.dir_fid(dir)?;
        match self.shared.with(|session| session.walk(dir_fid, &[name])) {
            Ok((fid, Some(qid))) => {
                let ino = self.adopt(fid, qid, None);
                self.entries.insert((dir, name.to_vec()), ino);
                Ok(Some(ino))
            }
            Ok((fid, None)) => {
                self.shared.with(|session| session.clunk_later(fid));
                Err(Errno::Io)
            }
            Err(SessionError::Server(2)) => Ok(None),
            Err(error) => Err(to_wasi(error)),
        }
    }

    fn filetype(&mut self, ino: Ino) -> Result<u8, Errno> {
        self.nodes.get(&ino).map(|node| node.filetype).ok_or(Errno::BadF)
    }

    fn stat(&mut self, ino: Ino) -> Result<Stat, Errno> {
        let fid = self.fid(ino)?;
        let attr = self.with(|session| session.getattr(fid))?;
        Ok(Stat {
            ino,
            filetype: filetype_of_mode(attr.mode),
            nlink: attr.nlink,
            size: attr.size,
            atim: attr.atime.as_ns(),
            mtim: attr.mtime.as_ns(),
            ctim: attr.ctime.as_ns(),
        })
    }

    fn set_times(&mut self, ino: Ino, atim: Option<u64>, mtim: Option<u64>, _now: u64) -> Result<(), Errno> {
        let fid = self.fid(ino)?;
        let mut attr = SetAttr { valid: setattr::CTIME, ..SetAttr::default() };
        if let Some(atim) = atim {
            attr.valid |= setattr::ATIME | setattr::ATIME_SET;
            attr.atime = time(atim);
        }
        if let Some(mtim) = mtim {
            attr.valid |= setattr::MTIME | setattr::MTIME_SET;
            attr.mtime = time(mtim);
        }
        self.with(|session| session.setattr(fid, attr))
    }

    fn set_size(&mut self, ino: Ino, size: u64, _now: u64) -> Result<(), Errno> {
        if self.filetype(ino)? == filetype::DIRECTORY {
            return Err(Errno::IsDir);
        }
        let fid = self.fid(ino)?;
        let attr = SetAttr { valid: setattr::SIZE | setattr::MTIME | setattr::CTIME, size, ..SetAttr::default() };
        self.with(|session| session.setattr(fid, attr))
    }

    fn open(&mut self, ino: Ino, access: Access) -> Result<Handle, Errno> {
        let (flags, granted) = match (access.read, access.write) {
            (_, false) => (open_flags::RDONLY, Access { read: true, write: false }),
            (false, true) => (open_flags::WRONLY, Access { read: false, write: true }),
            (true, true) => (open_flags::RDWR, Access { read: true, write: true }),
        };
        let node = self.nodes.get(&ino).ok_or(Errno::BadF)?;
        let fid = node.fid;
        // The node's own fid serves when nothing else has it (and never a directory's:
        // other nodes are walked from it): as it is when open with enough access,
        // opened now when not open at all. Otherwise a clone is opened.
        let free = !node.lent && node.filetype != filetype::DIRECTORY;
        match node.opened {
            Some(open) if free && (open.read || !access.read) && (open.write || !access.write) => {
                return Ok(self.lend(ino, fid));
            }
            None if free => {
                self.with(|session| session.lopen(fid, flags | open_flags::NOFOLLOW))?;
                if let Some(node) = self.nodes.get_mut(&ino) {
                    node.opened = Some(granted);
                }
                return Ok(self.lend(ino, fid));
            }
            _ => {}
        }
        let opened = self.with(|session| {
            let (clone, _) = session.walk(fid, &[])?;
            match session.lopen(clone, flags | open_flags::NOFOLLOW) {
                Ok(_) => Ok(clone),
                Err(error) => {
                    session.clunk_later(clone);
                    Err(error)
                }
            }
        })?;
        Ok(u64::from(opened.0))
    }

    fn close(&mut self, handle: Handle) {
        if let Some(ino) = self.lent.remove(&handle) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.lent = false;
            }
            return;
        }
        self.shared.with(|session| session.clunk_later(Fid(handle as u32)));
    }

    fn read(&mut self, handle: Handle, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let fid = Fid(handle as u32);
        // Several requests in flight: QEMU's 9P server works on them together.
        self.with(|session| session.read_all(fid, offset, out))
    }

    fn write(&mut self, handle: Handle, offset: u64, bytes: &[u8], _now: u64) -> Result<usize, Errno> {
        let fid = Fid(handle as u32);
        self.shared.with(|session| session.write_all(fid, offset, bytes)).map_err(to_wasi)
    }

    fn size(&mut self, handle: Handle) -> Result<u64, Errno> {
        let fid = Fid(handle as u32);
        Ok(self.with(|session| session.getattr(fid))?.size)
    }

    fn allocate(&mut self, handle: Handle, size: u64) -> Result<(), Errno> {
        let fid = Fid(handle as u32);
        self.with(|session| {
            if session.getattr(fid)?.size < size {
                session.setattr(fid, SetAttr { valid: setattr::SIZE, size, ..SetAttr::default() })?;
            }
            Ok(())
        })
    }

    fn sync(&mut self, handle: Handle, data_only: bool) -> Result<(), Errno> {
        let fid = Fid(handle as u32);
        self.with(|session| session.fsync(fid, data_only))
    }

    fn create_file(&mut self, dir: Ino, name: &[u8], _now: u64) -> Result<Ino, Errno> {
        let dir_fid = self.dir_fid(dir)?;
        let flags = open_flags::RDWR | open_flags::CREAT | open_flags::EXCL | open_flags::NOFOLLOW;
        let (fid, qid) = self.with(|session| {
            // A clone walked ahead by the previous create in this directory, if any;
            // the next one is walked ahead now (its reply comes with a later request).
            let clone = session.clone_fid(dir_fid)?;
            match session.lcreate(clone, name, flags, FILE_MODE) {
                Ok((qid, _)) => {
                    session.prepare_clone(dir_fid);
                    Ok((clone, qid))
                }
                Err(error) => {
                    session.clunk_later(clone);
                    Err(error)
                }
            }
        })?;
        // The created fid, open read-write, is the node's: getattr and setattr work on
        // it, a file is never walked from, and the `open` that follows takes it.
        let ino = self.adopt(fid, qid, Some(Access { read: true, write: true }));
        self.entries.insert((dir, name.to_vec()), ino);
        Ok(ino)
    }

    fn create_dir(&mut self, dir: Ino, name: &[u8], _now: u64) -> Result<Ino, Errno> {
        let dir_fid = self.dir_fid(dir)?;
        // Not adopted as a node: `lookup` walks to it when it is used.
        Ok(self.with(|session| session.mkdir(dir_fid, name, DIR_MODE))?.path)
    }

    fn unlink_file(&mut self, dir: Ino, name: &[u8], _now: u64) -> Result<(), Errno> {
        let dir_fid = self.dir_fid(dir)?;
        self.with(|session| session.unlinkat(dir_fid, name, 0))?;
        self.forget_entry(dir, name);
        Ok(())
    }

    fn remove_dir(&mut self, dir: Ino, name: &[u8], _now: u64) -> Result<(), Errno> {
        let dir_fid = self.dir_fid(dir)?;
        self.with(|session| session.unlinkat(dir_fid, name, wasmetal_devices::p9::codec::AT_REMOVEDIR))?;
        self.forget_entry(dir, name);
        Ok(())
    }

    fn rename(&mut self, src_dir: Ino, src_name: &[u8], dst_dir: Ino, dst_name: &[u8], _now: u64) -> Result<(), Errno> {
        let (src_fid, dst_fid) = (self.dir_fid(src_dir)?, self.dir_fid(dst_dir)?);
        self.with(|session| session.renameat(src_fid, src_name, dst_fid, dst_name))?;
        let moved = self.entries.remove(&(src_dir, src_name.to_vec()));
        if moved != self.entries.get(&(dst_dir, dst_name.to_vec())).copied() {
            self.forget_entry(dst_dir, dst_name);
        }
        if let Some(ino) = moved {
            self.entries.insert((dst_dir, dst_name.to_vec()), ino);
        }
        Ok(())
    }

    fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8], _now: u64) -> Result<(), Errno> {
        let dir_fid = self.dir_fid(dir)?;
        self.with(|session| session.symlink(dir_fid, name, target)).map(|_| ())
    }

    fn readlink(&mut self, ino: Ino) -> Result<Vec<u8>, Errno> {
        if self.filetype(ino)? != filetype::SYMBOLIC_LINK {
            return Err(Errno::Inval);
        }
        let fid = self.fid(ino)?;
        self.with(|session| session.readlink(fid))
    }

    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8], _now: u64) -> Result<(), Errno> {
        let (fid, dir_fid) = (self.fid(ino)?, self.dir_fid(dir)?);
        self.with(|session| session.link(dir_fid, fid, name))?;
        self.entries.insert((dir, name.to_vec()), ino);
        Ok(())
    }

    fn read_dir(&mut self, dir: Ino, cookie: u64, visit: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        let dir_fid = self.dir_fid(dir)?;
        self.with(|session| {
            let (opened, _) = session.walk(dir_fid, &[])?;
            let listed = (|| {
                session.lopen(opened, open_flags::RDONLY | open_flags::DIRECTORY)?;
                let mut offset = cookie;
                let mut more = true;
                while more {
                    let mut next = offset;
                    let seen = session.readdir(opened, offset, READDIR_BYTES, &mut |entry| {
                        next = entry.offset;
                        more = visit(DirEntry {
                            name: entry.name.to_vec(),
                            ino: entry.qid.path,
                            filetype: filetype_of_dirent(entry.kind),
                            next: entry.offset,
                        });
                        more
                    })?;
                    if seen == 0 {
                        break;
                    }
                    offset = next;
                }
                Ok(())
            })();
            session.clunk_later(opened);
            listed
        })
    }

    fn hold(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.holds += 1;
        }
    }

    fn release(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.holds = node.holds.saturating_sub(1);
        }
    }

    fn settle(&mut self) {
        if self.nodes.len() <= CACHED_NODES {
            return;
        }
        let root = self.root;
        let unheld: Vec<(Ino, Fid)> = self
            .nodes
            .iter()
            .filter(|(ino, node)| node.holds == 0 && !node.lent && **ino != root)
            .map(|(ino, node)| (*ino, node.fid))
            .collect();
        for (ino, _) in &unheld {
            self.nodes.remove(ino);
        }
        let nodes = &self.nodes;
        self.entries.retain(|(dir, _), ino| nodes.contains_key(dir) && nodes.contains_key(ino));
        self.shared.with(|session| {
            for (_, fid) in unheld {
                session.clunk_later(fid);
            }
        });
    }

    fn device(&self) -> u64 {
        self.device
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let fids: Vec<Fid> = self.nodes.values().map(|node| node.fid).collect();
        self.shared.with(|session| {
            for fid in fids {
                session.clunk_later(fid);
            }
        });
    }
}
