//! `WasiCtx`, one program's WASI state (arguments, environment, stdin, descriptors,
//! the in-memory filesystem, the embedder's `System`), and the builder that makes it.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::abi::{fdflags, rights};
use crate::errno::Errno;
use crate::fd_table::{Descriptor, FdTable, Kind};
use crate::fs::{FileSystem, Ino, MemTree, MountId};
use crate::sockets::{SocketHandle, Sockets};
use crate::system::System;

/// The default largest size of one file in the in-memory filesystem.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;

/// Why a [`WasiCtxBuilder`] could not build a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Argument `index` contains a NUL byte (arguments are passed NUL-terminated).
    NulInArgument { index: usize },
    /// Environment entry `index` contains a NUL byte.
    NulInEnvironment { index: usize },
    /// Environment entry `index` is not of the form `KEY=VALUE`.
    EnvironmentWithoutEquals { index: usize },
    /// A preopen's guest path is empty or contains a NUL byte.
    InvalidPreopenName { name: Vec<u8> },
    /// A file path of preopen `preopen` is absolute, empty, or has a `.`/`..` component.
    InvalidFilePath { preopen: Vec<u8>, path: Vec<u8> },
    /// Two paths of preopen `preopen` clash (`a` given as both a file and a directory).
    ConflictingPath { preopen: Vec<u8>, path: Vec<u8> },
    /// A file is larger than the maximum file size, or the files so far exceed the
    /// total the filesystem may hold.
    FileTooLarge { preopen: Vec<u8>, path: Vec<u8> },
    /// More preopens than there are descriptors.
    TooManyPreopens,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |bytes: &[u8]| alloc::string::String::from_utf8_lossy(bytes).into_owned();
        match self {
            BuildError::NulInArgument { index } => write!(f, "argument {index} contains a NUL byte"),
            BuildError::NulInEnvironment { index } => write!(f, "environment entry {index} contains a NUL byte"),
            BuildError::EnvironmentWithoutEquals { index } => write!(f, "environment entry {index} is not KEY=VALUE"),
            BuildError::InvalidPreopenName { name } => write!(f, "invalid preopen name {:?}", show(name)),
            BuildError::InvalidFilePath { preopen, path } => {
                write!(f, "invalid path {:?} in preopen {:?}", show(path), show(preopen))
            }
            BuildError::ConflictingPath { preopen, path } => {
                write!(f, "path {:?} in preopen {:?} is both a file and a directory", show(path), show(preopen))
            }
            BuildError::FileTooLarge { preopen, path } => {
                write!(
                    f,
                    "file {:?} in preopen {:?} does not fit: larger than the maximum file size, or past the total the filesystem may hold",
                    show(path),
                    show(preopen)
                )
            }
            BuildError::TooManyPreopens => f.write_str("too many preopened directories"),
        }
    }
}

/// One preopened directory as given to the builder.
struct PreopenSpec {
    guest_path: Vec<u8>,
    source: PreopenSource,
}

enum PreopenSource {
    /// In the in-memory tree: `(relative path, contents)`; a path ending in `/` is an
    /// (empty) directory.
    Memory(Vec<(Vec<u8>, Vec<u8>)>),
    /// The root `root` of a backend of its own.
    Backend { fs: Box<dyn FileSystem>, root: Ino, read_only: bool },
}

/// Builds a [`WasiCtx`].
pub struct WasiCtxBuilder {
    system: Box<dyn System>,
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    stdin: Vec<u8>,
    preopens: Vec<PreopenSpec>,
    max_file_size: u64,
    max_total_file_bytes: u64,
    sockets: Option<Box<dyn Sockets>>,
    preopened_sockets: Vec<SocketHandle>,
}

impl WasiCtxBuilder {
    /// A builder for a program with no arguments, environment, stdin or preopens.
    pub fn new(system: Box<dyn System>) -> Self {
        Self {
            system,
            args: Vec::new(),
            env: Vec::new(),
            stdin: Vec::new(),
            preopens: Vec::new(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_total_file_bytes: u64::MAX,
            sockets: None,
            preopened_sockets: Vec::new(),
        }
    }

    /// Appends one argument (the first is the program name, `argv[0]`).
    pub fn arg(mut self, arg: impl Into<Vec<u8>>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments (the first overall is `argv[0]`).
    pub fn args<A: Into<Vec<u8>>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Appends one `KEY=VALUE` environment entry.
    pub fn env(mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        let mut entry = key.as_ref().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_ref());
        self.env.push(entry);
        self
    }

    /// Appends environment entries, each already `KEY=VALUE`.
    pub fn envs<E: Into<Vec<u8>>>(mut self, entries: impl IntoIterator<Item = E>) -> Self {
        self.env.extend(entries.into_iter().map(Into::into));
        self
    }

    /// What the program reads from fd 0 (then end of file).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Preopens a directory the guest sees as `guest_path` (like `/data` or `.`),
    /// holding `files`: `(relative path, contents)` pairs; intermediate directories
    /// are made as needed and a path ending in `/` makes an empty directory. The
    /// guest may change the tree; the embedder's copies are never touched.
    pub fn preopen_dir<P: AsRef<[u8]>>(
        mut self,
        guest_path: impl Into<Vec<u8>>,
        files: impl IntoIterator<Item = (P, Vec<u8>)>,
    ) -> Self {
        let files = files.into_iter().map(|(path, bytes)| (path.as_ref().to_vec(), bytes)).collect();
        self.preopens.push(PreopenSpec { guest_path: guest_path.into(), source: PreopenSource::Memory(files) });
        self
    }

    /// Preopens directory `root` of backend `fs` (a host directory, say) as
    /// `guest_path`. A `read_only` preopen grants no right that changes anything.
    pub fn preopen_backend(
        mut self,
        guest_path: impl Into<Vec<u8>>,
        fs: Box<dyn FileSystem>,
        root: Ino,
        read_only: bool,
    ) -> Self {
        let source = PreopenSource::Backend { fs, root, read_only };
        self.preopens.push(PreopenSpec { guest_path: guest_path.into(), source });
        self
    }

    /// The largest size one file may reach (default [`DEFAULT_MAX_FILE_SIZE`]).
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// The most bytes all files together may hold (default: no limit beyond memory).
    /// The kernel sets it from its heap, which the in-memory files live in.
    pub fn max_total_file_bytes(mut self, bytes: u64) -> Self {
        self.max_total_file_bytes = bytes;
        self
    }

    /// The network the program's sockets live on.
    pub fn sockets(mut self, sockets: Box<dyn Sockets>) -> Self {
        self.sockets = Some(sockets);
        self
    }

    /// Preopens a listening socket of [`Self::sockets`] (Wasmtime's `--tcplisten`): it
    /// gets the next descriptor after stdio and the preopened directories.
    pub fn preopen_socket(mut self, listener: SocketHandle) -> Self {
        self.preopened_sockets.push(listener);
        self
    }

    /// Checks everything and makes the context: stdio on fds 0–2, preopened
    /// directories from 3, then preopened sockets.
    pub fn build(mut self) -> Result<WasiCtx, BuildError> {
        for (index, arg) in self.args.iter().enumerate() {
            if arg.contains(&0) {
                return Err(BuildError::NulInArgument { index });
            }
        }
        for (index, entry) in self.env.iter().enumerate() {
            if entry.contains(&0) {
                return Err(BuildError::NulInEnvironment { index });
            }
            if !entry.contains(&b'=') {
                return Err(BuildError::EnvironmentWithoutEquals { index });
            }
        }
        let now = self.system.realtime_ns();
        let start_ns = self.system.monotonic_ns();
        let mut fs = MemTree::new(self.max_file_size).with_total_limit(self.max_total_file_bytes);
        let mut fds = FdTable::new();
        for kind in [Kind::Stdin, Kind::Stdout, Kind::Stderr] {
            fds.insert(Descriptor::stdio(kind)).map_err(|_| BuildError::TooManyPreopens)?;
        }
        let mut preopens = Vec::with_capacity(self.preopens.len());
        let mut mounts: Vec<Box<dyn FileSystem>> = Vec::new();
        for spec in self.preopens {
            if spec.guest_path.is_empty() || spec.guest_path.contains(&0) {
                return Err(BuildError::InvalidPreopenName { name: spec.guest_path });
            }
            let (mount, root, read_only) = match spec.source {
                PreopenSource::Memory(files) => {
                    let root = fs.new_root(now);
                    for (path, bytes) in &files {
                        populate(&mut fs, root, path, bytes, now).map_err(|error| {
                            let (preopen, path) = (spec.guest_path.clone(), path.clone());
                            match error {
                                PopulateError::Invalid => BuildError::InvalidFilePath { preopen, path },
                                PopulateError::Conflict => BuildError::ConflictingPath { preopen, path },
                                PopulateError::TooLarge => BuildError::FileTooLarge { preopen, path },
                            }
                        })?;
                    }
                    fs.hold(root);
                    preopens.push((spec.guest_path.clone(), root));
                    (MountId(0), root, false)
                }
                PreopenSource::Backend { mut fs, root, read_only } => {
                    fs.hold(root);
                    mounts.push(fs);
                    (MountId(mounts.len() as u32), root, read_only)
                }
            };
            let mask = if read_only { !rights::MUTATING } else { u64::MAX };
            let descriptor = Descriptor {
                kind: Kind::Dir { mount, ino: root, preopen: Some(spec.guest_path) },
                flags: 0,
                rights_base: rights::DIRECTORY & mask,
                rights_inheriting: (rights::DIRECTORY | rights::FILE) & mask,
            };
            fds.insert(descriptor).map_err(|_| BuildError::TooManyPreopens)?;
        }
        for listener in self.preopened_sockets {
            fds.insert(Descriptor::socket(listener, true, 0)).map_err(|_| BuildError::TooManyPreopens)?;
        }
        Ok(WasiCtx {
            args: self.args,
            env: self.env,
            stdin: self.stdin,
            stdin_position: 0,
            fds,
            fs,
            mounts,
            preopens,
            system: self.system,
            sockets: self.sockets,
            start_ns,
        })
    }
}

enum PopulateError {
    Invalid,
    Conflict,
    TooLarge,
}

/// Adds the file (or, with a trailing `/`, directory) `path` below `root`.
fn populate(fs: &mut MemTree, root: Ino, path: &[u8], bytes: &[u8], now: u64) -> Result<(), PopulateError> {
    if path.is_empty() || path[0] == b'/' || path.contains(&0) {
        return Err(PopulateError::Invalid);
    }
    let is_dir = path.ends_with(b"/");
    let components: Vec<&[u8]> = path.split(|&byte| byte == b'/').filter(|c| !c.is_empty()).collect();
    if components.iter().any(|c| *c == b"." || *c == b"..") {
        return Err(PopulateError::Invalid);
    }
    let Some((last, parents)) = components.split_last() else { return Err(PopulateError::Invalid) };
    let mut dir = root;
    for &name in parents {
        dir = match fs.lookup(dir, name).map_err(|_| PopulateError::Conflict)? {
            Some(existing) if fs.is_dir(existing) => existing,
            Some(_) => return Err(PopulateError::Conflict),
            None => fs.create_dir(dir, name, now).map_err(|_| PopulateError::Conflict)?,
        };
    }
    let existing = fs.lookup(dir, last).map_err(|_| PopulateError::Conflict)?;
    if is_dir {
        return match existing {
            Some(ino) if fs.is_dir(ino) => Ok(()),
            Some(_) => Err(PopulateError::Conflict),
            None => fs.create_dir(dir, last, now).map(|_| ()).map_err(|_| PopulateError::Conflict),
        };
    }
    let file = match existing {
        Some(ino) if fs.is_dir(ino) => return Err(PopulateError::Conflict),
        Some(ino) => ino,
        None => fs.create_file(dir, last, now).map_err(|_| PopulateError::Conflict)?,
    };
    fs.set_size(file, 0, None).map_err(|_| PopulateError::Conflict)?;
    fs.write(file, 0, bytes, now).map_err(|error| match error {
        Errno::FBig | Errno::NoSpc => PopulateError::TooLarge,
        _ => PopulateError::Conflict,
    })
}

/// One program's WASI state.
pub struct WasiCtx {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) stdin: Vec<u8>,
    pub(crate) stdin_position: usize,
    pub(crate) fds: FdTable,
    /// The in-memory tree (mount 0).
    pub(crate) fs: MemTree,
    /// Other backends: mount `n` is `mounts[n - 1]`.
    pub(crate) mounts: Vec<Box<dyn FileSystem>>,
    /// Every in-memory preopen's guest path and root, kept even if the guest closes its fd.
    pub(crate) preopens: Vec<(Vec<u8>, Ino)>,
    pub(crate) system: Box<dyn System>,
    /// The network, when the embedder gives one.
    pub(crate) sockets: Option<Box<dyn Sockets>>,
    /// The monotonic clock when the context was built (the CPU-time clocks' origin).
    pub(crate) start_ns: u64,
}

impl WasiCtx {
    /// Starts building a context around the embedder's `system`.
    pub fn builder(system: Box<dyn System>) -> WasiCtxBuilder {
        WasiCtxBuilder::new(system)
    }

    /// The embedder's system services.
    pub fn system_mut(&mut self) -> &mut dyn System {
        &mut *self.system
    }

    /// The current contents of the file at guest path `path` (like `/data/out.txt`),
    /// resolved through the preopens: how the embedder sees what the guest wrote.
    pub fn file(&self, path: &[u8]) -> Option<&[u8]> {
        let ino = self.find(path)?;
        self.fs.file(ino).ok()
    }

    /// The names in the directory at guest path `path`, in byte order.
    pub fn dir_entries(&self, path: &[u8]) -> Option<Vec<Vec<u8>>> {
        let ino = self.find(path)?;
        Some(self.fs.dir(ino).ok()?.entries.keys().cloned().collect())
    }

    fn find(&self, path: &[u8]) -> Option<Ino> {
        self.preopens.iter().find_map(|(guest_path, root)| {
            let prefix = guest_path.strip_suffix(b"/").unwrap_or(guest_path);
            let rest: &[u8] = if prefix == b"." && !path.starts_with(b"/") {
                path
            } else {
                match path.strip_prefix(prefix)? {
                    [] | [b'/'] => b".",
                    [b'/', rest @ ..] => rest,
                    _ => return None,
                }
            };
            let mut ino = *root;
            for name in rest.split(|&byte| byte == b'/').filter(|c| !c.is_empty() && *c != b".") {
                ino = self.fs.lookup(ino, name).ok()??;
            }
            Some(ino)
        })
    }

    /// Filesystem `mount` (`EBADF` if there is none: a bug, but not the guest's to crash).
    pub(crate) fn mount(&mut self, mount: MountId) -> Result<&mut dyn FileSystem, Errno> {
        match mount.0 {
            0 => Ok(&mut self.fs),
            n => self.mounts.get_mut(n as usize - 1).map(|fs| &mut **fs as &mut dyn FileSystem).ok_or(Errno::BadF),
        }
    }

    /// Opens `descriptor` on its node (keeping the node alive) and returns its number.
    pub(crate) fn open_descriptor(&mut self, descriptor: Descriptor) -> Result<u32, Errno> {
        let node = descriptor.ino();
        let fd = self.fds.insert(descriptor)?;
        if let Some((mount, ino)) = node {
            self.mount(mount)?.hold(ino);
        }
        Ok(fd)
    }

    /// Lets go of a descriptor removed from the table: closes its file, releases its node.
    pub(crate) fn drop_descriptor(&mut self, descriptor: Descriptor) {
        if let (Kind::Socket { handle, .. }, Some(sockets)) = (&descriptor.kind, self.sockets.as_mut()) {
            sockets.close(*handle);
            return;
        }
        let Some((mount, ino)) = descriptor.ino() else { return };
        let Ok(fs) = self.mount(mount) else { return };
        if let Kind::File { handle, .. } = descriptor.kind {
            fs.close(handle);
        }
        fs.release(ino);
    }

    /// Between host calls: every backend forgets nodes nobody holds.
    pub(crate) fn settle(&mut self) {
        for fs in &mut self.mounts {
            fs.settle();
        }
    }

    /// The socket behind descriptor `fd`: its handle, whether it listens, and whether
    /// it is non-blocking (`ENOTSOCK` if it is no socket).
    pub(crate) fn socket_fd(&self, fd: u32) -> Result<(SocketHandle, bool, bool), Errno> {
        let descriptor = self.fds.get(fd)?;
        match descriptor.kind {
            Kind::Socket { handle, listener } => Ok((handle, listener, descriptor.nonblocking())),
            _ => Err(Errno::NotSock),
        }
    }

    /// The network (a socket descriptor exists only when there is one).
    pub(crate) fn network(&mut self) -> Result<&mut (dyn Sockets + 'static), Errno> {
        self.sockets.as_deref_mut().ok_or(Errno::NotSup)
    }

    /// Current realtime, for file timestamps.
    pub(crate) fn now(&mut self) -> u64 {
        self.system.realtime_ns()
    }

    /// The directory behind descriptor `fd` (`ENOTDIR` if it is not one), once it
    /// is known to have `rights`.
    pub(crate) fn dir_fd(&self, fd: u32, rights: u64) -> Result<(MountId, Ino), Errno> {
        let descriptor = self.fds.get(fd)?;
        match descriptor.kind {
            Kind::Dir { mount, ino, .. } => {
                descriptor.require(rights)?;
                Ok((mount, ino))
            }
            _ => Err(Errno::NotDir),
        }
    }

    /// Whether `flags` are valid `fdflags`.
    pub(crate) fn check_fdflags(flags: u16) -> Result<(), Errno> {
        if flags & !fdflags::ALL != 0 { Err(Errno::Inval) } else { Ok(()) }
    }
}
