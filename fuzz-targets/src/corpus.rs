//! The checked-in corpus: `fuzz/corpus/<target>/*`, small inputs kept because each
//! reaches somewhere new, plus reproducers of bugs found (named `crash-*`). A `.wat`
//! file is kept as text (readable, reviewable) and handed to targets as binary.

use std::path::{Path, PathBuf};

/// The corpus directory of `target` in this checkout.
pub fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

/// Every file of `target`'s corpus, sorted by name (empty when there is none).
pub fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir(target)) else { return Vec::new() };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| {
            let path = entry.path();
            let bytes = std::fs::read(&path).ok()?;
            let bytes = match path.extension() {
                Some(ext) if ext == "wat" => wat::parse_bytes(&bytes).ok()?.into_owned(),
                _ => bytes,
            };
            Some((entry.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    files.sort();
    files
}
