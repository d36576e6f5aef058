//! The spec suites inside the kernel: the launcher converts every `.wast` file, packs the
//! scripts into the initrd, and the kernel runs them in one boot. The pass count must
//! equal the hosted runtime's on the same scripts.

use wasmetal_runtime::{Config, Engine};
use wasmetal_spec::{convert, engines, exec};
use wasmetal_tests::Launcher;

fn summary(line: &str) -> (u32, u32) {
    // "spec: N passed, M failed"
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[3].parse().unwrap())
}

fn hosted_counts() -> (u32, u32) {
    let (mut passed, mut failed) = (0, 0);
    let mut engines_by_key = std::collections::HashMap::new();
    for (suite, file, text) in convert::suites() {
        let engine = engines_by_key.entry(engines::config_key(&suite)).or_insert_with(|| {
            let mut config = Config::new();
            engines::configure(&mut config, &suite);
            Engine::new(&config).unwrap()
        });
        let script = convert::convert(&format!("{suite}/{file}"), text).unwrap();
        let report = exec::run(engine, &script);
        passed += report.passed;
        failed += report.failed;
    }
    (passed, failed)
}

#[test]
fn spec_suites_pass_inside_the_kernel_as_on_the_host() {
    let launcher = Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"));
    let run = launcher.run(&["--timeout", "1200", "spec"]);
    let line = run.expect_line("spec: ").to_string();
    let line =
        run.stdout.lines().rev().find(|l| l.starts_with("spec: ") && l.contains("passed")).unwrap_or(&line).to_string();
    let kernel = summary(&line);
    let hosted = hosted_counts();
    assert_eq!(kernel, hosted, "kernel {line:?} vs hosted {hosted:?}\n{run}");
    assert_eq!(kernel.1, 0, "{run}");
    run.expect_code(0);
}
