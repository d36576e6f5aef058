//! wasm-smith configured for what wasmetal-runtime supports, and seeded modules.
//!
//! WebAssembly 2.0, SIMD and relaxed SIMD, multi-memory, memory64, tail calls, extended
//! constants; no imports (a module runs alone), every item exported, NaNs canonicalized
//! by the generated code so float results compare bit for bit across engines. Shared
//! by the differential fuzzer (`wasmetal-fuzz`) and the kernel corpus test; it only
//! generates, never runs anything.

use arbitrary::Unstructured;

use crate::seed::Seed;

/// Bytes of randomness a module is drawn from (wasm-smith stops drawing when they run
/// out, so this bounds the module's size too).
pub const MODULE_ENTROPY: usize = 16 * 1024;
/// The largest memory a module may declare (every memory has a maximum).
pub const MAX_MEMORY_BYTES: u64 = 16 * 65536;
/// The largest table a module may declare (every table has a maximum).
pub const MAX_TABLE_ELEMENTS: u64 = 1000;

/// The wasm-smith configuration both engines support.
pub fn config() -> wasm_smith::Config {
    wasm_smith::Config {
        max_imports: 0,
        export_everything: true,
        canonicalize_nans: true,
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        custom_descriptors_enabled: false,
        simd_enabled: true,
        relaxed_simd_enabled: true,
        memory64_enabled: true,
        tail_call_enabled: true,
        extended_const_enabled: true,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        multi_value_enabled: true,
        max_memories: 4,
        max_tables: 4,
        memory_max_size_required: true,
        table_max_size_required: true,
        max_memory32_bytes: MAX_MEMORY_BYTES,
        max_memory64_bytes: u128::from(MAX_MEMORY_BYTES),
        max_table_elements: MAX_TABLE_ELEMENTS,
        min_funcs: 6,
        max_funcs: 30,
        min_memories: 1,
        max_instructions: 300,
        min_types: 3,
        max_types: 40,
        ..wasm_smith::Config::default()
    }
}

/// The module seed `seed` stands for (`None` when wasm-smith gives up on the bytes).
pub fn module(seed: Seed) -> Option<Vec<u8>> {
    let entropy = seed.bytes(1, MODULE_ENTROPY);
    let mut unstructured = Unstructured::new(&entropy);
    wasm_smith::Module::new(config(), &mut unstructured).ok().map(|module| module.to_bytes())
}
