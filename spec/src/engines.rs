//! Which features each suite is run with, shared by the host test and the kernel.
//!
//! The 1.0 and 2.0 suites test exactly those versions (their `assert_invalid`s reject
//! multiple memories, for instance); the memory64 proposal is written against 2.0 and
//! so allows one memory; the other proposal suites run with every feature.

use wasmetal_runtime::Config;

/// Adjusts `config` for the suite named `suite` (`wasm-v1`, `memory64`, ...).
pub fn configure(config: &mut Config, suite: &str) {
    if suite.starts_with("wasm-v") {
        config.wasm_tail_call(false).wasm_extended_const(false).wasm_multi_memory(false).wasm_memory64(false);
    } else if suite == "memory64" {
        config.wasm_multi_memory(false);
    }
}

/// The suites with distinct configurations, for callers that keep one engine each.
pub fn config_key(suite: &str) -> &'static str {
    if suite.starts_with("wasm-v") {
        "base"
    } else if suite == "memory64" {
        "memory64"
    } else {
        "full"
    }
}

/// Turns on fuel metering and epoch checks (the suites' second pass).
pub fn instrument(config: &mut Config) {
    config.consume_fuel(true).epoch_interruption(true);
}

/// Whether `suite` gets a third pass with relaxed SIMD in its deterministic mode (the
/// relaxed-simd suite accepts either mode's results).
pub fn has_deterministic_pass(suite: &str) -> bool {
    suite == "relaxed-simd"
}

/// Relaxed SIMD operators take their deterministic meaning (the third pass).
pub fn deterministic(config: &mut Config) {
    config.relaxed_simd_deterministic(true);
}
