//! No-panic fuzz targets: every parser and host interface fed arbitrary bytes.
//!
//! Each target takes one input (bytes) and must return normally whatever the bytes
//! are: a typed error is fine, a panic, a hang or an out-of-bounds host access is a
//! bug. `cargo test` replays `fuzz/corpus/<target>/` plus seeded mutations of it; the
//! `wasmetal-fuzz-targets` binary runs the long seeded campaigns. Nothing here needs
//! Wasmtime (the differential fuzzer is the `wasmetal-fuzz` crate).

pub mod corpus;
pub mod mutate;
pub mod seed;
pub mod smith;
pub mod targets;

pub use targets::{TARGETS, Target};
