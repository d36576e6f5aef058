//! The wasmetal kernel: boot sequence and top-level policy.
//!
//! `kernel_main` is entered from the PVH entry (arch) on the boot stack with paging on
//! (boot tables) and interrupts off. It loads the descriptor tables, drops to CPL3 and
//! brings up the rest of the machine in the order of DESIGN.md's boot flow, then runs
//! what the command line asks for and exits QEMU.
#![no_std]
#![no_main]

extern crate alloc;

mod boot_info;
mod boot_phases;
mod console;
mod corpus_replay;
mod device_irq;
mod exit;
mod fs;
mod interrupts;
mod memory;
mod modes;
mod net;
mod panic;
mod random;
mod sched;
mod selftest;
mod soak;
mod timer;
mod virtio;
mod wasm;

use boot_info::BootInfo;
use boot_phases::BootPhases;
use memory::frames::{self, PhysRange};
use memory::layout::{self, PAGE_SIZE, phys_to_virt};

/// Default timer rate when the command line does not say `timer_hz=`.
const DEFAULT_TIMER_HZ: u32 = 100;

#[unsafe(no_mangle)]
extern "C" fn kernel_main(start_info_phys: u64) -> ! {
    // SAFETY: written once by the 32-bit entry before we got here.
    let entry_tsc = unsafe { core::ptr::read_volatile(&raw const wasmetal_arch::boot::pvh_entry::BOOT_ENTRY_TSC) };
    let main_tsc = wasmetal_arch::cpu::rdtsc();
    // CPL0 part: as little as possible, since some hypervisors emulate CPL0 code
    // instruction by instruction (see `wasmetal_arch::privilege`).
    // SAFETY: once, interrupts off.
    unsafe { interrupts::init() };
    let features = wasmetal_arch::cpu::features();
    let vector_state = wasmetal_arch::cpu::enable_vector_state(&features);
    // SAFETY: the descriptor tables are loaded and every page is user-accessible (boot
    // tables from the PVH entry, later the kernel's own).
    unsafe { wasmetal_arch::privilege::enter_user_mode() };
    let mut phases = BootPhases::new(entry_tsc);
    phases.mark("cpl0");

    let boot = match BootInfo::parse(start_info_phys) {
        Ok(boot) => boot,
        Err(boot_info::BootInfoError::BadMagic(magic)) => panic!("not booted through PVH: start info magic {magic:#x}"),
    };
    let quiet = boot.option("quiet").is_some();
    console::set_stats(!quiet || boot.option("stats").is_some());
    if !quiet {
        log!("wasmetal {}: WebAssembly on bare metal", env!("CARGO_PKG_VERSION"));
        log!("cmdline: {}", boot.cmdline());
    }
    phases.mark("boot-info");
    wasm::engine::CPU.call_once(|| wasm::engine::cpu_features(&features, vector_state.avx));
    sched::vector_area::record_layout(&vector_state);
    phases.mark("cpu");
    let image = layout::kernel_image();
    let ram = init_frames(&boot, &image, quiet);
    phases.mark("frames");
    // SAFETY: once, on the boot tables; `ram` lists every RAM range.
    if let Err(error) = unsafe { memory::address_space::init(&image, &ram[..], features.pdpe1gb) } {
        panic!("building the kernel page tables: {error}");
    }
    phases.mark("page-tables");
    init_heap(quiet);
    phases.mark("heap");

    let hz = boot.option("timer_hz").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_TIMER_HZ);
    let tsc_khz = boot.option("tsc_khz").and_then(|v| v.parse().ok());
    let clock = match timer::init(&features, hz, tsc_khz, boot.option("x2apic").is_some()) {
        Ok(clock) => clock,
        Err(error) => panic!("timer setup failed: {error:?}"),
    };
    phases.mark("timer");
    if let Err(error) = virtio::init(&boot) {
        log!("virtio: {error}; stdio stays on debugcon");
    }
    phases.mark("virtio");
    let done_tsc = wasmetal_arch::cpu::rdtsc();
    let init_ns = timer::cycles_to_ns(done_tsc - entry_tsc);
    if !quiet {
        log!(
            "cpu: sse4.2={} avx={} avx2={} bmi2={} x2apic={} xsave={} save area {} bytes",
            features.sse42,
            vector_state.avx,
            features.avx2,
            features.bmi2,
            features.x2apic,
            vector_state.xsave,
            vector_state.save_area_bytes
        );
        log!(
            "clock: tsc {} kHz ({:?}), {} timer {} kHz, tick {} Hz",
            clock.tsc_hz / 1000,
            clock.tsc_source,
            if clock.x2apic { "x2apic" } else { "xapic" },
            clock.apic_hz / 1000,
            clock.timer_hz
        );
    }
    phases.report();
    stat!(
        "boot: entry to init done {} cycles ({} us); kernel_main start at {} cycles",
        done_tsc - entry_tsc,
        init_ns / 1000,
        main_tsc - entry_tsc
    );

    let status = modes::run(&boot);
    timer::stop();
    exit::exit(status)
}

/// Builds the frame allocator from the memory map, keeping the kernel image, the low
/// MiB and the initrd out of it. Returns the RAM ranges for the direct map.
fn init_frames(boot: &BootInfo, image: &layout::KernelImage, quiet: bool) -> memory::ram_ranges::Ranges {
    let mut reserved = [PhysRange::default(); 4];
    reserved[0] = PhysRange { start: 0, end: 0x10_0000 };
    reserved[1] = PhysRange { start: image.start, end: image.end };
    reserved[2] = boot.initrd.unwrap_or_default();
    if let Some(initrd) = boot.initrd {
        // Reserved just below and never written: precompiled code can run from it.
        memory::lendable::lend(initrd);
    }
    reserved[3] = boot.start_info;
    let mut ram = memory::ram_ranges::Ranges::new();
    frames::with(|allocator| {
        // QEMU backs guest RAM with zeroed anonymous memory and PVH boots with no
        // firmware writing to RAM; what QEMU loads (kernel, initrd, start info and the
        // command line in the low MiB) is reserved above.
        allocator.assume_fresh_ram_zeroed();
        for entry in boot.memory_map() {
            if !quiet {
                log!(
                    "memory: {:#014x}-{:#014x} {:>8} KiB {}",
                    entry.addr,
                    entry.addr + entry.size,
                    entry.size / 1024,
                    entry.kind_name()
                );
            }
            if entry.is_ram() {
                let range = PhysRange { start: entry.addr, end: entry.addr + entry.size };
                allocator.add_ram(range, &reserved);
                ram.push(range);
            }
        }
    });
    if !quiet {
        let stats = frames::with(|allocator| allocator.stats());
        log!("memory: {} MiB usable in {} frames", (stats.free_frames * PAGE_SIZE) >> 20, stats.free_frames);
    }
    ram
}

/// Gives the heap a quarter of RAM (at least 16 MiB, at most 1 GiB).
fn init_heap(quiet: bool) {
    let free = frames::with(|allocator| allocator.stats()).free_frames * PAGE_SIZE;
    let size = (free / 4).clamp(16 << 20, 1 << 30).min(free / 2);
    let Some(range) = frames::with(|allocator| allocator.allocate_contiguous(size)) else {
        panic!("no contiguous {} MiB for the kernel heap", size >> 20);
    };
    // SAFETY: the range is fresh RAM, mapped RW in the direct map, never handed out again.
    unsafe { memory::heap::HEAP.init(phys_to_virt(range.start) as *mut u8, range.len() as usize) };
    if !quiet {
        log!("heap: {} MiB at {:#x}", range.len() >> 20, range.start);
    }
}
