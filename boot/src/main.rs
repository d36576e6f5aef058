//! `wasmetal`: the host launcher (the logic lives in the library, `lib.rs`).
//!
//! Builds the kernel (nested cargo), packs workloads into an initrd, starts QEMU,
//! streams the console and maps the guest's verdict back to an exit code. With no
//! arguments it boots the bundled demo.

fn main() -> std::process::ExitCode {
    wasmetal::main()
}
