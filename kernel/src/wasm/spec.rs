//! `spec` mode: runs the spec-test scripts the launcher packed into the initrd, with the
//! same executor and per-suite configurations as the hosted test, and prints the same
//! `spec: N passed, M failed` summary.

use alloc::collections::BTreeMap;

use wasmetal_runtime::Engine;
use wasmetal_spec::script::Script;

use crate::log;

/// Runs every `spec/<suite>/<file>` script of `initrd`; returns the exit status.
pub fn run(initrd: &[u8]) -> u32 {
    let Some(stack) = super::stack::WasmStack::new() else {
        log!("spec: no wasm stack");
        return 1;
    };
    super::stack::run_on(&stack, || run_scripts(initrd))
}

fn run_scripts(initrd: &[u8]) -> u32 {
    let mut engines: BTreeMap<&'static str, Engine> = BTreeMap::new();
    let (mut passed, mut failed) = (0u32, 0u32);
    let start = wasmetal_arch::cpu::rdtsc();
    for entry in wasmetal_initrd::entries(initrd) {
        let file = match entry {
            Ok(file) => file,
            Err(error) => {
                log!("{error}");
                return 1;
            }
        };
        let Some(path) = file.name.strip_prefix("spec/") else { continue };
        let suite = path.split('/').next().unwrap_or("");
        let script = match Script::decode(file.data) {
            Ok(script) => script,
            Err(error) => {
                log!("{path}: {error}");
                failed += 1;
                continue;
            }
        };
        let key = wasmetal_spec::engines::config_key(suite);
        if !engines.contains_key(key) {
            let mut config = super::engine::config(*super::engine::CPU.get().expect("recorded at boot"));
            wasmetal_spec::engines::configure(&mut config, suite);
            match Engine::new(&config) {
                Ok(engine) => {
                    engines.insert(key, engine);
                }
                Err(error) => {
                    log!("spec: engine for {suite}: {error}");
                    return 1;
                }
            }
        }
        let report = wasmetal_spec::exec::run(&engines[key], &script);
        log!("{path}: {} passed, {} failed", report.passed, report.failed);
        for failure in report.failures.iter().take(10) {
            log!("  {failure}");
        }
        passed += report.passed;
        failed += report.failed;
    }
    let elapsed_ms = crate::timer::cycles_to_ns(wasmetal_arch::cpu::rdtsc() - start) / 1_000_000;
    log!("spec: {passed} passed, {failed} failed");
    log!("spec: ran in {elapsed_ms} ms");
    u32::from(failed != 0)
}
