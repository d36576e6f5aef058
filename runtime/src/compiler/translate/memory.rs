//! Linear memory: loads, stores, `memory.size`/`grow`, and the bulk-memory operators.
//!
//! 32-bit memories sit in a reservation of 4 GiB plus a 4 GiB guard region, so any
//! `index + offset + size` lands in it and a fault in the guard becomes the trap: no
//! bounds checks are emitted. 64-bit memories get an explicit check against the current
//! length before every access.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value, types};
use wasmparser::{MemArg, Operator};

use super::FuncTranslator;
use crate::compiler::func_env::{POINTER, trap_code};
use crate::error::Result;
use crate::trap::TrapCode;
use crate::types::{DataIndex, MemoryIndex};
use crate::vm::builtin::Builtin;

/// Flags of a heap access: may trap, with the out-of-bounds code.
pub(super) fn heap_flags() -> MemFlagsData {
    MemFlagsData::new().with_trap_code(Some(trap_code(TrapCode::MemoryOutOfBounds)))
}

impl FuncTranslator<'_, '_> {
    /// The native address of `index + memarg.offset` for an access of `size` bytes.
    pub(super) fn heap_address(&mut self, memarg: &MemArg, size: u64, index: Value) -> Value {
        let memory = MemoryIndex(memarg.memory);
        let memory64 = self.env.memory_info(memory).memory64;
        let base = self.env.memory_base(&mut self.builder, memory);
        if !memory64 {
            let index = self.builder.ins().uextend(POINTER, index);
            let address = self.builder.ins().iadd(base, index);
            return if memarg.offset == 0 {
                address
            } else {
                self.builder.ins().iadd_imm_s(address, memarg.offset as i64)
            };
        }
        // 64-bit: trap unless index + offset + size <= length.
        let length = self.env.memory_length(&mut self.builder, memory);
        let oob = trap_code(TrapCode::MemoryOutOfBounds);
        match memarg.offset.checked_add(size) {
            Some(end_offset) => {
                let end_offset = self.builder.ins().iconst(types::I64, end_offset as i64);
                let end = self.builder.ins().uadd_overflow_trap(index, end_offset, oob);
                let beyond = self.builder.ins().icmp(IntCC::UnsignedGreaterThan, end, length);
                self.builder.ins().trapnz(beyond, oob);
            }
            None => {
                self.builder.ins().trap(oob);
                let dead = self.builder.create_block();
                self.builder.switch_to_block(dead);
                self.builder.seal_block(dead);
            }
        }
        let address = self.builder.ins().iadd(base, index);
        if memarg.offset == 0 { address } else { self.builder.ins().iadd_imm_s(address, memarg.offset as i64) }
    }

    /// A load of `size` bytes as `load_ty`, extended to `result_ty` when narrower.
    fn load(&mut self, memarg: &MemArg, load_ty: Type, size: u64, extend: Option<(Type, bool)>) {
        let index = self.pop();
        let address = self.heap_address(memarg, size, index);
        let value = match extend {
            None => self.builder.ins().load(load_ty, heap_flags(), address, 0),
            Some((result_ty, signed)) => {
                let narrow = self.builder.ins().load(load_ty, heap_flags(), address, 0);
                if signed {
                    self.builder.ins().sextend(result_ty, narrow)
                } else {
                    self.builder.ins().uextend(result_ty, narrow)
                }
            }
        };
        self.push(value);
    }

    /// A store of the low `size` bytes of the value (`narrow` to truncate first).
    fn store(&mut self, memarg: &MemArg, size: u64, narrow: Option<Type>) {
        let (index, value) = self.pop2();
        let address = self.heap_address(memarg, size, index);
        let value = match narrow {
            Some(ty) => self.builder.ins().ireduce(ty, value),
            None => value,
        };
        self.builder.ins().store(heap_flags(), value, address, 0);
    }

    /// A memory operand (address or length) widened to i64 for builtins.
    fn memory_operand(&mut self, value: Value, memory: MemoryIndex) -> Value {
        let memory64 = self.env.memory_info(memory).memory64;
        self.index_to_pointer(value, memory64)
    }

    pub(super) fn memory_operator(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        use types::{F32, F64, I8, I16, I32, I64};
        match op {
            Operator::I32Load { memarg } => self.load(memarg, I32, 4, None),
            Operator::I64Load { memarg } => self.load(memarg, I64, 8, None),
            Operator::F32Load { memarg } => self.load(memarg, F32, 4, None),
            Operator::F64Load { memarg } => self.load(memarg, F64, 8, None),
            Operator::I32Load8S { memarg } => self.load(memarg, I8, 1, Some((I32, true))),
            Operator::I32Load8U { memarg } => self.load(memarg, I8, 1, Some((I32, false))),
            Operator::I32Load16S { memarg } => self.load(memarg, I16, 2, Some((I32, true))),
            Operator::I32Load16U { memarg } => self.load(memarg, I16, 2, Some((I32, false))),
            Operator::I64Load8S { memarg } => self.load(memarg, I8, 1, Some((I64, true))),
            Operator::I64Load8U { memarg } => self.load(memarg, I8, 1, Some((I64, false))),
            Operator::I64Load16S { memarg } => self.load(memarg, I16, 2, Some((I64, true))),
            Operator::I64Load16U { memarg } => self.load(memarg, I16, 2, Some((I64, false))),
            Operator::I64Load32S { memarg } => self.load(memarg, I32, 4, Some((I64, true))),
            Operator::I64Load32U { memarg } => self.load(memarg, I32, 4, Some((I64, false))),
            Operator::I32Store { memarg } | Operator::F32Store { memarg } => self.store(memarg, 4, None),
            Operator::I64Store { memarg } | Operator::F64Store { memarg } => self.store(memarg, 8, None),
            Operator::I32Store8 { memarg } | Operator::I64Store8 { memarg } => self.store(memarg, 1, Some(I8)),
            Operator::I32Store16 { memarg } | Operator::I64Store16 { memarg } => self.store(memarg, 2, Some(I16)),
            Operator::I64Store32 { memarg } => self.store(memarg, 4, Some(I32)),

            Operator::MemorySize { mem } => {
                let memory = MemoryIndex(*mem);
                let length = self.env.memory_length(&mut self.builder, memory);
                let pages = self.builder.ins().ushr_imm_s(length, 16);
                let value =
                    if self.env.memory_info(memory).memory64 { pages } else { self.builder.ins().ireduce(I32, pages) };
                self.push(value);
            }
            Operator::MemoryGrow { mem } => {
                let memory = MemoryIndex(*mem);
                let delta = self.pop();
                let delta = self.memory_operand(delta, memory);
                let index = self.builder.ins().iconst(I32, i64::from(*mem));
                let old =
                    self.env.call_builtin(&mut self.builder, Builtin::MemoryGrow, &[index, delta]).expect("returns");
                let value =
                    if self.env.memory_info(memory).memory64 { old } else { self.builder.ins().ireduce(I32, old) };
                self.push(value);
            }
            Operator::MemoryFill { mem } => {
                let memory = MemoryIndex(*mem);
                let (dst, byte, len) = self.pop3();
                let dst = self.memory_operand(dst, memory);
                let len = self.memory_operand(len, memory);
                let index = self.builder.ins().iconst(I32, i64::from(*mem));
                self.env.call_builtin_checked(
                    &mut self.builder,
                    Builtin::MemoryFill,
                    &[index, dst, byte, len],
                    TrapCode::MemoryOutOfBounds,
                );
            }
            Operator::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3();
                let dst_memory = MemoryIndex(*dst_mem);
                let src_memory = MemoryIndex(*src_mem);
                let dst = self.memory_operand(dst, dst_memory);
                let src = self.memory_operand(src, src_memory);
                // The length has the narrower of the two index types.
                let both64 = self.env.memory_info(dst_memory).memory64 && self.env.memory_info(src_memory).memory64;
                let len = self.index_to_pointer(len, both64);
                let dst_index = self.builder.ins().iconst(I32, i64::from(*dst_mem));
                let src_index = self.builder.ins().iconst(I32, i64::from(*src_mem));
                self.env.call_builtin_checked(
                    &mut self.builder,
                    Builtin::MemoryCopy,
                    &[dst_index, dst, src_index, src, len],
                    TrapCode::MemoryOutOfBounds,
                );
            }
            Operator::MemoryInit { data_index, mem } => {
                let memory = MemoryIndex(*mem);
                let (dst, src, len) = self.pop3();
                let dst = self.memory_operand(dst, memory);
                let index = self.builder.ins().iconst(I32, i64::from(*mem));
                let data = self.builder.ins().iconst(I32, i64::from(DataIndex(*data_index).0));
                self.env.call_builtin_checked(
                    &mut self.builder,
                    Builtin::MemoryInit,
                    &[index, data, dst, src, len],
                    TrapCode::MemoryOutOfBounds,
                );
            }
            Operator::DataDrop { data_index } => {
                let data = self.builder.ins().iconst(I32, i64::from(*data_index));
                self.env.call_builtin(&mut self.builder, Builtin::DataDrop, &[data]);
            }
            _ => return None,
        }
        Some(Ok(()))
    }
}
