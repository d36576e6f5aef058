//! The hosted platform (Linux, feature `std`): mmap/mprotect/madvise for memory,
//! signal handlers on an alternate stack for traps, a thread-local activation slot.
//!
//! Faults in wasm code (SIGSEGV, SIGBUS, SIGILL, SIGFPE) are redirected to the trap
//! landing by rewriting the signal context; any other fault is passed on to whatever
//! handler was installed before.

use core::cell::Cell;
use core::ptr::NonNull;
use std::sync::Once;

use super::{ActivationPtr, FaultFrame, FaultKind, ImageId, Platform, PlatformError, Protection, handle_trap};

/// The Linux implementation of [`Platform`].
#[derive(Debug, Default)]
pub struct HostedPlatform;

/// The one hosted platform instance.
pub static HOSTED: HostedPlatform = HostedPlatform;

std::thread_local! {
    static ACTIVATION: Cell<ActivationPtr> = const { Cell::new(ActivationPtr::NONE) };
    static ALT_STACK: Cell<bool> = const { Cell::new(false) };
}

fn prot_flags(protection: Protection) -> libc::c_int {
    match protection {
        Protection::None => libc::PROT_NONE,
        Protection::ReadOnly => libc::PROT_READ,
        Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        Protection::ReadExecute => libc::PROT_READ | libc::PROT_EXEC,
    }
}

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];
static mut PREVIOUS: [core::mem::MaybeUninit<libc::sigaction>; 4] = [core::mem::MaybeUninit::uninit(); 4];
static INSTALL: Once = Once::new();

const ALT_STACK_BYTES: usize = 64 * 1024;

/// The x86-64 huge page size: commits this large get transparent-huge-page advice.
const HUGE_PAGE_BYTES: usize = 2 << 20;

unsafe extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext_t for SA_SIGINFO handlers.
    let context = unsafe { &mut *(context as *mut libc::ucontext_t) };
    let gregs = &mut context.uc_mcontext.gregs;
    // SAFETY: `info` is valid for SA_SIGINFO handlers; si_addr is the faulting address.
    let fault_addr = unsafe { (*info).si_addr() } as usize;
    let kind = match signal {
        libc::SIGILL => FaultKind::IllegalInstruction,
        libc::SIGFPE => FaultKind::Arithmetic,
        _ => FaultKind::Memory { addr: fault_addr },
    };
    let mut frame = FaultFrame {
        pc: gregs[libc::REG_RIP as usize] as usize,
        sp: gregs[libc::REG_RSP as usize] as usize,
        fp: gregs[libc::REG_RBP as usize] as usize,
        arg: gregs[libc::REG_RDI as usize] as usize,
        kind,
    };
    if handle_trap(&HOSTED, &mut frame) {
        gregs[libc::REG_RIP as usize] = frame.pc as i64;
        gregs[libc::REG_RSP as usize] = frame.sp as i64;
        gregs[libc::REG_RBP as usize] = frame.fp as i64;
        gregs[libc::REG_RDI as usize] = frame.arg as i64;
        return;
    }
    // Not ours: hand it to the previous handler, or restore the default and return so
    // the fault repeats and kills the process as it would have.
    let slot = SIGNALS.iter().position(|&s| s == signal).unwrap_or(0);
    // SAFETY: PREVIOUS[slot] was written by sigaction before this handler was installed.
    let previous = unsafe {
        (*(&raw const PREVIOUS).cast::<core::mem::MaybeUninit<libc::sigaction>>().add(slot)).assume_init_ref()
    };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the previous disposition for this signal.
        unsafe { libc::sigaction(signal, previous, core::ptr::null_mut()) };
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
        let chained: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { core::mem::transmute(handler) };
        chained(signal, info, context as *mut libc::ucontext_t as *mut libc::c_void);
    } else {
        // SAFETY: a plain handler takes just the signal number.
        let chained: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(handler) };
        chained(signal);
    }
}

impl Platform for HostedPlatform {
    fn page_size(&self) -> usize {
        4096
    }

    fn reserve(&self, bytes: usize) -> Result<NonNull<u8>, PlatformError> {
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                bytes,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(PlatformError { operation: "reserve", bytes });
        }
        NonNull::new(ptr as *mut u8).ok_or(PlatformError { operation: "reserve", bytes })
    }

    unsafe fn release(&self, base: NonNull<u8>, bytes: usize) {
        // SAFETY: per the contract, the range is a whole unused reservation.
        unsafe { libc::munmap(base.as_ptr() as *mut libc::c_void, bytes) };
    }

    unsafe fn commit(&self, addr: NonNull<u8>, bytes: usize, protection: Protection) -> Result<(), PlatformError> {
        // SAFETY: the range is in a reservation the caller owns.
        let result = unsafe { libc::mprotect(addr.as_ptr() as *mut libc::c_void, bytes, prot_flags(protection)) };
        if result != 0 {
            return Err(PlatformError { operation: "commit", bytes });
        }
        if protection == Protection::ReadWrite && bytes >= HUGE_PAGE_BYTES {
            // Large read-write commits are linear memories: let the kernel back them
            // with transparent huge pages where it can (as the in-VM kernel does with
            // 2 MiB blocks), so random access over megabytes misses the TLB far less.
            // Advice only: failure (THP off) changes nothing.
            // SAFETY: advice on a range the caller owns.
            unsafe { libc::madvise(addr.as_ptr() as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE) };
        }
        Ok(())
    }

    unsafe fn protect(&self, addr: NonNull<u8>, bytes: usize, protection: Protection) -> Result<(), PlatformError> {
        // SAFETY: as for commit.
        let result = unsafe { libc::mprotect(addr.as_ptr() as *mut libc::c_void, bytes, prot_flags(protection)) };
        if result != 0 { Err(PlatformError { operation: "protect", bytes }) } else { Ok(()) }
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        // SAFETY: the caller owns the range; DONTNEED on private anonymous memory makes
        // it read as zero again, and PROT_NONE makes it a guard.
        unsafe {
            if libc::madvise(addr.as_ptr() as *mut libc::c_void, bytes, libc::MADV_DONTNEED) != 0 {
                return Err(PlatformError { operation: "decommit", bytes });
            }
            if libc::mprotect(addr.as_ptr() as *mut libc::c_void, bytes, libc::PROT_NONE) != 0 {
                return Err(PlatformError { operation: "decommit", bytes });
            }
        }
        Ok(())
    }

    unsafe fn reset(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        // SAFETY: the caller owns the range; DONTNEED makes private anonymous pages read
        // as zero while keeping their protection.
        let result = unsafe { libc::madvise(addr.as_ptr() as *mut libc::c_void, bytes, libc::MADV_DONTNEED) };
        if result != 0 { Err(PlatformError { operation: "reset", bytes }) } else { Ok(()) }
    }

    fn create_image(&self, bytes: &[u8]) -> Option<ImageId> {
        // SAFETY: plain system calls on a new anonymous file this function owns.
        unsafe {
            let fd = libc::memfd_create(c"wasmetal-image".as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                return None;
            }
            let mut written = 0;
            while written < bytes.len() {
                let n = libc::pwrite(
                    fd,
                    bytes[written..].as_ptr() as *const libc::c_void,
                    bytes.len() - written,
                    written as libc::off_t,
                );
                if n <= 0 {
                    libc::close(fd);
                    return None;
                }
                written += n as usize;
            }
            Some(ImageId(fd as usize))
        }
    }

    unsafe fn map_image(&self, addr: NonNull<u8>, image: ImageId, bytes: usize) -> Result<(), PlatformError> {
        // SAFETY: per the contract the range is ours; MAP_FIXED replaces its pages with
        // a private (copy-on-write) view of the image file.
        let ptr = unsafe {
            libc::mmap(
                addr.as_ptr() as *mut libc::c_void,
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                image.0 as libc::c_int,
                0,
            )
        };
        if ptr == libc::MAP_FAILED { Err(PlatformError { operation: "map image", bytes }) } else { Ok(()) }
    }

    unsafe fn unmap_image(&self, addr: NonNull<u8>, bytes: usize) -> Result<(), PlatformError> {
        // SAFETY: per the contract; fresh anonymous pages replace the image view.
        let ptr = unsafe {
            libc::mmap(
                addr.as_ptr() as *mut libc::c_void,
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED { Err(PlatformError { operation: "unmap image", bytes }) } else { Ok(()) }
    }

    unsafe fn free_image(&self, image: ImageId) {
        // SAFETY: the descriptor came from create_image and nothing maps it any more
        // (mappings would survive the close anyway).
        unsafe { libc::close(image.0 as libc::c_int) };
    }

    fn activation(&self) -> ActivationPtr {
        ACTIVATION.with(|slot| slot.get())
    }

    fn set_activation(&self, activation: ActivationPtr) {
        ACTIVATION.with(|slot| slot.set(activation));
    }

    fn init_trap_handling(&self) -> Result<(), PlatformError> {
        INSTALL.call_once(|| {
            for (slot, &signal) in SIGNALS.iter().enumerate() {
                // SAFETY: installing a SA_SIGINFO handler with an empty mask; the old
                // disposition is saved for chaining before the new one can run.
                unsafe {
                    let mut action: libc::sigaction = core::mem::zeroed();
                    action.sa_sigaction = on_signal as *const () as usize;
                    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                    libc::sigemptyset(&mut action.sa_mask);
                    let previous =
                        (*(&raw mut PREVIOUS).cast::<core::mem::MaybeUninit<libc::sigaction>>().add(slot)).as_mut_ptr();
                    libc::sigaction(signal, &action, previous);
                }
            }
        });
        Ok(())
    }

    fn yield_now(&self) {
        std::thread::yield_now();
    }

    fn prepare_thread(&self) {
        if ALT_STACK.with(|done| done.replace(true)) {
            return;
        }
        // SAFETY: a fresh mapping becomes this thread's alternate signal stack; it is
        // leaked on purpose (threads may exit while the handler could still need it).
        unsafe {
            let mut current: libc::stack_t = core::mem::zeroed();
            libc::sigaltstack(core::ptr::null(), &mut current);
            if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= ALT_STACK_BYTES {
                return;
            }
            let stack = libc::mmap(
                core::ptr::null_mut(),
                ALT_STACK_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if stack == libc::MAP_FAILED {
                return;
            }
            let new = libc::stack_t { ss_sp: stack, ss_flags: 0, ss_size: ALT_STACK_BYTES };
            libc::sigaltstack(&new, core::ptr::null_mut());
        }
    }
}
