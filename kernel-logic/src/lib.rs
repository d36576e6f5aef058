//! The kernel's pure bookkeeping, built for the host too so `cargo test` reaches it.
//!
//! The kernel crate only builds for `x86_64-unknown-none`; what it decides with plain
//! data lives here instead: which wasm-region ranges are accessible ([`access_map`])
//! and which physical frames are free ([`frames`]). This crate must not touch hardware,
//! memory it does not own or global state: the kernel supplies the one memory access
//! the frame allocator needs ([`frames::FrameLinks`]) and keeps the instances.
#![no_std]

extern crate alloc;

pub mod access_map;
pub mod frames;
mod prelude;

/// Size of a base page in bytes.
pub const PAGE_SIZE: u64 = 4096;
