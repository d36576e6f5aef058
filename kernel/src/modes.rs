//! What the kernel does once booted, as its command line asks: a self-test, the spec
//! suites, the in-kernel benchmarks, a fuzz corpus replay, the soak run, the programs of
//! the initrd, the CPU features wasm code may use, a fixed exit status, or the demo
//! listing. Boot itself is `main.rs`'s.

use crate::boot_info::BootInfo;
use crate::{log, stat};

/// Runs the mode the command line names; returns the exit status.
pub fn run(boot: &BootInfo) -> u32 {
    match (boot.option("test"), boot.option("exit")) {
        (Some(name), _) => crate::selftest::run(name).unwrap_or_else(|| {
            log!("no such selftest: {name}");
            1
        }),
        (None, _) if boot.option("spec").is_some() => crate::wasm::spec::run(boot.initrd_bytes().unwrap_or(&[])),
        (None, _) if boot.option("bench").is_some() => crate::wasm::bench::run(
            boot.initrd_bytes().unwrap_or(&[]),
            boot.option("loop_n").and_then(|v| v.parse().ok()).unwrap_or(50_000_000),
        ),
        (None, _) if boot.option("corpus").is_some() => crate::corpus_replay::run(boot.initrd_bytes().unwrap_or(&[])),
        (None, _) if boot.option("soak").is_some() => crate::soak::run(boot.initrd_bytes().unwrap_or(&[])),
        (None, _) if boot.option("run").is_some() => crate::wasm::run::run(
            boot.initrd_bytes().unwrap_or(&[]),
            boot.option("epoch_ns").and_then(|v| v.parse().ok()),
            boot.option("seed").and_then(parse_seed),
        ),
        // What generated code may use here, for the launcher's host compiles.
        (None, _) if boot.option("cpu_features").is_some() => {
            let cpu = crate::wasm::engine::CPU.get().map_or(0, |cpu| cpu.bits());
            log!("wasmetal: cpu-features {cpu:#x}");
            0
        }
        // `exit=N`: report status N at once (exercises the exit protocol end to end).
        (None, Some(value)) => value.parse().unwrap_or(1),
        (None, None) => demo(boot),
    }
}

/// What the kernel does when asked for nothing in particular: list the initrd.
fn demo(boot: &BootInfo) -> u32 {
    let Some(initrd) = boot.initrd_bytes() else {
        stat!("demo: kernel up, no initrd");
        return 0;
    };
    log!("demo: initrd of {} bytes", initrd.len());
    for entry in wasmetal_initrd::entries(initrd) {
        match entry {
            Ok(file) => log!("initrd: {} {} bytes fnv1a {:016x}", file.name, file.data.len(), fnv1a(file.data)),
            Err(error) => {
                log!("{error}");
                return 1;
            }
        }
    }
    0
}

/// Parses 64 hex digits into a 32-byte seed.
fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (index, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(seed)
}

/// FNV-1a, 64-bit: a checksum the host side can recompute to check the bytes arrived.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}
