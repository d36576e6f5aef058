//! The long campaigns: `wasmetal-fuzz-targets <target> --seeds N [--start S]`.
//!
//! Seed S mutates corpus input `S mod len` (or, one seed in four, is fresh random bytes)
//! and runs the target; a panic is caught, the input written to `--out` and the seed
//! printed, and the campaign goes on. The same seed gives the same input everywhere.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use wasmetal_fuzz_targets::seed::{Rng, Seed};
use wasmetal_fuzz_targets::{corpus, mutate, targets};

#[derive(Parser)]
#[command(about = "Run a wasmetal fuzz target for many seeds")]
struct Cli {
    /// The target (module, wasi, initrd, p9, stdio_link, net).
    target: String,
    #[arg(long, default_value_t = 10_000)]
    seeds: u64,
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// More seed inputs: every file of this directory (e.g. built wasm programs).
    #[arg(long)]
    seeds_from: Vec<PathBuf>,
    /// Where inputs that panic are written.
    #[arg(long, default_value = "fuzz/reproducers")]
    out: PathBuf,
    /// Run one input file instead (a reproducer).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Write the seeds' inputs to this directory instead of running them (e.g. module
    /// mutants for `wasmetal kernel --append corpus --file F::corpus/NAME`).
    #[arg(long)]
    write_inputs: Option<PathBuf>,
}

/// The input seed `seed` stands for.
pub fn input_for(seed: Seed, pool: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed.0.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    if pool.is_empty() || seed.0.is_multiple_of(4) {
        let len = rng.below(max_len.min(4096) + 1);
        return seed.bytes(3, len);
    }
    mutate::mutate(&pool[(seed.0 as usize / 4) % pool.len()], &mut rng, max_len)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let Some(target) = targets::find(&cli.target) else {
        let names: Vec<&str> = targets::TARGETS.iter().map(|t| t.name).collect();
        bail!("no target {:?}; targets: {}", cli.target, names.join(", "));
    };
    if let Some(path) = cli.replay {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let reached = (target.run)(&bytes);
        println!("{}: {} ran without panic (parsed: {reached})", target.name, path.display());
        return Ok(());
    }
    let mut pool: Vec<Vec<u8>> = corpus::inputs(target.name).into_iter().map(|(_, bytes)| bytes).collect();
    for dir in &cli.seeds_from {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_file() {
                pool.push(std::fs::read(&path)?);
            }
        }
    }
    if let Some(dir) = cli.write_inputs {
        std::fs::create_dir_all(&dir)?;
        for seed in (cli.start..cli.start.saturating_add(cli.seeds)).map(Seed) {
            std::fs::write(
                dir.join(format!("{}-{}.bin", target.name, seed.0)),
                input_for(seed, &pool, target.max_len),
            )?;
        }
        return Ok(());
    }
    // Panics are reported by us, once, with the seed.
    std::panic::set_hook(Box::new(|_| {}));
    let began = Instant::now();
    let (mut reached, mut panics) = (0u64, Vec::new());
    for seed in (cli.start..cli.start.saturating_add(cli.seeds)).map(Seed) {
        let input = input_for(seed, &pool, target.max_len);
        match catch_unwind(AssertUnwindSafe(|| (target.run)(&input))) {
            Ok(got_in) => reached += u64::from(got_in),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                std::fs::create_dir_all(&cli.out)?;
                let path = cli.out.join(format!("crash-{}-{}.bin", target.name, seed.0));
                std::fs::write(&path, &input)?;
                eprintln!("PANIC {} seed {}: {message}\n  input: {}", target.name, seed.0, path.display());
                panics.push(seed.0);
            }
        }
        if (seed.0 - cli.start + 1).is_multiple_of(10_000) {
            eprintln!("{}: {} inputs, {:.0} s", target.name, seed.0 - cli.start + 1, began.elapsed().as_secs_f64());
        }
    }
    println!(
        "{}: seeds {}..{}: {} inputs, {reached} parsed past the first check, {} panics, {:.1} s",
        target.name,
        cli.start,
        cli.start + cli.seeds,
        cli.seeds,
        panics.len(),
        began.elapsed().as_secs_f64()
    );
    if !panics.is_empty() {
        bail!("panicking seeds: {panics:?}");
    }
    Ok(())
}
