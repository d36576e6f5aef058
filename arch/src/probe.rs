//! Fault-tolerant memory probes: a load or store that reports a fault instead of taking
//! the kernel down.
//!
//! Each probe's faulting instruction has a fixup address; the kernel's fault handler
//! asks [`fixup_for`] and, on a match, resumes there (RIP rewritten), which makes the
//! probe return `false`. Used to check guard pages and to validate addresses.

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .pushsection .text.wasmetal_probe, "ax"
    .global wasmetal_probe_write_u8
    .global wasmetal_probe_write_u8_insn
    .global wasmetal_probe_read_u8
    .global wasmetal_probe_read_u8_insn
    .global wasmetal_probe_fixup
wasmetal_probe_write_u8:
    mov eax, 1
wasmetal_probe_write_u8_insn:
    mov byte ptr [rdi], sil
    ret
wasmetal_probe_read_u8:
    mov eax, 1
wasmetal_probe_read_u8_insn:
    movzx ecx, byte ptr [rdi]
    mov byte ptr [rsi], cl
    ret
wasmetal_probe_fixup:
    xor eax, eax
    ret
    .popsection
    "#
);

#[cfg(target_os = "none")]
unsafe extern "C" {
    fn wasmetal_probe_write_u8(addr: *mut u8, value: u8) -> u32;
    fn wasmetal_probe_read_u8(addr: *const u8, out: *mut u8) -> u32;
    static wasmetal_probe_write_u8_insn: u8;
    static wasmetal_probe_read_u8_insn: u8;
    static wasmetal_probe_fixup: u8;
}

/// Stores `value` at `addr`; `false` when the store faulted (and nothing was written).
///
/// # Safety
/// If `addr` is mapped writable, writing it must be sound for the caller.
#[cfg(target_os = "none")]
pub unsafe fn try_write_u8(addr: *mut u8, value: u8) -> bool {
    // SAFETY: the probe only writes `addr`, which the caller allows; a fault there is
    // resumed at the fixup by the kernel's handler through `fixup_for`.
    unsafe { wasmetal_probe_write_u8(addr, value) != 0 }
}

/// Loads the byte at `addr`; `None` when the load faulted.
///
/// # Safety
/// If `addr` is mapped, reading it must have no side effects the caller does not own.
#[cfg(target_os = "none")]
pub unsafe fn try_read_u8(addr: *const u8) -> Option<u8> {
    let mut out = 0u8;
    // SAFETY: as for `try_write_u8`; `out` is a live local.
    let ok = unsafe { wasmetal_probe_read_u8(addr, &mut out) } != 0;
    ok.then_some(out)
}

/// Where to resume when a fault hit `rip`, if `rip` is one of the probe instructions.
#[cfg(target_os = "none")]
pub fn fixup_for(rip: u64) -> Option<u64> {
    let write = (&raw const wasmetal_probe_write_u8_insn) as u64;
    let read = (&raw const wasmetal_probe_read_u8_insn) as u64;
    (rip == write || rip == read).then_some((&raw const wasmetal_probe_fixup) as u64)
}
