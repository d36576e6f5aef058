//! The spec suites on the hosted runtime: one test per `.wast` file, and a final
//! `spec: N passed, M failed` line counting assertions.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use wasmetal_runtime::{Config, Engine};
use wasmetal_spec::{SKIP, convert, engines, exec};

/// How a file is run: every file plainly, with fuel and epochs, and through
/// serialize→deserialize; relaxed SIMD also in its deterministic mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pass {
    Plain,
    Instrumented,
    Deterministic,
    RoundTrip,
}

impl Pass {
    fn label(self) -> &'static str {
        match self {
            Pass::Plain => "",
            Pass::Instrumented => " [fuel+epoch]",
            Pass::Deterministic => " [deterministic]",
            Pass::RoundTrip => " [serialized]",
        }
    }
}

/// One engine per distinct suite configuration (see `wasmetal_spec::engines`) and pass.
fn engine(suite: &str, pass: Pass) -> &'static Engine {
    type Engines = std::collections::HashMap<(&'static str, Pass), &'static Engine>;
    static ENGINES: OnceLock<std::sync::Mutex<Engines>> = OnceLock::new();
    let key = (engines::config_key(suite), pass);
    let mut map = ENGINES.get_or_init(Default::default).lock().unwrap();
    map.entry(key).or_insert_with(|| {
        let mut config = Config::new();
        engines::configure(&mut config, suite);
        match pass {
            Pass::Plain => {}
            Pass::Instrumented => engines::instrument(&mut config),
            Pass::Deterministic => engines::deterministic(&mut config),
            Pass::RoundTrip => {}
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
    for ((suite, file, text), pass) in convert::suites().into_iter().flat_map(|f| {
        let deterministic = engines::has_deterministic_pass(&f.0).then(|| (f.clone(), Pass::Deterministic));
        [(f.clone(), Pass::Plain), (f.clone(), Pass::Instrumented), (f, Pass::RoundTrip)]
            .into_iter()
            .chain(deterministic)
    }) {
        let name = format!("{suite}/{file}{}", pass.label());
        let skip = SKIP.iter().any(|(skipped, _)| *skipped == format!("{suite}/{file}"));
        let (passed, failed, instrumented_failed) =
            (Arc::clone(&passed), Arc::clone(&failed), Arc::clone(&instrumented_failed));
        let label = name.clone();
        let suite_name = suite.clone();
        trials.push(
            Trial::test(name, move || {
                let script = convert::convert(&label, text).map_err(|e| Failed::from(format!("conversion: {e}")))?;
                let loading = if pass == Pass::RoundTrip { exec::Loading::RoundTrip } else { exec::Loading::Compile };
                let report = exec::run_with(engine(&suite_name, pass), &script, loading);
                if pass == Pass::Plain {
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
    println!(
        "spec with fuel and epochs, relaxed SIMD deterministic, and serialized: {} failed",
        instrumented_failed.load(Ordering::Relaxed)
    );
    conclusion.exit();
}
