//! CPU identification and control: cpuid features, control registers, MSRs, TSC.
//!
//! Enabling SSE..AVX2 here is for the machine code Cranelift generates; the kernel
//! itself is compiled soft-float, so interrupt handlers never touch vector registers.

use core::arch::x86_64::{__cpuid, __cpuid_count, _rdtsc};

use crate::privilege::MonitorCall;

/// Feature bits the runtime cares about, read once from cpuid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub sse3: bool,
    pub ssse3: bool,
    pub sse41: bool,
    pub sse42: bool,
    pub popcnt: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub bmi1: bool,
    pub bmi2: bool,
    pub lzcnt: bool,
    pub xsave: bool,
    pub x2apic: bool,
    pub tsc_deadline: bool,
    pub invariant_tsc: bool,
    pub pdpe1gb: bool,
    pub nx: bool,
    pub rdrand: bool,
    pub rdseed: bool,
    pub hypervisor: bool,
}

/// Reads the CPU's features with cpuid.
pub fn features() -> CpuFeatures {
    let leaf0 = __cpuid(0);
    let leaf1 = __cpuid(1);
    let leaf7 = if leaf0.eax >= 7 {
        __cpuid_count(7, 0)
    } else {
        core::arch::x86_64::CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 }
    };
    let ext_max = __cpuid(0x8000_0000).eax;
    let ext1 = if ext_max >= 0x8000_0001 {
        __cpuid(0x8000_0001)
    } else {
        core::arch::x86_64::CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 }
    };
    let invariant_tsc = ext_max >= 0x8000_0007 && { __cpuid(0x8000_0007).edx & (1 << 8) != 0 };
    let bit = |reg: u32, n: u32| reg & (1 << n) != 0;
    CpuFeatures {
        sse3: bit(leaf1.ecx, 0),
        ssse3: bit(leaf1.ecx, 9),
        fma: bit(leaf1.ecx, 12),
        sse41: bit(leaf1.ecx, 19),
        sse42: bit(leaf1.ecx, 20),
        x2apic: bit(leaf1.ecx, 21),
        popcnt: bit(leaf1.ecx, 23),
        tsc_deadline: bit(leaf1.ecx, 24),
        xsave: bit(leaf1.ecx, 26),
        avx: bit(leaf1.ecx, 28),
        rdrand: bit(leaf1.ecx, 30),
        hypervisor: bit(leaf1.ecx, 31),
        bmi1: bit(leaf7.ebx, 3),
        avx2: bit(leaf7.ebx, 5),
        bmi2: bit(leaf7.ebx, 8),
        rdseed: bit(leaf7.ebx, 18),
        lzcnt: bit(ext1.ecx, 5),
        nx: bit(ext1.edx, 20),
        pdpe1gb: bit(ext1.edx, 26),
        invariant_tsc,
    }
}

/// Which vector state [`enable_vector_state`] switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorState {
    pub sse: bool,
    pub avx: bool,
    /// XSAVE is on (CR4.OSXSAVE): contexts are saved with `xsave`, else `fxsave`.
    pub xsave: bool,
    /// The state components this kernel enabled in XCR0 (bit i: component i).
    pub xsave_components: u64,
    /// Bytes an `xsave`/`fxsave` area needs for those components.
    pub save_area_bytes: usize,
}

/// Bytes a standard-format XSAVE area needs for `components`: the legacy region and
/// header (576 bytes), then each extended component at the offset cpuid leaf 0xD gives.
/// Computed from the components rather than read from leaf 0xD's EBX, which reports the
/// size for whatever XCR0 the hardware holds: under KVM's PVM on an Intel host that is
/// not the value this kernel wrote (measured: EBX said 832 while `xsave` with an
/// all-ones mask wrote past a 4 KiB buffer, the host's AVX-512 and AMX state).
pub fn xsave_area_bytes(components: u64) -> usize {
    (2..63)
        .filter(|bit| components & (1 << bit) != 0)
        .map(|bit| {
            let leaf = __cpuid_count(0xD, bit);
            leaf.ebx as usize + leaf.eax as usize
        })
        .fold(576, usize::max)
}

/// Enables SSE (CR0/CR4) and, when the CPU has XSAVE and AVX, AVX state in XCR0.
///
/// Generated wasm code may then use SSE4.x/AVX/AVX2 instructions.
#[cfg(target_os = "none")]
pub fn enable_vector_state(features: &CpuFeatures) -> VectorState {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    use x86_64::registers::xcontrol::{XCr0, XCr0Flags};
    // SAFETY: ring 0; clearing EM and setting MP/OSFXSR/OSXMMEXCPT is the documented way to
    // enable SSE and changes no memory mapping.
    unsafe {
        Cr0::update(|flags| {
            flags.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            flags.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
        });
        Cr4::update(|flags| {
            flags.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
        });
    }
    let mut state = VectorState { sse: true, avx: false, xsave: false, xsave_components: 0, save_area_bytes: 512 };
    if features.xsave {
        // SAFETY: ring 0 and the CPU reports XSAVE, so CR4.OSXSAVE may be set.
        unsafe { Cr4::update(|flags| flags.insert(Cr4Flags::OSXSAVE)) };
        state.xsave = true;
        let mut xcr0 = XCr0Flags::X87 | XCr0Flags::SSE;
        if features.avx {
            xcr0 |= XCr0Flags::AVX;
            state.avx = true;
        }
        // Only xsetbv, never xgetbv: some nested hypervisors (KVM's PVM) cannot
        // emulate xgetbv, and the value we want is fully known anyway.
        // SAFETY: OSXSAVE is on and every bit requested is supported (AVX per cpuid).
        unsafe { XCr0::write_raw(xcr0.bits()) };
        state.xsave_components = xcr0.bits();
        state.save_area_bytes = xsave_area_bytes(xcr0.bits());
    }
    state
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc is unprivileged unless CR4.TSD is set, which this kernel never does.
    unsafe { _rdtsc() }
}

/// Reads a model-specific register.
///
/// # Safety
/// The MSR must exist on this CPU (else #GP) and reading it must have no side effect
/// the caller does not own.
#[inline]
pub unsafe fn rdmsr(msr: u32) -> u64 {
    if crate::privilege::at_user_level() {
        // SAFETY: per the caller's contract; the monitor executes the same rdmsr.
        return unsafe { crate::privilege::monitor_call(MonitorCall::ReadMsr, u64::from(msr), 0) };
    }
    // SAFETY: per the caller's contract.
    unsafe { rdmsr_cpl0(msr) }
}

/// Writes a model-specific register.
///
/// # Safety
/// The MSR must exist and the value must be valid for it; the effects are the caller's.
#[inline]
pub unsafe fn wrmsr(msr: u32, value: u64) {
    if crate::privilege::at_user_level() {
        // SAFETY: per the caller's contract; the monitor executes the same wrmsr.
        unsafe { crate::privilege::monitor_call(MonitorCall::WriteMsr, u64::from(msr), value) };
        return;
    }
    // SAFETY: per the caller's contract.
    unsafe { wrmsr_cpl0(msr, value) }
}

/// `rdmsr` itself.
///
/// # Safety
/// As [`rdmsr`], and at CPL0.
#[inline]
pub(crate) unsafe fn rdmsr_cpl0(msr: u32) -> u64 {
    // SAFETY: per the caller's contract.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// `wrmsr` itself.
///
/// # Safety
/// As [`wrmsr`], and at CPL0.
#[inline]
pub(crate) unsafe fn wrmsr_cpl0(msr: u32, value: u64) {
    // SAFETY: per the caller's contract.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

/// Hypervisor identification from cpuid leaf 0x4000_0000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    None,
    Kvm { features: u32 },
    Tcg,
    Other,
}

/// Detects KVM (and its paravirtual feature bits) or QEMU's TCG.
pub fn hypervisor(features: &CpuFeatures) -> Hypervisor {
    if !features.hypervisor {
        return Hypervisor::None;
    }
    let leaf = __cpuid(0x4000_0000);
    let mut signature = [0u8; 12];
    signature[0..4].copy_from_slice(&leaf.ebx.to_le_bytes());
    signature[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
    signature[8..12].copy_from_slice(&leaf.edx.to_le_bytes());
    match &signature {
        b"KVMKVMKVM\0\0\0" => {
            let features = __cpuid(0x4000_0001).eax;
            Hypervisor::Kvm { features }
        }
        b"TCGTCGTCGTCG" => Hypervisor::Tcg,
        _ => Hypervisor::Other,
    }
}

/// TSC frequency from cpuid leaf 0x15 (crystal ratio) or the hypervisor timing leaf
/// 0x4000_0010, when the CPU reports one.
pub fn tsc_hz_from_cpuid(features: &CpuFeatures) -> Option<u64> {
    let max = __cpuid(0).eax;
    if max >= 0x15 {
        let leaf = __cpuid(0x15);
        if leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0 {
            return Some(leaf.ecx as u64 * leaf.ebx as u64 / leaf.eax as u64);
        }
    }
    if features.hypervisor {
        let hv_max = __cpuid(0x4000_0000).eax;
        if hv_max >= 0x4000_0010 {
            let khz = __cpuid(0x4000_0010).eax;
            if khz != 0 {
                return Some(khz as u64 * 1000);
            }
        }
    }
    None
}

/// Stops the CPU until the next interrupt (which the caller must have enabled).
#[inline]
pub fn halt() {
    if crate::privilege::at_user_level() {
        // SAFETY: halting has no effect on memory; the monitor enables interrupts for
        // the wait, which the caller already did.
        unsafe { crate::privilege::monitor_call(MonitorCall::Halt, 0, 0) };
    } else {
        x86_64::instructions::hlt();
    }
}

/// With interrupts disabled by the caller: enables them and halts until one arrives,
/// without the window between `sti` and `hlt` in which a wake-up would be taken before
/// the halt and then waited past (at CPL3 an interrupt deferred while masked ends the
/// halt at once). Returns with interrupts enabled.
pub fn enable_interrupts_and_halt() {
    if crate::privilege::at_user_level() {
        // SAFETY: halting has no effect on memory; the monitor enables interrupts for
        // the wait (or delivers the deferred ones).
        unsafe { crate::privilege::monitor_call(MonitorCall::Halt, 0, 0) };
        crate::privilege::enable_interrupts();
    } else {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// Enables maskable interrupts (at CPL3: unmasks them, see `privilege`).
#[inline]
pub fn enable_interrupts() {
    if crate::privilege::at_user_level() {
        crate::privilege::enable_interrupts();
    } else {
        x86_64::instructions::interrupts::enable();
    }
}

/// Disables maskable interrupts (at CPL3: masks them).
#[inline]
pub fn disable_interrupts() {
    if crate::privilege::at_user_level() {
        crate::privilege::disable_interrupts();
    } else {
        x86_64::instructions::interrupts::disable();
    }
}

/// Runs `f` with interrupts disabled (or masked), restoring the previous state afterwards.
#[inline]
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    if crate::privilege::at_user_level() {
        crate::privilege::without_interrupts(f)
    } else {
        x86_64::instructions::interrupts::without_interrupts(f)
    }
}

/// A hardware random number from RDRAND (retried a few times, as Intel advises), or
/// `None` when the CPU has no RDRAND or it keeps failing.
pub fn rdrand64(features: &CpuFeatures) -> Option<u64> {
    if !features.rdrand {
        return None;
    }
    for _ in 0..10 {
        let value: u64;
        let ok: u8;
        // SAFETY: RDRAND exists (cpuid); it only writes the output register and CF.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack))
        };
        if ok != 0 {
            return Some(value);
        }
    }
    None
}
