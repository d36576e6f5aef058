//! End-to-end checks of the hosted runtime: compile, instantiate, call, trap.

use wasmetal_runtime::*;

fn instance(wat: &str) -> (Store<()>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

#[test]
fn adds_two_numbers() {
    let (mut store, instance) =
        instance(r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#);
    let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
    assert_eq!(add.call(&mut store, (2, 40)).unwrap(), 42);
}

#[test]
fn recursion_and_loops() {
    let (mut store, instance) = instance(
        r#"(module
            (func $fib (export "fib") (param i32) (result i32)
              (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
                (then (local.get 0))
                (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                               (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
            (func (export "sum") (param i32) (result i64) (local i64)
              (block (loop
                (br_if 1 (i32.eqz (local.get 0)))
                (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))
                (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                (br 0)))
              (local.get 1)))"#,
    );
    let fib = instance.get_typed_func::<i32, i32>(&mut store, "fib").unwrap();
    assert_eq!(fib.call(&mut store, 20).unwrap(), 6765);
    let sum = instance.get_typed_func::<i32, i64>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, 100_000).unwrap(), 5_000_050_000);
}

#[test]
fn traps_are_errors_with_codes() {
    let (mut store, instance) = instance(
        r#"(module
            (memory 1)
            (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
            (func (export "oob") (result i32) i32.const 70000 i32.load)
            (func (export "unreachable") unreachable)
            (func $deep (export "deep") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $deep))"#,
    );
    let div = instance.get_typed_func::<(i32, i32), i32>(&mut store, "div").unwrap();
    assert_eq!(div.call(&mut store, (7, 0)).unwrap_err().trap_code(), Some(TrapCode::IntegerDivisionByZero));
    assert_eq!(div.call(&mut store, (i32::MIN, -1)).unwrap_err().trap_code(), Some(TrapCode::IntegerOverflow));
    assert_eq!(div.call(&mut store, (7, 2)).unwrap(), 3);
    let oob = instance.get_typed_func::<(), i32>(&mut store, "oob").unwrap();
    assert_eq!(oob.call(&mut store, ()).unwrap_err().trap_code(), Some(TrapCode::MemoryOutOfBounds));
    let unreachable = instance.get_typed_func::<(), ()>(&mut store, "unreachable").unwrap();
    let error = unreachable.call(&mut store, ()).unwrap_err();
    assert_eq!(error.trap_code(), Some(TrapCode::UnreachableCodeReached));
    assert_eq!(error.as_trap().unwrap().backtrace.frames.len(), 1);
    let deep = instance.get_typed_func::<i32, i32>(&mut store, "deep").unwrap();
    assert_eq!(deep.call(&mut store, 0).unwrap_err().trap_code(), Some(TrapCode::StackOverflow));
    // Still usable after every kind of trap.
    assert_eq!(div.call(&mut store, (9, 3)).unwrap(), 3);
}

#[test]
fn host_functions_and_errors() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        wat::parse_str(
            r#"(module
                (import "env" "double" (func $double (param i64) (result i64)))
                (import "env" "fail" (func $fail))
                (func (export "quad") (param i64) (result i64) local.get 0 call $double call $double)
                (func (export "fail") call $fail))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut store = Store::new(&engine, 0u32);
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("env", "double", |mut caller: Caller<'_, u32>, x: i64| {
            *caller.data_mut() += 1;
            x * 2
        })
        .unwrap();
    linker.func_wrap("env", "fail", || -> Result<()> { Err(Error::msg("host says no")) }).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let quad = instance.get_typed_func::<i64, i64>(&mut store, "quad").unwrap();
    assert_eq!(quad.call(&mut store, 5).unwrap(), 20);
    assert_eq!(*store.data(), 2);
    let fail = instance.get_typed_func::<(), ()>(&mut store, "fail").unwrap();
    assert_eq!(fail.call(&mut store, ()).unwrap_err().to_string(), "host says no");
}
