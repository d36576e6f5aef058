//! The run manifest: what the kernel should run, packed by the launcher as the initrd
//! file [`MANIFEST_PATH`].
//!
//! A flat list of records, each a key and its values, every field terminated by NUL
//! (program arguments cannot contain NUL, so no escaping is needed):
//! `program\0app/NAME.wasm\0`, `arg\0VALUE\0` (argv[0] first), `env\0K=V\0`,
//! `dir\0INDEX\0GUEST\0` (files of that preopen are under `fs/INDEX/`),
//! `preload\0NAME\0preload/NAME.wasm\0`, `fuel\0N\0`, `stdin\0PATH\0`,
//! `timeout_ms\0N\0`. With several workloads, `task\0NAME\0` starts each task's
//! records (a manifest without it describes one task).

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};

/// Where the manifest lives in the initrd.
pub const MANIFEST_PATH: &str = "wasmetal/run";
/// Where the launcher puts the program's stdin, when it has one.
pub const STDIN_PATH: &str = "wasmetal/stdin";

/// One record of the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Program(&'a str),
    Arg(&'a str),
    Env(&'a str),
    Dir {
        index: u32,
        guest: &'a str,
    },
    Preload {
        name: &'a str,
        path: &'a str,
    },
    Fuel(u64),
    Stdin(&'a str),
    /// Starts the records of another task.
    Task(&'a str),
    /// Wall-clock budget of each task, in milliseconds (then it traps with Interrupt).
    TimeoutMs(u64),
}

/// A malformed manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub record: usize,
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "run manifest: record {} is malformed", self.record)
    }
}

/// Iterates the records of `bytes`.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = Result<Record<'_>, ManifestError>> {
    // Every field ends with NUL: drop the last terminator, then split on the others.
    let (body, well_terminated) = match bytes.split_last() {
        None => (&bytes[..0], true),
        Some((&0, body)) => (body, true),
        Some(_) => (bytes, false),
    };
    let mut fields = body.split(|&b| b == 0);
    let mut index = 0;
    let mut done = bytes.is_empty();
    core::iter::from_fn(move || {
        if done {
            return None;
        }
        let Some(key) = fields.next() else {
            done = true;
            return None;
        };
        index += 1;
        if !well_terminated {
            done = true;
            return Some(Err(ManifestError { record: index }));
        }
        let error = ManifestError { record: index };
        let mut text = || fields.next().and_then(|f| core::str::from_utf8(f).ok()).ok_or(error);
        Some((|| {
            Ok(match key {
                b"program" => Record::Program(text()?),
                b"arg" => Record::Arg(text()?),
                b"env" => Record::Env(text()?),
                b"dir" => {
                    let index = text()?.parse().map_err(|_| error)?;
                    Record::Dir { index, guest: text()? }
                }
                b"preload" => Record::Preload { name: text()?, path: text()? },
                b"fuel" => Record::Fuel(text()?.parse().map_err(|_| error)?),
                b"stdin" => Record::Stdin(text()?),
                b"task" => Record::Task(text()?),
                b"timeout_ms" => Record::TimeoutMs(text()?.parse().map_err(|_| error)?),
                _ => return Err(error),
            })
        })())
    })
}

/// Builds a manifest.
#[cfg(feature = "alloc")]
#[derive(Default)]
pub struct ManifestWriter {
    bytes: Vec<u8>,
}

#[cfg(feature = "alloc")]
impl ManifestWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn field(&mut self, text: &str) {
        self.bytes.extend_from_slice(text.as_bytes());
        self.bytes.push(0);
    }

    /// Appends a record. Text containing NUL is rejected (it could not be decoded).
    pub fn push(&mut self, record: Record<'_>) -> Result<(), ManifestError> {
        let texts: Vec<String> = match record {
            Record::Program(p) => ["program".into(), p.into()].into(),
            Record::Arg(a) => ["arg".into(), a.into()].into(),
            Record::Env(e) => ["env".into(), e.into()].into(),
            Record::Dir { index, guest } => ["dir".into(), alloc::format!("{index}"), guest.into()].into(),
            Record::Preload { name, path } => ["preload".into(), name.into(), path.into()].into(),
            Record::Fuel(n) => ["fuel".into(), alloc::format!("{n}")].into(),
            Record::Stdin(p) => ["stdin".into(), p.into()].into(),
            Record::Task(name) => ["task".into(), name.into()].into(),
            Record::TimeoutMs(ms) => ["timeout_ms".into(), alloc::format!("{ms}")].into(),
        };
        if texts.iter().any(|t| t.contains('\0')) {
            return Err(ManifestError { record: 0 });
        }
        texts.iter().for_each(|t| self.field(t));
        Ok(())
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let all = [
            Record::Program("app/x.wasm"),
            Record::Arg("x.wasm"),
            Record::Arg("two words"),
            Record::Arg(""),
            Record::Env("K=V=W"),
            Record::Dir { index: 0, guest: "/data" },
            Record::Preload { name: "lib", path: "preload/lib.wasm" },
            Record::Fuel(1_000_000),
            Record::Stdin(STDIN_PATH),
            Record::Task("second"),
            Record::TimeoutMs(2500),
        ];
        let mut writer = ManifestWriter::new();
        for record in all {
            writer.push(record).unwrap();
        }
        let bytes = writer.finish();
        let read: Vec<Record<'_>> = records(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(read, all);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(records(b"bogus\0x\0").any(|r| r.is_err()));
        assert!(records(b"dir\0notanumber\0/x\0").any(|r| r.is_err()));
        assert!(records(b"arg\0").any(|r| r.is_err()));
        assert_eq!(records(b"").count(), 0);
        assert!(ManifestWriter::new().push(Record::Arg("a\0b")).is_err());
    }

    fn first_error(bytes: &[u8]) -> Option<ManifestError> {
        records(bytes).find_map(Result::err)
    }

    #[test]
    fn an_error_names_the_malformed_record() {
        let bytes = b"program\0app/x.wasm\0arg\0x\0fuel\0lots\0";
        let read: Vec<_> = records(bytes).collect();
        assert_eq!(read[..2], [Ok(Record::Program("app/x.wasm")), Ok(Record::Arg("x"))]);
        assert_eq!(read[2], Err(ManifestError { record: 3 }));
        assert_eq!(alloc::format!("{}", ManifestError { record: 3 }), "run manifest: record 3 is malformed");
    }

    #[test]
    fn an_unterminated_manifest_is_malformed_from_its_first_record() {
        let read: Vec<_> = records(b"program\0app/x.wasm").collect();
        assert_eq!(read, [Err(ManifestError { record: 1 })]);
    }

    #[test]
    fn fields_must_be_utf8_numbers_where_numbers_and_all_present() {
        assert_eq!(first_error(b"arg\0\xff\0"), Some(ManifestError { record: 1 }));
        assert_eq!(first_error(b"timeout_ms\0-1\0"), Some(ManifestError { record: 1 }));
        assert_eq!(first_error(b"fuel\x0018446744073709551616\0"), Some(ManifestError { record: 1 }), "past u64");
        assert_eq!(first_error(b"dir\x004294967296\0/x\0"), Some(ManifestError { record: 1 }), "past u32");
        assert_eq!(first_error(b"env\0A=1\0preload\0lib\0"), Some(ManifestError { record: 2 }), "no path");
        assert_eq!(first_error(b"task\0one\0timeout_ms\x0018446744073709551615\0"), None);
    }
}
