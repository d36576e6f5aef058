//! Building the kernel ELF with a nested cargo for `x86_64-unknown-none`.
//!
//! Used by the launcher's build script, which embeds the result (see `kernel_image`),
//! so it depends on std alone. The kernel gets its own target directory (host builds
//! and kernel builds never evict each other's artifacts) and a cleaned environment:
//! RUSTFLAGS and friends meant for the host must not leak into a bare-metal build.
//! Cargo's own freshness check makes this a no-op when nothing changed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target triple of the kernel.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Host build settings that would break or change a bare-metal build (a build script
/// sees the outer cargo's, and its jobserver).
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
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_LLVM_COV",
    "LLVM_PROFILE_FILE",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_LINKER",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
];

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Makes sure the standard library of rustc target `target` (the bare-metal kernel's,
/// or wasm32-wasip1 for the test programs) is installed, running `rustup target add`
/// when it is not: rust-toolchain.toml names the targets, but rustup installs them only
/// along with a toolchain it installs itself.
pub fn ensure_target(root: &Path, target: &str) -> Result<(), String> {
    let sysroot = Command::new("rustc").arg("--print").arg("sysroot").current_dir(root).output();
    if let Ok(output) = sysroot {
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if Path::new(&sysroot).join("lib/rustlib").join(target).exists() {
            return Ok(());
        }
    }
    eprintln!("wasmetal: installing the {target} target (rustup target add)");
    let status = Command::new("rustup")
        .args(["target", "add", target])
        .current_dir(root)
        .status()
        .map_err(|error| format!("running rustup (is rustup installed?): {error}"))?;
    if !status.success() {
        return Err(format!("could not install the {target} target: run `rustup target add {target}`"));
    }
    Ok(())
}

/// Which kernel: with the compiler, or runtime-only (runs precompiled modules only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Full,
    RuntimeOnly,
}

/// Builds (or finds up to date) the kernel of the workspace at `root` into
/// `target_dir` and returns the ELF's path.
pub fn build(root: &Path, target_dir: &Path, quiet: bool) -> Result<PathBuf, String> {
    build_flavor(root, target_dir, quiet, Flavor::Full)
}

/// As [`build`], for `flavor` (each flavor wants its own `target_dir`: one output path
/// per target directory, and switching features would rebuild it every time).
pub fn build_flavor(root: &Path, target_dir: &Path, quiet: bool, flavor: Flavor) -> Result<PathBuf, String> {
    ensure_target(root, KERNEL_TARGET)?;
    let mut command = Command::new(cargo());
    command
        .current_dir(root)
        .args(["build", "--release", "-p", "wasmetal-kernel", "--target", KERNEL_TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    if flavor == Flavor::RuntimeOnly {
        command.arg("--no-default-features");
    }
    if quiet {
        command.arg("--quiet");
    }
    for var in LEAKY_VARS {
        command.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(|name| name.starts_with("CARGO_CFG_") || name.starts_with("CARGO_FEATURE_")) {
            command.env_remove(var);
        }
    }
    let status = command.status().map_err(|error| format!("running cargo to build the kernel: {error}"))?;
    if !status.success() {
        return Err("building the kernel failed (see cargo's output above)".into());
    }
    let elf = target_dir.join(KERNEL_TARGET).join("release").join("wasmetal-kernel");
    if !elf.exists() {
        return Err(format!("cargo succeeded but {} is missing", elf.display()));
    }
    Ok(elf)
}
