//! Compiling a module inside the kernel without betting the kernel on it.
//!
//! Cranelift allocates from the kernel heap, and a failed allocation there is a kernel
//! panic: it cannot be handed back to one workload. So a module is only compiled when
//! the heap has room for its measured worst case; otherwise the workload gets an error
//! that says how much memory the VM needs. It must not compile anything itself beyond
//! calling the runtime.

use core::fmt;

use wasmetal_runtime::{Engine, Error, Module};

use crate::memory::heap::HEAP;

/// Peak heap per byte of function bodies while compiling. Measured with `wasmetal
/// bench kernel --module`: spidermonkey.wasm (4.1 MB, mostly code) peaks at 78 MiB,
/// the generated 30 000-function module (763 KiB) at 8.6 MiB; 32x its code leaves
/// headroom on both.
const HEAP_PER_CODE_BYTE: usize = 32;
/// Other sections are parsed into tables and copies about their own size.
const HEAP_PER_OTHER_BYTE: usize = 2;
/// Fixed part of the estimate: engine tables, the ISA, small modules' working set.
const HEAP_BASE: usize = 8 << 20;

/// Why a module was not compiled.
#[derive(Debug)]
pub enum CompileError {
    /// The kernel heap may not hold the compiler's working set for this module.
    HeapTooSmall { wasm_bytes: usize, needed: usize, free: usize },
    /// The runtime rejected the module (malformed, invalid, unsupported).
    Module(Error),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::HeapTooSmall { wasm_bytes, needed, free } => write!(
                f,
                "compiling {} KiB of wasm needs about {} MiB of kernel heap, {} MiB are free; \
                 give the VM more memory (--memory: the heap is a quarter of it)",
                wasm_bytes >> 10,
                needed >> 20,
                free >> 20
            ),
            CompileError::Module(error) => write!(f, "{error}"),
        }
    }
}

/// Heap the compiler is expected to need for module `bytes` (a malformed module gets
/// the estimate of its prefix; the runtime reports what is wrong with it).
fn heap_estimate(bytes: &[u8]) -> usize {
    let mut code = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::CodeSectionStart { size, .. }) => code += size as usize,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let other = bytes.len().saturating_sub(code);
    code.saturating_mul(HEAP_PER_CODE_BYTE)
        .saturating_add(other.saturating_mul(HEAP_PER_OTHER_BYTE))
        .saturating_add(HEAP_BASE)
}

/// Compiles `bytes` when the kernel heap can hold the compilation.
pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Module, CompileError> {
    let needed = heap_estimate(bytes);
    let free = HEAP.stats().free;
    if needed > free {
        return Err(CompileError::HeapTooSmall { wasm_bytes: bytes.len(), needed, free });
    }
    Module::new(engine, bytes).map_err(CompileError::Module)
}
