//! The in-memory tree: directories and regular files kept in an inode table.
//!
//! Each preopened directory is the root of its own tree (its parent is itself). A node
//! lives while a directory entry names it (`nlink`) or a descriptor holds it (`open`),
//! so an unlinked file stays readable through descriptors still open on it. Files grow
//! with fallible allocation: a guest that asks for too much gets `EFBIG` or `ENOSPC`,
//! never an aborted host.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::abi::filetype;
use crate::errno::Errno;
use crate::fs::filesystem::{Access, DirEntry, FileSystem, Handle};

/// An inode number (never 0).
pub type Ino = u64;

/// What a node holds.
pub enum NodeKind {
    File(Vec<u8>),
    Dir(Dir),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
}

/// A directory's entries (without `.` and `..`) and its parent (itself for a root).
pub struct Dir {
    pub entries: BTreeMap<Vec<u8>, Ino>,
    pub parent: Ino,
}

/// One file or directory.
pub struct Node {
    pub kind: NodeKind,
    /// Directory entries naming the node; 0 once unlinked or removed.
    pub nlink: u64,
    /// Descriptors (and preopen roots held by the context) referring to the node.
    pub open: u32,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Node {
    pub fn filetype(&self) -> u8 {
        match self.kind {
            NodeKind::File(_) => filetype::REGULAR_FILE,
            NodeKind::Dir(_) => filetype::DIRECTORY,
            NodeKind::Symlink(_) => filetype::SYMBOLIC_LINK,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir(_))
    }
}

/// A node's metadata, as `filestat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub ino: Ino,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// What a file or directory costs against the total limit besides its contents: the
/// node, its directory entry and a name of up to `NAME_MAX` bytes, so that many empty
/// files cannot exhaust memory either.
const NODE_COST: u64 = 512;

/// The inode table.
pub struct MemTree {
    nodes: BTreeMap<Ino, Node>,
    next_ino: Ino,
    max_file_size: u64,
    /// The most bytes all files together may hold (the embedder's memory budget).
    max_total_bytes: u64,
    /// Bytes all files hold now.
    total_bytes: u64,
}

impl MemTree {
    /// An empty filesystem whose files may grow to `max_file_size` bytes.
    pub fn new(max_file_size: u64) -> Self {
        Self { nodes: BTreeMap::new(), next_ino: 1, max_file_size, max_total_bytes: u64::MAX, total_bytes: 0 }
    }

    /// Limits the bytes all files together may hold; growing past it is `ENOSPC`.
    pub fn with_total_limit(mut self, max_total_bytes: u64) -> Self {
        self.max_total_bytes = max_total_bytes;
        self
    }

    /// Bytes all files hold now.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    fn alloc(&mut self, kind: NodeKind, now: u64) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, Node { kind, nlink: 1, open: 0, atim: now, mtim: now, ctim: now });
        ino
    }

    /// A new root directory (a preopen), held open for the filesystem's lifetime.
    pub fn new_root(&mut self, now: u64) -> Ino {
        let ino = self.alloc(NodeKind::Dir(Dir { entries: BTreeMap::new(), parent: 0 }), now);
        if let Ok(Node { kind: NodeKind::Dir(dir), open, .. }) = self.node_mut(ino) {
            dir.parent = ino;
            *open = 1;
        }
        ino
    }

    /// How many nodes exist (for tests of reclamation).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&self, ino: Ino) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::BadF)
    }

    pub fn node_mut(&mut self, ino: Ino) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::BadF)
    }

    pub fn is_dir(&self, ino: Ino) -> bool {
        self.nodes.get(&ino).is_some_and(Node::is_dir)
    }

    pub fn dir(&self, ino: Ino) -> Result<&Dir, Errno> {
        match &self.node(ino)?.kind {
            NodeKind::Dir(dir) => Ok(dir),
            _ => Err(Errno::NotDir),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut Dir, Errno> {
        match &mut self.node_mut(ino)?.kind {
            NodeKind::Dir(dir) => Ok(dir),
            _ => Err(Errno::NotDir),
        }
    }

    /// The node `name` in directory `dir`, if any.
    pub fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>, Errno> {
        Ok(self.dir(dir)?.entries.get(name).copied())
    }

    /// A descriptor now refers to `ino`.
    pub fn hold(&mut self, ino: Ino) {
        if let Ok(node) = self.node_mut(ino) {
            node.open += 1;
        }
    }

    /// A descriptor on `ino` closed; frees the node if nothing refers to it any more.
    pub fn release(&mut self, ino: Ino) {
        if let Ok(node) = self.node_mut(ino) {
            node.open = node.open.saturating_sub(1);
        }
        self.free_if_unused(ino);
    }

    fn free_if_unused(&mut self, ino: Ino) {
        if self.nodes.get(&ino).is_some_and(|node| node.nlink == 0 && node.open == 0)
            && let Some(node) = self.nodes.remove(&ino)
        {
            self.total_bytes -= NODE_COST;
            if let NodeKind::File(data) | NodeKind::Symlink(data) = node.kind {
                self.total_bytes -= data.len() as u64;
            }
        }
    }

    fn touch_dir(&mut self, dir: Ino, now: u64) {
        if let Ok(node) = self.node_mut(dir) {
            node.mtim = now;
            node.ctim = now;
        }
    }

    /// Adds a new node named `name` to `dir` (which must still be linked).
    fn link_new(&mut self, dir: Ino, name: &[u8], kind: NodeKind, now: u64) -> Result<Ino, Errno> {
        let parent = self.node(dir)?;
        if parent.nlink == 0 {
            return Err(Errno::NoEnt);
        }
        if self.lookup(dir, name)?.is_some() {
            return Err(Errno::Exist);
        }
        if self.total_bytes.saturating_add(NODE_COST) > self.max_total_bytes {
            return Err(Errno::NoSpc);
        }
        self.total_bytes += NODE_COST;
        let ino = self.alloc(kind, now);
        self.dir_mut(dir)?.entries.insert(name.to_vec(), ino);
        self.touch_dir(dir, now);
        Ok(ino)
    }

    pub fn create_file(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<Ino, Errno> {
        self.link_new(dir, name, NodeKind::File(Vec::new()), now)
    }

    pub fn create_dir(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<Ino, Errno> {
        self.link_new(dir, name, NodeKind::Dir(Dir { entries: BTreeMap::new(), parent: dir }), now)
    }

    /// Removes the entry `name` (not a directory) from `dir`.
    pub fn unlink_file(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?.ok_or(Errno::NoEnt)?;
        if self.is_dir(ino) {
            return Err(Errno::IsDir);
        }
        self.unlink(dir, name, ino, now)
    }

    /// Removes the empty directory `name` from `dir`.
    pub fn remove_dir(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?.ok_or(Errno::NoEnt)?;
        if !self.dir(ino)?.entries.is_empty() {
            return Err(Errno::NotEmpty);
        }
        self.unlink(dir, name, ino, now)
    }

    fn unlink(&mut self, dir: Ino, name: &[u8], ino: Ino, now: u64) -> Result<(), Errno> {
        self.dir_mut(dir)?.entries.remove(name);
        self.touch_dir(dir, now);
        let node = self.node_mut(ino)?;
        node.nlink = node.nlink.saturating_sub(1);
        node.ctim = now;
        self.free_if_unused(ino);
        Ok(())
    }

    /// Moves `src_dir/src_name` to `dst_dir/dst_name`, replacing a file there (or an
    /// empty directory, when moving a directory).
    pub fn rename(
        &mut self,
        src_dir: Ino,
        src_name: &[u8],
        dst_dir: Ino,
        dst_name: &[u8],
        now: u64,
    ) -> Result<(), Errno> {
        let src = self.lookup(src_dir, src_name)?.ok_or(Errno::NoEnt)?;
        if self.node(dst_dir)?.nlink == 0 {
            return Err(Errno::NoEnt);
        }
        let dst = self.lookup(dst_dir, dst_name)?;
        if dst == Some(src) {
            return Ok(());
        }
        let src_is_dir = self.is_dir(src);
        if src_is_dir && self.is_within(dst_dir, src)? {
            return Err(Errno::Inval);
        }
        if let Some(dst) = dst {
            match (src_is_dir, self.is_dir(dst)) {
                (true, false) => return Err(Errno::NotDir),
                (false, true) => return Err(Errno::IsDir),
                (true, true) if !self.dir(dst)?.entries.is_empty() => return Err(Errno::NotEmpty),
                _ => {}
            }
            self.unlink(dst_dir, dst_name, dst, now)?;
        }
        self.dir_mut(src_dir)?.entries.remove(src_name);
        self.dir_mut(dst_dir)?.entries.insert(dst_name.to_vec(), src);
        if src_is_dir {
            self.dir_mut(src)?.parent = dst_dir;
        }
        self.touch_dir(src_dir, now);
        self.touch_dir(dst_dir, now);
        self.node_mut(src)?.ctim = now;
        Ok(())
    }

    /// Whether directory `dir` is `ancestor` or lies below it.
    fn is_within(&self, mut dir: Ino, ancestor: Ino) -> Result<bool, Errno> {
        for _ in 0..=self.nodes.len() {
            if dir == ancestor {
                return Ok(true);
            }
            let parent = self.dir(dir)?.parent;
            if parent == dir {
                return Ok(false);
            }
            dir = parent;
        }
        Ok(false)
    }

    pub fn stat(&self, ino: Ino) -> Result<Stat, Errno> {
        let node = self.node(ino)?;
        let size = match &node.kind {
            NodeKind::File(data) | NodeKind::Symlink(data) => data.len() as u64,
            NodeKind::Dir(dir) => dir.entries.len() as u64,
        };
        Ok(Stat {
            ino,
            filetype: node.filetype(),
            nlink: node.nlink,
            size,
            atim: node.atim,
            mtim: node.mtim,
            ctim: node.ctim,
        })
    }

    /// Sets the access and/or modification times.
    pub fn set_times(&mut self, ino: Ino, atim: Option<u64>, mtim: Option<u64>, now: u64) -> Result<(), Errno> {
        let node = self.node_mut(ino)?;
        if let Some(atim) = atim {
            node.atim = atim;
        }
        if let Some(mtim) = mtim {
            node.mtim = mtim;
        }
        node.ctim = now;
        Ok(())
    }

    /// A regular file's bytes.
    pub fn file(&self, ino: Ino) -> Result<&[u8], Errno> {
        match &self.node(ino)?.kind {
            NodeKind::File(data) => Ok(data),
            NodeKind::Dir(_) => Err(Errno::IsDir),
            NodeKind::Symlink(_) => Err(Errno::Loop),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut Vec<u8>, Errno> {
        match &mut self.node_mut(ino)?.kind {
            NodeKind::File(data) => Ok(data),
            NodeKind::Dir(_) => Err(Errno::IsDir),
            NodeKind::Symlink(_) => Err(Errno::Loop),
        }
    }

    /// Copies bytes at `offset` into `out`; returns how many (0 at or past the end).
    pub fn read(&self, ino: Ino, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let data = self.file(ino)?;
        let Ok(start) = usize::try_from(offset) else { return Ok(0) };
        let Some(available) = data.get(start..) else { return Ok(0) };
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        Ok(count)
    }

    /// Writes `bytes` at `offset`, zero-filling any gap past the end.
    pub fn write(&mut self, ino: Ino, offset: u64, bytes: &[u8], now: u64) -> Result<(), Errno> {
        let end = offset.checked_add(bytes.len() as u64).ok_or(Errno::FBig)?;
        self.grow(ino, end)?;
        let data = self.file_mut(ino)?;
        let start = offset as usize; // `grow` made `end` (and so `offset`) fit in memory.
        data[start..start + bytes.len()].copy_from_slice(bytes);
        self.modified(ino, now);
        Ok(())
    }

    /// Makes the file at least `size` bytes long (zero-filled).
    pub fn grow(&mut self, ino: Ino, size: u64) -> Result<(), Errno> {
        let len = self.file(ino)?.len() as u64;
        if size > len {
            self.set_size(ino, size, None)?;
        }
        Ok(())
    }

    /// Truncates or zero-extends the file to `size` bytes; `now` updates its times.
    pub fn set_size(&mut self, ino: Ino, size: u64, now: Option<u64>) -> Result<(), Errno> {
        if size > self.max_file_size {
            return Err(Errno::FBig);
        }
        let size = usize::try_from(size).map_err(|_| Errno::FBig)?;
        let (total, max_total) = (self.total_bytes, self.max_total_bytes);
        let data = self.file_mut(ino)?;
        let old = data.len() as u64;
        if size as u64 > old && (total - old).saturating_add(size as u64) > max_total {
            return Err(Errno::NoSpc);
        }
        if size > data.len() {
            data.try_reserve(size - data.len()).map_err(|_| Errno::NoSpc)?;
        }
        data.resize(size, 0);
        if size < data.capacity() / 4 {
            data.shrink_to(size);
        }
        self.total_bytes = total - old + size as u64;
        if let Some(now) = now {
            self.modified(ino, now);
        }
        Ok(())
    }

    fn modified(&mut self, ino: Ino, now: u64) {
        if let Ok(node) = self.node_mut(ino) {
            node.mtim = now;
            node.ctim = now;
        }
    }

    /// The directory's listing as `fd_readdir` returns it: `.`, `..`, then the entries
    /// in byte order, each with its inode and file type.
    pub fn listing(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Ino, u8)>, Errno> {
        let dir = self.dir(ino)?;
        let mut listing = Vec::with_capacity(dir.entries.len() + 2);
        listing.push((b".".to_vec(), ino, filetype::DIRECTORY));
        listing.push((b"..".to_vec(), dir.parent, filetype::DIRECTORY));
        for (name, &child) in &dir.entries {
            let filetype = self.node(child).map(Node::filetype).unwrap_or(filetype::UNKNOWN);
            listing.push((name.clone(), child, filetype));
        }
        Ok(listing)
    }
}

/// The in-memory tree as a backend: a handle is the file's node number (the context
/// holds the node while a descriptor is open), symbolic links do not exist.
impl FileSystem for MemTree {
    fn lookup(&mut self, dir: Ino, name: &[u8]) -> Result<Option<Ino>, Errno> {
        MemTree::lookup(self, dir, name)
    }

    fn filetype(&mut self, ino: Ino) -> Result<u8, Errno> {
        Ok(self.node(ino)?.filetype())
    }

    fn stat(&mut self, ino: Ino) -> Result<Stat, Errno> {
        MemTree::stat(self, ino)
    }

    fn set_times(&mut self, ino: Ino, atim: Option<u64>, mtim: Option<u64>, now: u64) -> Result<(), Errno> {
        MemTree::set_times(self, ino, atim, mtim, now)
    }

    fn set_size(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno> {
        MemTree::set_size(self, ino, size, Some(now))
    }

    fn open(&mut self, ino: Ino, _access: Access) -> Result<Handle, Errno> {
        self.file(ino)?;
        Ok(ino)
    }

    fn close(&mut self, _handle: Handle) {}

    fn read(&mut self, handle: Handle, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        MemTree::read(self, handle, offset, out)
    }

    fn write(&mut self, handle: Handle, offset: u64, bytes: &[u8], now: u64) -> Result<usize, Errno> {
        MemTree::write(self, handle, offset, bytes, now).map(|()| bytes.len())
    }

    fn size(&mut self, handle: Handle) -> Result<u64, Errno> {
        Ok(self.file(handle)?.len() as u64)
    }

    fn allocate(&mut self, handle: Handle, size: u64) -> Result<(), Errno> {
        self.grow(handle, size)
    }

    fn sync(&mut self, handle: Handle, _data_only: bool) -> Result<(), Errno> {
        self.node(handle).map(|_| ())
    }

    fn create_file(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<Ino, Errno> {
        MemTree::create_file(self, dir, name, now)
    }

    fn create_dir(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<Ino, Errno> {
        MemTree::create_dir(self, dir, name, now)
    }

    fn unlink_file(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno> {
        MemTree::unlink_file(self, dir, name, now)
    }

    fn remove_dir(&mut self, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno> {
        MemTree::remove_dir(self, dir, name, now)
    }

    fn rename(&mut self, src_dir: Ino, src_name: &[u8], dst_dir: Ino, dst_name: &[u8], now: u64) -> Result<(), Errno> {
        MemTree::rename(self, src_dir, src_name, dst_dir, dst_name, now)
    }

    fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8], now: u64) -> Result<(), Errno> {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(target.len()).map_err(|_| Errno::NoSpc)?;
        bytes.extend_from_slice(target);
        if self.total_bytes.saturating_add(NODE_COST + target.len() as u64) > self.max_total_bytes {
            return Err(Errno::NoSpc);
        }
        self.link_new(dir, name, NodeKind::Symlink(bytes), now)?;
        self.total_bytes += target.len() as u64;
        Ok(())
    }

    fn readlink(&mut self, ino: Ino) -> Result<Vec<u8>, Errno> {
        match &self.node(ino)?.kind {
            NodeKind::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::Inval),
        }
    }

    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8], now: u64) -> Result<(), Errno> {
        if self.is_dir(ino) {
            return Err(Errno::Perm);
        }
        if self.node(dir)?.nlink == 0 {
            return Err(Errno::NoEnt);
        }
        if MemTree::lookup(self, dir, name)?.is_some() {
            return Err(Errno::Exist);
        }
        self.dir_mut(dir)?.entries.insert(name.to_vec(), ino);
        self.touch_dir(dir, now);
        let node = self.node_mut(ino)?;
        node.nlink += 1;
        node.ctim = now;
        Ok(())
    }

    fn read_dir(&mut self, dir: Ino, cookie: u64, visit: &mut dyn FnMut(DirEntry) -> bool) -> Result<(), Errno> {
        let listing = self.listing(dir)?;
        let first = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (index, (name, ino, filetype)) in listing.into_iter().enumerate().skip(first) {
            if !visit(DirEntry { name, ino, filetype, next: index as u64 + 1 }) {
                break;
            }
        }
        Ok(())
    }

    fn hold(&mut self, ino: Ino) {
        MemTree::hold(self, ino)
    }

    fn release(&mut self, ino: Ino) {
        MemTree::release(self, ino)
    }

    fn device(&self) -> u64 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlinked_files_live_while_open() {
        let mut fs = MemTree::new(1 << 20);
        let root = fs.new_root(0);
        let file = fs.create_file(root, b"a", 1).unwrap();
        fs.write(file, 3, b"xyz", 2).unwrap();
        assert_eq!(fs.file(file).unwrap(), b"\0\0\0xyz");
        fs.hold(file);
        fs.unlink_file(root, b"a", 3).unwrap();
        assert_eq!(fs.lookup(root, b"a").unwrap(), None);
        assert_eq!(fs.file(file).unwrap(), b"\0\0\0xyz");
        fs.release(file);
        assert!(fs.node(file).is_err());
        assert_eq!(fs.node_count(), 1);
    }

    #[test]
    fn rename_rules() {
        let mut fs = MemTree::new(1 << 20);
        let root = fs.new_root(0);
        let a = fs.create_dir(root, b"a", 0).unwrap();
        let b = fs.create_dir(a, b"b", 0).unwrap();
        fs.create_file(root, b"f", 0).unwrap();
        assert_eq!(fs.rename(root, b"a", b, b"x", 0), Err(Errno::Inval));
        assert_eq!(fs.rename(root, b"a", root, b"f", 0), Err(Errno::NotDir));
        assert_eq!(fs.rename(root, b"f", a, b"b", 0), Err(Errno::IsDir));
        fs.rename(a, b"b", root, b"b2", 0).unwrap();
        assert_eq!(fs.dir(b).unwrap().parent, root);
        fs.rename(root, b"f", a, b"g", 0).unwrap();
        assert_eq!(fs.listing(a).unwrap().len(), 3);
        assert_eq!(fs.remove_dir(root, b"a", 0), Err(Errno::NotEmpty));
    }

    #[test]
    fn all_files_together_stay_within_the_total_limit() {
        let mut fs = MemTree::new(1 << 20).with_total_limit(2 * NODE_COST + 100);
        let root = fs.new_root(0);
        let a = fs.create_file(root, b"a", 0).unwrap();
        let b = fs.create_file(root, b"b", 0).unwrap();
        assert_eq!(fs.create_file(root, b"c", 0), Err(Errno::NoSpc));
        fs.write(a, 0, &[1; 60], 0).unwrap();
        assert_eq!(fs.write(b, 0, &[2; 50], 0), Err(Errno::NoSpc));
        fs.write(b, 0, &[2; 40], 0).unwrap();
        assert_eq!(fs.total_bytes(), 2 * NODE_COST + 100);
        // Rewriting inside a file needs no new space; shrinking and unlinking give it back.
        fs.write(a, 10, &[3; 50], 0).unwrap();
        fs.set_size(a, 30, None).unwrap();
        assert_eq!(fs.total_bytes(), 2 * NODE_COST + 70);
        fs.unlink_file(root, b"b", 0).unwrap();
        assert_eq!(fs.total_bytes(), NODE_COST + 30);
        fs.write(a, 0, &[4; 100 + NODE_COST as usize], 0).unwrap();
        assert_eq!(fs.write(a, 100 + NODE_COST, &[5], 0), Err(Errno::NoSpc));
    }

    #[test]
    fn sizes_are_limited() {
        let mut fs = MemTree::new(100);
        let root = fs.new_root(0);
        let file = fs.create_file(root, b"a", 0).unwrap();
        assert_eq!(fs.write(file, 99, b"ab", 0), Err(Errno::FBig));
        assert_eq!(fs.write(file, u64::MAX, b"ab", 0), Err(Errno::FBig));
        fs.write(file, 98, b"ab", 0).unwrap();
        assert_eq!(fs.stat(file).unwrap().size, 100);
    }
}
