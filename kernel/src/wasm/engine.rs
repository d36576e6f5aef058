//! The wasm engine for this machine: kernel platform, cpuid-detected features, stack
//! limits matching the kernel's wasm stacks.

use spin::Once;
use wasmetal_runtime::{Config, CpuFeatures, Engine};

/// The features generated code may use, set once at boot.
pub static CPU: Once<CpuFeatures> = Once::new();

use super::platform::KERNEL_PLATFORM;
use super::stack::{HOST_STACK_RESERVE, WASM_STACK_BYTES};

/// What generated code may use, from cpuid and the enabled vector state.
pub fn cpu_features(features: &wasmetal_arch::cpu::CpuFeatures, avx_enabled: bool) -> CpuFeatures {
    CpuFeatures {
        sse3: features.sse3,
        ssse3: features.ssse3,
        sse41: features.sse41,
        sse42: features.sse42,
        popcnt: features.popcnt,
        avx: features.avx && avx_enabled,
        avx2: features.avx2 && avx_enabled,
        fma: features.fma && avx_enabled,
        bmi1: features.bmi1,
        bmi2: features.bmi2,
        lzcnt: features.lzcnt,
    }
}

/// Stack wasm may use, as Wasmtime allows by default: a program that recurses without
/// bound gets the same `call stack exhausted` trap it would get there.
const MAX_WASM_STACK: u64 = 512 * 1024;

/// Physical memory kept back from linear memories (page tables, task stacks, code).
const MEMORY_RESERVE: u64 = 32 << 20;

/// A configuration for this kernel; callers adjust features and limits.
///
/// Linear memories are demand-paged, so their size is capped by the free physical
/// memory at the time: growing past it fails cleanly (`memory.grow` returns -1)
/// instead of faulting later for want of a frame.
pub fn config(cpu: CpuFeatures) -> Config {
    let free = crate::memory::frames::with(|frames| frames.stats().free_frames) * crate::memory::layout::PAGE_SIZE;
    let mut config = Config::new();
    config
        .platform(&KERNEL_PLATFORM)
        .cpu_features(cpu)
        .max_memory_bytes(free.saturating_sub(MEMORY_RESERVE).max(1 << 20))
        .max_wasm_stack(MAX_WASM_STACK.min(WASM_STACK_BYTES - HOST_STACK_RESERVE) as usize);
    config
}

/// An engine with [`config`] for the boot-time CPU features.
pub fn new() -> wasmetal_runtime::Result<Engine> {
    Engine::new(&config(*CPU.get().expect("CPU features are recorded at boot")))
}
