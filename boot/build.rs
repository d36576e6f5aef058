//! Compiles the bundled demo program (WebAssembly text) and builds the kernel, both
//! embedded in the launcher (an installed `wasmetal` carries everything it boots).

use std::path::{Path, PathBuf};

#[path = "src/kernel_build.rs"]
mod kernel_build;

/// The directories whose sources make up the kernel.
const KERNEL_SOURCES: &[&str] = &["arch", "kernel", "kernel-logic", "devices", "runtime", "wasi", "initrd", "spec"];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    demo(&dir, &out);
    kernel(&dir, &out);
}

fn demo(dir: &Path, out: &Path) {
    let source = dir.join("demo/demo.wat");
    println!("cargo:rerun-if-changed={}", source.display());
    let binary = wat::parse_file(&source).unwrap_or_else(|error| panic!("{}: {error}", source.display()));
    std::fs::write(out.join("demo.wasm"), binary).expect("writing to OUT_DIR");
}

/// The target directory this build writes to: the nearest ancestor of OUT_DIR that
/// cargo tagged as one. The kernel builds under it in `kernel/`.
fn target_dir(out: &Path) -> PathBuf {
    out.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map_or_else(|| out.join("target"), Path::to_path_buf)
}

fn kernel(dir: &Path, out: &Path) {
    let root = dir.parent().expect("boot/ sits in the workspace");
    for source in KERNEL_SOURCES {
        println!("cargo:rerun-if-changed={}", root.join(source).display());
    }
    for file in
        [".git/HEAD", ".git/refs/heads", "Cargo.lock", "Cargo.toml", ".cargo/config.toml", "rust-toolchain.toml"]
    {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let elf = kernel_build::build(root, &target_dir(out).join("kernel"), true)
        .unwrap_or_else(|error| panic!("wasmetal: {error}"));
    let bytes = std::fs::read(&elf).unwrap_or_else(|error| panic!("reading {}: {error}", elf.display()));
    println!("cargo:rustc-env=WASMETAL_KERNEL_ELF={}", elf.display());
    println!("cargo:rustc-env=WASMETAL_KERNEL_HASH={:016x}", fnv1a(&bytes));
    println!("cargo:rustc-env=WASMETAL_KERNEL_BYTES={}", bytes.len());
    println!("cargo:rustc-env=WASMETAL_SOURCE={}", source_revision(root));
    // The runtime-only kernel (no Cranelift), booted when every workload is precompiled.
    let runtime_only = kernel_build::build_flavor(
        root,
        &target_dir(out).join("kernel-runtime-only"),
        true,
        kernel_build::Flavor::RuntimeOnly,
    )
    .unwrap_or_else(|error| panic!("wasmetal: runtime-only kernel: {error}"));
    let bytes =
        std::fs::read(&runtime_only).unwrap_or_else(|error| panic!("reading {}: {error}", runtime_only.display()));
    println!("cargo:rustc-env=WASMETAL_RUNTIME_KERNEL_ELF={}", runtime_only.display());
    println!("cargo:rustc-env=WASMETAL_RUNTIME_KERNEL_HASH={:016x}", fnv1a(&bytes));
}

/// 64-bit FNV-1a: a name for the image, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

/// The git commit the sources are at, or "sources" outside a git checkout.
fn source_revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) if !commit.is_empty() => format!("git {commit}"),
        _ => "sources".to_string(),
    }
}
