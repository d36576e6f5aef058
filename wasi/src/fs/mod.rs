//! The filesystems the guest sees: the `FileSystem` trait backends implement, an
//! in-memory tree (`mem`), and path resolution relative to a directory descriptor
//! that never leaves that directory (`path`).

pub mod filesystem;
pub mod mem;
pub mod path;

pub use filesystem::{Access, DirEntry, FileSystem, Handle, MountId};
pub use mem::{Ino, MemTree, NodeKind, Stat};
pub use path::{Last, Lookup, resolve};
