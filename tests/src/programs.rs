//! The WASI test programs of `tests/programs`, built for wasm32-wasip1 once per test
//! binary.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Host build settings that must not leak into the nested wasm build.
const LEAKY_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The path of program `name` (e.g. "hello"), building all programs on first use.
pub fn program(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = root();
        let target = root.join("target").join("programs");
        if let Err(error) = wasmetal::kernel_build::ensure_target(&root, "wasm32-wasip1") {
            panic!("{error}");
        }
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command
            .current_dir(&root)
            .args(["build", "--release", "--quiet", "--target", "wasm32-wasip1", "--manifest-path"])
            .arg(root.join("tests/programs/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target);
        for var in LEAKY_VARS {
            command.env_remove(var);
        }
        let status = command.status().expect("running cargo for the wasm32-wasip1 test programs");
        assert!(
            status.success(),
            "building tests/programs for wasm32-wasip1 failed (rustup target add wasm32-wasip1?)"
        );
        target.join("wasm32-wasip1").join("release")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "no test program {}", path.display());
    path
}
