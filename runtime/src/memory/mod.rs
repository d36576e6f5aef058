//! Address-space management on top of the platform: the runtime's page allocator.

pub mod page_alloc;
