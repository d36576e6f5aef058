//! The wasm region's access map, with the kernel's page rights.
//!
//! The map itself (ranges, backing, committed bytes) is `wasmetal_kernel_logic`'s,
//! unit-tested on the host; the kernel's frame accounting keeps the one instance.

use crate::memory::address_space::Protection;

pub use wasmetal_kernel_logic::access_map::{Backing, ImageHandle};

/// Accessible ranges of the wasm region with their rights and backing.
pub type AccessMap = wasmetal_kernel_logic::access_map::AccessMap<Protection>;
/// One accessible range.
pub type Range = wasmetal_kernel_logic::access_map::Range<Protection>;
