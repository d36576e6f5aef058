//! Where the launcher keeps its files: the checkout's target directory when it runs
//! from one, else a per-user cache directory (an installed `wasmetal` has no checkout).

use std::path::PathBuf;

/// The checkout the launcher was built from, if it is still there.
pub fn checkout() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent()?.to_path_buf();
    root.join("kernel").join("Cargo.toml").is_file().then_some(root)
}

/// The checkout's root; only development commands (benchmarks that build programs)
/// need it, so its absence is their error.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The directory for the launcher's scratch files (kernel image, initrds, the TSC
/// cache): CARGO_TARGET_DIR or the checkout's `target/`, else `$XDG_CACHE_HOME/wasmetal`,
/// `~/.cache/wasmetal` or the temporary directory.
pub fn scratch_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(root) = checkout() {
        return root.join("target");
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(cache).join("wasmetal");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(home).join(".cache").join("wasmetal");
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("wasmetal-{uid}"))
}
