//! The preview1 functions, grouped by what they act on, and `add_to_linker`, which
//! defines each as a host function that finds the caller's `memory` export and the
//! `WasiCtx` in the store's data, runs the call and returns its errno.

pub mod args;
pub mod clock;
pub mod fd;
pub mod path;
pub mod poll;
pub mod preview0;
pub mod proc;
pub mod sock;

use wasmetal_runtime::{Caller, Error, Extern, Linker};

use crate::abi::MODULE;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::guest_memory::GuestMemory;

/// Runs `call` with the caller's memory (empty if it exports none, so every pointer
/// is `EFAULT`) and WASI context, and turns the outcome into the returned errno.
pub(crate) fn dispatch<T>(
    caller: &mut Caller<'_, T>,
    get: fn(&mut T) -> &mut WasiCtx,
    call: impl FnOnce(&mut WasiCtx, &mut GuestMemory<'_>) -> Result<(), Errno>,
) -> i32 {
    let result = match caller.get_export("memory").and_then(Extern::into_memory) {
        Some(memory) => {
            let (bytes, data) = memory.data_and_store_mut(&mut *caller);
            call(get(data), &mut GuestMemory::new(bytes))
        }
        None => call(get(caller.data_mut()), &mut GuestMemory::new(&mut [])),
    };
    Errno::result_code(result)
}

/// Defines `wasi_snapshot_preview1::$name` from `$call`, whose parameters after the
/// context and memory are the listed wasm parameters.
macro_rules! define {
    ($linker:ident, $module:ident, $get:ident, $call:path, $name:literal ($($arg:ident: $ty:ty),*)) => {
        $linker.func_wrap($module, $name, move |mut caller: Caller<'_, T>, $($arg: $ty),*| -> i32 {
            dispatch(&mut caller, $get, |ctx, memory| $call(ctx, memory, $($arg),*))
        })?;
    };
}

/// Defines every `wasi_snapshot_preview1` function in `linker`, and the older
/// `wasi_unstable` (preview0) ones over the same implementation; `get` finds the
/// [`WasiCtx`] in the store's data.
pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut WasiCtx) -> Result<(), Error> {
    add_module(linker, get, MODULE, false)?;
    add_module(linker, get, preview0::MODULE, true)?;
    preview0::add_differences(linker, get)
}

/// The functions preview0 and preview1 share, in `module`; with `preview0`, the ones
/// whose layout or numbering differ (and `sock_accept`, which preview0 lacks) are left
/// to `preview0::add_differences`.
fn add_module<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut WasiCtx,
    module: &'static str,
    preview0: bool,
) -> Result<(), Error> {
    define!(linker, module, get, args::args_get, "args_get"(argv: u32, argv_buf: u32));
    define!(linker, module, get, args::args_sizes_get, "args_sizes_get"(argc: u32, argv_buf_size: u32));
    define!(linker, module, get, args::environ_get, "environ_get"(environ: u32, environ_buf: u32));
    define!(linker, module, get, args::environ_sizes_get, "environ_sizes_get"(count: u32, buf_size: u32));

    define!(linker, module, get, clock::clock_res_get, "clock_res_get"(id: u32, resolution: u32));
    define!(linker, module, get, clock::clock_time_get, "clock_time_get"(id: u32, precision: u64, time: u32));

    define!(linker, module, get, fd::fd_advise, "fd_advise"(fd: u32, offset: u64, len: u64, advice: u32));
    define!(linker, module, get, fd::fd_allocate, "fd_allocate"(fd: u32, offset: u64, len: u64));
    define!(linker, module, get, fd::fd_close, "fd_close"(fd: u32));
    define!(linker, module, get, fd::fd_datasync, "fd_datasync"(fd: u32));
    define!(linker, module, get, fd::fd_fdstat_get, "fd_fdstat_get"(fd: u32, out: u32));
    define!(linker, module, get, fd::fd_fdstat_set_flags, "fd_fdstat_set_flags"(fd: u32, flags: u32));
    define!(linker, module, get, fd::fd_fdstat_set_rights, "fd_fdstat_set_rights"(fd: u32, base: u64, inheriting: u64));
    if !preview0 {
        define!(linker, module, get, fd::fd_filestat_get, "fd_filestat_get"(fd: u32, out: u32));
        define!(linker, module, get, fd::fd_seek, "fd_seek"(fd: u32, offset: u64, whence: u32, new_offset: u32));
        define!(
            linker,
            module,
            get,
            path::path_filestat_get,
            "path_filestat_get"(fd: u32, flags: u32, path: u32, path_len: u32, out: u32)
        );
        define!(linker, module, get, poll::poll_oneoff, "poll_oneoff"(input: u32, output: u32, count: u32, nevents: u32));
        define!(linker, module, get, sock::sock_accept, "sock_accept"(fd: u32, flags: u32, out: u32));
    }
    define!(linker, module, get, fd::fd_filestat_set_size, "fd_filestat_set_size"(fd: u32, size: u64));
    define!(linker, module, get, fd::fd_filestat_set_times, "fd_filestat_set_times"(fd: u32, atim: u64, mtim: u64, flags: u32));
    define!(linker, module, get, fd::fd_pread, "fd_pread"(fd: u32, iovs: u32, iovs_len: u32, offset: u64, nread: u32));
    define!(linker, module, get, fd::fd_prestat_get, "fd_prestat_get"(fd: u32, out: u32));
    define!(linker, module, get, fd::fd_prestat_dir_name, "fd_prestat_dir_name"(fd: u32, path: u32, path_len: u32));
    define!(linker, module, get, fd::fd_pwrite, "fd_pwrite"(fd: u32, iovs: u32, iovs_len: u32, offset: u64, nwritten: u32));
    define!(linker, module, get, fd::fd_read, "fd_read"(fd: u32, iovs: u32, iovs_len: u32, nread: u32));
    define!(linker, module, get, fd::fd_readdir, "fd_readdir"(fd: u32, buf: u32, buf_len: u32, cookie: u64, bufused: u32));
    define!(linker, module, get, fd::fd_renumber, "fd_renumber"(from: u32, to: u32));
    define!(linker, module, get, fd::fd_sync, "fd_sync"(fd: u32));
    define!(linker, module, get, fd::fd_tell, "fd_tell"(fd: u32, offset: u32));
    define!(linker, module, get, fd::fd_write, "fd_write"(fd: u32, iovs: u32, iovs_len: u32, nwritten: u32));

    define!(linker, module, get, path::path_create_directory, "path_create_directory"(fd: u32, path: u32, path_len: u32));
    define!(
        linker,
        module,
        get,
        path::path_filestat_set_times,
        "path_filestat_set_times"(fd: u32, flags: u32, path: u32, path_len: u32, atim: u64, mtim: u64, fst_flags: u32)
    );
    define!(
        linker,
        module,
        get,
        path::path_link,
        "path_link"(old_fd: u32, old_flags: u32, old_path: u32, old_path_len: u32, new_fd: u32, new_path: u32, new_path_len: u32)
    );
    define!(
        linker,
        module,
        get,
        path::path_open,
        "path_open"(
            fd: u32,
            dirflags: u32,
            path: u32,
            path_len: u32,
            oflags: u32,
            rights_base: u64,
            rights_inheriting: u64,
            fdflags: u32,
            opened: u32
        )
    );
    define!(
        linker,
        module,
        get,
        path::path_readlink,
        "path_readlink"(fd: u32, path: u32, path_len: u32, buf: u32, buf_len: u32, bufused: u32)
    );
    define!(linker, module, get, path::path_remove_directory, "path_remove_directory"(fd: u32, path: u32, path_len: u32));
    define!(
        linker,
        module,
        get,
        path::path_rename,
        "path_rename"(fd: u32, old_path: u32, old_path_len: u32, new_fd: u32, new_path: u32, new_path_len: u32)
    );
    define!(
        linker,
        module,
        get,
        path::path_symlink,
        "path_symlink"(old_path: u32, old_path_len: u32, fd: u32, new_path: u32, new_path_len: u32)
    );
    define!(linker, module, get, path::path_unlink_file, "path_unlink_file"(fd: u32, path: u32, path_len: u32));

    linker.func_wrap(module, "proc_exit", |_caller: Caller<'_, T>, status: u32| -> Result<(), Error> {
        Err(Error::exit(status as i32))
    })?;
    define!(linker, module, get, proc::proc_raise, "proc_raise"(signal: u32));
    define!(linker, module, get, proc::sched_yield, "sched_yield"());
    define!(linker, module, get, proc::random_get, "random_get"(buf: u32, buf_len: u32));

    define!(
        linker,
        module,
        get,
        sock::sock_recv,
        "sock_recv"(fd: u32, ri_data: u32, ri_data_len: u32, ri_flags: u32, ro_datalen: u32, ro_flags: u32)
    );
    define!(
        linker,
        module,
        get,
        sock::sock_send,
        "sock_send"(fd: u32, si_data: u32, si_data_len: u32, si_flags: u32, so_datalen: u32)
    );
    define!(linker, module, get, sock::sock_shutdown, "sock_shutdown"(fd: u32, how: u32));
    Ok(())
}
