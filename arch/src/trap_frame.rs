//! The register frame every interrupt and exception entry stub saves.
//!
//! Handlers get `&mut TrapFrame` and may rewrite any field, RIP and RSP included, to
//! resume somewhere else (a wasm trap landing, a fixup): the stub restores from it.

/// Saved state at an interrupt or exception, in stack order (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// CR2 at entry: the faulting address for a page fault, stale otherwise.
    pub fault_address: u64,
    /// Unused; keeps the frame a multiple of 16 bytes.
    pub reserved: u64,
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Interrupt vector number, pushed by the stub.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Exception vectors by name.
pub mod vector {
    pub const DIVIDE_ERROR: u64 = 0;
    pub const DEBUG: u64 = 1;
    pub const NMI: u64 = 2;
    pub const BREAKPOINT: u64 = 3;
    pub const OVERFLOW: u64 = 4;
    pub const BOUND_RANGE: u64 = 5;
    pub const INVALID_OPCODE: u64 = 6;
    pub const DEVICE_NOT_AVAILABLE: u64 = 7;
    pub const DOUBLE_FAULT: u64 = 8;
    pub const INVALID_TSS: u64 = 10;
    pub const SEGMENT_NOT_PRESENT: u64 = 11;
    pub const STACK_SEGMENT: u64 = 12;
    pub const GENERAL_PROTECTION: u64 = 13;
    pub const PAGE_FAULT: u64 = 14;
    pub const X87_FLOATING_POINT: u64 = 16;
    pub const ALIGNMENT_CHECK: u64 = 17;
    pub const MACHINE_CHECK: u64 = 18;
    pub const SIMD_FLOATING_POINT: u64 = 19;
    /// First vector the kernel uses for device interrupts.
    pub const TIMER: u64 = 32;
    pub const SPURIOUS: u64 = 0xFF;

    /// A short name for a vector, for diagnostics.
    pub fn name(vector: u64) -> &'static str {
        match vector {
            DIVIDE_ERROR => "divide error (#DE)",
            DEBUG => "debug (#DB)",
            NMI => "non-maskable interrupt",
            BREAKPOINT => "breakpoint (#BP)",
            OVERFLOW => "overflow (#OF)",
            BOUND_RANGE => "bound range (#BR)",
            INVALID_OPCODE => "invalid opcode (#UD)",
            DEVICE_NOT_AVAILABLE => "device not available (#NM)",
            DOUBLE_FAULT => "double fault (#DF)",
            INVALID_TSS => "invalid TSS (#TS)",
            SEGMENT_NOT_PRESENT => "segment not present (#NP)",
            STACK_SEGMENT => "stack-segment fault (#SS)",
            GENERAL_PROTECTION => "general protection (#GP)",
            PAGE_FAULT => "page fault (#PF)",
            X87_FLOATING_POINT => "x87 floating point (#MF)",
            ALIGNMENT_CHECK => "alignment check (#AC)",
            MACHINE_CHECK => "machine check (#MC)",
            SIMD_FLOATING_POINT => "SIMD floating point (#XM)",
            TIMER => "timer",
            SPURIOUS => "spurious",
            _ => "interrupt",
        }
    }
}

/// Page-fault error code bits.
pub mod page_fault_error {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const RESERVED_BIT: u64 = 1 << 3;
    pub const INSTRUCTION_FETCH: u64 = 1 << 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_the_stub_push_order() {
        // CR2 and a spare word, 15 saved registers, vector, error code, then the CPU's
        // 5-word frame.
        assert_eq!(core::mem::size_of::<TrapFrame>(), 24 * 8);
        assert_eq!(core::mem::offset_of!(TrapFrame, r15), 2 * 8);
        assert_eq!(core::mem::offset_of!(TrapFrame, rax), 16 * 8);
        assert_eq!(core::mem::offset_of!(TrapFrame, vector), 17 * 8);
        assert_eq!(core::mem::offset_of!(TrapFrame, rip), 19 * 8);
        assert_eq!(core::mem::offset_of!(TrapFrame, rsp), 22 * 8);
    }
}
