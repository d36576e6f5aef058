//! Finding QEMU, and installing it with apt-get when it is missing and we may.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The QEMU binary the launcher drives.
pub const QEMU: &str = "qemu-system-x86_64";

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

/// Finds QEMU, installing it with apt-get when missing and running as root on Debian or
/// Ubuntu; otherwise fails with a one-line instruction.
pub fn ensure_installed() -> Result<PathBuf> {
    if let Some(path) = on_path(QEMU) {
        return Ok(path);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let debian = Path::new("/etc/debian_version").exists();
    if !(root && debian) {
        bail!("{QEMU} not found: install it with `sudo apt-get install -y qemu-system-x86`");
    }
    eprintln!("wasmetal: {QEMU} not found, installing qemu-system-x86 with apt-get");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "qemu-system-x86"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    let mut status = install().context("running apt-get")?;
    if !status.success() {
        Command::new("apt-get").arg("update").status().context("running apt-get update")?;
        status = install().context("running apt-get")?;
    }
    if !status.success() {
        bail!("apt-get could not install qemu-system-x86: install it by hand and retry");
    }
    on_path(QEMU).with_context(|| format!("{QEMU} still not on PATH after installing qemu-system-x86"))
}
