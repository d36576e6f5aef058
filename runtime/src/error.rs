//! The runtime's error type: what went wrong, in words a user can act on.
//!
//! One boxed `ErrorKind` keeps `Result<T, Error>` a single pointer wide. A guest can
//! reach many of these (malformed modules, traps, exhausted limits), so none of them
//! is ever a panic.

use core::fmt;

use crate::prelude::*;
use crate::trap::{Trap, TrapCode};

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The module is malformed or invalid: the validator's message and byte offset.
    Validation { message: String, offset: usize },
    /// The module uses a feature this runtime does not implement.
    Unsupported(String),
    /// Cranelift rejected a function (a bug in the translator, or an implementation limit).
    Compile { func_index: u32, message: String },
    /// An import could not be satisfied.
    Link(String),
    /// Execution trapped.
    Trap(Trap),
    /// A host function failed; `message` is its error.
    Host(String),
    /// A memory, table or code allocation failed.
    Resource(String),
    /// A call had the wrong number or types of arguments, or a handle of another store.
    Usage(String),
    /// The program asked to exit with this status (WASI `proc_exit`).
    Exit(i32),
    /// A serialized module was refused (`Module::deserialize`).
    Artifact(crate::artifact::ArtifactError),
}

/// The runtime's error.
pub struct Error {
    kind: Box<ErrorKind>,
}

/// Shorthand for `core::result::Result<T, Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// Wraps a kind.
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind: Box::new(kind) }
    }

    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The trap, when this error is one.
    pub fn as_trap(&self) -> Option<&Trap> {
        match &*self.kind {
            ErrorKind::Trap(trap) => Some(trap),
            _ => None,
        }
    }

    /// The trap code, when this error is a trap.
    pub fn trap_code(&self) -> Option<TrapCode> {
        self.as_trap().map(|trap| trap.code)
    }

    /// An error raised by a host function (also usable by embedders).
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Host(message.to_string()))
    }

    /// The program exits with `status` (raised by a host function such as `proc_exit`;
    /// it unwinds the wasm stack like a trap and reaches the embedder as this error).
    pub fn exit(status: i32) -> Self {
        Self::new(ErrorKind::Exit(status))
    }

    /// The exit status, when this error is a requested exit.
    pub fn exit_status(&self) -> Option<i32> {
        match &*self.kind {
            ErrorKind::Exit(status) => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn link(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Link(message.to_string()))
    }

    pub(crate) fn usage(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Usage(message.to_string()))
    }

    pub(crate) fn resource(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Resource(message.to_string()))
    }

    pub(crate) fn unsupported(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Unsupported(message.to_string()))
    }
}

impl From<crate::artifact::ArtifactError> for Error {
    fn from(error: crate::artifact::ArtifactError) -> Self {
        Self::new(ErrorKind::Artifact(error))
    }
}

impl From<Trap> for Error {
    fn from(trap: Trap) -> Self {
        Self::new(ErrorKind::Trap(trap))
    }
}

impl From<TrapCode> for Error {
    fn from(code: TrapCode) -> Self {
        Self::new(ErrorKind::Trap(Trap::new(code)))
    }
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(error: wasmparser::BinaryReaderError) -> Self {
        Self::new(ErrorKind::Validation { message: error.message().to_string(), offset: error.offset() })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            ErrorKind::Validation { message, offset } => write!(f, "invalid module: {message} (at offset {offset:#x})"),
            ErrorKind::Unsupported(message) => write!(f, "unsupported: {message}"),
            ErrorKind::Compile { func_index, message } => {
                write!(f, "compiling function {func_index} failed: {message}")
            }
            ErrorKind::Link(message) => write!(f, "link error: {message}"),
            ErrorKind::Trap(trap) => trap.fmt(f),
            ErrorKind::Host(message) => f.write_str(message),
            ErrorKind::Resource(message) => write!(f, "resource limit: {message}"),
            ErrorKind::Usage(message) => write!(f, "{message}"),
            ErrorKind::Exit(status) => write!(f, "exited with status {status}"),
            ErrorKind::Artifact(error) => error.fmt(f),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer() {
        assert_eq!(core::mem::size_of::<Error>(), core::mem::size_of::<usize>());
        assert_eq!(core::mem::size_of::<Result<()>>(), core::mem::size_of::<usize>());
    }

    #[test]
    fn trap_codes_round_trip_their_encoding() {
        for code in TrapCode::ALL {
            assert_eq!(TrapCode::from_u8(code.to_u8()), Some(code));
        }
        assert_eq!(TrapCode::from_u8(0), None);
    }
}
