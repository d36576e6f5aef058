//! Compiled modules as bytes: `Module::serialize` writes them, `Module::deserialize`
//! loads them without compiling (the `.cwasm` files of `wasmetal compile`).
//!
//! Owns the artifact format and its checks. It must not compile: loading works in a
//! runtime built without the `compiler` feature.
//!
//! ```text
//! header   magic "\x7fWMCWASM", format version (u32), runtime version (string),
//!          code-affecting settings (u32 flags, memory reservation u64), CPU features
//!          the code assumes (u32 bits), tables length (u64), text offset (u64),
//!          text length (u64), checksum of header and tables (u64)
//! tables   declarations, function ranges, trap sites, trampolines (`tables`)
//! padding  zeros up to a 4 KiB boundary of the artifact
//! text     position-independent machine code (calls between functions are
//!          PC-relative; no absolute address, and no engine's type id, is in it)
//! ```
//!
//! The settings are recorded one by one rather than hashed, so a mismatch names the
//! setting. What is checked, and what is trusted (the same contract as Wasmtime's
//! `Module::deserialize`): the header, the checksum and every length, offset and index
//! in the tables are checked, and damaged, truncated or mismatched input is an
//! [`ArtifactError`], never a panic. The code bytes themselves are trusted: they are
//! not checksummed or verified, so bytes that did not come from `Module::serialize`
//! of this runtime version can do anything the process can. That is why
//! `deserialize` is `unsafe`.

mod bytes;
pub mod error;
mod tables;

pub use error::ArtifactError;
pub(crate) use tables::CodeTables;

use self::bytes::{Reader, Writer, checksum};
use crate::api::config::{Config, OptLevel};
use crate::cpu::CpuFeatures;
use crate::prelude::*;

/// The first bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"\x7fWMCWASM";
/// Bumped whenever the layout of the header or tables changes.
pub const FORMAT_VERSION: u32 = 1;
/// The runtime build that writes and reads artifacts: its version and a fingerprint
/// of its sources (so two builds of one version with different code never mix).
pub const RUNTIME_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("WASMETAL_RUNTIME_FINGERPRINT"));
/// Text starts at a multiple of this in the artifact (a page, so it could be mapped).
pub const TEXT_ALIGN: usize = 4096;

/// The engine settings that change generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CodeSettings {
    pub epoch_interruption: bool,
    pub consume_fuel: bool,
    pub relaxed_simd_deterministic: bool,
    pub optimized: bool,
    /// The wasm features (`module::environ::Features`) as bits.
    pub features: u32,
    /// Bytes reserved per 32-bit memory: code relies on the guard region it implies.
    pub memory_reservation: u64,
}

impl CodeSettings {
    pub fn of(config: &Config) -> Self {
        let f = config.features;
        let features = [f.tail_call, f.extended_const, f.multi_memory, f.memory64, f.simd, f.relaxed_simd]
            .iter()
            .enumerate()
            .fold(0, |bits, (bit, &on)| bits | (u32::from(on) << bit));
        Self {
            epoch_interruption: config.epoch_interruption,
            consume_fuel: config.consume_fuel,
            relaxed_simd_deterministic: config.relaxed_simd_deterministic,
            optimized: config.opt_level == OptLevel::Speed,
            features,
            memory_reservation: crate::vm::memory::MEMORY_RESERVATION as u64,
        }
    }

    fn flags(&self) -> u32 {
        u32::from(self.epoch_interruption)
            | u32::from(self.consume_fuel) << 1
            | u32::from(self.relaxed_simd_deterministic) << 2
            | u32::from(self.optimized) << 3
            | self.features << 8
    }

    fn from_flags(flags: u32, memory_reservation: u64) -> Option<Self> {
        if flags & !0x3F0F != 0 {
            return None;
        }
        Some(Self {
            epoch_interruption: flags & 1 != 0,
            consume_fuel: flags & 2 != 0,
            relaxed_simd_deterministic: flags & 4 != 0,
            optimized: flags & 8 != 0,
            features: flags >> 8,
            memory_reservation,
        })
    }

    /// The first setting that differs from `engine`'s, if any (optimization is not
    /// one: optimized and unoptimized code run alike).
    fn mismatch(&self, engine: &CodeSettings) -> Option<ArtifactError> {
        let on = |b: bool| String::from(if b { "on" } else { "off" });
        let pairs: [(&'static str, String, String); 5] = [
            ("epoch interruption", on(self.epoch_interruption), on(engine.epoch_interruption)),
            ("fuel consumption", on(self.consume_fuel), on(engine.consume_fuel)),
            ("deterministic relaxed SIMD", on(self.relaxed_simd_deterministic), on(engine.relaxed_simd_deterministic)),
            ("wasm features", format!("{:#x}", self.features), format!("{:#x}", engine.features)),
            ("memory reservation", format!("{}", self.memory_reservation), format!("{}", engine.memory_reservation)),
        ];
        pairs.into_iter().find(|(_, a, e)| a != e).map(|(setting, artifact, engine)| ArtifactError::Settings {
            setting,
            artifact,
            engine,
        })
    }
}

/// What the header says.
pub(crate) struct Header {
    pub settings: CodeSettings,
    pub cpu: CpuFeatures,
    tables_len: u64,
    text_offset: u64,
    text_len: u64,
    checksum: u64,
    /// Bytes of the header before the checksum field.
    checked_len: usize,
}

/// Writes an artifact from its parts.
pub(crate) fn write(
    settings: &CodeSettings,
    cpu: &CpuFeatures,
    info: &crate::module::info::ModuleInfo,
    func_names: &hashbrown::HashMap<u32, String>,
    code: &CodeTables,
    text: &[u8],
) -> Vec<u8> {
    let mut tables = Writer::default();
    tables::encode(&mut tables, info, func_names, code);
    let mut w = Writer::default();
    w.bytes.extend_from_slice(&MAGIC);
    w.u32(FORMAT_VERSION);
    w.str(RUNTIME_VERSION);
    w.u32(settings.flags());
    w.u64(settings.memory_reservation);
    w.u32(cpu.bits());
    w.u64(tables.bytes.len() as u64);
    let header_end = w.bytes.len() + 3 * 8;
    let text_offset = (header_end + tables.bytes.len()).next_multiple_of(TEXT_ALIGN);
    w.u64(text_offset as u64);
    w.u64(text.len() as u64);
    let sum = checksum(&w.bytes) ^ checksum(&tables.bytes).rotate_left(17);
    w.u64(sum);
    w.bytes.extend_from_slice(&tables.bytes);
    w.bytes.resize(text_offset, 0);
    w.bytes.extend_from_slice(text);
    w.bytes
}

/// Reads and checks the header against the engine's settings and CPU features.
pub(crate) fn read_header(bytes: &[u8], settings: &CodeSettings, cpu: &CpuFeatures) -> Result<Header, ArtifactError> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(ArtifactError::NotAnArtifact);
    }
    let mut r = Reader::new(bytes, 0);
    r.take(MAGIC.len(), "the magic")?;
    let format = r.u32("the format version")?;
    if format != FORMAT_VERSION {
        return Err(ArtifactError::FormatVersion { found: format, expected: FORMAT_VERSION });
    }
    let version = r.str("the runtime version")?;
    if version != RUNTIME_VERSION {
        return Err(ArtifactError::RuntimeVersion { found: version.into(), expected: RUNTIME_VERSION.into() });
    }
    let flags = r.u32("the settings")?;
    let reservation = r.u64("the settings")?;
    let cpu_bits = r.u32("the CPU features")?;
    let tables_len = r.u64("the header")?;
    let text_offset = r.u64("the header")?;
    let text_len = r.u64("the header")?;
    let checked_len = r.offset();
    let sum = r.u64("the header")?;
    let header = Header {
        settings: CodeSettings::from_flags(flags, reservation)
            .ok_or_else(|| r.corrupt("the settings", format!("unknown setting bits {flags:#x}")))?,
        cpu: CpuFeatures::from_bits(cpu_bits)
            .ok_or_else(|| r.corrupt("the CPU features", format!("unknown feature bits {cpu_bits:#x}")))?,
        tables_len,
        text_offset,
        text_len,
        checksum: sum,
        checked_len,
    };
    // The checksum first: a damaged header must not pass as a mismatch.
    let tables = header.tables(bytes)?;
    if checksum(&bytes[..checked_len]) ^ checksum(tables).rotate_left(17) != header.checksum {
        return Err(ArtifactError::Corrupt {
            what: "the header and tables",
            offset: 0,
            detail: "checksum does not match".into(),
        });
    }
    if let Some(error) = header.settings.mismatch(settings) {
        return Err(error);
    }
    let missing = header.cpu.missing_from(cpu);
    if !missing.is_empty() {
        return Err(ArtifactError::CpuFeatures { missing: missing.join(", ") });
    }
    header.text(bytes)?;
    Ok(header)
}

impl Header {
    fn tables_start(&self) -> usize {
        self.checked_len + 8
    }

    /// The tables' bytes.
    pub fn tables<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], ArtifactError> {
        let start = self.tables_start();
        let end = usize::try_from(self.tables_len).ok().and_then(|len| start.checked_add(len));
        match end {
            Some(end) if end <= bytes.len() => Ok(&bytes[start..end]),
            _ => Err(ArtifactError::Truncated { what: "the tables", offset: bytes.len() }),
        }
    }

    /// The code bytes.
    pub fn text<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], ArtifactError> {
        let tables_end = self.tables_start() as u64 + self.tables_len;
        if self.text_offset < tables_end || !self.text_offset.is_multiple_of(TEXT_ALIGN as u64) {
            return Err(ArtifactError::Corrupt {
                what: "the header",
                offset: self.checked_len - 16,
                detail: format!("text offset {} overlaps the tables or is not aligned", self.text_offset),
            });
        }
        // The padding is zeros: nothing in an artifact goes unchecked but the code.
        let padding = &bytes[tables_end as usize..(self.text_offset as usize).min(bytes.len())];
        if let Some(at) = padding.iter().position(|&byte| byte != 0) {
            return Err(ArtifactError::Corrupt {
                what: "the padding before the code",
                offset: tables_end as usize + at,
                detail: "a byte is not zero".into(),
            });
        }
        let end = self.text_offset.checked_add(self.text_len);
        match end {
            Some(end) if end == bytes.len() as u64 => Ok(&bytes[self.text_offset as usize..end as usize]),
            Some(end) if end < bytes.len() as u64 => Err(ArtifactError::Corrupt {
                what: "the code",
                offset: end as usize,
                detail: "bytes follow the end of the code".into(),
            }),
            _ => Err(ArtifactError::Truncated { what: "the code", offset: bytes.len() }),
        }
    }

    /// Decodes the tables (checked, see `tables`).
    pub fn decode(&self, bytes: &[u8]) -> Result<(crate::module::info::ModuleInfo, CodeTables), ArtifactError> {
        let tables = self.tables(bytes)?;
        let mut r = Reader::new(tables, self.tables_start());
        tables::decode(&mut r, self.text_len as usize)
    }
}

pub(crate) use tables::check_trampolines;

#[cfg(all(test, feature = "compiler", feature = "std"))]
mod tests {
    use super::*;
    use crate::{Engine, Module};

    /// Damage that keeps the checksum right (as a forger would) still meets the checks
    /// of every length, offset and index: no byte value anywhere in the tables makes
    /// loading panic.
    #[test]
    fn damaged_tables_with_a_fixed_checksum_never_panic() {
        let engine = Engine::default();
        let wasm = wat::parse_str(
            r#"(module (import "m" "f" (func (param i32))) (import "m" "g" (global i32))
                (memory 1 2) (data (i32.const 0) "xy") (data "z") (global (mut i64) (i64.const 3))
                (table 3 funcref) (elem (global.get 0) func 2) (elem declare func 3)
                (func (export "e") (param i32) (call 0 (local.get 0)))
                (func (result funcref) (ref.func 3)) (start 3) (func))"#,
        )
        .unwrap();
        let bytes = Module::new(&engine, wasm).unwrap().serialize().unwrap();
        let settings = CodeSettings::of(&engine.inner.config);
        let header = read_header(&bytes, &settings, &engine.inner.cpu).unwrap();
        let (start, len) = (header.tables_start(), header.tables_len as usize);
        let mut accepted = 0;
        for at in start..start + len {
            for value in [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF] {
                let mut damaged = bytes.clone();
                if damaged[at] == value {
                    continue;
                }
                damaged[at] = value;
                let sum =
                    checksum(&damaged[..header.checked_len]) ^ checksum(&damaged[start..start + len]).rotate_left(17);
                damaged[header.checked_len..header.checked_len + 8].copy_from_slice(&sum.to_le_bytes());
                // SAFETY: the code bytes are unchanged; only the checked tables are damaged,
                // and the module is loaded, never run.
                if unsafe { Module::deserialize(&engine, &damaged) }.is_ok() {
                    accepted += 1;
                }
            }
        }
        // Names and constants can change harmlessly; indices and lengths cannot.
        assert!(accepted < len * 6 / 2, "{accepted} of {} damaged artifacts loaded", len * 6);
    }
}
