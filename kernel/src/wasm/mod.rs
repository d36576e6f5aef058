//! The kernel as a host for wasmetal-runtime: its platform, wasm stacks, and the
//! engine configured for this machine.
//!
//! The platform seam is split by job: `platform` (the runtime's `Platform`, an adapter),
//! `accounting` (what is committed, frames promised), `pager` (frames mapped on demand
//! and freed), `image` (memory images); the activation slot is the scheduler's.

pub mod access_map;
pub mod accounting;
pub mod bench;
pub mod compile;
pub mod engine;
pub mod image;
pub mod load;
pub mod pager;
pub mod pager_stats;
pub mod platform;
pub mod run;
pub mod spec;
pub mod stack;
pub mod system;
