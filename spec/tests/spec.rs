//! The spec suites on the hosted runtime: one test per `.wast` file, and a final
//! `spec: N passed, M failed` line counting assertions.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use wasmetal_runtime::{Config, Engine};
use wasmetal_spec::{SKIP, convert, exec};

/// The engine for a suite: the 1.0 and 2.0 suites test exactly those versions (their
/// `assert_invalid`s reject multiple memories, for instance); proposal suites run with
/// every feature this runtime has.
fn engine(suite: &str) -> &'static Engine {
    static BASE: OnceLock<Engine> = OnceLock::new();
    static FULL: OnceLock<Engine> = OnceLock::new();
    static MEMORY64: OnceLock<Engine> = OnceLock::new();
    if suite == "memory64" {
        // The memory64 proposal is written against 2.0: one memory per module.
        return MEMORY64.get_or_init(|| {
            let mut config = Config::new();
            config.wasm_multi_memory(false);
            Engine::new(&config).expect("engine")
        });
    }
    if suite.starts_with("wasm-v") {
        BASE.get_or_init(|| {
            let mut config = Config::new();
            config.wasm_tail_call(false).wasm_extended_const(false).wasm_multi_memory(false).wasm_memory64(false);
            Engine::new(&config).expect("engine")
        })
    } else {
        FULL.get_or_init(Engine::default)
    }
}

fn main() {
    let args = Arguments::from_args();
    let passed = Arc::new(AtomicU32::new(0));
    let failed = Arc::new(AtomicU32::new(0));
    let mut trials = Vec::new();
    for (suite, file, text) in convert::suites() {
        let name = format!("{suite}/{file}");
        let skip = SKIP.iter().any(|(skipped, _)| *skipped == name);
        let (passed, failed) = (Arc::clone(&passed), Arc::clone(&failed));
        let label = name.clone();
        let suite_name = suite.clone();
        trials.push(
            Trial::test(name, move || {
                let script = convert::convert(&label, text).map_err(|e| Failed::from(format!("conversion: {e}")))?;
                let report = exec::run(engine(&suite_name), &script);
                passed.fetch_add(report.passed, Ordering::Relaxed);
                failed.fetch_add(report.failed, Ordering::Relaxed);
                println!("{label}: {} passed, {} failed", report.passed, report.failed);
                if report.failed == 0 {
                    return Ok(());
                }
                let shown: Vec<String> = report.failures.iter().take(20).cloned().collect();
                Err(Failed::from(format!("{} failures:\n{}", report.failed, shown.join("\n"))))
            })
            .with_ignored_flag(skip),
        );
    }
    let conclusion = libtest_mimic::run(&args, trials);
    println!("spec: {} passed, {} failed", passed.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    conclusion.exit();
}
