//! Values crossing the API: `Val`, external references, and their raw forms.

use core::any::Any;

use crate::api::func::Func;
use crate::api::store::{AsContext, AsContextMut};
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::types::{RefType, ValType};
use crate::vm::store::{StoreId, StoreOpaque};
use crate::vm::vmcontext::{VMFuncRef, ValRaw};

/// An opaque host reference (`externref`), owned by its store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternRef {
    store: StoreId,
    index: u32,
}

impl ExternRef {
    /// Wraps `value` in a new reference. The value lives as long as the store.
    pub fn new(mut store: impl AsContextMut, value: impl Any + Send + Sync) -> ExternRef {
        let mut context = store.as_context_mut();
        let opaque = context.opaque();
        opaque.externrefs.push(Box::new(value));
        ExternRef { store: opaque.id, index: opaque.externrefs.len() as u32 - 1 }
    }

    /// The wrapped value.
    pub fn data<'a, T: 'a>(&self, store: &'a impl AsContext<Data = T>) -> Result<&'a (dyn Any + Send + Sync)> {
        let context = store.as_context();
        let opaque: &'a StoreOpaque = context_opaque(context);
        opaque.check(self.store)?;
        Ok(&*opaque.externrefs[self.index as usize])
    }

    pub(crate) fn to_raw(self) -> usize {
        self.index as usize + 1
    }

    pub(crate) fn from_raw(store: StoreId, raw: usize) -> Option<ExternRef> {
        (raw != 0).then(|| ExternRef { store, index: (raw - 1) as u32 })
    }

    pub(crate) fn store_id(&self) -> StoreId {
        self.store
    }
}

fn context_opaque<'a, T>(context: crate::api::store::StoreContext<'a, T>) -> &'a StoreOpaque {
    &context.0.opaque
}

/// A `v128` value: 16 bytes, lane 0 in the least significant bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct V128(u128);

impl V128 {
    /// The vector whose little-endian bytes are `value`'s.
    pub const fn from_u128(value: u128) -> V128 {
        V128(value)
    }

    /// The 128 bits.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The 16 bytes, lane 0 first.
    pub const fn to_le_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
}

impl From<u128> for V128 {
    fn from(value: u128) -> V128 {
        V128(value)
    }
}

impl From<V128> for u128 {
    fn from(value: V128) -> u128 {
        value.0
    }
}

/// A WebAssembly value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// The bits of an `f32` (NaN payloads are preserved).
    F32(u32),
    /// The bits of an `f64`.
    F64(u64),
    V128(V128),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::Ref(RefType::FuncRef),
            Val::ExternRef(_) => ValType::Ref(RefType::ExternRef),
        }
    }

    /// A null reference of type `ty`, or zero of a numeric type.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(V128::default()),
            ValType::Ref(RefType::FuncRef) => Val::FuncRef(None),
            ValType::Ref(RefType::ExternRef) => Val::ExternRef(None),
        }
    }

    pub fn i32(&self) -> Option<i32> {
        if let Val::I32(v) = self { Some(*v) } else { None }
    }

    pub fn i64(&self) -> Option<i64> {
        if let Val::I64(v) = self { Some(*v) } else { None }
    }

    pub fn f32(&self) -> Option<f32> {
        if let Val::F32(v) = self { Some(f32::from_bits(*v)) } else { None }
    }

    pub fn f64(&self) -> Option<f64> {
        if let Val::F64(v) = self { Some(f64::from_bits(*v)) } else { None }
    }

    pub fn v128(&self) -> Option<V128> {
        if let Val::V128(v) = self { Some(*v) } else { None }
    }

    /// The raw bits for a slot, checking the store of references.
    pub(crate) fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(ValRaw::from_u128(match self {
            Val::I32(v) => u128::from(v as u32),
            Val::I64(v) => u128::from(v as u64),
            Val::F32(v) => u128::from(v),
            Val::F64(v) => u128::from(v),
            Val::V128(v) => v.as_u128(),
            Val::FuncRef(None) | Val::ExternRef(None) => 0,
            Val::FuncRef(Some(func)) => {
                store.check(func.store_id())?;
                func.func_ref_ptr() as u128
            }
            Val::ExternRef(Some(reference)) => {
                store.check(reference.store_id())?;
                reference.to_raw() as u128
            }
        }))
    }

    /// A value of type `ty` from raw bits.
    pub(crate) fn from_raw(store: StoreId, raw: ValRaw, ty: ValType) -> Val {
        let bits = raw.u64();
        match ty {
            ValType::I32 => Val::I32(bits as u32 as i32),
            ValType::I64 => Val::I64(bits as i64),
            ValType::F32 => Val::F32(bits as u32),
            ValType::F64 => Val::F64(bits),
            ValType::V128 => Val::V128(V128(raw.u128())),
            ValType::Ref(RefType::FuncRef) => Val::FuncRef(Func::from_raw(store, bits as usize as *mut VMFuncRef)),
            ValType::Ref(RefType::ExternRef) => Val::ExternRef(ExternRef::from_raw(store, bits as usize)),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}

impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}

impl From<V128> for Val {
    fn from(v: V128) -> Val {
        Val::V128(v)
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}

/// Checks that `values` have the types `types`.
pub(crate) fn check_types(what: &str, values: &[Val], types: &[ValType]) -> Result<()> {
    if values.len() != types.len() {
        return Err(Error::usage(format!("expected {} {what}, got {}", types.len(), values.len())));
    }
    for (index, (value, ty)) in values.iter().zip(types).enumerate() {
        if value.ty() != *ty {
            return Err(Error::usage(format!("{what} {index}: expected {ty}, got {}", value.ty())));
        }
    }
    Ok(())
}
