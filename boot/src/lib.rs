//! The wasmetal launcher as a library: the `wasmetal` binary is [`main`], and the
//! integration tests link the same entry point into their own binary.

pub mod bench;
pub mod bench_compile;
pub mod bench_fs;
pub mod bench_io;
pub mod bench_modules;
pub mod bench_net;
pub mod bench_run;
pub mod cli;
pub mod compile_cache;
pub mod compile_cmd;
pub mod dir_devices;
pub mod empty_kernel;
pub mod exit_status;
pub mod host_probe;
pub mod hosted;
pub mod kernel_build;
pub mod kernel_image;
pub mod net_devices;
pub mod qemu;
pub mod qemu_install;
pub mod run;
pub mod slirp_backlog;
pub mod stdio_devices;
pub mod vm_args;
pub mod vm_plan;
pub mod workspace;

use std::process::ExitCode;

use clap::Parser;

/// Parses the process's arguments, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) if error.downcast_ref::<exit_status::InputError>().is_some() => {
            eprintln!("wasmetal: error: {error:#}");
            ExitCode::from(exit_status::INPUT_ERROR)
        }
        Err(error) => {
            eprintln!("wasmetal: error: {error:#}");
            ExitCode::from(exit_status::LAUNCHER_FAILURE)
        }
    }
}
