//! The engine settings a seed runs under, and the pair of engines for each.
//!
//! Fuel is always on (it is what bounds a generated infinite loop in both engines);
//! seeds rotate through on-demand and pooling allocation, with and without epoch
//! interruption (a ticker thread advances both engines' epochs every millisecond and
//! a store traps 5 ticks after a call starts).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::generate::{MAX_MEMORY_BYTES, MAX_TABLE_ELEMENTS};
use super::outcome::Outcome;
use super::{generate::Case, run_wasmetal, run_wasmtime};
use crate::seed::Seed;

/// Fuel each call (and the instantiation) starts with.
pub const FUEL_PER_CALL: u64 = 100_000;
/// Epoch ticks a call may run before it is interrupted (epoch settings only).
pub const EPOCH_TICKS_PER_CALL: u64 = 5;
const POOL_SLOTS: u32 = 64;

/// One engine configuration, shared by both engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub epochs: bool,
    pub pooling: bool,
}

impl Settings {
    pub const ALL: [Settings; 4] = [
        Settings { epochs: false, pooling: false },
        Settings { epochs: true, pooling: false },
        Settings { epochs: false, pooling: true },
        Settings { epochs: true, pooling: true },
    ];

    pub fn for_seed(seed: Seed) -> Settings {
        Self::ALL[(seed.0 % 4) as usize]
    }

    fn index(self) -> usize {
        usize::from(self.epochs) + 2 * usize::from(self.pooling)
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fuel")?;
        if self.epochs {
            f.write_str("+epochs")?;
        }
        f.write_str(if self.pooling { "+pooling" } else { "+on-demand" })
    }
}

/// The two engines of one setting.
pub struct Pair {
    pub ours: wasmetal_runtime::Engine,
    pub theirs: wasmtime::Engine,
}

/// Engines are made once per setting and reused for every seed (as an embedder would).
pub struct Engines {
    pairs: [Option<Pair>; 4],
    stop: Arc<AtomicBool>,
}

impl Engines {
    pub fn new() -> Result<Self> {
        Ok(Self { pairs: [None, None, None, None], stop: Arc::new(AtomicBool::new(false)) })
    }

    /// Runs `case` on both engines of `settings`.
    pub fn run(&mut self, case: &Case, settings: Settings, rounds: usize) -> Result<(Outcome, Outcome)> {
        let index = settings.index();
        if self.pairs[index].is_none() {
            self.pairs[index] = Some(self.make(settings)?);
        }
        let pair = self.pairs[index].as_ref().expect("made above");
        let ours = run_wasmetal::run(&pair.ours, case, settings, rounds);
        let theirs = run_wasmtime::run(&pair.theirs, case, settings, rounds);
        Ok((ours, theirs))
    }

    fn make(&self, settings: Settings) -> Result<Pair> {
        let ours = wasmetal_engine(settings)?;
        let theirs = wasmtime_engine(settings)?;
        if settings.epochs {
            let (ours, theirs, stop) = (ours.clone(), theirs.clone(), Arc::clone(&self.stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                    ours.increment_epoch();
                    theirs.increment_epoch();
                }
            });
        }
        Ok(Pair { ours, theirs })
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn wasmetal_engine(settings: Settings) -> Result<wasmetal_runtime::Engine> {
    use wasmetal_runtime::{Config, InstanceAllocationStrategy, PoolingConfig};
    let mut config = Config::new();
    config.consume_fuel(true).epoch_interruption(settings.epochs).relaxed_simd_deterministic(true);
    if settings.pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(PoolingConfig {
            max_instances: POOL_SLOTS,
            max_memories: POOL_SLOTS * 4,
            max_memory_pages: MAX_MEMORY_BYTES / 65536,
            max_tables: POOL_SLOTS * 4,
            max_table_elements: MAX_TABLE_ELEMENTS,
        }));
    }
    wasmetal_runtime::Engine::new(&config).map_err(|error| anyhow!("wasmetal engine: {error}"))
}

fn wasmtime_engine(settings: Settings) -> Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(settings.epochs)
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
        .relaxed_simd_deterministic(true)
        .wasm_multi_memory(true)
        .wasm_memory64(true)
        .wasm_tail_call(true)
        .wasm_extended_const(true)
        .wasm_wide_arithmetic(false)
        .wasm_gc(false)
        .wasm_function_references(false)
        .wasm_custom_page_sizes(false);
    if settings.pooling {
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_core_instances(POOL_SLOTS)
            .total_memories(POOL_SLOTS * 4)
            .total_tables(POOL_SLOTS * 4)
            .max_memories_per_module(4)
            .max_tables_per_module(4)
            .max_memory_size(MAX_MEMORY_BYTES as usize)
            .table_elements(MAX_TABLE_ELEMENTS as usize);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    wasmtime::Engine::new(&config).map_err(|error| anyhow!("wasmtime engine: {error}"))
}
