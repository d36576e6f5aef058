//! The platform seam: the one module a port of this runtime reads.
//!
//! A port implements the [`Platform`] trait (reserve / commit / protect / decommit
//! pages, memory images, a per-CPU or per-thread slot for the innermost wasm
//! activation, installing its fault handlers, yielding) and its fault handlers call
//! [`handle_trap`] with a [`FaultFrame`] filled in from the machine's frame; when the
//! runtime takes the fault, it has rewritten the frame and the handler resumes with it.
//! A port with its own `memmove`/`memset` may use the runtime's short moves
//! ([`copy_short`], [`fill_short`]). The runtime never names page tables or signals;
//! `hosted` (feature `std`) implements this seam on Linux.

#[cfg(feature = "std")]
pub mod hosted;

use core::ptr::NonNull;

pub use crate::vm::bulk_memory::{SHORT_BYTES, copy_short, fill_short};
use crate::vm::traphandler::handle_fault;

/// Access rights for committed pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    None,
    ReadOnly,
    ReadWrite,
    ReadExecute,
}

/// A platform operation failed (out of memory or address space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformError {
    pub operation: &'static str,
    pub bytes: usize,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} of {} bytes failed", self.operation, self.bytes)
    }
}

/// A platform's name for a memory image it created (`Platform::create_image`); the
/// runtime only hands it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageId(pub usize);

/// The runtime's record of the innermost wasm activation, opaque to a platform: it keeps
/// one per thread (or task) and hands it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivationPtr(pub *mut u8);

impl ActivationPtr {
    /// No activation.
    pub const NONE: ActivationPtr = ActivationPtr(core::ptr::null_mut());

    pub fn is_none(self) -> bool {
        self.0.is_null()
    }
}

/// What the runtime needs from the machine it runs on.
///
/// Addresses and lengths are multiples of [`Platform::page_size`].
pub trait Platform: Send + Sync + 'static {
    /// The base page size in bytes.
    fn page_size(&self) -> usize;

    /// Reserves `bytes` of inaccessible address space.
    fn reserve(&self, bytes: usize) -> Result<NonNull<u8>, PlatformError>;

    /// Gives a reservation back.
    ///
    /// # Safety
    /// `base..base + bytes` must be a whole reservation from [`reserve`](Self::reserve)
    /// that nothing uses any more.
    unsafe fn release(&self, base: NonNull<u8>, bytes: usize);

    /// Makes reserved pages accessible with `protection`. Pages never written since
    /// reservation or the last decommit read as zero (a kernel may back them lazily).
    ///
    /// # Safety
    /// The range must lie in a live reservation owned by the caller.
    unsafe fn commit(&self, addr: NonNull<u8>, bytes: usize, protection: Protection) -> Result<(), PlatformError>;

    /// Changes the rights of committed pages.
    ///
    /// # Safety
    /// As for [`commit`](Self::commit); no live reference may rely on the old rights.
    unsafe fn protect(&self, addr: NonNull<u8>, bytes: usize, protection: Protection) -> Result<(), PlatformError>;

    /// Makes pages inaccessible and drops their contents.
    ///
    /// # Safety
    /// As for [`protect`](Self::protect).
    unsafe fn decommit(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError>;

    /// Drops the contents of committed pages, which stay accessible with their rights
    /// and read as zero afterwards (pooled memories are recycled this way).
    ///
    /// # Safety
    /// As for [`protect`](Self::protect).
    unsafe fn reset(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        // SAFETY: forwarded contract.
        unsafe {
            self.decommit(addr, bytes)?;
            self.commit(addr, bytes, Protection::ReadWrite)
        }
    }

    /// Creates a memory image from `bytes` (a multiple of the page size) that memories
    /// can be initialized from copy-on-write; returns its handle. `None` when the
    /// platform has no images (the runtime then copies data segments instead).
    fn create_image(&self, bytes: &[u8]) -> Option<ImageId> {
        let _ = bytes;
        None
    }

    /// Maps image `image` (all `bytes` of it) at `addr`: reads see the image, writes
    /// make private copies; `reset` brings the image contents back.
    ///
    /// # Safety
    /// The range must be committed read-write and owned by the caller.
    unsafe fn map_image(&self, addr: NonNull<u8>, image: ImageId, bytes: usize) -> Result<(), PlatformError> {
        let _ = (addr, image);
        Err(PlatformError { operation: "map image", bytes })
    }

    /// Replaces an image mapping with zeroed read-write memory.
    ///
    /// # Safety
    /// As for [`map_image`](Self::map_image); the range must be an image mapping.
    unsafe fn unmap_image(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        let _ = addr;
        Err(PlatformError { operation: "unmap image", bytes })
    }

    /// Frees an image that no memory maps any more.
    ///
    /// # Safety
    /// `image` came from [`create_image`](Self::create_image) and is no longer mapped.
    unsafe fn free_image(&self, image: ImageId) {
        let _ = image;
    }

    /// Maps `text` read-execute at `addr` where it lies, without copying it, when the
    /// platform can alias its pages: `Ok(true)` then. `Ok(false)` when it cannot (the
    /// bytes are not page-aligned, or not memory it can map twice); the runtime copies
    /// the code instead. Used for precompiled code loaded from memory that outlives the
    /// platform, such as a kernel's boot module.
    ///
    /// # Safety
    /// `addr..addr + text.len()` (rounded up to pages) lies in a live reservation owned
    /// by the caller and is not committed; `text` is never written while mapped.
    unsafe fn map_code_in_place(&self, addr: NonNull<u8>, text: &'static [u8]) -> Result<bool, PlatformError> {
        let _ = (addr, text);
        Ok(false)
    }

    /// The innermost wasm activation of the current thread or CPU (`ActivationPtr::NONE`
    /// if none).
    fn activation(&self) -> ActivationPtr;

    /// Replaces the current activation.
    fn set_activation(&self, activation: ActivationPtr);

    /// Installs the fault handlers (once per platform; later calls do nothing).
    fn init_trap_handling(&self) -> Result<(), PlatformError>;

    /// Per-thread preparation before the first wasm call on a thread (an alternate
    /// signal stack, say).
    fn prepare_thread(&self) {}

    /// Lets other work run (called when a store's epoch or fuel policy says "yield").
    /// The hosted platform yields the thread; a kernel switches to its scheduler.
    fn yield_now(&self) {}
}

/// What kind of fault the platform saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A memory access fault at `addr` (SIGSEGV/SIGBUS, #PF; #GP and #SS with 0).
    Memory { addr: usize },
    /// `ud2` (SIGILL, #UD): Cranelift's trap instruction.
    IllegalInstruction,
    /// Integer division fault (SIGFPE, #DE).
    Arithmetic,
}

/// The registers of a faulting context that trap delivery reads and may rewrite.
///
/// A port's fault handler copies them from its own frame (a signal's `ucontext`, an
/// interrupt frame), calls [`handle_trap`], and when that returns `true` copies every
/// field back and resumes the frame; all other registers must keep their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultFrame {
    /// The faulting instruction (x86-64: RIP).
    pub pc: usize,
    /// The stack pointer (x86-64: RSP).
    pub sp: usize,
    /// The frame pointer (x86-64: RBP); read for the backtrace, never rewritten.
    pub fp: usize,
    /// The first integer argument register (x86-64: RDI); the trap landing takes its
    /// argument here.
    pub arg: usize,
    /// What faulted.
    pub kind: FaultKind,
}

/// Trap delivery: a port's fault handler asks whether the fault in `frame` belongs to
/// wasm running on `platform`'s activation slot.
///
/// `true`: it does (a wasm trap, or an armed epoch poll), and `frame` now says where to
/// resume (the runtime's trap landing or its epoch slow path); the handler writes it
/// back and returns from the fault. `false`: not wasm, `frame` is unchanged, the fault
/// is the port's. Allocation-free and lock-free (the code registry is only
/// try-locked), so it may run in a signal handler or an exception handler.
#[must_use]
pub fn handle_trap(platform: &dyn Platform, frame: &mut FaultFrame) -> bool {
    let Some(resume) = handle_fault(platform, frame.pc, frame.sp, frame.fp, frame.kind) else {
        return false;
    };
    frame.pc = resume.pc;
    frame.sp = resume.sp;
    if let Some(arg) = resume.arg {
        frame.arg = arg;
    }
    true
}
