//! The process calls that return to the guest: `proc_raise` (unsupported),
//! `sched_yield` and `random_get`. (`proc_exit` never returns; it is defined with the
//! linker glue because it ends the call with an error.)

use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::guest_memory::GuestMemory;

pub fn proc_raise(_ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>, _signal: u32) -> Result<(), Errno> {
    Err(Errno::NoSys)
}

pub fn sched_yield(ctx: &mut WasiCtx, _memory: &mut GuestMemory<'_>) -> Result<(), Errno> {
    ctx.system.yield_now();
    Ok(())
}

pub fn random_get(ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, buf: u32, buf_len: u32) -> Result<(), Errno> {
    let bytes = memory.slice_mut(buf, buf_len)?;
    ctx.system.random_bytes(bytes);
    Ok(())
}
