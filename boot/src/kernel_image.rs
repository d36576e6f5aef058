//! The kernel this launcher carries: built for `x86_64-unknown-none` by the build script
//! and embedded in the binary, so an installed `wasmetal` needs no checkout. QEMU wants
//! a file, so the image is written once per kernel into the scratch directory, named by
//! its hash.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::workspace;

/// The kernel ELF.
pub static ELF: &[u8] = include_bytes!(env!("WASMETAL_KERNEL_ELF"));

/// FNV-1a of [`ELF`] (computed by the build script), naming the kernel.
pub const HASH: &str = env!("WASMETAL_KERNEL_HASH");

/// `--version`: the launcher's version and the kernel it carries.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (kernel ",
    env!("WASMETAL_KERNEL_HASH"),
    ", ",
    env!("WASMETAL_KERNEL_BYTES"),
    " bytes, x86_64-unknown-none, from ",
    env!("WASMETAL_SOURCE"),
    ")"
);

/// The runtime-only kernel (built without the compiler): it runs precompiled modules
/// only, and is smaller and quicker to boot.
pub static RUNTIME_ONLY_ELF: &[u8] = include_bytes!(env!("WASMETAL_RUNTIME_KERNEL_ELF"));

/// FNV-1a of [`RUNTIME_ONLY_ELF`].
pub const RUNTIME_ONLY_HASH: &str = env!("WASMETAL_RUNTIME_KERNEL_HASH");

/// The path of the carried kernel as a file, written there if it is not yet.
pub fn path() -> Result<PathBuf> {
    write_out(HASH, ELF)
}

/// The path of the carried runtime-only kernel as a file.
pub fn runtime_only_path() -> Result<PathBuf> {
    write_out(RUNTIME_ONLY_HASH, RUNTIME_ONLY_ELF)
}

fn write_out(hash: &str, elf: &[u8]) -> Result<PathBuf> {
    let dir = workspace::scratch_dir();
    let path = dir.join(format!("wasmetal-kernel-{hash}.elf"));
    if std::fs::metadata(&path).is_ok_and(|meta| meta.len() == elf.len() as u64) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Write aside and rename, so a concurrent launcher never boots half a kernel.
    let partial = dir.join(format!("wasmetal-kernel-{hash}.{}.partial", std::process::id()));
    std::fs::write(&partial, elf).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}
