//! `--dir`: each host directory is exported to the VM as itself, through a virtio 9P
//! device (QEMU's `-fsdev local` + `virtio-9p-device`) on its own virtio-mmio bus, and
//! named to the kernel with `p9.N=BASE` (plus `p9.N.ro` for a read-only one).
//!
//! Buses: microvm without ACPI has eight (0..=7; QEMU 7.2 offers 24 only with ACPI
//! and a second IOAPIC, and then no longer lists the devices on the kernel command
//! line). 7 is stdio's serial device and 6 the network device, so directories take
//! buses 0..=5.
//!
//! Syntax: `--dir HOST` (seen as `HOST` in the guest), `--dir HOST::GUEST`, and
//! `--dir HOST::GUEST::ro` for read-only (QEMU refuses writes too: the second fence).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use crate::exit_status::InputError;

/// The first virtio-mmio bus for directories.
const FIRST_SLOT: u64 = 0;
/// The last (6 is the network device's, 7 stdio's).
const LAST_SLOT: u64 = 5;
const MMIO_BASE: u64 = 0xfeb0_0000;
const MMIO_STRIDE: u64 = 0x200;

/// The most `--dir`s one VM can have.
pub const MAX_DIRS: usize = (LAST_SLOT - FIRST_SLOT + 1) as usize;

/// One `--dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDir {
    /// The host directory (absolute).
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    pub read_only: bool,
}

/// Parses `HOST`, `HOST::GUEST` or `HOST::GUEST::ro`.
pub fn parse(spec: &str) -> Result<HostDir> {
    let (rest, read_only) = match spec.strip_suffix("::ro") {
        Some(rest) => (rest, true),
        None => (spec, false),
    };
    let (host, guest) = match rest.split_once("::") {
        Some((host, guest)) => (host, guest),
        None => (rest, rest),
    };
    if guest.is_empty() {
        return Err(InputError(format!("--dir {spec}: the guest path is empty")).into());
    }
    let path = PathBuf::from(host);
    if !path.is_dir() {
        return Err(InputError(format!("--dir {spec}: {} is not a directory", path.display())).into());
    }
    let host = path.canonicalize().map_err(|error| InputError(format!("--dir {spec}: {error}")))?;
    Ok(HostDir { host, guest: guest.to_string(), read_only })
}

/// Refuses more directories than there are buses for them.
pub fn check_count(dirs: &[HostDir]) -> Result<()> {
    if dirs.len() > MAX_DIRS {
        return Err(InputError(format!(
            "{} --dir options: a VM has virtio-mmio buses for at most {MAX_DIRS} host directories \
             (use --dir-copy for more, as in-memory copies)",
            dirs.len()
        ))
        .into());
    }
    Ok(())
}

fn slot(index: usize) -> u64 {
    FIRST_SLOT + index as u64
}

/// QEMU's option syntax: a comma inside a value is written twice.
fn escape(value: &str) -> String {
    value.replace(',', ",,")
}

/// Adds the devices of `dirs` to QEMU's command line.
pub fn attach(command: &mut Command, dirs: &[HostDir]) {
    for (index, dir) in dirs.iter().enumerate() {
        let readonly = if dir.read_only { ",readonly=on" } else { "" };
        command.arg("-fsdev").arg(format!(
            "local,id=wasmetal-dir{index},path={},security_model=none{readonly}",
            escape(&dir.host.to_string_lossy())
        ));
        command.arg("-device").arg(format!(
            "virtio-9p-device,fsdev=wasmetal-dir{index},mount_tag=wasmetal{index},bus=virtio-mmio-bus.{}",
            slot(index)
        ));
    }
}

/// The kernel command-line options naming the devices of `dirs`.
pub fn cmdline_options(dirs: &[HostDir]) -> String {
    let mut options = Vec::new();
    for (index, dir) in dirs.iter().enumerate() {
        options.push(format!("p9.{index}={:#x}", MMIO_BASE + slot(index) * MMIO_STRIDE));
        if dir.read_only {
            options.push(format!("p9.{index}.ro"));
        }
    }
    options.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_options() {
        let tmp = std::env::temp_dir();
        let host = tmp.to_string_lossy().into_owned();
        let plain = parse(&host).unwrap();
        assert_eq!((plain.guest.as_str(), plain.read_only), (host.as_str(), false));
        let ro = parse(&format!("{host}::/data::ro")).unwrap();
        assert_eq!((ro.guest.as_str(), ro.read_only), ("/data", true));
        assert!(parse("/no/such/dir::/x").is_err());
        assert!(parse(&format!("{host}::")).is_err());
        let options = cmdline_options(&[plain.clone(), ro]);
        assert_eq!(options, "p9.0=0xfeb00000 p9.1=0xfeb00200 p9.1.ro");
        assert!(check_count(&vec![plain.clone(); MAX_DIRS]).is_ok());
        assert!(check_count(&vec![plain; MAX_DIRS + 1]).is_err());
        assert_eq!(escape("/a,b"), "/a,,b");
    }
}
