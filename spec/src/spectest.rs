//! The `spectest` host module every spec script may import from.

use wasmetal_runtime::{
    Error, Global, GlobalType, Linker, Memory, MemoryType, Mutability, RefType, Store, Table, TableType, Val, ValType,
};

use crate::exec::Host;

/// Defines `spectest`'s functions, globals, table and memory in `linker`.
pub fn define(store: &mut Store<Host>, linker: &mut Linker<Host>) -> Result<(), Error> {
    linker.func_wrap("spectest", "print", || {})?;
    linker.func_wrap("spectest", "print_i32", |_: i32| {})?;
    linker.func_wrap("spectest", "print_i64", |_: i64| {})?;
    linker.func_wrap("spectest", "print_f32", |_: f32| {})?;
    linker.func_wrap("spectest", "print_f64", |_: f64| {})?;
    linker.func_wrap("spectest", "print_i32_f32", |_: i32, _: f32| {})?;
    linker.func_wrap("spectest", "print_f64_f64", |_: f64, _: f64| {})?;
    let constant = |ty| GlobalType::new(ty, Mutability::Const);
    let global_i32 = Global::new(&mut *store, constant(ValType::I32), Val::I32(666))?;
    let global_i64 = Global::new(&mut *store, constant(ValType::I64), Val::I64(666))?;
    let global_f32 = Global::new(&mut *store, constant(ValType::F32), Val::F32(666.6f32.to_bits()))?;
    let global_f64 = Global::new(&mut *store, constant(ValType::F64), Val::F64(666.6f64.to_bits()))?;
    linker.define("spectest", "global_i32", global_i32)?;
    linker.define("spectest", "global_i64", global_i64)?;
    linker.define("spectest", "global_f32", global_f32)?;
    linker.define("spectest", "global_f64", global_f64)?;
    let table = Table::new(&mut *store, TableType::new(RefType::FuncRef, 10, Some(20)), Val::FuncRef(None))?;
    linker.define("spectest", "table", table)?;
    let mut table64_ty = TableType::new(RefType::FuncRef, 10, Some(20));
    table64_ty.table64 = true;
    let table64 = Table::new(&mut *store, table64_ty, Val::FuncRef(None))?;
    linker.define("spectest", "table64", table64)?;
    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define("spectest", "memory", memory)?;
    Ok(())
}
