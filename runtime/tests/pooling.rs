//! The pooling allocator: slots are reused, reused memory reads as zero, limits hold.

use wasmetal_runtime::*;

const MODULE: &str = r#"(module
    (memory (export "memory") 2 100)
    (table 10 funcref)
    (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

fn pooling_engine(max_instances: u32) -> Engine {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(PoolingConfig {
        max_instances,
        max_memories: max_instances,
        max_tables: max_instances,
        ..PoolingConfig::default()
    }));
    Engine::new(&config).unwrap()
}

#[test]
fn a_reused_slot_reads_zeros_where_the_last_instance_wrote() {
    let engine = pooling_engine(4);
    let module = Module::new(&engine, wat::parse_str(MODULE).unwrap()).unwrap();
    let mut addresses = Vec::new();
    for round in 0..3 {
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let peek = instance.get_typed_func::<i32, i32>(&mut store, "peek").unwrap();
        let poke = instance.get_typed_func::<(i32, i32), ()>(&mut store, "poke").unwrap();
        let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
        for offset in [0, 4096, 65536 + 12, 131068] {
            assert_eq!(peek.call(&mut store, offset).unwrap(), 0, "round {round}: stale data at {offset}");
        }
        if round == 1 {
            // Grown pages must not leak either, nor stay accessible after reuse.
            assert_eq!(grow.call(&mut store, 1).unwrap(), 2);
            poke.call(&mut store, (3 * 65536 - 4, 7)).unwrap();
        }
        if round == 2 {
            assert_eq!(
                peek.call(&mut store, 3 * 65536 - 4).unwrap_err().trap_code(),
                Some(TrapCode::MemoryOutOfBounds)
            );
        }
        for offset in [0, 4096, 65536 + 12, 131068] {
            poke.call(&mut store, (offset, 0x5A5A_5A5A)).unwrap();
        }
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        addresses.push(memory.data(&store).as_ptr() as usize);
    }
    assert!(addresses.windows(2).all(|w| w[0] == w[1]), "the slot was not reused: {addresses:x?}");
}

#[test]
fn exceeding_the_instance_limit_is_a_clear_error() {
    let engine = pooling_engine(2);
    let module = Module::new(&engine, wat::parse_str(MODULE).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    Instance::new(&mut store, &module, &[]).unwrap();
    Instance::new(&mut store, &module, &[]).unwrap();
    let error = Instance::new(&mut store, &module, &[]).unwrap_err();
    assert!(error.to_string().contains("limit of 2 live instances"), "{error}");
    drop(store);
    let mut store = Store::new(&engine, ());
    Instance::new(&mut store, &module, &[]).unwrap();
}

#[test]
fn pooled_memories_respect_the_page_limit() {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(PoolingConfig {
        max_memory_pages: 3,
        ..PoolingConfig::default()
    }));
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, wat::parse_str(MODULE).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 2);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
}

#[test]
fn memory_images_are_copy_on_write_and_never_leak_between_modules() {
    let engine = pooling_engine(8);
    let with_a = Module::new(
        &engine,
        wat::parse_str(
            r#"(module (memory (export "memory") 1) (data (i32.const 0) "AAAA") (data (i32.const 8192) "A2"))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let with_b = Module::new(
        &engine,
        wat::parse_str(r#"(module (memory (export "memory") 2) (data (i32.const 100) "BB"))"#).unwrap(),
    )
    .unwrap();
    let without = Module::new(&engine, wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap()).unwrap();
    for round in 0..3 {
        for (module, expect) in [
            (&with_a, &[(0usize, b'A'), (3, b'A'), (4, 0), (8192, b'A'), (8193, b'2'), (100, 0)][..]),
            (&with_b, &[(100, b'B'), (101, b'B'), (0, 0), (8192, 0)][..]),
            (&without, &[(0, 0), (100, 0), (8192, 0)][..]),
        ] {
            let mut store = Store::new(&engine, ());
            let instance = Instance::new(&mut store, module, &[]).unwrap();
            let memory = instance.get_memory(&mut store, "memory").unwrap();
            for &(offset, byte) in expect {
                assert_eq!(memory.data(&store)[offset], byte, "round {round}, offset {offset}");
            }
            // Scribble over the image and beyond it: the next instance must not see it.
            memory.data_mut(&mut store)[..200].fill(0xEE);
            memory.data_mut(&mut store)[8192..8200].fill(0xEE);
        }
    }
}
