//! Time: the TSC frequency, the periodic APIC timer and the tick counter.
//!
//! The TSC rate comes from KVM's pvclock when present (exact, no waiting), else cpuid,
//! else a PIT measurement. The APIC timer is calibrated against the TSC and then ticks
//! at the configured rate; each tick bumps [`ticks`] and calls the registered tick hook
//! (the runtime's epoch increment, later), which must be interrupt-safe.

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use spin::Mutex;
use wasmetal_arch::apic::{ApicMode, LocalApic, XAPIC_DEFAULT_PHYS};
use wasmetal_arch::cpu::{CpuFeatures, Hypervisor};
use wasmetal_arch::kvmclock::PvclockTimeInfo;
use wasmetal_arch::trap_frame::vector;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static APIC: Mutex<Option<LocalApic>> = Mutex::new(None);
static TICK_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static LAST_TICK_TSC: AtomicU64 = AtomicU64::new(0);

/// Where the TSC frequency came from.
#[derive(Clone, Copy, Debug)]
pub enum TscSource {
    /// `tsc_khz=` on the command line: the launcher read the host's rate, which the
    /// guest sees unchanged under TCG.
    CommandLine,
    KvmClock,
    Cpuid,
    Pit,
}

/// What timer initialization found.
#[derive(Clone, Copy, Debug)]
pub struct ClockInfo {
    pub tsc_hz: u64,
    pub tsc_source: TscSource,
    pub apic_hz: u64,
    pub timer_hz: u32,
    /// Whether the local APIC is driven as x2APIC (MSRs) rather than xAPIC (its page).
    pub x2apic: bool,
}

/// Why the clocks could not be set up.
#[derive(Clone, Copy, Debug)]
pub enum TimerError {
    NoTscFrequency,
    ApicMapping,
}

struct PvclockBuffer(core::cell::UnsafeCell<PvclockTimeInfo>);
// SAFETY: only touched during single-threaded init.
unsafe impl Sync for PvclockBuffer {}
static PVCLOCK: PvclockBuffer = PvclockBuffer(core::cell::UnsafeCell::new(PvclockTimeInfo {
    version: 0,
    pad0: 0,
    tsc_timestamp: 0,
    system_time: 0,
    tsc_to_system_mul: 0,
    tsc_shift: 0,
    flags: 0,
    pad: [0; 2],
}));

fn measure_tsc(features: &CpuFeatures, hypervisor: Hypervisor) -> Option<(u64, TscSource)> {
    let buffer = PVCLOCK.0.get();
    // The kernel image is identity-mapped, so the static's address is its physical one.
    let phys = buffer as u64;
    // SAFETY: init is single-threaded; the buffer is ours and at `phys`.
    if let Some(hz) = unsafe { wasmetal_arch::kvmclock::tsc_hz(hypervisor, &mut *buffer, phys) } {
        return Some((hz, TscSource::KvmClock));
    }
    if let Some(hz) = wasmetal_arch::cpu::tsc_hz_from_cpuid(features) {
        return Some((hz, TscSource::Cpuid));
    }
    // SAFETY: nothing else uses the PIT.
    unsafe { wasmetal_arch::pit::measure_tsc_hz(10) }.map(|hz| (hz, TscSource::Pit))
}

/// Finds the TSC rate, calibrates the APIC timer and starts it at `hz` (interrupts stay
/// disabled until the caller enables them).
///
/// The local APIC is driven through its xAPIC page unless `x2apic` (and cpuid has it):
/// under KVM's PVM backend an x2APIC register is an MSR, which traps through the
/// emulated CPL0 monitor, while the page is a plain MMIO exit. Measured on an AMD EPYC
/// host under PVM: 115 us per x2APIC access against 3.2 us per xAPIC access, which made
/// every end of interrupt (each tick, each device interrupt) cost 115 us and the timer's
/// set-up 2 ms.
pub fn init(
    features: &CpuFeatures,
    hz: u32,
    given_tsc_khz: Option<u64>,
    x2apic: bool,
) -> Result<ClockInfo, TimerError> {
    let hypervisor = wasmetal_arch::cpu::hypervisor(features);
    let measured = match given_tsc_khz {
        Some(khz) if khz > 0 => Some((khz * 1000, TscSource::CommandLine)),
        _ => measure_tsc(features, hypervisor),
    };
    let (tsc_hz, tsc_source) = measured.ok_or(TimerError::NoTscFrequency)?;
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    let mode = if x2apic && features.x2apic {
        ApicMode::X2Apic
    } else {
        let mmio = crate::memory::address_space::map_device(XAPIC_DEFAULT_PHYS).map_err(|_| TimerError::ApicMapping)?;
        ApicMode::XApic { mmio }
    };
    // SAFETY: port and MSR access (I/O bitmap, monitor calls), once; the legacy PICs are
    // unused; xAPIC mmio mapped uncached above.
    let mut apic = unsafe {
        wasmetal_arch::apic::mask_legacy_pic();
        LocalApic::enable(mode, vector::SPURIOUS as u8)
    };
    // 200 us is plenty: the APIC counts tens of millions of times per second.
    let apic_hz = apic.calibrate(tsc_hz, tsc_hz / 5000);
    apic.start_periodic(vector::TIMER as u8, hz);
    TIMER_HZ.store(u64::from(hz), Ordering::Relaxed);
    *APIC.lock() = Some(apic);
    Ok(ClockInfo { tsc_hz, tsc_source, apic_hz, timer_hz: hz, x2apic: matches!(mode, ApicMode::X2Apic) })
}

/// Called from the timer interrupt: count the tick, run the hook, acknowledge.
pub fn on_tick() {
    LAST_TICK_TSC.store(wasmetal_arch::cpu::rdtsc(), Ordering::Relaxed);
    TICKS.fetch_add(1, Ordering::Relaxed);
    let hook = TICK_HOOK.load(Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: TICK_HOOK only holds values stored from `fn()` pointers by `set_tick_hook`.
        let hook: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(hook) };
        hook();
    }
    if let Some(apic) = APIC.lock().as_ref() {
        apic.end_of_interrupt();
    }
}

/// Acknowledges a spurious or other device interrupt.
pub fn end_of_interrupt() {
    if let Some(apic) = APIC.lock().as_ref() {
        apic.end_of_interrupt();
    }
}

/// The boot CPU's local APIC id (0 before `init`).
pub fn apic_id() -> u32 {
    APIC.lock().as_ref().map_or(0, LocalApic::id)
}

/// Registers `hook` to run on every tick, in interrupt context (no locks, no allocation).
pub fn set_tick_hook(hook: fn()) {
    TICK_HOOK.store(hook as *mut (), Ordering::Release);
}

/// Stops the periodic timer.
pub fn stop() {
    wasmetal_arch::cpu::without_interrupts(|| {
        if let Some(apic) = APIC.lock().as_mut() {
            apic.stop_timer();
        }
    });
}

/// TSC value at the most recent timer tick.
pub fn last_tick_tsc() -> u64 {
    LAST_TICK_TSC.load(Ordering::Relaxed)
}

/// Timer interrupts since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The configured tick rate.
pub fn timer_hz() -> u64 {
    TIMER_HZ.load(Ordering::Relaxed)
}

/// TSC cycles per second.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts TSC cycles to nanoseconds.
pub fn cycles_to_ns(cycles: u64) -> u64 {
    let hz = tsc_hz().max(1);
    (u128::from(cycles) * 1_000_000_000 / u128::from(hz)) as u64
}

/// Nanoseconds since the TSC started (monotonic).
pub fn monotonic_ns() -> u64 {
    cycles_to_ns(wasmetal_arch::cpu::rdtsc())
}

/// Busy-waits for `ns` nanoseconds on the TSC.
pub fn spin_for_ns(ns: u64) {
    let start = wasmetal_arch::cpu::rdtsc();
    let cycles = (u128::from(ns) * u128::from(tsc_hz()) / 1_000_000_000) as u64;
    while wasmetal_arch::cpu::rdtsc().wrapping_sub(start) < cycles {
        core::hint::spin_loop();
    }
}
