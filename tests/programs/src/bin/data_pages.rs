//! Reads a 256 KiB data segment one word per 4 KiB page, then writes to four of its
//! pages and reads everything back. In the kernel the data is a shared image whose
//! frames are mapped read-only (a small image's all at its first fault), and a write
//! gets a private copy, so another instance of the same module sees the data as the
//! module has it.
//! Exits 1 with the first wrong word.

const WORDS: usize = 64 * 1024;
const WORDS_PER_PAGE: usize = 1024;
const WRITTEN_PAGES: [usize; 4] = [1, 17, 33, 62];

/// What the module's data holds at word `index` (never zero: a data segment, not bss).
const fn initial(index: usize) -> u32 {
    index as u32 * 7 + 1
}

static mut TABLE: [u32; WORDS] = {
    let mut table = [0u32; WORDS];
    let mut index = 0;
    while index < WORDS {
        table[index] = initial(index);
        index += 1;
    }
    table
};

fn word(index: usize) -> *mut u32 {
    // SAFETY: in bounds of TABLE; the program is single-threaded.
    unsafe { (&raw mut TABLE).cast::<u32>().add(index) }
}

fn check(index: usize, expected: u32) {
    // SAFETY: `word` is in bounds; volatile so every page is really read.
    let found = unsafe { core::ptr::read_volatile(word(index)) };
    if found != expected {
        println!("data_pages: word {index} reads {found}, not {expected}");
        std::process::exit(1);
    }
}

fn main() {
    for page in 0..WORDS / WORDS_PER_PAGE {
        check(page * WORDS_PER_PAGE, initial(page * WORDS_PER_PAGE));
    }
    for page in WRITTEN_PAGES {
        // SAFETY: as in `check`.
        unsafe { core::ptr::write_volatile(word(page * WORDS_PER_PAGE + 5), 0xdead_beef) };
    }
    for index in 0..WORDS {
        let written = WRITTEN_PAGES.contains(&(index / WORDS_PER_PAGE)) && index % WORDS_PER_PAGE == 5;
        check(index, if written { 0xdead_beef } else { initial(index) });
    }
    println!("data_pages: {} pages read, {} written, all as expected", WORDS / WORDS_PER_PAGE, WRITTEN_PAGES.len());
}
