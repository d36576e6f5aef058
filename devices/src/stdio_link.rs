//! The stdio link between the launcher and the kernel: which serial port carries which
//! stream, and the framing on the host-to-guest streams. A serial port has no
//! end-of-file and no way to say "the reader went away", so each of those carries
//! frames of a 5-byte header (kind, then a little-endian u32) and, for data, that many
//! bytes. Guest-to-host streams (stdout, stderr) are raw bytes.
//!
//! - stdin carries `Data` frames, then one `Eof`;
//! - the control stream carries `Closed(stream)` when the host side of stdout (1) or
//!   stderr (2) can no longer take bytes (the guest's writes then fail with EPIPE).

/// The serial device's port numbers (QEMU `virtserialport,nr=`) for each stream.
pub const STDOUT_PORT: u32 = 1;
pub const STDERR_PORT: u32 = 2;
pub const STDIN_PORT: u32 = 3;
pub const CONTROL_PORT: u32 = 4;

/// The byte the guest writes on the stdin console once it can take input (the host
/// must not send before: see the launcher's `stdio_devices`).
pub const GUEST_READY: u8 = 0x06;

/// Bytes of a frame header.
pub const HEADER_BYTES: usize = 5;

/// Largest data frame the launcher sends (the decoder accepts any u32 length).
pub const MAX_DATA_FRAME: usize = 64 * 1024;

const DATA: u8 = 0;
const EOF: u8 = 1;
const CLOSED: u8 = 2;

/// The guest stream a `Closed` frame names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutStream {
    Stdout = 1,
    Stderr = 2,
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// `len` bytes of data follow.
    Data { len: u32 },
    /// The stream has ended.
    Eof,
    /// The host side of an output stream is gone.
    Closed(OutStream),
}

impl Header {
    /// The header's bytes.
    pub fn encode(self) -> [u8; HEADER_BYTES] {
        let (kind, value) = match self {
            Header::Data { len } => (DATA, len),
            Header::Eof => (EOF, 0),
            Header::Closed(stream) => (CLOSED, stream as u32),
        };
        let value = value.to_le_bytes();
        [kind, value[0], value[1], value[2], value[3]]
    }

    /// Decodes a header; `None` for an unknown kind or stream (a protocol error).
    pub fn decode(bytes: [u8; HEADER_BYTES]) -> Option<Header> {
        let value = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        match (bytes[0], value) {
            (DATA, len) => Some(Header::Data { len }),
            (EOF, 0) => Some(Header::Eof),
            (CLOSED, 1) => Some(Header::Closed(OutStream::Stdout)),
            (CLOSED, 2) => Some(Header::Closed(OutStream::Stderr)),
            _ => None,
        }
    }
}

/// What one [`Decoder::read`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// This many data bytes were copied into the output.
    Data(usize),
    /// The stream ended (every later read says so too).
    Eof,
    /// A control frame.
    Closed(OutStream),
    /// Nothing is available yet.
    Pending,
    /// The bytes are not this protocol (the stream is then treated as ended).
    Malformed,
}

/// Incremental decoder over a raw byte source, copying data straight into the caller's
/// buffer (no intermediate copy).
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    header: [u8; HEADER_BYTES],
    header_have: usize,
    data_left: u32,
    ended: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Whether the stream has ended (EOF or a malformed frame).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Data bytes of the current frame not yet read (known to be on their way).
    pub fn data_left(&self) -> u32 {
        self.data_left
    }

    /// Reads from `source` (which copies up to `buf.len()` raw bytes into `buf` and
    /// returns how many, 0 when none are available now) into `out`. Data never
    /// crosses a frame boundary in one call.
    pub fn read(&mut self, source: &mut dyn FnMut(&mut [u8]) -> usize, out: &mut [u8]) -> Read {
        loop {
            if self.ended {
                return Read::Eof;
            }
            if self.data_left > 0 {
                if out.is_empty() {
                    return Read::Data(0);
                }
                let want = out.len().min(self.data_left as usize);
                let got = source(&mut out[..want]);
                if got == 0 {
                    return Read::Pending;
                }
                self.data_left -= got as u32;
                return Read::Data(got);
            }
            let got = source(&mut self.header[self.header_have..]);
            if got == 0 {
                return Read::Pending;
            }
            self.header_have += got;
            if self.header_have < HEADER_BYTES {
                continue;
            }
            self.header_have = 0;
            match Header::decode(self.header) {
                Some(Header::Data { len }) => self.data_left = len,
                Some(Header::Eof) => {
                    self.ended = true;
                    return Read::Eof;
                }
                Some(Header::Closed(stream)) => return Read::Closed(stream),
                None => {
                    self.ended = true;
                    return Read::Malformed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// A source handing out `bytes` at most `step` at a time.
    fn source(bytes: &[u8], step: usize) -> impl FnMut(&mut [u8]) -> usize + '_ {
        let mut at = 0;
        move |buf: &mut [u8]| {
            let n = buf.len().min(step).min(bytes.len() - at);
            buf[..n].copy_from_slice(&bytes[at..at + n]);
            at += n;
            n
        }
    }

    fn frames(parts: &[Header], data: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut data = data.iter();
        for header in parts {
            out.extend_from_slice(&header.encode());
            if let Header::Data { .. } = header {
                out.extend_from_slice(data.next().unwrap());
            }
        }
        out
    }

    #[test]
    fn headers_are_byte_exact() {
        assert_eq!(Header::Data { len: 0x0102_0304 }.encode(), [0, 4, 3, 2, 1]);
        assert_eq!(Header::Eof.encode(), [1, 0, 0, 0, 0]);
        assert_eq!(Header::Closed(OutStream::Stderr).encode(), [2, 2, 0, 0, 0]);
        for header in [Header::Data { len: 7 }, Header::Eof, Header::Closed(OutStream::Stdout)] {
            assert_eq!(Header::decode(header.encode()), Some(header));
        }
        assert_eq!(Header::decode([9, 0, 0, 0, 0]), None);
        assert_eq!(Header::decode([2, 3, 0, 0, 0]), None);
        assert_eq!(Header::decode([1, 1, 0, 0, 0]), None);
    }

    #[test]
    fn data_survives_any_split_then_eof() {
        let bytes = frames(
            &[Header::Data { len: 5 }, Header::Data { len: 0 }, Header::Data { len: 3 }, Header::Eof],
            &[b"hello", b"", b"abc"],
        );
        for step in [1, 2, 3, 7, 100] {
            let mut decoder = Decoder::new();
            let mut src = source(&bytes, step);
            let mut got = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                match decoder.read(&mut src, &mut buf) {
                    Read::Data(n) => got.extend_from_slice(&buf[..n]),
                    Read::Eof => break,
                    other => panic!("step {step}: unexpected {other:?}"),
                }
            }
            assert_eq!(got, b"helloabc", "step {step}");
            assert_eq!(decoder.read(&mut src, &mut buf), Read::Eof);
        }
    }

    #[test]
    fn pending_until_bytes_arrive_and_malformed_ends() {
        let mut decoder = Decoder::new();
        let mut nothing = |_: &mut [u8]| 0;
        assert_eq!(decoder.read(&mut nothing, &mut [0; 8]), Read::Pending);
        let closed = Header::Closed(OutStream::Stdout).encode();
        assert_eq!(decoder.read(&mut source(&closed, 2), &mut [0; 8]), Read::Closed(OutStream::Stdout));
        assert_eq!(decoder.read(&mut source(&[7, 0, 0, 0, 0], 5), &mut [0; 8]), Read::Malformed);
        assert!(decoder.ended());
    }
}
