//! Per-ISA code: all of the runtime's assembly and instruction decoding.
//!
//! Every `asm!`/`global_asm!` of the runtime and every instruction it decodes lives
//! here, one module per ISA chosen by `target_arch`; the rest of the runtime calls
//! only the names re-exported here. It owns machine details (registers, stack layout
//! at a call, instruction encodings), never policy: what a trap or an epoch poll
//! means is decided in `vm::traphandler`, `vm::epoch_poll` and the store.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::*;

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "wasmetal-runtime has no code for this ISA. A port adds `runtime/src/vm/arch/<isa>.rs` \
     (and a Cranelift backend in `compiler/isa.rs`) providing what `x86_64.rs` does: \
     `catch` and `trap_landing` (a setjmp that returns once, and the landing that \
     restores it), `preserving_entry!` (the `preserve_all` entry of a builtin), \
     `epoch_poll_entry`, `push_call_frame` and `FRAME_BYTES` (a fault made to look like \
     a call), `poll_load_length` (decoding the epoch poll's byte load), `older_frame` \
     (one step of the frame-pointer walk)"
);
