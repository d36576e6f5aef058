//! The target table: each target's name, entry point and input size bound.

pub mod initrd;
pub mod module;
pub mod net;
pub mod p9;
pub mod stdio_link;
pub mod wasi;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    /// Runs one input; returns whether the input got past the first parse (for stats).
    pub run: fn(&[u8]) -> bool,
    /// Mutants are cut to this many bytes.
    pub max_len: usize,
}

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    Target { name: "module", run: module::run, max_len: 1 << 20 },
    Target { name: "wasi", run: wasi::run, max_len: 8192 },
    Target { name: "initrd", run: initrd::run, max_len: 1 << 16 },
    Target { name: "p9", run: p9::run, max_len: 1 << 16 },
    Target { name: "stdio_link", run: stdio_link::run, max_len: 1 << 16 },
    Target { name: "net", run: net::run, max_len: 1 << 16 },
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}
