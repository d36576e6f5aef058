//! The wasm-to-CLIF translator: one function at a time, one operator at a time.
//!
//! `FuncTranslator` owns the operand stack and the control stack; each operator family
//! lives in its own module (`control`, `variables`, `numeric`, `memory`, `table`, `simd`) and
//! claims the operators it knows by returning `Some`. Operators are validated as they
//! are translated, so invalid code fails with the validator's message and offset.

mod control;
mod instrument;
mod memory;
mod numeric;
mod simd;
mod table;
mod variables;

use cranelift_codegen::ir::{self, Block, InstBuilder, Type, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use wasmparser::{FuncValidator, FunctionBody, Operator, ValidatorResources};

use crate::compiler::func_env::{FuncEnv, POINTER, clif_type};
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::{FuncType, ValType};

/// What kind of construct a control frame is.
pub(crate) enum ControlKind {
    Block,
    Loop { header: Block },
    If { else_block: Block, else_entered: bool, params: Vec<Value> },
}

/// One open `block`, `loop`, `if` (or the function body itself).
pub(crate) struct ControlFrame {
    pub kind: ControlKind,
    /// Where control goes after `end`; its block parameters are the frame's results.
    pub destination: Block,
    pub param_count: usize,
    pub result_types: Vec<Type>,
    /// Operand stack height below the frame's parameters.
    pub stack_base: usize,
    /// Whether any branch targets `destination`.
    pub exit_branched: bool,
}

impl ControlFrame {
    /// The block a branch to this frame goes to, and how many values it carries.
    pub fn branch_target(&self) -> (Block, usize) {
        match &self.kind {
            ControlKind::Loop { header } => (*header, self.param_count),
            _ => (self.destination, self.result_types.len()),
        }
    }

    pub fn is_loop(&self) -> bool {
        matches!(self.kind, ControlKind::Loop { .. })
    }
}

/// Translation state of one function.
pub struct FuncTranslator<'m, 'f> {
    pub(crate) builder: FunctionBuilder<'f>,
    pub(crate) env: FuncEnv<'m>,
    pub(crate) stack: Vec<Value>,
    pub(crate) control: Vec<ControlFrame>,
    pub(crate) locals: Vec<Variable>,
    pub(crate) local_types: Vec<ValType>,
    pub(crate) reachable: bool,
    /// Blocks opened while unreachable, whose `end`s must be skipped too.
    unreachable_depth: u32,
    pub(crate) instrumentation: instrument::Instrumentation,
}

/// Converts a validator type to a CLIF type, rejecting what this runtime lacks.
pub(crate) fn wasm_val_type(ty: wasmparser::ValType) -> Result<ValType> {
    crate::module::environ::val_type(ty)
}

impl<'m, 'f> FuncTranslator<'m, 'f> {
    /// Translates `body` (of signature `ty`) into the builder's function.
    pub fn translate(
        builder: FunctionBuilder<'f>,
        env: FuncEnv<'m>,
        ty: &FuncType,
        body: &FunctionBody<'_>,
        validator: &mut FuncValidator<ValidatorResources>,
        frontend: cranelift_codegen::isa::TargetFrontendConfig,
    ) -> Result<()> {
        let mut this = FuncTranslator {
            builder,
            env,
            stack: Vec::new(),
            control: Vec::new(),
            locals: Vec::new(),
            local_types: Vec::new(),
            reachable: true,
            unreachable_depth: 0,
            instrumentation: instrument::Instrumentation::default(),
        };
        if this.env.tunables.epoch_interruption {
            this.instrumentation.skip_entry_epoch_check = instrument::runs_bounded(body);
        }
        this.prologue(ty, body, validator)?;
        let mut reader = body.get_operators_reader()?;
        while !reader.eof() {
            let offset = reader.original_position();
            let op = reader.read()?;
            validator.op(offset, &op)?;
            this.operator(&op)?;
        }
        reader.finish()?;
        this.builder.seal_all_blocks();
        this.builder.finalize(frontend);
        Ok(())
    }

    /// Entry block, parameters, locals, and the function-level control frame.
    fn prologue(
        &mut self,
        ty: &FuncType,
        body: &FunctionBody<'_>,
        validator: &mut FuncValidator<ValidatorResources>,
    ) -> Result<()> {
        let entry = self.builder.create_block();
        self.builder.append_block_params_for_function_params(entry);
        self.builder.switch_to_block(entry);
        self.builder.seal_block(entry);
        let params: Vec<Value> = self.builder.block_params(entry).to_vec();
        self.env.vmctx = params[0];
        for (index, &param_ty) in ty.params().iter().enumerate() {
            let var = self.builder.declare_var(clif_type(param_ty));
            self.builder.def_var(var, params[index + 2]);
            self.locals.push(var);
            self.local_types.push(param_ty);
        }
        let mut locals = body.get_locals_reader()?;
        for _ in 0..locals.get_count() {
            let offset = locals.original_position();
            let (count, wasm_ty) = locals.read()?;
            validator.define_locals(offset, count, wasm_ty)?;
            let local_ty = wasm_val_type(wasm_ty)?;
            let clif_ty = clif_type(local_ty);
            let zero = self.zero(clif_ty);
            for _ in 0..count {
                let var = self.builder.declare_var(clif_ty);
                self.builder.def_var(var, zero);
                self.locals.push(var);
                self.local_types.push(local_ty);
            }
        }
        // Values loaded once per call are inserted before this jump (see FuncEnv).
        let body_block = self.builder.create_block();
        let jump = self.builder.ins().jump(body_block, &[]);
        self.env.entry_terminator = Some(jump);
        self.builder.switch_to_block(body_block);
        self.builder.seal_block(body_block);

        let exit = self.builder.create_block();
        let result_types: Vec<Type> = ty.results().iter().map(|&t| clif_type(t)).collect();
        for &result in &result_types {
            self.builder.append_block_param(exit, result);
        }
        self.control.push(ControlFrame {
            kind: ControlKind::Block,
            destination: exit,
            param_count: 0,
            result_types,
            stack_base: 0,
            exit_branched: false,
        });
        self.instrument_entry();
        Ok(())
    }

    /// A zero of type `ty` (locals start at zero; null references are 0).
    pub(crate) fn zero(&mut self, ty: Type) -> Value {
        match ty {
            ir::types::F32 => self.builder.ins().f32const(0.0),
            ir::types::F64 => self.builder.ins().f64const(0.0),
            ty if ty.is_vector() => self.vector_zero(ty),
            ty => self.builder.ins().iconst(ty, 0),
        }
    }

    fn operator(&mut self, op: &Operator<'_>) -> Result<()> {
        if !self.reachable {
            return self.unreachable_operator(op);
        }
        self.instrument_operator(op);
        if let Some(result) = self.control_operator(op) {
            return result;
        }
        if let Some(result) = self.variable_operator(op) {
            return result;
        }
        if let Some(result) = self.numeric_operator(op) {
            return result;
        }
        if let Some(result) = self.memory_operator(op) {
            return result;
        }
        if let Some(result) = self.table_operator(op) {
            return result;
        }
        if let Some(result) = self.simd_operator(op) {
            return result;
        }
        Err(Error::unsupported(format!("operator {op:?}")))
    }

    /// Skips dead code, keeping track of nesting so the right `else`/`end` revives it.
    fn unreachable_operator(&mut self, op: &Operator<'_>) -> Result<()> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => self.unreachable_depth += 1,
            Operator::Else if self.unreachable_depth == 0 => {
                // Fuel counted before the code became unreachable was never spent.
                self.instrumentation.reset_pending();
                return self.translate_else();
            }
            Operator::End if self.unreachable_depth == 0 => {
                self.instrumentation.reset_pending();
                return self.translate_end();
            }
            Operator::End => self.unreachable_depth -= 1,
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Value {
        self.stack.pop().expect("the validator guarantees operands")
    }

    pub(crate) fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    pub(crate) fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    pub(crate) fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    /// Pops the top `count` values, in stack order.
    pub(crate) fn pop_n(&mut self, count: usize) -> Vec<Value> {
        let at = self.stack.len() - count;
        self.stack.split_off(at)
    }

    /// The top `count` values, in stack order, without popping.
    pub(crate) fn peek_n(&self, count: usize) -> &[Value] {
        &self.stack[self.stack.len() - count..]
    }

    /// The index operand of a memory or table access as a pointer-width integer.
    pub(crate) fn index_to_pointer(&mut self, index: Value, is_64: bool) -> Value {
        if is_64 { index } else { self.builder.ins().uextend(POINTER, index) }
    }
}

/// Converts `BlockArg`s for jumps.
pub(crate) fn block_args(values: &[Value]) -> Vec<ir::BlockArg> {
    values.iter().map(|&v| ir::BlockArg::Value(v)).collect()
}
