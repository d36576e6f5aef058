//! The list of builtins generated code calls, and their indices and signatures.
//!
//! [`foreach_builtin!`] is the one place a builtin is written down: its name, the Rust
//! function in `vm::libcalls` that implements it, that function's parameters after
//! `vmctx` and its result. From that list this module makes [`Builtin`] (the index into
//! the VMContext's builtins table, with the Cranelift-facing signature) and
//! `vm::libcalls` makes the table itself, checking every function against the list.
//!
//! Every builtin takes the calling instance's `vmctx` first and only integers after it
//! (the kernel is compiled soft-float, so no float may cross this boundary). Builtins
//! that can fail return a status the generated code turns into a trap at the call site.
//!
//! The instrumentation builtins (`NewEpoch` for code that compares epochs, which is code
//! with fuel metering; `OutOfFuel`) sit on the cold path of checks inside every loop, so
//! they preserve every register (Cranelift's `preserve_all` convention, through an
//! assembly entry of `vm::arch`): a call that clobbers nothing leaves the loop's
//! register allocation as if it were not there. They take nothing after `vmctx` and
//! return nothing; their verdict is `VMRuntimeLimits::builtin_status`.

/// Calls `$mac!` with every builtin, in table order.
///
/// `plain` builtins use the System V convention: `Name = function(params) -> result;`
/// with Rust types (`u32` is an `i32`, `u64` an `i64`, `usize` and pointers are
/// pointer-sized). `preserve_all` builtins are entered through the named assembly
/// entry, which saves every register and calls the function with the vmctx.
macro_rules! foreach_builtin {
    ($mac:ident) => {
        $mac! {
            plain {
                /// (memory, delta pages) -> old size in pages, or `u64::MAX` on failure.
                MemoryGrow = memory_grow(memory: u32, delta: u64) -> u64;
                /// (memory, dst, byte, len) -> 0 ok / 1 out of bounds.
                MemoryFill = memory_fill(memory: u32, dst: u64, byte: u32, len: u64) -> u32;
                /// (dst memory, dst, src memory, src, len) -> status.
                MemoryCopy = memory_copy(dst_memory: u32, dst: u64, src_memory: u32, src: u64, len: u64) -> u32;
                /// (memory, data segment, dst, src offset, len) -> status.
                MemoryInit = memory_init(memory: u32, data: u32, dst: u64, src: u32, len: u32) -> u32;
                /// (data segment).
                DataDrop = data_drop(data: u32);
                /// (table, delta, init element) -> old size, or `u64::MAX` on failure.
                TableGrow = table_grow(table: u32, delta: u64, init: usize) -> u64;
                /// (table, dst, element, len) -> status.
                TableFill = table_fill(table: u32, dst: u64, value: usize, len: u64) -> u32;
                /// (dst table, src table, dst, src, len) -> status.
                TableCopy = table_copy(dst_table: u32, src_table: u32, dst: u64, src: u64, len: u64) -> u32;
                /// (table, element segment, dst, src offset, len) -> status.
                TableInit = table_init(table: u32, elem: u32, dst: u64, src: u32, len: u32) -> u32;
                /// (element segment).
                ElemDrop = elem_drop(elem: u32);
                /// (table, index) -> function reference (untagged; null = 0).
                TableGetLazyInit = table_get_lazy_init(table: u32, index: u64) -> *mut $crate::vm::vmcontext::VMFuncRef;
                /// (function index) -> function reference.
                RefFunc = ref_func(func: u32) -> *mut $crate::vm::vmcontext::VMFuncRef;
                /// (a, b, c) as f32 bits -> the bits of `a * b + c` rounded once: the
                /// deterministic relaxed `madd` on a CPU without FMA.
                FmaF32 = fma_f32(a: u32, b: u32, c: u32) -> u32;
                /// The same for f64 bits.
                FmaF64 = fma_f64(a: u64, b: u64, c: u64) -> u64;
            }
            preserve_all {
                /// Status 0 = go on with the new deadline, else trap with `Interrupt`.
                NewEpoch = new_epoch() via wasmetal_new_epoch;
                /// Status 0 = go on (fuel refilled), else trap with `OutOfFuel`.
                OutOfFuel = out_of_fuel() via wasmetal_out_of_fuel;
            }
        }
    };
}
pub(crate) use foreach_builtin;

/// A parameter or result kind of a builtin (the compiler's view of the table).
#[cfg_attr(not(feature = "compiler"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinType {
    I32,
    I64,
    Pointer,
}

/// The builtin kind of a Rust type in a builtin's signature.
#[cfg_attr(not(feature = "compiler"), allow(dead_code))]
pub trait BuiltinAbi {
    const TYPE: BuiltinType;
}

impl BuiltinAbi for u32 {
    const TYPE: BuiltinType = BuiltinType::I32;
}

impl BuiltinAbi for u64 {
    const TYPE: BuiltinType = BuiltinType::I64;
}

impl BuiltinAbi for usize {
    const TYPE: BuiltinType = BuiltinType::Pointer;
}

impl<T> BuiltinAbi for *mut T {
    const TYPE: BuiltinType = BuiltinType::Pointer;
}

macro_rules! declare_builtins {
    (
        plain {
            $($(#[$doc:meta])* $name:ident = $func:ident($($param:ident: $ty:ty),*) $(-> $result:ty)?;)*
        }
        preserve_all {
            $($(#[$pdoc:meta])* $pname:ident = $pfunc:ident() via $entry:ident;)*
        }
    ) => {
        /// A builtin, by its index in the builtins table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Builtin {
            $($(#[$doc])* $name,)*
            $($(#[$pdoc])* $pname,)*
        }

        #[cfg_attr(not(feature = "compiler"), allow(dead_code))]
        impl Builtin {
            /// Every builtin, in table order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$name,)* $(Builtin::$pname,)*];

            /// Parameter kinds after the leading `vmctx`.
            pub fn params(self) -> &'static [BuiltinType] {
                match self {
                    $(Builtin::$name => const { &[$(<$ty as BuiltinAbi>::TYPE),*] },)*
                    $(Builtin::$pname => &[],)*
                }
            }

            /// The result kind (`None` for no result).
            pub fn result(self) -> Option<BuiltinType> {
                match self {
                    $(Builtin::$name => declare_builtins!(@result $($result)?),)*
                    $(Builtin::$pname => None,)*
                }
            }

            /// Whether the builtin preserves every register (and answers through
            /// `VMRuntimeLimits::builtin_status`).
            pub fn preserves_all(self) -> bool {
                match self {
                    $(Builtin::$name => false,)*
                    $(Builtin::$pname => true,)*
                }
            }
        }
    };
    (@result) => { None };
    (@result $result:ty) => { Some(<$result as BuiltinAbi>::TYPE) };
}

foreach_builtin!(declare_builtins);

/// Status a failing builtin returns.
pub const BUILTIN_TRAP: u32 = 1;
