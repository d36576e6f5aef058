//! Compiles the bundled demo program (WebAssembly text) into the launcher.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let source = format!("{dir}/demo/demo.wat");
    println!("cargo:rerun-if-changed={source}");
    let binary = wat::parse_file(&source).unwrap_or_else(|error| panic!("{source}: {error}"));
    std::fs::write(format!("{out}/demo.wasm"), binary).expect("writing to OUT_DIR");
}
