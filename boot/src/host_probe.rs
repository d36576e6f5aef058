//! What this host offers a VM: the CPU vendor, whether (and through which backend)
//! KVM can run the kernel, and whether the host's free memory goes back to a
//! hypervisor under it. Reading the facts is separate from judging them, so the
//! judgement can be tested with facts recorded on other hosts.

use std::path::Path;

/// The host CPU's vendor, from cpuid leaf 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Intel,
    Amd,
    Other,
}

impl Vendor {
    /// Decodes cpuid leaf 0's vendor string (`GenuineIntel`, `AuthenticAMD`, ...).
    pub fn from_id(id: &str) -> Vendor {
        match id {
            "GenuineIntel" => Vendor::Intel,
            "AuthenticAMD" | "HygonGenuine" => Vendor::Amd,
            _ => Vendor::Other,
        }
    }
}

/// The KVM backend that would run the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmBackend {
    /// Hardware-assisted on Intel (VMX, `kvm_intel`).
    Vmx,
    /// Hardware-assisted on AMD (SVM, `kvm_amd`).
    Svm,
    /// KVM's PVM backend (`kvm_pvm`): runs guest CPL3 natively, emulates CPL0; the kernel
    /// runs at CPL3 for that reason.
    Pvm,
}

/// The raw facts a probe reads, as they were seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeFacts {
    /// cpuid leaf 0's vendor string.
    pub vendor_id: String,
    /// Whether `/dev/kvm` opened read-write, or why not.
    pub dev_kvm: Result<(), String>,
    /// Which of `kvm_intel`, `kvm_amd`, `kvm_pvm` are loaded (`/sys/module/NAME`).
    pub kvm_modules: Vec<String>,
    /// Whether a virtio balloon with free page reporting is bound
    /// (`/sys/bus/virtio/drivers/virtio_balloon/*/features`, feature bit 5).
    pub free_page_reporting: bool,
    /// `/sys/kernel/mm/transparent_hugepage/enabled` and `.../hugepages-2048kB/enabled`
    /// as read (empty when missing: no THP, or a kernel without per-size settings).
    pub thp_enabled: String,
    pub thp_2mib_enabled: String,
}

/// The judged host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProbe {
    pub vendor: Vendor,
    /// The backend KVM would use, or why KVM cannot run the kernel here.
    pub kvm: Result<KvmBackend, String>,
    /// The host is itself a guest that reports its free memory to the hypervisor under
    /// it, which takes those pages back: a huge page the host hands out after a few
    /// seconds' idle must first be backed again there, page by page (measured on an AMD
    /// EPYC PVM host: touching 128 MiB of fresh transparent huge pages took 313-360 ms
    /// after 5 s idle, 14-40 ms right after another process freed them, and on 4 KiB
    /// pages 56-72 ms either way; Linux reports only free blocks of 2 MiB and more).
    pub memory_reclaimed: bool,
    /// Memory advised for huge pages (as QEMU advises guest RAM) gets 2 MiB pages; an
    /// administrator may have chosen smaller folios instead (64 KiB, say).
    pub advised_2mib_pages: bool,
}

const KVM_MODULES: [&str; 3] = ["kvm_pvm", "kvm_intel", "kvm_amd"];

impl ProbeFacts {
    /// Reads the facts of this host.
    pub fn read() -> ProbeFacts {
        let dev_kvm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map(drop)
            .map_err(|error| format!("cannot open /dev/kvm ({error})"));
        let kvm_modules = KVM_MODULES
            .iter()
            .filter(|name| Path::new("/sys/module").join(name).exists())
            .map(|name| name.to_string())
            .collect();
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        ProbeFacts {
            vendor_id: host_vendor_id(),
            dev_kvm,
            kvm_modules,
            free_page_reporting: free_page_reporting(),
            thp_enabled: read("/sys/kernel/mm/transparent_hugepage/enabled"),
            thp_2mib_enabled: read("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled"),
        }
    }
}

/// The chosen value of a sysfs setting that lists its choices (`always [madvise] never`).
fn selected(setting: &str) -> Option<&str> {
    let start = setting.find('[')? + 1;
    let end = start + setting[start..].find(']')?;
    Some(&setting[start..end])
}

/// Whether memory advised for huge pages gets 2 MiB ones: the 2 MiB size's own setting,
/// or the global one where that says `inherit` or does not exist.
fn advised_2mib_pages(facts: &ProbeFacts) -> bool {
    let advised = |choice: Option<&str>| matches!(choice, Some("always" | "madvise"));
    match selected(&facts.thp_2mib_enabled) {
        Some("inherit") | None => advised(selected(&facts.thp_enabled)),
        own => advised(own),
    }
}

/// VIRTIO_BALLOON_F_REPORTING: the driver reports free pages to the device.
const BALLOON_F_REPORTING: usize = 5;

/// Whether a bound virtio balloon negotiated free page reporting. Linux shows a
/// device's negotiated features as a string of `0`/`1`, feature bit 0 first.
fn free_page_reporting() -> bool {
    let Ok(devices) = std::fs::read_dir("/sys/bus/virtio/drivers/virtio_balloon") else { return false };
    devices.flatten().any(|device| {
        std::fs::read_to_string(device.path().join("features"))
            .is_ok_and(|features| features.as_bytes().get(BALLOON_F_REPORTING) == Some(&b'1'))
    })
}

#[cfg(target_arch = "x86_64")]
fn host_vendor_id() -> String {
    let leaf = std::arch::x86_64::__cpuid(0);
    let bytes: Vec<u8> = [leaf.ebx, leaf.edx, leaf.ecx].iter().flat_map(|word| word.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(not(target_arch = "x86_64"))]
fn host_vendor_id() -> String {
    String::new()
}

impl HostProbe {
    /// Probes this host.
    pub fn detect() -> HostProbe {
        HostProbe::judge(&ProbeFacts::read())
    }

    /// Judges recorded facts. PVM wins over a hardware module loaded beside it: when
    /// `kvm_pvm` is loaded, /dev/kvm is PVM's (the host is itself a guest without VMX/SVM).
    pub fn judge(facts: &ProbeFacts) -> HostProbe {
        let vendor = Vendor::from_id(&facts.vendor_id);
        let has = |name: &str| facts.kvm_modules.iter().any(|module| module == name);
        let kvm = match &facts.dev_kvm {
            Err(why) => Err(why.clone()),
            Ok(()) if has("kvm_pvm") => Ok(KvmBackend::Pvm),
            Ok(()) if has("kvm_intel") => Ok(KvmBackend::Vmx),
            Ok(()) if has("kvm_amd") => Ok(KvmBackend::Svm),
            Ok(()) => Err("no KVM backend is loaded (kvm_intel, kvm_amd or kvm_pvm)".to_string()),
        };
        HostProbe {
            vendor,
            kvm,
            memory_reclaimed: facts.free_page_reporting,
            advised_2mib_pages: advised_2mib_pages(facts),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Facts of a PVM host on AMD whose balloon reports free pages, with these THP
    /// settings (as the sysfs files read).
    pub(crate) fn facts(thp_enabled: &str, thp_2mib_enabled: &str) -> ProbeFacts {
        ProbeFacts {
            vendor_id: "AuthenticAMD".into(),
            dev_kvm: Ok(()),
            kvm_modules: vec!["kvm_pvm".into()],
            free_page_reporting: true,
            thp_enabled: thp_enabled.into(),
            thp_2mib_enabled: thp_2mib_enabled.into(),
        }
    }

    #[test]
    fn advised_memory_gets_2_mib_pages_as_the_settings_say() {
        let judge = |global, size| HostProbe::judge(&facts(global, size)).advised_2mib_pages;
        // Debian's default, as read on the AMD EPYC host.
        assert!(judge("always [madvise] never\n", "always [inherit] madvise never\n"));
        // 64 KiB folios instead: the 2 MiB size switched off.
        assert!(!judge("always [madvise] never\n", "always inherit madvise [never]\n"));
        assert!(judge("always madvise [never]\n", "always inherit [madvise] never\n"));
        // Kernels without per-size settings follow the global one; no THP at all: none.
        assert!(judge("[always] madvise never\n", ""));
        assert!(!judge("always madvise [never]\n", ""));
        assert!(!judge("", ""));
    }
}
