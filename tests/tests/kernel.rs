//! Kernel behaviour, booted for real in QEMU through the launcher: one scenario per boot.

use wasmetal_tests::Launcher;

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

const KERNEL_FAILURE: i32 = 125;

#[test]
fn boot_prints_banner_and_memory_map_and_exits_zero() {
    let run = launcher().run(&["--timeout", "120", "kernel", "--append", ""]);
    run.expect_code(0);
    run.expect_line("wasmetal 0.1.0: WebAssembly on bare metal");
    let ram = run.expect_line(" ram");
    assert!(ram.starts_with("memory: 0x"), "memory map line: {ram}");
    let usable = run.expect_line("MiB usable in");
    let mib: u64 = usable.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((1900..=2048).contains(&mib), "2 GiB guest should have ~2 GiB usable: {usable}");
    run.expect_line("boot: entry to init done");
}

#[test]
fn memory_option_sizes_the_guest() {
    let run = launcher().run(&["--memory", "256", "--timeout", "120", "kernel", "--append", ""]);
    run.expect_code(0);
    let usable = run.expect_line("MiB usable in");
    let mib: u64 = usable.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((200..=256).contains(&mib), "{usable}");
}

#[test]
fn timer_ticks_arrive_at_the_configured_rate() {
    let run = launcher().kernel_cmdline("test=timer timer_hz=250");
    run.expect_code(0);
    let line = run.expect_line("timer: ");
    // "timer: N ticks in 1000 ms at 250 Hz (expected 250)"
    let ticks: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((188..=312).contains(&ticks), "expected 250 ticks within 25%: {line}");
    run.expect_line("selftest timer ... ok");
}

#[test]
fn masked_interrupts_are_held_and_delivered_on_unmask() {
    let run = launcher().kernel_cmdline("test=irq-mask timer_hz=250");
    run.expect_code(0);
    run.expect_line("irq-mask: 0 ticks while masked");
    run.expect_line("selftest irq-mask ... ok");
}

#[test]
fn guard_page_write_is_caught_with_its_address() {
    let run = launcher().kernel_cmdline("test=guard");
    run.expect_code(0);
    let hit = run.expect_line("guard page hit at 0x");
    let caught = run.expect_line("guard: write to 0x");
    let hit_addr = hit.split_whitespace().nth(4).unwrap();
    assert!(caught.contains(hit_addr), "handler address {hit_addr} and probe address differ:\n{hit}\n{caught}");
    assert!(hit.contains("(write, not present)"), "{hit}");
    run.expect_line("selftest guard ... ok");
}

#[test]
fn huge_blocks_split_and_return_every_frame() {
    let run = launcher().kernel_cmdline("test=huge");
    run.expect_code(0);
    run.expect_line("selftest huge ... ok");
}

#[test]
fn memory_routines_match_a_byte_by_byte_reference() {
    let run = launcher().kernel_cmdline("test=mem");
    run.expect_code(0);
    run.expect_line("selftest mem ... ok");
}

#[test]
fn heap_stress_reuses_memory_without_leaking() {
    let run = launcher().kernel_cmdline("test=heap");
    run.expect_code(0);
    run.expect_line("selftest heap ... ok");
}

#[test]
fn heap_exhaustion_is_a_clean_error() {
    let run = launcher().kernel_cmdline("test=heap-exhaust");
    run.expect_code(0);
    run.expect_line("heap exhausted after");
    run.expect_line("selftest heap-exhaust ... ok");
}

#[test]
fn kernel_text_is_not_writable_and_data_not_executable() {
    let run = launcher().kernel_cmdline("test=wx");
    run.expect_code(0);
    run.expect_line("(write, protection violation)");
    run.expect_line("selftest wx ... ok");
}

#[test]
fn panic_prints_location_and_exits_with_the_failure_code() {
    let run = launcher().kernel_cmdline("test=panic");
    run.expect_code(KERNEL_FAILURE);
    run.expect_line("wasmetal: kernel panic at kernel/src/selftest.rs");
    run.expect_line("selftest panic requested");
}

#[test]
fn stray_kernel_write_is_a_kernel_bug_not_a_guard_hit() {
    let run = launcher().kernel_cmdline("test=kernel-fault");
    run.expect_code(KERNEL_FAILURE);
    run.expect_line("kernel page fault at 0x80000000000 (write, not present)");
}

#[test]
fn exit_statuses_round_trip_through_qemu() {
    for status in [0, 3, 123, 124, 134, 255] {
        let run = launcher().kernel_cmdline(&format!("exit={status}"));
        run.expect_code(status);
    }
}

#[test]
fn timeout_kills_a_hung_kernel() {
    let run = launcher().run(&["--timeout", "2", "kernel", "--append", "test=hang"]);
    run.expect_code(124);
    assert!(run.stderr.contains("timed out"), "{run}");
}

#[test]
fn initrd_files_reach_the_kernel_intact() {
    let dir = std::env::temp_dir().join(format!("wasmetal-initrd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: [(&str, Vec<u8>); 2] = [
        ("hello.txt", b"hello, kernel\n".to_vec()),
        ("blob.bin", (0..70_001u32).map(|i| (i * 31 % 251) as u8).collect()),
    ];
    let mut args = vec!["--timeout".to_string(), "120".into(), "kernel".into()];
    for (name, data) in &files {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        args.push("--file".into());
        args.push(format!("{}::dir/{name}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = launcher().run(&args);
    std::fs::remove_dir_all(&dir).unwrap();
    run.expect_code(0);
    for (name, data) in &files {
        let hash =
            data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        run.expect_line(&format!("initrd: dir/{name} {} bytes fnv1a {hash:016x}", data.len()));
    }
}

#[test]
fn wasm_compiles_runs_and_traps_inside_the_kernel() {
    let run = launcher().kernel_cmdline("test=wasm");
    run.expect_code(0);
    run.expect_line("wasm: div by zero -> wasm trap: integer divide by zero");
    run.expect_line("wasm: div overflow -> wasm trap: integer overflow");
    run.expect_line("wasm: out of bounds -> wasm trap: out of bounds memory access");
    run.expect_line("wasm: recursion -> wasm trap: call stack exhausted");
    run.expect_line("wasm: unreachable -> wasm trap: unreachable");
    run.expect_line("deep (+0x");
    run.expect_line("selftest wasm ... ok");
}

#[test]
fn fuel_stops_at_the_same_operator_in_the_kernel_and_hosted() {
    use wasmetal_runtime::{Config, Engine, Instance, Module, Store, TrapCode};
    let run = launcher().kernel_cmdline("test=fuel");
    run.expect_code(0);
    let line = run.expect_line("fuel: count ").to_string();
    let wat = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/wat/fuel.wat");
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, wat::parse_file(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_fuel(1_234_567).unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let error = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(error.trap_code(), Some(TrapCode::OutOfFuel));
    let count = instance.get_global(&mut store, "count").unwrap().get(&store).i64().unwrap();
    let left = store.get_fuel().unwrap();
    assert_eq!(line, format!("fuel: count {count} after 1234567 units, {left} left"), "{run}");
}
