//! Locals, globals, and the parametric operators (`drop`, `select`).

use cranelift_codegen::ir::{InstBuilder, MemFlagsData};
use wasmparser::Operator;

use super::FuncTranslator;
use crate::compiler::func_env::clif_type;
use crate::error::Result;
use crate::types::GlobalIndex;

impl FuncTranslator<'_, '_> {
    pub(super) fn variable_operator(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        match op {
            Operator::LocalGet { local_index } => {
                let value = self.builder.use_var(self.locals[*local_index as usize]);
                self.push(value);
            }
            Operator::LocalSet { local_index } => {
                let value = self.pop();
                self.builder.def_var(self.locals[*local_index as usize], value);
            }
            Operator::LocalTee { local_index } => {
                let value = *self.stack.last().expect("validated operand");
                self.builder.def_var(self.locals[*local_index as usize], value);
            }
            Operator::GlobalGet { global_index } => {
                let global = GlobalIndex(*global_index);
                let ty = clif_type(self.env.module.globals[global.index()].content);
                let (base, offset) = self.env.global_address(&mut self.builder, global);
                let value = self.builder.ins().load(ty, MemFlagsData::trusted(), base, offset);
                self.push(value);
            }
            Operator::GlobalSet { global_index } => {
                let value = self.pop();
                let (base, offset) = self.env.global_address(&mut self.builder, GlobalIndex(*global_index));
                self.builder.ins().store(MemFlagsData::trusted(), value, base, offset);
            }
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (a, b, condition) = self.pop3();
                let value = self.builder.ins().select(condition, a, b);
                self.push(value);
            }
            _ => return None,
        }
        Some(Ok(()))
    }
}
