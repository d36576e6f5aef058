//! `Module::serialize` / `Module::deserialize`: loaded modules behave as compiled ones,
//! and truncated, damaged or mismatched artifacts are errors, never crashes.

use wasmetal_runtime::artifact::ArtifactError;
use wasmetal_runtime::*;

/// Imports, a memory with data, a table with `call_indirect` (right and wrong type), a
/// mutable global set by the start function, SIMD, a trap with a named backtrace.
const VARIED: &str = r#"(module $varied
    (import "env" "add1" (func $add1 (param i32) (result i32)))
    (import "env" "note" (func $note (param i64 f64)))
    (memory (export "memory") 1 4)
    (data (i32.const 16) "wasmetal artifact")
    (global $g (export "g") (mut i32) (i32.const 0))
    (table $t 4 funcref)
    (elem (table $t) (i32.add (i32.const 1) (i32.const 1)) func $double $triple)
    (type $unary (func (param i32) (result i32)))
    (start $init)
    (func $init (global.set $g (i32.const 41)))
    (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
    (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
    (func (export "run") (param i32) (result i32)
        (call $note (i64.const 7) (f64.const 1.5))
        (i32.add
            (call $add1 (global.get $g))
            (call_indirect (type $unary) (local.get 0) (i32.const 3))))
    (func (export "load") (param i32) (result i64) (i64.load (local.get 0)))
    (func (export "grow") (result i32) (memory.grow (i32.const 1)))
    (func $divide (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
    (func (export "bad_indirect") (result i64)
        (call_indirect (param i64) (result i64) (i64.const 1) (i32.const 2)))
    (func (export "simd") (param i32) (result i32)
        (i32x4.extract_lane 2 (i32x4.mul (i32x4.splat (local.get 0)) (v128.const i32x4 1 2 3 4))))
    (func (export "fact") (param i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
            (else (i64.mul (local.get 0) (call 11 (i64.sub (local.get 0) (i64.const 1))))))))"#;

fn engine(configure: impl FnOnce(&mut Config)) -> Engine {
    let mut config = Config::new();
    configure(&mut config);
    Engine::new(&config).unwrap()
}

fn compile(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, wat::parse_str(wat).unwrap()).unwrap()
}

fn load(engine: &Engine, bytes: &[u8]) -> Result<Module> {
    // SAFETY: every artifact here comes from `Module::serialize` of this runtime, or is
    // damaged outside its code bytes (which the checks catch).
    unsafe { Module::deserialize(engine, bytes) }
}

fn artifact_error(result: Result<Module>) -> ArtifactError {
    match result {
        Ok(_) => panic!("the artifact was accepted"),
        Err(error) => match error.kind() {
            ErrorKind::Artifact(artifact) => artifact.clone(),
            other => panic!("expected an artifact error, got {other:?}"),
        },
    }
}

/// What every export of VARIED returns (or the error it gives), as text.
fn observe(engine: &Engine, module: &Module) -> Vec<String> {
    let mut store = Store::new(engine, Vec::<String>::new());
    let mut linker = Linker::new(engine);
    linker.func_wrap("env", "add1", |x: i32| x + 1).unwrap();
    linker
        .func_wrap("env", "note", |mut caller: Caller<'_, Vec<String>>, a: i64, b: f64| {
            caller.data_mut().push(format!("{a} {b}"));
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, module).unwrap();
    let mut seen = Vec::new();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    seen.push(format!("{:?}", run.call(&mut store, 5)));
    let load = instance.get_typed_func::<i32, i64>(&mut store, "load").unwrap();
    seen.push(format!("{:?} {:?}", load.call(&mut store, 16), load.call(&mut store, 65535)));
    let grow = instance.get_typed_func::<(), i32>(&mut store, "grow").unwrap();
    seen.push(format!("{:?} {:?}", grow.call(&mut store, ()), load.call(&mut store, 65536 + 8)));
    let div = instance.get_typed_func::<(i32, i32), i32>(&mut store, "div").unwrap();
    seen.push(format!(
        "{:?} {:?} {:?}",
        div.call(&mut store, (7, 2)),
        div.call(&mut store, (1, 0)),
        div.call(&mut store, (i32::MIN, -1))
    ));
    let bad = instance.get_typed_func::<(), i64>(&mut store, "bad_indirect").unwrap();
    seen.push(format!("{:?}", bad.call(&mut store, ())));
    let simd = instance.get_typed_func::<i32, i32>(&mut store, "simd").unwrap();
    seen.push(format!("{:?}", simd.call(&mut store, 11)));
    let fact = instance.get_typed_func::<i64, i64>(&mut store, "fact").unwrap();
    seen.push(format!("{:?}", fact.call(&mut store, 20)));
    let g = instance.get_global(&mut store, "g").unwrap();
    seen.push(format!("{:?}", g.get(&mut store)));
    seen.push(format!("{:?}", store.data()));
    seen
}

#[test]
fn a_loaded_module_behaves_as_the_compiled_one() {
    let engine = engine(|_| {});
    let module = compile(&engine, VARIED);
    let direct = observe(&engine, &module);
    let bytes = module.serialize().unwrap();
    assert!(bytes.starts_with(&wasmetal_runtime::artifact::MAGIC));
    let loaded = load(&engine, &bytes).unwrap();
    assert_eq!(observe(&engine, &loaded), direct);
    assert_eq!(loaded.name(), Some("varied"));
    // The trap's backtrace names the function in both.
    assert!(direct[3].contains("divide"), "{}", direct[3]);
    assert!(direct[4].starts_with("Err"), "{}", direct[4]);

    // Another engine (other type ids: a host type registered first) runs it alike.
    let other = Engine::default();
    let _ = Linker::<()>::new(&other).func_wrap("x", "y", |_: f32, _: f32, _: i64| 0i64);
    let elsewhere = load(&other, &bytes).unwrap();
    assert_eq!(observe(&other, &elsewhere), direct);
    // And writes the same bytes back.
    assert_eq!(elsewhere.serialize().unwrap(), bytes);
}

/// The hosted platform cannot alias memory executable a second time, so loading in
/// place copies the code, and the module behaves as any other.
#[test]
fn loading_in_place_falls_back_to_a_copy_where_the_platform_cannot_alias() {
    let engine = engine(|_| {});
    let module = compile(&engine, VARIED);
    let direct = observe(&engine, &module);
    let bytes: &'static [u8] = Vec::leak(module.serialize().unwrap());
    // SAFETY: the bytes come from `serialize` of this runtime and are never written.
    let loaded = unsafe { Module::deserialize_in_place(&engine, bytes) }.unwrap();
    assert!(!loaded.code_in_place());
    assert!(!module.code_in_place());
    assert_eq!(observe(&engine, &loaded), direct);
}

#[test]
fn serializing_is_deterministic_across_engines() {
    let a = compile(&engine(|_| {}), VARIED).serialize().unwrap();
    let b = compile(&engine(|_| {}), VARIED).serialize().unwrap();
    assert_eq!(a, b);
}

#[test]
fn modules_without_imports_or_code_round_trip() {
    let engine = engine(|_| {});
    for wat in ["(module)", "(module (memory 0) (table 0 externref))", "(module (func (export \"f\")))"] {
        let bytes = compile(&engine, wat).serialize().unwrap();
        let loaded = load(&engine, &bytes).unwrap();
        assert_eq!(loaded.serialize().unwrap(), bytes);
        let mut store = Store::new(&engine, ());
        Instance::new(&mut store, &loaded, &[]).unwrap();
    }
}

fn small_artifact(engine: &Engine) -> Vec<u8> {
    compile(
        engine,
        r#"(module (import "env" "f" (func (param i32))) (memory 1) (data (i32.const 0) "hi")
        (global i64 (i64.const 3)) (table 2 funcref) (elem (i32.const 0) func 1)
        (func (export "g") (param i32) (call 0 (local.get 0))))"#,
    )
    .serialize()
    .unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let engine = engine(|_| {});
    let bytes = small_artifact(&engine);
    for len in 0..bytes.len() {
        let error = artifact_error(load(&engine, &bytes[..len]));
        assert!(
            matches!(
                error,
                ArtifactError::NotAnArtifact | ArtifactError::Truncated { .. } | ArtifactError::Corrupt { .. }
            ),
            "length {len}: {error}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(artifact_error(load(&engine, &longer)), ArtifactError::Corrupt { .. }));
    load(&engine, &bytes).unwrap();
}

/// Where the code starts (the header's text offset, read the way the format says).
fn text_offset(bytes: &[u8]) -> usize {
    let version_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let at = 16 + version_len + 4 + 8 + 4 + 8;
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize
}

#[test]
fn every_bit_flip_outside_the_code_is_an_error() {
    let engine = engine(|_| {});
    let bytes = small_artifact(&engine);
    let code = text_offset(&bytes);
    assert!(code > 0 && code < bytes.len() && code.is_multiple_of(4096));
    for at in 0..code {
        for bit in [0, 3, 7] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << bit;
            let error = artifact_error(load(&engine, &damaged));
            assert!(!error.to_string().is_empty(), "byte {at} bit {bit}");
        }
    }
    // Code bytes are trusted, as documented: a flip there is not detected, the module
    // loads (and is not run here).
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(load(&engine, &damaged).is_ok());
}

#[test]
fn mismatched_settings_versions_and_cpus_are_named() {
    let plain = engine(|_| {});
    let bytes = small_artifact(&plain);
    let cases: [(&str, Engine); 4] = [
        (
            "epoch interruption",
            engine(|c| {
                c.epoch_interruption(true);
            }),
        ),
        (
            "fuel consumption",
            engine(|c| {
                c.consume_fuel(true);
            }),
        ),
        (
            "deterministic relaxed SIMD",
            engine(|c| {
                c.relaxed_simd_deterministic(true);
            }),
        ),
        (
            "wasm features",
            engine(|c| {
                c.wasm_simd(false);
            }),
        ),
    ];
    for (setting, other) in cases {
        match artifact_error(load(&other, &bytes)) {
            ArtifactError::Settings { setting: named, .. } => assert_eq!(named, setting),
            error => panic!("{setting}: {error}"),
        }
    }
    // Optimization does not change what code can run with: it loads.
    load(
        &engine(|c| {
            c.optimize(false);
        }),
        &bytes,
    )
    .unwrap();

    // Code for more CPU features than the engine may use.
    let v3 = CpuFeatures::parse("baseline,+avx,+avx2,+fma,+bmi1,+bmi2,+lzcnt").unwrap();
    let wide = small_artifact(&engine(|c| {
        c.cpu_features(v3);
    }));
    let narrow = engine(|c| {
        c.cpu_features(CpuFeatures::BASELINE);
    });
    match artifact_error(load(&narrow, &wide)) {
        ArtifactError::CpuFeatures { missing } => assert_eq!(missing, "avx, avx2, fma, bmi1, bmi2, lzcnt"),
        error => panic!("{error}"),
    }
    // Baseline code runs on a wider CPU.
    let baseline = small_artifact(&narrow);
    load(
        &engine(|c| {
            c.cpu_features(v3);
        }),
        &baseline,
    )
    .unwrap();

    // Another runtime build, another format, not an artifact at all.
    let mut other_version = bytes.clone();
    other_version[16] ^= 0x01;
    assert!(matches!(artifact_error(load(&plain, &other_version)), ArtifactError::RuntimeVersion { .. }));
    let mut other_format = bytes.clone();
    other_format[8] = 99;
    assert!(matches!(artifact_error(load(&plain, &other_format)), ArtifactError::FormatVersion { found: 99, .. }));
    let wasm = wat::parse_str("(module)").unwrap();
    let error = artifact_error(load(&plain, &wasm));
    assert_eq!(error, ArtifactError::NotAnArtifact);
    assert!(error.to_string().contains("wasmetal compile"), "{error}");
}

#[test]
fn parallel_compilation_writes_the_same_bytes_as_serial() {
    // Functions of varied sizes calling each other (relocations across threads' work).
    let mut wat = String::from("(module (memory 1) (table 8 funcref)");
    for i in 0..300 {
        let callee = (i * 7 + 3) % 300;
        wat.push_str(&format!(
            "(func $f{i} (export \"f{i}\") (param i32) (result i32) (local i32) (local.set 1 (local.get 0))"
        ));
        for j in 0..(i % 17) {
            wat.push_str(&format!("(local.set 1 (i32.add (local.get 1) (i32.load offset={} (i32.const 0))))", j * 4));
        }
        if i % 5 == 0 && callee > i {
            wat.push_str(&format!("(local.set 1 (call $f{callee} (local.get 1)))"));
        }
        wat.push_str("(local.get 1))");
    }
    wat.push_str("(elem (i32.const 0) func $f1 $f2 $f3))");
    let serial = compile(
        &engine(|c| {
            c.parallel_compilation(false);
        }),
        &wat,
    )
    .serialize()
    .unwrap();
    let parallel = compile(
        &engine(|c| {
            c.parallel_compilation(true);
        }),
        &wat,
    )
    .serialize()
    .unwrap();
    assert!(serial == parallel, "parallel and serial compiles differ");
    // An invalid function is reported alike, whichever thread meets it.
    let bad = wat.replacen("(local.get 1))", "(local.get 1) (i64.const 0))", 1);
    let errors: Vec<String> = [false, true]
        .map(|on| {
            let engine = engine(|c| {
                c.parallel_compilation(on);
            });
            Module::new(&engine, wat::parse_str(&bad).unwrap()).err().unwrap().to_string()
        })
        .into();
    assert_eq!(errors[0], errors[1]);
}
