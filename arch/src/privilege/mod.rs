//! Running the kernel at CPL3 over a small CPL0 monitor.
//!
//! After early init the kernel drops to CPL3 ([`enter_user_mode`]) and stays there:
//! some hypervisors (KVM's PVM backend, the one this project is developed on) run guest
//! CPL0 code in an instruction emulator and only CPL3 code natively, so a kernel that
//! compiles and runs wasm at CPL0 would crawl. Everything that needs CPL0 goes through
//! the monitor here:
//!
//! - privileged instructions (CR3, INVLPG, MSRs, HLT, the interrupt flag) are
//!   [`MonitorCall`]s, made with `int 4` through a DPL3 gate; the functions of
//!   `cpu` and `paging` make them when they find themselves at CPL3;
//! - device interrupts are handled at CPL0 (they are short), unless the kernel has them
//!   masked: CPL3 cannot use `cli`/`sti`, so [`without_interrupts`] sets a flag in memory
//!   and the CPL0 entry defers a masked interrupt (and clears IF) until the kernel
//!   unmasks, like Xen's event-channel mask;
//! - faults from CPL3 (page faults, #UD, #DE, #GP...) are bounced back to CPL3: the CPL0
//!   entry writes the [`TrapFrame`]'s non-register words onto a CPL3 event stack and
//!   resumes at an entry that stores the registers beside them and calls the kernel's
//!   handler natively; the handler may rewrite the frame (a wasm trap landing, a probe
//!   fixup), and the frame is then resumed without returning to CPL0.
//!
//! The kernel gives up nothing by this: all its pages are user-accessible, and the
//! monitor trusts it. Wasm stays confined by the runtime (guard pages, checks), as
//! before. Port I/O is allowed to CPL3 by the TSS I/O bitmap (see `gdt`).
//! This module owns the routing decisions and the CPL3 entry/exit sequences; what a
//! vector means is the kernel's handler's business.

mod counters;
mod interrupt_flag;
mod monitor;
mod routing;
mod user_entry;

pub use counters::{CrossingCounts, crossing_counts};
pub use interrupt_flag::{disable_interrupts, enable_interrupts, without_interrupts};
pub use monitor::{MONITOR_VECTOR, MonitorCall, monitor_call};
pub use routing::at_user_level;
pub(crate) use routing::from_user_level;
pub use user_entry::enter_user_mode;
