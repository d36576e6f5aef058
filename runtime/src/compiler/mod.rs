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
use crate::module::environ::ModuleTranslation;
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

/// Cranelift for x86-64 with this machine's features.
pub struct Compiler {
    isa: OwnedTargetIsa,
}

impl Compiler {
    /// A compiler generating code for `features`.
    pub fn new(features: &CpuFeatures, opt: OptLevel) -> Result<Self> {
        Ok(Self { isa: isa::build(features, opt)? })
    }

    fn emit(
        &self,
        context: &mut Context,
        text: &mut Vec<u8>,
        traps: &mut Vec<TrapSite>,
        relocs: &mut Vec<PendingReloc>,
        func_index: u32,
    ) -> Result<Range<u32>> {
        let mut control = ControlPlane::default();
        let names: Vec<u32> = context.func.params.user_named_funcs().values().map(|name| name.index).collect();
        let compiled = context
            .compile(&*self.isa, &mut control)
            .map_err(|error| Error::new(ErrorKind::Compile { func_index, message: format!("{:?}", error.inner) }))?;
        // The ISA's preferred function alignment (32 bytes on x86-64: Cranelift's choice
        // for speed, wasmtime#8573), padded with int3.
        let alignment = (self.isa.function_alignment().preferred as usize).max(16);
        while !text.len().is_multiple_of(alignment) {
            text.push(0xCC);
        }
        let start = text.len() as u32;
        let buffer = &compiled.buffer;
        text.extend_from_slice(buffer.data());
        for trap in buffer.traps() {
            traps.push(TrapSite { offset: start + trap.offset, code: from_cranelift_trap(trap.code) });
        }
        for reloc in buffer.relocs() {
            let FinalizedRelocTarget::ExternalName(ExternalName::User(name)) = reloc.target else {
                return Err(Error::unsupported(format!("relocation {:?} in function {func_index}", reloc.target)));
            };
            if !matches!(reloc.kind, Reloc::X86CallPCRel4 | Reloc::X86PCRel4 | Reloc::X86CallPLTRel4) {
                return Err(Error::unsupported(format!("relocation kind {:?}", reloc.kind)));
            }
            let target = names[name.index()];
            relocs.push(PendingReloc { at: start + reloc.offset, target: FuncIndex(target), addend: reloc.addend });
        }
        Ok(start..text.len() as u32)
    }

    /// Compiles every function of a module, plus the array-to-wasm trampolines for the
    /// types of its escaping functions, and links them.
    pub fn compile_module(
        &self,
        translation: ModuleTranslation<'_>,
        offsets: &VMOffsets,
        tunables: Tunables,
    ) -> Result<(ModuleInfo, CodeArtifact)> {
        let ModuleTranslation { info, functions } = translation;
        let tunables = Tunables { native_fma: self.isa.has_native_fma(), ..tunables };
        let frontend = self.isa.frontend_config();
        let mut context = Context::new();
        let mut builder_context = FunctionBuilderContext::new();
        let mut allocations = FuncValidatorAllocations::default();
        let mut artifact = CodeArtifact::default();
        let mut relocs = Vec::new();
        for (defined, input) in functions.into_iter().enumerate() {
            let func_index = info.func_index(DefinedFuncIndex::new(defined));
            let ty = info.func_type(func_index);
            context.func = ir::Function::with_name_signature(UserFuncName::user(0, func_index.0), wasm_signature(ty));
            install_stack_limit(&mut context.func);
            let mut validator = input.validator.into_validator(allocations);
            let builder = FunctionBuilder::new(&mut context.func, &mut builder_context);
            let env = FuncEnv::new(&info, offsets, tunables);
            FuncTranslator::translate(builder, env, ty, &input.body, &mut validator, frontend)?;
            allocations = validator.into_allocations();
            let range = self.emit(&mut context, &mut artifact.text, &mut artifact.traps, &mut relocs, func_index.0)?;
            artifact.functions.push(range);
            context.clear();
        }

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
            let range = self.emit(&mut context, &mut artifact.text, &mut artifact.traps, &mut relocs, u32::MAX)?;
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
            let range = self.emit(&mut context, &mut artifact.text, &mut artifact.traps, &mut relocs, u32::MAX)?;
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
        let range = self.emit(&mut context, &mut artifact.text, &mut artifact.traps, &mut relocs, u32::MAX)?;
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
