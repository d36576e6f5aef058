//! The initrd format: a cpio "newc" archive, written by the launcher, read by the kernel.
//!
//! Each file is a 110-byte ASCII header (`070701` then thirteen 8-digit hex fields), its
//! NUL-terminated name padded to 4 bytes, and its data padded to 4 bytes; a final entry
//! named `TRAILER!!!` ends the archive. Only regular files are written, and padding
//! entries (`.padding`, placing the next file's data on a page); the reader skips
//! anything else (padding, directories, links) and rejects malformed headers with an error
//! instead of panicking. The same bytes can be listed with `cpio -t < initrd`.
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod manifest;
mod reader;
#[cfg(feature = "alloc")]
mod writer;

pub use reader::{Entries, Entry, FormatError};
#[cfg(feature = "alloc")]
pub use writer::Writer;

/// Magic of a newc header (no checksum).
pub const MAGIC: &[u8; 6] = b"070701";
/// Bytes in a header, before the name.
pub const HEADER_LEN: usize = 110;
/// Name of the entry that ends the archive.
pub const TRAILER: &str = "TRAILER!!!";
/// `st_mode` of a regular file with permissions 0644.
pub const MODE_REGULAR_FILE: u32 = 0o100644;
/// Name of the padding entries `Writer::add_file_aligned` inserts.
pub const PADDING: &str = ".padding";
/// `st_mode` of a padding entry: a character device (its bytes are not a file's, and
/// the reader skips every entry that is not a regular file).
#[cfg(feature = "alloc")]
const MODE_PADDING: u32 = 0o020000;
const MODE_TYPE_MASK: u32 = 0o170000;
const MODE_TYPE_REGULAR: u32 = 0o100000;

/// Parses the entries of an archive.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries::new(archive)
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn aligned_files_start_on_their_boundary_and_padding_is_skipped() {
        let mut writer = Writer::new();
        let mut names = Vec::new();
        for n in 0..12 {
            let name = alloc::format!("app/{}/f{}", n, "y".repeat(n));
            let data: Vec<u8> = (0..n * 37).map(|i| i as u8).collect();
            if n % 3 == 0 {
                writer.add_file(&name, &data).unwrap();
            } else {
                writer.add_file_aligned(&name, &data, 4096).unwrap();
            }
            names.push((name, data, n % 3 != 0));
        }
        let archive = writer.finish();
        let read: Vec<_> = entries(&archive).collect::<Result<_, _>>().unwrap();
        assert_eq!(read.len(), names.len(), "padding entries are not files");
        for (entry, (name, data, aligned)) in read.iter().zip(&names) {
            assert_eq!((entry.name, entry.data), (name.as_str(), &data[..]));
            let offset = entry.data.as_ptr() as usize - archive.as_ptr() as usize;
            if *aligned {
                assert_eq!(offset % 4096, 0, "{name} at {offset}");
            }
        }
    }

    #[test]
    fn round_trips_files_of_every_padding() {
        let mut writer = Writer::new();
        let files: Vec<(alloc::string::String, Vec<u8>)> =
            (0..9).map(|n| (alloc::format!("dir/file-{}", "x".repeat(n)), (0..n as u8 * 3).collect())).collect();
        for (name, data) in &files {
            writer.add_file(name, data).unwrap();
        }
        let archive = writer.finish();
        assert_eq!(archive.len() % 4, 0);
        let read: Vec<_> = entries(&archive).collect::<Result<_, _>>().unwrap();
        assert_eq!(read.len(), files.len());
        for (entry, (name, data)) in read.iter().zip(&files) {
            assert_eq!(entry.name, name);
            assert_eq!(entry.data, &data[..]);
        }
    }

    #[test]
    fn empty_archive_has_only_a_trailer() {
        let archive = Writer::new().finish();
        assert_eq!(entries(&archive).count(), 0);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let mut writer = Writer::new();
        writer.add_file("a", b"hello").unwrap();
        let archive = writer.finish();
        for cut in 0..archive.len() - 1 {
            let _ = entries(&archive[..cut]).collect::<Result<Vec<_>, _>>();
        }
        let mut bad = archive.clone();
        bad[0] = b'9';
        assert_eq!(entries(&bad).next(), Some(Err(FormatError::BadMagic { offset: 0 })));
        let mut huge = archive.clone();
        huge[54..62].copy_from_slice(b"7FFFFFFF"); // filesize
        assert!(matches!(entries(&huge).next(), Some(Err(FormatError::Truncated { .. }))));
        assert!(matches!(entries(b"").next(), Some(Err(FormatError::Truncated { .. }))));
    }

    #[test]
    fn names_with_nul_are_rejected() {
        assert!(Writer::new().add_file("a\0b", b"").is_err());
    }
}
