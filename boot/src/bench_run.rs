//! One benchmark run of a WASI module in the kernel, timed by the kernel itself.
//!
//! Packs the module, boots a VM, checks the program exited 0 and reads the kernel's
//! `run: NAME _start ran N ns` line, so figures exclude boot and compile. What the
//! module does and how its VM is set up (stdin, host directories) is the caller's.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::qemu::{ConsoleSink, VmConfig};
use crate::run::RunSpec;
use crate::vm_args::VmArgs;

/// How long `_start` of `spec`'s program ran inside the kernel; `configure` adjusts the
/// VM (devices, stdin) before it boots. `case` names the run in errors.
pub fn kernel_start_ns(vm: &VmArgs, spec: &RunSpec, case: &str, configure: impl FnOnce(&mut VmConfig)) -> Result<u64> {
    let files = crate::run::initrd_files(spec)?;
    let initrd = crate::run::write_initrd(&files)?;
    let mut config = vm.config(vm.kernel_path()?, crate::run::run_cmdline(true), Some(initrd.clone()))?;
    config.program_output = true;
    config.timeout = Some(Duration::from_secs(600));
    configure(&mut config);
    let result = config.run(ConsoleSink::Capture);
    let _ = std::fs::remove_file(&initrd);
    let result = result?;
    if result.outcome != crate::exit_status::Outcome::Status(0) {
        bail!("{case} did not finish cleanly ({:?}):\n{}", result.outcome, result.console);
    }
    let prefix = format!("run: {} _start ran ", spec.wasm_name);
    let line = result
        .console
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .with_context(|| format!("the kernel did not report the run time of {case}"))?;
    line.trim_end_matches(" ns").trim().parse().context("parsing the kernel's run time")
}
