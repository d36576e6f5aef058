//! The Cranelift target: x86-64 with the CPU features the platform reports.

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};

pub use crate::api::config::OptLevel;
pub use crate::cpu::CpuFeatures;
use crate::error::{Error, Result};
use crate::prelude::*;

fn set(builder: &mut dyn Configurable, name: &str, value: &str) -> Result<()> {
    builder.set(name, value).map_err(|error| Error::unsupported(format!("cranelift setting {name}={value}: {error}")))
}

/// Builds the x86-64 ISA for `features`.
pub fn build(features: &CpuFeatures, opt: OptLevel) -> Result<OwnedTargetIsa> {
    if !(features.sse41 && features.sse42) {
        return Err(Error::unsupported("this CPU lacks SSE4.1/SSE4.2, which generated code requires"));
    }
    let mut flags = settings::builder();
    set(&mut flags, "opt_level", if opt == OptLevel::Speed { "speed" } else { "none" })?;
    // Frame pointers give wasm backtraces without unwind tables.
    set(&mut flags, "preserve_frame_pointers", "true")?;
    set(&mut flags, "unwind_info", "false")?;
    set(&mut flags, "enable_probestack", "false")?;
    set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    set(&mut flags, "enable_heap_access_spectre_mitigation", "true")?;
    set(&mut flags, "enable_table_access_spectre_mitigation", "true")?;
    set(&mut flags, "is_pic", "false")?;
    // Multi-value functions may return more values than there are return registers;
    // Cranelift then passes a hidden return area (as Wasmtime configures it). Without
    // this, such a function failed to compile (found by the differential fuzzer).
    set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;

    let triple = cranelift_codegen::isa::lookup_by_name("x86_64-unknown-unknown")
        .map_err(|error| Error::unsupported(format!("x86-64 backend: {error}")))?;
    let mut isa_builder = triple;
    for (name, on) in [
        ("has_sse3", features.sse3),
        ("has_ssse3", features.ssse3),
        ("has_sse41", features.sse41),
        ("has_sse42", features.sse42),
        ("has_popcnt", features.popcnt),
        ("has_avx", features.avx),
        ("has_avx2", features.avx2),
        ("has_fma", features.fma),
        ("has_bmi1", features.bmi1),
        ("has_bmi2", features.bmi2),
        ("has_lzcnt", features.lzcnt),
    ] {
        set(&mut isa_builder, name, if on { "true" } else { "false" })?;
    }
    isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|error| Error::unsupported(format!("building the x86-64 backend: {error}")))
}
