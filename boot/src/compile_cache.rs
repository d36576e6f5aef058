//! The launcher's compile cache: artifacts of the modules it ran, so running one again
//! compiles nothing (on the host or in the VM).
//!
//! Owns the cache directory: `$WASMETAL_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmetal/
//! compiled`, else `~/.cache/wasmetal/compiled`. An entry is named by the SHA-256 of
//! what shapes the code (module bytes, CPU features, fuel, artifact format and runtime
//! build) and holds the SHA-256 of the artifact, then the artifact: a damaged entry is
//! detected before the kernel sees it, dropped and compiled again. Entries are written
//! aside and renamed (concurrent launchers never read half an entry); past the size
//! bound (`$WASMETAL_CACHE_MAX_MIB`, default 1024) the least recently used go first.
//! It must not compile (`compile_cmd` does).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::compile_cmd::{self, Target};

/// Default size bound of the cache.
pub const DEFAULT_MAX_MIB: u64 = 1024;
/// Entries end with this (anything else in the directory is left alone).
const SUFFIX: &str = ".cwasm-entry";

/// A cache directory with its size bound.
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
}

/// Where an artifact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Found in the cache.
    Hit,
    /// Compiled now (and stored).
    Compiled,
    /// The entry was damaged: dropped and compiled again.
    Recompiled,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    /// The user's cache (see the module docs for where).
    pub fn user() -> Option<Cache> {
        let dir = if let Some(dir) = std::env::var_os("WASMETAL_CACHE_DIR").filter(|d| !d.is_empty()) {
            PathBuf::from(dir)
        } else if let Some(cache) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            PathBuf::from(cache).join("wasmetal").join("compiled")
        } else {
            PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache/wasmetal/compiled")
        };
        let max_mib =
            std::env::var("WASMETAL_CACHE_MAX_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_MIB);
        Some(Cache { dir, max_bytes: max_mib << 20 })
    }

    /// A cache in `dir` holding at most `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> Cache {
        Cache { dir, max_bytes }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry path for `wasm` compiled for `target`.
    pub fn entry_path(&self, wasm: &[u8], target: Target) -> PathBuf {
        let mut key = Sha256::new();
        key.update(wasmetal_runtime::artifact::RUNTIME_VERSION.as_bytes());
        key.update(wasmetal_runtime::artifact::FORMAT_VERSION.to_le_bytes());
        key.update(target.cpu.bits().to_le_bytes());
        key.update([u8::from(target.fuel)]);
        key.update(Sha256::digest(wasm));
        self.dir.join(format!("{}{SUFFIX}", hex(&key.finalize())))
    }

    /// The artifact of `wasm` for `target`: from the cache, or compiled and stored.
    pub fn get_or_compile(&self, name: &str, wasm: &[u8], target: Target) -> Result<(Vec<u8>, Source)> {
        let path = self.entry_path(wasm, target);
        let mut source = Source::Compiled;
        if let Ok(entry) = std::fs::read(&path) {
            if let Some(artifact) = verified(&entry) {
                // Recently used: eviction goes by modification time.
                let _ =
                    std::fs::File::options().append(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()));
                return Ok((artifact.to_vec(), Source::Hit));
            }
            let _ = std::fs::remove_file(&path);
            source = Source::Recompiled;
        }
        let artifact = compile_cmd::compile(name, wasm, target)?;
        // A cache that cannot be written only costs the next run a compile.
        if let Err(error) = self.store(&path, &artifact) {
            eprintln!("wasmetal: not caching {name}: {error:#}");
        }
        Ok((artifact, source))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        // Unique per writer: threads of one process may store the same entry at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = path.with_extension(format!("{}-{write}.partial", std::process::id()));
        let mut entry = Sha256::digest(artifact).to_vec();
        entry.extend_from_slice(artifact);
        std::fs::write(&partial, &entry).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))?;
        self.evict()
    }

    /// Removes the least recently used entries until the cache fits its bound.
    fn evict(&self) -> Result<()> {
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = std::fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(SUFFIX))
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), entry.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            let _ = std::fs::remove_file(&path);
            total -= len;
        }
        Ok(())
    }
}

/// Replaces every wasm program of `spec` (main, `--task`s, `--preload`s) by its
/// artifact for `target`, from `cache` or compiled now; artifacts given by the user stay
/// as they are. With `verbose`, says where each came from.
pub fn precompile(cache: &Cache, spec: &mut crate::run::RunSpec, target: Target, verbose: bool) -> Result<()> {
    // Below what generated code needs, nothing compiles: the kernel says so itself.
    if !(target.cpu.sse41 && target.cpu.sse42) {
        return Ok(());
    }
    let mut programs: Vec<(&str, &mut Vec<u8>)> = vec![(spec.wasm_name.as_str(), &mut spec.wasm)];
    programs.extend(spec.extra_tasks.iter_mut().map(|(name, bytes, _)| (name.as_str(), bytes)));
    programs.extend(spec.preloads.iter_mut().map(|(name, bytes)| (name.as_str(), bytes)));
    for (name, bytes) in programs {
        if bytes.starts_with(&wasmetal_runtime::artifact::MAGIC) {
            continue;
        }
        if !bytes.starts_with(b"\0asm") {
            let what = "is neither a WebAssembly module nor a compiled module (.cwasm from `wasmetal compile`)";
            return Err(crate::exit_status::InputError(format!("{name} {what}")).into());
        }
        let started = std::time::Instant::now();
        let (artifact, source) = cache.get_or_compile(name, bytes, target)?;
        if verbose {
            let what = match source {
                Source::Hit => "found in the cache",
                Source::Compiled => "compiled on the host",
                Source::Recompiled => "compiled on the host again (its cache entry was damaged)",
            };
            eprintln!("wasmetal: {name}: {what} in {:.3} s ({})", started.elapsed().as_secs_f64(), cache.dir.display());
        }
        *bytes = artifact;
    }
    Ok(())
}

/// The artifact in `entry` when its digest matches.
fn verified(entry: &[u8]) -> Option<&[u8]> {
    let (digest, artifact) = entry.split_at_checked(32)?;
    (Sha256::digest(artifact).as_slice() == digest).then_some(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmetal_runtime::CpuFeatures;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wasmetal-cache-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    const TARGET: Target = Target { cpu: CpuFeatures::BASELINE, fuel: false };

    #[test]
    fn a_second_lookup_hits_and_a_damaged_entry_is_recompiled() {
        let dir = scratch("hit");
        let cache = Cache::new(dir.clone(), 1 << 30);
        let wasm = wat::parse_str("(module (func (export \"_start\")))").unwrap();
        let (first, source) = cache.get_or_compile("a", &wasm, TARGET).unwrap();
        assert_eq!(source, Source::Compiled);
        let (again, source) = cache.get_or_compile("a", &wasm, TARGET).unwrap();
        assert_eq!((source, &again), (Source::Hit, &first));
        // Other settings are another entry.
        let fuel = Target { fuel: true, ..TARGET };
        assert_ne!(cache.entry_path(&wasm, fuel), cache.entry_path(&wasm, TARGET));
        // A flipped code byte (which the runtime trusts) is caught by the entry's digest.
        let path = cache.entry_path(&wasm, TARGET);
        let mut entry = std::fs::read(&path).unwrap();
        let last = entry.len() - 1;
        entry[last] ^= 0x40;
        std::fs::write(&path, &entry).unwrap();
        let (fixed, source) = cache.get_or_compile("a", &wasm, TARGET).unwrap();
        assert_eq!((source, &fixed), (Source::Recompiled, &first));
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(cache.get_or_compile("a", &wasm, TARGET).unwrap().1, Source::Recompiled);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_size_bound_evicts_the_least_recently_used() {
        let dir = scratch("evict");
        let modules: Vec<Vec<u8>> =
            (0..3).map(|i| wat::parse_str(format!("(module (func (export \"f{i}\")))")).unwrap()).collect();
        let unbounded = Cache::new(dir.clone(), u64::MAX);
        let mut len = 0;
        for (age, module) in [(100, &modules[0]), (50, &modules[1])] {
            len = unbounded.get_or_compile("m", module, TARGET).unwrap().0.len() as u64 + 32;
            let when = SystemTime::now() - std::time::Duration::from_secs(age);
            let file = std::fs::File::options().append(true).open(unbounded.entry_path(module, TARGET)).unwrap();
            file.set_modified(when).unwrap();
        }
        // Room for two entries: the third pushes out the least recently used.
        let cache = Cache::new(dir.clone(), 2 * len + 16);
        cache.get_or_compile("m", &modules[2], TARGET).unwrap();
        assert!(!cache.entry_path(&modules[0], TARGET).exists(), "the oldest entry stayed");
        assert!(cache.entry_path(&modules[1], TARGET).exists() && cache.entry_path(&modules[2], TARGET).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
