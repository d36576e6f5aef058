//! Writing a newc archive in memory.

use alloc::vec::Vec;

use crate::{HEADER_LEN, MAGIC, MODE_PADDING, MODE_REGULAR_FILE, PADDING, TRAILER};

/// Why a file cannot go into the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The name contains a NUL byte.
    NameHasNul,
    /// The file is 4 GiB or larger (newc sizes are 32-bit).
    TooLarge,
}

/// Builds an archive file by file.
#[derive(Default)]
pub struct Writer {
    bytes: Vec<u8>,
    next_inode: u32,
}

impl Writer {
    /// An empty archive.
    pub fn new() -> Self {
        Self { bytes: Vec::new(), next_inode: 1 }
    }

    fn header(&mut self, mode: u32, file_size: u32, name: &str) {
        let fields = [self.next_inode, mode, 0, 0, 1, 0, file_size, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        self.next_inode += 1;
        self.bytes.extend_from_slice(MAGIC);
        for field in fields {
            // Eight upper-case hex digits per field, as cpio writes them.
            for shift in (0..8).rev() {
                let digit = (field >> (shift * 4)) & 0xF;
                self.bytes.push(b"0123456789ABCDEF"[digit as usize]);
            }
        }
        debug_assert_eq!(self.bytes.len() % 4, (HEADER_LEN) % 4);
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// Adds a regular file.
    pub fn add_file(&mut self, name: &str, data: &[u8]) -> Result<(), WriteError> {
        if name.contains('\0') {
            return Err(WriteError::NameHasNul);
        }
        let size = u32::try_from(data.len()).map_err(|_| WriteError::TooLarge)?;
        self.header(MODE_REGULAR_FILE, size, name);
        self.bytes.extend_from_slice(data);
        self.pad();
        Ok(())
    }

    /// Adds a regular file whose data starts at a multiple of `align` bytes from the
    /// start of the archive (a power of two, at least 4), so that an archive loaded at
    /// such an address (QEMU loads the initrd at a page boundary) has the file's data
    /// on a page and can map it in place (precompiled code). A padding entry goes
    /// before it when needed: a non-regular entry named [`PADDING`], which readers skip.
    pub fn add_file_aligned(&mut self, name: &str, data: &[u8], align: usize) -> Result<(), WriteError> {
        debug_assert!(align.is_power_of_two() && align >= 4);
        let data_start = |at: usize, name: &str| (at + HEADER_LEN + name.len() + 1).next_multiple_of(4);
        if !data_start(self.bytes.len(), name).is_multiple_of(align) {
            // The padding entry's own data is sized so the file's data lands aligned.
            let padding_data = data_start(self.bytes.len(), PADDING);
            let mut fill = 0;
            while !data_start(padding_data + fill, name).is_multiple_of(align) {
                fill += 4;
            }
            self.header(MODE_PADDING, fill as u32, PADDING);
            self.bytes.resize(self.bytes.len() + fill, 0);
        }
        self.add_file(name, data)
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.header(0, 0, TRAILER);
        self.bytes
    }
}
