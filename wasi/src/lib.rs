//! wasmetal-wasi: WASI preview1 (`wasi_snapshot_preview1`) for wasmetal-runtime.
//!
//! `no_std` + `alloc`, so the kernel can embed it. The embedder builds a [`WasiCtx`]
//! (arguments, environment, stdin bytes, preopened directories filled from in-memory
//! file lists, and a [`System`] for clocks, randomness, console output and sleeping),
//! puts it in its store's data, and calls [`add_to_linker`]. Files live in an
//! in-memory tree: the guest may change it, the host's files are never touched.
//!
//! ```ignore
//! let ctx = WasiCtx::builder(Box::new(MySystem))
//!     .args(["prog", "x"])
//!     .env("HOME", "/data")
//!     .preopen_dir("/data", [("input.txt", b"hi".to_vec())])
//!     .build()?;
//! let mut linker = Linker::new(&engine);
//! wasmetal_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx)?;
//! let mut store = Store::new(&engine, ctx);
//! let instance = linker.instantiate(&mut store, &module)?;
//! let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
//! match start.call(&mut store, ()) {
//!     Ok(()) => 0,
//!     Err(error) => error.exit_status().unwrap_or(/* a trap */ 134),
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
pub mod system;

pub use abi::MODULE;
pub use calls::add_to_linker;
pub use ctx::{BuildError, DEFAULT_MAX_FILE_SIZE, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use system::System;
