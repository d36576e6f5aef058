//! A 9P2000.L client: the message codec (`codec`) and a session over a request/reply
//! channel (`session`: version and msize, attach, fids, tags).
//!
//! Knows nothing of virtio (the channel is a trait; `virtio::p9` is one) nor of WASI.

pub mod codec;
pub mod posted;
pub mod read_ahead;
pub mod session;
