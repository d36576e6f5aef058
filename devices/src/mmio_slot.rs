//! The virtio-mmio slots QEMU's microvm tells the guest about: it appends one
//! `virtio_mmio.device=SIZE@BASE:IRQ` entry per populated slot to the kernel command
//! line (the syntax Linux parses: SIZE with an optional K/M suffix, BASE in hex).

/// One populated virtio-mmio slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioSlot {
    /// Physical address of the slot's register block.
    pub base: u64,
    /// Bytes of the register block (header plus config space).
    pub size: u64,
    /// The slot's interrupt line (an IOAPIC input on microvm).
    pub irq: u32,
}

/// A malformed `virtio_mmio.device=` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSlot<'a>(pub &'a str);

const KEY: &str = "virtio_mmio.device=";

fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn size(text: &str) -> Option<u64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    number(digits)?.checked_mul(scale)
}

/// Parses one entry's value (`SIZE@BASE:IRQ`).
pub fn parse_entry(value: &str) -> Option<MmioSlot> {
    let (size_text, rest) = value.split_once('@')?;
    let (base_text, irq_text) = rest.split_once(':')?;
    // Linux allows a trailing `:ID` after the IRQ; QEMU does not write one.
    let irq_text = irq_text.split(':').next()?;
    let slot = MmioSlot { base: number(base_text)?, size: size(size_text)?, irq: irq_text.parse().ok()? };
    (slot.size > 0 && slot.base.checked_add(slot.size).is_some()).then_some(slot)
}

/// Every `virtio_mmio.device=` entry of `cmdline`, in order; a malformed one is an error
/// naming it.
pub fn slots(cmdline: &str) -> impl Iterator<Item = Result<MmioSlot, BadSlot<'_>>> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|word| word.strip_prefix(KEY))
        .map(|value| parse_entry(value).ok_or(BadSlot(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn reads_the_entries_qemu_appends() {
        let cmdline = "run quiet virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=512@0xfeb00c00:11";
        let found: Vec<_> = slots(cmdline).collect();
        assert_eq!(
            found,
            [
                Ok(MmioSlot { base: 0xfeb0_0e00, size: 512, irq: 12 }),
                Ok(MmioSlot { base: 0xfeb0_0c00, size: 512, irq: 11 })
            ]
        );
    }

    #[test]
    fn accepts_linux_size_suffixes_and_a_device_id() {
        assert_eq!(parse_entry("4K@0x1000:5:3"), Some(MmioSlot { base: 0x1000, size: 4096, irq: 5 }));
        assert_eq!(parse_entry("1M@4096:9"), Some(MmioSlot { base: 4096, size: 1 << 20, irq: 9 }));
    }

    #[test]
    fn malformed_entries_are_named() {
        let found: Vec<_> = slots("virtio_mmio.device=512@zz:1 virtio_mmio.device=0@0x10:1 x=1").collect();
        assert_eq!(found, [Err(BadSlot("512@zz:1")), Err(BadSlot("0@0x10:1"))]);
        assert_eq!(parse_entry("512@0xffffffffffffffff:1"), None);
        assert_eq!(parse_entry("512"), None);
    }
}
