//! x86_64 hardware access for wasmetal: privileged instructions live here and only here.
//!
//! Boot entry (PVH), GDT/TSS/IDT and the interrupt entry stubs, CPU feature enabling,
//! paging primitives, the I/O APIC's routes, the local APIC timer and its calibration clocks, the serial UART.
//! Policy (what to map, what a fault means, what to print) belongs to the kernel.
//!
//! # Safety
//!
//! Blanket assumptions of every `unsafe` here: one CPU; code that executes privileged
//! instructions runs at CPL0 (the functions callable after the kernel dropped to CPL3
//! check the level and make a monitor call instead, see `privilege`); the boot page
//! tables (or the kernel's) identity-map the kernel image; nothing else drives the
//! devices these modules program. Nothing in this crate allocates.
//! Privileged code is gated on `target_os = "none"` where it cannot build or mean
//! anything on the host, so the data-structure parts unit-test there.
#![no_std]

pub mod apic;
pub mod boot;
pub mod cmos;
pub mod cpu;
pub mod debugcon;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod kvmclock;
pub mod paging;
pub mod pit;
pub mod port;
pub mod privilege;
pub mod probe;
pub mod serial;
pub mod stack;
pub mod trap_frame;
pub mod vector_state;

pub use trap_frame::TrapFrame;
