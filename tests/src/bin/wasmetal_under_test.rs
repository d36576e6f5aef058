//! The `wasmetal` launcher, built inside the tests package so tests can spawn it.
//!
//! Its compile cache defaults to one shared by the test runs (not the user's): entries
//! are keyed by content and written aside then renamed, so parallel tests share it
//! safely. A test that needs its own sets `WASMETAL_CACHE_DIR`.

fn main() -> std::process::ExitCode {
    if std::env::var_os("WASMETAL_CACHE_DIR").is_none() {
        let dir = std::env::temp_dir().join("wasmetal-test-cache");
        // SAFETY: nothing else runs yet: no thread reads the environment concurrently.
        unsafe { std::env::set_var("WASMETAL_CACHE_DIR", dir) };
    }
    wasmetal::main()
}
