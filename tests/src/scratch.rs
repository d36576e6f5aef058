//! Scratch host directories for tests: fresh per test process, removed when dropped.

use std::path::PathBuf;

/// A fresh directory under the system's temp dir, named for the test binary's `kind`,
/// the test's `name` and this process, removed (with its contents) when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(kind: &str, name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("wasmetal-{kind}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        Scratch(dir)
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
