//! wasmetal-wasi: WASI preview1 (`wasi_snapshot_preview1`) for wasmetal-runtime.
//!
//! `no_std` + `alloc`, so the kernel can embed it. The embedder builds a [`WasiCtx`]
//! (arguments, environment, stdin bytes, preopened directories, and a [`System`] for
//! clocks, randomness, console output and sleeping), puts it in its store's data, and
//! calls [`add_to_linker`] (which also defines preview0's `wasi_unstable`). A preopen
//! is either filled from an in-memory file list (the guest may change that tree, the
//! embedder's copies are never touched) or the root of any [`fs::FileSystem`] backend
//! the embedder gives (the kernel's host directories over 9P).
//!
//! ```no_run
//! use wasmetal_runtime::{Engine, Error, Linker, Module, Store};
//! use wasmetal_wasi::{System, WasiCtx};
//!
//! struct MySystem;
//! impl System for MySystem {
//!     fn monotonic_ns(&mut self) -> u64 { 0 }
//!     fn realtime_ns(&mut self) -> u64 { 0 }
//!     fn random_bytes(&mut self, buf: &mut [u8]) { buf.fill(4) }
//!     fn write_stdout(&mut self, _bytes: &[u8]) -> Result<(), wasmetal_wasi::ConsoleError> { Ok(()) }
//!     fn write_stderr(&mut self, _bytes: &[u8]) -> Result<(), wasmetal_wasi::ConsoleError> { Ok(()) }
//!     fn sleep_until(&mut self, _monotonic_ns: u64) {}
//! }
//!
//! fn run(engine: &Engine, wasm: &[u8]) -> Result<i32, Error> {
//!     let ctx = WasiCtx::builder(Box::new(MySystem))
//!         .args(["prog", "x"])
//!         .env("HOME", "/data")
//!         .preopen_dir("/data", [("input.txt", b"hi".to_vec())])
//!         .build()
//!         .map_err(Error::msg)?;
//!     let module = Module::new(engine, wasm)?;
//!     let mut linker = Linker::new(engine);
//!     wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx)?;
//!     let mut store = Store::new(engine, ctx);
//!     let instance = linker.instantiate(&mut store, &module)?;
//!     let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
//!     match start.call(&mut store, ()) {
//!         Ok(()) => Ok(0),
//!         Err(error) => error.exit_status().ok_or(error), // `None`: a trap or host error
//!     }
//! }
//! ```
#![no_std]

extern crate alloc;

pub mod abi;
pub mod calls;
pub mod ctx;
pub mod errno;
pub mod fd_table;
pub mod fs;
pub mod guest_memory;
#[cfg(feature = "std")]
pub mod host;
pub mod sockets;
pub mod system;

pub use abi::MODULE;
pub use calls::add_to_linker;
pub use ctx::{BuildError, DEFAULT_MAX_FILE_SIZE, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
#[cfg(feature = "std")]
pub use host::{HostSystem, Output};
pub use sockets::{Readiness, Shutdown, SocketHandle, Sockets};
pub use system::{ConsoleError, System};
