//! The preview1 socket calls' error cases, called directly: prints one `name = errno`
//! line each (fd 3 is the preopened listener, with no connection waiting).

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn sock_shutdown(fd: i32, how: i32) -> i32;
    fn sock_accept(fd: i32, flags: i32, out: *mut i32) -> i32;
    fn sock_recv(fd: i32, iovs: *const u32, iovs_len: i32, flags: i32, nread: *mut u32, oflags: *mut u16) -> i32;
    fn fd_fdstat_get(fd: i32, out: *mut u8) -> i32;
    fn fd_fdstat_set_flags(fd: i32, flags: i32) -> i32;
}

fn main() {
    let mut out = 0i32;
    let (mut nread, mut oflags) = (0u32, 0u16);
    let mut fdstat = [0u8; 24];
    // SAFETY: each call gets valid pointers into this frame.
    unsafe {
        println!("shutdown stdin = {}", sock_shutdown(0, 3));
        println!("shutdown listener bad how = {}", sock_shutdown(3, 0));
        println!("shutdown listener = {}", sock_shutdown(3, 2));
        // As in Wasmtime, the listener's own flag decides whether accept blocks.
        println!("set listener nonblocking = {}", fd_fdstat_set_flags(3, 4));
        println!("accept nonblocking = {}", sock_accept(3, 4, &mut out));
        println!("accept bad flags = {}", sock_accept(3, 1, &mut out));
        println!("accept stdout = {}", sock_accept(1, 0, &mut out));
        println!("accept closed fd = {}", sock_accept(9, 0, &mut out));
        println!("recv listener = {}", sock_recv(3, core::ptr::null(), 0, 0, &mut nread, &mut oflags));
        let status = fd_fdstat_get(3, fdstat.as_mut_ptr());
        println!("fdstat listener = {status} filetype {} flags {}", fdstat[0], fdstat[2]);
    }
}
