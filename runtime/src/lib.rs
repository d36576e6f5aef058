//! placeholder until the runtime lands
#![no_std]
