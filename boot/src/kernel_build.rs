//! Building the kernel ELF with a nested cargo for `x86_64-unknown-none`.
//!
//! The kernel gets its own target directory (so host builds and kernel builds never
//! evict each other's artifacts) and a cleaned environment: RUSTFLAGS and friends meant
//! for the host must not leak into a bare-metal build. Cargo's own freshness check
//! makes this a no-op when nothing changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace;

/// The target triple of the kernel.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Host build settings that would break or change a bare-metal build.
const LEAKY_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_LLVM_COV",
    "LLVM_PROFILE_FILE",
];

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Makes sure the bare-metal target's standard library is installed.
fn ensure_target(root: &Path) -> Result<()> {
    let sysroot = Command::new("rustc").arg("--print").arg("sysroot").current_dir(root).output();
    if let Ok(output) = sysroot {
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if Path::new(&sysroot).join("lib/rustlib").join(KERNEL_TARGET).exists() {
            return Ok(());
        }
    }
    eprintln!("wasmetal: installing the {KERNEL_TARGET} target (rustup target add)");
    let status = Command::new("rustup")
        .args(["target", "add", KERNEL_TARGET])
        .current_dir(root)
        .status()
        .context("running rustup (is rustup installed?)")?;
    if !status.success() {
        bail!("could not install the {KERNEL_TARGET} target: run `rustup target add {KERNEL_TARGET}`");
    }
    Ok(())
}

/// Builds (or finds up to date) the kernel and returns the ELF's path.
pub fn build(quiet: bool) -> Result<PathBuf> {
    let root = workspace::root();
    ensure_target(&root)?;
    let target_dir = workspace::target_dir().join("kernel");
    let mut command = Command::new(cargo());
    command
        .current_dir(&root)
        .args(["build", "--release", "-p", "wasmetal-kernel", "--target", KERNEL_TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    if quiet {
        command.arg("--quiet");
    }
    for var in LEAKY_VARS {
        command.env_remove(var);
    }
    let status = command.status().context("running cargo to build the kernel")?;
    if !status.success() {
        bail!("building the kernel failed (see cargo's output above)");
    }
    let elf = target_dir.join(KERNEL_TARGET).join("release").join("wasmetal-kernel");
    if !elf.exists() {
        bail!("cargo succeeded but {} is missing", elf.display());
    }
    Ok(elf)
}
