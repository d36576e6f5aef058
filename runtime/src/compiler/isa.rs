//! The Cranelift target: x86-64 with the CPU features the platform reports.

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};

use crate::error::{Error, Result};
use crate::prelude::*;

/// x86-64 features Cranelift can use, as detected by cpuid (kernel) or the host's
/// feature detection (hosted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuFeatures {
    pub sse3: bool,
    pub ssse3: bool,
    pub sse41: bool,
    pub sse42: bool,
    pub popcnt: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub bmi1: bool,
    pub bmi2: bool,
    pub lzcnt: bool,
}

impl CpuFeatures {
    /// x86-64-v2 (SSE4.2, POPCNT): the minimum this runtime generates code for, since
    /// `f32.floor` and friends then need no library calls.
    pub const BASELINE: CpuFeatures = CpuFeatures {
        sse3: true,
        ssse3: true,
        sse41: true,
        sse42: true,
        popcnt: true,
        avx: false,
        avx2: false,
        fma: false,
        bmi1: false,
        bmi2: false,
        lzcnt: false,
    };

    /// The host's features (hosted builds only).
    #[cfg(feature = "std")]
    pub fn detect_host() -> CpuFeatures {
        CpuFeatures {
            sse3: std::is_x86_feature_detected!("sse3"),
            ssse3: std::is_x86_feature_detected!("ssse3"),
            sse41: std::is_x86_feature_detected!("sse4.1"),
            sse42: std::is_x86_feature_detected!("sse4.2"),
            popcnt: std::is_x86_feature_detected!("popcnt"),
            avx: std::is_x86_feature_detected!("avx"),
            avx2: std::is_x86_feature_detected!("avx2"),
            fma: std::is_x86_feature_detected!("fma"),
            bmi1: std::is_x86_feature_detected!("bmi1"),
            bmi2: std::is_x86_feature_detected!("bmi2"),
            lzcnt: std::is_x86_feature_detected!("lzcnt"),
        }
    }
}

/// Optimization level of generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    None,
    Speed,
}

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
