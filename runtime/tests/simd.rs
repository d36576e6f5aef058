//! `v128` through every path a value takes (typed and dynamic calls, host functions,
//! globals, locals across loops and calls, `select`), SIMD under fuel and epochs, and
//! relaxed SIMD's two modes.

use wasmetal_runtime::*;

fn instance_with(config: &Config, wat: &str) -> (Store<()>, Instance) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

fn lanes32(lanes: [u32; 4]) -> u128 {
    lanes.iter().enumerate().fold(0, |acc, (i, &lane)| acc | (u128::from(lane) << (32 * i)))
}

const VALUES: &str = r#"(module
    (global $g (export "g") (mut v128) (v128.const i32x4 1 2 3 4))
    (func (export "add") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))
    (func (export "pick") (param v128 v128 i32) (result v128) (select (local.get 0) (local.get 1) (local.get 2)))
    (func (export "bump_global") (result v128)
      (global.set $g (i32x4.mul (global.get $g) (i32x4.splat (i32.const 10))))
      (global.get $g))
    (func $swap (param v128 v128) (result v128 v128) (local.get 1) (local.get 0))
    ;; Sums i32x4 lanes of 1..=n splatted, keeping the vector in a local across a loop
    ;; and a call that returns two vectors.
    (func (export "loop_sum") (param i32) (result v128) (local v128 v128)
      (block (loop
        (br_if 1 (i32.eqz (local.get 0)))
        (local.set 1 (i32x4.add (local.get 1) (i32x4.splat (local.get 0))))
        (call $swap (local.get 1) (local.get 2))
        (local.set 1) (local.set 2)
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br 0)))
      (i32x4.add (local.get 1) (local.get 2))))"#;

#[test]
fn v128_crosses_typed_and_dynamic_calls() {
    let (mut store, instance) = instance_with(&Config::new(), VALUES);
    let add = instance.get_typed_func::<(u128, u128), u128>(&mut store, "add").unwrap();
    let sum = add.call(&mut store, (lanes32([1, 2, 3, u32::MAX]), lanes32([10, 20, 30, 2]))).unwrap();
    assert_eq!(sum, lanes32([11, 22, 33, 1]));

    let add = instance.get_typed_func::<(V128, V128), V128>(&mut store, "add").unwrap();
    let sum = add.call(&mut store, (V128::from_u128(lanes32([5, 0, 0, 0])), V128::from_u128(7))).unwrap();
    assert_eq!(sum.as_u128(), lanes32([12, 0, 0, 0]));

    let pick = instance.get_func(&mut store, "pick").unwrap();
    let (a, b) = (Val::V128(V128::from_u128(u128::MAX)), Val::V128(V128::from_u128(1 << 100)));
    let mut results = [Val::V128(V128::default())];
    pick.call(&mut store, &[a, b, Val::I32(1)], &mut results).unwrap();
    assert_eq!(results[0], a);
    pick.call(&mut store, &[a, b, Val::I32(0)], &mut results).unwrap();
    assert_eq!(results[0], b);
}

#[test]
fn v128_globals_and_locals_keep_all_128_bits() {
    let (mut store, instance) = instance_with(&Config::new(), VALUES);
    let global = instance.get_global(&mut store, "g").unwrap();
    assert_eq!(global.get(&store), Val::V128(V128::from_u128(lanes32([1, 2, 3, 4]))));
    let bump = instance.get_typed_func::<(), u128>(&mut store, "bump_global").unwrap();
    assert_eq!(bump.call(&mut store, ()).unwrap(), lanes32([10, 20, 30, 40]));
    global.set(&mut store, Val::V128(V128::from_u128(lanes32([u32::MAX, 0, 7, 1 << 31])))).unwrap();
    assert_eq!(bump.call(&mut store, ()).unwrap(), lanes32([u32::MAX.wrapping_mul(10), 0, 70, 0]));
    assert!(global.set(&mut store, Val::I64(1)).is_err(), "an i64 into a v128 global");

    let loop_sum = instance.get_typed_func::<i32, u128>(&mut store, "loop_sum").unwrap();
    // The two accumulators swap every iteration; together they hold 1 + 2 + ... + n.
    assert_eq!(loop_sum.call(&mut store, 1000).unwrap(), lanes32([500_500; 4]));
}

#[test]
fn host_functions_take_and_return_v128() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "reverse", |value: u128| value.swap_bytes()).unwrap();
    linker
        .func_new(
            "host",
            "xor",
            FuncType::new([ValType::V128, ValType::V128], [ValType::V128]),
            |_, params, results| {
                let (Some(a), Some(b)) = (params[0].v128(), params[1].v128()) else {
                    unreachable!("typed by the caller")
                };
                results[0] = Val::V128(V128::from_u128(a.as_u128() ^ b.as_u128()));
                Ok(())
            },
        )
        .unwrap();
    let wat = r#"(module
        (import "host" "reverse" (func $reverse (param v128) (result v128)))
        (import "host" "xor" (func $xor (param v128 v128) (result v128)))
        (func (export "run") (param v128) (result v128)
          (call $xor (call $reverse (local.get 0)) (v128.const i64x2 -1 0))))"#;
    let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<u128, u128>(&mut store, "run").unwrap();
    let input = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10u128;
    assert_eq!(run.call(&mut store, input).unwrap(), input.swap_bytes() ^ u128::from(u64::MAX));
}

/// A dot product over memory with v128 loads, the kind of loop fuel and epochs
/// instrument: same result in every configuration, and fuel runs out inside it.
#[test]
fn simd_loops_are_instrumented_like_scalar_ones() {
    let wat = r#"(module (memory 1)
        (func (export "dot") (param $n i32) (result i32) (local $i i32) (local $acc v128)
          (block (loop
            (br_if 1 (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $acc (i32x4.add (local.get $acc)
              (i32x4.dot_i16x8_s (v128.load (local.get $i)) (v128.load offset=16 (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br 0)))
          (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
                   (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
        (data (i32.const 0) "\01\00\02\00\03\00\04\00\05\00\06\00\07\00\08\00\01\00\01\00\01\00\01\00\01\00\01\00\01\00\01\00"))"#;
    let mut results = Vec::new();
    for (fuel, epochs) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut config = Config::new();
        config.consume_fuel(fuel).epoch_interruption(epochs);
        let (mut store, instance) = instance_with(&config, wat);
        if fuel {
            store.set_fuel(1_000_000).unwrap();
        }
        store.set_epoch_deadline(1);
        let dot = instance.get_typed_func::<i32, i32>(&mut store, "dot").unwrap();
        results.push(dot.call(&mut store, 16).unwrap());
        if fuel {
            store.set_fuel(20).unwrap();
            let error = dot.call(&mut store, 60_000).unwrap_err();
            assert_eq!(error.trap_code(), Some(TrapCode::OutOfFuel));
        }
    }
    // Lanes 1..8 times ones, then ones times whatever follows (zeros).
    assert_eq!(results, [36; 4]);
}

#[test]
fn relaxed_simd_native_and_deterministic_modes_differ_where_allowed() {
    let wat = r#"(module
        (func (export "swizzle") (param v128 v128) (result v128) (i8x16.relaxed_swizzle (local.get 0) (local.get 1)))
        (func (export "trunc") (param v128) (result v128) (i32x4.relaxed_trunc_f32x4_s (local.get 0)))
        (func (export "laneselect") (param v128 v128 v128) (result v128)
          (i8x16.relaxed_laneselect (local.get 0) (local.get 1) (local.get 2))))"#;
    let table: u128 = u128::from_le_bytes(core::array::from_fn(|i| 0xa0 + i as u8));
    // Index 17 is out of range: `swizzle` gives 0, `pshufb` reads lane 17 % 16.
    let indices: u128 = 17;
    let nan_and_big = lanes32([f32::NAN.to_bits(), 3e9f32.to_bits(), (-2.5f32).to_bits(), 7.9f32.to_bits()]);
    // A mask byte of 0x80 (top bit only): `blendv` takes the first operand, `bitselect`
    // mixes bits.
    let (ones, zeros, mask) = (u128::MAX, 0u128, 0x80u128);
    for deterministic in [false, true] {
        let mut config = Config::new();
        config.relaxed_simd_deterministic(deterministic);
        let (mut store, instance) = instance_with(&config, wat);
        let swizzle = instance.get_typed_func::<(u128, u128), u128>(&mut store, "swizzle").unwrap();
        let trunc = instance.get_typed_func::<u128, u128>(&mut store, "trunc").unwrap();
        let laneselect = instance.get_typed_func::<(u128, u128, u128), u128>(&mut store, "laneselect").unwrap();
        let swizzled = swizzle.call(&mut store, (table, indices)).unwrap() as u8;
        let truncated = trunc.call(&mut store, nan_and_big).unwrap();
        let selected = laneselect.call(&mut store, (ones, zeros, mask)).unwrap() as u8;
        if deterministic {
            assert_eq!(swizzled, 0);
            assert_eq!(truncated, lanes32([0, i32::MAX as u32, -2i32 as u32, 7]));
            assert_eq!(selected, 0x80);
        } else {
            assert_eq!(swizzled, 0xa1);
            assert_eq!(truncated, lanes32([0x8000_0000, 0x8000_0000, -2i32 as u32, 7]));
            assert_eq!(selected, 0xff);
        }
    }
}

#[test]
fn simd_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_simd(false);
    let engine = Engine::new(&config).unwrap();
    let wat = r#"(module (func (param v128)))"#;
    let Err(error) = Module::new(&engine, wat::parse_str(wat).unwrap()) else { panic!("v128 accepted without SIMD") };
    assert!(matches!(error.kind(), ErrorKind::Validation { .. }), "{error}");
    assert!(error.to_string().contains("SIMD"), "{error}");
}

/// A store that holds the last reference to its engine releases its epoch slot before
/// the engine's clock frees the slot's chunk (this used to corrupt the heap).
#[test]
fn a_store_outliving_its_engine_handle_drops_cleanly() {
    for _ in 0..3 {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let (mut store, instance) =
            instance_with(&config, r#"(module (func (export "f") (result i32) (i32.const 7)))"#);
        store.set_epoch_deadline(1);
        let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 7);
    }
}

/// `relaxed_madd` where rounding once and rounding twice differ: (1 + 2^-12)^2 - (1 + 2^-11)
/// is 2^-24 fused and 0 when the product is rounded first. Deterministic mode must fuse
/// with or without the CPU's FMA (without it, through the software builtin); native
/// mode without FMA multiplies then adds.
#[test]
fn deterministic_relaxed_madd_is_fused_even_without_fma() {
    let wat = r#"(module (func (export "madd") (param v128 v128 v128) (result v128)
        (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))"#;
    let a = 1.0f32 + 2f32.powi(-12);
    let c = -(1.0f32 + 2f32.powi(-11));
    let splat = |x: f32| lanes32([x.to_bits(); 4]);
    let fused = splat(2f32.powi(-24));
    let host = CpuFeatures::detect_host();
    let without_fma = CpuFeatures { fma: false, ..host };
    for (features, deterministic, expected) in
        [(without_fma, true, fused), (without_fma, false, splat(0.0)), (host, true, fused)]
    {
        let mut config = Config::new();
        config.cpu_features(features).relaxed_simd_deterministic(deterministic);
        let (mut store, instance) = instance_with(&config, wat);
        let madd = instance.get_typed_func::<(u128, u128, u128), u128>(&mut store, "madd").unwrap();
        let result = madd.call(&mut store, (splat(a), splat(a), splat(c))).unwrap();
        assert_eq!(result, expected, "fma={} deterministic={deterministic}", features.fma);
    }
}
