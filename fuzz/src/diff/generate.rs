//! Differential cases: a seed's module and the bytes its call arguments come from.
//!
//! The module comes from `wasmetal_fuzz_targets::smith` (shared with the kernel corpus
//! test); this module adds only the argument stream. It must not depend on anything
//! but the seed.

use anyhow::{Result, anyhow};

use crate::seed::Seed;

pub use wasmetal_fuzz_targets::smith::{MAX_MEMORY_BYTES, MAX_TABLE_ELEMENTS};

/// Bytes the call arguments are drawn from.
const ARGUMENT_ENTROPY: usize = 4 * 1024;

/// One differential case.
pub struct Case {
    pub wasm: Vec<u8>,
    pub argument_bytes: Vec<u8>,
}

/// The case a seed stands for.
pub fn case(seed: Seed) -> Result<Case> {
    let wasm = wasmetal_fuzz_targets::smith::module(seed)
        .ok_or_else(|| anyhow!("wasm-smith could not build a module from seed {}", seed.0))?;
    Ok(Case { wasm, argument_bytes: seed.bytes(2, ARGUMENT_ENTROPY) })
}
