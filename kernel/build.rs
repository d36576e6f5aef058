//! Links the kernel with its own script (fixed physical load address, W^X sections)
//! and compiles the self-test WebAssembly text modules to binaries.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rerun-if-changed={dir}/linker.ld");
    for name in ["selftest", "fuel"] {
        let source = format!("{dir}/wat/{name}.wat");
        println!("cargo:rerun-if-changed={source}");
        let binary = wat::parse_file(&source).unwrap_or_else(|error| panic!("{source}: {error}"));
        std::fs::write(format!("{out}/{name}.wasm"), binary).expect("writing to OUT_DIR");
    }
}
