//! Runs a [`Script`] against wasmetal-runtime and counts assertions.
//!
//! One store per script; a `spectest` module (the suite's host module) is always
//! available for imports. The executor is `no_std`, so the kernel runs the very same
//! logic on the very same scripts as the hosted test.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hashbrown::HashMap;
use wasmetal_runtime::{
    Engine, Error, ErrorKind, Extern, ExternRef, Instance, Linker, Module, Store, TrapCode, V128, Val,
};

use crate::script::{Action, Command, Expected, Script, Value};
use crate::spectest;

/// Outcome of one script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub passed: u32,
    pub failed: u32,
    /// One line per failure: `line N: what went wrong`.
    pub failures: Vec<String>,
}

/// Host data of the script's store: `ref.extern N` values are `ExternRef`s wrapping N.
pub struct Host;

struct Runner<'e> {
    engine: &'e Engine,
    store: Store<Host>,
    linker: Linker<Host>,
    current: Option<Instance>,
    named: HashMap<String, Instance>,
    definitions: HashMap<String, Module>,
    last_definition: Option<Module>,
    report: Report,
    loading: Loading,
}

/// How the script's modules are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loading {
    /// Compiled (`Module::new`).
    Compile,
    /// Compiled, serialized and loaded back (`Module::serialize` then
    /// `Module::deserialize`): the loaded module must pass every assertion.
    RoundTrip,
}

/// The message of an error, for comparison with the expected text.
fn describe(error: &Error) -> String {
    error.to_string()
}

fn trap_matches(code: TrapCode, expected: &str) -> bool {
    let message = code.message();
    expected.contains(message)
        || message.contains(expected)
        // The suite says "undefined element" for out-of-bounds indirect calls in some
        // files and "uninitialized element" for null entries; accept either for both.
        || (matches!(code, TrapCode::UndefinedElement | TrapCode::UninitializedElement | TrapCode::TableOutOfBounds)
            && (expected.contains("undefined element") || expected.contains("uninitialized element") || expected.contains("out of bounds table access")))
}

impl<'e> Runner<'e> {
    fn new(engine: &'e Engine, loading: Loading) -> Result<Self, Error> {
        let mut store = Store::new(engine, Host);
        // With fuel or epochs compiled in, give the script plenty of both: the
        // instrumentation must not change any result.
        let _ = store.set_fuel(u64::MAX / 4);
        store.set_epoch_deadline(u64::MAX / 4);
        let mut linker = Linker::new(engine);
        linker.allow_shadowing(true);
        spectest::define(&mut store, &mut linker)?;
        Ok(Self {
            engine,
            store,
            linker,
            current: None,
            named: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            report: Report::default(),
            loading,
        })
    }

    /// Makes the module of `binary` as `loading` says.
    fn module(&self, binary: &[u8]) -> Result<Module, Error> {
        let module = Module::new(self.engine, binary)?;
        match self.loading {
            Loading::Compile => Ok(module),
            Loading::RoundTrip => {
                let bytes = module.serialize()?;
                drop(module);
                // SAFETY: the bytes were just written by `serialize` of this runtime.
                unsafe { Module::deserialize(self.engine, &bytes) }
            }
        }
    }

    fn pass(&mut self) {
        self.report.passed += 1;
    }

    fn fail(&mut self, line: u32, why: String) {
        self.report.failed += 1;
        self.report.failures.push(format!("line {line}: {why}"));
    }

    fn instance(&self, module: &Option<String>) -> Result<Instance, String> {
        match module {
            Some(name) => self.named.get(name).copied().ok_or_else(|| format!("no module named {name}")),
            None => self.current.ok_or_else(|| "no current module".to_string()),
        }
    }

    fn val_of(&mut self, value: &Value) -> Val {
        match value {
            Value::I32(v) => Val::I32(*v as i32),
            Value::I64(v) => Val::I64(*v as i64),
            Value::F32(v) => Val::F32(*v),
            Value::F64(v) => Val::F64(*v),
            Value::NullFuncRef => Val::FuncRef(None),
            Value::NullExternRef => Val::ExternRef(None),
            Value::ExternRef(n) => Val::ExternRef(Some(ExternRef::new(&mut self.store, *n))),
            Value::V128(v) => Val::V128(V128::from_u128(*v)),
        }
    }

    fn act(&mut self, action: &Action) -> Result<Result<Vec<Val>, Error>, String> {
        match action {
            Action::Invoke { module, field, args } => {
                let instance = self.instance(module)?;
                let func =
                    instance.get_func(&mut self.store, field).ok_or_else(|| format!("no exported function {field}"))?;
                let args: Vec<Val> = args.iter().map(|v| self.val_of(v)).collect();
                let ty = func.ty(&self.store);
                let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
                Ok(func.call(&mut self.store, &args, &mut results).map(|()| results))
            }
            Action::Get { module, field } => {
                let instance = self.instance(module)?;
                let global =
                    instance.get_global(&mut self.store, field).ok_or_else(|| format!("no exported global {field}"))?;
                Ok(Ok(alloc::vec![global.get(&self.store)]))
            }
        }
    }

    fn matches(&self, value: &Val, expected: &Expected) -> bool {
        match (expected, value) {
            (Expected::Exact(Value::I32(e)), Val::I32(v)) => *e == *v as u32,
            (Expected::Exact(Value::I64(e)), Val::I64(v)) => *e == *v as u64,
            (Expected::Exact(Value::F32(e)), Val::F32(v)) => e == v,
            (Expected::Exact(Value::F64(e)), Val::F64(v)) => e == v,
            (Expected::Exact(Value::NullFuncRef), Val::FuncRef(None)) => true,
            (Expected::Exact(Value::NullExternRef), Val::ExternRef(None)) => true,
            (Expected::Exact(Value::ExternRef(n)), Val::ExternRef(Some(reference))) => reference
                .data(&self.store)
                .ok()
                .and_then(|data| data.downcast_ref::<u32>())
                .is_some_and(|value| value == n),
            (Expected::F32CanonicalNan, Val::F32(v)) => v & 0x7FFF_FFFF == 0x7FC0_0000,
            (Expected::F32ArithmeticNan, Val::F32(v)) => v & 0x7FC0_0000 == 0x7FC0_0000,
            (Expected::F64CanonicalNan, Val::F64(v)) => v & 0x7FFF_FFFF_FFFF_FFFF == 0x7FF8_0000_0000_0000,
            (Expected::F64ArithmeticNan, Val::F64(v)) => v & 0x7FF8_0000_0000_0000 == 0x7FF8_0000_0000_0000,
            (Expected::AnyFuncRef, Val::FuncRef(Some(_))) => true,
            (Expected::AnyNull, Val::FuncRef(None) | Val::ExternRef(None)) => true,
            (Expected::Exact(Value::V128(e)), Val::V128(v)) => *e == v.as_u128(),
            (Expected::F32x4(lanes), Val::V128(v)) => {
                lanes.len() == 4
                    && lanes
                        .iter()
                        .enumerate()
                        .all(|(i, e)| self.matches(&Val::F32((v.as_u128() >> (32 * i)) as u32), e))
            }
            (Expected::F64x2(lanes), Val::V128(v)) => {
                lanes.len() == 2
                    && lanes
                        .iter()
                        .enumerate()
                        .all(|(i, e)| self.matches(&Val::F64((v.as_u128() >> (64 * i)) as u64), e))
            }
            (Expected::Either(all), value) => all.iter().any(|e| self.matches(value, e)),
            _ => false,
        }
    }

    fn instantiate(&mut self, module: &Module) -> Result<Instance, Error> {
        self.linker.instantiate(&mut self.store, module)
    }

    fn command(&mut self, command: &Command) {
        match command {
            Command::Module { line, name, binary } => match self.module(binary).and_then(|m| self.instantiate(&m)) {
                Ok(instance) => {
                    self.current = Some(instance);
                    if let Some(name) = name {
                        self.named.insert(name.clone(), instance);
                    }
                }
                Err(error) => self.fail(*line, format!("module failed: {}", describe(&error))),
            },
            Command::ModuleDefinition { line, name, binary } => match self.module(binary) {
                Ok(module) => {
                    if let Some(name) = name {
                        self.definitions.insert(name.clone(), module.clone());
                    }
                    self.last_definition = Some(module);
                }
                Err(error) => self.fail(*line, format!("module definition failed: {}", describe(&error))),
            },
            Command::ModuleInstance { line, instance, module } => {
                let definition = match module {
                    Some(name) => self.definitions.get(name).cloned(),
                    None => self.last_definition.clone(),
                };
                let Some(definition) = definition else {
                    return self.fail(*line, "module instance of an unknown definition".into());
                };
                match self.instantiate(&definition) {
                    Ok(created) => {
                        self.current = Some(created);
                        if let Some(name) = instance {
                            self.named.insert(name.clone(), created);
                        }
                    }
                    Err(error) => self.fail(*line, format!("module instance failed: {}", describe(&error))),
                }
            }
            Command::Register { line, name, module } => match self.instance(module) {
                Ok(instance) => {
                    if let Err(error) = self.linker.instance(&mut self.store, name, instance) {
                        self.fail(*line, format!("register failed: {error}"));
                    }
                }
                Err(why) => self.fail(*line, why),
            },
            Command::Action { line, action } => match self.act(action) {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => self.fail(*line, format!("action failed: {}", describe(&error))),
                Err(why) => self.fail(*line, why),
            },
            Command::AssertReturn { line, action, expected } => match self.act(action) {
                Ok(Ok(values)) => {
                    let ok =
                        values.len() == expected.len() && values.iter().zip(expected).all(|(v, e)| self.matches(v, e));
                    if ok {
                        self.pass();
                    } else {
                        self.fail(*line, format!("expected {expected:?}, got {values:?}"));
                    }
                }
                Ok(Err(error)) => self.fail(*line, format!("expected {expected:?}, got error: {}", describe(&error))),
                Err(why) => self.fail(*line, why),
            },
            Command::AssertTrap { line, action, message } | Command::AssertExhaustion { line, action, message } => {
                match self.act(action) {
                    Ok(Err(error)) => match error.trap_code() {
                        Some(code) if trap_matches(code, message) => self.pass(),
                        _ => self.fail(*line, format!("expected trap `{message}`, got: {}", describe(&error))),
                    },
                    Ok(Ok(values)) => self.fail(*line, format!("expected trap `{message}`, got {values:?}")),
                    Err(why) => self.fail(*line, why),
                }
            }
            Command::AssertTrapModule { line, binary, message } => {
                match self.module(binary).and_then(|m| self.instantiate(&m)) {
                    Err(error) => match error.trap_code() {
                        Some(code) if trap_matches(code, message) => self.pass(),
                        _ => self.fail(*line, format!("expected trap `{message}`, got: {}", describe(&error))),
                    },
                    Ok(_) => self.fail(*line, format!("expected trap `{message}`, module instantiated")),
                }
            }
            Command::AssertInvalid { line, binary, message } | Command::AssertMalformed { line, binary, message } => {
                match Module::new(self.engine, binary) {
                    Err(error) if matches!(error.kind(), ErrorKind::Validation { .. }) => self.pass(),
                    Err(error) => {
                        self.fail(*line, format!("expected `{message}`, got a non-validation error: {error}"))
                    }
                    Ok(_) => self.fail(*line, format!("expected `{message}`, module compiled")),
                }
            }
            Command::AssertUnlinkable { line, binary, message } => match self.module(binary) {
                Ok(module) => match self.instantiate(&module) {
                    Err(error) if matches!(error.kind(), ErrorKind::Link(_)) => self.pass(),
                    Err(error) => self.fail(*line, format!("expected link error `{message}`, got: {error}")),
                    Ok(_) => self.fail(*line, format!("expected link error `{message}`, module instantiated")),
                },
                Err(error) => self.fail(*line, format!("expected link error `{message}`, compile failed: {error}")),
            },
            Command::CheckedAtConversion { .. } => self.pass(),
        }
    }
}

/// Runs every command of `script` in a fresh store of `engine`.
pub fn run(engine: &Engine, script: &Script) -> Report {
    run_with(engine, script, Loading::Compile)
}

/// [`run`], with the modules made as `loading` says.
pub fn run_with(engine: &Engine, script: &Script, loading: Loading) -> Report {
    let mut runner = match Runner::new(engine, loading) {
        Ok(runner) => runner,
        Err(error) => {
            return Report { passed: 0, failed: 1, failures: alloc::vec![format!("setting up spectest: {error}")] };
        }
    };
    for command in &script.commands {
        runner.command(command);
    }
    runner.report
}

/// Whether `extern_` is usable (keeps `Extern` in the public surface for embedders).
pub fn is_func(extern_: &Extern) -> bool {
    matches!(extern_, Extern::Func(_))
}
