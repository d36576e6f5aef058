//! Runs a case on wasmetal-runtime (hosted) and records its outcome.
//!
//! Only translates between the runtime's API and `outcome`'s shared terms; it judges
//! nothing.

use arbitrary::Unstructured;
use wasmetal_runtime::{Engine, Extern, Instance, Module, RefType, Store, TrapCode, V128, Val, ValType};

use super::generate::Case;
use super::outcome::{Ending, Outcome, StateHasher, TrapKind, Ty, Value, arguments};
use super::settings::{EPOCH_TICKS_PER_CALL, FUEL_PER_CALL, Settings};

pub fn run(engine: &Engine, case: &Case, settings: Settings, rounds: usize) -> Outcome {
    let mut outcome = Outcome::default();
    let module = match Module::new(engine, &case.wasm) {
        Ok(module) => module,
        Err(error) => {
            outcome.compile_error = Some(error.to_string());
            return outcome;
        }
    };
    let mut store = Store::new(engine, ());
    prepare(&mut store, settings);
    let instance = match Instance::new(&mut store, &module, &[]) {
        Ok(instance) => instance,
        Err(error) => {
            outcome.instantiation = Some(ending_of(&error));
            return outcome;
        }
    };
    outcome.instantiation = Some(Ending::Returned(Vec::new()));
    let mut unstructured = Unstructured::new(&case.argument_bytes);
    let exports = instance.exports(&mut store);
    let calls = exports.iter().filter(|(_, export)| matches!(export, Extern::Func(_)));
    for (name, export) in core::iter::repeat_n(calls, rounds).flatten() {
        let Extern::Func(func) = export else { continue };
        let ty = func.ty(&store);
        let params: Vec<Ty> = ty.params().iter().map(|&t| ty_of(t)).collect();
        let args: Vec<Val> =
            arguments(&mut unstructured, &params).into_iter().zip(&params).map(|(v, &t)| val_of(v, t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        prepare(&mut store, settings);
        let ending = match func.call(&mut store, &args, &mut results) {
            Ok(()) => Ending::Returned(results.iter().map(value_of).collect()),
            Err(error) => ending_of(&error),
        };
        let stop =
            matches!(ending, Ending::Trapped(TrapKind::StackOverflow | TrapKind::OutOfFuel | TrapKind::Interrupt));
        outcome.calls.push((name.clone(), ending));
        if stop {
            return outcome;
        }
    }
    let mut hasher = StateHasher::default();
    for (name, export) in &exports {
        match export {
            Extern::Memory(memory) => hasher.memory(name, memory.data(&store)),
            Extern::Global(global) => hasher.global(name, value_of(&global.get(&store))),
            Extern::Table(table) => hasher.table(name, table.size(&store)),
            Extern::Func(_) => {}
        }
    }
    outcome.state = Some(hasher.finish());
    outcome
}

fn prepare(store: &mut Store<()>, settings: Settings) {
    store.set_fuel(FUEL_PER_CALL).expect("fuel is enabled");
    if settings.epochs {
        store.set_epoch_deadline(EPOCH_TICKS_PER_CALL);
    }
}

fn ending_of(error: &wasmetal_runtime::Error) -> Ending {
    match error.trap_code() {
        Some(code) => Ending::Trapped(match code {
            TrapCode::StackOverflow => TrapKind::StackOverflow,
            TrapCode::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
            TrapCode::TableOutOfBounds | TrapCode::UndefinedElement => TrapKind::TableOutOfBounds,
            TrapCode::UninitializedElement => TrapKind::NullElement,
            TrapCode::BadSignature => TrapKind::BadSignature,
            TrapCode::IntegerOverflow => TrapKind::IntegerOverflow,
            TrapCode::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
            TrapCode::BadConversionToInteger => TrapKind::BadConversionToInteger,
            TrapCode::UnreachableCodeReached => TrapKind::Unreachable,
            TrapCode::NullReference => TrapKind::NullReference,
            TrapCode::Interrupt => TrapKind::Interrupt,
            TrapCode::OutOfFuel => TrapKind::OutOfFuel,
            _ => TrapKind::Other,
        }),
        None => Ending::Failed(error.to_string()),
    }
}

fn ty_of(ty: ValType) -> Ty {
    match ty {
        ValType::I32 => Ty::I32,
        ValType::I64 => Ty::I64,
        ValType::F32 => Ty::F32,
        ValType::F64 => Ty::F64,
        ValType::V128 => Ty::V128,
        ValType::Ref(RefType::FuncRef) => Ty::FuncRef,
        ValType::Ref(RefType::ExternRef) => Ty::ExternRef,
    }
}

fn val_of(value: Value, ty: Ty) -> Val {
    match value {
        Value::I32(v) => Val::I32(v),
        Value::I64(v) => Val::I64(v),
        Value::F32(v) => Val::F32(v),
        Value::F64(v) => Val::F64(v),
        Value::V128(v) => Val::V128(V128::from_u128(v)),
        // Arguments are only ever null references; `arguments` never makes NonNull.
        Value::Null | Value::NonNull if ty == Ty::ExternRef => Val::ExternRef(None),
        Value::Null | Value::NonNull => Val::FuncRef(None),
    }
}

fn value_of(value: &Val) -> Value {
    match value {
        Val::I32(v) => Value::I32(*v),
        Val::I64(v) => Value::I64(*v),
        Val::F32(v) => Value::F32(*v),
        Val::F64(v) => Value::F64(*v),
        Val::V128(v) => Value::V128(v.as_u128()),
        Val::FuncRef(None) | Val::ExternRef(None) => Value::Null,
        Val::FuncRef(Some(_)) | Val::ExternRef(Some(_)) => Value::NonNull,
    }
}
