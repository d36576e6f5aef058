//! Linux errno values (what a 9P2000.L server reports) as WASI errnos.

use wasmetal_devices::p9::session::SessionError;
use wasmetal_wasi::Errno;

/// The WASI errno for a failed 9P request; transport trouble is `EIO`.
pub fn to_wasi(error: SessionError) -> Errno {
    let SessionError::Server(code) = error else { return Errno::Io };
    match code {
        1 => Errno::Perm,
        2 => Errno::NoEnt,
        5 => Errno::Io,
        9 => Errno::BadF,
        11 => Errno::Again,
        12 => Errno::NoMem,
        13 => Errno::Access,
        16 => Errno::Busy,
        17 => Errno::Exist,
        18 => Errno::XDev,
        20 => Errno::NotDir,
        21 => Errno::IsDir,
        22 => Errno::Inval,
        24 => Errno::MFile,
        26 => Errno::TxtBsy,
        27 => Errno::FBig,
        28 => Errno::NoSpc,
        29 => Errno::SPipe,
        30 => Errno::RoFs,
        31 => Errno::MLink,
        36 => Errno::NameTooLong,
        39 => Errno::NotEmpty,
        40 => Errno::Loop,
        75 => Errno::Overflow,
        84 => Errno::IlSeq,
        95 => Errno::NotSup,
        122 => Errno::DQuot,
        _ => Errno::Io,
    }
}
