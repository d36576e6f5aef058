//! The WebAssembly spec test suite as scripts: converted from `.wast` on the host
//! (feature `wast`), encoded for transport, and executed by a `no_std` runner, the same
//! one on the host and inside the kernel.
#![no_std]

extern crate alloc;

#[cfg(feature = "wast")]
pub mod convert;
#[cfg(feature = "exec")]
pub mod engines;
#[cfg(feature = "exec")]
pub mod exec;
pub mod script;
#[cfg(feature = "exec")]
pub mod spectest;

/// Where a converted script goes in an initrd: `spec/<suite>/<file>`.
pub fn initrd_name(suite: &str, file: &str) -> alloc::string::String {
    alloc::format!("spec/{suite}/{file}")
}

/// Files of the suites whose failures are known and explained. Each entry names the
/// file and why; the list must shrink to empty. (It is empty.)
pub const SKIP: &[(&str, &str)] = &[];
