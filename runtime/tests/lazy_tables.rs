//! Lazy function references and lazily initialized funcref tables.

use wasmetal_runtime::*;

const TABLES: &str = r#"(module
    (type $t (func (result i32)))
    (table $tab (export "tab") 8 16 funcref)
    (elem (table $tab) (i32.const 0) func $one $two $three)
    (func $one (result i32) i32.const 1)
    (func $two (result i32) i32.const 2)
    (func $three (result i32) i32.const 3)
    (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0)))
    (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $tab (local.get 0))))
    (func (export "set_null") (param i32) (table.set $tab (local.get 0) (ref.null func)))
    (func (export "grow") (param i32) (result i32) (table.grow $tab (ref.func $three) (local.get 0)))
    (func (export "copy") (param i32 i32 i32) (table.copy $tab $tab (local.get 0) (local.get 1) (local.get 2)))
    (func (export "ref_one") (result funcref) (ref.func $one))
    (elem $passive func $two $one)
    (func (export "init") (param i32) (table.init $tab $passive (local.get 0) (i32.const 0) (i32.const 2))))"#;

fn setup() -> (Store<()>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, wat::parse_str(TABLES).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

#[test]
fn a_stored_null_is_not_overwritten_by_lazy_init() {
    let (mut store, instance) = setup();
    let set_null = instance.get_typed_func::<i32, ()>(&mut store, "set_null").unwrap();
    let is_null = instance.get_typed_func::<i32, i32>(&mut store, "is_null").unwrap();
    let call = instance.get_typed_func::<i32, i32>(&mut store, "call").unwrap();
    // Element 1 was never touched (still lazy): null it before any read.
    set_null.call(&mut store, 1).unwrap();
    assert_eq!(is_null.call(&mut store, 1).unwrap(), 1);
    assert_eq!(call.call(&mut store, 1).unwrap_err().trap_code(), Some(TrapCode::UninitializedElement));
    let table = instance.get_table(&mut store, "tab").unwrap();
    assert_eq!(table.get(&mut store, 1), Some(Val::FuncRef(None)));
    // Its neighbours still initialize lazily to their segment functions.
    assert_eq!(call.call(&mut store, 0).unwrap(), 1);
    assert_eq!(call.call(&mut store, 2).unwrap(), 3);
    assert_eq!(is_null.call(&mut store, 5).unwrap(), 1);
}

#[test]
fn grow_copy_and_init_mix_initialized_and_lazy_elements() {
    let (mut store, instance) = setup();
    let call = instance.get_typed_func::<i32, i32>(&mut store, "call").unwrap();
    let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
    let copy = instance.get_typed_func::<(i32, i32, i32), ()>(&mut store, "copy").unwrap();
    let init = instance.get_typed_func::<i32, ()>(&mut store, "init").unwrap();
    assert_eq!(call.call(&mut store, 0).unwrap(), 1); // element 0 initialized, 1..2 lazy
    assert_eq!(grow.call(&mut store, 4).unwrap(), 8);
    assert_eq!(call.call(&mut store, 11).unwrap(), 3); // grown elements hold the init value
    copy.call(&mut store, (4, 0, 3)).unwrap(); // copies one initialized and two lazy elements
    assert_eq!(
        (call.call(&mut store, 4).unwrap(), call.call(&mut store, 5).unwrap(), call.call(&mut store, 6).unwrap()),
        (1, 2, 3)
    );
    init.call(&mut store, 1).unwrap(); // over lazy element 1 and initialized element 2
    assert_eq!((call.call(&mut store, 1).unwrap(), call.call(&mut store, 2).unwrap()), (2, 1));
    assert_eq!(call.call(&mut store, 7).unwrap_err().trap_code(), Some(TrapCode::UninitializedElement));
    assert_eq!(call.call(&mut store, 12).unwrap_err().trap_code(), Some(TrapCode::UndefinedElement));
}

#[test]
fn function_references_are_the_same_every_time() {
    let (mut store, instance) = setup();
    let ref_one = instance.get_typed_func::<(), Option<Func>>(&mut store, "ref_one").unwrap();
    let a = ref_one.call(&mut store, ()).unwrap().unwrap();
    let b = ref_one.call(&mut store, ()).unwrap().unwrap();
    assert_eq!(a, b);
    let table = instance.get_table(&mut store, "tab").unwrap();
    let Some(Val::FuncRef(Some(from_table))) = table.get(&mut store, 0) else { panic!("element 0 is a function") };
    assert_eq!(a, from_table);
    let call = instance.get_func(&mut store, "call").unwrap();
    assert_eq!(call, instance.get_func(&mut store, "call").unwrap());
}
