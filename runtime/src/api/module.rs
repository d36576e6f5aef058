//! A compiled module: validated, translated, compiled and linked into executable memory.

use hashbrown::HashMap;

use crate::api::engine::Engine;
use crate::error::Result;
use crate::module::environ;
use crate::module::info::{EntityIndex, ModuleInfo};
use crate::prelude::*;
use crate::types::{ExternType, SharedTypeIndex, TypeIndex};
use crate::vm::code_memory::{CodeMemory, Text};
use crate::vm::memory_image::MemoryImage;
use crate::vm::offsets::VMOffsets;

pub(crate) struct ModuleInner {
    pub engine: Engine,
    pub info: ModuleInfo,
    pub offsets: VMOffsets,
    pub code: Arc<CodeMemory>,
    /// The trampolines in `code` by module type (what `serialize` writes).
    pub trampoline_offsets: Trampolines,
    /// Engine-wide id of each of the module's types.
    pub type_ids: Vec<SharedTypeIndex>,
    /// Array-to-wasm trampoline per type of escaping function.
    pub array_trampolines: HashMap<SharedTypeIndex, usize>,
    /// Copy-on-write initial contents of each defined memory, where the platform has
    /// images and the module allows one.
    pub memory_images: Vec<Option<Arc<MemoryImage>>>,
    /// What instantiation has to do, worked out once.
    pub plan: InstantiationPlan,
}

/// A module's trampolines: `(module type, offset in its code)`.
#[derive(Clone, Debug, Default)]
pub struct Trampolines {
    pub array_to_wasm: Vec<(TypeIndex, u32)>,
    pub wasm_to_host: Vec<(TypeIndex, u32)>,
}

/// The segment work of an instantiation, precomputed per module: which active
/// segments must be applied (the rest are in precomputed tables or memory images), and
/// which segments start out dropped (all active and declared ones).
#[derive(Clone, Debug, Default)]
pub struct InstantiationPlan {
    pub eager_elements: Vec<u32>,
    pub eager_data: Vec<u32>,
    pub dropped_elements: Vec<bool>,
    pub dropped_data: Vec<bool>,
}

impl InstantiationPlan {
    fn new(info: &ModuleInfo, images: &[Option<Arc<MemoryImage>>]) -> Self {
        use crate::module::info::{DataKind, ElementKind, TableInit};
        let mut plan = InstantiationPlan::default();
        for (index, segment) in info.elements.iter().enumerate() {
            let dropped = match &segment.kind {
                ElementKind::Passive => false,
                ElementKind::Declared => true,
                ElementKind::Active { table, .. } => {
                    let precomputed = info
                        .defined_table(*table)
                        .is_some_and(|defined| matches!(info.table_inits[defined.index()], TableInit::Lazy(_)));
                    if !precomputed {
                        plan.eager_elements.push(index as u32);
                    }
                    true
                }
            };
            plan.dropped_elements.push(dropped);
        }
        for (index, segment) in info.data.iter().enumerate() {
            let DataKind::Active { memory, .. } = &segment.kind else {
                plan.dropped_data.push(false);
                continue;
            };
            let in_image = info.data_in_image[index]
                && info.defined_memory(*memory).is_some_and(|defined| images[defined.index()].is_some());
            if !in_image {
                plan.eager_data.push(index as u32);
            }
            plan.dropped_data.push(true);
        }
        plan
    }
}

/// Threads a parallel compile uses: every core the process may use.
#[cfg(all(feature = "compiler", feature = "std"))]
fn compile_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(all(feature = "compiler", not(feature = "std")))]
fn compile_threads() -> usize {
    1
}

/// A compiled WebAssembly module, ready to instantiate any number of times.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

/// An import a module requires.
#[derive(Clone, Debug)]
pub struct ImportType<'module> {
    pub module: &'module str,
    pub name: &'module str,
    pub ty: ExternType,
}

/// An export a module provides.
#[derive(Clone, Debug)]
pub struct ExportType<'module> {
    pub name: &'module str,
    pub ty: ExternType,
}

impl Module {
    /// Validates and compiles a binary module. Malformed or invalid input gives an
    /// error with the validator's message and byte offset.
    #[cfg(feature = "compiler")]
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let translation = environ::translate(bytes.as_ref(), engine.inner.config.features)?;
        let offsets = VMOffsets::new(&translation.info);
        let config = &engine.inner.config;
        let tunables = crate::compiler::Tunables {
            epoch_interruption: config.epoch_interruption,
            consume_fuel: config.consume_fuel,
            relaxed_simd_deterministic: config.relaxed_simd_deterministic,
            native_fma: false,
        };
        let threads = if config.parallel_compilation { compile_threads() } else { 1 };
        let (info, artifact) = engine.inner.compiler.compile_module(translation, &offsets, tunables, threads)?;
        let trampolines =
            Trampolines { array_to_wasm: artifact.array_trampolines, wasm_to_host: artifact.host_trampolines };
        Module::from_parts(engine, info, Text::Copy(&artifact.text), artifact.traps, artifact.functions, trampolines)
    }

    /// Without the compiler there is nothing to compile with: load artifacts with
    /// [`Module::deserialize`] instead.
    #[cfg(not(feature = "compiler"))]
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let _ = (engine, bytes);
        Err(crate::error::Error::unsupported(
            "this runtime was built without the compiler: load a precompiled module (`wasmetal compile`)",
        ))
    }

    /// A module from its declarations and linked code (compiled or loaded).
    pub(crate) fn from_parts(
        engine: &Engine,
        mut info: ModuleInfo,
        text: Text<'_>,
        traps: Vec<crate::vm::code_memory::TrapSite>,
        functions: Vec<core::ops::Range<u32>>,
        trampolines: Trampolines,
    ) -> Result<Module> {
        let type_ids: Vec<SharedTypeIndex> = info.types.iter().map(|ty| engine.register_type(ty)).collect();
        let offsets = VMOffsets::new(&info);
        let code = Arc::new(CodeMemory::new(
            &engine.inner.allocator,
            text,
            traps,
            functions,
            info.num_imported_funcs as u32,
            info.module_name.clone(),
            // Kept once, with the code (backtraces read them there; so does `serialize`).
            core::mem::take(&mut info.func_names),
        )?);
        let array_trampolines = trampolines
            .array_to_wasm
            .iter()
            .map(|&(ty, offset)| (type_ids[ty.index()], code.address(offset) as usize))
            .collect();
        let host: Vec<(SharedTypeIndex, u32)> =
            trampolines.wasm_to_host.iter().map(|&(ty, offset)| (type_ids[ty.index()], offset)).collect();
        engine.offer_host_trampolines(&code, &host);
        let memory_images: Vec<Option<Arc<MemoryImage>>> = info
            .memory_images
            .iter()
            .map(|spec| spec.as_ref().and_then(|spec| MemoryImage::new(engine.inner.platform, spec)))
            .collect();
        let plan = InstantiationPlan::new(&info, &memory_images);
        Ok(Module {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                info,
                offsets,
                code,
                trampoline_offsets: trampolines,
                type_ids,
                array_trampolines,
                memory_images,
                plan,
            }),
        })
    }

    /// The module as bytes [`Module::deserialize`] loads (a `.cwasm`): its code,
    /// declarations and tables behind a header naming this runtime build, the engine
    /// settings that shaped the code and the CPU features it assumes. The same module
    /// compiled with the same settings always gives the same bytes.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let inner = &*self.inner;
        let engine = &inner.engine.inner;
        let code_info = inner.code.info();
        let tables = crate::artifact::CodeTables {
            functions: code_info.functions.clone(),
            traps: code_info.traps.clone(),
            array_trampolines: inner.trampoline_offsets.array_to_wasm.clone(),
            host_trampolines: inner.trampoline_offsets.wasm_to_host.clone(),
        };
        let settings = crate::artifact::CodeSettings::of(&engine.config);
        let names = &code_info.func_names;
        Ok(crate::artifact::write(&settings, &engine.cpu, &inner.info, names, &tables, inner.code.text()))
    }

    /// Loads a module [`Module::serialize`] wrote, without compiling. The header must
    /// name this runtime build, `engine`'s code-affecting settings and CPU features it
    /// has; the header and tables are checksummed and every length, offset and index in
    /// them is checked. Any mismatch, truncation or damage there is an error
    /// ([`ErrorKind::Artifact`](crate::ErrorKind::Artifact)), never a panic.
    ///
    /// # Safety
    /// The code bytes are not checked (as with Wasmtime's `Module::deserialize`): they
    /// run as they are. `bytes` must come from `Module::serialize` of this runtime
    /// (possibly on another machine), unmodified except by damage the checks above
    /// catch, e.g. from a file only trusted users can write.
    pub unsafe fn deserialize(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        // SAFETY: forwarded contract.
        unsafe { Module::load_artifact(engine, bytes.as_ref(), Text::Copy) }
    }

    /// [`Module::deserialize`] of bytes that stay in memory for as long as the program
    /// runs: the code runs where it lies in `bytes` when the platform can map those
    /// pages executable a second time (a kernel's boot module, say; the artifact's code
    /// starts on a page boundary of the artifact, so `bytes` must start on one of the
    /// platform's pages), and is copied otherwise. Loading then costs no copy of the
    /// code and no fresh memory for it.
    ///
    /// # Safety
    /// As for [`Module::deserialize`]; besides, `bytes` must never be written (the code
    /// may execute from it).
    pub unsafe fn deserialize_in_place(engine: &Engine, bytes: &'static [u8]) -> Result<Module> {
        // SAFETY: forwarded contract.
        unsafe { Module::load_artifact(engine, bytes, Text::Static) }
    }

    /// Loads an artifact, handing its code to `text` (copied or in place).
    ///
    /// # Safety
    /// As for [`Module::deserialize`].
    unsafe fn load_artifact<'a>(engine: &Engine, bytes: &'a [u8], text: fn(&'a [u8]) -> Text<'a>) -> Result<Module> {
        let config = &engine.inner.config;
        let settings = crate::artifact::CodeSettings::of(config);
        let header = crate::artifact::read_header(bytes, &settings, &engine.inner.cpu)?;
        let (mut info, tables) = header.decode(bytes)?;
        environ::finish(&mut info);
        crate::artifact::check_trampolines(&info, &tables)?;
        let code = header.text(bytes)?;
        let trampolines =
            Trampolines { array_to_wasm: tables.array_trampolines, wasm_to_host: tables.host_trampolines };
        Module::from_parts(engine, info, text(code), tables.traps, tables.functions, trampolines)
    }

    /// Whether the module's code runs where its artifact's bytes lie (see
    /// [`Module::deserialize_in_place`]) rather than from a copy.
    pub fn code_in_place(&self) -> bool {
        self.inner.code.in_place()
    }

    /// Checks that `bytes` is a valid module this runtime supports, without compiling.
    pub fn validate(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<()> {
        let features = engine.inner.config.features;
        let mut validator = wasmparser::Validator::new_with_features(features.wasm_features());
        validator.validate_all(bytes.as_ref())?;
        environ::translate(bytes.as_ref(), features).map(|_| ())
    }

    /// The module's name from its name section, if any.
    pub fn name(&self) -> Option<&str> {
        self.inner.info.module_name.as_deref()
    }

    /// The engine the module was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> {
        let info = &self.inner.info;
        info.imports.iter().map(move |import| ImportType {
            module: &import.module,
            name: &import.name,
            ty: info.entity_type(import.index),
        })
    }

    /// The exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> {
        let info = &self.inner.info;
        info.exports.iter().map(move |(name, index)| ExportType { name, ty: info.entity_type(*index) })
    }

    /// The type of export `name`.
    pub fn get_export(&self, name: &str) -> Option<ExternType> {
        self.inner.info.export(name).map(|index: EntityIndex| self.inner.info.entity_type(index))
    }
}
