//! The artifact's byte encoding: little-endian integers, length-prefixed strings.
//!
//! Owns [`Writer`] and [`Reader`]. The reader never panics and never allocates more
//! than the input could hold: every length is checked against the bytes left first.

use super::error::ArtifactError;
use crate::prelude::*;

/// Appends encoded values.
#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u128(&mut self, value: u128) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// A count or length (u32: every index space of a module fits).
    pub fn len(&mut self, len: usize) {
        self.u32(u32::try_from(len).expect("module index spaces and sections are below 4 GiB"));
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.bytes.extend_from_slice(bytes);
    }

    pub fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    pub fn opt_u64(&mut self, value: Option<u64>) {
        match value {
            Some(value) => {
                self.u8(1);
                self.u64(value);
            }
            None => self.u8(0),
        }
    }
}

/// Reads encoded values from a slice; `what` in each call names the field for errors.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Position of `bytes[0]` in the whole artifact (for messages).
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], base: usize) -> Self {
        Self { bytes, at: 0, base }
    }

    /// Where the next read starts, in artifact bytes.
    pub fn offset(&self) -> usize {
        self.base + self.at
    }

    pub fn is_empty(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// A `Corrupt` error at the current position.
    pub fn corrupt(&self, what: &'static str, detail: impl Into<String>) -> ArtifactError {
        ArtifactError::Corrupt { what, offset: self.offset(), detail: detail.into() }
    }

    pub fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], ArtifactError> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(ArtifactError::Truncated { what, offset: self.base + self.bytes.len() });
        };
        let bytes = &self.bytes[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ArtifactError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, ArtifactError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, ArtifactError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.corrupt(what, format!("flag byte {other} is neither 0 nor 1"))),
        }
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, ArtifactError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, ArtifactError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn u128(&mut self, what: &'static str) -> Result<u128, ArtifactError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// A count of items each at least `min_item_bytes` long: refused when the bytes
    /// left cannot hold that many, so a damaged count never allocates gigabytes.
    pub fn count(&mut self, what: &'static str, min_item_bytes: usize) -> Result<usize, ArtifactError> {
        let count = self.u32(what)? as usize;
        let left = self.bytes.len() - self.at;
        if count.saturating_mul(min_item_bytes.max(1)) > left {
            return Err(ArtifactError::Truncated { what, offset: self.base + self.bytes.len() });
        }
        Ok(count)
    }

    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], ArtifactError> {
        let len = self.count(what, 1)?;
        self.take(len, what)
    }

    pub fn str(&mut self, what: &'static str) -> Result<&'a str, ArtifactError> {
        let at = self.offset();
        let bytes = self.bytes(what)?;
        core::str::from_utf8(bytes).map_err(|_| ArtifactError::Corrupt { what, offset: at, detail: "not UTF-8".into() })
    }

    pub fn opt_u64(&mut self, what: &'static str) -> Result<Option<u64>, ArtifactError> {
        Ok(if self.bool(what)? { Some(self.u64(what)?) } else { None })
    }
}

/// A fast 64-bit checksum of the tables (not cryptographic: it catches damage, not
/// forgery; a forged artifact is the caller's risk, as `Module::deserialize` says).
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hash = 0xCBF2_9CE4_8422_2325u64 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &byte in chunks.remainder() {
        hash = (hash.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
    }
    hash ^ (hash >> 29)
}
