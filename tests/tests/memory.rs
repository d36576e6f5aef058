//! Linear memory growth in the kernel, as the demand pager serves it: grown memory reads
//! as zero (also when its frames held another task's data), large growth is mapped in
//! 2 MiB blocks, and growth a page at a time is mapped when it is committed rather than
//! by one page fault each. The pager's counters come from the kernel log (`-v`).

use wasmetal_tests::Launcher;
use wasmetal_tests::programs::program;

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

/// 4096 × (0 + 1 + … + 16383): what grow_touch sums over 64 MiB.
const SUM_64_MIB: &str = "sum 549722259456";

/// The pager counters the kernel logged for the run of `name`, as (faults, eager maps,
/// huge blocks).
fn pager_counts(log: &str, name: &str) -> (u64, u64, u64) {
    let prefix = format!("run: {name} pager: ");
    let line = log.lines().find_map(|line| line.split_once(&prefix).map(|(_, rest)| rest.to_string()));
    let line = line.unwrap_or_else(|| panic!("no pager line for {name} in:\n{log}"));
    let number_before = |word: &str| -> u64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == word).unwrap_or_else(|| panic!("no `{word}` in {line}"));
        words[at - 1].parse().unwrap_or_else(|_| panic!("no count before `{word}` in {line}"))
    };
    (number_before("faults"), number_before("eager"), number_before("huge"))
}

#[test]
fn large_growth_reads_zero_and_is_mapped_in_2_mib_blocks() {
    let wasm = program("grow_touch").display().to_string();
    let run = launcher().run(&["-v", "--timeout", "300", "run", &wasm, "--", "64"]);
    run.expect_code(0);
    assert!(run.stdout.contains("grow_touch: 64 MiB at once") && run.stdout.contains(SUM_64_MIB), "{run}");
    let (faults, _, huge) = pager_counts(&run.stderr, "grow_touch.wasm");
    // 64 MiB at an address that is not 2 MiB aligned holds 31 whole blocks. A 64 KiB
    // block mapped across a 2 MiB boundary once left every later block to 64 KiB faults.
    assert!(huge >= 31, "{huge} huge blocks, {faults} faults:\n{run}");
    assert!(faults < 200, "{faults} faults:\n{run}");
}

#[test]
fn growth_a_page_at_a_time_is_mapped_at_growth_not_by_faults() {
    let wasm = program("grow_touch").display().to_string();
    let run = launcher().run(&["-v", "--timeout", "300", "run", &wasm, "--", "64", "steps"]);
    run.expect_code(0);
    assert!(run.stdout.contains("grow_touch: 64 MiB in 64 KiB steps") && run.stdout.contains(SUM_64_MIB), "{run}");
    let (faults, eager, _) = pager_counts(&run.stderr, "grow_touch.wasm");
    assert!(eager >= 1024, "{eager} eager maps for 1024 growths:\n{run}");
    assert!(faults < 100, "{faults} faults for 1024 growths:\n{run}");
}

#[test]
fn memory_reused_from_a_finished_task_reads_zero() {
    // The first task fills 64 MiB with non-zero words and exits; the second waits, then
    // grows onto the frames it freed (freed frames are reused first) and checks that
    // every word it reads before writing is zero, in both mapping paths.
    let wasm = program("grow_touch").display().to_string();
    let later_once = format!("{wasm} 64 once 1500");
    let later_steps = format!("{wasm} 32 steps 1500");
    let run =
        launcher().run(&["--timeout", "300", "run", &wasm, "--task", &later_once, "--task", &later_steps, "--", "96"]);
    run.expect_code(0);
    assert!(run.stdout.contains("[grow_touch.wasm] grow_touch: 96 MiB at once"), "{run}");
    assert!(run.stdout.contains("[grow_touch.wasm#1] grow_touch: 64 MiB at once"), "{run}");
    assert!(run.stdout.contains("[grow_touch.wasm#2] grow_touch: 32 MiB in 64 KiB steps"), "{run}");
    assert!(!run.stderr.contains("not zero"), "{run}");
}

#[test]
fn memory_backed_up_front_runs_the_same_program() {
    // `--prealloc` has QEMU back guest RAM before boot (`-mem-prealloc`): the program
    // and its result are the same, grown memory still reads zero.
    let wasm = program("grow_touch").display().to_string();
    let run = launcher().run(&["--prealloc", "--memory", "256", "--timeout", "300", "run", &wasm, "--", "64", "steps"]);
    run.expect_code(0);
    assert!(run.stdout.contains("grow_touch: 64 MiB in 64 KiB steps") && run.stdout.contains(SUM_64_MIB), "{run}");
}

#[test]
fn data_pages_are_mapped_with_the_image_and_copied_on_write() {
    // Two instances of the same module, one after the other: the second must see the
    // data as the module has it, whatever the first wrote.
    let wasm = program("data_pages").display().to_string();
    let run = launcher().run(&["-v", "--timeout", "120", "run", &wasm, "--task", &wasm]);
    run.expect_code(0);
    assert_eq!(run.stdout.matches("64 pages read, 4 written, all as expected").count(), 2, "{run}");
    // 64 data pages read: the first fault (the shadow stack just below the data) maps
    // the whole 256 KiB image and the zeroed blocks either side, so reads fault nowhere
    // after it and only writes to the data do: the four copies and one page of std's
    // own data, 6 faults per instance. The counters are the kernel's, so the first
    // task's can hold the second's too when they overlap (12 seen). One fault per page
    // read would be 64 or more per instance.
    let (faults, _, _) = pager_counts(&run.stderr, "data_pages.wasm");
    assert!(faults <= 14, "{faults} faults for 64 data pages read and 4 written:\n{run}");
}
