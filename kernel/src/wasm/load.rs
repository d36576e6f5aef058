//! Making a task's module from its initrd bytes: a precompiled artifact (`.cwasm`,
//! from `wasmetal compile` or the launcher's cache) is loaded without compiling, wasm
//! is compiled in the kernel.
//!
//! Owns the choice between the two and what the kernel trusts. It must not compile
//! itself (that is `compile`) nor check artifacts itself (the runtime does).

use core::fmt;

use wasmetal_runtime::artifact::MAGIC;
use wasmetal_runtime::{Engine, Error, Module};

use super::compile::{self, CompileError};

/// Why a module could not be made.
#[derive(Debug)]
pub enum LoadError {
    /// The wasm could not be compiled.
    Compile(CompileError),
    /// The artifact was refused (damaged, or for other settings, CPU or runtime).
    Artifact(Error),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Compile(error) => write!(f, "{error}"),
            LoadError::Artifact(error) => write!(f, "{error}"),
        }
    }
}

impl LoadError {
    /// What failed, for "Error: failed to VERB `name`".
    pub fn verb(&self) -> &'static str {
        match self {
            LoadError::Compile(_) => "compile",
            LoadError::Artifact(_) => "load",
        }
    }
}

/// Whether `bytes` is a precompiled artifact (by its magic; the runtime checks the rest).
pub fn is_artifact(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The module of `bytes` (the initrd's: they stay in memory, unchanged, until the VM
/// ends), loaded when it is an artifact, its code mapped where it lies, and compiled
/// when it is wasm.
pub fn load(engine: &Engine, bytes: &'static [u8]) -> Result<Module, LoadError> {
    if !is_artifact(bytes) {
        return compile::compile(engine, bytes).map_err(LoadError::Compile);
    }
    // The initrd is the launcher's, and its artifacts are the user's own program
    // compiled by `wasmetal compile` or the launcher's cache: the trust a program's code
    // has anyway (it is what the user asked to run). The runtime checks the header,
    // checksum and tables; only the code bytes are taken as they are.
    // SAFETY: bytes from this runtime's `serialize`, in reserved RAM nothing writes.
    unsafe { Module::deserialize_in_place(engine, bytes) }.map_err(LoadError::Artifact)
}
