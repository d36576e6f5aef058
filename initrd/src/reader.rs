//! Reading a newc archive without allocating: entries borrow from the archive bytes.

use crate::{HEADER_LEN, MAGIC, MODE_TYPE_MASK, MODE_TYPE_REGULAR, TRAILER};

/// One regular file of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// What is wrong with an archive, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// A header does not start with `070701`.
    BadMagic { offset: usize },
    /// A header field is not 8 hex digits.
    BadField { offset: usize },
    /// A header, name or data runs past the end (or there is no trailer).
    Truncated { offset: usize },
    /// A name is not UTF-8 or lacks its terminating NUL.
    BadName { offset: usize },
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FormatError::BadMagic { offset } => write!(f, "initrd: no cpio newc magic at byte {offset}"),
            FormatError::BadField { offset } => write!(f, "initrd: malformed header field at byte {offset}"),
            FormatError::Truncated { offset } => write!(f, "initrd: archive truncated at byte {offset}"),
            FormatError::BadName { offset } => write!(f, "initrd: malformed file name at byte {offset}"),
        }
    }
}

/// Iterator over the regular files of an archive; stops after the trailer or the first
/// error.
pub struct Entries<'a> {
    archive: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(archive: &'a [u8]) -> Self {
        Self { archive, offset: 0, done: false }
    }

    fn field(&self, header: usize, index: usize) -> Result<u32, FormatError> {
        let at = header + 6 + index * 8;
        let digits = &self.archive[at..at + 8];
        let text = core::str::from_utf8(digits).map_err(|_| FormatError::BadField { offset: at })?;
        u32::from_str_radix(text, 16).map_err(|_| FormatError::BadField { offset: at })
    }

    /// Parses the entry at `self.offset`: `Ok(None)` for the trailer.
    fn parse(&mut self) -> Result<Option<(u32, Entry<'a>)>, FormatError> {
        let header = self.offset;
        if self.archive.len() < header + HEADER_LEN {
            return Err(FormatError::Truncated { offset: header });
        }
        if &self.archive[header..header + 6] != MAGIC {
            return Err(FormatError::BadMagic { offset: header });
        }
        let mode = self.field(header, 1)?;
        let file_size = self.field(header, 6)? as usize;
        let name_size = self.field(header, 11)? as usize;
        let name_start = header + HEADER_LEN;
        let name_end = name_start.checked_add(name_size).ok_or(FormatError::Truncated { offset: name_start })?;
        if name_size == 0 || name_end > self.archive.len() {
            return Err(FormatError::Truncated { offset: name_start });
        }
        let name_bytes = &self.archive[name_start..name_end];
        let (last, name_bytes) = name_bytes.split_last().ok_or(FormatError::BadName { offset: name_start })?;
        if *last != 0 {
            return Err(FormatError::BadName { offset: name_start });
        }
        let name = core::str::from_utf8(name_bytes).map_err(|_| FormatError::BadName { offset: name_start })?;
        let data_start = name_end.next_multiple_of(4);
        let data_end = data_start.checked_add(file_size).ok_or(FormatError::Truncated { offset: data_start })?;
        if data_end > self.archive.len() {
            return Err(FormatError::Truncated { offset: data_start });
        }
        self.offset = data_end.next_multiple_of(4);
        if name == TRAILER {
            return Ok(None);
        }
        Ok(Some((mode, Entry { name, data: &self.archive[data_start..data_end] })))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.parse() {
                Ok(Some((mode, entry))) if mode & MODE_TYPE_MASK == MODE_TYPE_REGULAR => return Some(Ok(entry)),
                Ok(Some(_)) => continue,
                Ok(None) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}
