//! wasmetal-fuzz: differential execution of wasmetal-runtime against Wasmtime.
//!
//! `diff` runs seeded wasm-smith modules on both engines and compares them (see
//! `diff::outcome` for the rules). The no-panic targets have their own runner,
//! `wasmetal-fuzz-targets`, which needs no Wasmtime.

mod diff;
mod seed;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Differential and no-panic fuzzing for wasmetal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Differential execution against Wasmtime over seeded wasm-smith modules.
    Diff {
        /// How many seeds to run.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// How many times each exported function is called (in export order, fresh
        /// arguments each time).
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Replay one seed and print both engines' outcomes.
        #[arg(long)]
        replay: Option<u64>,
        /// Where reproducers of divergences go.
        #[arg(long, default_value = "fuzz/reproducers")]
        out: PathBuf,
        /// Also write the first N generated modules there (a seed corpus for the kernel).
        #[arg(long, default_value_t = 0)]
        save_modules: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Diff { seeds, start, rounds, replay, out, save_modules } => {
            if let Some(seed) = replay {
                if !diff::replay(seed::Seed(seed), rounds)? {
                    bail!("seed {seed} diverges");
                }
                return Ok(());
            }
            if save_modules > 0 {
                std::fs::create_dir_all(&out)?;
                for seed in start..start + save_modules {
                    let case = diff::generate::case(seed::Seed(seed))?;
                    std::fs::write(out.join(format!("smith-{seed}.wasm")), &case.wasm)?;
                }
                return Ok(());
            }
            let began = Instant::now();
            let tally = diff::campaign(start, seeds, rounds, &out, false)?;
            println!(
                "diff: seeds {start}..{}: {} modules, {} executions compared, {} inconclusive (fuel/stack/epoch), \
                 {} rejected alike, {} divergences, {:.1} s",
                start + seeds,
                tally.modules,
                tally.executions,
                tally.inconclusive,
                tally.rejected_alike,
                tally.divergences.len(),
                began.elapsed().as_secs_f64()
            );
            if !tally.divergences.is_empty() {
                let seeds: Vec<u64> = tally.divergences.iter().map(|s| s.0).collect();
                bail!("divergent seeds: {seeds:?}");
            }
            Ok(())
        }
    }
}
