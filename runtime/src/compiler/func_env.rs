//! How generated code reaches the runtime's data: the `VMContext`, memories, tables,
//! globals, builtins and signatures, for one function being translated.
//!
//! Every offset comes from `vm::offsets` / `vm::vmcontext`; nothing here hard-codes a
//! layout. Values that never change during a call (the builtins table, 32-bit memory
//! bases) are loaded once in the entry block, at first use.

use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::{
    self, AbiParam, ArgumentPurpose, InstBuilder, MemFlagsData, Signature, Type, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use hashbrown::HashMap;

use crate::module::info::ModuleInfo;
use crate::prelude::*;
use crate::trap::TrapCode;
use crate::types::*;
use crate::vm::builtin::{Builtin, BuiltinType};
use crate::vm::offsets::VMOffsets;
use crate::vm::vmcontext::{field, header};

/// The pointer type of the target.
pub const POINTER: Type = types::I64;

/// Cranelift's trap code for one of ours.
pub fn trap_code(code: TrapCode) -> ir::TrapCode {
    match code {
        TrapCode::StackOverflow => ir::TrapCode::STACK_OVERFLOW,
        TrapCode::MemoryOutOfBounds => ir::TrapCode::HEAP_OUT_OF_BOUNDS,
        TrapCode::IntegerOverflow => ir::TrapCode::INTEGER_OVERFLOW,
        TrapCode::IntegerDivisionByZero => ir::TrapCode::INTEGER_DIVISION_BY_ZERO,
        TrapCode::BadConversionToInteger => ir::TrapCode::BAD_CONVERSION_TO_INTEGER,
        other => ir::TrapCode::user(other.to_u8()).expect("our codes are small and non-zero"),
    }
}

/// Our trap code for one of Cranelift's.
pub fn from_cranelift_trap(code: ir::TrapCode) -> TrapCode {
    match code {
        ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
        ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        other => TrapCode::from_u8(other.as_raw().get()).unwrap_or(TrapCode::UnreachableCodeReached),
    }
}

/// The CLIF type of a wasm value type (references are pointers).
pub fn clif_type(ty: ValType) -> Type {
    match ty {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        // Every v128 is an I8X16 in CLIF; operators bitcast to their lane type.
        ValType::V128 => types::I8X16,
        ValType::Ref(_) => POINTER,
    }
}

/// The wasm calling convention: `(callee vmctx, caller vmctx, params..) -> results`.
pub fn wasm_signature(ty: &FuncType) -> Signature {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params.push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(POINTER));
    sig.params.extend(ty.params().iter().map(|&t| AbiParam::new(clif_type(t))));
    sig.returns.extend(ty.results().iter().map(|&t| AbiParam::new(clif_type(t))));
    sig
}

/// The array calling convention of host↔wasm trampolines:
/// `extern "C" fn(wasm_call, callee vmctx, caller vmctx, values)`.
pub fn array_to_wasm_signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([AbiParam::new(POINTER); 4]);
    sig
}

/// The host entry a wasm-to-host trampoline calls:
/// `extern "C" fn(host ctx, caller vmctx, values, len) -> bool`.
pub fn host_entry_signature() -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([AbiParam::new(POINTER); 4]);
    sig.returns.push(AbiParam::new(types::I8));
    sig
}

fn builtin_type(ty: BuiltinType) -> Type {
    match ty {
        BuiltinType::I32 => types::I32,
        BuiltinType::I64 => types::I64,
        BuiltinType::Pointer => POINTER,
    }
}

/// Flags for loads from runtime structures that never trap.
pub fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags for loads of values fixed for the whole call.
pub fn trusted_readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// Where a memory's definition lives, as generated code reaches it.
#[derive(Clone, Copy)]
pub struct MemoryInfo {
    pub memory64: bool,
}

/// Code-generation choices that come from the engine's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tunables {
    /// Check the epoch deadline at function entries and loop headers.
    pub epoch_interruption: bool,
    /// Count fuel per operator and check it at function entries and loop headers.
    pub consume_fuel: bool,
    /// Relaxed SIMD operators take their deterministic (fixed-width SIMD) meaning
    /// instead of the native x86 instruction's.
    pub relaxed_simd_deterministic: bool,
    /// The CPU fuses multiply-add (FMA with AVX): the compiler fills this in.
    pub native_fma: bool,
}

/// Per-function translation environment.
pub struct FuncEnv<'m> {
    pub tunables: Tunables,
    pub module: &'m ModuleInfo,
    pub offsets: &'m VMOffsets,
    pub vmctx: Value,
    /// The jump that ends the entry block: values loaded once are inserted before it.
    pub entry_terminator: Option<ir::Inst>,
    builtin_sigs: HashMap<Builtin, ir::SigRef>,
    memory_bases: HashMap<u32, Value>,
    memory_definitions: HashMap<u32, Value>,
    table_definitions: HashMap<u32, Value>,
    wasm_sigs: HashMap<u32, ir::SigRef>,
    defined_funcs: HashMap<u32, ir::FuncRef>,
}

impl<'m> FuncEnv<'m> {
    pub fn new(module: &'m ModuleInfo, offsets: &'m VMOffsets, tunables: Tunables) -> Self {
        Self {
            tunables,
            module,
            offsets,
            vmctx: Value::from_u32(0),
            entry_terminator: None,
            builtin_sigs: HashMap::new(),
            memory_bases: HashMap::new(),
            memory_definitions: HashMap::new(),
            table_definitions: HashMap::new(),
            wasm_sigs: HashMap::new(),
            defined_funcs: HashMap::new(),
        }
    }

    /// Emits a load at the end of the entry block (so it dominates every use) and
    /// returns its value.
    fn load_in_entry(
        &mut self,
        builder: &mut FunctionBuilder<'_>,
        ty: Type,
        flags: MemFlagsData,
        base: Value,
        offset: i32,
    ) -> Value {
        let terminator = self.entry_terminator.expect("entry block terminated before translation");
        let mut cursor = FuncCursor::new(builder.func).at_inst(terminator);
        cursor.ins().load(ty, flags, base, offset)
    }

    /// The store's `VMRuntimeLimits`. The pointer never changes for a vmctx, so the load
    /// may move: uses share one load, hoisted out of loops.
    pub fn runtime_limits(&mut self, builder: &mut FunctionBuilder<'_>) -> Value {
        builder.ins().load(
            POINTER,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            self.vmctx,
            header::RUNTIME_LIMITS as i32,
        )
    }

    /// The store's epoch slot (`vm::epoch::EpochSlot`); movable like
    /// [`Self::runtime_limits`].
    pub fn epoch_slot(&mut self, builder: &mut FunctionBuilder<'_>) -> Value {
        builder.ins().load(
            POINTER,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            self.vmctx,
            header::EPOCH_SLOT as i32,
        )
    }

    /// The engine's epoch counter address; movable like [`Self::runtime_limits`].
    pub fn epoch_counter(&mut self, builder: &mut FunctionBuilder<'_>) -> Value {
        builder.ins().load(
            POINTER,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            self.vmctx,
            header::EPOCH_PTR as i32,
        )
    }

    /// Calls a builtin with `args` (after vmctx); returns its result, if any.
    pub fn call_builtin(
        &mut self,
        builder: &mut FunctionBuilder<'_>,
        builtin: Builtin,
        args: &[Value],
    ) -> Option<Value> {
        let sig = match self.builtin_sigs.get(&builtin) {
            Some(&sig) => sig,
            None => {
                let call_conv = if builtin.preserves_all() { CallConv::PreserveAll } else { CallConv::SystemV };
                let mut signature = Signature::new(call_conv);
                signature.params.push(AbiParam::new(POINTER));
                signature.params.extend(builtin.params().iter().map(|&t| AbiParam::new(builtin_type(t))));
                if let Some(result) = builtin.result() {
                    signature.returns.push(AbiParam::new(builtin_type(result)));
                }
                let sig = builder.import_signature(signature);
                self.builtin_sigs.insert(builtin, sig);
                sig
            }
        };
        // Loaded at the call site, not hoisted: builtins mostly sit on cold paths, and a
        // pointer kept live across a loop would cost the loop a register.
        let flags = MemFlagsData::trusted().with_readonly();
        let table = builder.ins().load(POINTER, flags, self.vmctx, header::BUILTINS as i32);
        let entry = builder.ins().load(POINTER, flags, table, (builtin as u32 * 8) as i32);
        let mut call_args = Vec::with_capacity(args.len() + 1);
        call_args.push(self.vmctx);
        call_args.extend_from_slice(args);
        let call = builder.ins().call_indirect(sig, entry, &call_args);
        builder.inst_results(call).first().copied()
    }

    /// Calls a builtin that returns a status and traps with `code` when it fails.
    pub fn call_builtin_checked(
        &mut self,
        builder: &mut FunctionBuilder<'_>,
        builtin: Builtin,
        args: &[Value],
        code: TrapCode,
    ) {
        let status = self.call_builtin(builder, builtin, args).expect("checked builtins return a status");
        builder.ins().trapnz(status, trap_code(code));
    }

    /// The signature reference for module type `ty` (wasm convention).
    pub fn wasm_sig(&mut self, builder: &mut FunctionBuilder<'_>, ty: TypeIndex) -> ir::SigRef {
        if let Some(&sig) = self.wasm_sigs.get(&ty.0) {
            return sig;
        }
        let sig = builder.import_signature(wasm_signature(&self.module.types[ty.index()]));
        self.wasm_sigs.insert(ty.0, sig);
        sig
    }

    /// A direct reference to a defined function (resolved when the module is linked).
    pub fn defined_func_ref(&mut self, builder: &mut FunctionBuilder<'_>, func: FuncIndex) -> ir::FuncRef {
        if let Some(&func_ref) = self.defined_funcs.get(&func.0) {
            return func_ref;
        }
        let ty = self.module.functions[func.index()];
        let signature = self.wasm_sig(builder, ty);
        let name = builder.func.declare_imported_user_function(ir::UserExternalName { namespace: 0, index: func.0 });
        let func_ref = builder.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.defined_funcs.insert(func.0, func_ref);
        func_ref
    }

    pub fn memory_info(&self, memory: MemoryIndex) -> MemoryInfo {
        MemoryInfo { memory64: self.module.memories[memory.index()].memory64 }
    }

    /// A pointer to the memory's `VMMemoryDefinition` (fixed for the call).
    pub fn memory_definition(&mut self, builder: &mut FunctionBuilder<'_>, memory: MemoryIndex) -> Value {
        if let Some(&definition) = self.memory_definitions.get(&memory.0) {
            return definition;
        }
        let offset = self.offsets.memory(memory) as i32;
        let definition = self.load_in_entry(builder, POINTER, trusted_readonly(), self.vmctx, offset);
        self.memory_definitions.insert(memory.0, definition);
        definition
    }

    /// The memory's base address. 32-bit memories never move, so their base is loaded
    /// once; 64-bit memories may move when they grow, so it is reloaded here.
    pub fn memory_base(&mut self, builder: &mut FunctionBuilder<'_>, memory: MemoryIndex) -> Value {
        let definition = self.memory_definition(builder, memory);
        if self.memory_info(memory).memory64 {
            return builder.ins().load(POINTER, trusted(), definition, field::MEMORY_BASE as i32);
        }
        if let Some(&base) = self.memory_bases.get(&memory.0) {
            return base;
        }
        let base = self.load_in_entry(builder, POINTER, trusted_readonly(), definition, field::MEMORY_BASE as i32);
        self.memory_bases.insert(memory.0, base);
        base
    }

    /// The memory's current length in bytes (may change at any call).
    pub fn memory_length(&mut self, builder: &mut FunctionBuilder<'_>, memory: MemoryIndex) -> Value {
        let definition = self.memory_definition(builder, memory);
        builder.ins().load(types::I64, trusted(), definition, field::MEMORY_CURRENT_LENGTH as i32)
    }

    /// A pointer to the table's `VMTableDefinition` (fixed for the call).
    pub fn table_definition(&mut self, builder: &mut FunctionBuilder<'_>, table: TableIndex) -> Value {
        if let Some(&definition) = self.table_definitions.get(&table.0) {
            return definition;
        }
        let offset = self.offsets.table(table) as i32;
        let definition = self.load_in_entry(builder, POINTER, trusted_readonly(), self.vmctx, offset);
        self.table_definitions.insert(table.0, definition);
        definition
    }

    /// The address of a global's storage, and whether it is imported.
    pub fn global_address(&mut self, builder: &mut FunctionBuilder<'_>, global: GlobalIndex) -> (Value, i32) {
        match self.module.defined_global(global) {
            Some(defined) => (self.vmctx, self.offsets.defined_global(defined) as i32),
            None => {
                let offset = self.offsets.imported_global(global) as i32;
                (self.load_in_entry(builder, POINTER, trusted_readonly(), self.vmctx, offset), 0)
            }
        }
    }
}
