//! Port I/O: the only way the kernel talks to legacy ISA devices.

/// Writes one byte to an I/O port.
///
/// # Safety
/// The port must belong to a device whose side effects the caller owns.
#[inline]
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: the caller owns the device behind `port`; `out` touches no memory.
    unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) }
}

/// Reads one byte from an I/O port.
///
/// # Safety
/// As for [`outb`]; reads can have side effects on the device.
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: the caller owns the device behind `port`; `in` touches no memory.
    unsafe { core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// As for [`outb`].
#[inline]
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: the caller owns the device behind `port`; `out` touches no memory.
    unsafe { core::arch::asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags)) }
}

/// Writes `bytes` to one port with `rep outsb`: under KVM a whole run costs one exit.
///
/// # Safety
/// As for [`outb`]; the device must accept back-to-back writes without status polling.
#[inline]
pub unsafe fn outsb(port: u16, bytes: &[u8]) {
    // SAFETY: `rep outsb` reads exactly `bytes.len()` bytes starting at `bytes`, which
    // the slice keeps valid; DF is clear per the ABI.
    unsafe {
        core::arch::asm!(
            "rep outsb",
            in("dx") port,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(nostack, readonly, preserves_flags)
        )
    }
}
