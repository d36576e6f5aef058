//! The options every command that boots a VM shares, and the VM configuration they
//! make (accelerator and CPU plan, memory, timeout, kernel image).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::host_probe::HostProbe;
use crate::qemu::{self, VmConfig};
use crate::vm_plan::{self, Accel, HostHugePages};
use crate::{kernel_image, qemu_install};

/// Options of every command that boots a VM.
#[derive(Args, Debug, Clone)]
pub struct VmArgs {
    /// Accelerator: KVM when usable (hardware-assisted or PVM), else TCG.
    #[arg(long, value_enum, default_value_t = Accel::Auto, env = "WASMETAL_ACCEL", global = true)]
    pub accel: Accel,
    /// QEMU `-cpu` model (default: chosen from what the host's KVM provides).
    #[arg(long, env = "WASMETAL_CPU", global = true)]
    pub cpu: Option<String>,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048, global = true)]
    pub memory: u32,
    /// Have QEMU back all guest memory before the guest starts (`-mem-prealloc`): boot
    /// takes longer (about 0.2 s per GiB here, more on a busy host), and in exchange a
    /// program's first touch of its memory costs the hypervisor less and varies less.
    #[arg(long, global = true)]
    pub prealloc: bool,
    /// Back guest RAM with the host's transparent huge pages (`on`, QEMU's default) or
    /// 4 KiB pages (`off`): on a host that gives its free memory back to a hypervisor
    /// below (`-v` says so), `off` makes a program's first touch of memory cost the same
    /// from run to run instead of fast or ten times slower, at ~5 ms of boot.
    #[arg(long, value_enum, default_value_t = HostHugePages::On, env = "WASMETAL_HOST_HUGE_PAGES", global = true)]
    pub host_huge_pages: HostHugePages,
    /// Kill the VM after this many seconds (exit code 124).
    #[arg(long, global = true)]
    pub timeout: Option<f64>,
    /// Use this kernel ELF instead of the one the launcher carries.
    #[arg(long, env = "WASMETAL_KERNEL", global = true)]
    pub kernel: Option<PathBuf>,
    /// Show the kernel log and the launcher's choices.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

impl VmArgs {
    /// The kernel ELF: the one given, or the one this launcher carries.
    pub fn kernel_path(&self) -> Result<PathBuf> {
        match &self.kernel {
            Some(path) => Ok(path.clone()),
            None => kernel_image::path(),
        }
    }

    /// The kernel for workloads that are all precompiled: the one given, or the
    /// runtime-only kernel this launcher carries.
    pub fn runtime_only_kernel_path(&self) -> Result<PathBuf> {
        match &self.kernel {
            Some(path) => Ok(path.clone()),
            None => kernel_image::runtime_only_path(),
        }
    }

    /// A VM configuration for `cmdline` with these options.
    pub fn config(&self, kernel: PathBuf, cmdline: String, initrd: Option<PathBuf>) -> Result<VmConfig> {
        let qemu = qemu_install::ensure_installed()?;
        let probe = HostProbe::detect();
        let plan = vm_plan::plan(&probe, &vm_plan::Request { accel: self.accel, cpu: self.cpu.clone() });
        if let Some(why) = &plan.kvm_unusable {
            eprintln!("wasmetal: {why}; using TCG");
        }
        if self.verbose
            && let Some(first) = plan.attempts.first()
        {
            eprintln!("wasmetal: -accel {} -cpu {} ({})", first.accel.qemu_name(), first.cpu, first.why);
        }
        if self.verbose
            && let Some(note) = vm_plan::huge_page_note(&probe, self.host_huge_pages)
        {
            eprintln!("wasmetal: {note}");
        }
        Ok(VmConfig {
            qemu,
            kernel,
            cmdline,
            initrd,
            memory_mib: self.memory,
            prealloc_memory: self.prealloc,
            host_huge_pages: self.host_huge_pages == HostHugePages::On,
            attempts: plan.attempts,
            timeout: self.timeout.map(Duration::from_secs_f64),
            program_output: false,
            program_io: Default::default(),
            tcp_listen: Vec::new(),
            fail_first_start: std::env::var_os(qemu::FAIL_FIRST_START_VAR).is_some_and(|v| !v.is_empty() && v != "0"),
            dirs: Vec::new(),
        })
    }
}
