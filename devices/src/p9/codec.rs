//! 9P2000.L message encoding and decoding: plain functions over byte slices.
//!
//! A message is `size[4] type[1] tag[2]` and a body, little-endian, strings as
//! `len[2] bytes`. [`Request::encode`] appends one T-message to a buffer (a write's
//! payload copied straight after its header: the one copy); [`decode`] reads one
//! R-message, borrowing strings and data from the reply buffer. No I/O, no state.

use alloc::vec::Vec;

/// Message type numbers (the T-message; its R-message is one more).
pub mod kind {
    pub const RLERROR: u8 = 7;
    pub const TSTATFS: u8 = 8;
    pub const TLOPEN: u8 = 12;
    pub const TLCREATE: u8 = 14;
    pub const TSYMLINK: u8 = 16;
    pub const TREADLINK: u8 = 22;
    pub const TGETATTR: u8 = 24;
    pub const TSETATTR: u8 = 26;
    pub const TREADDIR: u8 = 40;
    pub const TFSYNC: u8 = 50;
    pub const TLINK: u8 = 70;
    pub const TMKDIR: u8 = 72;
    pub const TRENAMEAT: u8 = 74;
    pub const TUNLINKAT: u8 = 76;
    pub const TVERSION: u8 = 100;
    pub const TATTACH: u8 = 104;
    pub const TWALK: u8 = 110;
    pub const TREAD: u8 = 116;
    pub const TWRITE: u8 = 118;
    pub const TCLUNK: u8 = 120;
}

/// Bytes of the message header (`size[4] type[1] tag[2]`).
pub const HEADER_BYTES: usize = 7;
/// Bytes before a `Twrite`'s data (header, fid, offset, count).
pub const WRITE_OVERHEAD: usize = HEADER_BYTES + 4 + 8 + 4;
/// Bytes before an `Rread`'s data (header, count).
pub const READ_OVERHEAD: usize = HEADER_BYTES + 4;
/// The tag of `Tversion`.
pub const NOTAG: u16 = 0xffff;
/// "No fid" (`Tattach`'s afid).
pub const NOFID: u32 = 0xffff_ffff;
/// The protocol version string.
pub const VERSION: &[u8] = b"9P2000.L";

/// `Tgetattr` request mask: the basic fields (mode through blocks, times).
pub const GETATTR_BASIC: u64 = 0x0000_07ff;

/// `Tsetattr` valid bits.
pub mod setattr {
    pub const MODE: u32 = 0x1;
    pub const SIZE: u32 = 0x8;
    pub const ATIME: u32 = 0x10;
    pub const MTIME: u32 = 0x20;
    pub const CTIME: u32 = 0x40;
    pub const ATIME_SET: u32 = 0x80;
    pub const MTIME_SET: u32 = 0x100;
}

/// Linux open flags as `Tlopen`/`Tlcreate` carry them.
pub mod open_flags {
    pub const RDONLY: u32 = 0;
    pub const WRONLY: u32 = 1;
    pub const RDWR: u32 = 2;
    pub const CREAT: u32 = 0o100;
    pub const EXCL: u32 = 0o200;
    pub const TRUNC: u32 = 0o1000;
    pub const APPEND: u32 = 0o2000;
    pub const DIRECTORY: u32 = 0o200000;
    pub const NOFOLLOW: u32 = 0o400000;
}

/// `Tunlinkat` flag: remove a directory.
pub const AT_REMOVEDIR: u32 = 0x200;

/// Qid types.
pub mod qid_type {
    pub const DIR: u8 = 0x80;
    pub const SYMLINK: u8 = 0x02;
}

/// Linux file-type bits of a mode.
pub mod mode {
    pub const FORMAT: u32 = 0o170000;
    pub const DIR: u32 = 0o040000;
    pub const REGULAR: u32 = 0o100000;
    pub const SYMLINK: u32 = 0o120000;
}

/// A server's unique id for a file: type, version, path (the inode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Qid {
    pub kind: u8,
    pub version: u32,
    pub path: u64,
}

/// Bytes of an encoded qid.
pub const QID_BYTES: usize = 13;

/// A file id: the client's handle on a file on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fid(pub u32);

/// Seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    pub sec: u64,
    pub nsec: u64,
}

impl Time {
    pub fn from_ns(ns: u64) -> Self {
        Time { sec: ns / 1_000_000_000, nsec: ns % 1_000_000_000 }
    }

    pub fn as_ns(self) -> u64 {
        self.sec.saturating_mul(1_000_000_000).saturating_add(self.nsec)
    }
}

/// What `Tsetattr` changes (fields not named in `valid` are ignored by the server).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Time,
    pub mtime: Time,
}

/// `Rgetattr`'s fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub valid: u64,
    pub qid: Qid,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

/// `Rstatfs`'s fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub kind: u32,
    pub bsize: u32,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: u64,
    pub namelen: u32,
}

/// One T-message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Version {
        msize: u32,
        version: &'a [u8],
    },
    Attach {
        fid: Fid,
        afid: u32,
        uname: &'a [u8],
        aname: &'a [u8],
        n_uname: u32,
    },
    /// At most 16 names (the protocol's limit per message).
    Walk {
        fid: Fid,
        newfid: Fid,
        names: &'a [&'a [u8]],
    },
    Lopen {
        fid: Fid,
        flags: u32,
    },
    Lcreate {
        fid: Fid,
        name: &'a [u8],
        flags: u32,
        mode: u32,
        gid: u32,
    },
    Read {
        fid: Fid,
        offset: u64,
        count: u32,
    },
    Write {
        fid: Fid,
        offset: u64,
        data: &'a [u8],
    },
    Readdir {
        fid: Fid,
        offset: u64,
        count: u32,
    },
    Getattr {
        fid: Fid,
        mask: u64,
    },
    Setattr {
        fid: Fid,
        attr: SetAttr,
    },
    Mkdir {
        dfid: Fid,
        name: &'a [u8],
        mode: u32,
        gid: u32,
    },
    Unlinkat {
        dfid: Fid,
        name: &'a [u8],
        flags: u32,
    },
    Renameat {
        old_dfid: Fid,
        old_name: &'a [u8],
        new_dfid: Fid,
        new_name: &'a [u8],
    },
    Symlink {
        dfid: Fid,
        name: &'a [u8],
        target: &'a [u8],
        gid: u32,
    },
    Readlink {
        fid: Fid,
    },
    Link {
        dfid: Fid,
        fid: Fid,
        name: &'a [u8],
    },
    Fsync {
        fid: Fid,
        datasync: bool,
    },
    Clunk {
        fid: Fid,
    },
    Statfs {
        fid: Fid,
    },
}

/// Why a message could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// A string longer than 65 535 bytes, or a walk of more than 16 names.
    TooLong,
    /// The message would not fit in 32-bit size.
    TooLarge,
    /// The reply ends before its fields do, or its size field disagrees with the bytes.
    Truncated,
    /// The reply's type is not an R-message this codec knows.
    UnknownType(u8),
}

impl core::fmt::Display for CodecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CodecError::TooLong => f.write_str("9P: a name is too long or a walk has more than 16 names"),
            CodecError::TooLarge => f.write_str("9P: message larger than 4 GiB"),
            CodecError::Truncated => f.write_str("9P: reply shorter than its fields"),
            CodecError::UnknownType(kind) => write!(f, "9P: unknown reply type {kind}"),
        }
    }
}

/// The most names one `Twalk` may carry.
pub const MAX_WALK_NAMES: usize = 16;

struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

impl Writer<'_> {
    fn u8(&mut self, value: u8) {
        self.out.push(value);
    }
    fn u16(&mut self, value: u16) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn fid(&mut self, fid: Fid) {
        self.u32(fid.0);
    }
    fn string(&mut self, bytes: &[u8]) -> Result<(), CodecError> {
        self.u16(u16::try_from(bytes.len()).map_err(|_| CodecError::TooLong)?);
        self.out.extend_from_slice(bytes);
        Ok(())
    }
    fn time(&mut self, time: Time) {
        self.u64(time.sec);
        self.u64(time.nsec);
    }
}

impl Request<'_> {
    /// The message type.
    pub fn kind(&self) -> u8 {
        match self {
            Request::Version { .. } => kind::TVERSION,
            Request::Attach { .. } => kind::TATTACH,
            Request::Walk { .. } => kind::TWALK,
            Request::Lopen { .. } => kind::TLOPEN,
            Request::Lcreate { .. } => kind::TLCREATE,
            Request::Read { .. } => kind::TREAD,
            Request::Write { .. } => kind::TWRITE,
            Request::Readdir { .. } => kind::TREADDIR,
            Request::Getattr { .. } => kind::TGETATTR,
            Request::Setattr { .. } => kind::TSETATTR,
            Request::Mkdir { .. } => kind::TMKDIR,
            Request::Unlinkat { .. } => kind::TUNLINKAT,
            Request::Renameat { .. } => kind::TRENAMEAT,
            Request::Symlink { .. } => kind::TSYMLINK,
            Request::Readlink { .. } => kind::TREADLINK,
            Request::Link { .. } => kind::TLINK,
            Request::Fsync { .. } => kind::TFSYNC,
            Request::Clunk { .. } => kind::TCLUNK,
            Request::Statfs { .. } => kind::TSTATFS,
        }
    }

    /// Replaces `out`'s contents with this message under `tag`.
    pub fn encode(&self, tag: u16, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.clear();
        let mut w = Writer { out };
        w.u32(0);
        w.u8(self.kind());
        w.u16(tag);
        match *self {
            Request::Version { msize, version } => {
                w.u32(msize);
                w.string(version)?;
            }
            Request::Attach { fid, afid, uname, aname, n_uname } => {
                w.fid(fid);
                w.u32(afid);
                w.string(uname)?;
                w.string(aname)?;
                w.u32(n_uname);
            }
            Request::Walk { fid, newfid, names } => {
                if names.len() > MAX_WALK_NAMES {
                    return Err(CodecError::TooLong);
                }
                w.fid(fid);
                w.fid(newfid);
                w.u16(names.len() as u16);
                for name in names {
                    w.string(name)?;
                }
            }
            Request::Lopen { fid, flags } => {
                w.fid(fid);
                w.u32(flags);
            }
            Request::Lcreate { fid, name, flags, mode, gid } => {
                w.fid(fid);
                w.string(name)?;
                w.u32(flags);
                w.u32(mode);
                w.u32(gid);
            }
            Request::Read { fid, offset, count } | Request::Readdir { fid, offset, count } => {
                w.fid(fid);
                w.u64(offset);
                w.u32(count);
            }
            Request::Write { fid, offset, data } => {
                w.fid(fid);
                w.u64(offset);
                w.u32(u32::try_from(data.len()).map_err(|_| CodecError::TooLarge)?);
                w.out.extend_from_slice(data);
            }
            Request::Getattr { fid, mask } => {
                w.fid(fid);
                w.u64(mask);
            }
            Request::Setattr { fid, attr } => {
                w.fid(fid);
                w.u32(attr.valid);
                w.u32(attr.mode);
                w.u32(attr.uid);
                w.u32(attr.gid);
                w.u64(attr.size);
                w.time(attr.atime);
                w.time(attr.mtime);
            }
            Request::Mkdir { dfid, name, mode, gid } => {
                w.fid(dfid);
                w.string(name)?;
                w.u32(mode);
                w.u32(gid);
            }
            Request::Unlinkat { dfid, name, flags } => {
                w.fid(dfid);
                w.string(name)?;
                w.u32(flags);
            }
            Request::Renameat { old_dfid, old_name, new_dfid, new_name } => {
                w.fid(old_dfid);
                w.string(old_name)?;
                w.fid(new_dfid);
                w.string(new_name)?;
            }
            Request::Symlink { dfid, name, target, gid } => {
                w.fid(dfid);
                w.string(name)?;
                w.string(target)?;
                w.u32(gid);
            }
            Request::Link { dfid, fid, name } => {
                w.fid(dfid);
                w.fid(fid);
                w.string(name)?;
            }
            Request::Fsync { fid, datasync } => {
                w.fid(fid);
                w.u32(u32::from(datasync));
            }
            Request::Readlink { fid } | Request::Clunk { fid } | Request::Statfs { fid } => w.fid(fid),
        }
        let size = u32::try_from(out.len()).map_err(|_| CodecError::TooLarge)?;
        out[0..4].copy_from_slice(&size.to_le_bytes());
        Ok(())
    }
}

/// One R-message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The request failed with this Linux errno.
    Lerror(u32),
    Version {
        msize: u32,
        version: &'a [u8],
    },
    Attach(Qid),
    /// The qids of the names walked (fewer than asked: the walk stopped there).
    Walk(WalkQids<'a>),
    Lopen {
        qid: Qid,
        iounit: u32,
    },
    Lcreate {
        qid: Qid,
        iounit: u32,
    },
    Read(&'a [u8]),
    Write(u32),
    /// Raw directory entries; iterate them with [`DirEntries`].
    Readdir(&'a [u8]),
    Getattr(Attr),
    Setattr,
    Mkdir(Qid),
    Unlinkat,
    Renameat,
    Symlink(Qid),
    Readlink(&'a [u8]),
    Link,
    Fsync,
    Clunk,
    Statfs(StatFs),
}

/// The qids of an `Rwalk`, decoded on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkQids<'a> {
    bytes: &'a [u8],
}

impl WalkQids<'_> {
    pub fn len(&self) -> usize {
        self.bytes.len() / QID_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<Qid> {
        let bytes = self.bytes.get(index * QID_BYTES..(index + 1) * QID_BYTES)?;
        Reader { bytes }.qid().ok()
    }

    pub fn last(&self) -> Option<Qid> {
        self.len().checked_sub(1).and_then(|index| self.get(index))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() < count {
            return Err(CodecError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        let b = self.take(8)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        Ok(u64::from_le_bytes(word))
    }
    fn string(&mut self) -> Result<&'a [u8], CodecError> {
        let len = self.u16()? as usize;
        self.take(len)
    }
    fn qid(&mut self) -> Result<Qid, CodecError> {
        Ok(Qid { kind: self.u8()?, version: self.u32()?, path: self.u64()? })
    }
    fn time(&mut self) -> Result<Time, CodecError> {
        Ok(Time { sec: self.u64()?, nsec: self.u64()? })
    }
}

/// Decodes one R-message: its tag and contents. `bytes` may run past the message
/// (a reply buffer); its size field says where it ends.
pub fn decode(bytes: &[u8]) -> Result<(u16, Reply<'_>), CodecError> {
    let mut r = Reader { bytes };
    let size = r.u32()? as usize;
    if size < HEADER_BYTES || size > bytes.len() {
        return Err(CodecError::Truncated);
    }
    let mut r = Reader { bytes: &bytes[4..size] };
    let kind = r.u8()?;
    let tag = r.u16()?;
    let reply = match kind {
        kind::RLERROR => Reply::Lerror(r.u32()?),
        k if k == kind::TVERSION + 1 => Reply::Version { msize: r.u32()?, version: r.string()? },
        k if k == kind::TATTACH + 1 => Reply::Attach(r.qid()?),
        k if k == kind::TWALK + 1 => {
            let count = r.u16()? as usize;
            Reply::Walk(WalkQids { bytes: r.take(count * QID_BYTES)? })
        }
        k if k == kind::TLOPEN + 1 => Reply::Lopen { qid: r.qid()?, iounit: r.u32()? },
        k if k == kind::TLCREATE + 1 => Reply::Lcreate { qid: r.qid()?, iounit: r.u32()? },
        k if k == kind::TREAD + 1 => {
            let count = r.u32()? as usize;
            Reply::Read(r.take(count)?)
        }
        k if k == kind::TWRITE + 1 => Reply::Write(r.u32()?),
        k if k == kind::TREADDIR + 1 => {
            let count = r.u32()? as usize;
            Reply::Readdir(r.take(count)?)
        }
        k if k == kind::TGETATTR + 1 => Reply::Getattr(Attr {
            valid: r.u64()?,
            qid: r.qid()?,
            mode: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            nlink: r.u64()?,
            rdev: r.u64()?,
            size: r.u64()?,
            blksize: r.u64()?,
            blocks: r.u64()?,
            atime: r.time()?,
            mtime: r.time()?,
            ctime: r.time()?,
            // btime, gen and data_version follow; nothing here uses them.
        }),
        k if k == kind::TSETATTR + 1 => Reply::Setattr,
        k if k == kind::TMKDIR + 1 => Reply::Mkdir(r.qid()?),
        k if k == kind::TUNLINKAT + 1 => Reply::Unlinkat,
        k if k == kind::TRENAMEAT + 1 => Reply::Renameat,
        k if k == kind::TSYMLINK + 1 => Reply::Symlink(r.qid()?),
        k if k == kind::TREADLINK + 1 => Reply::Readlink(r.string()?),
        k if k == kind::TLINK + 1 => Reply::Link,
        k if k == kind::TFSYNC + 1 => Reply::Fsync,
        k if k == kind::TCLUNK + 1 => Reply::Clunk,
        k if k == kind::TSTATFS + 1 => Reply::Statfs(StatFs {
            kind: r.u32()?,
            bsize: r.u32()?,
            blocks: r.u64()?,
            bfree: r.u64()?,
            bavail: r.u64()?,
            files: r.u64()?,
            ffree: r.u64()?,
            fsid: r.u64()?,
            namelen: r.u32()?,
        }),
        other => return Err(CodecError::UnknownType(other)),
    };
    Ok((tag, reply))
}

/// One entry of an `Rreaddir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub qid: Qid,
    /// The offset to pass to the next `Treaddir` to continue after this entry.
    pub offset: u64,
    /// Linux `d_type` (`DT_DIR` 4, `DT_REG` 8, `DT_LNK` 10, ...).
    pub kind: u8,
    pub name: &'a [u8],
}

/// Iterates the entries of an `Rreaddir`'s data; a truncated entry ends it with an error.
pub struct DirEntries<'a> {
    reader: Reader<'a>,
}

impl<'a> DirEntries<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        DirEntries { reader: Reader { bytes: data } }
    }
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = Result<DirEntry<'a>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.bytes.is_empty() {
            return None;
        }
        let mut entry = || {
            Ok(DirEntry {
                qid: self.reader.qid()?,
                offset: self.reader.u64()?,
                kind: self.reader.u8()?,
                name: self.reader.string()?,
            })
        };
        let result = entry();
        if result.is_err() {
            self.reader.bytes = &[];
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn encoded(request: Request<'_>, tag: u16) -> Vec<u8> {
        let mut out = Vec::new();
        request.encode(tag, &mut out).unwrap();
        out
    }

    #[test]
    fn version_frames() {
        let frame = encoded(Request::Version { msize: 8192, version: VERSION }, NOTAG);
        let mut expected = vec![21, 0, 0, 0, 100, 0xff, 0xff, 0x00, 0x20, 0, 0, 8, 0];
        expected.extend_from_slice(b"9P2000.L");
        assert_eq!(frame, expected);
        let mut reply = vec![21, 0, 0, 0, 101, 0xff, 0xff, 0x00, 0x10, 0, 0, 8, 0];
        reply.extend_from_slice(b"9P2000.L");
        assert_eq!(decode(&reply), Ok((NOTAG, Reply::Version { msize: 4096, version: b"9P2000.L" })));
    }

    #[test]
    fn attach_and_walk_frames() {
        let frame = encoded(Request::Attach { fid: Fid(1), afid: NOFID, uname: b"u", aname: b"", n_uname: 0 }, 3);
        assert_eq!(frame, [24, 0, 0, 0, 104, 3, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, b'u', 0, 0, 0, 0, 0, 0]);
        let reply = [20, 0, 0, 0, 105, 3, 0, 0x80, 7, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&reply), Ok((3, Reply::Attach(Qid { kind: 0x80, version: 7, path: 42 }))));

        let names: [&[u8]; 2] = [b"a", b"bc"];
        let frame = encoded(Request::Walk { fid: Fid(1), newfid: Fid(2), names: &names }, 4);
        assert_eq!(frame, [24, 0, 0, 0, 110, 4, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, b'a', 2, 0, b'b', b'c']);
        let mut reply = vec![35, 0, 0, 0, 111, 4, 0, 2, 0];
        reply.extend_from_slice(&[0x80, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        reply.extend_from_slice(&[0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
        let (tag, Reply::Walk(qids)) = decode(&reply).unwrap() else { panic!("not a walk") };
        assert_eq!(tag, 4);
        assert_eq!(qids.len(), 2);
        assert_eq!(qids.get(0), Some(Qid { kind: 0x80, version: 0, path: 5 }));
        assert_eq!(qids.last(), Some(Qid { kind: 0, version: 1, path: 6 }));
        let too_many = [&b"x"[..]; 17];
        let mut out = Vec::new();
        let walk = Request::Walk { fid: Fid(1), newfid: Fid(2), names: &too_many };
        assert_eq!(walk.encode(0, &mut out), Err(CodecError::TooLong));
    }

    #[test]
    fn open_create_frames() {
        assert_eq!(
            encoded(Request::Lopen { fid: Fid(9), flags: 2 }, 1),
            [15, 0, 0, 0, 12, 1, 0, 9, 0, 0, 0, 2, 0, 0, 0]
        );
        let reply = [24, 0, 0, 0, 13, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0];
        assert_eq!(decode(&reply), Ok((1, Reply::Lopen { qid: Qid { kind: 0, version: 0, path: 3 }, iounit: 4096 })));
        let frame = encoded(Request::Lcreate { fid: Fid(2), name: b"f", flags: 0o102, mode: 0o644, gid: 0 }, 5);
        assert_eq!(frame, [26, 0, 0, 0, 14, 5, 0, 2, 0, 0, 0, 1, 0, b'f', 0o102, 0, 0, 0, 0xa4, 1, 0, 0, 0, 0, 0, 0]);
        let reply = [24, 0, 0, 0, 15, 5, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&reply), Ok((5, Reply::Lcreate { qid: Qid { kind: 0, version: 0, path: 4 }, iounit: 0 })));
    }

    #[test]
    fn read_write_frames() {
        let frame = encoded(Request::Read { fid: Fid(3), offset: 0x1_0000_0000, count: 100 }, 2);
        assert_eq!(frame, [23, 0, 0, 0, 116, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0]);
        assert_eq!(decode(&[14, 0, 0, 0, 117, 2, 0, 3, 0, 0, 0, b'a', b'b', b'c']), Ok((2, Reply::Read(b"abc"))));
        let frame = encoded(Request::Write { fid: Fid(3), offset: 8, data: b"hi" }, 2);
        assert_eq!(frame, [25, 0, 0, 0, 118, 2, 0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'h', b'i']);
        assert_eq!(frame.len(), WRITE_OVERHEAD + 2);
        assert_eq!(decode(&[11, 0, 0, 0, 119, 2, 0, 2, 0, 0, 0]), Ok((2, Reply::Write(2))));
        // A count past the message's end is a truncated reply, not an overread.
        assert_eq!(decode(&[14, 0, 0, 0, 117, 2, 0, 9, 0, 0, 0, b'a', b'b', b'c']), Err(CodecError::Truncated));
        assert_eq!(decode(&[20, 0, 0, 0, 117, 2, 0]), Err(CodecError::Truncated));
    }

    #[test]
    fn readdir_frames() {
        let frame = encoded(Request::Readdir { fid: Fid(4), offset: 7, count: 512 }, 1);
        assert_eq!(frame, [23, 0, 0, 0, 40, 1, 0, 4, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]);
        let mut data = Vec::new();
        for (path, offset, kind, name) in [(5u64, 1u64, 4u8, &b"."[..]), (6, 2, 8, b"file")] {
            data.extend_from_slice(&[if kind == 4 { 0x80 } else { 0 }, 0, 0, 0, 0]);
            data.extend_from_slice(&path.to_le_bytes());
            data.extend_from_slice(&offset.to_le_bytes());
            data.push(kind);
            data.extend_from_slice(&(name.len() as u16).to_le_bytes());
            data.extend_from_slice(name);
        }
        let mut reply = vec![0, 0, 0, 0, 41, 1, 0];
        reply.extend_from_slice(&(data.len() as u32).to_le_bytes());
        reply.extend_from_slice(&data);
        let size = reply.len() as u32;
        reply[0..4].copy_from_slice(&size.to_le_bytes());
        let (_, Reply::Readdir(raw)) = decode(&reply).unwrap() else { panic!("not readdir") };
        let entries: Vec<_> = DirEntries::new(raw).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1],
            DirEntry { qid: Qid { kind: 0, version: 0, path: 6 }, offset: 2, kind: 8, name: b"file" }
        );
        let cut: Vec<_> = DirEntries::new(&raw[..raw.len() - 1]).collect();
        assert_eq!(cut.last(), Some(&Err(CodecError::Truncated)));
    }

    #[test]
    fn getattr_setattr_frames() {
        let frame = encoded(Request::Getattr { fid: Fid(1), mask: GETATTR_BASIC }, 6);
        assert_eq!(frame, [19, 0, 0, 0, 24, 6, 0, 1, 0, 0, 0, 0xff, 0x07, 0, 0, 0, 0, 0, 0]);
        let mut reply = vec![0, 0, 0, 0, 25, 6, 0];
        reply.extend_from_slice(&GETATTR_BASIC.to_le_bytes());
        reply.extend_from_slice(&[0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        reply.extend_from_slice(&0o100644u32.to_le_bytes());
        reply.extend_from_slice(&[0; 8]); // uid, gid
        for value in [2u64, 0, 1234, 4096, 8, 10, 11, 20, 21, 30, 31, 0, 0, 0, 0] {
            reply.extend_from_slice(&value.to_le_bytes());
        }
        let size = reply.len() as u32;
        reply[0..4].copy_from_slice(&size.to_le_bytes());
        let (_, Reply::Getattr(attr)) = decode(&reply).unwrap() else { panic!("not getattr") };
        assert_eq!(attr.qid.path, 9);
        assert_eq!((attr.mode, attr.nlink, attr.size, attr.blocks), (0o100644, 2, 1234, 8));
        assert_eq!(
            (attr.atime, attr.mtime, attr.ctime),
            (Time { sec: 10, nsec: 11 }, Time { sec: 20, nsec: 21 }, Time { sec: 30, nsec: 31 })
        );

        let attr = SetAttr { valid: setattr::SIZE, size: 5, mtime: Time { sec: 1, nsec: 2 }, ..SetAttr::default() };
        let frame = encoded(Request::Setattr { fid: Fid(1), attr }, 6);
        let mut expected = vec![67, 0, 0, 0, 26, 6, 0, 1, 0, 0, 0, 8, 0, 0, 0];
        expected.extend_from_slice(&[0; 12]);
        expected.extend_from_slice(&5u64.to_le_bytes());
        expected.extend_from_slice(&[0; 16]);
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&2u64.to_le_bytes());
        assert_eq!(frame, expected);
        assert_eq!(decode(&[7, 0, 0, 0, 27, 6, 0]), Ok((6, Reply::Setattr)));
    }

    #[test]
    fn namespace_frames() {
        let frame = encoded(Request::Mkdir { dfid: Fid(1), name: b"d", mode: 0o755, gid: 0 }, 1);
        assert_eq!(frame, [22, 0, 0, 0, 72, 1, 0, 1, 0, 0, 0, 1, 0, b'd', 0xed, 1, 0, 0, 0, 0, 0, 0]);
        let reply = [20, 0, 0, 0, 73, 1, 0, 0x80, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&reply), Ok((1, Reply::Mkdir(Qid { kind: 0x80, version: 0, path: 8 }))));
        let frame = encoded(Request::Unlinkat { dfid: Fid(1), name: b"d", flags: AT_REMOVEDIR }, 1);
        assert_eq!(frame, [18, 0, 0, 0, 76, 1, 0, 1, 0, 0, 0, 1, 0, b'd', 0, 2, 0, 0]);
        assert_eq!(decode(&[7, 0, 0, 0, 77, 1, 0]), Ok((1, Reply::Unlinkat)));
        let frame =
            encoded(Request::Renameat { old_dfid: Fid(1), old_name: b"a", new_dfid: Fid(2), new_name: b"b" }, 1);
        assert_eq!(frame, [21, 0, 0, 0, 74, 1, 0, 1, 0, 0, 0, 1, 0, b'a', 2, 0, 0, 0, 1, 0, b'b']);
        assert_eq!(decode(&[7, 0, 0, 0, 75, 1, 0]), Ok((1, Reply::Renameat)));
        let frame = encoded(Request::Symlink { dfid: Fid(1), name: b"l", target: b"t/u", gid: 0 }, 1);
        assert_eq!(frame, [23, 0, 0, 0, 16, 1, 0, 1, 0, 0, 0, 1, 0, b'l', 3, 0, b't', b'/', b'u', 0, 0, 0, 0]);
        let reply = [20, 0, 0, 0, 17, 1, 0, 2, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&reply), Ok((1, Reply::Symlink(Qid { kind: 2, version: 0, path: 9 }))));
        assert_eq!(encoded(Request::Readlink { fid: Fid(5) }, 1), [11, 0, 0, 0, 22, 1, 0, 5, 0, 0, 0]);
        assert_eq!(decode(&[12, 0, 0, 0, 23, 1, 0, 3, 0, b't', b'/', b'u']), Ok((1, Reply::Readlink(b"t/u"))));
        let frame = encoded(Request::Link { dfid: Fid(1), fid: Fid(5), name: b"h" }, 1);
        assert_eq!(frame, [18, 0, 0, 0, 70, 1, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1, 0, b'h']);
        assert_eq!(decode(&[7, 0, 0, 0, 71, 1, 0]), Ok((1, Reply::Link)));
    }

    #[test]
    fn fsync_clunk_statfs_and_errors() {
        assert_eq!(
            encoded(Request::Fsync { fid: Fid(5), datasync: true }, 1),
            [15, 0, 0, 0, 50, 1, 0, 5, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(decode(&[7, 0, 0, 0, 51, 1, 0]), Ok((1, Reply::Fsync)));
        assert_eq!(encoded(Request::Clunk { fid: Fid(5) }, 1), [11, 0, 0, 0, 120, 1, 0, 5, 0, 0, 0]);
        assert_eq!(decode(&[7, 0, 0, 0, 121, 1, 0]), Ok((1, Reply::Clunk)));
        assert_eq!(encoded(Request::Statfs { fid: Fid(5) }, 1), [11, 0, 0, 0, 8, 1, 0, 5, 0, 0, 0]);
        let mut reply = vec![67, 0, 0, 0, 9, 1, 0];
        reply.extend_from_slice(&0xef53u32.to_le_bytes());
        reply.extend_from_slice(&4096u32.to_le_bytes());
        for value in [100u64, 50, 40, 1000, 900, 77] {
            reply.extend_from_slice(&value.to_le_bytes());
        }
        reply.extend_from_slice(&255u32.to_le_bytes());
        let (_, Reply::Statfs(stat)) = decode(&reply).unwrap() else { panic!("not statfs") };
        assert_eq!((stat.bsize, stat.blocks, stat.bavail, stat.namelen), (4096, 100, 40, 255));
        assert_eq!(decode(&[11, 0, 0, 0, 7, 1, 0, 2, 0, 0, 0]), Ok((1, Reply::Lerror(2))));
        assert_eq!(decode(&[7, 0, 0, 0, 99, 1, 0]), Err(CodecError::UnknownType(99)));
        let long = vec![0u8; 70_000];
        let mut out = Vec::new();
        assert_eq!(Request::Clunk { fid: Fid(1) }.encode(1, &mut out), Ok(()));
        let mkdir = Request::Mkdir { dfid: Fid(1), name: &long, mode: 0, gid: 0 };
        assert_eq!(mkdir.encode(1, &mut out), Err(CodecError::TooLong));
    }
}
