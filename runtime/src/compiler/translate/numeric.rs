//! Numeric operators: constants, integer and float arithmetic, comparisons,
//! conversions, sign extension, saturating truncation.
//!
//! Cranelift's instructions already have WebAssembly's semantics for the tricky cases
//! (`fmin`/`fmax` NaN and signed-zero rules, `nearest` ties-to-even, division and
//! float-to-int traps), so most operators map one to one.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use wasmparser::Operator;

use super::FuncTranslator;
use crate::error::Result;

impl FuncTranslator<'_, '_> {
    fn unary(&mut self, f: impl FnOnce(&mut Self, Value) -> Value) {
        let a = self.pop();
        let value = f(self, a);
        self.push(value);
    }

    fn binary(&mut self, f: impl FnOnce(&mut Self, Value, Value) -> Value) {
        let (a, b) = self.pop2();
        let value = f(self, a, b);
        self.push(value);
    }

    fn icmp(&mut self, cc: IntCC) {
        let (a, b) = self.pop2();
        let flag = self.builder.ins().icmp(cc, a, b);
        let value = self.builder.ins().uextend(types::I32, flag);
        self.push(value);
    }

    fn fcmp(&mut self, cc: FloatCC) {
        let (a, b) = self.pop2();
        let flag = self.builder.ins().fcmp(cc, a, b);
        let value = self.builder.ins().uextend(types::I32, flag);
        self.push(value);
    }

    fn eqz(&mut self) {
        let a = self.pop();
        let flag = self.builder.ins().icmp_imm_s(IntCC::Equal, a, 0);
        let value = self.builder.ins().uextend(types::I32, flag);
        self.push(value);
    }

    /// `extendN_s`: sign-extend the low `from` bits within the same width.
    fn sign_extend_within(&mut self, from: types::Type, to: types::Type) {
        let a = self.pop();
        let narrow = self.builder.ins().ireduce(from, a);
        let value = self.builder.ins().sextend(to, narrow);
        self.push(value);
    }

    pub(super) fn numeric_operator(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        use types::{F32, F64, I32, I64};
        match op {
            Operator::I32Const { value } => {
                let v = self.builder.ins().iconst(I32, i64::from(*value));
                self.push(v);
            }
            Operator::I64Const { value } => {
                let v = self.builder.ins().iconst(I64, *value);
                self.push(v);
            }
            Operator::F32Const { value } => {
                let v = self.builder.ins().f32const(Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            Operator::F64Const { value } => {
                let v = self.builder.ins().f64const(Ieee64::with_bits(value.bits()));
                self.push(v);
            }

            Operator::I32Eqz | Operator::I64Eqz => self.eqz(),
            Operator::I32Eq | Operator::I64Eq => self.icmp(IntCC::Equal),
            Operator::I32Ne | Operator::I64Ne => self.icmp(IntCC::NotEqual),
            Operator::I32LtS | Operator::I64LtS => self.icmp(IntCC::SignedLessThan),
            Operator::I32LtU | Operator::I64LtU => self.icmp(IntCC::UnsignedLessThan),
            Operator::I32GtS | Operator::I64GtS => self.icmp(IntCC::SignedGreaterThan),
            Operator::I32GtU | Operator::I64GtU => self.icmp(IntCC::UnsignedGreaterThan),
            Operator::I32LeS | Operator::I64LeS => self.icmp(IntCC::SignedLessThanOrEqual),
            Operator::I32LeU | Operator::I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual),
            Operator::I32GeS | Operator::I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual),
            Operator::I32GeU | Operator::I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual),

            Operator::F32Eq | Operator::F64Eq => self.fcmp(FloatCC::Equal),
            Operator::F32Ne | Operator::F64Ne => self.fcmp(FloatCC::NotEqual),
            Operator::F32Lt | Operator::F64Lt => self.fcmp(FloatCC::LessThan),
            Operator::F32Gt | Operator::F64Gt => self.fcmp(FloatCC::GreaterThan),
            Operator::F32Le | Operator::F64Le => self.fcmp(FloatCC::LessThanOrEqual),
            Operator::F32Ge | Operator::F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual),

            Operator::I32Clz | Operator::I64Clz => self.unary(|t, a| t.builder.ins().clz(a)),
            Operator::I32Ctz | Operator::I64Ctz => self.unary(|t, a| t.builder.ins().ctz(a)),
            Operator::I32Popcnt | Operator::I64Popcnt => self.unary(|t, a| t.builder.ins().popcnt(a)),
            Operator::I32Add | Operator::I64Add => self.binary(|t, a, b| t.builder.ins().iadd(a, b)),
            Operator::I32Sub | Operator::I64Sub => self.binary(|t, a, b| t.builder.ins().isub(a, b)),
            Operator::I32Mul | Operator::I64Mul => self.binary(|t, a, b| t.builder.ins().imul(a, b)),
            Operator::I32DivS | Operator::I64DivS => self.binary(|t, a, b| t.builder.ins().sdiv(a, b)),
            Operator::I32DivU | Operator::I64DivU => self.binary(|t, a, b| t.builder.ins().udiv(a, b)),
            Operator::I32RemS | Operator::I64RemS => self.binary(|t, a, b| t.builder.ins().srem(a, b)),
            Operator::I32RemU | Operator::I64RemU => self.binary(|t, a, b| t.builder.ins().urem(a, b)),
            Operator::I32And | Operator::I64And => self.binary(|t, a, b| t.builder.ins().band(a, b)),
            Operator::I32Or | Operator::I64Or => self.binary(|t, a, b| t.builder.ins().bor(a, b)),
            Operator::I32Xor | Operator::I64Xor => self.binary(|t, a, b| t.builder.ins().bxor(a, b)),
            Operator::I32Shl | Operator::I64Shl => self.binary(|t, a, b| t.builder.ins().ishl(a, b)),
            Operator::I32ShrS | Operator::I64ShrS => self.binary(|t, a, b| t.builder.ins().sshr(a, b)),
            Operator::I32ShrU | Operator::I64ShrU => self.binary(|t, a, b| t.builder.ins().ushr(a, b)),
            Operator::I32Rotl | Operator::I64Rotl => self.binary(|t, a, b| t.builder.ins().rotl(a, b)),
            Operator::I32Rotr | Operator::I64Rotr => self.binary(|t, a, b| t.builder.ins().rotr(a, b)),

            Operator::F32Abs | Operator::F64Abs => self.unary(|t, a| t.builder.ins().fabs(a)),
            Operator::F32Neg | Operator::F64Neg => self.unary(|t, a| t.builder.ins().fneg(a)),
            Operator::F32Ceil | Operator::F64Ceil => self.unary(|t, a| t.builder.ins().ceil(a)),
            Operator::F32Floor | Operator::F64Floor => self.unary(|t, a| t.builder.ins().floor(a)),
            Operator::F32Trunc | Operator::F64Trunc => self.unary(|t, a| t.builder.ins().trunc(a)),
            Operator::F32Nearest | Operator::F64Nearest => self.unary(|t, a| t.builder.ins().nearest(a)),
            Operator::F32Sqrt | Operator::F64Sqrt => self.unary(|t, a| t.builder.ins().sqrt(a)),
            Operator::F32Add | Operator::F64Add => self.binary(|t, a, b| t.builder.ins().fadd(a, b)),
            Operator::F32Sub | Operator::F64Sub => self.binary(|t, a, b| t.builder.ins().fsub(a, b)),
            Operator::F32Mul | Operator::F64Mul => self.binary(|t, a, b| t.builder.ins().fmul(a, b)),
            Operator::F32Div | Operator::F64Div => self.binary(|t, a, b| t.builder.ins().fdiv(a, b)),
            Operator::F32Min | Operator::F64Min => self.binary(|t, a, b| t.builder.ins().fmin(a, b)),
            Operator::F32Max | Operator::F64Max => self.binary(|t, a, b| t.builder.ins().fmax(a, b)),
            Operator::F32Copysign | Operator::F64Copysign => self.binary(|t, a, b| t.builder.ins().fcopysign(a, b)),

            Operator::I32WrapI64 => self.unary(|t, a| t.builder.ins().ireduce(I32, a)),
            Operator::I64ExtendI32S => self.unary(|t, a| t.builder.ins().sextend(I64, a)),
            Operator::I64ExtendI32U => self.unary(|t, a| t.builder.ins().uextend(I64, a)),
            Operator::I32TruncF32S | Operator::I32TruncF64S => self.unary(|t, a| t.builder.ins().fcvt_to_sint(I32, a)),
            Operator::I32TruncF32U | Operator::I32TruncF64U => self.unary(|t, a| t.builder.ins().fcvt_to_uint(I32, a)),
            Operator::I64TruncF32S | Operator::I64TruncF64S => self.unary(|t, a| t.builder.ins().fcvt_to_sint(I64, a)),
            Operator::I64TruncF32U | Operator::I64TruncF64U => self.unary(|t, a| t.builder.ins().fcvt_to_uint(I64, a)),
            Operator::I32TruncSatF32S | Operator::I32TruncSatF64S => {
                self.unary(|t, a| t.builder.ins().fcvt_to_sint_sat(I32, a))
            }
            Operator::I32TruncSatF32U | Operator::I32TruncSatF64U => {
                self.unary(|t, a| t.builder.ins().fcvt_to_uint_sat(I32, a))
            }
            Operator::I64TruncSatF32S | Operator::I64TruncSatF64S => {
                self.unary(|t, a| t.builder.ins().fcvt_to_sint_sat(I64, a))
            }
            Operator::I64TruncSatF32U | Operator::I64TruncSatF64U => {
                self.unary(|t, a| t.builder.ins().fcvt_to_uint_sat(I64, a))
            }
            Operator::F32ConvertI32S | Operator::F32ConvertI64S => {
                self.unary(|t, a| t.builder.ins().fcvt_from_sint(F32, a))
            }
            Operator::F32ConvertI32U | Operator::F32ConvertI64U => {
                self.unary(|t, a| t.builder.ins().fcvt_from_uint(F32, a))
            }
            Operator::F64ConvertI32S | Operator::F64ConvertI64S => {
                self.unary(|t, a| t.builder.ins().fcvt_from_sint(F64, a))
            }
            Operator::F64ConvertI32U | Operator::F64ConvertI64U => {
                self.unary(|t, a| t.builder.ins().fcvt_from_uint(F64, a))
            }
            Operator::F32DemoteF64 => self.unary(|t, a| t.builder.ins().fdemote(F32, a)),
            Operator::F64PromoteF32 => self.unary(|t, a| t.builder.ins().fpromote(F64, a)),
            Operator::I32ReinterpretF32 => {
                self.unary(|t, a| t.builder.ins().bitcast(I32, cranelift_codegen::ir::MemFlagsData::new(), a))
            }
            Operator::I64ReinterpretF64 => {
                self.unary(|t, a| t.builder.ins().bitcast(I64, cranelift_codegen::ir::MemFlagsData::new(), a))
            }
            Operator::F32ReinterpretI32 => {
                self.unary(|t, a| t.builder.ins().bitcast(F32, cranelift_codegen::ir::MemFlagsData::new(), a))
            }
            Operator::F64ReinterpretI64 => {
                self.unary(|t, a| t.builder.ins().bitcast(F64, cranelift_codegen::ir::MemFlagsData::new(), a))
            }

            Operator::I32Extend8S => self.sign_extend_within(types::I8, I32),
            Operator::I32Extend16S => self.sign_extend_within(types::I16, I32),
            Operator::I64Extend8S => self.sign_extend_within(types::I8, I64),
            Operator::I64Extend16S => self.sign_extend_within(types::I16, I64),
            Operator::I64Extend32S => self.sign_extend_within(I32, I64),
            _ => return None,
        }
        Some(Ok(()))
    }
}
