//! wasmetal-runtime: a `no_std` WebAssembly runtime that compiles with Cranelift.
//!
//! Built for bare-metal kernels (implement [`platform::Platform`]) and for the host
//! (feature `std`: mmap memory and signal-based traps). The API follows Wasmtime's:
//! [`Engine`], [`Module`], [`Store`], [`Instance`], [`Linker`], [`Func`].
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod api;
pub mod artifact;
#[cfg(feature = "compiler")]
pub mod compiler;
pub mod cpu;
pub mod error;
pub mod memory;
pub mod module;
pub mod platform;
pub mod prelude;
pub mod trap;
pub mod types;
pub(crate) mod vm;

pub use api::config::{Config, InstanceAllocationStrategy, OptLevel, PoolingConfig};
pub use api::engine::Engine;
pub use api::externals::{Extern, Global, Memory, Table};
pub use api::func::{Func, IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};
pub use api::instance::Instance;
pub use api::linker::Linker;
pub use api::module::{ExportType, ImportType, Module};
pub use api::store::{AsContext, AsContextMut, Caller, Store, StoreContext, StoreContextMut};
pub use api::values::{ExternRef, V128, Val};
pub use cpu::CpuFeatures;
pub use error::{Error, ErrorKind, Result};
pub use trap::{FrameInfo, Trap, TrapCode, WasmBacktrace};
pub use types::*;
pub use vm::epoch::EpochClock;
pub use vm::store::UpdateDeadline;
