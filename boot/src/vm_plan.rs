//! Which accelerator and `-cpu` model to start QEMU with, and what to fall back to when
//! QEMU dies before the guest prints a byte, and what to say about host huge pages.
//! Pure: it judges a [`HostProbe`] and the user's requests, it starts nothing.
//!
//! Why not a fixed `-cpu max`: `max` asks KVM for every feature KVM reports, and some
//! backends report features they then refuse to set up. KVM's PVM backend on AMD hosts
//! reports `arch-capabilities` (MSR 0x10a, IA32_ARCH_CAPABILITIES) and QEMU aborts with
//! `failed to set MSR 0x10a`; the same host boots `max,-arch-capabilities`. The kernel
//! reads cpuid and hands Cranelift only what the chosen model offers, so any model
//! with the runtime's x86-64-v2 baseline runs every program.

use crate::host_probe::{HostProbe, KvmBackend, Vendor};

/// Which accelerator the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// KVM when /dev/kvm opens and a backend that runs the kernel natively is loaded,
    /// TCG otherwise.
    Auto,
    Kvm,
    Tcg,
}

/// An accelerator QEMU actually runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accelerator {
    Kvm,
    Tcg,
}

impl Accelerator {
    /// The value of QEMU's `-accel`.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

/// One way to start QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub accel: Accelerator,
    /// The value of QEMU's `-cpu`.
    pub cpu: String,
    /// Why this is the choice (one short phrase, for the launcher's notes).
    pub why: String,
}

/// `max` under KVM: every feature the host's KVM reports.
pub const KVM_MAX: &str = "max";
/// `max` without the MSR that PVM on AMD reports but refuses.
pub const KVM_MAX_NO_ARCH_CAPABILITIES: &str = "max,-arch-capabilities";
/// A vendor-neutral model with exactly the runtime's baseline (x86-64-v2): no MSR or
/// feature beyond what every x86-64 KVM since 2010 provides.
pub const CONSERVATIVE: &str = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt";
/// TCG emulates everything `max` names (QEMU 7.2: up to AVX2).
pub const TCG_MAX: &str = "max";

/// The user's requests: `--accel` and `--cpu`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub accel: Accel,
    pub cpu: Option<String>,
}

/// The attempts, in order: the first is the choice, the rest are fallbacks for a QEMU
/// that dies before the guest's first console byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub attempts: Vec<Attempt>,
    /// Why KVM is not in the plan, when `Auto` resolved to TCG.
    pub kvm_unusable: Option<String>,
}

/// The KVM model for `probe`'s backend, with the reason.
fn kvm_model(probe: &HostProbe, backend: KvmBackend) -> (&'static str, String) {
    match (backend, probe.vendor) {
        (KvmBackend::Pvm, Vendor::Amd) => (
            KVM_MAX_NO_ARCH_CAPABILITIES,
            "KVM (PVM on AMD, which refuses MSR 0x10a that plain max exposes)".to_string(),
        ),
        (KvmBackend::Pvm, _) => (KVM_MAX, "KVM (PVM)".to_string()),
        (KvmBackend::Vmx, _) => (KVM_MAX, "KVM (VMX)".to_string()),
        (KvmBackend::Svm, _) => (KVM_MAX, "KVM (SVM)".to_string()),
    }
}

/// Whether QEMU backs guest RAM with the host's transparent huge pages (it asks for
/// them unless told not to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HostHugePages {
    On,
    Off,
}

/// A note for a host whose free memory the hypervisor below takes back (free page
/// reporting, [`HostProbe::memory_reclaimed`]), where huge pages make first touch
/// fast or slow depending on what ran just before; `None` elsewhere.
///
/// Measured on such a host (AMD EPYC, KVM PVM): a fresh huge page costs ~10 us per
/// 4 KiB to back again after a few seconds' idle and ~0.1 us right after another
/// process freed it, so `grow 64 steps` took 17-23 ms back to back and 160-260 ms after
/// 3-5 s idle; on 4 KiB pages 87 ms either way, but boot-to-exit grows by ~5 ms (QEMU
/// loads the kernel page by page), so huge pages stay the default. Where the host gives
/// advised memory 64 KiB folios instead of 2 MiB pages (taken from blocks too small to
/// be reported), first touch is steady and fast and there is nothing to say.
pub fn huge_page_note(probe: &HostProbe, choice: HostHugePages) -> Option<&'static str> {
    match (probe.memory_reclaimed, choice) {
        (false, _) => None,
        (true, HostHugePages::On) if !probe.advised_2mib_pages => None,
        (true, HostHugePages::On) => Some(
            "this host gives free memory back to the hypervisor below: the first touch of guest memory \
             is fast right after another run and up to 10x slower after a few seconds' idle \
             (--host-huge-pages off: steady, between the two; 64 KiB host folios, an administrator's \
             setting in /sys/kernel/mm/transparent_hugepage, are steady and fast: see docs/architecture.md)",
        ),
        (true, HostHugePages::Off) => Some("guest RAM on 4 KiB host pages (--host-huge-pages off)"),
    }
}

/// Decides how to start QEMU on `probe`'s host for `request`.
pub fn plan(probe: &HostProbe, request: &Request) -> Plan {
    let forced = request.cpu.as_deref();
    let tcg = || Attempt {
        accel: Accelerator::Tcg,
        cpu: forced.unwrap_or(TCG_MAX).to_string(),
        why: if forced.is_some() { "TCG, the model asked for".into() } else { "TCG".into() },
    };
    let kvm = |backend: KvmBackend| -> Vec<Attempt> {
        if let Some(model) = forced {
            return vec![Attempt {
                accel: Accelerator::Kvm,
                cpu: model.to_string(),
                why: "KVM, the model asked for".into(),
            }];
        }
        let (model, why) = kvm_model(probe, backend);
        vec![
            Attempt { accel: Accelerator::Kvm, cpu: model.to_string(), why },
            Attempt { accel: Accelerator::Kvm, cpu: CONSERVATIVE.to_string(), why: "KVM, conservative model".into() },
        ]
    };
    match (request.accel, &probe.kvm) {
        (Accel::Tcg, _) => Plan { attempts: vec![tcg()], kvm_unusable: None },
        (Accel::Auto, Err(why)) => Plan { attempts: vec![tcg()], kvm_unusable: Some(why.clone()) },
        (Accel::Auto, Ok(backend)) => {
            let mut attempts = kvm(*backend);
            attempts.push(tcg());
            Plan { attempts, kvm_unusable: None }
        }
        // Forced KVM: QEMU's own error says why when the host cannot do it.
        (Accel::Kvm, Ok(backend)) => Plan { attempts: kvm(*backend), kvm_unusable: None },
        (Accel::Kvm, Err(_)) => Plan { attempts: kvm(KvmBackend::Vmx), kvm_unusable: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_probe::ProbeFacts;

    /// Facts as the probe read them on hosts of each kind.
    fn recorded(vendor_id: &str, dev_kvm: bool, modules: &[&str]) -> HostProbe {
        HostProbe::judge(&ProbeFacts {
            vendor_id: vendor_id.to_string(),
            dev_kvm: if dev_kvm {
                Ok(())
            } else {
                Err("cannot open /dev/kvm (No such file or directory (os error 2))".into())
            },
            kvm_modules: modules.iter().map(|m| m.to_string()).collect(),
            free_page_reporting: false,
            thp_enabled: "always [madvise] never".into(),
            thp_2mib_enabled: "always [inherit] madvise never".into(),
        })
    }

    fn auto() -> Request {
        Request { accel: Accel::Auto, cpu: None }
    }

    fn models(plan: &Plan) -> Vec<(Accelerator, &str)> {
        plan.attempts.iter().map(|a| (a.accel, a.cpu.as_str())).collect()
    }

    #[test]
    fn intel_vmx_uses_max_then_conservative_then_tcg() {
        let probe = recorded("GenuineIntel", true, &["kvm_intel"]);
        assert_eq!(probe.kvm, Ok(KvmBackend::Vmx));
        let plan = plan(&probe, &auto());
        assert_eq!(
            models(&plan),
            [(Accelerator::Kvm, KVM_MAX), (Accelerator::Kvm, CONSERVATIVE), (Accelerator::Tcg, TCG_MAX)]
        );
    }

    #[test]
    fn amd_svm_uses_max() {
        let probe = recorded("AuthenticAMD", true, &["kvm_amd"]);
        assert_eq!(probe.kvm, Ok(KvmBackend::Svm));
        assert_eq!(models(&plan(&probe, &auto()))[0], (Accelerator::Kvm, KVM_MAX));
    }

    #[test]
    fn pvm_on_intel_uses_max() {
        let probe = recorded("GenuineIntel", true, &["kvm_pvm"]);
        assert_eq!(probe.kvm, Ok(KvmBackend::Pvm));
        assert_eq!(models(&plan(&probe, &auto()))[0], (Accelerator::Kvm, KVM_MAX));
    }

    #[test]
    fn pvm_on_amd_drops_arch_capabilities() {
        let probe = recorded("AuthenticAMD", true, &["kvm_pvm"]);
        assert_eq!(probe.kvm, Ok(KvmBackend::Pvm));
        let plan = plan(&probe, &auto());
        assert_eq!(
            models(&plan),
            [
                (Accelerator::Kvm, KVM_MAX_NO_ARCH_CAPABILITIES),
                (Accelerator::Kvm, CONSERVATIVE),
                (Accelerator::Tcg, TCG_MAX)
            ]
        );
        assert!(plan.attempts[0].why.contains("MSR 0x10a"));
    }

    #[test]
    fn pvm_wins_over_a_hardware_module_loaded_beside_it() {
        let probe = recorded("AuthenticAMD", true, &["kvm_pvm", "kvm_amd"]);
        assert_eq!(probe.kvm, Ok(KvmBackend::Pvm));
    }

    #[test]
    fn no_kvm_means_tcg_with_the_reason() {
        let probe = recorded("GenuineIntel", false, &[]);
        let plan = plan(&probe, &auto());
        assert_eq!(models(&plan), [(Accelerator::Tcg, TCG_MAX)]);
        assert!(plan.kvm_unusable.as_deref().unwrap().contains("/dev/kvm"));

        let probe = recorded("AuthenticAMD", true, &[]);
        let plan = super::plan(&probe, &auto());
        assert_eq!(models(&plan), [(Accelerator::Tcg, TCG_MAX)]);
        assert!(plan.kvm_unusable.as_deref().unwrap().contains("backend"));
    }

    #[test]
    fn a_host_that_gives_free_memory_back_gets_a_note_on_huge_pages() {
        let owned = recorded("AuthenticAMD", true, &["kvm_amd"]);
        assert!(!owned.memory_reclaimed);
        assert_eq!(huge_page_note(&owned, HostHugePages::On), None);

        let reclaimed = |thp_2mib_enabled| {
            HostProbe::judge(&crate::host_probe::tests::facts("always [madvise] never", thp_2mib_enabled))
        };
        let two_mib = reclaimed("always [inherit] madvise never");
        assert!(two_mib.memory_reclaimed);
        assert!(huge_page_note(&two_mib, HostHugePages::On).unwrap().contains("--host-huge-pages off"));
        assert!(huge_page_note(&two_mib, HostHugePages::Off).unwrap().contains("4 KiB"));
        // An administrator gave advised memory smaller folios: nothing to say.
        let folios = reclaimed("always inherit madvise [never]");
        assert_eq!(huge_page_note(&folios, HostHugePages::On), None);
    }

    #[test]
    fn forced_requests_are_kept() {
        let probe = recorded("AuthenticAMD", true, &["kvm_pvm"]);
        let tcg = plan(&probe, &Request { accel: Accel::Tcg, cpu: None });
        assert_eq!(models(&tcg), [(Accelerator::Tcg, TCG_MAX)]);

        let kvm = plan(&probe, &Request { accel: Accel::Kvm, cpu: None });
        assert_eq!(models(&kvm), [(Accelerator::Kvm, KVM_MAX_NO_ARCH_CAPABILITIES), (Accelerator::Kvm, CONSERVATIVE)]);

        let model = plan(&probe, &Request { accel: Accel::Auto, cpu: Some("EPYC".into()) });
        assert_eq!(models(&model), [(Accelerator::Kvm, "EPYC"), (Accelerator::Tcg, "EPYC")]);

        let both = plan(&probe, &Request { accel: Accel::Kvm, cpu: Some("Nehalem".into()) });
        assert_eq!(models(&both), [(Accelerator::Kvm, "Nehalem")]);
    }
}
