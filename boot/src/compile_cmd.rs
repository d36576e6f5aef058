//! `wasmetal compile APP.wasm -o APP.cwasm`: compiles on the host, for the CPU the VM
//! will have and the engine settings the kernel runs with, into an artifact the kernel
//! loads without compiling (`wasmetal run APP.cwasm`).
//!
//! Owns the host-side compile target (which CPU features, which settings) and the
//! command. It must not decide caching (`compile_cache`) nor boot anything.

use std::path::Path;

use anyhow::{Context, Result};
use wasmetal_runtime::{Config, CpuFeatures, Engine, Module};

use crate::exit_status::InputError;
use crate::host_probe::HostProbe;
use crate::vm_args::VmArgs;
use crate::vm_plan::{self, Accelerator};

/// What code is compiled for: the CPU features it may use and whether it meters fuel
/// (the kernel turns fuel on for a run with `--fuel`; epochs are always on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub cpu: CpuFeatures,
    pub fuel: bool,
}

/// The CPU features the VM's kernel will hand its engine. cpuid in the guest is not
/// the host's even with `-cpu max` (under PVM here the guest lacks LZCNT the host
/// has), so the kernel is asked once (`cpu_features` mode, a boot of about 0.3 s) and
/// the answer is kept in the scratch directory per host CPU, accelerator and model. A
/// VM that cannot be probed gets the x86-64-v2 baseline (any model runs it).
pub fn vm_cpu(vm: &VmArgs) -> CpuFeatures {
    let probe = HostProbe::detect();
    let plan = vm_plan::plan(&probe, &vm_plan::Request { accel: vm.accel, cpu: vm.cpu.clone() });
    let Some(first) = plan.attempts.first() else { return CpuFeatures::BASELINE };
    let model: String = first.cpu.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let accel = match first.accel {
        Accelerator::Kvm => "kvm",
        Accelerator::Tcg => "tcg",
    };
    let host = CpuFeatures::detect_host().bits();
    let record = crate::workspace::scratch_dir().join(format!("wasmetal-vm-cpu-{host:x}-{accel}-{model}.txt"));
    if let Some(features) = std::fs::read_to_string(&record).ok().and_then(|text| parse_bits(text.trim())) {
        return features;
    }
    match probe_vm(vm) {
        Some(features) => {
            let partial =
                record.with_extension(format!("{}-{:?}.partial", std::process::id(), std::thread::current().id()));
            if std::fs::write(&partial, format!("{:#x}\n", features.bits())).is_ok() {
                let _ = std::fs::rename(&partial, &record);
            }
            features
        }
        None => CpuFeatures::BASELINE,
    }
}

fn parse_bits(text: &str) -> Option<CpuFeatures> {
    CpuFeatures::from_bits(u32::from_str_radix(text.strip_prefix("0x")?, 16).ok()?)
}

/// Boots the kernel in `cpu_features` mode and reads its answer.
fn probe_vm(vm: &VmArgs) -> Option<CpuFeatures> {
    let kernel = vm.kernel_path().ok()?;
    let mut quiet = vm.clone();
    quiet.verbose = false;
    let config = quiet.config(kernel, "cpu_features quiet".into(), None).ok()?;
    let result = config.run(crate::qemu::ConsoleSink::Capture).ok()?;
    let line = result.console.lines().find_map(|line| line.trim().strip_prefix("wasmetal: cpu-features "))?;
    let features = parse_bits(line.trim())?;
    if vm.verbose {
        eprintln!("wasmetal: the VM's CPU gives wasm code {}", features.names());
    }
    Some(features)
}

/// Parses `--target-cpu`: `vm` (what the VM will have, the default), `host`,
/// `baseline`, or `baseline,+avx,...` (see `CpuFeatures::parse`).
pub fn target_cpu(vm: &VmArgs, spec: Option<&str>) -> Result<CpuFeatures> {
    match spec {
        None | Some("vm") => Ok(vm_cpu(vm)),
        Some("host") => Ok(CpuFeatures::detect_host()),
        Some(spec) => CpuFeatures::parse(spec).map_err(|why| InputError(format!("--target-cpu: {why}")).into()),
    }
}

/// An engine with the kernel's code-affecting settings for `target` (see
/// `kernel/src/wasm/run.rs`: epochs on, fuel when asked, default features).
pub fn engine(target: Target) -> Result<Engine> {
    let mut config = Config::new();
    config.cpu_features(target.cpu).epoch_interruption(true).consume_fuel(target.fuel);
    Engine::new(&config).map_err(|error| anyhow::anyhow!("cannot compile for {}: {error}", target.cpu.names()))
}

/// Compiles `wasm` for `target` into artifact bytes. An invalid module is the user's
/// error (exit 1), named by `name`.
pub fn compile(name: &str, wasm: &[u8], target: Target) -> Result<Vec<u8>> {
    let engine = engine(target)?;
    let module =
        Module::new(&engine, wasm).map_err(|error| InputError(format!("failed to compile `{name}`: {error}")))?;
    module.serialize().map_err(|error| anyhow::anyhow!("serializing `{name}`: {error}"))
}

/// `wasmetal compile`: returns the exit code.
pub fn run(vm: &VmArgs, input: &Path, output: Option<&Path>, target_cpu_spec: Option<&str>, fuel: bool) -> Result<u8> {
    let wasm = crate::exit_status::read_input(input)?;
    if wasm.starts_with(&wasmetal_runtime::artifact::MAGIC) {
        return Err(InputError(format!("{} is already compiled", input.display())).into());
    }
    let target = Target { cpu: target_cpu(vm, target_cpu_spec)?, fuel };
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let started = std::time::Instant::now();
    let artifact = compile(&name, &wasm, target)?;
    let output = output.map(Path::to_path_buf).unwrap_or_else(|| input.with_extension("cwasm"));
    std::fs::write(&output, &artifact).with_context(|| format!("writing {}", output.display()))?;
    if vm.verbose {
        eprintln!(
            "wasmetal: compiled {} ({} KiB) to {} ({} KiB) in {:.2} s for CPU features {}{}",
            input.display(),
            wasm.len() >> 10,
            output.display(),
            artifact.len() >> 10,
            started.elapsed().as_secs_f64(),
            target.cpu.names(),
            if fuel { ", with fuel" } else { "" }
        );
    }
    Ok(0)
}
