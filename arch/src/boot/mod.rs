//! How the machine hands control to the kernel.
//!
//! `start_info` describes the PVH `hvm_start_info` structures (plain data, host-testable);
//! `pvh_entry` is the 32-bit entry itself, only built for the bare-metal target.

#[cfg(target_os = "none")]
pub mod pvh_entry;
pub mod start_info;
