//! Differential execution: wasm-smith modules run on wasmetal-runtime and Wasmtime.
//!
//! Owns the seeded loop (`diff --seeds N --start S`), the reproducer files and the
//! comparison of the two engines' outcomes; it must not depend on timing, so a seed
//! gives the same module, arguments and verdict on every run.

pub mod generate;
pub mod outcome;
pub mod run_wasmetal;
pub mod run_wasmtime;
pub mod settings;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::seed::Seed;
use outcome::{Comparison, compare};
use settings::Settings;

/// What one `diff` campaign did.
#[derive(Debug, Default)]
pub struct Tally {
    pub modules: u64,
    /// Export calls compared (one differential execution each).
    pub executions: u64,
    /// Calls not compared because an engine ran out of fuel, overflowed its stack or
    /// was interrupted (the engines count those differently; see `outcome`).
    pub inconclusive: u64,
    /// Modules both engines refused to instantiate alike (a start trap counts).
    pub rejected_alike: u64,
    pub divergences: Vec<Seed>,
}

/// Runs `count` seeds from `start`; every divergence is written to `repro_dir`.
pub fn campaign(start: u64, count: u64, rounds: usize, repro_dir: &Path, quiet: bool) -> Result<Tally> {
    let mut engines = settings::Engines::new()?;
    let mut tally = Tally::default();
    let began = Instant::now();
    for seed in (start..start.saturating_add(count)).map(Seed) {
        let case = generate::case(seed)?;
        let settings = Settings::for_seed(seed);
        let (ours, theirs) = engines.run(&case, settings, rounds)?;
        tally.modules += 1;
        match compare(&ours, &theirs) {
            Comparison::Same { executions, inconclusive, rejected } => {
                tally.executions += executions;
                tally.inconclusive += inconclusive;
                tally.rejected_alike += u64::from(rejected);
            }
            Comparison::Diverged(why) => {
                let path = write_reproducer(repro_dir, seed, &case.wasm, &why, settings, rounds)?;
                eprintln!("DIVERGENCE seed {} ({settings}): {why}\n  reproducer: {}", seed.0, path.display());
                tally.divergences.push(seed);
            }
        }
        if !quiet && tally.modules.is_multiple_of(1000) {
            eprintln!(
                "diff: {} modules, {} executions, {} inconclusive, {} divergences, {:.0} s",
                tally.modules,
                tally.executions,
                tally.inconclusive,
                tally.divergences.len(),
                began.elapsed().as_secs_f64()
            );
        }
    }
    Ok(tally)
}

/// Replays one seed verbosely: both outcomes printed.
pub fn replay(seed: Seed, rounds: usize) -> Result<bool> {
    let mut engines = settings::Engines::new()?;
    let case = generate::case(seed)?;
    let settings = Settings::for_seed(seed);
    let (ours, theirs) = engines.run(&case, settings, rounds)?;
    println!("seed {} ({settings}), {} bytes of wasm", seed.0, case.wasm.len());
    println!("wasmetal: {ours:#?}");
    println!("wasmtime: {theirs:#?}");
    let same = matches!(compare(&ours, &theirs), Comparison::Same { .. });
    match compare(&ours, &theirs) {
        Comparison::Same { .. } => println!("same"),
        Comparison::Diverged(why) => println!("DIVERGED: {why}"),
    }
    Ok(same)
}

fn write_reproducer(
    dir: &Path,
    seed: Seed,
    wasm: &[u8],
    why: &str,
    settings: Settings,
    rounds: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("diff-{}.wasm", seed.0));
    std::fs::write(&path, wasm).with_context(|| format!("writing {}", path.display()))?;
    let note = format!(
        "seed {}\nsettings {settings}\n{why}\nreplay: cargo run --release -p wasmetal-fuzz -- diff --rounds {rounds} --replay {}\n",
        seed.0, seed.0
    );
    std::fs::write(path.with_extension("txt"), note)?;
    Ok(path)
}
