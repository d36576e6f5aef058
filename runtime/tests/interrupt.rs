//! Epoch interruption and fuel metering on the hosted runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use wasmetal_runtime::*;

fn engine(fuel: bool, epochs: bool) -> Engine {
    let mut config = Config::new();
    config.consume_fuel(fuel).epoch_interruption(epochs);
    Engine::new(&config).unwrap()
}

fn instance(engine: &Engine, wat: &str) -> (Store<()>, Instance) {
    let module = Module::new(engine, wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(engine, ());
    if engine_has_fuel(engine) {
        store.set_fuel(u64::MAX / 4).unwrap();
    }
    store.set_epoch_deadline(u64::MAX / 4);
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

fn engine_has_fuel(engine: &Engine) -> bool {
    let mut store = Store::new(engine, ());
    store.set_fuel(1).is_ok()
}

const COUNTER: &str = r#"(module
    (global $count (export "count") (mut i64) (i64.const 0))
    (func (export "three") (result i32) i32.const 1 i32.const 2 i32.add)
    (func (export "spin") (loop $l (global.set $count (i64.add (global.get $count) (i64.const 1))) (br $l)))
    (func $down (export "down") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
            (else (return_call $down (i32.sub (local.get 0) (i32.const 1))))))
    (func $rec (export "rec") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
            (else (i32.add (i32.const 1) (call $rec (i32.sub (local.get 0) (i32.const 1))))))))"#;

#[test]
fn fuel_of_a_known_function_is_its_operator_count() {
    let engine = engine(true, false);
    let (mut store, instance) = instance(&engine, COUNTER);
    let three = instance.get_typed_func::<(), i32>(&mut store, "three").unwrap();
    store.set_fuel(1000).unwrap();
    assert_eq!(three.call(&mut store, ()).unwrap(), 3);
    // i32.const, i32.const, i32.add: `end` is free.
    assert_eq!(store.get_fuel().unwrap(), 997);
}

#[test]
fn fuel_exhaustion_stops_at_the_same_operator_every_run() {
    let engine = engine(true, false);
    let mut counts = Vec::new();
    for _ in 0..3 {
        let (mut store, instance) = instance(&engine, COUNTER);
        store.set_fuel(10_000).unwrap();
        let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
        let error = spin.call(&mut store, ()).unwrap_err();
        assert_eq!(error.trap_code(), Some(TrapCode::OutOfFuel));
        let count = instance.get_global(&mut store, "count").unwrap().get(&store).i64().unwrap();
        counts.push((count, store.get_fuel().unwrap()));
    }
    assert!(counts[0].0 > 1000, "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
}

#[test]
fn fuel_works_with_deep_recursion_and_tail_calls() {
    let engine = engine(true, false);
    let (mut store, instance) = instance(&engine, COUNTER);
    let down = instance.get_typed_func::<i32, i32>(&mut store, "down").unwrap();
    let rec = instance.get_typed_func::<i32, i32>(&mut store, "rec").unwrap();
    store.set_fuel(u64::MAX / 4).unwrap();
    assert_eq!(down.call(&mut store, 1_000_000).unwrap(), 0);
    assert_eq!(rec.call(&mut store, 10_000).unwrap(), 10_000);
    store.set_fuel(500).unwrap();
    assert_eq!(down.call(&mut store, 1_000_000).unwrap_err().trap_code(), Some(TrapCode::OutOfFuel));
    store.set_fuel(500).unwrap();
    assert_eq!(rec.call(&mut store, 10_000).unwrap_err().trap_code(), Some(TrapCode::OutOfFuel));
}

#[test]
fn fuel_yield_interval_refills_until_the_total_is_spent() {
    let engine = engine(true, false);
    let (mut store, instance) = instance(&engine, COUNTER);
    let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
    store.fuel_yield_interval(Some(1000)).unwrap();
    store.set_fuel(100_000).unwrap();
    assert_eq!(spin.call(&mut store, ()).unwrap_err().trap_code(), Some(TrapCode::OutOfFuel));
    let count = instance.get_global(&mut store, "count").unwrap().get(&store).i64().unwrap();
    // One loop iteration costs a handful of units: ~100 000 / cost iterations ran.
    assert!(count > 10_000, "{count}");
}

#[test]
fn an_infinite_loop_is_interrupted_by_the_epoch() {
    let engine = engine(false, true);
    let (mut store, instance) = instance(&engine, COUNTER);
    let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
    store.set_epoch_deadline(1);
    let ticker = engine.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        ticker.increment_epoch();
    });
    assert_eq!(spin.call(&mut store, ()).unwrap_err().trap_code(), Some(TrapCode::Interrupt));
    handle.join().unwrap();
}

#[test]
fn epoch_callback_can_extend_the_deadline_and_yield() {
    let engine = engine(false, true);
    let (mut store, instance) = instance(&engine, COUNTER);
    let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    store.epoch_deadline_callback(move |_| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 { Ok(UpdateDeadline::Yield(1)) } else { Err(Error::msg("enough")) }
    });
    store.set_epoch_deadline(1);
    let (stop, handle) = ticker(&engine);
    assert_eq!(spin.call(&mut store, ()).unwrap_err().trap_code(), Some(TrapCode::Interrupt));
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// Tail calls (`down`) and deep recursion (`rec`) run to their answers with epochs on,
/// `between` runs, and then, past the deadline, both trap at their first check.
fn recursion_and_tail_calls_then_interrupt(
    fuel: bool,
    between: impl FnOnce(&Engine, &mut Store<()>, &dyn Fn(&mut Store<()>)),
) {
    let engine = engine(fuel, true);
    let (mut store, instance) = instance(&engine, COUNTER);
    let down = instance.get_typed_func::<i32, i32>(&mut store, "down").unwrap();
    let rec = instance.get_typed_func::<i32, i32>(&mut store, "rec").unwrap();
    let run_both = |store: &mut Store<()>| {
        assert_eq!(down.call(&mut *store, 100_000).unwrap(), 0);
        assert_eq!(rec.call(&mut *store, 5_000).unwrap(), 5_000);
    };
    run_both(&mut store);
    between(&engine, &mut store, &run_both);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(0);
    assert_eq!(down.call(&mut store, 100_000).unwrap_err().trap_code(), Some(TrapCode::Interrupt));
    assert_eq!(rec.call(&mut store, 5_000).unwrap_err().trap_code(), Some(TrapCode::Interrupt));
}

#[test]
fn epochs_work_with_recursion_and_tail_calls() {
    // With fuel, epochs are compared in the code.
    recursion_and_tail_calls_then_interrupt(true, |_, _, _| {});
}

/// Ticks `engine` every millisecond until the returned flag is set.
fn ticker(engine: &Engine) -> (Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let engine = engine.clone();
    let handle = std::thread::spawn(move || {
        while !stopped.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
            engine.increment_epoch();
        }
    });
    (stop, handle)
}

#[test]
fn a_loop_makes_progress_between_deadline_callbacks() {
    let engine = engine(false, true);
    let (mut store, instance) = instance(&engine, COUNTER);
    let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
    let count = instance.get_global(&mut store, "count").unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    store.epoch_deadline_callback(move |mut ctx| {
        let mut seen = record.lock().unwrap();
        seen.push(count.get(&mut ctx).i64().unwrap());
        if seen.len() < 5 { Ok(UpdateDeadline::Continue(1)) } else { Err(Error::msg("enough")) }
    });
    store.set_epoch_deadline(1);
    let (stop, handle) = ticker(&engine);
    assert_eq!(spin.call(&mut store, ()).unwrap_err().trap_code(), Some(TrapCode::Interrupt));
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    // Each deadline is a tick later: the loop ran on in between.
    assert!(seen.windows(2).all(|pair| pair[1] > pair[0]), "the loop stalled between callbacks: {seen:?}");
}

/// A loop keeping many integer and float values live in registers across its polls.
const MIX: &str = r#"(module
    (func (export "mix") (param $n i64) (result i64)
        (local $i i64) (local $a i64) (local $b i64) (local $c i64) (local $d i64) (local $e i64)
        (local $x f64) (local $y f64) (local $z f64)
        (local.set $a (i64.const 1)) (local.set $b (i64.const 2)) (local.set $c (i64.const 3))
        (local.set $x (f64.const 1.5)) (local.set $y (f64.const 0.25))
        (loop $l
            (local.set $a (i64.add (local.get $a) (local.get $i)))
            (local.set $b (i64.xor (local.get $b) (i64.rotl (local.get $a) (i64.const 7))))
            (local.set $c (i64.add (local.get $c) (i64.mul (local.get $b) (i64.const 31))))
            (local.set $d (i64.sub (local.get $d) (local.get $c)))
            (local.set $e (i64.add (local.get $e) (i64.shr_u (local.get $d) (i64.const 3))))
            (local.set $x (f64.add (f64.mul (local.get $x) (f64.const 0.999)) (local.get $y)))
            (local.set $z (f64.add (local.get $z) (f64.sqrt (local.get $x))))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br_if $l (i64.lt_u (local.get $i) (local.get $n))))
        (i64.add (i64.xor (i64.xor (local.get $a) (local.get $b)) (i64.xor (local.get $c) (local.get $d)))
            (i64.add (local.get $e) (i64.trunc_f64_s (local.get $z))))))"#;

#[test]
fn registers_survive_the_deadline_slow_path() {
    let n = 30_000_000i64;
    let plain = engine(false, false);
    let (mut store, plain_instance) = instance(&plain, MIX);
    let expected = plain_instance.get_typed_func::<i64, i64>(&mut store, "mix").unwrap().call(&mut store, n).unwrap();

    let engine = engine(false, true);
    let (mut store, epoch_instance) = instance(&engine, MIX);
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    store.epoch_deadline_callback(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(UpdateDeadline::Continue(1))
    });
    store.set_epoch_deadline(1);
    let (stop, handle) = ticker(&engine);
    let got = epoch_instance.get_typed_func::<i64, i64>(&mut store, "mix").unwrap().call(&mut store, n).unwrap();
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    assert_eq!(got, expected);
    assert!(calls.load(Ordering::SeqCst) >= 2, "the deadline never passed during the run");
}

#[test]
fn polled_epochs_work_with_deep_recursion_and_tail_calls() {
    // Without fuel, epochs are polled. A deadline that passes while deep in recursion:
    // the policy runs on the deep stack and the recursion finishes with the right answer.
    recursion_and_tail_calls_then_interrupt(false, |engine, store, run_both| {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        store.epoch_deadline_callback(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        let (stop, handle) = ticker(engine);
        while calls.load(Ordering::SeqCst) < 3 {
            run_both(store);
            run_both(store);
        }
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap();
    });
}
