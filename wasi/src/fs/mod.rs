//! The filesystem the guest sees: an in-memory tree (`mem`) and path resolution
//! relative to a directory descriptor that never leaves that directory (`path`).

pub mod mem;
pub mod path;

pub use mem::{Filesystem, Ino, NodeKind, Stat};
pub use path::{Last, Lookup, resolve};
