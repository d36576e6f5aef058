//! Kernel self-tests, chosen with `test=<name>` on the command line.
//!
//! Each prints `selftest <name> ... ok` or `... FAILED: <why>` and returns the exit
//! status (0 on success). The host-side tests (tests/tests/kernel.rs) boot one scenario
//! per QEMU run and assert on these lines and the exit code; scenarios that must fault
//! or panic are their own runs.

extern crate alloc;

use alloc::vec::Vec;

use crate::log;
use crate::memory::address_space::Protection;
use crate::memory::heap::HEAP;
use crate::memory::layout::PAGE_SIZE;
use crate::memory::wasm_region;

/// Runs the named scenario; `None` if there is no such scenario.
pub fn run(name: &str) -> Option<u32> {
    let result = match name {
        "timer" => timer(),
        "irq-mask" => interrupt_mask(),
        "guard" => guard(),
        "heap" => heap(),
        "heap-exhaust" => heap_exhaust(),
        "wx" => write_xor_execute(),
        "panic" => panic!("selftest panic requested on the command line"),
        "kernel-fault" => kernel_fault(),
        "hang" => hang(),
        "wasm" => wasm_basics(),
        "fuel" => fuel_stop(),
        "mem" => memory_routines(),
        "huge" => huge_blocks(),

        _ => return None,
    };
    Some(match result {
        Ok(()) => {
            log!("selftest {name} ... ok");
            0
        }
        Err(why) => {
            log!("selftest {name} ... FAILED: {why}");
            1
        }
    })
}

type Outcome = Result<(), alloc::string::String>;

/// `memcpy`, `memmove` and `memset` against byte-at-a-time references, for every length
/// up to 300 and overlaps in both directions at several distances. The references and
/// the setup use volatile byte accesses, so they cannot be compiled into calls to the
/// routines under test.
fn memory_routines() -> Outcome {
    use crate::memory::routines::{memcpy, memmove, memset};
    const SIZE: usize = 1024;
    let pattern = |index: usize| (index * 7 + 3) as u8;
    let mut ours = [0u8; SIZE];
    let mut expected = [0u8; SIZE];
    let mut scratch = [0u8; SIZE];
    let reset = |bytes: &mut [u8; SIZE]| {
        for index in 0..SIZE {
            // SAFETY: `index` is below SIZE, inside the array.
            unsafe { bytes.as_mut_ptr().add(index).write_volatile(pattern(index)) };
        }
    };
    let first_difference = |a: &[u8; SIZE], b: &[u8; SIZE]| {
        (0..SIZE).find(|&index| {
            // SAFETY: `index` is below SIZE, inside both arrays.
            unsafe { a.as_ptr().add(index).read_volatile() != b.as_ptr().add(index).read_volatile() }
        })
    };
    for len in 0..=300usize {
        for (dst, src) in
            [(100, 500), (500, 100), (200, 201), (201, 200), (300, 305), (305, 300), (400, 440), (440, 400)]
        {
            reset(&mut expected);
            for index in 0..len {
                // SAFETY: inside the arrays.
                unsafe {
                    scratch.as_mut_ptr().add(index).write_volatile(expected.as_ptr().add(src + index).read_volatile())
                };
            }
            for index in 0..len {
                // SAFETY: inside the arrays.
                unsafe {
                    expected.as_mut_ptr().add(dst + index).write_volatile(scratch.as_ptr().add(index).read_volatile())
                };
            }
            reset(&mut ours);
            // SAFETY: both ranges lie inside the array.
            unsafe { memmove(ours.as_mut_ptr().add(dst), ours.as_ptr().add(src), len) };
            if let Some(index) = first_difference(&ours, &expected) {
                return fail(format_args!("memmove len {len} dst {dst} src {src}: byte {index} differs"));
            }
            if dst >= src + len || src >= dst + len {
                reset(&mut ours);
                // SAFETY: disjoint ranges inside the array.
                unsafe { memcpy(ours.as_mut_ptr().add(dst), ours.as_ptr().add(src), len) };
                if let Some(index) = first_difference(&ours, &expected) {
                    return fail(format_args!("memcpy len {len} dst {dst} src {src}: byte {index} differs"));
                }
            }
        }
        reset(&mut ours);
        reset(&mut expected);
        for index in 13..13 + len {
            // SAFETY: inside the array.
            unsafe { expected.as_mut_ptr().add(index).write_volatile(0xA5) };
        }
        // SAFETY: inside the array.
        unsafe { memset(ours.as_mut_ptr().add(13), 0xA5, len) };
        if let Some(index) = first_difference(&ours, &expected) {
            return fail(format_args!("memset len {len}: byte {index} differs"));
        }
    }
    log!("mem: memcpy, memmove and memset agree with the reference for lengths 0..=300");
    Ok(())
}

fn fail(message: core::fmt::Arguments<'_>) -> Outcome {
    Err(alloc::format!("{message}"))
}

/// Counts ticks over a TSC-timed second and reports them against the configured rate.
fn timer() -> Outcome {
    let hz = crate::timer::timer_hz();
    let window_ms = 1000;
    wasmetal_arch::cpu::enable_interrupts();
    let start_ticks = crate::timer::ticks();
    crate::timer::spin_for_ns(window_ms * 1_000_000);
    let counted = crate::timer::ticks() - start_ticks;
    wasmetal_arch::cpu::disable_interrupts();
    let expected = hz * window_ms / 1000;
    log!("timer: {counted} ticks in {window_ms} ms at {hz} Hz (expected {expected})");
    // Under TCG on a loaded host the virtual CPU can miss ticks; a quarter off still
    // tells 250 Hz from 100 Hz or 1000 Hz.
    if counted.abs_diff(expected) * 4 > expected {
        return fail(format_args!("tick count {counted} is more than 25% off {expected}"));
    }
    Ok(())
}

/// Demand faults map whole 2 MiB blocks where they fit; protecting, decommitting and
/// releasing parts of one split it correctly, and every frame comes back.
fn huge_blocks() -> Outcome {
    use core::ptr::NonNull;
    use wasmetal_runtime::platform::{Platform, Protection as Rights};
    const MIB: u64 = 1 << 20;
    const HUGE: u64 = crate::memory::frames::HUGE_BYTES;
    let platform = &crate::wasm::platform::KERNEL_PLATFORM;
    let free = || crate::memory::frames::with(|frames| frames.stats().free_frames);
    let at = |addr: u64| NonNull::new(addr as *mut u8).expect("wasm-region addresses are not null");
    let free_before = free();
    let base = platform.reserve(8 * MIB as usize).map_err(|e| alloc::format!("{e}"))?;
    let start = base.as_ptr() as u64;
    // SAFETY: the reservation is ours and nothing else uses it (so for the calls below).
    unsafe { platform.commit(base, 8 * MIB as usize, Rights::ReadWrite) }.map_err(|e| alloc::format!("{e}"))?;
    let block = start.next_multiple_of(HUGE);
    // SAFETY: inside the committed read-write range.
    unsafe { ((block + 12345) as *mut u8).write_volatile(1) };
    let used = free_before - free();
    let huge = crate::memory::address_space::translate(block)
        .is_some_and(|(_, flags)| flags.contains(x86_64::structures::paging::PageTableFlags::HUGE_PAGE));
    if !huge || !(512..=520).contains(&used) {
        return fail(format_args!("one touch: huge mapping {huge}, {used} frames"));
    }
    // SAFETY: inside the committed range.
    let neighbours =
        unsafe { [(block as *const u8).read_volatile(), ((block + HUGE - 1) as *const u8).read_volatile()] };
    if neighbours != [0, 0] {
        return fail(format_args!("the rest of the block is not zero: {neighbours:?}"));
    }
    // SAFETY: as above.
    unsafe { platform.protect(at(block), 64 * 1024, Rights::ReadOnly) }.map_err(|e| alloc::format!("{e}"))?;
    // SAFETY: the address is ours; the store faults (read-only) and the probe resumes.
    let read_only_written = unsafe { wasmetal_arch::probe::try_write_u8(block as *mut u8, 2) };
    // SAFETY: the address is ours and read-write.
    let elsewhere_written = unsafe { wasmetal_arch::probe::try_write_u8((block + MIB) as *mut u8, 3) };
    // SAFETY: inside the committed range.
    let kept = unsafe { ((block + 12345) as *const u8).read_volatile() };
    if read_only_written || !elsewhere_written || kept != 1 {
        return fail(format_args!(
            "after protecting 64 KiB: read-only store {read_only_written}, other store {elsewhere_written}, byte kept {kept}"
        ));
    }
    // SAFETY: as above.
    unsafe {
        platform.decommit(at(block + MIB), 64 * 1024).map_err(|e| alloc::format!("{e}"))?;
        platform.commit(at(block + MIB), 64 * 1024, Rights::ReadWrite).map_err(|e| alloc::format!("{e}"))?;
    }
    // SAFETY: recommitted, so demand-zero again.
    let recommitted = unsafe { ((block + MIB) as *const u8).read_volatile() };
    if recommitted != 0 {
        return fail(format_args!("a decommitted page came back as {recommitted}, not zero"));
    }
    // SAFETY: ours, no longer used.
    unsafe { platform.release(base, 8 * MIB as usize) };
    // Page tables made on the way (for the split) are kept by the address space.
    let leaked = free_before.saturating_sub(free());
    log!(
        "huge: one touch mapped {used} frames as a 2 MiB block; split, protected, decommitted; {leaked} frames kept after release"
    );
    if leaked > 8 {
        return fail(format_args!("{leaked} frames not returned after release"));
    }
    table_on_a_huge_boundary()
}

/// A page table whose frame happens to be 2 MiB aligned is still a page table: changing
/// the rights of a page under it must not take its directory entry for a 2 MiB mapping
/// (the `x86_64` crate's `translate_page::<Size2MiB>` does not look at the PS bit; taking
/// its word once split the "block" and mapped the page table itself as data).
fn table_on_a_huge_boundary() -> Outcome {
    use crate::memory::address_space;
    use crate::memory::frames;
    use crate::memory::frames::FrameAddr;
    use Protection as Rights;
    const HUGE: u64 = frames::HUGE_BYTES;
    let reservation = wasm_region::reserve(3 * HUGE).map_err(|_| "wasm region full")?;
    let first = reservation.start.next_multiple_of(HUGE);
    let (second, page) = (first + HUGE, first + HUGE + 5 * PAGE_SIZE);
    if (first >> 30) != (second >> 30) {
        return Ok(()); // The two blocks straddle a gigabyte: another directory; nothing to check here.
    }
    // The directory for both blocks exists once the first holds a page.
    wasm_region::map_zeroed(first, 1, Rights::ReadWrite).map_err(|e| alloc::format!("map: {e}"))?;
    let data = frames::allocate_zeroed().ok_or("no frame")?;
    // Put a 2 MiB-aligned frame on top of the free stack: the next page table takes it.
    let block = frames::with(|allocator| allocator.allocate_huge()).ok_or("no huge block")?;
    for index in (0..frames::FRAMES_PER_HUGE).rev() {
        frames::free(FrameAddr::from_phys(block.phys() + index * PAGE_SIZE));
    }
    address_space::map(page, data, Rights::ReadWrite).map_err(|e| alloc::format!("map: {e}"))?;
    address_space::protect_range(page, page + PAGE_SIZE, Rights::ReadExecute);
    let after = address_space::translate(page);
    let _ = address_space::unmap(page);
    frames::free(data);
    wasm_region::unmap(first, 1);
    match after {
        Some((phys, flags))
            if phys == data.phys() && !flags.contains(x86_64::structures::paging::PageTableFlags::WRITABLE) =>
        {
            log!("huge: a page table on a 2 MiB boundary stays a page table under protect");
            Ok(())
        }
        other => fail(format_args!(
            "protect under a 2 MiB-aligned page table: {page:#x} maps {other:x?}, not {:#x} read-execute",
            data.phys()
        )),
    }
}

/// Masked interrupts wait and arrive once unmasked; at CPL3 that is the monitor's
/// deferral (`wasmetal_arch::privilege`), at CPL0 plain `cli`/`sti`.
fn interrupt_mask() -> Outcome {
    let period_ns = 1_000_000_000 / crate::timer::timer_hz().max(1);
    wasmetal_arch::cpu::enable_interrupts();
    // Start just after a tick, so that unmasking falls half a period before the next
    // one: a tick that arrives right after unmasking is then a held one, not a new one.
    let synced = crate::timer::ticks();
    let sync_deadline = crate::timer::monotonic_ns() + 4 * period_ns;
    while crate::timer::ticks() == synced && crate::timer::monotonic_ns() < sync_deadline {
        core::hint::spin_loop();
    }
    wasmetal_arch::cpu::disable_interrupts();
    let before = crate::timer::ticks();
    crate::timer::spin_for_ns(5 * period_ns - period_ns / 2);
    let while_masked = crate::timer::ticks() - before;
    let unmasked_at = crate::timer::monotonic_ns();
    wasmetal_arch::cpu::enable_interrupts();
    let after_unmask = crate::timer::ticks() - before;
    // Tick boundaries that passed between unmasking and that read (the host may have
    // descheduled the vCPU right there): the first lies half a period after unmasking.
    let late = (crate::timer::monotonic_ns() - unmasked_at + period_ns / 2) / period_ns;
    crate::timer::spin_for_ns(5 * period_ns);
    let running = crate::timer::ticks() - before;
    let nested_ok = wasmetal_arch::cpu::without_interrupts(|| {
        let start = crate::timer::ticks();
        crate::timer::spin_for_ns(3 * period_ns);
        crate::timer::ticks() == start
    });
    wasmetal_arch::cpu::disable_interrupts();
    log!(
        "irq-mask: {while_masked} ticks while masked for 4.5 periods, {after_unmask} right after unmasking, {running} after 5 more periods"
    );
    if while_masked != 0 {
        return fail(format_args!("{while_masked} ticks arrived while masked"));
    }
    // What was held back is delivered when unmasking, before the next instruction:
    // usually one tick, or two when a deferred tick (accepted, not acknowledged) had
    // another pending behind it in the APIC. How many a hypervisor keeps is its policy
    // (KVM counts a pending expiry besides the IRR bit, and a descheduled vCPU's tick
    // phase drifts), so the bound is one per tick boundary the mask covered (at most 5
    // in 4.5 periods): more would be ticks made up.
    if !(1..=5 + late).contains(&after_unmask) {
        return fail(format_args!(
            "{after_unmask} ticks right after unmasking, expected from 1 to {} (held back, one per period)",
            5 + late
        ));
    }
    if running < 3 {
        return fail(format_args!("only {running} ticks once unmasked"));
    }
    if !nested_ok {
        return fail(format_args!("a tick arrived inside without_interrupts"));
    }
    Ok(())
}

/// Maps one page of a two-page reservation and writes past it.
fn guard() -> Outcome {
    let reservation = wasm_region::reserve(2 * PAGE_SIZE).map_err(|_| "wasm region full")?;
    wasm_region::map_zeroed(reservation.start, 1, Protection::ReadWrite).map_err(|e| alloc::format!("map: {e}"))?;
    let mapped = reservation.start as *mut u8;
    let guard = (reservation.start + PAGE_SIZE) as *mut u8;
    // SAFETY: the first page is mapped read-write and ours.
    let mapped_ok = unsafe { wasmetal_arch::probe::try_write_u8(mapped, 7) };
    // SAFETY: the guard page is ours and unmapped: the store faults and the probe resumes.
    let guard_ok = unsafe { wasmetal_arch::probe::try_write_u8(guard, 7) };
    // SAFETY: the mapped page is ours.
    let readback = unsafe { mapped.read_volatile() };
    wasm_region::unmap(reservation.start, 2);
    if !mapped_ok || readback != 7 {
        return fail(format_args!("write to the mapped page failed"));
    }
    if guard_ok {
        return fail(format_args!("write to the guard page at {guard:p} was not caught"));
    }
    log!("guard: write to {guard:p} caught");
    Ok(())
}

/// Allocates and frees many sizes in several rounds; live bytes must return to where
/// they started and the heap must not grow across rounds (freed memory is reused).
fn heap() -> Outcome {
    let before = HEAP.stats();
    let mut free_after_first_round = None;
    for round in 0..4 {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut size = 1usize;
        for index in 0..2000usize {
            size = (size * 7 + index) % 70_000 + 1;
            let fill = (index % 251) as u8;
            let mut block = Vec::new();
            block.try_reserve_exact(size).map_err(|e| alloc::format!("allocating {size} bytes: {e}"))?;
            block.resize(size, fill);
            blocks.push(block);
            if index % 3 == 0 {
                blocks.swap_remove(index % blocks.len());
            }
        }
        for (index, block) in blocks.iter().enumerate() {
            if block.iter().any(|&byte| byte != block[0]) {
                return fail(format_args!("block {index} was corrupted"));
            }
        }
        drop(blocks);
        let stats = HEAP.stats();
        if stats.live != before.live {
            return fail(format_args!("round {round}: {} live bytes before, {} after", before.live, stats.live));
        }
        match free_after_first_round {
            None => free_after_first_round = Some(stats.free),
            Some(free) if stats.free < free => {
                return fail(format_args!("round {round}: heap free fell from {free} to {} bytes", stats.free));
            }
            Some(_) => {}
        }
    }
    log!("heap: 8000 allocations in 4 rounds, {} live bytes before and after", before.live);
    Ok(())
}

/// Allocates 1 MiB chunks until the heap says no, then frees them and allocates again.
fn heap_exhaust() -> Outcome {
    let stats = HEAP.stats();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    chunks.try_reserve(stats.size / (1 << 20) + 16).map_err(|e| alloc::format!("{e}"))?;
    let error = loop {
        let mut chunk = Vec::new();
        match chunk.try_reserve_exact(1 << 20) {
            Ok(()) => chunks.push(chunk),
            Err(error) => break error,
        }
    };
    log!("heap exhausted after {} MiB of {} MiB: {error}", chunks.len(), stats.size >> 20);
    drop(chunks);
    let mut again: Vec<u8> = Vec::new();
    again.try_reserve_exact(1 << 20).map_err(|e| alloc::format!("allocating after exhaustion: {e}"))?;
    if HEAP.stats().live != stats.live + (1 << 20) {
        return fail(format_args!("live bytes did not return to where they were"));
    }
    Ok(())
}

/// Kernel text is not writable and the direct map is not executable.
fn write_xor_execute() -> Outcome {
    let text = write_xor_execute as *const () as *mut u8;
    // SAFETY: the probe catches the fault; if the store succeeded it rewrites the same byte.
    let wrote = unsafe {
        let old = text.read_volatile();
        wasmetal_arch::probe::try_write_u8(text, old)
    };
    if wrote {
        return fail(format_args!("kernel text at {text:p} is writable"));
    }
    let (_, flags) = crate::memory::address_space::translate(crate::memory::layout::phys_to_virt(0x100000))
        .ok_or("direct map missing")?;
    if !flags.contains(x86_64::structures::paging::PageTableFlags::NO_EXECUTE) {
        return fail(format_args!("direct map is executable"));
    }
    Ok(())
}

/// A stray write outside every mapping: must end in a kernel panic, not a hang.
fn kernel_fault() -> Outcome {
    let stray = 0x0000_0800_0000_0000 as *mut u64;
    // SAFETY: deliberately unsound: this scenario checks the fault handler's verdict.
    unsafe { stray.write_volatile(1) };
    fail(format_args!("stray write did not fault"))
}

/// Spins forever with the timer running: the launcher's `--timeout` must end it.
fn hang() -> Outcome {
    wasmetal_arch::cpu::enable_interrupts();
    loop {
        wasmetal_arch::cpu::halt();
    }
}

/// Compiles and runs a module inside the kernel: calls, traps of every kind (each
/// leaving the kernel and the store usable), demand-zero growth, grow failure.
fn wasm_basics() -> Outcome {
    use wasmetal_runtime::{Instance, Module, Store, TrapCode};
    static SELFTEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/selftest.wasm"));
    let stack = crate::wasm::stack::WasmStack::new().ok_or("no wasm stack")?;
    crate::wasm::stack::run_on(&stack, || {
        let engine = crate::wasm::engine::new().map_err(|e| alloc::format!("engine: {e}"))?;
        let start = wasmetal_arch::cpu::rdtsc();
        let module = Module::new(&engine, SELFTEST).map_err(|e| alloc::format!("compile: {e}"))?;
        let compile_us = crate::timer::cycles_to_ns(wasmetal_arch::cpu::rdtsc() - start) / 1000;
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).map_err(|e| alloc::format!("instantiate: {e}"))?;
        let fib = instance.get_typed_func::<i32, i32>(&mut store, "fib").map_err(|e| alloc::format!("{e}"))?;
        let fib20 = fib.call(&mut store, 20).map_err(|e| alloc::format!("fib: {e}"))?;
        if fib20 != 6765 {
            return fail(format_args!("fib(20) = {fib20}"));
        }
        let div = instance.get_typed_func::<(i32, i32), i32>(&mut store, "div").map_err(|e| alloc::format!("{e}"))?;
        let expect_trap = |name: &str, result: wasmetal_runtime::Result<i32>, code: TrapCode| -> Outcome {
            match result {
                Err(error) if error.trap_code() == Some(code) => {
                    log!("wasm: {name} -> {error}");
                    Ok(())
                }
                other => fail(format_args!("{name}: expected {code:?}, got {other:?}")),
            }
        };
        expect_trap("div by zero", div.call(&mut store, (1, 0)), TrapCode::IntegerDivisionByZero)?;
        expect_trap("div overflow", div.call(&mut store, (i32::MIN, -1)), TrapCode::IntegerOverflow)?;
        let oob = instance.get_typed_func::<(), i32>(&mut store, "oob").map_err(|e| alloc::format!("{e}"))?;
        expect_trap("out of bounds", oob.call(&mut store, ()), TrapCode::MemoryOutOfBounds)?;
        let deep = instance.get_typed_func::<i32, i32>(&mut store, "deep").map_err(|e| alloc::format!("{e}"))?;
        expect_trap("recursion", deep.call(&mut store, 0), TrapCode::StackOverflow)?;
        let unreachable =
            instance.get_typed_func::<(), ()>(&mut store, "unreachable").map_err(|e| alloc::format!("{e}"))?;
        expect_trap("unreachable", unreachable.call(&mut store, ()).map(|()| 0), TrapCode::UnreachableCodeReached)?;
        let grow =
            instance.get_typed_func::<(i32, i32), i32>(&mut store, "grow_touch").map_err(|e| alloc::format!("{e}"))?;
        let frames_before = crate::memory::frames::with(|f| f.stats().free_frames);
        let touched = grow.call(&mut store, (1000, 64)).map_err(|e| alloc::format!("grow: {e}"))?;
        let frames_used = frames_before - crate::memory::frames::with(|f| f.stats().free_frames);
        if touched != 16 {
            return fail(format_args!("grow_touch(1000, 64) = {touched}"));
        }
        // 1000 pages of 64 KiB were grown (62.5 MiB, 16000 frames) and one byte of every
        // 64th touched: demand-zero maps at most a 2 MiB block per touch, so 16 touches
        // take at most 16 * 512 frames plus page tables.
        if frames_used > 16 * 512 + 200 {
            return fail(format_args!("growing 1000 pages and touching 16 used {frames_used} frames"));
        }
        let refused = grow.call(&mut store, (30000, 1)).map_err(|e| alloc::format!("grow: {e}"))?;
        if refused != -1 {
            return fail(format_args!("growing past the maximum returned {refused}"));
        }
        if fib.call(&mut store, 10).map_err(|e| alloc::format!("{e}"))? != 55 {
            return fail(format_args!("fib(10) wrong after traps"));
        }
        log!(
            "wasm: compiled in {compile_us} us, fib(20) = {fib20}, 1000 pages grown, 16 touched, with {frames_used} frames"
        );
        Ok(())
    })
}

/// Runs `fuel.wat` until it is out of fuel and prints where it stopped, for the host
/// test to compare with the hosted runtime: `fuel: count N after F units`.
fn fuel_stop() -> Outcome {
    use wasmetal_runtime::{Engine, Instance, Module, Store, TrapCode};
    static FUEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fuel.wasm"));
    const UNITS: u64 = 1_234_567;
    let stack = crate::wasm::stack::WasmStack::new().ok_or("no wasm stack")?;
    crate::wasm::stack::run_on(&stack, || {
        let mut config = crate::wasm::engine::config(*crate::wasm::engine::CPU.get().ok_or("no cpu")?);
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| alloc::format!("{e}"))?;
        let module = Module::new(&engine, FUEL).map_err(|e| alloc::format!("{e}"))?;
        let mut store = Store::new(&engine, ());
        store.set_fuel(UNITS).map_err(|e| alloc::format!("{e}"))?;
        let instance = Instance::new(&mut store, &module, &[]).map_err(|e| alloc::format!("{e}"))?;
        let run = instance.get_typed_func::<(), ()>(&mut store, "run").map_err(|e| alloc::format!("{e}"))?;
        match run.call(&mut store, ()) {
            Err(error) if error.trap_code() == Some(TrapCode::OutOfFuel) => {}
            other => return fail(format_args!("expected out of fuel, got {other:?}")),
        }
        let count =
            instance.get_global(&mut store, "count").ok_or("no count")?.get(&store).i64().ok_or("count type")?;
        let left = store.get_fuel().map_err(|e| alloc::format!("{e}"))?;
        log!("fuel: count {count} after {UNITS} units, {left} left");
        Ok(())
    })
}
