//! Why an artifact was refused: each variant says what to do about it.
//!
//! Owns the error type of `Module::deserialize`; it must not describe anything but
//! artifacts (module and runtime errors have their own kinds).

use core::fmt;

use crate::prelude::*;

/// A serialized module that this runtime will not load.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The bytes do not start with the artifact magic: not a `.cwasm` at all.
    NotAnArtifact,
    /// Written in another layout of the format.
    FormatVersion { found: u32, expected: u32 },
    /// Written by another build of the runtime (its code assumes that build's layouts).
    RuntimeVersion { found: String, expected: String },
    /// Compiled with engine settings that change code, differently from this engine's.
    Settings { setting: &'static str, artifact: String, engine: String },
    /// The code uses CPU features this engine may not use.
    CpuFeatures { missing: String },
    /// The bytes end inside `what`.
    Truncated { what: &'static str, offset: usize },
    /// `what` holds a value that cannot be right (an index, length or offset out of
    /// range, an unknown tag, a checksum that does not match).
    Corrupt { what: &'static str, offset: usize, detail: String },
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactError::NotAnArtifact => {
                f.write_str("not a compiled module (no .cwasm magic): pass a .cwasm from `wasmetal compile`")
            }
            ArtifactError::FormatVersion { found, expected } => write!(
                f,
                "compiled module has artifact format {found}, this runtime reads format {expected}: recompile it"
            ),
            ArtifactError::RuntimeVersion { found, expected } => {
                write!(f, "compiled module was built by wasmetal-runtime {found}, this is {expected}: recompile it")
            }
            ArtifactError::Settings { setting, artifact, engine } => write!(
                f,
                "compiled module was built with {setting} = {artifact}, this engine has {engine}: recompile it \
                 with the engine's settings"
            ),
            ArtifactError::CpuFeatures { missing } => write!(
                f,
                "compiled module uses CPU features this machine lacks ({missing}): recompile it for this CPU \
                 (`wasmetal compile --target-cpu`)"
            ),
            ArtifactError::Truncated { what, offset } => {
                write!(f, "compiled module is truncated: it ends inside {what} (at byte {offset})")
            }
            ArtifactError::Corrupt { what, offset, detail } => {
                write!(f, "compiled module is damaged: {what} at byte {offset}: {detail}")
            }
        }
    }
}
