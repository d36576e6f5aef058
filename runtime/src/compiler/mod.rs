//! The compiler boundary: WebAssembly in, linked machine code and metadata out.
//!
//! Everything Cranelift-specific stays behind this module; the rest of the runtime sees
//! only [`CodeArtifact`] (bytes, function ranges, trampolines, trap sites). A later
//! build can load precompiled artifacts without this module.

pub mod func_env;
pub mod isa;
pub mod trampolines;
pub mod translate;

use core::ops::Range;

use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::{self, ExternalName, GlobalValueData, UserFuncName, types};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use wasmparser::FuncValidatorAllocations;

use crate::error::{Error, ErrorKind, Result};
use crate::module::environ::{FunctionInput, ModuleTranslation};
use crate::module::info::ModuleInfo;
use crate::prelude::*;
use crate::types::*;
use crate::vm::offsets::VMOffsets;
use crate::vm::vmcontext::{field, header};
pub use func_env::Tunables;
use func_env::{FuncEnv, from_cranelift_trap, trusted_readonly, wasm_signature};
use translate::FuncTranslator;

pub use isa::{CpuFeatures, OptLevel};

/// Where the compiler's output is described: shared with the artifact loader.
pub use crate::vm::code_memory::TrapSite;

/// Linked, position-independent machine code with its metadata.
#[derive(Clone, Debug, Default)]
pub struct CodeArtifact {
    pub text: Vec<u8>,
    /// Code range of each defined function, in definition order.
    pub functions: Vec<Range<u32>>,
    /// Array-to-wasm trampoline of each function type that can be called from the host.
    pub array_trampolines: Vec<(TypeIndex, u32)>,
    /// Wasm-to-host trampoline of each imported function type.
    pub host_trampolines: Vec<(TypeIndex, u32)>,
    /// Trap sites, sorted by offset.
    pub traps: Vec<TrapSite>,
}

struct PendingReloc {
    at: u32,
    target: FuncIndex,
    addend: i64,
}

/// One function's code before linking: trap and relocation offsets from its start.
struct CompiledFunc {
    code: Vec<u8>,
    traps: Vec<TrapSite>,
    relocs: Vec<PendingReloc>,
}

/// What compiling one function after another reuses (one per thread).
struct Workspace {
    context: Context,
    builder_context: FunctionBuilderContext,
    allocations: FuncValidatorAllocations,
}

impl Default for Workspace {
    fn default() -> Self {
        Self {
            context: Context::new(),
            builder_context: FunctionBuilderContext::new(),
            allocations: FuncValidatorAllocations::default(),
        }
    }
}

/// Cranelift for x86-64 with this machine's features.
pub struct Compiler {
    isa: OwnedTargetIsa,
}

impl Compiler {
    /// A compiler generating code for `features`.
    pub fn new(features: &CpuFeatures, opt: OptLevel) -> Result<Self> {
        Ok(Self { isa: isa::build(features, opt)? })
    }

    /// Compiles the function in `context` into its own buffer (offsets from its start).
    fn compile_func(&self, context: &mut Context, func_index: u32) -> Result<CompiledFunc> {
        let mut control = ControlPlane::default();
        let names: Vec<u32> = context.func.params.user_named_funcs().values().map(|name| name.index).collect();
        let compiled = context
            .compile(&*self.isa, &mut control)
            .map_err(|error| Error::new(ErrorKind::Compile { func_index, message: format!("{:?}", error.inner) }))?;
        let buffer = &compiled.buffer;
        let traps =
            buffer.traps().iter().map(|trap| TrapSite { offset: trap.offset, code: from_cranelift_trap(trap.code) });
        let mut relocs = Vec::new();
        for reloc in buffer.relocs() {
            let FinalizedRelocTarget::ExternalName(ExternalName::User(name)) = reloc.target else {
                return Err(Error::unsupported(format!("relocation {:?} in function {func_index}", reloc.target)));
            };
            if !matches!(reloc.kind, Reloc::X86CallPCRel4 | Reloc::X86PCRel4 | Reloc::X86CallPLTRel4) {
                return Err(Error::unsupported(format!("relocation kind {:?}", reloc.kind)));
            }
            let target = names[name.index()];
            relocs.push(PendingReloc { at: reloc.offset, target: FuncIndex(target), addend: reloc.addend });
        }
        Ok(CompiledFunc { code: buffer.data().to_vec(), traps: traps.collect(), relocs })
    }

    /// Appends a compiled function to the text; returns its range.
    fn link(&self, artifact: &mut CodeArtifact, relocs: &mut Vec<PendingReloc>, func: CompiledFunc) -> Range<u32> {
        // The ISA's preferred function alignment (32 bytes on x86-64: Cranelift's choice
        // for speed, wasmtime#8573), padded with int3.
        let alignment = (self.isa.function_alignment().preferred as usize).max(16);
        let text = &mut artifact.text;
        while !text.len().is_multiple_of(alignment) {
            text.push(0xCC);
        }
        let start = text.len() as u32;
        text.extend_from_slice(&func.code);
        artifact.traps.extend(func.traps.into_iter().map(|site| TrapSite { offset: start + site.offset, ..site }));
        relocs.extend(func.relocs.into_iter().map(|reloc| PendingReloc { at: start + reloc.at, ..reloc }));
        start..text.len() as u32
    }

    /// Compiles the function in `context` and links it.
    fn emit(
        &self,
        context: &mut Context,
        artifact: &mut CodeArtifact,
        relocs: &mut Vec<PendingReloc>,
        func_index: u32,
    ) -> Result<Range<u32>> {
        let func = self.compile_func(context, func_index)?;
        Ok(self.link(artifact, relocs, func))
    }

    /// Translates and compiles defined function `defined` with `workspace`'s state.
    fn compile_body(
        &self,
        workspace: &mut Workspace,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        tunables: Tunables,
        defined: usize,
        input: FunctionInput<'_>,
    ) -> Result<CompiledFunc> {
        let frontend = self.isa.frontend_config();
        let func_index = info.func_index(DefinedFuncIndex::new(defined));
        let ty = info.func_type(func_index);
        let context = &mut workspace.context;
        context.func = ir::Function::with_name_signature(UserFuncName::user(0, func_index.0), wasm_signature(ty));
        install_stack_limit(&mut context.func);
        let mut validator = input.validator.into_validator(core::mem::take(&mut workspace.allocations));
        let builder = FunctionBuilder::new(&mut context.func, &mut workspace.builder_context);
        let env = FuncEnv::new(info, offsets, tunables);
        let translated = FuncTranslator::translate(builder, env, ty, &input.body, &mut validator, frontend);
        workspace.allocations = validator.into_allocations();
        let compiled = translated.and_then(|()| self.compile_func(context, func_index.0));
        context.clear();
        compiled
    }

    /// Compiles every defined function, in order: on `threads` threads when more than
    /// one (each function is independent; the results are linked in definition order,
    /// so the text is the same as a serial compile's).
    fn compile_bodies(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        tunables: Tunables,
        functions: Vec<FunctionInput<'_>>,
        threads: usize,
    ) -> Result<Vec<CompiledFunc>> {
        #[cfg(feature = "std")]
        if threads > 1 && functions.len() > 1 {
            return self.compile_bodies_parallel(info, offsets, tunables, functions, threads);
        }
        let _ = threads;
        let mut workspace = Workspace::default();
        functions
            .into_iter()
            .enumerate()
            .map(|(defined, input)| self.compile_body(&mut workspace, info, offsets, tunables, defined, input))
            .collect()
    }

    #[cfg(feature = "std")]
    fn compile_bodies_parallel(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        tunables: Tunables,
        functions: Vec<FunctionInput<'_>>,
        threads: usize,
    ) -> Result<Vec<CompiledFunc>> {
        use core::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let count = functions.len();
        let inputs: Vec<Mutex<Option<FunctionInput<'_>>>> =
            functions.into_iter().map(|f| Mutex::new(Some(f))).collect();
        let outputs: Vec<Mutex<Option<Result<CompiledFunc>>>> = (0..count).map(|_| Mutex::new(None)).collect();
        // Each thread takes the next function: big and small bodies even out.
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads.min(count) {
                scope.spawn(|| {
                    let mut workspace = Workspace::default();
                    loop {
                        let defined = next.fetch_add(1, Ordering::Relaxed);
                        if defined >= count {
                            break;
                        }
                        let input = inputs[defined].lock().unwrap_or_else(|e| e.into_inner()).take();
                        let Some(input) = input else { continue };
                        let result = self.compile_body(&mut workspace, info, offsets, tunables, defined, input);
                        let failed = result.is_err();
                        *outputs[defined].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                        if failed {
                            // The first error (by index) is reported; stop taking more.
                            next.store(count, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let mut compiled = Vec::with_capacity(count);
        for output in outputs {
            match output.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(result) => compiled.push(result?),
                // Left untaken after an earlier function failed (its error came first).
                None => return Err(Error::resource("compilation stopped after an error")),
            }
        }
        Ok(compiled)
    }

    /// Compiles every function of a module, plus the array-to-wasm trampolines for the
    /// types of its escaping functions, and links them. `threads` > 1 compiles the
    /// functions in parallel (hosted builds), with the same output.
    pub fn compile_module(
        &self,
        translation: ModuleTranslation<'_>,
        offsets: &VMOffsets,
        tunables: Tunables,
        threads: usize,
    ) -> Result<(ModuleInfo, CodeArtifact)> {
        let ModuleTranslation { info, functions } = translation;
        let tunables = Tunables { native_fma: self.isa.has_native_fma(), ..tunables };
        let frontend = self.isa.frontend_config();
        let mut artifact = CodeArtifact::default();
        let mut relocs = Vec::new();
        for func in self.compile_bodies(&info, offsets, tunables, functions, threads)? {
            let range = self.link(&mut artifact, &mut relocs, func);
            artifact.functions.push(range);
        }
        let mut context = Context::new();
        let mut builder_context = FunctionBuilderContext::new();

        // One trampoline per distinct signature (by structure, not by engine id, so the
        // output is the same in every engine).
        let mut trampoline_types: Vec<TypeIndex> = Vec::new();
        for (func, escapes) in info.escaping.iter().enumerate() {
            let ty = info.functions[func];
            if *escapes
                && info.defined_func(FuncIndex::new(func)).is_some()
                && !trampoline_types.iter().any(|t| info.types[t.index()] == info.types[ty.index()])
            {
                trampoline_types.push(ty);
            }
        }
        for ty in trampoline_types {
            context.func = trampolines::array_to_wasm(&info.types[ty.index()], &mut builder_context, frontend);
            let range = self.emit(&mut context, &mut artifact, &mut relocs, u32::MAX)?;
            artifact.array_trampolines.push((ty, range.start));
            context.clear();
        }
        // Wasm-to-host trampolines for the imported signatures, so a runtime without the
        // compiler can call host functions of those types (see `Engine::host_trampoline`).
        let mut host_types: Vec<TypeIndex> = Vec::new();
        for ty in &info.functions[..info.num_imported_funcs] {
            if !host_types.iter().any(|t| info.types[t.index()] == info.types[ty.index()]) {
                host_types.push(*ty);
            }
        }
        for ty in host_types {
            context.func = trampolines::wasm_to_host(&info.types[ty.index()], &mut builder_context, frontend);
            let range = self.emit(&mut context, &mut artifact, &mut relocs, u32::MAX)?;
            artifact.host_trampolines.push((ty, range.start));
            context.clear();
        }

        for reloc in relocs {
            let defined =
                info.defined_func(reloc.target).ok_or_else(|| Error::unsupported("call relocation to an import"))?;
            let target = artifact.functions[defined.index()].start as i64;
            let value = target + reloc.addend - i64::from(reloc.at);
            let value = i32::try_from(value).map_err(|_| Error::resource("module code larger than 2 GiB"))?;
            artifact.text[reloc.at as usize..reloc.at as usize + 4].copy_from_slice(&value.to_le_bytes());
        }
        artifact.traps.sort_by_key(|site| site.offset);
        Ok((info, artifact))
    }

    /// Compiles the wasm-to-host trampoline for host functions of type `ty`.
    pub fn compile_host_trampoline(&self, ty: &FuncType) -> Result<CodeArtifact> {
        let mut context = Context::new();
        let mut builder_context = FunctionBuilderContext::new();
        context.func = trampolines::wasm_to_host(ty, &mut builder_context, self.isa.frontend_config());
        let mut artifact = CodeArtifact::default();
        let mut relocs = Vec::new();
        let range = self.emit(&mut context, &mut artifact, &mut relocs, u32::MAX)?;
        artifact.functions.push(range);
        Ok(artifact)
    }
}

/// Makes the prologue compare the stack pointer with the store's stack limit
/// (`vmctx -> runtime limits -> stack_limit`) and trap with `StackOverflow` below it.
fn install_stack_limit(func: &mut ir::Function) {
    let readonly = func.dfg.mem_flags.insert_unchecked(trusted_readonly());
    let vmctx = func.create_global_value(GlobalValueData::VMContext);
    let limits = func.create_global_value(GlobalValueData::Load {
        base: vmctx,
        offset: (header::RUNTIME_LIMITS as i32).into(),
        global_type: types::I64,
        flags: readonly,
    });
    let stack_limit = func.create_global_value(GlobalValueData::Load {
        base: limits,
        offset: (field::LIMITS_STACK_LIMIT as i32).into(),
        global_type: types::I64,
        flags: readonly,
    });
    func.stack_limit = Some(stack_limit);
}
