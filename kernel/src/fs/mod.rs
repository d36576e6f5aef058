//! Filesystem backends the kernel gives WASI: a host directory over 9P (`host_dir`).

pub mod host_dir;
pub mod linux_errno;
