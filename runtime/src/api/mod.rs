//! The embedding API, close to Wasmtime's: Engine, Module, Store, Instance, Linker,
//! Func, Memory, Table, Global, Val.

pub mod config;
pub mod engine;
pub mod externals;
pub mod func;
pub mod instance;
pub mod linker;
pub mod module;
pub mod store;
pub mod values;
