//! SIMD operators: fixed-width `v128` (loads, lanes, arithmetic, conversions) and
//! relaxed SIMD, translated to Cranelift's vector instructions.
//!
//! Every `v128` on the operand stack, in locals, block parameters, globals and across
//! calls is an `I8X16`; an operator bitcasts its operands to the lane type it works on
//! and its result back (a register-level no-op), so nothing outside this module knows
//! about lane types. Each operator used here has an x86-64 lowering in Cranelift 0.135
//! at the runtime's SSE4.2 baseline (`compiler/isa.rs`); AVX/AVX2 encodings are picked
//! by Cranelift when the CPU has them. Relaxed operators compile to the native x86
//! instruction unless `Tunables::relaxed_simd_deterministic` asks for the fixed-width
//! meaning. Fused multiply-add uses the CPU's FMA; without it the native mode
//! multiplies then adds (the proposal allows either) and the deterministic mode calls a
//! software FMA builtin per lane.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32X4, F64X2, I8X16, I16X8, I32X4, I64X2};
use cranelift_codegen::ir::{self, ConstantData, InstBuilder, MemFlagsData, Type, Value, types};
use wasmparser::{MemArg, Operator};

use super::FuncTranslator;
use super::memory::heap_flags;
use crate::error::Result;
use crate::vm::builtin::Builtin;

/// How a vector-to-vector bitcast reinterprets lanes: as wasm's little-endian bytes.
fn lane_bitcast_flags() -> MemFlagsData {
    let mut flags = MemFlagsData::new();
    flags.set_endianness(ir::Endianness::Little);
    flags
}

/// Shape of the `v128` loads that widen narrow lanes.
#[derive(Clone, Copy)]
enum ExtendingLoad {
    S8x8,
    U8x8,
    S16x4,
    U16x4,
    S32x2,
    U32x2,
}

impl FuncTranslator<'_, '_> {
    /// `value` as `ty` (a bitcast when its vector type differs).
    fn as_vector(&mut self, value: Value, ty: Type) -> Value {
        if self.builder.func.dfg.value_type(value) == ty {
            value
        } else {
            self.builder.ins().bitcast(ty, lane_bitcast_flags(), value)
        }
    }

    /// Pops a `v128` viewed as `ty`.
    fn pop_vector(&mut self, ty: Type) -> Value {
        let value = self.pop();
        self.as_vector(value, ty)
    }

    fn pop2_vectors(&mut self, ty: Type) -> (Value, Value) {
        let b = self.pop_vector(ty);
        let a = self.pop_vector(ty);
        (a, b)
    }

    fn pop3_vectors(&mut self, ty: Type) -> (Value, Value, Value) {
        let c = self.pop_vector(ty);
        let (a, b) = self.pop2_vectors(ty);
        (a, b, c)
    }

    /// Pushes a vector result in the canonical `I8X16` form.
    fn push_vector(&mut self, value: Value) {
        let value = self.as_vector(value, I8X16);
        self.push(value);
    }

    fn vector_unary(&mut self, ty: Type, f: impl FnOnce(&mut Self, Value) -> Value) {
        let a = self.pop_vector(ty);
        let value = f(self, a);
        self.push_vector(value);
    }

    fn vector_binary(&mut self, ty: Type, f: impl FnOnce(&mut Self, Value, Value) -> Value) {
        let (a, b) = self.pop2_vectors(ty);
        let value = f(self, a, b);
        self.push_vector(value);
    }

    fn vector_icmp(&mut self, cc: IntCC, ty: Type) {
        self.vector_binary(ty, |t, a, b| t.builder.ins().icmp(cc, a, b));
    }

    fn vector_fcmp(&mut self, cc: FloatCC, ty: Type) {
        self.vector_binary(ty, |t, a, b| t.builder.ins().fcmp(cc, a, b));
    }

    /// A shift of each lane by the scalar `i32` operand (Cranelift, like wasm, takes it
    /// modulo the lane width).
    fn vector_shift(&mut self, ty: Type, f: impl FnOnce(&mut Self, Value, Value) -> Value) {
        let amount = self.pop();
        let a = self.pop_vector(ty);
        let value = f(self, a, amount);
        self.push_vector(value);
    }

    /// An all-zero vector of type `ty`.
    pub(crate) fn vector_zero(&mut self, ty: Type) -> Value {
        let handle = self.builder.func.dfg.constants.insert(ConstantData::from(&[0u8; 16][..]));
        self.builder.ins().vconst(ty, handle)
    }

    /// Widens both halves of `a` and `b`, multiplies lane-wise, and adds adjacent
    /// products: the dot product `i32x4.dot_i16x8_s` and the deterministic relaxed dot
    /// (Cranelift matches the pattern to `pmaddwd`).
    fn dot_pairwise(&mut self, a: Value, b: Value) -> Value {
        let (a_low, b_low) = (self.builder.ins().swiden_low(a), self.builder.ins().swiden_low(b));
        let low = self.builder.ins().imul(a_low, b_low);
        let (a_high, b_high) = (self.builder.ins().swiden_high(a), self.builder.ins().swiden_high(b));
        let high = self.builder.ins().imul(a_high, b_high);
        self.builder.ins().iadd_pairwise(low, high)
    }

    /// Each i32 lane: the exact sum of the four signed `i8 * i8` products under it (the
    /// deterministic `i32x4.relaxed_dot_i8x16_i7x16_add_s`; i8 products fit in i16).
    fn exact_dot_i8_to_i32(&mut self, a: Value, b: Value) -> Value {
        let (a_low, b_low) = (self.builder.ins().swiden_low(a), self.builder.ins().swiden_low(b));
        let low = self.builder.ins().imul(a_low, b_low);
        let (a_high, b_high) = (self.builder.ins().swiden_high(a), self.builder.ins().swiden_high(b));
        let high = self.builder.ins().imul(a_high, b_high);
        let (low_low, low_high) = (self.builder.ins().swiden_low(low), self.builder.ins().swiden_high(low));
        let (high_low, high_high) = (self.builder.ins().swiden_low(high), self.builder.ins().swiden_high(high));
        let sums_low = self.builder.ins().iadd_pairwise(low_low, low_high);
        let sums_high = self.builder.ins().iadd_pairwise(high_low, high_high);
        self.builder.ins().iadd_pairwise(sums_low, sums_high)
    }

    /// `extmul_{low,high}`: widen one half of each operand, then multiply.
    fn extmul(&mut self, ty: Type, high: bool, signed: bool) {
        self.vector_binary(ty, |t, a, b| {
            let widen = |t: &mut Self, v: Value| match (high, signed) {
                (false, true) => t.builder.ins().swiden_low(v),
                (true, true) => t.builder.ins().swiden_high(v),
                (false, false) => t.builder.ins().uwiden_low(v),
                (true, false) => t.builder.ins().uwiden_high(v),
            };
            let (a, b) = (widen(t, a), widen(t, b));
            t.builder.ins().imul(a, b)
        });
    }

    /// `extadd_pairwise`: widen both halves and add adjacent lanes.
    fn extadd_pairwise(&mut self, ty: Type, signed: bool) {
        self.vector_unary(ty, |t, a| {
            let (low, high) = if signed {
                (t.builder.ins().swiden_low(a), t.builder.ins().swiden_high(a))
            } else {
                (t.builder.ins().uwiden_low(a), t.builder.ins().uwiden_high(a))
            };
            t.builder.ins().iadd_pairwise(low, high)
        });
    }

    /// The address operand of a SIMD memory access of `size` bytes.
    fn simd_address(&mut self, memarg: &MemArg, size: u64) -> Value {
        let index = self.pop();
        self.heap_address(memarg, size, index)
    }

    /// A scalar load of `ty` (the lane type of a splat, zero or lane load).
    fn load_lane_scalar(&mut self, memarg: &MemArg, ty: Type) -> Value {
        let address = self.simd_address(memarg, u64::from(ty.bytes()));
        self.builder.ins().load(ty, heap_flags(), address, 0)
    }

    fn extending_load(&mut self, memarg: &MemArg, shape: ExtendingLoad) {
        let address = self.simd_address(memarg, 8);
        let flags = heap_flags();
        let ins = self.builder.ins();
        let value = match shape {
            ExtendingLoad::S8x8 => ins.sload8x8(flags, address, 0),
            ExtendingLoad::U8x8 => ins.uload8x8(flags, address, 0),
            ExtendingLoad::S16x4 => ins.sload16x4(flags, address, 0),
            ExtendingLoad::U16x4 => ins.uload16x4(flags, address, 0),
            ExtendingLoad::S32x2 => ins.sload32x2(flags, address, 0),
            ExtendingLoad::U32x2 => ins.uload32x2(flags, address, 0),
        };
        self.push_vector(value);
    }

    /// `vNxM.load*_lane`: replaces lane `lane` of the vector operand with a load.
    fn load_lane(&mut self, memarg: &MemArg, ty: Type, lane: u8) {
        let vector = self.pop_vector(ty);
        let scalar = self.load_lane_scalar(memarg, ty.lane_type());
        let value = self.builder.ins().insertlane(vector, scalar, lane);
        self.push_vector(value);
    }

    /// `v128.store*_lane`: stores lane `lane` of the vector operand.
    fn store_lane(&mut self, memarg: &MemArg, ty: Type, lane: u8) {
        let vector = self.pop_vector(ty);
        let scalar = self.builder.ins().extractlane(vector, lane);
        let address = self.simd_address(memarg, u64::from(ty.lane_type().bytes()));
        self.builder.ins().store(heap_flags(), scalar, address, 0);
    }

    fn splat(&mut self, ty: Type) {
        let scalar = self.pop();
        let scalar = if self.builder.func.dfg.value_type(scalar).bits() > ty.lane_bits() {
            self.builder.ins().ireduce(ty.lane_type(), scalar)
        } else {
            scalar
        };
        let value = self.builder.ins().splat(ty, scalar);
        self.push_vector(value);
    }

    fn extract_lane(&mut self, ty: Type, lane: u8, extend: Option<bool>) {
        let vector = self.pop_vector(ty);
        let scalar = self.builder.ins().extractlane(vector, lane);
        let value = match extend {
            Some(true) => self.builder.ins().sextend(types::I32, scalar),
            Some(false) => self.builder.ins().uextend(types::I32, scalar),
            None => scalar,
        };
        self.push(value);
    }

    fn replace_lane(&mut self, ty: Type, lane: u8) {
        let scalar = self.pop();
        let vector = self.pop_vector(ty);
        let scalar = if self.builder.func.dfg.value_type(scalar).bits() > ty.lane_bits() {
            self.builder.ins().ireduce(ty.lane_type(), scalar)
        } else {
            scalar
        };
        let value = self.builder.ins().insertlane(vector, scalar, lane);
        self.push_vector(value);
    }

    /// `pmin`/`pmax` as wasm defines them (`b < a ? b : a` and `a < b ? b : a`), in the
    /// operand order Cranelift's x86 backend turns into `minps`/`maxps`.
    fn pseudo_min_max(&mut self, ty: Type, max: bool) {
        self.vector_binary(ty, |t, a, b| {
            let less = if max {
                t.builder.ins().fcmp(FloatCC::LessThan, a, b)
            } else {
                t.builder.ins().fcmp(FloatCC::LessThan, b, a)
            };
            let mask = t.as_vector(less, ty);
            t.builder.ins().bitselect(mask, b, a)
        });
    }

    /// `a * b + c` for relaxed `madd` (`negate`: `-(a * b) + c`, relaxed `nmadd`).
    fn relaxed_madd(&mut self, ty: Type, negate: bool) {
        let (a, b, c) = self.pop3_vectors(ty);
        let a = if negate { self.builder.ins().fneg(a) } else { a };
        let value = if self.env.tunables.native_fma {
            self.builder.ins().fma(a, b, c)
        } else if self.env.tunables.relaxed_simd_deterministic {
            self.software_fma(ty, a, b, c)
        } else {
            let product = self.builder.ins().fmul(a, b);
            self.builder.ins().fadd(product, c)
        };
        self.push_vector(value);
    }

    /// Lane-wise fused multiply-add through the `FmaF32`/`FmaF64` builtins (floats cross
    /// as integer bits: the kernel is soft-float). Only deterministic relaxed SIMD on a
    /// CPU without FMA comes here.
    fn software_fma(&mut self, ty: Type, a: Value, b: Value, c: Value) -> Value {
        let (builtin, bits) = if ty == F32X4 { (Builtin::FmaF32, types::I32) } else { (Builtin::FmaF64, types::I64) };
        let mut result = c;
        for lane in 0..ty.lane_count() as u8 {
            let mut args = [a, b, c];
            for arg in &mut args {
                let float = self.builder.ins().extractlane(*arg, lane);
                *arg = self.builder.ins().bitcast(bits, MemFlagsData::new(), float);
            }
            let fused = self.env.call_builtin(&mut self.builder, builtin, &args).expect("returns its result");
            let float = self.builder.ins().bitcast(ty.lane_type(), MemFlagsData::new(), fused);
            result = self.builder.ins().insertlane(result, float, lane);
        }
        result
    }

    /// `i32x4.trunc_sat_f64x2_{s,u}_zero` (and the relaxed forms): convert both lanes
    /// to 64-bit integers, then narrow with saturation next to a zero half.
    fn trunc_f64x2_zero(&mut self, signed: bool, native: bool) {
        let a = self.pop_vector(F64X2);
        let converted = match (signed, native) {
            (true, true) => self.builder.ins().x86_cvtt2dq(I64X2, a),
            (true, false) => self.builder.ins().fcvt_to_sint_sat(I64X2, a),
            (false, _) => self.builder.ins().fcvt_to_uint_sat(I64X2, a),
        };
        let zero = self.vector_zero(I64X2);
        let value = if signed {
            self.builder.ins().snarrow(converted, zero)
        } else {
            self.builder.ins().uunarrow(converted, zero)
        };
        self.push_vector(value);
    }

    pub(super) fn simd_operator(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        use ExtendingLoad::*;
        let native = !self.env.tunables.relaxed_simd_deterministic;
        match op {
            Operator::V128Load { memarg } => {
                let address = self.simd_address(memarg, 16);
                let value = self.builder.ins().load(I8X16, heap_flags(), address, 0);
                self.push(value);
            }
            Operator::V128Store { memarg } => {
                let value = self.pop_vector(I8X16);
                let address = self.simd_address(memarg, 16);
                self.builder.ins().store(heap_flags(), value, address, 0);
            }
            Operator::V128Load8x8S { memarg } => self.extending_load(memarg, S8x8),
            Operator::V128Load8x8U { memarg } => self.extending_load(memarg, U8x8),
            Operator::V128Load16x4S { memarg } => self.extending_load(memarg, S16x4),
            Operator::V128Load16x4U { memarg } => self.extending_load(memarg, U16x4),
            Operator::V128Load32x2S { memarg } => self.extending_load(memarg, S32x2),
            Operator::V128Load32x2U { memarg } => self.extending_load(memarg, U32x2),
            Operator::V128Load8Splat { memarg }
            | Operator::V128Load16Splat { memarg }
            | Operator::V128Load32Splat { memarg }
            | Operator::V128Load64Splat { memarg } => {
                let ty = match op {
                    Operator::V128Load8Splat { .. } => I8X16,
                    Operator::V128Load16Splat { .. } => I16X8,
                    Operator::V128Load32Splat { .. } => I32X4,
                    _ => I64X2,
                };
                let scalar = self.load_lane_scalar(memarg, ty.lane_type());
                let value = self.builder.ins().splat(ty, scalar);
                self.push_vector(value);
            }
            Operator::V128Load32Zero { memarg } | Operator::V128Load64Zero { memarg } => {
                let ty = if matches!(op, Operator::V128Load32Zero { .. }) { I32X4 } else { I64X2 };
                let scalar = self.load_lane_scalar(memarg, ty.lane_type());
                // The other lanes of `scalar_to_vector` are zero.
                let value = self.builder.ins().scalar_to_vector(ty, scalar);
                self.push_vector(value);
            }
            Operator::V128Load8Lane { memarg, lane } => self.load_lane(memarg, I8X16, *lane),
            Operator::V128Load16Lane { memarg, lane } => self.load_lane(memarg, I16X8, *lane),
            Operator::V128Load32Lane { memarg, lane } => self.load_lane(memarg, I32X4, *lane),
            Operator::V128Load64Lane { memarg, lane } => self.load_lane(memarg, I64X2, *lane),
            Operator::V128Store8Lane { memarg, lane } => self.store_lane(memarg, I8X16, *lane),
            Operator::V128Store16Lane { memarg, lane } => self.store_lane(memarg, I16X8, *lane),
            Operator::V128Store32Lane { memarg, lane } => self.store_lane(memarg, I32X4, *lane),
            Operator::V128Store64Lane { memarg, lane } => self.store_lane(memarg, I64X2, *lane),

            Operator::V128Const { value } => {
                let handle = self.builder.func.dfg.constants.insert(ConstantData::from(value.bytes().as_slice()));
                let value = self.builder.ins().vconst(I8X16, handle);
                self.push(value);
            }
            Operator::I8x16Shuffle { lanes } => {
                let (a, b) = self.pop2_vectors(I8X16);
                let mask = self.builder.func.dfg.immediates.push(ConstantData::from(&lanes[..]));
                let value = self.builder.ins().shuffle(a, b, mask);
                self.push(value);
            }
            Operator::I8x16Swizzle => self.vector_binary(I8X16, |t, a, b| t.builder.ins().swizzle(a, b)),
            Operator::I8x16Splat => self.splat(I8X16),
            Operator::I16x8Splat => self.splat(I16X8),
            Operator::I32x4Splat => self.splat(I32X4),
            Operator::I64x2Splat => self.splat(I64X2),
            Operator::F32x4Splat => self.splat(F32X4),
            Operator::F64x2Splat => self.splat(F64X2),

            Operator::I8x16ExtractLaneS { lane } => self.extract_lane(I8X16, *lane, Some(true)),
            Operator::I8x16ExtractLaneU { lane } => self.extract_lane(I8X16, *lane, Some(false)),
            Operator::I16x8ExtractLaneS { lane } => self.extract_lane(I16X8, *lane, Some(true)),
            Operator::I16x8ExtractLaneU { lane } => self.extract_lane(I16X8, *lane, Some(false)),
            Operator::I32x4ExtractLane { lane } => self.extract_lane(I32X4, *lane, None),
            Operator::I64x2ExtractLane { lane } => self.extract_lane(I64X2, *lane, None),
            Operator::F32x4ExtractLane { lane } => self.extract_lane(F32X4, *lane, None),
            Operator::F64x2ExtractLane { lane } => self.extract_lane(F64X2, *lane, None),
            Operator::I8x16ReplaceLane { lane } => self.replace_lane(I8X16, *lane),
            Operator::I16x8ReplaceLane { lane } => self.replace_lane(I16X8, *lane),
            Operator::I32x4ReplaceLane { lane } => self.replace_lane(I32X4, *lane),
            Operator::I64x2ReplaceLane { lane } => self.replace_lane(I64X2, *lane),
            Operator::F32x4ReplaceLane { lane } => self.replace_lane(F32X4, *lane),
            Operator::F64x2ReplaceLane { lane } => self.replace_lane(F64X2, *lane),

            Operator::I8x16Eq => self.vector_icmp(IntCC::Equal, I8X16),
            Operator::I16x8Eq => self.vector_icmp(IntCC::Equal, I16X8),
            Operator::I32x4Eq => self.vector_icmp(IntCC::Equal, I32X4),
            Operator::I64x2Eq => self.vector_icmp(IntCC::Equal, I64X2),
            Operator::I8x16Ne => self.vector_icmp(IntCC::NotEqual, I8X16),
            Operator::I16x8Ne => self.vector_icmp(IntCC::NotEqual, I16X8),
            Operator::I32x4Ne => self.vector_icmp(IntCC::NotEqual, I32X4),
            Operator::I64x2Ne => self.vector_icmp(IntCC::NotEqual, I64X2),
            Operator::I8x16LtS => self.vector_icmp(IntCC::SignedLessThan, I8X16),
            Operator::I16x8LtS => self.vector_icmp(IntCC::SignedLessThan, I16X8),
            Operator::I32x4LtS => self.vector_icmp(IntCC::SignedLessThan, I32X4),
            Operator::I64x2LtS => self.vector_icmp(IntCC::SignedLessThan, I64X2),
            Operator::I8x16LtU => self.vector_icmp(IntCC::UnsignedLessThan, I8X16),
            Operator::I16x8LtU => self.vector_icmp(IntCC::UnsignedLessThan, I16X8),
            Operator::I32x4LtU => self.vector_icmp(IntCC::UnsignedLessThan, I32X4),
            Operator::I8x16GtS => self.vector_icmp(IntCC::SignedGreaterThan, I8X16),
            Operator::I16x8GtS => self.vector_icmp(IntCC::SignedGreaterThan, I16X8),
            Operator::I32x4GtS => self.vector_icmp(IntCC::SignedGreaterThan, I32X4),
            Operator::I64x2GtS => self.vector_icmp(IntCC::SignedGreaterThan, I64X2),
            Operator::I8x16GtU => self.vector_icmp(IntCC::UnsignedGreaterThan, I8X16),
            Operator::I16x8GtU => self.vector_icmp(IntCC::UnsignedGreaterThan, I16X8),
            Operator::I32x4GtU => self.vector_icmp(IntCC::UnsignedGreaterThan, I32X4),
            Operator::I8x16LeS => self.vector_icmp(IntCC::SignedLessThanOrEqual, I8X16),
            Operator::I16x8LeS => self.vector_icmp(IntCC::SignedLessThanOrEqual, I16X8),
            Operator::I32x4LeS => self.vector_icmp(IntCC::SignedLessThanOrEqual, I32X4),
            Operator::I64x2LeS => self.vector_icmp(IntCC::SignedLessThanOrEqual, I64X2),
            Operator::I8x16LeU => self.vector_icmp(IntCC::UnsignedLessThanOrEqual, I8X16),
            Operator::I16x8LeU => self.vector_icmp(IntCC::UnsignedLessThanOrEqual, I16X8),
            Operator::I32x4LeU => self.vector_icmp(IntCC::UnsignedLessThanOrEqual, I32X4),
            Operator::I8x16GeS => self.vector_icmp(IntCC::SignedGreaterThanOrEqual, I8X16),
            Operator::I16x8GeS => self.vector_icmp(IntCC::SignedGreaterThanOrEqual, I16X8),
            Operator::I32x4GeS => self.vector_icmp(IntCC::SignedGreaterThanOrEqual, I32X4),
            Operator::I64x2GeS => self.vector_icmp(IntCC::SignedGreaterThanOrEqual, I64X2),
            Operator::I8x16GeU => self.vector_icmp(IntCC::UnsignedGreaterThanOrEqual, I8X16),
            Operator::I16x8GeU => self.vector_icmp(IntCC::UnsignedGreaterThanOrEqual, I16X8),
            Operator::I32x4GeU => self.vector_icmp(IntCC::UnsignedGreaterThanOrEqual, I32X4),
            Operator::F32x4Eq => self.vector_fcmp(FloatCC::Equal, F32X4),
            Operator::F64x2Eq => self.vector_fcmp(FloatCC::Equal, F64X2),
            Operator::F32x4Ne => self.vector_fcmp(FloatCC::NotEqual, F32X4),
            Operator::F64x2Ne => self.vector_fcmp(FloatCC::NotEqual, F64X2),
            Operator::F32x4Lt => self.vector_fcmp(FloatCC::LessThan, F32X4),
            Operator::F64x2Lt => self.vector_fcmp(FloatCC::LessThan, F64X2),
            Operator::F32x4Gt => self.vector_fcmp(FloatCC::GreaterThan, F32X4),
            Operator::F64x2Gt => self.vector_fcmp(FloatCC::GreaterThan, F64X2),
            Operator::F32x4Le => self.vector_fcmp(FloatCC::LessThanOrEqual, F32X4),
            Operator::F64x2Le => self.vector_fcmp(FloatCC::LessThanOrEqual, F64X2),
            Operator::F32x4Ge => self.vector_fcmp(FloatCC::GreaterThanOrEqual, F32X4),
            Operator::F64x2Ge => self.vector_fcmp(FloatCC::GreaterThanOrEqual, F64X2),

            Operator::V128Not => self.vector_unary(I8X16, |t, a| t.builder.ins().bnot(a)),
            Operator::V128And => self.vector_binary(I8X16, |t, a, b| t.builder.ins().band(a, b)),
            Operator::V128AndNot => self.vector_binary(I8X16, |t, a, b| t.builder.ins().band_not(a, b)),
            Operator::V128Or => self.vector_binary(I8X16, |t, a, b| t.builder.ins().bor(a, b)),
            Operator::V128Xor => self.vector_binary(I8X16, |t, a, b| t.builder.ins().bxor(a, b)),
            Operator::V128Bitselect => {
                // wasm's operands are (v1, v2, mask); CLIF's `bitselect` takes the mask first.
                let (a, b, mask) = self.pop3_vectors(I8X16);
                let value = self.builder.ins().bitselect(mask, a, b);
                self.push(value);
            }
            Operator::V128AnyTrue => {
                let a = self.pop_vector(I8X16);
                let flag = self.builder.ins().vany_true(a);
                let value = self.builder.ins().uextend(types::I32, flag);
                self.push(value);
            }
            Operator::I8x16AllTrue | Operator::I16x8AllTrue | Operator::I32x4AllTrue | Operator::I64x2AllTrue => {
                let ty = match op {
                    Operator::I8x16AllTrue => I8X16,
                    Operator::I16x8AllTrue => I16X8,
                    Operator::I32x4AllTrue => I32X4,
                    _ => I64X2,
                };
                let a = self.pop_vector(ty);
                let flag = self.builder.ins().vall_true(a);
                let value = self.builder.ins().uextend(types::I32, flag);
                self.push(value);
            }
            Operator::I8x16Bitmask | Operator::I16x8Bitmask | Operator::I32x4Bitmask | Operator::I64x2Bitmask => {
                let ty = match op {
                    Operator::I8x16Bitmask => I8X16,
                    Operator::I16x8Bitmask => I16X8,
                    Operator::I32x4Bitmask => I32X4,
                    _ => I64X2,
                };
                let a = self.pop_vector(ty);
                let value = self.builder.ins().vhigh_bits(types::I32, a);
                self.push(value);
            }

            Operator::I8x16Abs => self.vector_unary(I8X16, |t, a| t.builder.ins().iabs(a)),
            Operator::I16x8Abs => self.vector_unary(I16X8, |t, a| t.builder.ins().iabs(a)),
            Operator::I32x4Abs => self.vector_unary(I32X4, |t, a| t.builder.ins().iabs(a)),
            Operator::I64x2Abs => self.vector_unary(I64X2, |t, a| t.builder.ins().iabs(a)),
            Operator::I8x16Neg => self.vector_unary(I8X16, |t, a| t.builder.ins().ineg(a)),
            Operator::I16x8Neg => self.vector_unary(I16X8, |t, a| t.builder.ins().ineg(a)),
            Operator::I32x4Neg => self.vector_unary(I32X4, |t, a| t.builder.ins().ineg(a)),
            Operator::I64x2Neg => self.vector_unary(I64X2, |t, a| t.builder.ins().ineg(a)),
            Operator::I8x16Popcnt => self.vector_unary(I8X16, |t, a| t.builder.ins().popcnt(a)),

            Operator::I8x16Shl => self.vector_shift(I8X16, |t, a, n| t.builder.ins().ishl(a, n)),
            Operator::I16x8Shl => self.vector_shift(I16X8, |t, a, n| t.builder.ins().ishl(a, n)),
            Operator::I32x4Shl => self.vector_shift(I32X4, |t, a, n| t.builder.ins().ishl(a, n)),
            Operator::I64x2Shl => self.vector_shift(I64X2, |t, a, n| t.builder.ins().ishl(a, n)),
            Operator::I8x16ShrS => self.vector_shift(I8X16, |t, a, n| t.builder.ins().sshr(a, n)),
            Operator::I16x8ShrS => self.vector_shift(I16X8, |t, a, n| t.builder.ins().sshr(a, n)),
            Operator::I32x4ShrS => self.vector_shift(I32X4, |t, a, n| t.builder.ins().sshr(a, n)),
            Operator::I64x2ShrS => self.vector_shift(I64X2, |t, a, n| t.builder.ins().sshr(a, n)),
            Operator::I8x16ShrU => self.vector_shift(I8X16, |t, a, n| t.builder.ins().ushr(a, n)),
            Operator::I16x8ShrU => self.vector_shift(I16X8, |t, a, n| t.builder.ins().ushr(a, n)),
            Operator::I32x4ShrU => self.vector_shift(I32X4, |t, a, n| t.builder.ins().ushr(a, n)),
            Operator::I64x2ShrU => self.vector_shift(I64X2, |t, a, n| t.builder.ins().ushr(a, n)),

            Operator::I8x16Add => self.vector_binary(I8X16, |t, a, b| t.builder.ins().iadd(a, b)),
            Operator::I16x8Add => self.vector_binary(I16X8, |t, a, b| t.builder.ins().iadd(a, b)),
            Operator::I32x4Add => self.vector_binary(I32X4, |t, a, b| t.builder.ins().iadd(a, b)),
            Operator::I64x2Add => self.vector_binary(I64X2, |t, a, b| t.builder.ins().iadd(a, b)),
            Operator::I8x16Sub => self.vector_binary(I8X16, |t, a, b| t.builder.ins().isub(a, b)),
            Operator::I16x8Sub => self.vector_binary(I16X8, |t, a, b| t.builder.ins().isub(a, b)),
            Operator::I32x4Sub => self.vector_binary(I32X4, |t, a, b| t.builder.ins().isub(a, b)),
            Operator::I64x2Sub => self.vector_binary(I64X2, |t, a, b| t.builder.ins().isub(a, b)),
            Operator::I16x8Mul => self.vector_binary(I16X8, |t, a, b| t.builder.ins().imul(a, b)),
            Operator::I32x4Mul => self.vector_binary(I32X4, |t, a, b| t.builder.ins().imul(a, b)),
            Operator::I64x2Mul => self.vector_binary(I64X2, |t, a, b| t.builder.ins().imul(a, b)),
            Operator::I8x16AddSatS => self.vector_binary(I8X16, |t, a, b| t.builder.ins().sadd_sat(a, b)),
            Operator::I16x8AddSatS => self.vector_binary(I16X8, |t, a, b| t.builder.ins().sadd_sat(a, b)),
            Operator::I8x16AddSatU => self.vector_binary(I8X16, |t, a, b| t.builder.ins().uadd_sat(a, b)),
            Operator::I16x8AddSatU => self.vector_binary(I16X8, |t, a, b| t.builder.ins().uadd_sat(a, b)),
            Operator::I8x16SubSatS => self.vector_binary(I8X16, |t, a, b| t.builder.ins().ssub_sat(a, b)),
            Operator::I16x8SubSatS => self.vector_binary(I16X8, |t, a, b| t.builder.ins().ssub_sat(a, b)),
            Operator::I8x16SubSatU => self.vector_binary(I8X16, |t, a, b| t.builder.ins().usub_sat(a, b)),
            Operator::I16x8SubSatU => self.vector_binary(I16X8, |t, a, b| t.builder.ins().usub_sat(a, b)),
            Operator::I8x16MinS => self.vector_binary(I8X16, |t, a, b| t.builder.ins().smin(a, b)),
            Operator::I16x8MinS => self.vector_binary(I16X8, |t, a, b| t.builder.ins().smin(a, b)),
            Operator::I32x4MinS => self.vector_binary(I32X4, |t, a, b| t.builder.ins().smin(a, b)),
            Operator::I8x16MinU => self.vector_binary(I8X16, |t, a, b| t.builder.ins().umin(a, b)),
            Operator::I16x8MinU => self.vector_binary(I16X8, |t, a, b| t.builder.ins().umin(a, b)),
            Operator::I32x4MinU => self.vector_binary(I32X4, |t, a, b| t.builder.ins().umin(a, b)),
            Operator::I8x16MaxS => self.vector_binary(I8X16, |t, a, b| t.builder.ins().smax(a, b)),
            Operator::I16x8MaxS => self.vector_binary(I16X8, |t, a, b| t.builder.ins().smax(a, b)),
            Operator::I32x4MaxS => self.vector_binary(I32X4, |t, a, b| t.builder.ins().smax(a, b)),
            Operator::I8x16MaxU => self.vector_binary(I8X16, |t, a, b| t.builder.ins().umax(a, b)),
            Operator::I16x8MaxU => self.vector_binary(I16X8, |t, a, b| t.builder.ins().umax(a, b)),
            Operator::I32x4MaxU => self.vector_binary(I32X4, |t, a, b| t.builder.ins().umax(a, b)),
            Operator::I8x16AvgrU => self.vector_binary(I8X16, |t, a, b| t.builder.ins().avg_round(a, b)),
            Operator::I16x8AvgrU => self.vector_binary(I16X8, |t, a, b| t.builder.ins().avg_round(a, b)),
            Operator::I16x8Q15MulrSatS => self.vector_binary(I16X8, |t, a, b| t.builder.ins().sqmul_round_sat(a, b)),
            Operator::I32x4DotI16x8S => self.vector_binary(I16X8, |t, a, b| t.dot_pairwise(a, b)),

            Operator::I8x16NarrowI16x8S => self.vector_binary(I16X8, |t, a, b| t.builder.ins().snarrow(a, b)),
            Operator::I8x16NarrowI16x8U => self.vector_binary(I16X8, |t, a, b| t.builder.ins().unarrow(a, b)),
            Operator::I16x8NarrowI32x4S => self.vector_binary(I32X4, |t, a, b| t.builder.ins().snarrow(a, b)),
            Operator::I16x8NarrowI32x4U => self.vector_binary(I32X4, |t, a, b| t.builder.ins().unarrow(a, b)),
            Operator::I16x8ExtendLowI8x16S => self.vector_unary(I8X16, |t, a| t.builder.ins().swiden_low(a)),
            Operator::I16x8ExtendHighI8x16S => self.vector_unary(I8X16, |t, a| t.builder.ins().swiden_high(a)),
            Operator::I16x8ExtendLowI8x16U => self.vector_unary(I8X16, |t, a| t.builder.ins().uwiden_low(a)),
            Operator::I16x8ExtendHighI8x16U => self.vector_unary(I8X16, |t, a| t.builder.ins().uwiden_high(a)),
            Operator::I32x4ExtendLowI16x8S => self.vector_unary(I16X8, |t, a| t.builder.ins().swiden_low(a)),
            Operator::I32x4ExtendHighI16x8S => self.vector_unary(I16X8, |t, a| t.builder.ins().swiden_high(a)),
            Operator::I32x4ExtendLowI16x8U => self.vector_unary(I16X8, |t, a| t.builder.ins().uwiden_low(a)),
            Operator::I32x4ExtendHighI16x8U => self.vector_unary(I16X8, |t, a| t.builder.ins().uwiden_high(a)),
            Operator::I64x2ExtendLowI32x4S => self.vector_unary(I32X4, |t, a| t.builder.ins().swiden_low(a)),
            Operator::I64x2ExtendHighI32x4S => self.vector_unary(I32X4, |t, a| t.builder.ins().swiden_high(a)),
            Operator::I64x2ExtendLowI32x4U => self.vector_unary(I32X4, |t, a| t.builder.ins().uwiden_low(a)),
            Operator::I64x2ExtendHighI32x4U => self.vector_unary(I32X4, |t, a| t.builder.ins().uwiden_high(a)),
            Operator::I16x8ExtAddPairwiseI8x16S => self.extadd_pairwise(I8X16, true),
            Operator::I16x8ExtAddPairwiseI8x16U => self.extadd_pairwise(I8X16, false),
            Operator::I32x4ExtAddPairwiseI16x8S => self.extadd_pairwise(I16X8, true),
            Operator::I32x4ExtAddPairwiseI16x8U => self.extadd_pairwise(I16X8, false),
            Operator::I16x8ExtMulLowI8x16S => self.extmul(I8X16, false, true),
            Operator::I16x8ExtMulHighI8x16S => self.extmul(I8X16, true, true),
            Operator::I16x8ExtMulLowI8x16U => self.extmul(I8X16, false, false),
            Operator::I16x8ExtMulHighI8x16U => self.extmul(I8X16, true, false),
            Operator::I32x4ExtMulLowI16x8S => self.extmul(I16X8, false, true),
            Operator::I32x4ExtMulHighI16x8S => self.extmul(I16X8, true, true),
            Operator::I32x4ExtMulLowI16x8U => self.extmul(I16X8, false, false),
            Operator::I32x4ExtMulHighI16x8U => self.extmul(I16X8, true, false),
            Operator::I64x2ExtMulLowI32x4S => self.extmul(I32X4, false, true),
            Operator::I64x2ExtMulHighI32x4S => self.extmul(I32X4, true, true),
            Operator::I64x2ExtMulLowI32x4U => self.extmul(I32X4, false, false),
            Operator::I64x2ExtMulHighI32x4U => self.extmul(I32X4, true, false),

            Operator::F32x4Add => self.vector_binary(F32X4, |t, a, b| t.builder.ins().fadd(a, b)),
            Operator::F64x2Add => self.vector_binary(F64X2, |t, a, b| t.builder.ins().fadd(a, b)),
            Operator::F32x4Sub => self.vector_binary(F32X4, |t, a, b| t.builder.ins().fsub(a, b)),
            Operator::F64x2Sub => self.vector_binary(F64X2, |t, a, b| t.builder.ins().fsub(a, b)),
            Operator::F32x4Mul => self.vector_binary(F32X4, |t, a, b| t.builder.ins().fmul(a, b)),
            Operator::F64x2Mul => self.vector_binary(F64X2, |t, a, b| t.builder.ins().fmul(a, b)),
            Operator::F32x4Div => self.vector_binary(F32X4, |t, a, b| t.builder.ins().fdiv(a, b)),
            Operator::F64x2Div => self.vector_binary(F64X2, |t, a, b| t.builder.ins().fdiv(a, b)),
            // Cranelift's `fmin`/`fmax` have wasm's NaN and signed-zero rules.
            Operator::F32x4Min => self.vector_binary(F32X4, |t, a, b| t.builder.ins().fmin(a, b)),
            Operator::F64x2Min => self.vector_binary(F64X2, |t, a, b| t.builder.ins().fmin(a, b)),
            Operator::F32x4Max => self.vector_binary(F32X4, |t, a, b| t.builder.ins().fmax(a, b)),
            Operator::F64x2Max => self.vector_binary(F64X2, |t, a, b| t.builder.ins().fmax(a, b)),
            Operator::F32x4PMin => self.pseudo_min_max(F32X4, false),
            Operator::F64x2PMin => self.pseudo_min_max(F64X2, false),
            Operator::F32x4PMax => self.pseudo_min_max(F32X4, true),
            Operator::F64x2PMax => self.pseudo_min_max(F64X2, true),
            Operator::F32x4Abs => self.vector_unary(F32X4, |t, a| t.builder.ins().fabs(a)),
            Operator::F64x2Abs => self.vector_unary(F64X2, |t, a| t.builder.ins().fabs(a)),
            Operator::F32x4Neg => self.vector_unary(F32X4, |t, a| t.builder.ins().fneg(a)),
            Operator::F64x2Neg => self.vector_unary(F64X2, |t, a| t.builder.ins().fneg(a)),
            Operator::F32x4Sqrt => self.vector_unary(F32X4, |t, a| t.builder.ins().sqrt(a)),
            Operator::F64x2Sqrt => self.vector_unary(F64X2, |t, a| t.builder.ins().sqrt(a)),
            // SSE4.1 `roundps`/`roundpd` (part of the baseline).
            Operator::F32x4Ceil => self.vector_unary(F32X4, |t, a| t.builder.ins().ceil(a)),
            Operator::F64x2Ceil => self.vector_unary(F64X2, |t, a| t.builder.ins().ceil(a)),
            Operator::F32x4Floor => self.vector_unary(F32X4, |t, a| t.builder.ins().floor(a)),
            Operator::F64x2Floor => self.vector_unary(F64X2, |t, a| t.builder.ins().floor(a)),
            Operator::F32x4Trunc => self.vector_unary(F32X4, |t, a| t.builder.ins().trunc(a)),
            Operator::F64x2Trunc => self.vector_unary(F64X2, |t, a| t.builder.ins().trunc(a)),
            Operator::F32x4Nearest => self.vector_unary(F32X4, |t, a| t.builder.ins().nearest(a)),
            Operator::F64x2Nearest => self.vector_unary(F64X2, |t, a| t.builder.ins().nearest(a)),

            Operator::F32x4ConvertI32x4S => self.vector_unary(I32X4, |t, a| t.builder.ins().fcvt_from_sint(F32X4, a)),
            Operator::F32x4ConvertI32x4U => self.vector_unary(I32X4, |t, a| t.builder.ins().fcvt_from_uint(F32X4, a)),
            Operator::F64x2ConvertLowI32x4S => self.vector_unary(I32X4, |t, a| {
                let wide = t.builder.ins().swiden_low(a);
                t.builder.ins().fcvt_from_sint(F64X2, wide)
            }),
            Operator::F64x2ConvertLowI32x4U => self.vector_unary(I32X4, |t, a| {
                let wide = t.builder.ins().uwiden_low(a);
                t.builder.ins().fcvt_from_uint(F64X2, wide)
            }),
            Operator::F64x2PromoteLowF32x4 => self.vector_unary(F32X4, |t, a| t.builder.ins().fvpromote_low(a)),
            Operator::F32x4DemoteF64x2Zero => self.vector_unary(F64X2, |t, a| t.builder.ins().fvdemote(a)),
            Operator::I32x4TruncSatF32x4S => {
                self.vector_unary(F32X4, |t, a| t.builder.ins().fcvt_to_sint_sat(I32X4, a))
            }
            Operator::I32x4TruncSatF32x4U | Operator::I32x4RelaxedTruncF32x4U => {
                self.vector_unary(F32X4, |t, a| t.builder.ins().fcvt_to_uint_sat(I32X4, a))
            }
            Operator::I32x4TruncSatF64x2SZero => self.trunc_f64x2_zero(true, false),
            Operator::I32x4TruncSatF64x2UZero | Operator::I32x4RelaxedTruncF64x2UZero => {
                self.trunc_f64x2_zero(false, false)
            }

            // Relaxed SIMD: the native x86 instruction, or the fixed-width meaning.
            Operator::I8x16RelaxedSwizzle => self.vector_binary(I8X16, |t, a, b| {
                if native { t.builder.ins().x86_pshufb(a, b) } else { t.builder.ins().swizzle(a, b) }
            }),
            Operator::I32x4RelaxedTruncF32x4S => self.vector_unary(F32X4, |t, a| {
                if native { t.builder.ins().x86_cvtt2dq(I32X4, a) } else { t.builder.ins().fcvt_to_sint_sat(I32X4, a) }
            }),
            Operator::I32x4RelaxedTruncF64x2SZero => self.trunc_f64x2_zero(true, native),
            Operator::F32x4RelaxedMadd => self.relaxed_madd(F32X4, false),
            Operator::F32x4RelaxedNmadd => self.relaxed_madd(F32X4, true),
            Operator::F64x2RelaxedMadd => self.relaxed_madd(F64X2, false),
            Operator::F64x2RelaxedNmadd => self.relaxed_madd(F64X2, true),
            Operator::I8x16RelaxedLaneselect
            | Operator::I16x8RelaxedLaneselect
            | Operator::I32x4RelaxedLaneselect
            | Operator::I64x2RelaxedLaneselect => {
                let ty = match op {
                    Operator::I8x16RelaxedLaneselect => I8X16,
                    Operator::I16x8RelaxedLaneselect => I16X8,
                    Operator::I32x4RelaxedLaneselect => I32X4,
                    _ => I64X2,
                };
                let (a, b, mask) = self.pop3_vectors(ty);
                // x86 has no 16-bit blend on the sign bit, so i16x8 is a bitselect in
                // both modes (a result the proposal allows).
                let value = if native && ty != I16X8 {
                    self.builder.ins().blendv(mask, a, b)
                } else {
                    self.builder.ins().bitselect(mask, a, b)
                };
                self.push_vector(value);
            }
            Operator::F32x4RelaxedMin
            | Operator::F64x2RelaxedMin
            | Operator::F32x4RelaxedMax
            | Operator::F64x2RelaxedMax => {
                let ty =
                    if matches!(op, Operator::F32x4RelaxedMin | Operator::F32x4RelaxedMax) { F32X4 } else { F64X2 };
                let max = matches!(op, Operator::F32x4RelaxedMax | Operator::F64x2RelaxedMax);
                match (native, max) {
                    (true, _) => self.pseudo_min_max(ty, max),
                    (false, false) => self.vector_binary(ty, |t, a, b| t.builder.ins().fmin(a, b)),
                    (false, true) => self.vector_binary(ty, |t, a, b| t.builder.ins().fmax(a, b)),
                }
            }
            Operator::I16x8RelaxedQ15mulrS => self.vector_binary(I16X8, |t, a, b| {
                if native { t.builder.ins().x86_pmulhrsw(a, b) } else { t.builder.ins().sqmul_round_sat(a, b) }
            }),
            Operator::I16x8RelaxedDotI8x16I7x16S => self.vector_binary(I8X16, |t, a, b| {
                // `pmaddubsw` reads its second operand unsigned: the 7-bit one.
                if native { t.builder.ins().x86_pmaddubsw(a, b) } else { t.dot_pairwise(a, b) }
            }),
            Operator::I32x4RelaxedDotI8x16I7x16AddS => {
                let accumulator = self.pop_vector(I32X4);
                let (a, b) = self.pop2_vectors(I8X16);
                let dot32 = if native {
                    let dot16 = self.builder.ins().x86_pmaddubsw(a, b);
                    let (low, high) = (self.builder.ins().swiden_low(dot16), self.builder.ins().swiden_high(dot16));
                    self.builder.ins().iadd_pairwise(low, high)
                } else {
                    self.exact_dot_i8_to_i32(a, b)
                };
                let value = self.builder.ins().iadd(dot32, accumulator);
                self.push_vector(value);
            }
            _ => return None,
        }
        Some(Ok(()))
    }
}
