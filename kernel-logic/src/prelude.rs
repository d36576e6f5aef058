//! The `alloc` types the modules of this no_std crate use.

pub use alloc::collections::BTreeMap;
pub use alloc::vec::Vec;
