//! WASI preview1 error numbers (`errno` in the witx spec), as a typed enum.
//!
//! Every call returns one of these to the guest as a 16-bit code (widened to i32);
//! `Errno::Success` (0) is never used as an error value inside the crate: calls
//! return `Result<(), Errno>` and success becomes 0 at the boundary.

use core::fmt;

/// A preview1 error code; the discriminant is the number the guest sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Errno {
    Success = 0,
    TooBig = 1,
    Access = 2,
    AddrInUse = 3,
    AddrNotAvail = 4,
    AfNoSupport = 5,
    Again = 6,
    Already = 7,
    BadF = 8,
    BadMsg = 9,
    Busy = 10,
    Canceled = 11,
    Child = 12,
    ConnAborted = 13,
    ConnRefused = 14,
    ConnReset = 15,
    DeadLk = 16,
    DestAddrReq = 17,
    Dom = 18,
    DQuot = 19,
    Exist = 20,
    Fault = 21,
    FBig = 22,
    HostUnreach = 23,
    IdRm = 24,
    IlSeq = 25,
    InProgress = 26,
    Intr = 27,
    Inval = 28,
    Io = 29,
    IsConn = 30,
    IsDir = 31,
    Loop = 32,
    MFile = 33,
    MLink = 34,
    MsgSize = 35,
    Multihop = 36,
    NameTooLong = 37,
    NetDown = 38,
    NetReset = 39,
    NetUnreach = 40,
    NFile = 41,
    NoBufS = 42,
    NoDev = 43,
    NoEnt = 44,
    NoExec = 45,
    NoLck = 46,
    NoLink = 47,
    NoMem = 48,
    NoMsg = 49,
    NoProtoOpt = 50,
    NoSpc = 51,
    NoSys = 52,
    NotConn = 53,
    NotDir = 54,
    NotEmpty = 55,
    NotRecoverable = 56,
    NotSock = 57,
    NotSup = 58,
    NoTty = 59,
    NxIo = 60,
    Overflow = 61,
    OwnerDead = 62,
    Perm = 63,
    Pipe = 64,
    Proto = 65,
    ProtoNoSupport = 66,
    ProtoType = 67,
    Range = 68,
    RoFs = 69,
    SPipe = 70,
    Srch = 71,
    Stale = 72,
    TimedOut = 73,
    TxtBsy = 74,
    XDev = 75,
    NotCapable = 76,
}

impl Errno {
    /// The number the guest sees.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The i32 a call returns: 0 for `Ok`, the error's number otherwise.
    pub fn result_code(result: Result<(), Errno>) -> i32 {
        match result {
            Ok(()) => 0,
            Err(errno) => i32::from(errno.code()),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} (errno {})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn numbers_match_the_witx_spec() {
        let expected = [
            (Errno::Success, 0),
            (Errno::TooBig, 1),
            (Errno::Access, 2),
            (Errno::BadF, 8),
            (Errno::Exist, 20),
            (Errno::Fault, 21),
            (Errno::Inval, 28),
            (Errno::Io, 29),
            (Errno::IsDir, 31),
            (Errno::NoEnt, 44),
            (Errno::NoSys, 52),
            (Errno::NotDir, 54),
            (Errno::NotEmpty, 55),
            (Errno::NotSup, 58),
            (Errno::Perm, 63),
            (Errno::SPipe, 70),
            (Errno::NotCapable, 76),
        ];
        for (errno, code) in expected {
            assert_eq!(errno.code(), code, "{errno:?}");
        }
        assert_eq!(Errno::result_code(Ok(())), 0);
        assert_eq!(Errno::result_code(Err(Errno::Fault)), 21);
    }
}
