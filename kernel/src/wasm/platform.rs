//! wasmetal-runtime's `Platform` on this kernel.
//!
//! Reservations are carved from the wasm region; committed pages are demand-zero (the
//! page-fault handler maps a zeroed frame on first touch, see [`handle_demand_fault`]);
//! decommit unmaps and frees frames. Faults in wasm code are answered by the runtime's
//! `handle_fault` from the kernel's exception handlers.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

use spin::Mutex;
use wasmetal_runtime::platform::{Platform, PlatformError, Protection as RuntimeProtection};

use super::access_map::AccessMap;
use crate::memory::address_space::{self, Protection};
use crate::memory::{frames, wasm_region};

/// The kernel's platform instance.
pub static KERNEL_PLATFORM: KernelPlatform = KernelPlatform;

static ACCESS: Mutex<AccessMap> = Mutex::new(AccessMap::new());
static ACTIVATION: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// The kernel's implementation of the runtime's platform seam.
pub struct KernelPlatform;

fn rights(protection: RuntimeProtection) -> Option<Protection> {
    match protection {
        RuntimeProtection::None => None,
        RuntimeProtection::ReadOnly => Some(Protection::ReadOnly),
        RuntimeProtection::ReadWrite => Some(Protection::ReadWrite),
        RuntimeProtection::ReadExecute => Some(Protection::ReadExecute),
    }
}

fn with_access<R>(f: impl FnOnce(&mut AccessMap) -> R) -> R {
    wasmetal_arch::cpu::without_interrupts(|| f(&mut ACCESS.lock()))
}

/// Maps a zeroed page for a not-present fault at `addr` when `addr` lies in a committed
/// range. Returns false when the address is not accessible (a guard) or no frame is
/// left (the caller then reports the fault).
pub fn handle_demand_fault(addr: u64) -> bool {
    // try_lock: a fault while the map is being changed is not a demand fault.
    let Some(rights) = ACCESS.try_lock().and_then(|map| map.lookup(addr)) else { return false };
    let page = addr & !(crate::memory::layout::PAGE_SIZE - 1);
    match frames::allocate_zeroed() {
        Some(frame) => match address_space::map(page, frame, rights) {
            Ok(()) => true,
            // Already mapped (a protection fault raced with commit): not ours.
            Err(_) => {
                frames::free(frame);
                false
            }
        },
        None => {
            crate::log!("wasm: out of physical memory touching {addr:#x}");
            false
        }
    }
}

impl Platform for KernelPlatform {
    fn page_size(&self) -> usize {
        4096
    }

    fn reserve(&self, bytes: usize) -> Result<NonNull<u8>, PlatformError> {
        let reservation = wasm_region::reserve(bytes as u64).map_err(|_| PlatformError { operation: "reserve", bytes })?;
        NonNull::new(reservation.start as *mut u8).ok_or(PlatformError { operation: "reserve", bytes })
    }

    unsafe fn release(&self, base: NonNull<u8>, bytes: usize) {
        let start = base.as_ptr() as u64;
        with_access(|map| map.set(start, start + bytes as u64, None));
        address_space::unmap_range(start, start + bytes as u64, frames::free);
    }

    unsafe fn commit(&self, addr: NonNull<u8>, bytes: usize, protection: RuntimeProtection) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        with_access(|map| map.set(start, start + bytes as u64, rights(protection)));
        Ok(())
    }

    unsafe fn protect(&self, addr: NonNull<u8>, bytes: usize, protection: RuntimeProtection) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        with_access(|map| map.set(start, end, rights(protection)));
        match rights(protection) {
            Some(rights) => address_space::protect_range(start, end, rights),
            None => address_space::unmap_range(start, end, frames::free),
        }
        Ok(())
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        let start = addr.as_ptr() as u64;
        let end = start + bytes as u64;
        with_access(|map| map.set(start, end, None));
        address_space::unmap_range(start, end, frames::free);
        Ok(())
    }

    fn activation(&self) -> *mut u8 {
        ACTIVATION.load(Ordering::Relaxed)
    }

    fn set_activation(&self, activation: *mut u8) {
        ACTIVATION.store(activation, Ordering::Relaxed);
    }

    fn yield_now(&self) {
        crate::sched::yield_now();
    }

    fn init_trap_handling(&self) -> Result<(), PlatformError> {
        // The IDT is always installed; `interrupts.rs` routes wasm faults to the runtime.
        Ok(())
    }
}

/// Marks `start..end` accessible (demand-zero) for kernel-owned wasm structures such as
/// stacks.
pub fn commit_kernel_range(start: u64, end: u64) {
    with_access(|map| map.set(start, end, Some(Protection::ReadWrite)));
}

/// Drops `start..end` again, freeing its frames.
pub fn decommit_kernel_range(start: u64, end: u64) {
    with_access(|map| map.set(start, end, None));
    address_space::unmap_range(start, end, frames::free);
}
