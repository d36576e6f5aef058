//! Constant expressions (global initializers, segment offsets, element items), kept as
//! a short list of operations and evaluated at instantiation.
//!
//! Extended-const arithmetic (`i32.add` etc.) is included; anything else was rejected
//! by the validator before it got here.

use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::{FuncIndex, GlobalIndex};

/// One operation of a constant expression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstOp {
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    V128Const(u128),
    RefNull,
    RefFunc(FuncIndex),
    GlobalGet(GlobalIndex),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A validated constant expression.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstExpr {
    pub ops: Vec<ConstOp>,
}

/// The raw bits a constant expression evaluates to (refs: a funcref index or null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstValue {
    Bits(u64),
    /// A `v128` (its own variant: offsets and arithmetic never see one).
    V128(u128),
    /// `ref.func`: the function is resolved to a pointer by the instance.
    Func(FuncIndex),
    Null,
}

impl ConstExpr {
    /// Converts a wasmparser constant expression.
    pub fn from_reader(expr: &wasmparser::ConstExpr<'_>) -> Result<Self> {
        let mut ops = Vec::new();
        let mut reader = expr.get_operators_reader();
        while !reader.eof() {
            let op = reader.read()?;
            ops.push(match op {
                wasmparser::Operator::I32Const { value } => ConstOp::I32Const(value),
                wasmparser::Operator::I64Const { value } => ConstOp::I64Const(value),
                wasmparser::Operator::F32Const { value } => ConstOp::F32Const(value.bits()),
                wasmparser::Operator::F64Const { value } => ConstOp::F64Const(value.bits()),
                wasmparser::Operator::V128Const { value } => ConstOp::V128Const(value.i128() as u128),
                wasmparser::Operator::RefNull { .. } => ConstOp::RefNull,
                wasmparser::Operator::RefFunc { function_index } => ConstOp::RefFunc(FuncIndex(function_index)),
                wasmparser::Operator::GlobalGet { global_index } => ConstOp::GlobalGet(GlobalIndex(global_index)),
                wasmparser::Operator::I32Add => ConstOp::I32Add,
                wasmparser::Operator::I32Sub => ConstOp::I32Sub,
                wasmparser::Operator::I32Mul => ConstOp::I32Mul,
                wasmparser::Operator::I64Add => ConstOp::I64Add,
                wasmparser::Operator::I64Sub => ConstOp::I64Sub,
                wasmparser::Operator::I64Mul => ConstOp::I64Mul,
                wasmparser::Operator::End => break,
                other => return Err(Error::unsupported(format!("constant expression operator {other:?}"))),
            });
        }
        Ok(Self { ops })
    }

    /// The value when the expression is a lone constant (no globals involved).
    pub fn as_constant(&self) -> Option<ConstValue> {
        self.eval(&mut |_| None)
    }

    /// Evaluates with `global` giving the value of a global (or `None` to give up).
    pub fn eval(&self, global: &mut dyn FnMut(GlobalIndex) -> Option<ConstValue>) -> Option<ConstValue> {
        let mut stack: Vec<ConstValue> = Vec::with_capacity(2);
        for op in &self.ops {
            let value = match *op {
                ConstOp::I32Const(value) => ConstValue::Bits(u64::from(value as u32)),
                ConstOp::I64Const(value) => ConstValue::Bits(value as u64),
                ConstOp::F32Const(bits) => ConstValue::Bits(u64::from(bits)),
                ConstOp::F64Const(bits) => ConstValue::Bits(bits),
                ConstOp::V128Const(bits) => ConstValue::V128(bits),
                ConstOp::RefNull => ConstValue::Null,
                ConstOp::RefFunc(index) => ConstValue::Func(index),
                ConstOp::GlobalGet(index) => global(index)?,
                arith => {
                    let (ConstValue::Bits(rhs), ConstValue::Bits(lhs)) = (stack.pop()?, stack.pop()?) else {
                        return None;
                    };
                    let (l32, r32) = (lhs as u32, rhs as u32);
                    ConstValue::Bits(match arith {
                        ConstOp::I32Add => u64::from(l32.wrapping_add(r32)),
                        ConstOp::I32Sub => u64::from(l32.wrapping_sub(r32)),
                        ConstOp::I32Mul => u64::from(l32.wrapping_mul(r32)),
                        ConstOp::I64Add => lhs.wrapping_add(rhs),
                        ConstOp::I64Sub => lhs.wrapping_sub(rhs),
                        ConstOp::I64Mul => lhs.wrapping_mul(rhs),
                        _ => return None,
                    })
                }
            };
            stack.push(value);
        }
        stack.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_const_arithmetic_wraps() {
        let expr = ConstExpr { ops: vec![ConstOp::I32Const(i32::MAX), ConstOp::I32Const(2), ConstOp::I32Add] };
        assert_eq!(expr.as_constant(), Some(ConstValue::Bits(0x8000_0001)));
        let expr = ConstExpr { ops: vec![ConstOp::GlobalGet(GlobalIndex(0)), ConstOp::I64Const(3), ConstOp::I64Mul] };
        assert_eq!(expr.as_constant(), None);
        assert_eq!(expr.eval(&mut |_| Some(ConstValue::Bits(5))), Some(ConstValue::Bits(15)));
    }
}
