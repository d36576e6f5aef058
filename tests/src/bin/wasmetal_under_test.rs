//! The `wasmetal` launcher, built inside the tests package so tests can spawn it.

fn main() -> std::process::ExitCode {
    wasmetal::main()
}
