//! Running code on another stack.
//!
//! `call_on_stack` switches RSP to a caller-provided stack for the duration of one
//! call (wasm runs on its own guarded stacks); `switch_context` saves the callee-saved
//! state of one execution context and resumes another (task switching). Neither
//! allocates: stacks and saved-state slots belong to the caller.

/// Calls `entry(arg)` with RSP at `top`, returning on the original stack.
///
/// # Safety
/// `top` must be the 16-byte aligned top of a mapped, writable stack large enough for
/// `entry`, unused by anything else for the duration of the call.
pub unsafe fn call_on_stack(top: *mut u8, entry: unsafe extern "C" fn(*mut u8), arg: *mut u8) {
    // SAFETY: per the contract; the trampoline restores RSP from RBP (callee-saved,
    // so `entry` preserves it) before returning.
    unsafe { wasmetal_call_on_stack(top, entry, arg) }
}

unsafe extern "C" {
    fn wasmetal_call_on_stack(top: *mut u8, entry: unsafe extern "C" fn(*mut u8), arg: *mut u8);
    fn wasmetal_switch_context(save_sp: *mut usize, resume_sp: usize);
}

core::arch::global_asm!(
    r#"
    .pushsection .text.wasmetal_stack, "ax"
    .global wasmetal_call_on_stack
    .p2align 4
wasmetal_call_on_stack:
    push rbp
    mov rbp, rsp
    mov rsp, rdi
    mov rdi, rdx
    call rsi
    mov rsp, rbp
    pop rbp
    ret

    .global wasmetal_switch_context
    .p2align 4
wasmetal_switch_context:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    .popsection
    "#
);

/// Saves the current context's stack pointer in `*save_sp` and resumes the context
/// whose saved stack pointer is `resume_sp`. Returns when something switches back.
///
/// # Safety
/// `resume_sp` must come from an earlier `switch_context` save (or [`prepare_stack`])
/// of a context that is not running; `save_sp` must stay valid until resumed.
pub unsafe fn switch_context(save_sp: *mut usize, resume_sp: usize) {
    // SAFETY: per the contract.
    unsafe { wasmetal_switch_context(save_sp, resume_sp) }
}

/// Lays out a fresh stack so that the first `switch_context` to the returned stack
/// pointer starts `entry(arg)`. `entry` must never return.
///
/// # Safety
/// `top` must be the 16-byte aligned top of a mapped, writable stack of at least a few
/// KiB that nothing else uses.
pub unsafe fn prepare_stack(top: *mut u8, entry: unsafe extern "C" fn(usize) -> !, arg: usize) -> usize {
    // The frame `switch_context` pops: r15, r14, r13, r12, rbx, rbp, return address.
    // The start shim finds `entry` in r12 and `arg` in r13; after the `ret` RSP is
    // `top`, 16-byte aligned, so the shim's call gives `entry` an ABI-aligned stack.
    let words = top as *mut usize;
    // SAFETY: per the contract the seven words below `top` are ours to write.
    unsafe {
        let frame = words.sub(7);
        frame.add(0).write(0); // r15
        frame.add(1).write(0); // r14
        frame.add(2).write(arg); // r13
        frame.add(3).write(entry as usize); // r12
        frame.add(4).write(0); // rbx
        frame.add(5).write(0); // rbp
        frame.add(6).write(wasmetal_context_start as *const () as usize); // return address
        frame as usize
    }
}

unsafe extern "C" {
    fn wasmetal_context_start();
}

core::arch::global_asm!(
    r#"
    .pushsection .text.wasmetal_stack, "ax"
    .global wasmetal_context_start
    .p2align 4
wasmetal_context_start:
    mov rdi, r13
    call r12
    ud2
    .popsection
    "#
);
