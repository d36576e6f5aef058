//! Engine configuration.

use crate::cpu::CpuFeatures;
use crate::module::environ::Features;
use crate::platform::Platform;

pub use crate::vm::pool::PoolingConfig;

/// Optimization level of generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    None,
    Speed,
}

/// How instances, memories and tables are allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InstanceAllocationStrategy {
    /// Allocate on demand for every instantiation.
    #[default]
    OnDemand,
    /// Reuse memory slots, table buffers and `VMContext`s across instantiations, within
    /// these limits.
    Pooling(PoolingConfig),
}

/// Settings of an [`Engine`](crate::Engine).
#[derive(Clone)]
pub struct Config {
    pub(crate) cpu_features: Option<CpuFeatures>,
    pub(crate) opt_level: OptLevel,
    pub(crate) platform: Option<&'static dyn Platform>,
    pub(crate) max_wasm_stack: usize,
    pub(crate) epoch_interruption: bool,
    pub(crate) consume_fuel: bool,
    pub(crate) max_memory_bytes: u64,
    pub(crate) allocation_strategy: InstanceAllocationStrategy,
    pub(crate) features: Features,
    pub(crate) relaxed_simd_deterministic: bool,
    pub(crate) parallel_compilation: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cpu_features: None,
            opt_level: OptLevel::Speed,
            platform: None,
            max_wasm_stack: 512 * 1024,
            epoch_interruption: false,
            consume_fuel: false,
            max_memory_bytes: 4 << 30,
            allocation_strategy: InstanceAllocationStrategy::OnDemand,
            features: Features::default(),
            relaxed_simd_deterministic: false,
            parallel_compilation: true,
        }
    }
}

impl Config {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The CPU features generated code may use (default: detected on the host; the
    /// x86-64-v2 baseline without `std`).
    pub fn cpu_features(&mut self, features: CpuFeatures) -> &mut Self {
        self.cpu_features = Some(features);
        self
    }

    /// Whether Cranelift optimizes (default: yes).
    pub fn optimize(&mut self, optimize: bool) -> &mut Self {
        self.opt_level = if optimize { OptLevel::Speed } else { OptLevel::None };
        self
    }

    /// The platform the engine runs on (required without `std`).
    pub fn platform(&mut self, platform: &'static dyn Platform) -> &mut Self {
        self.platform = Some(platform);
        self
    }

    /// Stack bytes wasm may use before trapping with `StackOverflow` (default 512 KiB).
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Largest size any one linear memory may grow to (default 4 GiB).
    pub fn max_memory_bytes(&mut self, bytes: u64) -> &mut Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Epoch-based interruption: generated code polls at function entries and loop
    /// headers; [`Engine::increment_epoch`](crate::Engine::increment_epoch) arms the
    /// stores whose deadline it reaches, and their next poll runs the deadline policy.
    /// Each store then holds a slot in the engine's epoch clock (`vm::epoch`).
    pub fn epoch_interruption(&mut self, enable: bool) -> &mut Self {
        self.epoch_interruption = enable;
        self
    }

    /// Fuel metering in generated code.
    pub fn consume_fuel(&mut self, enable: bool) -> &mut Self {
        self.consume_fuel = enable;
        self
    }

    /// Whether modules may use tail calls (`return_call*`). Default: yes.
    pub fn wasm_tail_call(&mut self, enable: bool) -> &mut Self {
        self.features.tail_call = enable;
        self
    }

    /// Whether constant expressions may use `add`/`sub`/`mul`. Default: yes.
    pub fn wasm_extended_const(&mut self, enable: bool) -> &mut Self {
        self.features.extended_const = enable;
        self
    }

    /// Whether modules may have several memories. Default: yes.
    pub fn wasm_multi_memory(&mut self, enable: bool) -> &mut Self {
        self.features.multi_memory = enable;
        self
    }

    /// Whether modules may use 64-bit memories. Default: yes.
    pub fn wasm_memory64(&mut self, enable: bool) -> &mut Self {
        self.features.memory64 = enable;
        self
    }

    /// Whether modules may use fixed-width SIMD (`v128`). Default: yes.
    pub fn wasm_simd(&mut self, enable: bool) -> &mut Self {
        self.features.simd = enable;
        self
    }

    /// Whether modules may use relaxed SIMD (needs [`wasm_simd`](Self::wasm_simd)).
    /// Default: yes.
    pub fn wasm_relaxed_simd(&mut self, enable: bool) -> &mut Self {
        self.features.relaxed_simd = enable;
        self
    }

    /// How relaxed SIMD operators behave where the proposal allows several results
    /// (as Wasmtime's option of the same name). Default `false`: each compiles to the
    /// native x86 instruction (`pshufb`, `blendv`, `cvttps2dq`, `pmulhrsw`,
    /// `pmaddubsw`, `minps`/`maxps`, FMA when the CPU has it), so results can differ
    /// between CPUs. `true`: each gives the one result its fixed-width counterpart
    /// gives (`swizzle`, `bitselect`, saturating truncation, `q15mulr_sat`, signed dot
    /// products, IEEE `min`/`max`, fused multiply-add), the same on every machine.
    pub fn relaxed_simd_deterministic(&mut self, enable: bool) -> &mut Self {
        self.relaxed_simd_deterministic = enable;
        self
    }

    /// Whether `Module::new` compiles functions on every core (hosted builds; a kernel
    /// compiles on its one thread). Default: yes. The code is the same either way.
    pub fn parallel_compilation(&mut self, enable: bool) -> &mut Self {
        self.parallel_compilation = enable;
        self
    }

    /// The allocation strategy.
    pub fn allocation_strategy(&mut self, strategy: InstanceAllocationStrategy) -> &mut Self {
        self.allocation_strategy = strategy;
        self
    }
}
