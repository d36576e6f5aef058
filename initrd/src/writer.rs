//! Writing a newc archive in memory.

use alloc::vec::Vec;

use crate::{HEADER_LEN, MAGIC, MODE_REGULAR_FILE, TRAILER};

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

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.header(0, 0, TRAILER);
        self.bytes
    }
}
