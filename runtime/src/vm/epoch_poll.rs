//! From a faulting epoch poll to the store's deadline policy, and back.
//!
//! An armed poll (see `vm::epoch`) faults in the middle of a wasm function, where
//! every register may hold a live value. The trap handler does not decide there: it
//! makes the fault look like a call to `wasmetal_epoch_poll` returning just past the
//! faulting load (return address and activation pushed on the wasm stack, nothing
//! else touched) and resumes. That entry saves every register and the flags, runs the
//! store's policy as ordinary Rust on the wasm stack (so a yield may switch stacks),
//! restores everything and returns:
//!
//! - deadline moved on (or the arm was spurious): to the instruction after the poll's
//!   byte load, whose result nothing uses, so the loop goes on as if nothing happened
//!   (returning to the load itself would fault again: its address register still
//!   holds the armed word it read before the policy disarmed it);
//! - verdict "trap": to the load, which faults again; the activation is marked, so the
//!   handler turns that fault into an `Interrupt` trap.
//!
//! Owns only this round trip; the policy is `StoreOpaque::new_epoch`'s.

use crate::vm::libcalls::{pop_volatile_gprs, push_volatile_gprs, restore_xmm, save_xmm};
use crate::vm::traphandler::Activation;

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

/// Where the trap handler sends a faulting poll.
pub fn entry() -> usize {
    wasmetal_epoch_poll as *const () as usize
}

/// Bytes [`push_call_frame`] writes below the faulting stack pointer.
pub const FRAME_BYTES: usize = 16;

/// Makes the stack at `sp` look like a call from `pc` carrying `activation`: writes the
/// two words below `sp` and returns the new stack pointer.
///
/// # Safety
/// `sp` must be the stack pointer of wasm code stopped at a fault, with at least
/// [`FRAME_BYTES`] of its own stack free below it (generated code keeps nothing
/// below its stack pointer, and its stack limit leaves room for builtin calls).
pub unsafe fn push_call_frame(sp: usize, pc: usize, activation: *mut Activation) -> usize {
    let new_sp = sp - FRAME_BYTES;
    // SAFETY: per the contract, the two words are free stack.
    unsafe {
        (new_sp as *mut usize).write(pc);
        ((new_sp + 8) as *mut usize).write(activation as usize);
    }
    new_sp
}

/// The slow path behind a faulting poll.
///
/// # Safety
/// Called only from `wasmetal_epoch_poll` with the activation the trap handler pushed,
/// which is live (its `catch_traps` frame is below on this stack), and the address of
/// the entry's return address.
unsafe extern "C" fn epoch_poll_slow(activation: *mut Activation, return_address: *mut usize) {
    // SAFETY: per the contract.
    let activation = unsafe { &mut *activation };
    // SAFETY: the activation's store entered wasm and outlives the call.
    let store = unsafe { &mut *activation.store() };
    if store.epoch_poll_fault() {
        // SAFETY: per the contract, the return slot is on this stack, above our frame.
        unsafe { return_address.write(activation.mark_epoch_trap()) };
    }
}

/// The length of the poll's byte load at the start of `code`: `movzx r, byte [base]`
/// (`[REX] 0F B6 modrm [SIB] [disp]`), the only form Cranelift gives a one-byte atomic
/// load of a bare address. `None` for anything else (the fault is then a plain trap).
pub fn byte_load_length(code: &[u8]) -> Option<usize> {
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
    use super::byte_load_length;
    use crate::prelude::*;

    #[test]
    fn byte_loads_of_every_base_register_have_their_length() {
        // movzx rdi, byte [rdi]; movzx eax, byte [rax]; movzx r8, byte [r13 + 0];
        // movzx rcx, byte [r12]; movzx rdx, byte [rsp + 0x10]
        assert_eq!(byte_load_length(&[0x48, 0x0F, 0xB6, 0x3F, 0xC3]), Some(4));
        assert_eq!(byte_load_length(&[0x0F, 0xB6, 0x00]), Some(3));
        assert_eq!(byte_load_length(&[0x4D, 0x0F, 0xB6, 0x45, 0x00]), Some(5));
        assert_eq!(byte_load_length(&[0x49, 0x0F, 0xB6, 0x0C, 0x24]), Some(5));
        assert_eq!(byte_load_length(&[0x48, 0x0F, 0xB6, 0x54, 0x24, 0x10]), Some(6));
        // Not a byte load: ud2, a register-to-register movzx, truncated input.
        assert_eq!(byte_load_length(&[0x0F, 0x0B]), None);
        assert_eq!(byte_load_length(&[0x0F, 0xB6, 0xC0]), None);
        assert_eq!(byte_load_length(&[0x48, 0x0F, 0xB6]), None);
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
            let length = byte_load_length(code);
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
