//! Ending the VM: the verdict line and the qemu-exit code the launcher maps back.
//!
//! Protocol (documented in README.md, decoded by `boot/src/exit_status.rs`): the kernel
//! prints `wasmetal: exit <status>` as its last log line (for a status below
//! [`EXTENDED`] only when figures were asked for: each byte is a VM exit), then writes a
//! 7-bit value to QEMU's isa-debug-exit device, which makes QEMU exit with
//! `(value << 1) | 1`. Values below [`EXTENDED`] are the status itself;
//! [`KERNEL_FAILURE`] marks a kernel panic or unexpected exception; [`EXTENDED`] says
//! "read the status from the line".

use qemu_exit::QEMUExit;

/// I/O port of the isa-debug-exit device the launcher adds.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// Statuses at or above this are sent through the verdict line only.
pub const EXTENDED: u32 = 124;
/// A kernel panic or an exception the kernel could not attribute to a workload.
pub const KERNEL_FAILURE: u32 = 125;
/// The status of a workload that trapped (the same as `wasmtime run` uses).
pub const TRAP_STATUS: u32 = 134;
/// The status of a workload that could not be loaded (malformed, invalid, unlinkable).
pub const LOAD_FAILURE_STATUS: u32 = 1;

fn device() -> qemu_exit::X86 {
    // SAFETY: the launcher always adds `isa-debug-exit,iobase=0xf4`. The success code
    // (1, i.e. value 0) is never used by name: every exit passes its own value.
    unsafe { qemu_exit::X86::new(DEBUG_EXIT_PORT, 1) }
}

/// How long the end of the VM waits for the host to take the programs' last output.
const OUTPUT_DRAIN_NS: u64 = 10_000_000_000;

/// Ends the VM with `status` (a workload's exit status, or a test verdict), once the
/// host has taken what the programs wrote (bounded: a host reader that never drains
/// must not keep the VM alive).
pub fn exit(status: u32) -> ! {
    let began = wasmetal_arch::cpu::rdtsc();
    let drained = crate::virtio::stdio::flush_outputs(&mut || {
        core::hint::spin_loop();
        let waited = crate::timer::cycles_to_ns(wasmetal_arch::cpu::rdtsc() - began);
        if waited < OUTPUT_DRAIN_NS {
            wasmetal_devices::virtio::serial::Wait::Continue
        } else {
            wasmetal_devices::virtio::serial::Wait::Abort
        }
    });
    if !drained {
        crate::log!("wasmetal: the host did not take the programs' last output in time");
    }
    let value = if status < EXTENDED {
        crate::stat!("wasmetal: exit {status}");
        status
    } else {
        crate::log!("wasmetal: exit {status}");
        126
    };
    device().exit(value)
}

/// Ends the VM reporting a kernel failure; used by the panic handler.
pub fn exit_kernel_failure() -> ! {
    crate::console::write_fmt_forced(format_args!("wasmetal: exit {KERNEL_FAILURE}\n"));
    device().exit(KERNEL_FAILURE)
}
