//! Trampolines between the host's array convention and the wasm convention.
//!
//! `array_to_wasm` (one per function type a module exports or stores): called from
//! Rust as `extern "C" fn(wasm_call, vmctx, caller_vmctx, values)`, loads the
//! parameters from the `ValRaw` array, calls the wasm entry, stores the results back.
//!
//! `wasm_to_host` (one per host function type, compiled by the engine): has the wasm
//! signature, spills the parameters into a stack array, calls the host entry stored in
//! the host function's context, traps with `HostError` if it reports failure, and
//! returns the results from the array. Only integers and pointers cross into Rust.

use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

use crate::compiler::func_env::{
    POINTER, array_to_wasm_signature, clif_type, host_entry_signature, trap_code, trusted, wasm_signature,
};
use crate::prelude::*;
use crate::trap::TrapCode;
use crate::types::FuncType;
use crate::vm::vmcontext::field;

/// Where a host function context keeps its entry point (read by `wasm_to_host`).
pub const HOST_CONTEXT_ENTRY_OFFSET: i32 = 8;

/// Builds the CLIF of an array-to-wasm trampoline for `ty`.
pub fn array_to_wasm(
    ty: &FuncType,
    context: &mut FunctionBuilderContext,
    frontend: TargetFrontendConfig,
) -> ir::Function {
    let mut func = ir::Function::with_name_signature(UserFuncName::default(), array_to_wasm_signature());
    let mut builder = FunctionBuilder::new(&mut func, context);
    let block = builder.create_block();
    builder.append_block_params_for_function_params(block);
    builder.switch_to_block(block);
    builder.seal_block(block);
    let params = builder.block_params(block).to_vec();
    let (code, vmctx, caller, values) = (params[0], params[1], params[2], params[3]);
    let mut args = vec![vmctx, caller];
    for (index, &param) in ty.params().iter().enumerate() {
        let offset = (index as u32 * field::VAL_RAW_SIZE) as i32;
        args.push(builder.ins().load(clif_type(param), trusted(), values, offset));
    }
    let sig = builder.import_signature(wasm_signature(ty));
    let call = builder.ins().call_indirect(sig, code, &args);
    let results = builder.inst_results(call).to_vec();
    for (index, result) in results.into_iter().enumerate() {
        let offset = (index as u32 * field::VAL_RAW_SIZE) as i32;
        builder.ins().store(trusted(), result, values, offset);
    }
    builder.ins().return_(&[]);
    builder.finalize(frontend);
    func
}

/// Builds the CLIF of a wasm-to-host trampoline for `ty`.
pub fn wasm_to_host(
    ty: &FuncType,
    context: &mut FunctionBuilderContext,
    frontend: TargetFrontendConfig,
) -> ir::Function {
    let mut func = ir::Function::with_name_signature(UserFuncName::default(), wasm_signature(ty));
    let slots = ty.params().len().max(ty.results().len()).max(1) as u32;
    let mut builder = FunctionBuilder::new(&mut func, context);
    let block = builder.create_block();
    builder.append_block_params_for_function_params(block);
    builder.switch_to_block(block);
    builder.seal_block(block);
    let params = builder.block_params(block).to_vec();
    let (host_context, caller) = (params[0], params[1]);
    let slot = builder.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        slots * field::VAL_RAW_SIZE,
        4,
    ));
    let values = builder.ins().stack_addr(POINTER, slot, 0);
    for (index, &param) in params[2..].iter().enumerate() {
        let offset = (index as u32 * field::VAL_RAW_SIZE) as i32;
        builder.ins().store(trusted(), param, values, offset);
    }
    let entry = builder.ins().load(POINTER, trusted(), host_context, HOST_CONTEXT_ENTRY_OFFSET);
    let len = builder.ins().iconst(POINTER, i64::from(slots));
    let sig = builder.import_signature(host_entry_signature());
    let call = builder.ins().call_indirect(sig, entry, &[host_context, caller, values, len]);
    let ok = builder.inst_results(call)[0];
    builder.ins().trapz(ok, trap_code(TrapCode::HostError));
    let mut results = Vec::with_capacity(ty.results().len());
    for (index, &result) in ty.results().iter().enumerate() {
        let offset = (index as u32 * field::VAL_RAW_SIZE) as i32;
        results.push(builder.ins().load(clif_type(result), MemFlagsData::trusted(), values, offset));
    }
    builder.ins().return_(&results);
    builder.finalize(frontend);
    func
}
