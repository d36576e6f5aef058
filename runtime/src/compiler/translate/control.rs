//! Control flow: blocks, loops, ifs, branches, returns, calls and tail calls.

use cranelift_codegen::ir::{self, InstBuilder, Type};
use hashbrown::HashMap;
use wasmparser::{BlockType, Operator};

use super::{ControlFrame, ControlKind, FuncTranslator, block_args};
use crate::compiler::func_env::{POINTER, clif_type, trap_code, trusted, trusted_readonly};
use crate::error::Result;
use crate::prelude::*;
use crate::trap::TrapCode;
use crate::types::{FuncIndex, TableIndex, TypeIndex};
use crate::vm::vmcontext::field;

impl FuncTranslator<'_, '_> {
    pub(super) fn control_operator(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        Some(match op {
            Operator::Nop => Ok(()),
            Operator::Unreachable => {
                self.builder.ins().trap(trap_code(TrapCode::UnreachableCodeReached));
                self.reachable = false;
                Ok(())
            }
            Operator::Block { blockty } => self.translate_block(*blockty),
            Operator::Loop { blockty } => self.translate_loop(*blockty),
            Operator::If { blockty } => self.translate_if(*blockty),
            Operator::Else => self.translate_else(),
            Operator::End => self.translate_end(),
            Operator::Br { relative_depth } => {
                self.translate_br(*relative_depth);
                Ok(())
            }
            Operator::BrIf { relative_depth } => {
                self.translate_br_if(*relative_depth);
                Ok(())
            }
            Operator::BrTable { targets } => self.translate_br_table(targets),
            Operator::Return => {
                self.translate_return();
                Ok(())
            }
            Operator::Call { function_index } => {
                self.translate_call(FuncIndex(*function_index), false);
                Ok(())
            }
            Operator::ReturnCall { function_index } => {
                self.translate_call(FuncIndex(*function_index), true);
                Ok(())
            }
            Operator::CallIndirect { type_index, table_index } => {
                self.translate_call_indirect(TypeIndex(*type_index), TableIndex(*table_index), false);
                Ok(())
            }
            Operator::ReturnCallIndirect { type_index, table_index } => {
                self.translate_call_indirect(TypeIndex(*type_index), TableIndex(*table_index), true);
                Ok(())
            }
            _ => return None,
        })
    }

    /// Parameter and result types of a block type.
    fn block_signature(&self, blockty: BlockType) -> Result<(Vec<Type>, Vec<Type>)> {
        Ok(match blockty {
            BlockType::Empty => (Vec::new(), Vec::new()),
            BlockType::Type(ty) => (Vec::new(), vec![clif_type(super::wasm_val_type(ty)?)]),
            BlockType::FuncType(index) => {
                let ty = &self.env.module.types[index as usize];
                (
                    ty.params().iter().map(|&t| clif_type(t)).collect(),
                    ty.results().iter().map(|&t| clif_type(t)).collect(),
                )
            }
        })
    }

    fn new_block_with_params(&mut self, types: &[Type]) -> ir::Block {
        let block = self.builder.create_block();
        for &ty in types {
            self.builder.append_block_param(block, ty);
        }
        block
    }

    fn translate_block(&mut self, blockty: BlockType) -> Result<()> {
        let (params, results) = self.block_signature(blockty)?;
        let destination = self.new_block_with_params(&results);
        self.control.push(ControlFrame {
            kind: ControlKind::Block,
            destination,
            param_count: params.len(),
            result_types: results,
            stack_base: self.stack.len() - params.len(),
            exit_branched: false,
        });
        Ok(())
    }

    fn translate_loop(&mut self, blockty: BlockType) -> Result<()> {
        let (params, results) = self.block_signature(blockty)?;
        let header = self.new_block_with_params(&params);
        let destination = self.new_block_with_params(&results);
        let args = block_args(&self.pop_n(params.len()));
        self.builder.ins().jump(header, &args);
        self.builder.switch_to_block(header);
        let header_params = self.builder.block_params(header).to_vec();
        let stack_base = self.stack.len();
        self.stack.extend(header_params);
        self.instrument_checkpoint();
        self.control.push(ControlFrame {
            kind: ControlKind::Loop { header },
            destination,
            param_count: params.len(),
            result_types: results,
            stack_base,
            exit_branched: false,
        });
        Ok(())
    }

    fn translate_if(&mut self, blockty: BlockType) -> Result<()> {
        let condition = self.pop();
        let (params, results) = self.block_signature(blockty)?;
        let then_block = self.builder.create_block();
        let else_block = self.builder.create_block();
        let destination = self.new_block_with_params(&results);
        self.builder.ins().brif(condition, then_block, &[], else_block, &[]);
        self.builder.seal_block(then_block);
        self.builder.seal_block(else_block);
        self.builder.switch_to_block(then_block);
        let param_values = self.peek_n(params.len()).to_vec();
        self.control.push(ControlFrame {
            kind: ControlKind::If { else_block, else_entered: false, params: param_values },
            destination,
            param_count: params.len(),
            result_types: results,
            stack_base: self.stack.len() - params.len(),
            exit_branched: false,
        });
        Ok(())
    }

    pub(super) fn translate_else(&mut self) -> Result<()> {
        let frame = self.control.last().expect("validated: else inside if");
        let (destination, result_count, stack_base) = (frame.destination, frame.result_types.len(), frame.stack_base);
        let ControlKind::If { else_block, params, .. } = &frame.kind else {
            unreachable!("validated: else inside if");
        };
        let (else_block, params) = (*else_block, params.clone());
        if self.reachable {
            let args = block_args(self.peek_n(result_count));
            self.builder.ins().jump(destination, &args);
        }
        let frame = self.control.last_mut().expect("checked above");
        frame.exit_branched |= self.reachable;
        if let ControlKind::If { else_entered, .. } = &mut frame.kind {
            *else_entered = true;
        }
        self.stack.truncate(stack_base);
        self.stack.extend(params);
        self.builder.switch_to_block(else_block);
        self.reachable = true;
        Ok(())
    }

    pub(super) fn translate_end(&mut self) -> Result<()> {
        let frame = self.control.pop().expect("validated: end closes a frame");
        let result_count = frame.result_types.len();
        let mut exit_reachable = frame.exit_branched;
        if self.reachable {
            let args = block_args(self.peek_n(result_count));
            self.builder.ins().jump(frame.destination, &args);
            exit_reachable = true;
        }
        if let ControlKind::If { else_block, else_entered: false, params } = &frame.kind {
            // No `else`: the else path passes the parameters through as results.
            self.builder.switch_to_block(*else_block);
            let args = block_args(params);
            self.builder.ins().jump(frame.destination, &args);
            exit_reachable = true;
        }
        if let ControlKind::Loop { header } = frame.kind {
            self.builder.seal_block(header);
        }
        self.stack.truncate(frame.stack_base);
        self.builder.switch_to_block(frame.destination);
        self.builder.seal_block(frame.destination);
        let results = self.builder.block_params(frame.destination).to_vec();
        if self.control.is_empty() {
            // The function body's end: return its results.
            self.builder.ins().return_(&results);
            self.reachable = false;
            return Ok(());
        }
        self.stack.extend(results);
        self.reachable = exit_reachable;
        if !exit_reachable {
            // Nothing reaches the destination: keep it well-formed for the verifier.
            self.builder.ins().trap(trap_code(TrapCode::UnreachableCodeReached));
        }
        Ok(())
    }

    fn frame_at_depth(&mut self, depth: u32) -> &mut ControlFrame {
        let index = self.control.len() - 1 - depth as usize;
        &mut self.control[index]
    }

    fn translate_br(&mut self, depth: u32) {
        let frame = self.frame_at_depth(depth);
        let (target, count) = frame.branch_target();
        if !frame.is_loop() {
            frame.exit_branched = true;
        }
        let args = block_args(self.peek_n(count));
        self.builder.ins().jump(target, &args);
        self.reachable = false;
    }

    fn translate_br_if(&mut self, depth: u32) {
        let condition = self.pop();
        let frame = self.frame_at_depth(depth);
        let (target, count) = frame.branch_target();
        if !frame.is_loop() {
            frame.exit_branched = true;
        }
        let args = block_args(self.peek_n(count));
        let next = self.builder.create_block();
        self.builder.ins().brif(condition, target, &args, next, &[]);
        self.builder.seal_block(next);
        self.builder.switch_to_block(next);
    }

    fn translate_br_table(&mut self, targets: &wasmparser::BrTable<'_>) -> Result<()> {
        let index = self.pop();
        let mut depths = Vec::with_capacity(targets.len() as usize);
        for depth in targets.targets() {
            depths.push(depth?);
        }
        let default = targets.default();
        let (_, count) = self.frame_at_depth(default).branch_target();
        let args = block_args(self.peek_n(count));
        // One edge block per distinct target carries the arguments (jump tables
        // themselves pass none).
        let mut edges: HashMap<u32, ir::Block> = HashMap::new();
        let mut edge_for = |this: &mut Self, depth: u32| -> ir::Block {
            if let Some(&block) = edges.get(&depth) {
                return block;
            }
            let frame = this.frame_at_depth(depth);
            let (target, _) = frame.branch_target();
            if !frame.is_loop() {
                frame.exit_branched = true;
            }
            let block = if args.is_empty() { target } else { this.builder.create_block() };
            edges.insert(depth, block);
            block
        };
        let default_block = edge_for(self, default);
        let mut table_blocks = Vec::with_capacity(depths.len());
        for &depth in &depths {
            table_blocks.push(edge_for(self, depth));
        }
        let pool = &mut self.builder.func.dfg.value_lists;
        let default_call = ir::BlockCall::new(default_block, core::iter::empty(), pool);
        let calls: Vec<ir::BlockCall> =
            table_blocks.iter().map(|&block| ir::BlockCall::new(block, core::iter::empty(), pool)).collect();
        let table = self.builder.create_jump_table(ir::JumpTableData::new(default_call, &calls));
        self.builder.ins().br_table(index, table);
        if !args.is_empty() {
            let mut pairs: Vec<(u32, ir::Block)> = edges.into_iter().collect();
            pairs.sort_by_key(|(depth, _)| *depth);
            for (depth, edge) in pairs {
                let (target, _) = self.frame_at_depth(depth).branch_target();
                self.builder.switch_to_block(edge);
                self.builder.seal_block(edge);
                self.builder.ins().jump(target, &args);
            }
        }
        self.reachable = false;
        Ok(())
    }

    fn translate_return(&mut self) {
        let count = self.control[0].result_types.len();
        let results = self.peek_n(count).to_vec();
        self.builder.ins().return_(&results);
        self.reachable = false;
    }

    /// `call`/`return_call` of a function by index.
    fn translate_call(&mut self, func: FuncIndex, tail: bool) {
        let ty = self.env.module.functions[func.index()];
        let param_count = self.env.module.types[ty.index()].params().len();
        let wasm_args = self.pop_n(param_count);
        let mut args = Vec::with_capacity(param_count + 2);
        let vmctx = self.env.vmctx;
        let inst = if self.env.module.defined_func(func).is_some() {
            let callee = self.env.defined_func_ref(&mut self.builder, func);
            args.extend([vmctx, vmctx]);
            args.extend(wasm_args);
            if tail { self.builder.ins().return_call(callee, &args) } else { self.builder.ins().call(callee, &args) }
        } else {
            let import = self.env.offsets.imported_function(func) as i32;
            let code = self.builder.ins().load(
                POINTER,
                trusted_readonly(),
                vmctx,
                import + field::IMPORT_FUNC_WASM_CALL as i32,
            );
            let callee_vmctx =
                self.builder.ins().load(POINTER, trusted_readonly(), vmctx, import + field::IMPORT_FUNC_VMCTX as i32);
            let sig = self.env.wasm_sig(&mut self.builder, ty);
            args.extend([callee_vmctx, vmctx]);
            args.extend(wasm_args);
            if tail {
                self.builder.ins().return_call_indirect(sig, code, &args)
            } else {
                self.builder.ins().call_indirect(sig, code, &args)
            }
        };
        self.finish_call(inst, tail);
    }

    fn finish_call(&mut self, inst: ir::Inst, tail: bool) {
        if tail {
            self.reachable = false;
        } else {
            let results = self.builder.inst_results(inst).to_vec();
            self.stack.extend(results);
            self.instrument_after_call();
        }
    }

    /// `call_indirect`/`return_call_indirect`: bounds, null and signature checks, then
    /// an indirect call through the function reference.
    fn translate_call_indirect(&mut self, ty: TypeIndex, table: TableIndex, tail: bool) {
        let index = self.pop();
        let table_type = self.env.module.tables[table.index()];
        let func_ref = self.table_funcref(table, index, table_type.table64, TrapCode::UndefinedElement);
        self.builder.ins().trapz(func_ref, trap_code(TrapCode::UninitializedElement));
        // The expected id sits in the vmctx (see `vm::offsets`), never in the code.
        let expected = self.builder.ins().load(
            ir::types::I32,
            trusted_readonly(),
            self.env.vmctx,
            self.env.offsets.type_id(ty) as i32,
        );
        let actual = self.builder.ins().load(ir::types::I32, trusted(), func_ref, field::FUNC_REF_TYPE_INDEX as i32);
        let mismatch = self.builder.ins().icmp(ir::condcodes::IntCC::NotEqual, actual, expected);
        self.builder.ins().trapnz(mismatch, trap_code(TrapCode::BadSignature));
        let code = self.builder.ins().load(POINTER, trusted(), func_ref, field::FUNC_REF_WASM_CALL as i32);
        let callee_vmctx = self.builder.ins().load(POINTER, trusted(), func_ref, field::FUNC_REF_VMCTX as i32);
        let param_count = self.env.module.types[ty.index()].params().len();
        let mut args = vec![callee_vmctx, self.env.vmctx];
        args.extend(self.pop_n(param_count));
        let sig = self.env.wasm_sig(&mut self.builder, ty);
        let inst = if tail {
            self.builder.ins().return_call_indirect(sig, code, &args)
        } else {
            self.builder.ins().call_indirect(sig, code, &args)
        };
        self.finish_call(inst, tail);
    }
}
