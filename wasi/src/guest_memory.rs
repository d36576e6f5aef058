//! Bounds-checked access to a guest's linear memory.
//!
//! Every pointer and length a guest passes goes through here: a range that does not
//! lie wholly inside the memory is `EFAULT`, never a panic or a host access out of
//! bounds. Values are little-endian and need no alignment.

use alloc::vec::Vec;
use core::ops::Range;

use crate::abi::layout::IOVEC_SIZE;
use crate::errno::Errno;

/// A guest's memory for the duration of one call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    /// Wraps the memory's bytes (an empty slice when the module exports no memory).
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { bytes }
    }

    /// The memory's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the memory has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The byte range `ptr..ptr + len`, if it lies inside the memory.
    pub fn range(&self, ptr: u32, len: u32) -> Result<Range<usize>, Errno> {
        let start = ptr as usize;
        let end = start.checked_add(len as usize).ok_or(Errno::Fault)?;
        if end > self.bytes.len() {
            return Err(Errno::Fault);
        }
        Ok(start..end)
    }

    /// Checks that `len` bytes at `ptr` exist (before a call has side effects).
    pub fn check(&self, ptr: u32, len: u32) -> Result<(), Errno> {
        self.range(ptr, len).map(|_| ())
    }

    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let range = self.range(ptr, len)?;
        Ok(&self.bytes[range])
    }

    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let range = self.range(ptr, len)?;
        Ok(&mut self.bytes[range])
    }

    /// The bytes of an already checked range.
    pub fn at(&self, range: Range<usize>) -> &[u8] {
        &self.bytes[range]
    }

    /// The bytes of an already checked range, mutably.
    pub fn at_mut(&mut self, range: Range<usize>) -> &mut [u8] {
        &mut self.bytes[range]
    }

    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let mut out = [0; N];
        out.copy_from_slice(self.slice(ptr, N as u32)?);
        Ok(out)
    }

    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_u8(&mut self, ptr: u32, value: u8) -> Result<(), Errno> {
        self.write(ptr, &[value])
    }

    pub fn write_u16(&mut self, ptr: u32, value: u16) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    pub fn write_u32(&mut self, ptr: u32, value: u32) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, value: u64) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    /// A copy of the guest string at `ptr..ptr + len` (a path, typically).
    pub fn read_bytes(&self, ptr: u32, len: u32) -> Result<Vec<u8>, Errno> {
        Ok(self.slice(ptr, len)?.to_vec())
    }

    /// The buffers of an `iovec` array of `count` entries at `ptr`, every one checked.
    /// Their total is capped at `u32::MAX` bytes (the most a call can report as done):
    /// buffers past that are dropped, as a short read or write.
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<Range<usize>>, Errno> {
        let array_len = count.checked_mul(IOVEC_SIZE).ok_or(Errno::Fault)?;
        self.check(ptr, array_len)?;
        let mut buffers = Vec::new();
        buffers.try_reserve(count as usize).map_err(|_| Errno::NoMem)?;
        for index in 0..count {
            let entry = ptr + index * IOVEC_SIZE;
            let buf = self.read_u32(entry)?;
            let buf_len = self.read_u32(entry + 4)?;
            buffers.push(self.range(buf, buf_len)?);
        }
        let mut room = u32::MAX as usize;
        let mut cut = None;
        for (index, buffer) in buffers.iter_mut().enumerate() {
            if buffer.len() > room {
                buffer.end = buffer.start + room;
                cut = Some(index + 1);
                break;
            }
            room -= buffer.len();
        }
        if let Some(cut) = cut {
            buffers.truncate(cut);
        }
        Ok(buffers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_is_efault() {
        let mut bytes = [0u8; 16];
        let mut memory = GuestMemory::new(&mut bytes);
        assert_eq!(memory.read_u32(12), Ok(0));
        assert_eq!(memory.read_u32(13), Err(Errno::Fault));
        assert_eq!(memory.read_u64(u32::MAX), Err(Errno::Fault));
        assert_eq!(memory.write_u64(9, 1), Err(Errno::Fault));
        assert_eq!(memory.slice(16, 0).map(<[u8]>::len), Ok(0));
        assert_eq!(memory.slice(17, 0), Err(Errno::Fault));
        assert_eq!(memory.iovecs(0, u32::MAX), Err(Errno::Fault));
    }

    #[test]
    fn iovecs_are_checked_one_by_one() {
        let mut bytes = [0u8; 32];
        bytes[0..4].copy_from_slice(&16u32.to_le_bytes());
        bytes[4..8].copy_from_slice(&16u32.to_le_bytes());
        bytes[8..12].copy_from_slice(&20u32.to_le_bytes());
        bytes[12..16].copy_from_slice(&13u32.to_le_bytes());
        let memory = GuestMemory::new(&mut bytes);
        assert_eq!(memory.iovecs(0, 1), Ok(Vec::from([Range { start: 16, end: 32 }])));
        assert_eq!(memory.iovecs(0, 2), Err(Errno::Fault));
    }

    #[test]
    fn iovec_totals_are_capped_at_u32_max() {
        // Zeroed allocations are mapped lazily: 3 GiB here costs one touched page.
        let mut bytes = alloc::vec![0u8; 3 << 30];
        for entry in [0, 8] {
            bytes[entry..entry + 4].copy_from_slice(&0u32.to_le_bytes());
            bytes[entry + 4..entry + 8].copy_from_slice(&(3u32 << 30).to_le_bytes());
        }
        let memory = GuestMemory::new(&mut bytes);
        let buffers = memory.iovecs(0, 2).unwrap();
        assert_eq!(buffers, [0..3 << 30, 0..(u32::MAX as usize - (3 << 30))]);
    }
}
