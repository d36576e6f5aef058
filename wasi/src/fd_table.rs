//! The descriptor table: what each guest fd number refers to (stdio, an open file
//! with its position, a directory), with its flags and rights.
//!
//! New descriptors take the lowest free number. The table only stores descriptors;
//! the context keeps the filesystem's open counts in step when they come and go.

use alloc::vec::Vec;

use crate::abi::{fdflags, filetype, rights};
use crate::errno::Errno;
use crate::fs::{Handle, Ino, MountId};
use crate::sockets::SocketHandle;

/// The most descriptors a guest may have open at once.
pub const MAX_FDS: usize = 4096;

/// What a descriptor refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Stdin,
    Stdout,
    Stderr,
    /// `handle` is the backend's open file, `ino` its node.
    File {
        mount: MountId,
        ino: Ino,
        handle: Handle,
        position: u64,
    },
    /// `preopen` is the guest path it was preopened as, if it was.
    Dir {
        mount: MountId,
        ino: Ino,
        preopen: Option<Vec<u8>>,
    },
    /// A TCP listener (`listener`) or connection of the embedder's `Sockets`.
    Socket {
        handle: SocketHandle,
        listener: bool,
    },
}

/// One open descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub kind: Kind,
    /// `fdflags` (APPEND is honoured for files; the others are only reported back).
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

impl Descriptor {
    pub fn stdio(kind: Kind) -> Self {
        let rights_base = if kind == Kind::Stdin { rights::STDIN } else { rights::STDOUT };
        Self { kind, flags: 0, rights_base, rights_inheriting: 0 }
    }

    /// A listener or connection, with the rights Wasmtime gives them.
    pub fn socket(handle: SocketHandle, listener: bool, flags: u16) -> Self {
        let rights_base = if listener { rights::SOCKET_LISTENER } else { rights::SOCKET_STREAM };
        Self { kind: Kind::Socket { handle, listener }, flags, rights_base, rights_inheriting: 0 }
    }

    pub fn filetype(&self) -> u8 {
        match self.kind {
            Kind::Socket { .. } => filetype::SOCKET_STREAM,
            Kind::Stdin | Kind::Stdout | Kind::Stderr => filetype::CHARACTER_DEVICE,
            Kind::File { .. } => filetype::REGULAR_FILE,
            Kind::Dir { .. } => filetype::DIRECTORY,
        }
    }

    /// The filesystem and node, for files and directories.
    pub fn ino(&self) -> Option<(MountId, Ino)> {
        match self.kind {
            Kind::File { mount, ino, .. } | Kind::Dir { mount, ino, .. } => Some((mount, ino)),
            _ => None,
        }
    }

    /// `ENOTCAPABLE` unless the descriptor has every right in `rights`.
    pub fn require(&self, rights: u64) -> Result<(), Errno> {
        if self.rights_base & rights == rights { Ok(()) } else { Err(Errno::NotCapable) }
    }

    pub fn readable(&self) -> bool {
        self.rights_base & rights::FD_READ != 0
    }

    pub fn writable(&self) -> bool {
        self.rights_base & rights::FD_WRITE != 0
    }

    pub fn append(&self) -> bool {
        self.flags & fdflags::APPEND != 0
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & fdflags::NONBLOCK != 0
    }
}

/// Descriptors by number.
#[derive(Default)]
pub struct FdTable {
    slots: Vec<Option<Descriptor>>,
}

impl FdTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, fd: u32) -> Result<&Descriptor, Errno> {
        self.slots.get(fd as usize).and_then(Option::as_ref).ok_or(Errno::BadF)
    }

    pub fn get_mut(&mut self, fd: u32) -> Result<&mut Descriptor, Errno> {
        self.slots.get_mut(fd as usize).and_then(Option::as_mut).ok_or(Errno::BadF)
    }

    /// Stores `descriptor` under the lowest free number.
    pub fn insert(&mut self, descriptor: Descriptor) -> Result<u32, Errno> {
        let fd = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < MAX_FDS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Errno::MFile),
        };
        self.slots[fd] = Some(descriptor);
        Ok(fd as u32)
    }

    /// Removes and returns descriptor `fd`.
    pub fn remove(&mut self, fd: u32) -> Result<Descriptor, Errno> {
        let descriptor = self.slots.get_mut(fd as usize).and_then(Option::take).ok_or(Errno::BadF)?;
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Ok(descriptor)
    }

    /// Moves `from` to number `to` (both must be open); returns the descriptor that
    /// `to` held, which the caller closes.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<Option<Descriptor>, Errno> {
        self.get(from)?;
        self.get(to)?;
        if from == to {
            return Ok(None);
        }
        let moved = self.remove(from)?;
        let slot = self.slots.get_mut(to as usize).ok_or(Errno::BadF)?;
        Ok(slot.replace(moved))
    }

    /// Every open descriptor, by number.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Descriptor)> {
        self.slots.iter().enumerate().filter_map(|(fd, slot)| slot.as_ref().map(|d| (fd as u32, d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_number_and_renumber() {
        let mut table = FdTable::new();
        assert_eq!(table.insert(Descriptor::stdio(Kind::Stdin)), Ok(0));
        assert_eq!(table.insert(Descriptor::stdio(Kind::Stdout)), Ok(1));
        assert_eq!(table.insert(Descriptor::stdio(Kind::Stderr)), Ok(2));
        table.remove(1).unwrap();
        assert_eq!(table.get(1), Err(Errno::BadF));
        assert_eq!(table.insert(Descriptor::stdio(Kind::Stdout)), Ok(1));
        assert_eq!(table.renumber(0, 7), Err(Errno::BadF));
        let old = table.renumber(2, 1).unwrap().unwrap();
        assert_eq!(old.kind, Kind::Stdout);
        assert_eq!(table.get(1).unwrap().kind, Kind::Stderr);
        assert_eq!(table.get(2), Err(Errno::BadF));
        assert_eq!(table.get(u32::MAX), Err(Errno::BadF));
    }
}
