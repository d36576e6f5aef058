//! Prints 32 random bytes as hex and checks they are not all zero.

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn random_get(buf: *mut u8, buf_len: usize) -> i32;
}

fn main() {
    let mut bytes = [0u8; 32];
    // SAFETY: the pointer and length describe `bytes`, which lives across the call.
    let errno = unsafe { random_get(bytes.as_mut_ptr(), bytes.len()) };
    assert_eq!(errno, 0, "random_get failed");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    println!("{hex}");
    println!("nonzero: {}", bytes.iter().any(|&byte| byte != 0));
}
