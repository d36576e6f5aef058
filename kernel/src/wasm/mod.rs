//! The kernel as a host for wasmetal-runtime: its platform, wasm stacks, and the
//! engine configured for this machine.

pub mod access_map;
pub mod bench;
pub mod compile;
pub mod engine;
pub mod image;
pub mod platform;
pub mod run;
pub mod spec;
pub mod stack;
pub mod system;
