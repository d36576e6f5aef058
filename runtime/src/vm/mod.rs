//! The runtime's machinery under the API: `VMContext` layout, builtins, instances,
//! memories, tables, host functions, code memory, trap handling.

mod arch;
pub mod builtin;
pub mod bulk_memory;
pub mod code_memory;
pub mod epoch;
pub mod epoch_poll;
pub mod host_func;
pub mod instance;
pub mod invoke;
pub mod libcalls;
pub mod memory;
pub mod memory_image;
pub mod offsets;
pub mod pool;
pub mod store;
pub mod table;
pub mod traphandler;
pub mod type_registry;
pub mod vmcontext;
