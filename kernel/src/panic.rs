//! The panic handler: print where and why, then end the VM with the failure code.

use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    wasmetal_arch::cpu::disable_interrupts();
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while reporting a panic: say nothing more, just stop.
        crate::exit::exit_kernel_failure();
    }
    match info.location() {
        Some(location) => crate::console::write_fmt_forced(format_args!(
            "wasmetal: kernel panic at {}:{}: {}\n",
            location.file(),
            location.line(),
            info.message()
        )),
        None => crate::console::write_fmt_forced(format_args!("wasmetal: kernel panic: {}\n", info.message())),
    }
    crate::exit::exit_kernel_failure()
}
