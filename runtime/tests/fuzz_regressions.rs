//! Bugs the fuzzers found, each pinned by the smallest module that showed it.
//!
//! From `fuzz/` (differential) and `fuzz-targets/` (no-panic).

use wasmetal_runtime::*;

/// Differential fuzzing, seed 1001573 and 12 others: a function with more results than
/// return registers failed to compile ("Too many return values to fit in registers").
#[test]
fn functions_with_many_results_compile_and_return_them_all() {
    let results = "i64 i32 i64 f64 i64 i32 v128 i64 f32 i64 i32 i64 i64 i64 i64 i64 i64";
    let wat = format!(
        r#"(module
            (type $many (func (param i64) (result {results})))
            (table 1 funcref)
            (elem (i32.const 0) $producer)
            (func $producer (type $many)
                (local.get 0) (i32.const 2) (i64.const 3) (f64.const 4.5) (i64.const 5) (i32.const 6)
                (v128.const i64x2 7 8) (i64.const 9) (f32.const 10.5) (i64.const 11) (i32.const 12)
                (i64.const 13) (i64.const 14) (i64.const 15) (i64.const 16) (i64.const 17) (i64.const 18))
            (func $tail (export "tail") (type $many) (return_call $producer (local.get 0)))
            (func $indirect (export "indirect") (type $many)
                (call_indirect (type $many) (local.get 0) (i32.const 0)))
            (func (export "sum") (param i64) (result i64)
                (local $acc i64)
                (call $tail (local.get 0))
                (local.set $acc)
                (local.set $acc (i64.add (local.get $acc)))
                (local.set $acc (i64.add (local.get $acc)))
                (local.set $acc (i64.add (local.get $acc)))
                (local.set $acc (i64.add (local.get $acc)))
                (local.set $acc (i64.add (local.get $acc)))
                (drop)
                (local.set $acc (i64.add (local.get $acc)))
                (drop)
                (local.set $acc (i64.add (local.get $acc)))
                (drop)
                (drop)
                (local.set $acc (i64.add (local.get $acc)))
                (drop)
                (local.set $acc (i64.add (local.get $acc)))
                (drop)
                (local.set $acc (i64.add (local.get $acc)))
                (local.get $acc)))"#
    );
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::new(&engine, wat::parse_str(&wat).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    for name in ["tail", "indirect"] {
        let func = instance.get_func(&mut store, name).unwrap();
        let mut out = vec![Val::I32(0); 17];
        func.call(&mut store, &[Val::I64(1)], &mut out).unwrap();
        assert_eq!(out[0], Val::I64(1), "{name}");
        assert_eq!(out[3], Val::F64(4.5f64.to_bits()), "{name}");
        assert_eq!(out[6], Val::V128(V128::from_u128((8u128 << 64) | 7)), "{name}");
        assert_eq!(out[8], Val::F32(10.5f32.to_bits()), "{name}");
        assert_eq!(out[16], Val::I64(18), "{name}");
    }
    // From wasm: the i64 results summed, the others dropped.
    let sum = instance.get_typed_func::<i64, i64>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, 1).unwrap(), 18 + 17 + 16 + 15 + 14 + 13 + 11 + 9 + 5 + 3 + 1);
}
