//! WASI calls made directly from small WAT modules: edge cases real programs rarely
//! reach (bad pointers, bad descriptors, exact struct layouts, clock sleeps on a
//! fake clock, path escapes).

mod common;

use common::{FAKE_EPOCH_NS, Observed, Status, TestSystem, run};
use wasmetal_runtime::{Engine, Error, Instance, Linker, Memory, Module, Store, Val};
use wasmetal_wasi::{Errno, WasiCtx, WasiCtxBuilder};

/// Every preview1 function: name, wasm parameter types, whether it returns an errno.
const SIGNATURES: &[(&str, &str)] = &[
    ("args_get", "i32 i32"),
    ("args_sizes_get", "i32 i32"),
    ("environ_get", "i32 i32"),
    ("environ_sizes_get", "i32 i32"),
    ("clock_res_get", "i32 i32"),
    ("clock_time_get", "i32 i64 i32"),
    ("fd_advise", "i32 i64 i64 i32"),
    ("fd_allocate", "i32 i64 i64"),
    ("fd_close", "i32"),
    ("fd_datasync", "i32"),
    ("fd_fdstat_get", "i32 i32"),
    ("fd_fdstat_set_flags", "i32 i32"),
    ("fd_fdstat_set_rights", "i32 i64 i64"),
    ("fd_filestat_get", "i32 i32"),
    ("fd_filestat_set_size", "i32 i64"),
    ("fd_filestat_set_times", "i32 i64 i64 i32"),
    ("fd_pread", "i32 i32 i32 i64 i32"),
    ("fd_prestat_get", "i32 i32"),
    ("fd_prestat_dir_name", "i32 i32 i32"),
    ("fd_pwrite", "i32 i32 i32 i64 i32"),
    ("fd_read", "i32 i32 i32 i32"),
    ("fd_readdir", "i32 i32 i32 i64 i32"),
    ("fd_renumber", "i32 i32"),
    ("fd_seek", "i32 i64 i32 i32"),
    ("fd_sync", "i32"),
    ("fd_tell", "i32 i32"),
    ("fd_write", "i32 i32 i32 i32"),
    ("path_create_directory", "i32 i32 i32"),
    ("path_filestat_get", "i32 i32 i32 i32 i32"),
    ("path_filestat_set_times", "i32 i32 i32 i32 i64 i64 i32"),
    ("path_link", "i32 i32 i32 i32 i32 i32 i32"),
    ("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32"),
    ("path_readlink", "i32 i32 i32 i32 i32 i32"),
    ("path_remove_directory", "i32 i32 i32"),
    ("path_rename", "i32 i32 i32 i32 i32 i32"),
    ("path_symlink", "i32 i32 i32 i32 i32"),
    ("path_unlink_file", "i32 i32 i32"),
    ("poll_oneoff", "i32 i32 i32 i32"),
    ("proc_raise", "i32"),
    ("sched_yield", ""),
    ("random_get", "i32 i32"),
    ("sock_accept", "i32 i32 i32"),
    ("sock_recv", "i32 i32 i32 i32 i32 i32"),
    ("sock_send", "i32 i32 i32 i32 i32"),
    ("sock_shutdown", "i32 i32"),
];

/// A module importing every function and exporting a wasm wrapper of each (so the
/// host call comes from wasm, with the instance's memory), plus `proc_exit` and two
/// pages of memory.
fn shim_wat(with_memory: bool) -> String {
    let mut wat = String::from("(module\n");
    for (name, params) in SIGNATURES {
        wat +=
            &format!("  (import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param {params}) (result i32)))\n");
    }
    wat += "  (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n";
    if with_memory {
        wat += "  (memory (export \"memory\") 2)\n";
    }
    for (name, params) in SIGNATURES {
        let gets: String = (0..params.split_whitespace().count()).map(|index| format!("local.get {index} ")).collect();
        wat += &format!("  (func (export \"{name}\") (param {params}) (result i32) {gets}call ${name})\n");
    }
    wat += "  (func (export \"proc_exit\") (param i32) local.get 0 call $proc_exit))\n";
    wat
}

/// The memory size of the shim (two pages).
const MEMORY_SIZE: i64 = 2 * 65536;

/// An instance of the shim with a WASI context.
struct Shim {
    store: Store<WasiCtx>,
    instance: Instance,
    memory: Option<Memory>,
}

impl Shim {
    fn new(builder: WasiCtxBuilder) -> Shim {
        Shim::with_wat(builder, &shim_wat(true))
    }

    fn with_wat(builder: WasiCtxBuilder, wat: &str) -> Shim {
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let mut linker = Linker::new(&engine);
        wasmetal_wasi::add_to_linker(&mut linker, |ctx| ctx).unwrap();
        let mut store = Store::new(&engine, builder.build().unwrap());
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let memory = instance.get_memory(&mut store, "memory");
        Shim { store, instance, memory }
    }

    /// Calls export `name`; `args` are converted to each parameter's type.
    fn try_call(&mut self, name: &str, args: &[i64]) -> Result<Vec<Val>, Error> {
        let func = self.instance.get_func(&mut self.store, name).unwrap_or_else(|| panic!("no export {name}"));
        let ty = func.ty(&self.store);
        assert_eq!(ty.params().len(), args.len(), "{name} arity");
        let params: Vec<Val> = ty
            .params()
            .iter()
            .zip(args)
            .map(|(ty, &arg)| match ty.to_string().as_str() {
                "i64" => Val::I64(arg),
                _ => Val::I32(arg as i32),
            })
            .collect();
        let mut results = vec![Val::I32(0); ty.results().len()];
        func.call(&mut self.store, &params, &mut results)?;
        Ok(results)
    }

    /// Calls export `name` and returns its errno.
    fn call(&mut self, name: &str, args: &[i64]) -> i32 {
        match self.try_call(name, args).unwrap().as_slice() {
            [Val::I32(errno)] => *errno,
            other => panic!("{name} returned {other:?}"),
        }
    }

    fn memory(&self) -> &[u8] {
        self.memory.unwrap().data(&self.store)
    }

    fn write(&mut self, ptr: usize, bytes: &[u8]) {
        self.memory.unwrap().write(&mut self.store, ptr, bytes).unwrap();
    }

    fn write_u32(&mut self, ptr: usize, value: u32) {
        self.write(ptr, &value.to_le_bytes());
    }

    fn write_u64(&mut self, ptr: usize, value: u64) {
        self.write(ptr, &value.to_le_bytes());
    }

    fn u8(&self, ptr: usize) -> u8 {
        self.memory()[ptr]
    }

    fn u16(&self, ptr: usize) -> u16 {
        u16::from_le_bytes(self.memory()[ptr..ptr + 2].try_into().unwrap())
    }

    fn u32(&self, ptr: usize) -> u32 {
        u32::from_le_bytes(self.memory()[ptr..ptr + 4].try_into().unwrap())
    }

    fn u64(&self, ptr: usize) -> u64 {
        u64::from_le_bytes(self.memory()[ptr..ptr + 8].try_into().unwrap())
    }

    fn bytes(&self, ptr: usize, len: usize) -> Vec<u8> {
        self.memory()[ptr..ptr + len].to_vec()
    }

    /// Writes `path` at 0x8000 and returns (ptr, len) for a call.
    fn path(&mut self, path: &str) -> (i64, i64) {
        self.write(0x8000, path.as_bytes());
        (0x8000, path.len() as i64)
    }

    /// Opens `path` relative to `dir` with `oflags` and `rights`; the fd or the errno.
    fn open(&mut self, dir: i64, path: &str, oflags: i64, rights: i64, fdflags: i64) -> Result<u32, i32> {
        let (ptr, len) = self.path(path);
        match self.call("path_open", &[dir, 0, ptr, len, oflags, rights, 0, fdflags, 0x7000]) {
            0 => Ok(self.u32(0x7000)),
            errno => Err(errno),
        }
    }

    /// Writes one iovec at 0x100 describing `bytes` placed at 0x200.
    fn iovec_of(&mut self, bytes: &[u8]) {
        self.write(0x200, bytes);
        self.write_u32(0x100, 0x200);
        self.write_u32(0x104, bytes.len() as u32);
    }

    fn ctx(&self) -> &WasiCtx {
        self.store.data()
    }
}

const EFAULT: i32 = Errno::Fault as i32;
const EBADF: i32 = Errno::BadF as i32;
const EINVAL: i32 = Errno::Inval as i32;
const ENOTCAPABLE: i32 = Errno::NotCapable as i32;

const RIGHTS_READ: i64 = 1 << 1;
const RIGHTS_WRITE: i64 = 1 << 6;
const OFLAGS_CREAT: i64 = 1;
const OFLAGS_DIRECTORY: i64 = 2;
const OFLAGS_EXCL: i64 = 4;
const OFLAGS_TRUNC: i64 = 8;

fn fake() -> (WasiCtxBuilder, Observed) {
    let (system, observed) = TestSystem::fake();
    (WasiCtx::builder(system), observed)
}

fn data_dir() -> (Shim, Observed) {
    let (builder, observed) = fake();
    let builder = builder.preopen_dir(
        "/data",
        [
            ("b.txt", b"bee".to_vec()),
            ("a/", Vec::new()),
            ("ccc", b"0123456789".to_vec()),
            ("a/inner.txt", b"x".to_vec()),
        ],
    );
    (Shim::new(builder), observed)
}

#[test]
fn bad_pointers_are_efault() {
    let (builder, observed) = fake();
    let mut shim = Shim::new(builder.args(["prog", "arg"]).preopen_dir("/data", [("f", b"content".to_vec())]));
    let end = MEMORY_SIZE;

    // The iovec array, a buffer it names, or the result pointer out of range.
    shim.iovec_of(b"hi");
    assert_eq!(shim.call("fd_write", &[1, end - 4, 1, 0x300]), EFAULT);
    assert_eq!(shim.call("fd_write", &[1, 0xffff_fff8, 1, 0x300]), EFAULT);
    assert_eq!(shim.call("fd_write", &[1, 0x100, 0x2000_0000, 0x300]), EFAULT);
    assert_eq!(shim.call("fd_write", &[1, 0x100, 1, end - 3]), EFAULT);
    shim.write_u32(0x104, u32::MAX);
    assert_eq!(shim.call("fd_write", &[1, 0x100, 1, 0x300]), EFAULT);
    shim.write_u32(0x100, (end - 1) as u32);
    shim.write_u32(0x104, 2);
    assert_eq!(shim.call("fd_write", &[1, 0x100, 1, 0x300]), EFAULT);
    // Nothing was written by the failed calls.
    assert_eq!(observed.stdout(), b"");
    // The very last byte is in range.
    shim.write_u32(0x104, 1);
    assert_eq!(shim.call("fd_write", &[1, 0x100, 1, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 1);
    assert_eq!(observed.stdout(), [0]);

    assert_eq!(shim.call("args_sizes_get", &[end - 2, 0]), EFAULT);
    assert_eq!(shim.call("args_get", &[end - 4, 0x400]), EFAULT);
    assert_eq!(shim.call("args_get", &[0x400, end - 5]), EFAULT);
    assert_eq!(shim.call("environ_sizes_get", &[0, end]), EFAULT);
    assert_eq!(shim.call("clock_time_get", &[0, 0, end - 7]), EFAULT);
    assert_eq!(shim.call("clock_res_get", &[1, -1]), EFAULT);
    assert_eq!(shim.call("random_get", &[end - 10, 11]), EFAULT);
    assert_eq!(shim.call("random_get", &[end - 10, 10]), 0);
    assert_eq!(shim.call("fd_fdstat_get", &[1, end - 23]), EFAULT);
    assert_eq!(shim.call("fd_filestat_get", &[3, end - 63]), EFAULT);
    assert_eq!(shim.call("fd_prestat_get", &[3, end - 7]), EFAULT);
    assert_eq!(shim.call("fd_prestat_dir_name", &[3, end - 4, 5]), EFAULT);
    assert_eq!(shim.call("fd_readdir", &[3, end - 10, 11, 0, 0x300]), EFAULT);
    assert_eq!(shim.call("fd_readdir", &[3, 0x1000, 100, 0, end]), EFAULT);
    assert_eq!(shim.call("fd_seek", &[0, 0, 0, end]), Errno::SPipe as i32);

    // Paths out of range, and an fd result pointer out of range: no file is created.
    assert_eq!(shim.call("path_open", &[3, 0, end - 2, 5, OFLAGS_CREAT, RIGHTS_WRITE, 0, 0, 0x300]), EFAULT);
    let (ptr, len) = shim.path("created");
    assert_eq!(shim.call("path_open", &[3, 0, ptr, len, OFLAGS_CREAT, RIGHTS_WRITE, 0, 0, end - 1]), EFAULT);
    assert_eq!(shim.ctx().file(b"/data/created"), None);
    assert_eq!(shim.call("path_create_directory", &[3, -1, 2]), EFAULT);
    assert_eq!(shim.call("path_unlink_file", &[3, end, 1]), EFAULT);
    assert_eq!(shim.call("path_filestat_get", &[3, 0, ptr, len, end - 8]), EFAULT);

    // Reads into a bad buffer leave the file position alone.
    let fd = shim.open(3, "f", 0, RIGHTS_READ, 0).unwrap() as i64;
    shim.write_u32(0x100, (end - 2) as u32);
    shim.write_u32(0x104, 4);
    assert_eq!(shim.call("fd_read", &[fd, 0x100, 1, 0x300]), EFAULT);
    assert_eq!(shim.call("fd_tell", &[fd, 0x300]), 0);
    assert_eq!(shim.u64(0x300), 0);
    assert_eq!(shim.call("fd_tell", &[fd, end - 4]), EFAULT);
    assert_eq!(shim.call("fd_seek", &[fd, 3, 0, end - 4]), EFAULT);
    assert_eq!(shim.call("fd_filestat_get", &[fd, end - 60]), EFAULT);
    assert_eq!(shim.call("fd_pread", &[fd, 0x100, 1, 0, 0x300]), EFAULT);

    // poll_oneoff's subscription and event arrays.
    assert_eq!(shim.call("poll_oneoff", &[end - 47, 0x1000, 1, 0x300]), EFAULT);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, end - 31, 1, 0x300]), EFAULT);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 0x1000_0000, 0x300]), EFAULT);
}

#[test]
fn a_module_without_memory_gets_efault_not_a_crash() {
    let (builder, observed) = fake();
    let mut shim = Shim::with_wat(builder, &shim_wat(false));
    assert_eq!(shim.call("fd_write", &[1, 0, 1, 0]), EFAULT);
    assert_eq!(shim.call("fd_write", &[1, 0, 0, 0]), EFAULT);
    assert_eq!(shim.call("fd_close", &[2]), 0);
    assert_eq!(shim.call("sched_yield", &[]), 0);
    assert_eq!(observed.stdout(), b"");
}

#[test]
fn bad_descriptors_are_ebadf() {
    let (mut shim, _) = data_dir();
    shim.iovec_of(b"x");
    for fd in [5, 99, -1, i32::MAX as i64] {
        assert_eq!(shim.call("fd_write", &[fd, 0x100, 1, 0x300]), EBADF, "fd {fd}");
        assert_eq!(shim.call("fd_read", &[fd, 0x100, 1, 0x300]), EBADF);
        assert_eq!(shim.call("fd_close", &[fd]), EBADF);
        assert_eq!(shim.call("fd_fdstat_get", &[fd, 0x300]), EBADF);
        assert_eq!(shim.call("fd_filestat_get", &[fd, 0x300]), EBADF);
        assert_eq!(shim.call("fd_seek", &[fd, 0, 0, 0x300]), EBADF);
        assert_eq!(shim.call("fd_prestat_get", &[fd, 0x300]), EBADF);
        assert_eq!(shim.call("fd_readdir", &[fd, 0x1000, 100, 0, 0x300]), EBADF);
        assert_eq!(shim.call("fd_sync", &[fd]), EBADF);
        assert_eq!(shim.call("fd_renumber", &[fd, 1]), EBADF);
        assert_eq!(shim.call("fd_renumber", &[1, fd]), EBADF);
        assert_eq!(shim.call("path_create_directory", &[fd, 0x8000, 1]), EBADF);
        assert_eq!(shim.call("sock_shutdown", &[fd, 0]), EBADF);
    }
    // The wrong kind of descriptor.
    assert_eq!(shim.call("fd_read", &[1, 0x100, 1, 0x300]), EBADF);
    assert_eq!(shim.call("fd_write", &[0, 0x100, 1, 0x300]), EBADF);
    assert_eq!(shim.call("fd_prestat_get", &[0, 0x300]), EBADF);
    assert_eq!(shim.call("fd_seek", &[1, 0, 0, 0x300]), Errno::SPipe as i32);
    assert_eq!(shim.call("fd_tell", &[2, 0x300]), Errno::SPipe as i32);
    assert_eq!(shim.call("fd_readdir", &[1, 0x1000, 100, 0, 0x300]), Errno::NotDir as i32);
    assert_eq!(shim.open(0, "x", 0, 0, 0), Err(Errno::NotDir as i32));
    assert_eq!(shim.call("fd_read", &[3, 0x100, 1, 0x300]), Errno::IsDir as i32);
    // Closing twice.
    let fd = shim.open(3, "b.txt", 0, RIGHTS_READ, 0).unwrap() as i64;
    assert_eq!(fd, 4);
    assert_eq!(shim.call("fd_close", &[fd]), 0);
    assert_eq!(shim.call("fd_close", &[fd]), EBADF);
    // Read-only and write-only descriptors.
    let fd = shim.open(3, "b.txt", 0, RIGHTS_READ, 0).unwrap() as i64;
    assert_eq!(shim.call("fd_write", &[fd, 0x100, 1, 0x300]), EBADF);
    assert_eq!(shim.call("fd_filestat_set_size", &[fd, 0]), EBADF);
    let fd = shim.open(3, "b.txt", 0, RIGHTS_WRITE, 0).unwrap() as i64;
    assert_eq!(shim.call("fd_read", &[fd, 0x100, 1, 0x300]), EBADF);
}

#[test]
fn unsupported_calls_and_existing_names_return_errnos() {
    let (mut shim, _) = data_dir();
    let (ptr, len) = shim.path("b.txt");
    assert_eq!(shim.call("proc_raise", &[6]), Errno::NoSys as i32);
    assert_eq!(shim.call("sock_accept", &[3, 0, 0x300]), Errno::NotSock as i32);
    assert_eq!(shim.call("sock_recv", &[0, 0x100, 1, 0, 0x300, 0x304]), Errno::NotSock as i32);
    assert_eq!(shim.call("sock_send", &[1, 0x100, 1, 0, 0x300]), Errno::NotSock as i32);
    // Links and symlinks exist; onto a name that exists they are EEXIST.
    assert_eq!(shim.call("path_link", &[3, 0, ptr, len, 3, ptr, len]), Errno::Exist as i32);
    assert_eq!(shim.call("path_symlink", &[ptr, len, 3, ptr, len]), Errno::Exist as i32);
    assert_eq!(shim.call("path_readlink", &[3, ptr, len, 0x1000, 100, 0x300]), EINVAL);
    assert_eq!(shim.call("clock_time_get", &[4, 0, 0x300]), EINVAL);
    assert_eq!(shim.call("clock_res_get", &[99, 0x300]), EINVAL);
    assert_eq!(shim.call("fd_advise", &[3, 0, 0, 6]), EINVAL);
    assert_eq!(shim.call("fd_seek", &[3, 0, 0, 0x300]), EBADF);
    assert_eq!(shim.call("sched_yield", &[]), 0);
}

#[test]
fn proc_exit_ends_the_call_with_the_status() {
    let (builder, _) = fake();
    let mut shim = Shim::new(builder);
    let error = shim.try_call("proc_exit", &[3]).unwrap_err();
    assert_eq!(error.exit_status(), Some(3));
    // Statuses are unsigned in WASI: 255 and above pass through unchanged.
    let error = shim.try_call("proc_exit", &[256]).unwrap_err();
    assert_eq!(error.exit_status(), Some(256));
}

#[test]
fn args_and_environment_layout() {
    let (builder, _) = fake();
    let mut shim = Shim::new(builder.args(["prog", "", "x y"]).env("K", "V").envs(["EMPTY="]));
    assert_eq!(shim.call("args_sizes_get", &[0x100, 0x104]), 0);
    assert_eq!((shim.u32(0x100), shim.u32(0x104)), (3, 5 + 1 + 4));
    assert_eq!(shim.call("args_get", &[0x200, 0x300]), 0);
    assert_eq!([shim.u32(0x200), shim.u32(0x204), shim.u32(0x208)], [0x300, 0x305, 0x306]);
    assert_eq!(shim.bytes(0x300, 10), b"prog\0\0x y\0");
    assert_eq!(shim.call("environ_sizes_get", &[0x100, 0x104]), 0);
    assert_eq!((shim.u32(0x100), shim.u32(0x104)), (2, 4 + 7));
    assert_eq!(shim.call("environ_get", &[0x200, 0x300]), 0);
    assert_eq!([shim.u32(0x200), shim.u32(0x204)], [0x300, 0x304]);
    assert_eq!(shim.bytes(0x300, 11), b"K=V\0EMPTY=\0");
}

#[test]
fn stdout_and_stderr_are_byte_exact() {
    let (builder, observed) = fake();
    let mut shim = Shim::new(builder);
    // Three iovecs, one empty, with CR LF and bytes that are not UTF-8.
    shim.write(0x200, b"a\r\n");
    shim.write(0x210, b"\xff\x00z");
    shim.write_u32(0x100, 0x200);
    shim.write_u32(0x104, 3);
    shim.write_u32(0x108, 0x2000);
    shim.write_u32(0x10c, 0);
    shim.write_u32(0x110, 0x210);
    shim.write_u32(0x114, 3);
    assert_eq!(shim.call("fd_write", &[1, 0x100, 3, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 6);
    assert_eq!(shim.call("fd_write", &[2, 0x110, 1, 0x300]), 0);
    assert_eq!(observed.stdout(), b"a\r\n\xff\x00z");
    assert_eq!(observed.stderr(), b"\xff\x00z");
    // fdstat of the console: a character device that cannot seek.
    assert_eq!(shim.call("fd_fdstat_get", &[1, 0x400]), 0);
    assert_eq!(shim.u8(0x400), 2);
    assert_eq!(shim.u64(0x408) & (1 << 2), 0);
    assert_ne!(shim.u64(0x408) & (1 << 6), 0);
}

#[test]
fn stdin_reads_then_eof() {
    let (builder, _) = fake();
    let mut shim = Shim::new(builder.stdin(b"hello stdin".to_vec()));
    shim.write_u32(0x100, 0x200);
    shim.write_u32(0x104, 5);
    shim.write_u32(0x108, 0x210);
    shim.write_u32(0x10c, 2);
    assert_eq!(shim.call("fd_read", &[0, 0x100, 2, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 7);
    assert_eq!(shim.bytes(0x200, 5), b"hello");
    assert_eq!(shim.bytes(0x210, 2), b" s");
    assert_eq!(shim.call("fd_read", &[0, 0x100, 2, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 4);
    assert_eq!(shim.call("fd_read", &[0, 0x100, 2, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 0);
}

/// Parses `fd_readdir` output: (d_next, d_ino, d_type, name) per complete entry.
fn dirents(bytes: &[u8]) -> Vec<(u64, u64, u8, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 24 <= bytes.len() {
        let next = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let ino = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        let namlen = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
        let kind = bytes[at + 20];
        assert_eq!(&bytes[at + 21..at + 24], [0, 0, 0], "padding");
        if at + 24 + namlen > bytes.len() {
            break;
        }
        entries.push((next, ino, kind, bytes[at + 24..at + 24 + namlen].to_vec()));
        at += 24 + namlen;
    }
    entries
}

#[test]
fn fd_readdir_layout_and_cookies() {
    let (mut shim, _) = data_dir();
    assert_eq!(shim.call("fd_readdir", &[3, 0x1000, 4096, 0, 0x300]), 0);
    let used = shim.u32(0x300) as usize;
    // ".", "..", "a", "b.txt", "ccc": five headers and 1+2+1+5+3 name bytes.
    assert_eq!(used, 5 * 24 + 12);
    let entries = dirents(&shim.bytes(0x1000, used));
    let names: Vec<&[u8]> = entries.iter().map(|entry| entry.3.as_slice()).collect();
    assert_eq!(names, [&b"."[..], b"..", b"a", b"b.txt", b"ccc"]);
    let cookies: Vec<u64> = entries.iter().map(|entry| entry.0).collect();
    assert_eq!(cookies, [1, 2, 3, 4, 5]);
    let types: Vec<u8> = entries.iter().map(|entry| entry.2).collect();
    assert_eq!(types, [3, 3, 3, 4, 4]);
    // d_ino matches path_filestat_get's ino.
    let (ptr, len) = shim.path("b.txt");
    assert_eq!(shim.call("path_filestat_get", &[3, 0, ptr, len, 0x400]), 0);
    assert_eq!(shim.u64(0x408), entries[3].1);
    assert_eq!(entries[0].1, entries[1].1, "the root's parent is itself");

    // Resuming from a cookie.
    assert_eq!(shim.call("fd_readdir", &[3, 0x1000, 4096, 3, 0x300]), 0);
    let entries = dirents(&shim.bytes(0x1000, shim.u32(0x300) as usize));
    let names: Vec<&[u8]> = entries.iter().map(|entry| entry.3.as_slice()).collect();
    assert_eq!(names, [&b"b.txt"[..], b"ccc"]);
    assert_eq!(entries[0].0, 4);

    // A buffer too small: filled completely, the last entry cut off.
    shim.write(0x1000, &[0xaa; 64]);
    assert_eq!(shim.call("fd_readdir", &[3, 0x1000, 30, 0, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 30);
    assert_eq!(shim.u8(0x1000 + 30), 0xaa, "nothing past the buffer");
    let entries = dirents(&shim.bytes(0x1000, 30));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].3, b".");
    // Past the end: nothing.
    assert_eq!(shim.call("fd_readdir", &[3, 0x1000, 4096, 5, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 0);
    assert_eq!(shim.call("fd_readdir", &[3, 0x1000, 4096, u64::MAX as i64, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 0);

    // A subdirectory opened with path_open lists its own entries.
    let fd = shim.open(3, "a", OFLAGS_DIRECTORY, 1 << 14, 0).unwrap() as i64;
    assert_eq!(shim.call("fd_readdir", &[fd, 0x1000, 4096, 0, 0x300]), 0);
    let entries = dirents(&shim.bytes(0x1000, shim.u32(0x300) as usize));
    let names: Vec<&[u8]> = entries.iter().map(|entry| entry.3.as_slice()).collect();
    assert_eq!(names, [&b"."[..], b"..", b"inner.txt"]);
}

#[test]
fn struct_layouts() {
    let (mut shim, _) = data_dir();
    // prestat and the preopen's name.
    assert_eq!(shim.call("fd_prestat_get", &[3, 0x100]), 0);
    assert_eq!((shim.u8(0x100), shim.u32(0x104)), (0, 5));
    assert_eq!(shim.call("fd_prestat_dir_name", &[3, 0x200, 4]), Errno::NameTooLong as i32);
    assert_eq!(shim.call("fd_prestat_dir_name", &[3, 0x200, 5]), 0);
    assert_eq!(shim.bytes(0x200, 5), b"/data");
    assert_eq!(shim.call("fd_prestat_get", &[4, 0x100]), EBADF);

    // filestat of a file.
    let (ptr, len) = shim.path("ccc");
    shim.write(0x400, &[0xee; 64]);
    assert_eq!(shim.call("path_filestat_get", &[3, 0, ptr, len, 0x400]), 0);
    assert_eq!(shim.u64(0x400), 1, "dev");
    assert_ne!(shim.u64(0x408), 0, "ino");
    assert_eq!(shim.u8(0x410), 4, "regular file");
    assert_eq!(shim.bytes(0x411, 7), [0; 7], "padding");
    assert_eq!(shim.u64(0x418), 1, "nlink");
    assert_eq!(shim.u64(0x420), 10, "size");
    assert_eq!(shim.u64(0x428), FAKE_EPOCH_NS, "atim");

    // fdstat of an opened file with APPEND.
    let fd = shim.open(3, "ccc", 0, RIGHTS_READ | RIGHTS_WRITE, 1).unwrap() as i64;
    shim.write(0x500, &[0xee; 24]);
    assert_eq!(shim.call("fd_fdstat_get", &[fd, 0x500]), 0);
    assert_eq!(shim.u8(0x500), 4);
    assert_eq!(shim.u8(0x501), 0);
    assert_eq!(shim.u16(0x502), 1, "APPEND");
    assert_eq!(shim.u32(0x504), 0);
    assert_eq!(shim.u64(0x508), (RIGHTS_READ | RIGHTS_WRITE) as u64);
    assert_eq!(shim.u64(0x510), 0);
    // The preopen: a directory.
    assert_eq!(shim.call("fd_fdstat_get", &[3, 0x500]), 0);
    assert_eq!(shim.u8(0x500), 3);
    // fd_filestat_get on the console.
    assert_eq!(shim.call("fd_filestat_get", &[1, 0x400]), 0);
    assert_eq!(shim.u8(0x410), 2);
}

#[test]
fn file_reads_writes_and_seeks() {
    let (mut shim, _) = data_dir();
    let fd =
        shim.open(3, "new.txt", OFLAGS_CREAT | OFLAGS_EXCL, RIGHTS_READ | RIGHTS_WRITE | (1 << 2), 0).unwrap() as i64;
    assert_eq!(shim.open(3, "new.txt", OFLAGS_CREAT | OFLAGS_EXCL, RIGHTS_WRITE, 0), Err(Errno::Exist as i32));
    shim.iovec_of(b"hello world");
    assert_eq!(shim.call("fd_write", &[fd, 0x100, 1, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 11);
    assert_eq!(shim.call("fd_tell", &[fd, 0x300]), 0);
    assert_eq!(shim.u64(0x300), 11);
    // Seek back 5 from the end and overwrite.
    assert_eq!(shim.call("fd_seek", &[fd, -5, 2, 0x300]), 0);
    assert_eq!(shim.u64(0x300), 6);
    shim.iovec_of(b"WORLD!");
    assert_eq!(shim.call("fd_write", &[fd, 0x100, 1, 0x300]), 0);
    assert_eq!(shim.ctx().file(b"/data/new.txt"), Some(&b"hello WORLD!"[..]));
    assert_eq!(shim.call("fd_seek", &[fd, -1, 0, 0x300]), EINVAL);
    assert_eq!(shim.call("fd_seek", &[fd, 0, 3, 0x300]), EINVAL);
    // pread and pwrite leave the position alone; writing past the end zero-fills.
    shim.iovec_of(b"!!");
    assert_eq!(shim.call("fd_pwrite", &[fd, 0x100, 1, 14, 0x300]), 0);
    assert_eq!(shim.ctx().file(b"/data/new.txt"), Some(&b"hello WORLD!\0\0!!"[..]));
    shim.write_u32(0x104, 5);
    assert_eq!(shim.call("fd_pread", &[fd, 0x100, 1, 0, 0x300]), 0);
    assert_eq!((shim.u32(0x300), shim.bytes(0x200, 5)), (5, b"hello".to_vec()));
    assert_eq!(shim.call("fd_pread", &[fd, 0x100, 1, 100, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 0);
    assert_eq!(shim.call("fd_tell", &[fd, 0x300]), 0);
    assert_eq!(shim.u64(0x300), 12);
    // Size changes.
    assert_eq!(shim.call("fd_filestat_set_size", &[fd, 5]), 0);
    assert_eq!(shim.ctx().file(b"/data/new.txt"), Some(&b"hello"[..]));
    assert_eq!(shim.call("fd_allocate", &[fd, 0, 8]), 0);
    assert_eq!(shim.ctx().file(b"/data/new.txt"), Some(&b"hello\0\0\0"[..]));
    assert_eq!(shim.call("fd_filestat_set_size", &[fd, 1 << 40]), Errno::FBig as i32);
    // APPEND via fd_fdstat_set_flags: writes go to the end whatever the position.
    assert_eq!(shim.call("fd_fdstat_set_flags", &[fd, 1]), 0);
    assert_eq!(shim.call("fd_seek", &[fd, 0, 0, 0x300]), 0);
    shim.iovec_of(b"+");
    assert_eq!(shim.call("fd_write", &[fd, 0x100, 1, 0x300]), 0);
    assert_eq!(shim.ctx().file(b"/data/new.txt"), Some(&b"hello\0\0\0+"[..]));
    // TRUNC on open.
    let other = shim.open(3, "new.txt", OFLAGS_TRUNC, RIGHTS_WRITE, 0).unwrap() as i64;
    assert_eq!(shim.ctx().file(b"/data/new.txt"), Some(&b""[..]));
    assert_eq!(shim.call("fd_close", &[other]), 0);
    // Timestamps can be set.
    let (ptr, len) = shim.path("new.txt");
    assert_eq!(shim.call("path_filestat_set_times", &[3, 0, ptr, len, 11, 22, 1 | 4]), 0);
    assert_eq!(shim.call("fd_filestat_get", &[fd, 0x400]), 0);
    assert_eq!((shim.u64(0x428), shim.u64(0x430)), (11, 22));
    assert_eq!(shim.call("fd_filestat_set_times", &[fd, 0, 0, 1 | 2]), EINVAL);
}

#[test]
fn unlink_rename_and_directories() {
    let (mut shim, _) = data_dir();
    let (ptr, len) = shim.path("d1");
    assert_eq!(shim.call("path_create_directory", &[3, ptr, len]), 0);
    assert_eq!(shim.call("path_create_directory", &[3, ptr, len]), Errno::Exist as i32);
    let (ptr, len) = shim.path("d1/sub/");
    assert_eq!(shim.call("path_create_directory", &[3, ptr, len]), 0);
    // An open file survives its unlinking.
    let fd = shim.open(3, "ccc", 0, RIGHTS_READ, 0).unwrap() as i64;
    let (ptr, len) = shim.path("ccc");
    assert_eq!(shim.call("path_unlink_file", &[3, ptr, len]), 0);
    assert_eq!(shim.call("path_unlink_file", &[3, ptr, len]), Errno::NoEnt as i32);
    shim.write_u32(0x100, 0x200);
    shim.write_u32(0x104, 10);
    assert_eq!(shim.call("fd_read", &[fd, 0x100, 1, 0x300]), 0);
    assert_eq!(shim.bytes(0x200, 10), b"0123456789");
    // Files and directories are told apart.
    let (ptr, len) = shim.path("a");
    assert_eq!(shim.call("path_unlink_file", &[3, ptr, len]), Errno::IsDir as i32);
    assert_eq!(shim.call("path_remove_directory", &[3, ptr, len]), Errno::NotEmpty as i32);
    let (ptr, len) = shim.path("b.txt");
    assert_eq!(shim.call("path_remove_directory", &[3, ptr, len]), Errno::NotDir as i32);
    let (ptr, len) = shim.path("b.txt/");
    assert_eq!(shim.call("path_unlink_file", &[3, ptr, len]), Errno::NotDir as i32);
    assert_eq!(shim.open(3, "b.txt/", 0, RIGHTS_READ, 0), Err(Errno::NotDir as i32));
    assert_eq!(shim.open(3, "b.txt", OFLAGS_DIRECTORY, RIGHTS_READ, 0), Err(Errno::NotDir as i32));
    assert_eq!(shim.open(3, "a", 0, RIGHTS_WRITE, 0), Err(Errno::IsDir as i32));
    assert_eq!(shim.open(3, "missing", 0, RIGHTS_READ, 0), Err(Errno::NoEnt as i32));
    // Renames.
    shim.write(0x8100, b"d1/sub/b.txt");
    let (ptr, len) = shim.path("b.txt");
    assert_eq!(shim.call("path_rename", &[3, ptr, len, 3, 0x8100, 12]), 0);
    assert_eq!(shim.ctx().file(b"/data/d1/sub/b.txt"), Some(&b"bee"[..]));
    assert_eq!(shim.ctx().file(b"/data/b.txt"), None);
    // A directory cannot move into itself.
    shim.write(0x8100, b"d1/sub/x");
    let (ptr, len) = shim.path("d1");
    assert_eq!(shim.call("path_rename", &[3, ptr, len, 3, 0x8100, 8]), EINVAL);
    // Through a directory fd: rename within it, then remove what is left.
    let dir = shim.open(3, "d1/sub", OFLAGS_DIRECTORY, 0, 0).unwrap() as i64;
    shim.write(0x8100, b"renamed");
    let (ptr, len) = shim.path("b.txt");
    assert_eq!(shim.call("path_rename", &[dir, ptr, len, dir, 0x8100, 7]), 0);
    assert_eq!(shim.ctx().dir_entries(b"/data/d1/sub"), Some(vec![b"renamed".to_vec()]));
    let (ptr, len) = shim.path("renamed");
    assert_eq!(shim.call("path_unlink_file", &[dir, ptr, len]), 0);
    let (ptr, len) = shim.path("d1/sub");
    assert_eq!(shim.call("path_remove_directory", &[3, ptr, len]), 0);
    // The removed directory's fd still works, but nothing can be made in it.
    let (ptr, len) = shim.path("late");
    assert_eq!(shim.call("path_create_directory", &[dir, ptr, len]), Errno::NoEnt as i32);
    assert_eq!(shim.ctx().dir_entries(b"/data/d1"), Some(vec![]));
}

#[test]
fn path_escapes_are_refused() {
    let (mut shim, _) = data_dir();
    for path in ["..", "../x", "a/../../x", "a/../..", "/etc/passwd", "/", "./../b.txt", "a/inner.txt/../../.."] {
        let expected = if path == "a/inner.txt/../../.." { Errno::NotDir as i32 } else { ENOTCAPABLE };
        assert_eq!(shim.open(3, path, 0, RIGHTS_READ, 0), Err(expected), "{path}");
        let (ptr, len) = shim.path(path);
        assert_eq!(shim.call("path_filestat_get", &[3, 0, ptr, len, 0x400]), expected, "{path}");
        assert_eq!(shim.call("path_unlink_file", &[3, ptr, len]), expected, "{path}");
        assert_eq!(shim.call("path_create_directory", &[3, ptr, len]), expected, "{path}");
    }
    assert_eq!(shim.open(3, "../evil", OFLAGS_CREAT, RIGHTS_WRITE, 0), Err(ENOTCAPABLE));
    shim.write(0x8100, b"../evil");
    let (ptr, len) = shim.path("b.txt");
    assert_eq!(shim.call("path_rename", &[3, ptr, len, 3, 0x8100, 7]), ENOTCAPABLE);
    // A subdirectory's fd cannot climb out of it, even into the preopen.
    let sub = shim.open(3, "a", OFLAGS_DIRECTORY, 0, 0).unwrap() as i64;
    assert_eq!(shim.open(sub, "../b.txt", 0, RIGHTS_READ, 0), Err(ENOTCAPABLE));
    assert!(shim.open(sub, "./inner.txt", 0, RIGHTS_READ, 0).is_ok());
    // Going down and back up within the tree is fine, and "." is the directory.
    assert!(shim.open(3, "a/../b.txt", 0, RIGHTS_READ, 0).is_ok());
    assert!(shim.open(3, ".", OFLAGS_DIRECTORY, 0, 0).is_ok());
    assert!(shim.open(3, "a//./inner.txt", 0, RIGHTS_READ, 0).is_ok());
    assert_eq!(shim.ctx().dir_entries(b"/data").unwrap().len(), 3);
}

/// Writes a clock subscription at `at`.
fn clock_subscription(shim: &mut Shim, at: usize, userdata: u64, clock: u32, timeout: u64, flags: u16) {
    shim.write(at, &[0; 48]);
    shim.write_u64(at, userdata);
    shim.write(at + 8, &[0]);
    shim.write_u32(at + 16, clock);
    shim.write_u64(at + 24, timeout);
    shim.write(at + 40, &flags.to_le_bytes());
}

/// Writes an fd_read (1) or fd_write (2) subscription at `at`.
fn fd_subscription(shim: &mut Shim, at: usize, userdata: u64, kind: u8, fd: u32) {
    shim.write(at, &[0; 48]);
    shim.write_u64(at, userdata);
    shim.write(at + 8, &[kind]);
    shim.write_u32(at + 16, fd);
}

/// (userdata, error, type, nbytes) of the `count` events at 0x2000.
fn events(shim: &Shim, count: usize) -> Vec<(u64, u16, u8, u64)> {
    (0..count)
        .map(|index| {
            let at = 0x2000 + index * 32;
            (shim.u64(at), shim.u16(at + 8), shim.u8(at + 10), shim.u64(at + 16))
        })
        .collect()
}

#[test]
fn poll_oneoff_sleeps_on_the_clock() {
    let (builder, observed) = fake();
    let mut shim = Shim::new(builder.stdin(b"abc".to_vec()));
    observed.set_now(1_000);

    // A relative monotonic timeout sleeps until now + timeout.
    clock_subscription(&mut shim, 0x1000, 0xdead, 1, 5_000_000, 0);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 1, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 1);
    assert_eq!(events(&shim, 1), [(0xdead, 0, 0, 0)]);
    assert_eq!(observed.sleeps(), [5_001_000]);
    assert_eq!(*observed.fake_now.lock().unwrap(), 5_001_000);

    // An absolute monotonic deadline.
    clock_subscription(&mut shim, 0x1000, 7, 1, 9_000_000, 1);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 1, 0x300]), 0);
    assert_eq!(observed.sleeps(), [5_001_000, 9_000_000]);
    // An absolute deadline already past does not sleep.
    clock_subscription(&mut shim, 0x1000, 8, 1, 1_000, 1);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 1, 0x300]), 0);
    assert_eq!((shim.u32(0x300), events(&shim, 1)), (1, vec![(8, 0, 0, 0)]));
    assert_eq!(observed.sleeps().len(), 2);
    // An absolute realtime deadline 1 ms ahead of the realtime clock.
    clock_subscription(&mut shim, 0x1000, 9, 0, FAKE_EPOCH_NS + 9_000_000 + 1_000_000, 1);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 1, 0x300]), 0);
    assert_eq!(observed.sleeps()[2], 10_000_000);

    // Two clocks: only the earlier fires.
    clock_subscription(&mut shim, 0x1000, 1, 1, 3_000, 0);
    clock_subscription(&mut shim, 0x1030, 2, 1, 2_000, 0);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 2, 0x300]), 0);
    assert_eq!((shim.u32(0x300), events(&shim, 1)), (1, vec![(2, 0, 0, 0)]));
    assert_eq!(observed.sleeps()[3], 10_002_000);

    // A ready descriptor means no sleep at all.
    let sleeps = observed.sleeps().len();
    clock_subscription(&mut shim, 0x1000, 1, 1, 1_000_000_000, 0);
    fd_subscription(&mut shim, 0x1030, 2, 1, 0);
    fd_subscription(&mut shim, 0x1060, 3, 2, 1);
    fd_subscription(&mut shim, 0x1090, 4, 1, 42);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 4, 0x300]), 0);
    assert_eq!(shim.u32(0x300), 3);
    assert_eq!(events(&shim, 3), [(2, 0, 1, 3), (3, 0, 2, 0), (4, 8, 1, 0)]);
    assert_eq!(observed.sleeps().len(), sleeps);

    // Bad input.
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 0, 0x300]), EINVAL);
    clock_subscription(&mut shim, 0x1000, 5, 99, 0, 0);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 1, 0x300]), 0);
    assert_eq!(events(&shim, 1), [(5, EINVAL as u16, 0, 0)]);
    fd_subscription(&mut shim, 0x1000, 6, 9, 0);
    assert_eq!(shim.call("poll_oneoff", &[0x1000, 0x2000, 1, 0x300]), EINVAL);
}

#[test]
fn clocks_and_random() {
    let (builder, observed) = fake();
    let mut shim = Shim::new(builder);
    observed.set_now(123);
    assert_eq!(shim.call("clock_time_get", &[1, 0, 0x100]), 0);
    assert_eq!(shim.u64(0x100), 123);
    assert_eq!(shim.call("clock_time_get", &[0, 0, 0x100]), 0);
    assert_eq!(shim.u64(0x100), FAKE_EPOCH_NS + 123);
    assert_eq!(shim.call("clock_time_get", &[2, 0, 0x100]), 0);
    assert_eq!(shim.u64(0x100), 123);
    assert_eq!(shim.call("clock_res_get", &[1, 0x100]), 0);
    assert_eq!(shim.u64(0x100), 1);
    assert_eq!(shim.call("random_get", &[0x200, 4]), 0);
    assert_eq!(shim.bytes(0x200, 5), [1, 8, 15, 22, 0]);
    assert_eq!(shim.call("sched_yield", &[]), 0);
    assert_eq!(*observed.yields.lock().unwrap(), 1);
}

#[test]
fn renumber_and_preopen_handling() {
    let (mut shim, _) = data_dir();
    let fd = shim.open(3, "b.txt", 0, RIGHTS_READ, 0).unwrap() as i64;
    assert_eq!(shim.call("fd_renumber", &[fd, 0]), 0);
    // Now fd 0 reads the file.
    shim.write_u32(0x100, 0x200);
    shim.write_u32(0x104, 3);
    assert_eq!(shim.call("fd_read", &[0, 0x100, 1, 0x300]), 0);
    assert_eq!(shim.bytes(0x200, 3), b"bee");
    assert_eq!(shim.call("fd_close", &[fd]), EBADF);
    // The next descriptor takes the lowest free number.
    assert_eq!(shim.open(3, "ccc", 0, RIGHTS_READ, 0), Ok(fd as u32));
    // Closing the preopen loses access through it, but the tree is still there.
    assert_eq!(shim.call("fd_close", &[3]), 0);
    assert_eq!(shim.open(3, "ccc", 0, RIGHTS_READ, 0), Err(EBADF));
    assert_eq!(shim.ctx().file(b"/data/ccc"), Some(&b"0123456789"[..]));
}

#[test]
fn a_wasi_program_in_wat_runs_through_start() {
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "hi from wat\n")
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 16))
          (i32.store (i32.const 4) (i32.const 12))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (call $proc_exit (i32.load (i32.const 8)))
          unreachable))"#;
    let (builder, observed) = fake();
    let outcome = run(&wat::parse_str(wat).unwrap(), builder, &observed);
    assert_eq!(outcome.status, Status::Exit(12));
    assert_eq!(outcome.stdout, "hi from wat\n");
}

#[test]
fn builder_rejects_bad_input() {
    use wasmetal_wasi::BuildError;
    let (system, _) = TestSystem::fake();
    assert_eq!(WasiCtx::builder(system).arg("a\0b").build().err(), Some(BuildError::NulInArgument { index: 0 }));
    let (system, _) = TestSystem::fake();
    assert_eq!(
        WasiCtx::builder(system).envs(["NOEQUALS"]).build().err(),
        Some(BuildError::EnvironmentWithoutEquals { index: 0 })
    );
    let (system, _) = TestSystem::fake();
    let error = WasiCtx::builder(system).preopen_dir("/d", [("../x", Vec::new())]).build().err();
    assert!(matches!(error, Some(BuildError::InvalidFilePath { .. })), "{error:?}");
    let (system, _) = TestSystem::fake();
    let error = WasiCtx::builder(system).preopen_dir("/d", [("f", Vec::new()), ("f/g", Vec::new())]).build().err();
    assert!(matches!(error, Some(BuildError::ConflictingPath { .. })), "{error:?}");
    let (system, _) = TestSystem::fake();
    let error = WasiCtx::builder(system).max_file_size(3).preopen_dir("/d", [("f", vec![0; 4])]).build().err();
    assert!(matches!(error, Some(BuildError::FileTooLarge { .. })), "{error:?}");
}
