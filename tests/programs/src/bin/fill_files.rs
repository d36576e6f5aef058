//! Writes 1 MiB files into the preopened `/data` until the filesystem is full, prints
//! how far it got and the error, then frees the space and shows it can write again.
use std::fs;
use std::io::ErrorKind;

fn main() {
    let chunk = vec![0x5au8; 1 << 20];
    let mut written = 0usize;
    let error = loop {
        match fs::write(format!("/data/fill-{written}"), &chunk) {
            Ok(()) => written += 1,
            Err(error) => break error,
        }
        if written == 4096 {
            println!("no limit after 4 GiB");
            return;
        }
    };
    let full = error.kind() == ErrorKind::StorageFull || error.raw_os_error() == Some(51);
    println!("wrote {written} MiB, then full: {full} ({error})");
    for index in 0..written {
        fs::remove_file(format!("/data/fill-{index}")).expect("remove");
    }
    fs::write("/data/after", &chunk).expect("write after freeing");
    println!("after freeing: {} bytes", fs::metadata("/data/after").expect("metadata").len());
}
