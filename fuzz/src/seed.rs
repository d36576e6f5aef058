//! Seeds, shared with the no-panic targets so a seed names one module everywhere.
//!
//! The same type and byte streams as `wasmetal_fuzz_targets::seed`: a seed names the
//! same module in `diff`, in `wasmetal-fuzz-targets` and in the kernel corpus test.

pub use wasmetal_fuzz_targets::seed::Seed;
