//! The spec suites on the hosted runtime: one test per `.wast` file, and a final
//! `spec: N passed, M failed` line counting assertions.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use wasmetal_runtime::{Config, Engine};
use wasmetal_spec::{SKIP, convert, engines, exec};

/// One engine per distinct suite configuration (see `wasmetal_spec::engines`), plain
/// or with fuel and epoch instrumentation.
fn engine(suite: &str, instrumented: bool) -> &'static Engine {
    type Engines = std::collections::HashMap<(&'static str, bool), &'static Engine>;
    static ENGINES: OnceLock<std::sync::Mutex<Engines>> = OnceLock::new();
    let key = (engines::config_key(suite), instrumented);
    let mut map = ENGINES.get_or_init(Default::default).lock().unwrap();
    map.entry(key).or_insert_with(|| {
        let mut config = Config::new();
        engines::configure(&mut config, suite);
        if instrumented {
            engines::instrument(&mut config);
        }
        Box::leak(Box::new(Engine::new(&config).expect("engine")))
    })
}

fn main() {
    let args = Arguments::from_args();
    let passed = Arc::new(AtomicU32::new(0));
    let failed = Arc::new(AtomicU32::new(0));
    let instrumented_failed = Arc::new(AtomicU32::new(0));
    let mut trials = Vec::new();
    for ((suite, file, text), instrumented) in
        convert::suites().into_iter().flat_map(|f| [(f.clone(), false), (f, true)])
    {
        let name = if instrumented { format!("{suite}/{file} [fuel+epoch]") } else { format!("{suite}/{file}") };
        let skip = SKIP.iter().any(|(skipped, _)| *skipped == format!("{suite}/{file}"));
        let (passed, failed, instrumented_failed) =
            (Arc::clone(&passed), Arc::clone(&failed), Arc::clone(&instrumented_failed));
        let label = name.clone();
        let suite_name = suite.clone();
        trials.push(
            Trial::test(name, move || {
                let script = convert::convert(&label, text).map_err(|e| Failed::from(format!("conversion: {e}")))?;
                let report = exec::run(engine(&suite_name, instrumented), &script);
                if !instrumented {
                    passed.fetch_add(report.passed, Ordering::Relaxed);
                    failed.fetch_add(report.failed, Ordering::Relaxed);
                } else {
                    instrumented_failed.fetch_add(report.failed, Ordering::Relaxed);
                }
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
    println!("spec with fuel and epochs: {} failed", instrumented_failed.load(Ordering::Relaxed));
    conclusion.exit();
}
