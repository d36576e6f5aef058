//! Physical frames, the kernel heap, the kernel's address space, and the memory
//! routines (`memcpy` and friends) compiled code calls.

pub mod address_space;
pub mod frames;
pub mod heap;
pub mod layout;
pub mod lendable;
pub mod ram_ranges;
pub mod routines;
pub mod wasm_region;
