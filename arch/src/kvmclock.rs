//! KVM's paravirtual clock, read once to learn the exact TSC frequency.
//!
//! The hypervisor fills a `pvclock_vcpu_time_info` whose multiplier and shift convert
//! TSC ticks to nanoseconds; inverting them gives the TSC rate without a timed wait.

use crate::cpu::{Hypervisor, wrmsr};

const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;

/// `pvclock_vcpu_time_info`, as KVM writes it.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default)]
pub struct PvclockTimeInfo {
    pub version: u32,
    pub pad0: u32,
    pub tsc_timestamp: u64,
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    pub flags: u8,
    pub pad: [u8; 2],
}

impl PvclockTimeInfo {
    /// The TSC frequency implied by the scale factors, in Hz.
    pub fn tsc_hz(&self) -> Option<u64> {
        if self.tsc_to_system_mul == 0 {
            return None;
        }
        // ns = ((tsc << shift) * mul) >> 32  =>  hz = 1e9 * 2^32 / mul / 2^shift
        let mut hz = (1_000_000_000u128 << 32) / u128::from(self.tsc_to_system_mul);
        if self.tsc_shift >= 0 {
            hz >>= self.tsc_shift as u32;
        } else {
            hz <<= (-self.tsc_shift) as u32;
        }
        Some(hz as u64)
    }
}

/// Asks KVM to fill `info` (at physical address `info_phys`), reads the TSC frequency
/// and turns the clock off again. `None` when not under KVM or the feature is missing.
///
/// # Safety
/// CPL0 (or CPL3, where the MSR writes become monitor calls); `info` must be a live,
/// exclusively owned buffer whose physical address is `info_phys`.
pub unsafe fn tsc_hz(hypervisor: Hypervisor, info: &mut PvclockTimeInfo, info_phys: u64) -> Option<u64> {
    let Hypervisor::Kvm { features } = hypervisor else { return None };
    if features & KVM_FEATURE_CLOCKSOURCE2 == 0 {
        return None;
    }
    // SAFETY: KVM advertises the MSR (feature bit checked); the buffer is ours per the
    // caller's contract, and the hypervisor writes it before wrmsr returns.
    unsafe {
        wrmsr(MSR_KVM_SYSTEM_TIME_NEW, info_phys | 1);
        let snapshot = core::ptr::read_volatile(info);
        wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
        snapshot.tsc_hz()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_factors_invert_to_a_frequency() {
        // 2.8 GHz: mul = 2^32 * 1e9 / 2.8e9 / 2^shift with shift = 1
        let info = PvclockTimeInfo { tsc_to_system_mul: 3_067_833_782, tsc_shift: -1, ..Default::default() };
        let hz = info.tsc_hz().unwrap();
        assert!((2_799_000_000..2_801_000_000).contains(&hz), "{hz}");
    }
}
