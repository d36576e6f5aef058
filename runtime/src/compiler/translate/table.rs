//! Tables and references: `table.*`, `elem.drop`, `ref.null`, `ref.is_null`,
//! `ref.func`, and the funcref element loads `call_indirect` shares.
//!
//! Funcref elements are lazily initialized: `0` means "not yet", `ptr | 1` means
//! initialized (so an explicit null is `1`). Loads mask the tag and take the builtin
//! slow path on `0`; stores set the tag.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use wasmparser::Operator;

use super::FuncTranslator;
use crate::compiler::func_env::{POINTER, trap_code, trusted};
use crate::error::Result;
use crate::trap::TrapCode;
use crate::types::{RefType, TableIndex};
use crate::vm::builtin::Builtin;
use crate::vm::vmcontext::field;

impl FuncTranslator<'_, '_> {
    /// The address of element `index` of `table` after a bounds check that traps with
    /// `oob` (`index` is i32, or i64 for 64-bit tables).
    fn table_element_address(
        &mut self,
        table: TableIndex,
        index: Value,
        table64: bool,
        oob: TrapCode,
    ) -> (Value, Value) {
        let definition = self.env.table_definition(&mut self.builder, table);
        let index = self.index_to_pointer(index, table64);
        let bound = self.builder.ins().load(types::I64, trusted(), definition, field::TABLE_CURRENT_ELEMENTS as i32);
        let beyond = self.builder.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, bound);
        self.builder.ins().trapnz(beyond, trap_code(oob));
        let base = self.builder.ins().load(POINTER, trusted(), definition, field::TABLE_BASE as i32);
        let offset = self.builder.ins().ishl_imm_s(index, 3);
        (self.builder.ins().iadd(base, offset), index)
    }

    /// Loads a funcref element, initializing it through the builtin when still lazy.
    /// Returns the `VMFuncRef` pointer (0 for null).
    pub(super) fn table_funcref(&mut self, table: TableIndex, index: Value, table64: bool, oob: TrapCode) -> Value {
        let (address, index) = self.table_element_address(table, index, table64, oob);
        let element = self.builder.ins().load(POINTER, trusted(), address, 0);
        let lazy = self.builder.create_block();
        let ready = self.builder.create_block();
        let join = self.builder.create_block();
        let result = self.builder.append_block_param(join, POINTER);
        self.builder.set_cold_block(lazy);
        self.builder.ins().brif(element, ready, &[], lazy, &[]);
        self.builder.seal_block(ready);
        self.builder.seal_block(lazy);

        self.builder.switch_to_block(ready);
        let untagged = self.builder.ins().band_imm_s(element, !1i64);
        self.builder.ins().jump(join, &[cranelift_codegen::ir::BlockArg::Value(untagged)]);

        self.builder.switch_to_block(lazy);
        let table_index = self.builder.ins().iconst(types::I32, i64::from(table.0));
        let initialized = self
            .env
            .call_builtin(&mut self.builder, Builtin::TableGetLazyInit, &[table_index, index])
            .expect("returns");
        self.builder.ins().jump(join, &[cranelift_codegen::ir::BlockArg::Value(initialized)]);

        self.builder.switch_to_block(join);
        self.builder.seal_block(join);
        result
    }

    fn element_type(&self, table: TableIndex) -> RefType {
        self.env.module.tables[table.index()].element
    }

    fn table64(&self, table: TableIndex) -> bool {
        self.env.module.tables[table.index()].table64
    }

    /// A table operand (index or length) widened to i64 for builtins.
    fn table_operand(&mut self, value: Value, table: TableIndex) -> Value {
        let table64 = self.table64(table);
        self.index_to_pointer(value, table64)
    }

    pub(super) fn table_operator(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        match op {
            Operator::TableGet { table } => {
                let table = TableIndex(*table);
                let index = self.pop();
                let table64 = self.table64(table);
                let value = match self.element_type(table) {
                    RefType::FuncRef => self.table_funcref(table, index, table64, TrapCode::TableOutOfBounds),
                    RefType::ExternRef => {
                        let (address, _) =
                            self.table_element_address(table, index, table64, TrapCode::TableOutOfBounds);
                        self.builder.ins().load(POINTER, trusted(), address, 0)
                    }
                };
                self.push(value);
            }
            Operator::TableSet { table } => {
                let table = TableIndex(*table);
                let (index, value) = self.pop2();
                let table64 = self.table64(table);
                let (address, _) = self.table_element_address(table, index, table64, TrapCode::TableOutOfBounds);
                let stored = match self.element_type(table) {
                    RefType::FuncRef => self.builder.ins().bor_imm_s(value, 1),
                    RefType::ExternRef => value,
                };
                self.builder.ins().store(trusted(), stored, address, 0);
            }
            Operator::TableSize { table } => {
                let table = TableIndex(*table);
                let definition = self.env.table_definition(&mut self.builder, table);
                let size =
                    self.builder.ins().load(types::I64, trusted(), definition, field::TABLE_CURRENT_ELEMENTS as i32);
                let value = if self.table64(table) { size } else { self.builder.ins().ireduce(types::I32, size) };
                self.push(value);
            }
            Operator::TableGrow { table } => {
                let table = TableIndex(*table);
                let (init, delta) = self.pop2();
                let delta = self.table_operand(delta, table);
                let index = self.builder.ins().iconst(types::I32, i64::from(table.0));
                let old = self
                    .env
                    .call_builtin(&mut self.builder, Builtin::TableGrow, &[index, delta, init])
                    .expect("returns");
                let value = if self.table64(table) { old } else { self.builder.ins().ireduce(types::I32, old) };
                self.push(value);
            }
            Operator::TableFill { table } => {
                let table = TableIndex(*table);
                let (dst, value, len) = self.pop3();
                let dst = self.table_operand(dst, table);
                let len = self.table_operand(len, table);
                let index = self.builder.ins().iconst(types::I32, i64::from(table.0));
                self.env.call_builtin_checked(
                    &mut self.builder,
                    Builtin::TableFill,
                    &[index, dst, value, len],
                    TrapCode::TableOutOfBounds,
                );
            }
            Operator::TableCopy { dst_table, src_table } => {
                let (dst, src, len) = self.pop3();
                let (dst_t, src_t) = (TableIndex(*dst_table), TableIndex(*src_table));
                let dst = self.table_operand(dst, dst_t);
                let src = self.table_operand(src, src_t);
                let both64 = self.table64(dst_t) && self.table64(src_t);
                let len = self.index_to_pointer(len, both64);
                let dst_index = self.builder.ins().iconst(types::I32, i64::from(*dst_table));
                let src_index = self.builder.ins().iconst(types::I32, i64::from(*src_table));
                self.env.call_builtin_checked(
                    &mut self.builder,
                    Builtin::TableCopy,
                    &[dst_index, src_index, dst, src, len],
                    TrapCode::TableOutOfBounds,
                );
            }
            Operator::TableInit { elem_index, table } => {
                let table_index = TableIndex(*table);
                let (dst, src, len) = self.pop3();
                let dst = self.table_operand(dst, table_index);
                let index = self.builder.ins().iconst(types::I32, i64::from(*table));
                let elem = self.builder.ins().iconst(types::I32, i64::from(*elem_index));
                self.env.call_builtin_checked(
                    &mut self.builder,
                    Builtin::TableInit,
                    &[index, elem, dst, src, len],
                    TrapCode::TableOutOfBounds,
                );
            }
            Operator::ElemDrop { elem_index } => {
                let elem = self.builder.ins().iconst(types::I32, i64::from(*elem_index));
                self.env.call_builtin(&mut self.builder, Builtin::ElemDrop, &[elem]);
            }
            Operator::RefNull { .. } => {
                let null = self.builder.ins().iconst(POINTER, 0);
                self.push(null);
            }
            Operator::RefIsNull => {
                let value = self.pop();
                let is_null = self.builder.ins().icmp_imm_s(IntCC::Equal, value, 0);
                let value = self.builder.ins().uextend(types::I32, is_null);
                self.push(value);
            }
            Operator::RefFunc { function_index } => {
                let func = self.builder.ins().iconst(types::I32, i64::from(*function_index));
                let func_ref = self.env.call_builtin(&mut self.builder, Builtin::RefFunc, &[func]).expect("returns");
                self.push(func_ref);
            }
            _ => return None,
        }
        Some(Ok(()))
    }
}
