//! x86-64: the runtime's assembly, stack layout and instruction decoding.
//!
//! - `wasmetal_catch` / `wasmetal_trap_landing`: the setjmp behind `catch_traps` and
//!   the landing a trap resumes at (`vm::traphandler` decides when);
//! - `preserving_entry!`: the `preserve_all` entries of the instrumentation builtins;
//! - `wasmetal_epoch_poll`: the register-saving trip from a faulting epoch poll to
//!   `vm::epoch_poll`'s slow path, with [`push_call_frame`] making the fault look like
//!   a call and [`poll_load_length`] decoding the poll's load;
//! - [`older_frame`]: one step of the frame-pointer walk for backtraces.
//!
//! Only machine details live here; no policy.

use crate::vm::epoch_poll::epoch_poll_slow;

// wasmetal_catch(activation, callback, payload): saves the callee-saved registers on
// the stack and the stack pointer in `[activation]` (its first word), calls
// `callback(payload)` and returns 1. wasmetal_trap_landing, entered with RDI = the
// activation in place of a faulting wasm frame, restores that stack and those
// registers and returns 0 from the same `wasmetal_catch` call.
core::arch::global_asm!(
    r#"
    .pushsection .text.wasmetal_catch, "ax"
    .global wasmetal_catch
    .global wasmetal_trap_landing
    .p2align 4
wasmetal_catch:
    push rbp
    mov rbp, rsp
    push rbx
    push r12
    push r13
    push r14
    push r15
    sub rsp, 8
    mov [rdi], rsp
    mov rdi, rdx
    call rsi
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    mov eax, 1
    ret
    .p2align 4
wasmetal_trap_landing:
    mov rsp, [rdi]
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    xor eax, eax
    ret
    .popsection
    "#
);

unsafe extern "C" {
    fn wasmetal_catch(activation: *mut u8, callback: unsafe extern "C" fn(*mut u8), payload: *mut u8) -> u32;
    fn wasmetal_trap_landing();
}

/// Calls `callback(payload)` so that resuming at [`trap_landing`] with the first
/// argument register set to `activation` returns here; returns whether the callback
/// returned normally (`false`: it was left through the landing).
///
/// # Safety
/// `activation` must point at a writable word (the saved stack pointer) that outlives
/// the call; `callback` may only leave through a normal return or the landing, and
/// frames it abandons must hold nothing with a destructor.
#[inline]
pub(crate) unsafe fn catch(activation: *mut u8, callback: unsafe extern "C" fn(*mut u8), payload: *mut u8) -> bool {
    // SAFETY: per the contract; wasmetal_catch preserves every callee-saved register
    // on either way out, as the C convention it is declared with requires.
    unsafe { wasmetal_catch(activation, callback, payload) == 1 }
}

/// Where a trap resumes (with SP as saved and the activation in the first argument).
pub(crate) fn trap_landing() -> usize {
    wasmetal_trap_landing as *const () as usize
}

/// Assembly text storing xmm0-15 at `[rsp]..[rsp + 256]` (for register-preserving
/// entries; generated code keeps no values above 128 bits).
macro_rules! save_xmm {
    () => {
        "movdqu [rsp + 0], xmm0\nmovdqu [rsp + 16], xmm1\nmovdqu [rsp + 32], xmm2\nmovdqu [rsp + 48], xmm3\n\
         movdqu [rsp + 64], xmm4\nmovdqu [rsp + 80], xmm5\nmovdqu [rsp + 96], xmm6\nmovdqu [rsp + 112], xmm7\n\
         movdqu [rsp + 128], xmm8\nmovdqu [rsp + 144], xmm9\nmovdqu [rsp + 160], xmm10\nmovdqu [rsp + 176], xmm11\n\
         movdqu [rsp + 192], xmm12\nmovdqu [rsp + 208], xmm13\nmovdqu [rsp + 224], xmm14\nmovdqu [rsp + 240], xmm15"
    };
}

/// The inverse of [`save_xmm`].
macro_rules! restore_xmm {
    () => {
        "movdqu xmm0, [rsp + 0]\nmovdqu xmm1, [rsp + 16]\nmovdqu xmm2, [rsp + 32]\nmovdqu xmm3, [rsp + 48]\n\
         movdqu xmm4, [rsp + 64]\nmovdqu xmm5, [rsp + 80]\nmovdqu xmm6, [rsp + 96]\nmovdqu xmm7, [rsp + 112]\n\
         movdqu xmm8, [rsp + 128]\nmovdqu xmm9, [rsp + 144]\nmovdqu xmm10, [rsp + 160]\nmovdqu xmm11, [rsp + 176]\n\
         movdqu xmm12, [rsp + 192]\nmovdqu xmm13, [rsp + 208]\nmovdqu xmm14, [rsp + 224]\nmovdqu xmm15, [rsp + 240]"
    };
}

/// Assembly text pushing the general registers a System V callee may clobber (72 bytes).
macro_rules! push_volatile_gprs {
    () => {
        "push rax\npush rcx\npush rdx\npush rsi\npush rdi\npush r8\npush r9\npush r10\npush r11"
    };
}

/// The inverse of [`push_volatile_gprs`].
macro_rules! pop_volatile_gprs {
    () => {
        "pop r11\npop r10\npop r9\npop r8\npop rdi\npop rsi\npop rdx\npop rcx\npop rax"
    };
}

/// Defines the `preserve_all` entry `$entry` of a builtin: saves every register the
/// System V convention lets a callee clobber (the general ones and xmm0-15; generated
/// code keeps no values above 128 bits), calls `$target` with the vmctx already in
/// RDI, restores, returns. Entered with RSP = 8 mod 16, as after any call.
macro_rules! preserving_entry {
    ($entry:ident, $target:path) => {
        core::arch::global_asm!(
            concat!(".pushsection .text.", stringify!($entry), ", \"ax\""),
            concat!(".global ", stringify!($entry)),
            ".p2align 4",
            concat!(stringify!($entry), ":"),
            "push rbp",
            "mov rbp, rsp",
            $crate::vm::arch::push_volatile_gprs!(),
            "sub rsp, 264",
            $crate::vm::arch::save_xmm!(),
            "cld",
            "call {target}",
            $crate::vm::arch::restore_xmm!(),
            "add rsp, 264",
            $crate::vm::arch::pop_volatile_gprs!(),
            "pop rbp",
            "ret",
            ".popsection",
            target = sym $target,
        );
    };
}
pub(crate) use {pop_volatile_gprs, preserving_entry, push_volatile_gprs, restore_xmm, save_xmm};

// Entered as if called from the poll: [rsp] = where to return, [rsp + 8] = the
// activation. Saves what the System V convention lets a callee clobber (the general
// registers, the flags and xmm0-15; generated code keeps no values above 128 bits),
// aligns the stack, calls `epoch_poll_slow(activation, &return address)`, restores,
// and returns, dropping the activation word.
core::arch::global_asm!(
    ".pushsection .text.wasmetal_epoch_poll, \"ax\"",
    ".global wasmetal_epoch_poll",
    ".p2align 4",
    "wasmetal_epoch_poll:",
    "push rbp",
    "mov rbp, rsp",
    "pushfq",
    push_volatile_gprs!(),
    "and rsp, -16",
    "sub rsp, 256",
    save_xmm!(),
    "mov rdi, [rbp + 16]",
    "lea rsi, [rbp + 8]",
    "cld",
    "call {slow}",
    restore_xmm!(),
    "lea rsp, [rbp - 80]",
    pop_volatile_gprs!(),
    "popfq",
    "pop rbp",
    "ret 8",
    ".popsection",
    slow = sym epoch_poll_slow,
);

unsafe extern "C" {
    fn wasmetal_epoch_poll();
}

/// Where the trap handler sends a faulting poll (after [`push_call_frame`]).
pub(crate) fn epoch_poll_entry() -> usize {
    wasmetal_epoch_poll as *const () as usize
}

/// Bytes [`push_call_frame`] writes below the faulting stack pointer.
pub(crate) const FRAME_BYTES: usize = 16;

/// Makes the stack at `sp` look like a call returning to `pc` that carries `payload`
/// (as `wasmetal_epoch_poll` expects): writes the two words below `sp` and returns the
/// new stack pointer.
///
/// # Safety
/// `sp` must be the stack pointer of wasm code stopped at a fault, with at least
/// [`FRAME_BYTES`] of its own stack free below it (generated code keeps nothing
/// below its stack pointer, and its stack limit leaves room for builtin calls).
pub(crate) unsafe fn push_call_frame(sp: usize, pc: usize, payload: usize) -> usize {
    let new_sp = sp - FRAME_BYTES;
    // SAFETY: per the contract, the two words are free stack.
    unsafe {
        (new_sp as *mut usize).write(pc);
        ((new_sp + 8) as *mut usize).write(payload);
    }
    new_sp
}

/// One step of the frame-pointer walk: the caller's frame pointer and the return
/// address into it, saved by the frame at `fp` (`[fp]` and `[fp + 8]`).
///
/// # Safety
/// `fp` must be the frame pointer of a live frame that keeps one (generated code
/// always does).
pub(crate) unsafe fn older_frame(fp: usize) -> (usize, usize) {
    // SAFETY: per the contract, the frame record's two words are readable.
    unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) }
}

/// The length of the poll's byte load at the start of `code`: `movzx r, byte [base]`
/// (`[REX] 0F B6 modrm [SIB] [disp]`), the only form Cranelift gives a one-byte atomic
/// load of a bare address. `None` for anything else (the fault is then a plain trap).
pub(crate) fn poll_load_length(code: &[u8]) -> Option<usize> {
    let mut at = usize::from(code.first()? & 0xF0 == 0x40);
    if code.get(at..at + 2)? != [0x0F, 0xB6] {
        return None;
    }
    at += 2;
    let modrm = *code.get(at)?;
    at += 1;
    let (mode, rm) = (modrm >> 6, modrm & 7);
    let sib_base = if rm == 4 && mode != 3 {
        at += 1;
        Some(code.get(at - 1)? & 7)
    } else {
        None
    };
    let displacement = match mode {
        0 if rm == 5 || sib_base == Some(5) => 4,
        0 => 0,
        1 => 1,
        2 => 4,
        _ => return None,
    };
    let length = at + displacement;
    (length <= code.len()).then_some(length)
}

#[cfg(test)]
mod tests {
    use super::poll_load_length;
    use crate::prelude::*;

    #[test]
    fn byte_loads_of_every_base_register_have_their_length() {
        // movzx rdi, byte [rdi]; movzx eax, byte [rax]; movzx r8, byte [r13 + 0];
        // movzx rcx, byte [r12]; movzx rdx, byte [rsp + 0x10]
        assert_eq!(poll_load_length(&[0x48, 0x0F, 0xB6, 0x3F, 0xC3]), Some(4));
        assert_eq!(poll_load_length(&[0x0F, 0xB6, 0x00]), Some(3));
        assert_eq!(poll_load_length(&[0x4D, 0x0F, 0xB6, 0x45, 0x00]), Some(5));
        assert_eq!(poll_load_length(&[0x49, 0x0F, 0xB6, 0x0C, 0x24]), Some(5));
        assert_eq!(poll_load_length(&[0x48, 0x0F, 0xB6, 0x54, 0x24, 0x10]), Some(6));
        // Not a byte load: ud2, a register-to-register movzx, truncated input.
        assert_eq!(poll_load_length(&[0x0F, 0x0B]), None);
        assert_eq!(poll_load_length(&[0x0F, 0xB6, 0xC0]), None);
        assert_eq!(poll_load_length(&[0x48, 0x0F, 0xB6]), None);
    }

    /// Functions whose loops keep `live` values busy, so the register allocator puts the
    /// poll's address in many different registers.
    fn pressure_module() -> String {
        let mut wat = String::from("(module\n");
        for live in 1..=14 {
            let locals: String = (0..live).map(|i| format!(" (local $v{i} i64)")).collect();
            let updates: String = (0..live)
                .map(|i| {
                    format!(
                        " (local.set $v{i} (i64.add (local.get $v{i}) (i64.mul (local.get $v{}) (i64.const {}))))",
                        (i + 1) % live,
                        i + 3
                    )
                })
                .collect();
            let sum: String =
                (1..live).fold(String::from("(local.get $v0)"), |acc, i| format!("(i64.xor {acc} (local.get $v{i}))"));
            wat.push_str(&format!(
                "(func (export \"f{live}\") (param $n i64) (result i64) (local $i i64){locals}\n\
                 (loop $outer (loop $inner{updates} (local.set $i (i64.add (local.get $i) (i64.const 1)))\n\
                 (br_if $inner (i64.lt_u (i64.rem_u (local.get $i) (i64.const 7)) (i64.const 5))))\n\
                 (br_if $outer (i64.lt_u (local.get $i) (local.get $n))))\n{sum})\n"
            ));
        }
        wat.push(')');
        wat
    }

    #[test]
    fn every_poll_cranelift_emits_decodes() {
        let mut config = crate::Config::new();
        config.epoch_interruption(true);
        let engine = crate::Engine::new(&config).unwrap();
        let module = crate::Module::new(&engine, wat::parse_str(pressure_module()).unwrap()).unwrap();
        let info = module.inner.code.info();
        let polls: Vec<u32> = info
            .traps
            .iter()
            .filter(|site| site.code == crate::trap::TrapCode::Interrupt)
            .map(|site| site.offset)
            .collect();
        // Two loop headers and the entry per function.
        assert!(polls.len() >= 14 * 3, "{} polls", polls.len());
        let mut bases = Vec::new();
        for offset in polls {
            let at = info.start + offset as usize;
            // SAFETY: the offset lies in the module's code, which stays mapped while
            // `module` lives; the slice stops at the code's end.
            let code = unsafe { core::slice::from_raw_parts(at as *const u8, (info.end - at).min(16)) };
            let length = poll_load_length(code);
            assert!(length.is_some(), "poll at +{offset:#x} does not decode: {:02x?}", &code[..code.len().min(8)]);
            let rex_b = code[0] & 0xF0 == 0x40 && code[0] & 1 != 0;
            let modrm = code[usize::from(code[0] & 0xF0 == 0x40) + 2];
            bases.push(usize::from(rex_b) * 8 + usize::from(modrm & 7));
        }
        bases.sort_unstable();
        bases.dedup();
        assert!(bases.len() >= 3, "polls only ever used base registers {bases:?}: the test exercises too little");
    }
}
