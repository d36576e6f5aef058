//! `clock_res_get` and `clock_time_get`: realtime and monotonic time from the
//! `System`; the CPU-time clocks count monotonic time since the context was built.

use crate::abi::clockid;
use crate::ctx::WasiCtx;
use crate::errno::Errno;
use crate::guest_memory::GuestMemory;

/// The time on clock `id`, in nanoseconds.
pub(crate) fn now(ctx: &mut WasiCtx, id: u32) -> Result<u64, Errno> {
    match id {
        clockid::REALTIME => Ok(ctx.system.realtime_ns()),
        clockid::MONOTONIC => Ok(ctx.system.monotonic_ns()),
        clockid::PROCESS_CPUTIME | clockid::THREAD_CPUTIME => {
            Ok(ctx.system.monotonic_ns().saturating_sub(ctx.start_ns))
        }
        _ => Err(Errno::Inval),
    }
}

pub fn clock_res_get(_ctx: &mut WasiCtx, memory: &mut GuestMemory<'_>, id: u32, resolution: u32) -> Result<(), Errno> {
    if id > clockid::THREAD_CPUTIME {
        return Err(Errno::Inval);
    }
    memory.write_u64(resolution, 1)
}

pub fn clock_time_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    id: u32,
    _precision: u64,
    time: u32,
) -> Result<(), Errno> {
    memory.check(time, 8)?;
    let now = now(ctx, id)?;
    memory.write_u64(time, now)
}
