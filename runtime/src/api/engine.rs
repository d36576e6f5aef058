//! The engine: compiler, platform, page allocator, type registry, epoch counter, and
//! the trampolines host functions are called through. Cheap to clone (shared).

use hashbrown::HashMap;
use spin::Mutex;

use crate::api::config::{Config, InstanceAllocationStrategy};
#[cfg(feature = "compiler")]
use crate::compiler::Compiler;
use crate::cpu::CpuFeatures;
use crate::error::{Error, Result};
use crate::memory::page_alloc::PageAllocator;
use crate::platform::Platform;
use crate::prelude::*;
use crate::types::{FuncType, SharedTypeIndex};
use crate::vm::code_memory::{CodeMemory, Text};
use crate::vm::epoch::EpochClock;
use crate::vm::pool::Pool;
use crate::vm::type_registry::TypeRegistry;

pub(crate) struct EngineInner {
    pub config: Config,
    #[cfg(feature = "compiler")]
    pub compiler: Compiler,
    /// The CPU features generated code may use (compiled or loaded).
    pub cpu: CpuFeatures,
    pub platform: &'static dyn Platform,
    pub allocator: Arc<PageAllocator>,
    pub types: TypeRegistry,
    pub epoch: EpochClock,
    /// The pools, with the pooling allocation strategy.
    pub pool: Option<Arc<Pool>>,
    /// Wasm-to-host trampolines by type: compiled on first use, or taken from a
    /// module's code that carries one (the code, and the offset in it).
    host_trampolines: Mutex<HashMap<SharedTypeIndex, (Arc<CodeMemory>, u32)>>,
    /// Without the compiler: code that traps, for host functions of a type no loaded
    /// module carries a trampoline for (no wasm can reach them unless an embedder
    /// hands one over; then the call traps instead of jumping nowhere).
    #[cfg(not(feature = "compiler"))]
    missing_trampoline: Arc<CodeMemory>,
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
        #[cfg(feature = "compiler")]
        let compiler = Compiler::new(&features, config.opt_level)?;
        #[cfg(not(feature = "compiler"))]
        if !(features.sse41 && features.sse42) {
            return Err(Error::unsupported("this CPU lacks SSE4.1/SSE4.2, which generated code requires"));
        }
        let allocator = Arc::new(PageAllocator::new(platform));
        #[cfg(not(feature = "compiler"))]
        let missing_trampoline = Arc::new(missing_trampoline(&allocator)?);
        let pool = match config.allocation_strategy {
            InstanceAllocationStrategy::OnDemand => None,
            InstanceAllocationStrategy::Pooling(limits) => Some(Arc::new(Pool::new(limits, Arc::clone(&allocator)))),
        };
        Ok(Self {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                #[cfg(feature = "compiler")]
                compiler,
                cpu: features,
                #[cfg(not(feature = "compiler"))]
                missing_trampoline,
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
        #[cfg_attr(not(feature = "compiler"), expect(unused_mut, reason = "only the compiler adds"))]
        let mut trampolines = self.inner.host_trampolines.lock();
        if let Some((code, offset)) = trampolines.get(&id) {
            return Ok(code.address(*offset));
        }
        #[cfg(feature = "compiler")]
        {
            let artifact = self.inner.compiler.compile_host_trampoline(ty)?;
            let code = Arc::new(CodeMemory::new(
                &self.inner.allocator,
                Text::Copy(&artifact.text),
                artifact.traps,
                artifact.functions,
                0,
                None,
                Default::default(),
            )?);
            let address = code.address(0);
            trampolines.insert(id, (code, 0));
            Ok(address)
        }
        #[cfg(not(feature = "compiler"))]
        {
            let _ = ty;
            Ok(self.inner.missing_trampoline.address(0))
        }
    }

    /// Offers a module's wasm-to-host trampolines (`(type id, offset in code)`) for host
    /// functions created later; types that already have one keep it.
    pub(crate) fn offer_host_trampolines(&self, code: &Arc<CodeMemory>, offered: &[(SharedTypeIndex, u32)]) {
        let mut trampolines = self.inner.host_trampolines.lock();
        for &(id, offset) in offered {
            trampolines.entry(id).or_insert_with(|| (Arc::clone(code), offset));
        }
    }

    /// The CPU features generated code may use.
    pub fn cpu_features(&self) -> CpuFeatures {
        self.inner.cpu
    }

    /// Whether this runtime was built with the compiler (`Module::new` works).
    pub fn can_compile(&self) -> bool {
        cfg!(feature = "compiler")
    }
}

/// `ud2`, registered as a trap site: reached only through a host function whose
/// trampoline no module carried (see `EngineInner::missing_trampoline`).
#[cfg(not(feature = "compiler"))]
fn missing_trampoline(allocator: &Arc<PageAllocator>) -> Result<CodeMemory> {
    use crate::trap::TrapCode;
    use crate::vm::code_memory::TrapSite;
    let traps = vec![TrapSite { offset: 0, code: TrapCode::HostError }];
    CodeMemory::new(allocator, Text::Copy(&[0x0F, 0x0B]), traps, vec![], 0, None, Default::default())
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
