//! The engine: compiler, platform, page allocator, type registry, epoch counter, and
//! the trampolines host functions are called through. Cheap to clone (shared).

use hashbrown::HashMap;
use spin::Mutex;

use crate::api::config::{Config, InstanceAllocationStrategy};
use crate::compiler::{Compiler, CpuFeatures};
use crate::error::{Error, Result};
use crate::memory::page_alloc::PageAllocator;
use crate::platform::Platform;
use crate::prelude::*;
use crate::types::{FuncType, SharedTypeIndex};
use crate::vm::code_memory::CodeMemory;
use crate::vm::epoch::EpochClock;
use crate::vm::pool::Pool;
use crate::vm::type_registry::TypeRegistry;

pub(crate) struct EngineInner {
    pub config: Config,
    pub compiler: Compiler,
    pub platform: &'static dyn Platform,
    pub allocator: Arc<PageAllocator>,
    pub types: TypeRegistry,
    pub epoch: EpochClock,
    /// The pools, with the pooling allocation strategy.
    pub pool: Option<Arc<Pool>>,
    /// Wasm-to-host trampolines by type, compiled on first use.
    host_trampolines: Mutex<HashMap<SharedTypeIndex, Arc<CodeMemory>>>,
}

/// A compilation and execution environment for modules.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl Engine {
    /// An engine with `config`.
    pub fn new(config: &Config) -> Result<Self> {
        let platform = match config.platform {
            Some(platform) => platform,
            None => default_platform()?,
        };
        platform.init_trap_handling().map_err(|error| Error::resource(format!("installing trap handlers: {error}")))?;
        let features = config.cpu_features.unwrap_or_else(default_features);
        let compiler = Compiler::new(&features, config.opt_level)?;
        let allocator = Arc::new(PageAllocator::new(platform));
        let pool = match config.allocation_strategy {
            InstanceAllocationStrategy::OnDemand => None,
            InstanceAllocationStrategy::Pooling(limits) => Some(Arc::new(Pool::new(limits, Arc::clone(&allocator)))),
        };
        Ok(Self {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                compiler,
                platform,
                allocator,
                pool,
                types: TypeRegistry::default(),
                epoch: EpochClock::new(),
                host_trampolines: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Increments the epoch: an atomic add, then the stores whose deadline it reached
    /// are armed to stop at their next check. No lock, no allocation: safe from an
    /// interrupt handler (see `vm::epoch`).
    #[inline]
    pub fn increment_epoch(&self) {
        self.inner.epoch.tick();
    }

    /// The epoch clock (for interrupt handlers that hold a raw pointer: call
    /// [`EpochClock::tick`] on it).
    pub fn epoch_clock(&self) -> &EpochClock {
        &self.inner.epoch
    }

    /// Whether two handles refer to the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    pub(crate) fn register_type(&self, ty: &FuncType) -> SharedTypeIndex {
        self.inner.types.register(ty)
    }

    pub(crate) fn func_type(&self, id: SharedTypeIndex) -> FuncType {
        self.inner.types.get(id).expect("type ids come from this engine")
    }

    /// The wasm-to-host trampoline for host functions of type `ty`.
    pub(crate) fn host_trampoline(&self, ty: &FuncType, id: SharedTypeIndex) -> Result<*const u8> {
        let mut trampolines = self.inner.host_trampolines.lock();
        if let Some(code) = trampolines.get(&id) {
            return Ok(code.address(0));
        }
        let artifact = self.inner.compiler.compile_host_trampoline(ty)?;
        let code = Arc::new(CodeMemory::new(&self.inner.allocator, &artifact, 0, None, Default::default())?);
        let address = code.address(0);
        trampolines.insert(id, code);
        Ok(address)
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default()).expect("the default configuration works on this host")
    }
}

#[cfg(feature = "std")]
fn default_platform() -> Result<&'static dyn Platform> {
    Ok(&crate::platform::hosted::HOSTED)
}

#[cfg(not(feature = "std"))]
fn default_platform() -> Result<&'static dyn Platform> {
    Err(Error::usage("no platform configured: call Config::platform"))
}

#[cfg(feature = "std")]
fn default_features() -> CpuFeatures {
    CpuFeatures::detect_host()
}

#[cfg(not(feature = "std"))]
fn default_features() -> CpuFeatures {
    CpuFeatures::BASELINE
}
