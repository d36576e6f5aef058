//! Exercises a `--dir` that is the host directory itself (`/data`); the mode is the
//! first argument:
//! - `persist`: writes, renames over, hard-links, symlinks and syncs files for the
//!   host to check;
//! - `large MIB`: writes MIB MiB of a seeded pattern in 1 MiB writes, reads it back,
//!   prints both checksums (the host checks the file's too);
//! - `many N`: creates N files, lists them, renames each, removes each;
//! - `escape`: tries to leave the preopen through `..` and symlinks;
//! - `readonly`: reads `input.txt` and tries to change the directory;
//! - `sync-then-trap`: writes and syncs a file, then traps;
//! - `sync-then-spin`: the same, then loops until `--timeout` ends it.
//! - `read-while-writing`: reads a file sequentially (so the kernel reads ahead) while
//!   another descriptor overwrites and then truncates what lies ahead; prints what the
//!   reader saw there.
use std::fs;
use std::io::{Read, Write};

unsafe extern "C" {
    /// wasi-libc's symlink(3) (`std::os::wasi::fs::symlink_path` is unstable).
    #[link_name = "symlink"]
    fn libc_symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> std::ffi::c_int;
}

fn symlink_path(target: &str, link: &str) -> std::io::Result<()> {
    let (target, link) = (std::ffi::CString::new(target)?, std::ffi::CString::new(link)?);
    // SAFETY: both are NUL-terminated strings that live across the call.
    if unsafe { libc_symlink(target.as_ptr(), link.as_ptr()) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// FNV-1a over the bytes, continued from `hash`.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The pattern's `index`-th MiB.
fn block(index: u64, out: &mut [u8]) {
    let mut state = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

fn errno(result: std::io::Result<impl std::fmt::Debug>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(error) => match error.raw_os_error() {
            Some(code) => format!("errno {code}"),
            None => format!("{:?}", error.kind()),
        },
    }
}

fn persist() {
    let mut big = fs::File::create("/data/big.bin").expect("create big");
    let mut chunk = vec![0u8; 1 << 20];
    for index in 0..8 {
        block(index, &mut chunk);
        big.write_all(&chunk).expect("write big");
    }
    big.sync_all().expect("sync big");
    drop(big);
    fs::write("/data/a.txt", "from a\n").expect("write a");
    fs::write("/data/b.txt", "from b\n").expect("write b");
    fs::rename("/data/a.txt", "/data/b.txt").expect("rename a over b");
    fs::hard_link("/data/b.txt", "/data/c.txt").expect("link");
    symlink_path("b.txt", "/data/d.lnk").expect("symlink");
    fs::create_dir("/data/sub").expect("mkdir");
    fs::write("/data/sub/inner.txt", "inner\n").expect("write inner");
    println!("read through link: {:?}", fs::read_to_string("/data/d.lnk").expect("read via symlink"));
    println!("readlink: {:?}", fs::read_link("/data/d.lnk").expect("readlink"));
    fs::OpenOptions::new().append(true).open("/data/c.txt").expect("open link").write_all(b"via c\n").expect("append");
    println!("b after appending to its link: {:?}", fs::read_to_string("/data/b.txt").expect("read b"));
    let mut names: Vec<String> =
        fs::read_dir("/data").expect("list").map(|e| e.expect("entry").file_name().into_string().unwrap()).collect();
    names.sort();
    println!("listing: {names:?}");
    println!("persist ok");
}

fn large(mib: u64) {
    let mut chunk = vec![0u8; 1 << 20];
    let mut file = fs::File::create("/data/large.bin").expect("create large");
    let mut written = FNV_START;
    for index in 0..mib {
        block(index, &mut chunk);
        written = fnv(written, &chunk);
        file.write_all(&chunk).expect("write large");
    }
    file.sync_all().expect("sync large");
    drop(file);
    let mut file = fs::File::open("/data/large.bin").expect("open large");
    let mut read = FNV_START;
    let mut total = 0u64;
    loop {
        let count = file.read(&mut chunk).expect("read large");
        if count == 0 {
            break;
        }
        read = fnv(read, &chunk[..count]);
        total += count as u64;
    }
    println!("written {written:016x} read {read:016x} bytes {total}");
}

fn many(count: usize) {
    fs::create_dir("/data/many").expect("mkdir many");
    for index in 0..count {
        fs::write(format!("/data/many/f{index}"), index.to_string()).expect("create");
    }
    let listed = fs::read_dir("/data/many").expect("list").count();
    for index in 0..count {
        fs::rename(format!("/data/many/f{index}"), format!("/data/many/g{index}")).expect("rename");
    }
    let renamed = fs::read_dir("/data/many")
        .expect("list")
        .filter(|entry| entry.as_ref().unwrap().file_name().to_string_lossy().starts_with('g'))
        .count();
    let sample = fs::read_to_string(format!("/data/many/g{}", count / 2)).expect("read one");
    for index in 0..count {
        fs::remove_file(format!("/data/many/g{index}")).expect("remove");
    }
    let left = fs::read_dir("/data/many").expect("list").count();
    fs::remove_dir("/data/many").expect("rmdir");
    println!("created {count} listed {listed} renamed {renamed} sample {sample} left {left}");
}

fn escape() {
    println!("dotdot: {}", errno(fs::read("/data/../secret.txt")));
    symlink_path("/etc", "/data/abs").expect("symlink abs");
    symlink_path("..", "/data/up").expect("symlink up");
    symlink_path("sub/../../secret.txt", "/data/sneaky").expect("symlink sneaky");
    symlink_path("loop2", "/data/loop1").expect("symlink loop1");
    symlink_path("loop1", "/data/loop2").expect("symlink loop2");
    println!("absolute: {}", errno(fs::read("/data/abs/passwd")));
    println!("up: {}", errno(fs::read("/data/up/secret.txt")));
    fs::create_dir("/data/sub").expect("mkdir sub");
    println!("sneaky: {}", errno(fs::read("/data/sneaky")));
    println!("loop: {}", errno(fs::read("/data/loop1")));
    println!("readlink abs: {}", errno(fs::read_link("/data/abs")));
    println!("write via up: {}", errno(fs::write("/data/up/planted.txt", "x")));
    println!("inside: {}", errno(fs::read_to_string("/data/inside.txt")));
}

fn readonly() {
    println!("read: {}", errno(fs::read_to_string("/data/input.txt")));
    println!("create: {}", errno(fs::write("/data/new.txt", "x")));
    println!("append: {}", errno(fs::OpenOptions::new().append(true).open("/data/input.txt").map(|_| ())));
    println!("mkdir: {}", errno(fs::create_dir("/data/d")));
    println!("remove: {}", errno(fs::remove_file("/data/input.txt")));
    println!("rename: {}", errno(fs::rename("/data/input.txt", "/data/moved.txt")));
}

fn sync_then(end: &str) {
    let mut file = fs::File::create("/data/synced.txt").expect("create");
    file.write_all(b"synced before the end\n").expect("write");
    file.sync_all().expect("sync");
    fs::write("/data/closed.txt", "closed before the end\n").expect("write closed");
    let mut open = fs::File::create("/data/open.txt").expect("create open");
    open.write_all(b"written, never closed\n").expect("write open");
    println!("about to {end}");
    if end == "trap" {
        std::process::abort();
    }
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Reads `/data/stream.bin` in 64 KiB steps through one descriptor while another
/// changes the part not read yet: the reader must see every change.
fn read_while_writing() {
    use std::io::{Seek, SeekFrom};
    let size = 4 << 20;
    fs::write("/data/stream.bin", vec![b'a'; size]).expect("write stream.bin");
    let mut reader = fs::File::open("/data/stream.bin").expect("open for reading");
    let mut writer = fs::OpenOptions::new().write(true).open("/data/stream.bin").expect("open for writing");
    let mut chunk = vec![0u8; 64 << 10];
    // Four reads in a row: whatever lies ahead of offset 256 KiB may be read ahead.
    for _ in 0..4 {
        reader.read_exact(&mut chunk).expect("read");
    }
    writer.seek(SeekFrom::Start(300 << 10)).expect("seek");
    writer.write_all(b"written ahead of the reader").expect("write ahead");
    let mut seen = vec![0u8; 64 << 10];
    reader.read_exact(&mut seen).expect("read the changed part");
    let at = (300 << 10) - (256 << 10);
    let changed = String::from_utf8_lossy(&seen[at..at + 27]).into_owned();
    // Read on, then cut the file short ahead of the reader: it must hit the new end.
    for _ in 0..4 {
        reader.read_exact(&mut chunk).expect("read on");
    }
    writer.set_len(640 << 10).expect("truncate");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("read to the end");
    println!("changed: {changed:?}, after the cut: {} bytes, at {}", rest.len(), reader.stream_position().unwrap());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("persist") => persist(),
        Some("large") => large(args[2].parse().expect("MiB")),
        Some("many") => many(args[2].parse().expect("count")),
        Some("escape") => escape(),
        Some("readonly") => readonly(),
        Some("sync-then-trap") => sync_then("trap"),
        Some("sync-then-spin") => sync_then("spin"),
        Some("read-while-writing") => read_while_writing(),
        other => panic!("unknown mode {other:?}"),
    }
}
