//! Traps: why wasm execution stopped abnormally, and where (a wasm backtrace).

use core::fmt;

use crate::prelude::*;

/// The reason for a trap, named as the WebAssembly spec's test suite names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapCode {
    /// The call stack was exhausted (too deep recursion).
    StackOverflow,
    /// A load or store outside a memory's accessible bytes.
    MemoryOutOfBounds,
    /// A table access outside the table's bounds.
    TableOutOfBounds,
    /// `call_indirect` with an index outside the table.
    UndefinedElement,
    /// `call_indirect` to a null table element.
    UninitializedElement,
    /// `call_indirect` to a function of another type.
    BadSignature,
    /// Signed division overflow (`INT_MIN / -1`) or an unrepresentable float-to-int.
    IntegerOverflow,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Float-to-int conversion of NaN.
    BadConversionToInteger,
    /// The `unreachable` instruction.
    UnreachableCodeReached,
    /// A null reference was dereferenced.
    NullReference,
    /// The epoch deadline passed (interruption).
    Interrupt,
    /// The store ran out of fuel.
    OutOfFuel,
    /// A host function returned an error (the error is attached to the `Error`).
    HostError,
}

impl TrapCode {
    /// All codes, in their encoding order (see [`TrapCode::to_u8`]).
    pub const ALL: [TrapCode; 14] = [
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds,
        TrapCode::UndefinedElement,
        TrapCode::UninitializedElement,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::UnreachableCodeReached,
        TrapCode::NullReference,
        TrapCode::Interrupt,
        TrapCode::OutOfFuel,
        TrapCode::HostError,
    ];

    /// A compact encoding (1-based) for trap tables.
    pub fn to_u8(self) -> u8 {
        Self::ALL.iter().position(|&code| code == self).expect("every code is in ALL") as u8 + 1
    }

    /// Inverse of [`to_u8`](Self::to_u8).
    pub fn from_u8(byte: u8) -> Option<TrapCode> {
        Self::ALL.get(usize::from(byte).checked_sub(1)?).copied()
    }

    /// The spec test suite's wording for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::UndefinedElement => "undefined element",
            TrapCode::UninitializedElement => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::UnreachableCodeReached => "unreachable",
            TrapCode::NullReference => "null reference",
            TrapCode::Interrupt => "interrupt",
            TrapCode::OutOfFuel => "all fuel consumed by WebAssembly",
            TrapCode::HostError => "host function error",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// One frame of a wasm backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The function's index in its module's function space.
    pub func_index: u32,
    /// The function's name from the name section, if any.
    pub func_name: Option<String>,
    /// The module's name (name section), if any.
    pub module_name: Option<String>,
    /// Offset of the instruction within the function's machine code.
    pub code_offset: u32,
}

impl fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(module) = &self.module_name {
            write!(f, "{module}!")?;
        }
        match &self.func_name {
            Some(name) => write!(f, "{name}")?,
            None => write!(f, "<wasm function {}>", self.func_index)?,
        }
        write!(f, " (+{:#x})", self.code_offset)
    }
}

/// The wasm frames active at a trap, innermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasmBacktrace {
    pub frames: Vec<FrameInfo>,
}

impl fmt::Display for WasmBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, frame) in self.frames.iter().enumerate() {
            writeln!(f, "  {index:>3}: {frame}")?;
        }
        Ok(())
    }
}

/// A trap: its code and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    pub code: TrapCode,
    pub backtrace: WasmBacktrace,
}

impl Trap {
    /// A trap without location (raised by the runtime outside wasm code).
    pub fn new(code: TrapCode) -> Self {
        Self { code, backtrace: WasmBacktrace::default() }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasm trap: {}", self.code)?;
        if !self.backtrace.frames.is_empty() {
            write!(f, "\nwasm backtrace:\n{}", self.backtrace)?;
        }
        Ok(())
    }
}
