//! Physical frames, the kernel heap, and the kernel's address space.

pub mod address_space;
pub mod frames;
pub mod heap;
pub mod layout;
pub mod wasm_region;
