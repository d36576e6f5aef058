//! The builtin functions generated code calls through the VMContext's builtins
//! table: their indices and signatures. The implementations live in `vm::libcalls`.
//!
//! Every builtin takes the calling instance's `vmctx` first and only integers after it
//! (the kernel is compiled soft-float, so no float may cross this boundary). Builtins
//! that can fail return a status the generated code turns into a trap at the call site.
//!
//! The instrumentation builtins (`NewEpoch` for code that compares epochs, which is code
//! with fuel metering; `OutOfFuel`) sit on the cold path of checks inside every loop, so
//! they preserve every register (Cranelift's `preserve_all`
//! convention, through the trampolines in `vm::libcalls`): a call that clobbers nothing
//! leaves the loop's register allocation as if it were not there. They return nothing;
//! their verdict is `VMRuntimeLimits::builtin_status`.

/// A parameter or result kind of a builtin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinType {
    I32,
    I64,
    Pointer,
}

macro_rules! builtins {
    ($($name:ident ($($param:ident),*) -> $result:ident;)*) => {
        /// A builtin, by its index in the builtins table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Builtin {
            $($name,)*
        }

        impl Builtin {
            /// Every builtin, in table order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$name,)*];

            /// Parameter kinds after the leading `vmctx`.
            pub fn params(self) -> &'static [BuiltinType] {
                match self {
                    $(Builtin::$name => &[$(BuiltinType::$param),*],)*
                }
            }

            /// The result kind (`None` for no result).
            pub fn result(self) -> Option<BuiltinType> {
                match self {
                    $(Builtin::$name => builtins!(@result $result),)*
                }
            }
        }
    };
    (@result Void) => { None };
    (@result $t:ident) => { Some(BuiltinType::$t) };
}

builtins! {
    // (memory, delta pages) -> old size in pages, or u64::MAX on failure
    MemoryGrow(I32, I64) -> I64;
    // (memory, dst, byte, len) -> 0 ok / 1 out of bounds
    MemoryFill(I32, I64, I32, I64) -> I32;
    // (dst memory, dst, src memory, src, len) -> status
    MemoryCopy(I32, I64, I32, I64, I64) -> I32;
    // (memory, data segment, dst, src offset, len) -> status
    MemoryInit(I32, I32, I64, I32, I32) -> I32;
    // (data segment)
    DataDrop(I32) -> Void;
    // (table, delta, init element) -> old size, or u64::MAX on failure
    TableGrow(I32, I64, Pointer) -> I64;
    // (table, dst, element, len) -> status
    TableFill(I32, I64, Pointer, I64) -> I32;
    // (dst table, src table, dst, src, len) -> status
    TableCopy(I32, I32, I64, I64, I64) -> I32;
    // (table, element segment, dst, src offset, len) -> status
    TableInit(I32, I32, I64, I32, I32) -> I32;
    // (element segment)
    ElemDrop(I32) -> Void;
    // (table, index) -> function reference (untagged; null = 0)
    TableGetLazyInit(I32, I64) -> Pointer;
    // (function index) -> function reference
    RefFunc(I32) -> Pointer;
    // () preserving all registers; status 0 = go on with the new deadline, else trap
    // with Interrupt
    NewEpoch() -> Void;
    // () preserving all registers; status 0 = go on (fuel refilled), else trap with
    // OutOfFuel
    OutOfFuel() -> Void;
}

impl Builtin {
    /// Whether the builtin preserves every register (and answers through
    /// `VMRuntimeLimits::builtin_status`).
    pub fn preserves_all(self) -> bool {
        matches!(self, Builtin::NewEpoch | Builtin::OutOfFuel)
    }
}

/// Status a failing builtin returns.
pub const BUILTIN_TRAP: u32 = 1;
